"""MagNet (Mousavi & Beroza 2020) in the Otović et al. variant (tstl ``magnet``): single linear/softmax output.

Conv1d(64, k3, linear) → Dropout 0.2 → MaxPool 4 → Conv1d(32, k3, linear) → Dropout 0.2 → MaxPool 4 → BiLSTM(100)
→ [200 (+ stream_max)] → Dense. Length-independent (the BiLSTM's final states summarise any length).

Backbone = the two convolutions (with their dropout/pooling), exactly what tstl transfers (``conv1d``,
``conv1d_1``). The BiLSTM sits outside the backbone (``self.lstm``): it belongs to neither backbone nor head,
so fine-tuning leaves it freshly initialised and trains it at the base learning rate, as tstl does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tshub.models.base import SameConv1d, TimeSeriesModel, glorot_uniform_, keras_lstm_init_
from tshub.models.cpu import run_lstm
from tshub.models.registry import register


class SameMaxPool1d(nn.Module):
    """Keras MaxPooling1D(k, padding='same'): out = ceil(T / k) with TF's window alignment (pad split left/right).

    A bare ``ceil_mode=True`` gives the same length but windows shifted by the left pad (e.g. 750 → 188).
    """

    def __init__(self, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = -x.shape[-1] % self.kernel_size
        return F.max_pool1d(x, self.kernel_size, self.kernel_size, padding=total // 2, ceil_mode=True)


class MCDropout(nn.Dropout):
    """Dropout that, with ``always=True``, stays active in eval mode (MagNet's Monte-Carlo dropout)."""

    def __init__(self, p: float, always: bool):
        super().__init__(p)
        self.always = always

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, self.training or self.always)


@register("magnet")
class MagNet(TimeSeriesModel):
    """``mc_dropout=True`` keeps dropout on at inference as the reference does (tstl then predicts once, so its
    test metrics are of a single stochastic pass); the default is deterministic inference."""

    input_layers = ("backbone.conv1",)

    def __init__(
        self,
        in_channels: int,
        n_outputs: int,
        *,
        use_stream_max: bool = False,
        input_length: int | None = None,
        dropout: float = 0.2,
        lstm_units: int = 100,
        mc_dropout: bool = False,
    ):
        super().__init__(in_channels, n_outputs, use_stream_max=use_stream_max, input_length=input_length)
        self.backbone = nn.Sequential()
        self.backbone.add_module("conv1", SameConv1d(in_channels, 64, 3))
        self.backbone.add_module("drop1", MCDropout(dropout, mc_dropout))
        self.backbone.add_module("pool1", SameMaxPool1d(4))
        self.backbone.add_module("conv2", SameConv1d(64, 32, 3))
        self.backbone.add_module("drop2", MCDropout(dropout, mc_dropout))
        self.backbone.add_module("pool2", SameMaxPool1d(4))
        glorot_uniform_(self.backbone.conv1)
        glorot_uniform_(self.backbone.conv2)
        self.lstm = nn.LSTM(32, lstm_units, batch_first=True, bidirectional=True)
        keras_lstm_init_(self.lstm)
        self.feature_dim = 2 * lstm_units
        self.head = self.build_head(self.head_input_dim, n_outputs)

    def backbone_features(self, x: torch.Tensor) -> torch.Tensor:
        _, (final, _) = run_lstm(self.lstm, self.backbone(x).transpose(1, 2))
        return torch.cat([final[0], final[1]], dim=1)  # Keras Bidirectional concat: forward, then backward
