"""TCN (Bai, Kolter & Koltun 2018) with keras-tcn 3.1.0 semantics, in the Otović et al. configuration (tstl ``tcn``).

One residual block per dilation: [causal dilated Conv1d → ReLU → SpatialDropout] ×2, plus a 1×1 conv shortcut when
the channel count changes, out = ReLU(shortcut + F(x)); no normalisation, no weight norm, no skip connections
(3.1.0 defaults). Features = the last time step (causal, so it sees the whole receptive field) → (stream_max) → Dense.
Defaults: 24 filters, kernel 8, dilations 1..256 (9 blocks), receptive field 1 + 2·7·511 = 7155 samples.
The backbone is the whole TCN, which tstl transfers as one layer; the head is the output Dense.
Several keras-tcn stacks are a repeated ``dilations`` tuple.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tshub.models.base import ModelInputError, TimeSeriesModel, he_normal_
from tshub.models.registry import register

OTOVIC_DILATIONS = tuple(2**i for i in range(9))


class CausalConv1d(nn.Conv1d):
    """Dilated Conv1d left-padded with (k − 1)·d zeros, so output t depends on inputs ≤ t only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, ((self.kernel_size[0] - 1) * self.dilation[0], 0)))


class ResidualBlock(nn.Module):
    def __init__(self, in_channels: int, filters: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.conv1 = CausalConv1d(in_channels, filters, kernel_size, dilation=dilation)
        self.conv2 = CausalConv1d(filters, filters, kernel_size, dilation=dilation)
        self.shortcut = nn.Conv1d(in_channels, filters, 1) if in_channels != filters else nn.Identity()
        self.dropout = nn.Dropout1d(dropout) if dropout > 0 else nn.Identity()  # SpatialDropout1D: whole channels
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                he_normal_(module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(F.relu(self.conv1(x)))
        h = self.dropout(F.relu(self.conv2(h)))
        return F.relu(self.shortcut(x) + h)


@register("tcn")
class TCN(TimeSeriesModel):
    """``self.backbone(x)`` gives the causal feature sequence (batch, nb_filters, time); features = its last step."""

    input_layers: tuple[str, ...] = ("backbone.block0.conv1", "backbone.block0.shortcut")

    def __init__(
        self,
        in_channels: int,
        n_outputs: int,
        *,
        use_stream_max: bool = False,
        input_length: int | None = None,
        nb_filters: int = 24,
        kernel_size: int = 8,
        dilations: Sequence[int] = OTOVIC_DILATIONS,
        dropout: float = 0.0,
    ):
        super().__init__(in_channels, n_outputs, use_stream_max=use_stream_max, input_length=input_length)
        if not dilations:
            raise ValueError("TCN needs dilations with at least one entry (one residual block per dilation).")
        self.nb_filters = nb_filters
        if in_channels == nb_filters:  # keras-tcn: identity shortcut, nothing to adapt there
            self.input_layers = ("backbone.block0.conv1",)
        self.backbone = nn.Sequential()
        channels = in_channels
        for i, d in enumerate(dilations):
            self.backbone.add_module(f"block{i}", ResidualBlock(channels, nb_filters, kernel_size, d, dropout))
            channels = nb_filters
        self.feature_dim = nb_filters
        self.head = self.build_head(self.head_input_dim, n_outputs)

    def backbone_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)[:, :, -1]

    def adapt_input_channels(self, channels: int) -> None:
        if (channels == self.nb_filters) != (self.in_channels == self.nb_filters):
            raise ModelInputError(
                f"the first TCN block has a 1×1 shortcut exactly when in_channels != nb_filters ({self.nb_filters}), "
                f"so {self.in_channels} → {channels} channels cannot be adapted in place: build a new model with "
                "build_model('tcn', ...) and transfer the weights (fine-tuning does this)."
            )
        super().adapt_input_channels(channels)
