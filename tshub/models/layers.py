"""Convolution and BatchNorm layers that run 1-D series through oneDNN's fast channels-last 2-D kernels.

PyTorch's ``Conv1d`` on CPU takes oneDNN's (batch, channels, time) path, which on AVX-512/AMX machines is several
times slower than the channels-last 2-D path for the same arithmetic: FCN on FordA-shaped batches (16 × 1 × 500),
one epoch of 1,024 series, measured in bench/train_speed.py. These layers keep ``Conv1d``/``BatchNorm1d``
parameters (same names, same shapes: checkpoints are unchanged) and compute on a (batch, channels, 1, time) view
in ``channels_last`` memory, so consecutive layers hand each other that layout without copies. Their 3-D outputs
have channels-last strides; every elementwise op and ``mean(dim=2)`` accepts them as they are.

Padding is explicit (``F.pad``), so even kernels get TensorFlow's 'same' split (the extra zero on the right)
without PyTorch's "padding='same' with even kernel" copy and warning.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def channels_last_2d(x: torch.Tensor) -> torch.Tensor:
    """(batch, channels, time) → (batch, channels, 1, time) in channels_last memory (a view when already so)."""
    return x.unsqueeze(2).contiguous(memory_format=torch.channels_last)


class Conv1d(nn.Conv1d):
    """``nn.Conv1d`` computed as a channels-last 2-D convolution, with explicit padding.

    ``padding`` is "same" (TensorFlow 'SAME' for any stride and dilation: output length ceil(T / stride), the odd
    zero on the right), "causal" (left padding of (k − 1)·dilation: output t sees inputs ≤ t only) or "valid".
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 dilation: int = 1, padding: str = "same", bias: bool = True):
        if padding not in ("same", "causal", "valid"):
            raise ValueError(f"padding must be 'same', 'causal' or 'valid', got {padding!r}.")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation, bias=bias)
        self.pad_mode = padding

    def pads(self, length: int) -> tuple[int, int]:
        """(left, right) zeros added to a series of ``length`` steps."""
        (k,), (stride,), (dilation,) = self.kernel_size, self.stride, self.dilation
        span = (k - 1) * dilation + 1
        if self.pad_mode == "causal":
            return span - 1, 0
        if self.pad_mode == "valid":
            return 0, 0
        total = max((math.ceil(length / stride) - 1) * stride + span - length, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = self.pads(x.shape[-1])
        x = channels_last_2d(x)
        if left or right:
            x = F.pad(x, (left, right))
        out = F.conv2d(x, self.weight.unsqueeze(2), self.bias, (1, self.stride[0]), 0, (1, self.dilation[0]))
        return out.squeeze(2)


class BatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` over (batch, channels, time) computed on the channels-last 2-D view (no layout copy)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3:
            return super().forward(x)
        return super().forward(channels_last_2d(x)).squeeze(2)

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.ndim not in (2, 3, 4):
            raise ValueError(f"expected 2-D, 3-D or 4-D input, got {x.ndim}-D.")
