"""ConvTimeNet-style CNN after Kashiparekh et al. (IJCNN 2019): filters of several lengths in every conv layer.

Only the paper's principles are verified (multi-length filters in all conv layers, a shared trunk pretrained with
one softmax per source dataset, fine-tuned per target); the numbers below are tshub's own design, stated here and
in every model card. Default configuration (≈0.39 M parameters for one channel):

- ``n_blocks`` = 4 residual blocks, each ``len(kernel_sizes) · filters_per_kernel`` = 4 · 32 = 128 channels wide.
- A block runs parallel Conv1d branches with kernel lengths ``kernel_sizes`` = (8, 16, 32, 64) ('same' padding,
  ``filters_per_kernel`` = 32 filters each, no bias) and concatenates them → BatchNorm → add shortcut → ReLU.
- Blocks 2..n first squeeze their 128 input channels to ``bottleneck`` = 32 with a bias-free 1×1 conv
  (InceptionTime-style, keeps long kernels cheap); block 1 convolves the raw input directly.
- Shortcut: 1×1 conv + BatchNorm in block 1 (always, so the structure never depends on the channel count),
  identity afterwards.
- Global average pooling over time (length-independent) → Dense head; ``set_heads`` gives one head per source,
  each with its source's BatchNorm running statistics (the backbone's own are every source's pooled).
- Conv kernels he_uniform, BatchNorm eps 1e-3 (Keras) with momentum 0.1 (see base.batch_norm), head glorot_uniform.
Backbone = every block (all transferred); head = the output Dense layer(s).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tshub.models.base import SameConv1d, TimeSeriesModel, batch_norm, he_uniform_
from tshub.models.registry import register


class MultiLengthBlock(nn.Module):
    """(bottleneck) → parallel convs of several lengths → concat → BN, plus shortcut, → ReLU."""

    def __init__(
        self,
        in_channels: int,
        kernel_sizes: Sequence[int],
        filters_per_kernel: int,
        bottleneck: int | None,
        project_shortcut: bool,
    ):
        super().__init__()
        width = len(kernel_sizes) * filters_per_kernel
        self.bottleneck = nn.Conv1d(in_channels, bottleneck, 1, bias=False) if bottleneck else nn.Identity()
        branch_in = bottleneck or in_channels
        self.branches = nn.ModuleList(SameConv1d(branch_in, filters_per_kernel, k, bias=False) for k in kernel_sizes)
        self.bn = batch_norm(width)
        self.shortcut = (
            nn.Sequential(nn.Conv1d(in_channels, width, 1, bias=False), batch_norm(width))
            if project_shortcut
            else nn.Identity()
        )
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                he_uniform_(module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bottleneck(x)
        h = self.bn(torch.cat([branch(h) for branch in self.branches], dim=1))
        return F.relu(h + self.shortcut(x))


@register("convtimenet")
class ConvTimeNet(TimeSeriesModel):
    """Multi-scale residual CNN; see the module docstring for the exact configuration."""

    def __init__(
        self,
        in_channels: int,
        n_outputs: int,
        *,
        use_stream_max: bool = False,
        input_length: int | None = None,
        kernel_sizes: Sequence[int] = (8, 16, 32, 64),
        filters_per_kernel: int = 32,
        n_blocks: int = 4,
        bottleneck: int = 32,
    ):
        super().__init__(in_channels, n_outputs, use_stream_max=use_stream_max, input_length=input_length)
        if n_blocks < 1 or not kernel_sizes:
            raise ValueError("ConvTimeNet needs n_blocks >= 1 and at least one kernel size.")
        width = len(kernel_sizes) * filters_per_kernel
        self.backbone = nn.Sequential()
        for i in range(n_blocks):
            self.backbone.add_module(
                f"block{i}",
                MultiLengthBlock(
                    in_channels if i == 0 else width,
                    kernel_sizes,
                    filters_per_kernel,
                    bottleneck=None if i == 0 else bottleneck,
                    project_shortcut=i == 0,
                ),
            )
        self.input_layers = (
            *(f"backbone.block0.branches.{j}" for j in range(len(kernel_sizes))),
            "backbone.block0.shortcut.0",
        )
        self.feature_dim = width
        self.head = self.build_head(self.head_input_dim, n_outputs)

    def backbone_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x).mean(dim=2)
