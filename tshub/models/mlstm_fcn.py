"""MLSTM-FCN (Karim et al. 2019) in the Otović et al. variant (tstl ``mlstm_fcn``).

Two branches on the same input, concatenated before the output layer:
- LSTM branch with the dimension shuffle: the LSTM steps over the *channels*, each step's features being the whole
  series, so its input size is the series length (length-bound) → LSTM(8) final state → Dropout(0.8).
- Conv branch: Conv1d 128/k8 → BN → ReLU → SE, 256/k5 → BN → ReLU → SE, 128/k3 → BN → ReLU → global average pool
  (he_uniform convs, Keras BN defaults, SE reduction 16 with he_normal bias-free dense layers).
Features = [LSTM 8, GAP 128 (, stream_max)] → Dense(out).

Backbone = the three convolutions only, exactly what tstl transfers (``conv1d_1..3``); the BatchNorms, SE blocks and
the LSTM sit outside it, so fine-tuning re-initialises them and trains them at the base learning rate, as tstl does.
The reference's Keras ``Masking()`` is omitted: it only skips a step (a whole channel) whose values are all exactly 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tshub.models.base import (
    SameConv1d,
    TimeSeriesModel,
    batch_norm,
    he_normal_,
    he_uniform_,
    keras_lstm_init_,
    on_channels_last_matrix,
)
from tshub.models.cpu import run_lstm
from tshub.models.registry import register


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: channel weights from the time-averaged activations (two bias-free dense layers)."""

    def __init__(self, channels: int, ratio: int):
        super().__init__()
        if not 1 <= ratio <= channels:
            raise ValueError(
                f"se_ratio must lie in [1, {channels}] for an SE block over {channels} channels, got {ratio}."
            )
        self.reduce = nn.Linear(channels, channels // ratio, bias=False)
        self.expand = nn.Linear(channels // ratio, channels, bias=False)
        he_normal_(self.reduce)
        he_normal_(self.expand)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.expand(F.relu(self.reduce(x.mean(dim=2)))))
        return x * weights.unsqueeze(2)


@register("mlstm_fcn")
class MLSTMFCN(TimeSeriesModel):
    """SE blocks follow every conv but the last (as in the reference, for any number of conv layers)."""

    length_bound = True
    input_layers = ("backbone.conv1",)

    def __init__(
        self,
        in_channels: int,
        n_outputs: int,
        *,
        use_stream_max: bool = False,
        input_length: int | None = None,
        lstm_units: int = 8,
        lstm_dropout: float = 0.8,
        filters: Sequence[int] = (128, 256, 128),
        kernel_sizes: Sequence[int] = (8, 5, 3),
        se_ratio: int = 16,
    ):
        super().__init__(in_channels, n_outputs, use_stream_max=use_stream_max, input_length=input_length)
        if len(filters) != len(kernel_sizes):
            raise ValueError("filters and kernel_sizes must have the same length")
        self.backbone: nn.ModuleDict = nn.ModuleDict()
        channels = in_channels
        for i, (f, k) in enumerate(zip(filters, kernel_sizes), start=1):
            conv = SameConv1d(channels, f, k, channels_last=True)
            he_uniform_(conv)
            self.backbone[f"conv{i}"] = conv
            channels = f
        self.norms = nn.ModuleList(batch_norm(f) for f in filters)
        self.squeeze = nn.ModuleList(SqueezeExcite(f, se_ratio) for f in filters[:-1])
        self.lstm = nn.LSTM(input_length, lstm_units, batch_first=True)
        keras_lstm_init_(self.lstm)
        self.lstm_dropout = nn.Dropout(lstm_dropout)
        self.feature_dim = lstm_units + channels
        self.head = self.build_head(self.head_input_dim, n_outputs)

    def backbone_features(self, x: torch.Tensor) -> torch.Tensor:
        _, (final, _) = run_lstm(self.lstm, x)  # (batch, channels, time) read as channel steps of time-long vectors
        h = x  # channels-last from the first convolution on (see fcn.ConvBNReLU.forward)
        for i, (conv, norm) in enumerate(zip(self.backbone.values(), self.norms, strict=True)):
            h = on_channels_last_matrix(lambda m: F.relu(norm(m)), conv(h))  # noqa: B023 (called at once)
            if i < len(self.squeeze):
                h = self.squeeze[i](h)
        return torch.cat([self.lstm_dropout(final[-1]), h.mean(dim=2)], dim=1)
