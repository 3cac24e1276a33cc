"""ConvNetQuake_INGV (Lomax, Michelini & Jozinović 2019) in the Otović et al. variant (tstl ``convnetquakeingv``).

Nine stride-2 convolutions (32 filters, kernel 3, TF 'SAME' padding, ReLU; no BN, pooling or dropout), flatten,
then a two-layer dense head whose hidden width equals the flattened size (+1 with stream_max). The flatten makes
the head length-bound; the convolutions (what tstl transfers, Conv1..Conv9) are the backbone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import torch
from torch import nn

from tshub.models.base import SameConv1d, TimeSeriesModel, glorot_uniform_, he_normal_, keras_truncated_normal_
from tshub.models.registry import register

N_LAYERS = 9
FILTERS = 32


def glorot_normal_(module: Any) -> None:
    """Keras glorot_normal: std sqrt(2 / (fan_in + fan_out)), truncated (see ``keras_truncated_normal_``)."""
    receptive = module.weight[0, 0].numel()
    fan_in, fan_out = module.weight.shape[1] * receptive, module.weight.shape[0] * receptive
    keras_truncated_normal_(module, math.sqrt(2.0 / (fan_in + fan_out)))


INITIALISERS: dict[str, Callable[[nn.Module], None]] = {
    "glorot_uniform": glorot_uniform_,  # tstl convnetquakeingv (referent and every TL target)
    "he_normal": he_normal_,  # tstl speech8khz / sp500 baselines (and the original TF1 model)
    "glorot_normal": glorot_normal_,  # tstl emg baseline
}


def same_stride2_length(length: int, n_layers: int = N_LAYERS) -> int:
    """Length after ``n_layers`` stride-2 'SAME' convolutions (ceil-halving)."""
    for _ in range(n_layers):
        length = math.ceil(length / 2)
    return length


@register("convnetquake")
class ConvNetQuake(TimeSeriesModel):
    """``init`` selects the conv-kernel initialiser of the tstl variants (the dense head is always Keras'
    glorot_uniform, as tstl leaves it at the default); ``l2`` is Keras' l2(λ) = λ·Σw² on the conv kernels
    (0 disables it, as in the tstl EMG baseline; 0.7 is the S&P 500 baseline)."""

    length_bound = True
    input_layers = ("backbone.conv1",)

    def __init__(
        self,
        in_channels: int,
        n_outputs: int,
        *,
        use_stream_max: bool = False,
        input_length: int | None = None,
        init: str = "glorot_uniform",
        l2: float = 1e-3,
    ):
        super().__init__(in_channels, n_outputs, use_stream_max=use_stream_max, input_length=input_length)
        if init not in INITIALISERS:
            raise ValueError(f"unknown init {init!r}; choose one of {sorted(INITIALISERS)}.")
        self.l2 = l2
        self.backbone: nn.Sequential = nn.Sequential()
        channels = in_channels
        for i in range(1, N_LAYERS + 1):
            conv = SameConv1d(channels, FILTERS, 3, stride=2)
            INITIALISERS[init](conv)
            self.backbone.add_module(f"conv{i}", conv)
            self.backbone.add_module(f"relu{i}", nn.ReLU())
            channels = FILTERS
        assert input_length is not None  # length_bound: the base class requires it
        self.feature_dim = FILTERS * same_stride2_length(input_length)
        self.head = self.build_head(self.head_input_dim, n_outputs)

    def backbone_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x).flatten(1)

    def build_head(self, n_features: int, n_outputs: int) -> nn.Module:
        head = nn.Sequential()
        head.add_module("dense1", nn.Linear(n_features, n_features))
        head.add_module("relu", nn.ReLU())
        head.add_module("dense2", nn.Linear(n_features, n_outputs))
        glorot_uniform_(head.dense1)
        glorot_uniform_(head.dense2)
        return head

    def regularization_loss(self) -> torch.Tensor | None:
        if self.l2 == 0:
            return None
        squares = (m.weight.pow(2).sum() for m in self.backbone if isinstance(m, nn.Conv1d))
        return self.l2 * cast(torch.Tensor, sum(squares))  # a tensor: there are convolutions to sum
