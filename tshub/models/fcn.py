"""FCN of Wang, Yan & Oates (2017), as in dl-4-tsc and bigdata18: three conv–BN–ReLU blocks, GAP, dense head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tshub.models.base import SameConv1d, TimeSeriesModel, batch_norm, glorot_uniform_, on_channels_last_matrix
from tshub.models.registry import register


class ConvBNReLU(nn.Sequential):
    """Conv1d ("same" padding, Keras glorot init) → BatchNorm (see base.batch_norm) → ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        conv = SameConv1d(in_channels, out_channels, kernel_size, channels_last=True)
        glorot_uniform_(conv)
        super().__init__()
        self.conv = conv
        self.bn = batch_norm(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block with its activations channels-last in memory (see ``SameConv1d._forward_channels_last``)."""
        return on_channels_last_matrix(lambda h: self.relu(self.bn(h)), self.conv(x))


@register("fcn")
class FCN(TimeSeriesModel):
    """Length-independent (global average pooling), so one source checkpoint transfers to any target length."""

    input_layers = ("backbone.block1.conv",)

    def __init__(
        self,
        in_channels: int,
        n_outputs: int,
        *,
        use_stream_max: bool = False,
        input_length: int | None = None,
        filters: Sequence[int] = (128, 256, 128),
        kernel_sizes: Sequence[int] = (8, 5, 3),
    ):
        super().__init__(in_channels, n_outputs, use_stream_max=use_stream_max, input_length=input_length)
        if len(filters) != len(kernel_sizes):
            raise ValueError("filters and kernel_sizes must have the same length")
        blocks, channels = {}, in_channels
        for i, (f, k) in enumerate(zip(filters, kernel_sizes), start=1):
            blocks[f"block{i}"] = ConvBNReLU(channels, f, k)
            channels = f
        self.backbone = nn.Sequential()
        for name, block in blocks.items():
            self.backbone.add_module(name, block)
        self.feature_dim = channels
        self.head = self.build_head(self.head_input_dim, n_outputs)

    def backbone_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x).mean(dim=2)
