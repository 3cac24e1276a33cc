"""What the CPU's kernels (oneDNN, through ATen) compute fast, or at all, decides two things inside the models: the
memory layout of convolution blocks and the precision of LSTMs under bfloat16 autocast.

Measured (bench/results/): oneDNN's convolutions on CPUs with AVX-512 compute channels-last, so blocks that keep
their activations so skip a transpose per convolution (FCN step 1.37× faster in bf16 and 1.11× in float32 on a Xeon,
fcn_step.md); with AVX2 alone (a Zen 3 EPYC) the same blocks made the float32 step slower than plain (N, C, T) tensors
(0.92×, fcn_step_zen3.md), and oneDNN builds no bfloat16 LSTM at all ("could not create a primitive descriptor for the LSTM
forward propagation primitive"), so there an LSTM runs in float32. Other devices keep what tshub did before
(channels-last blocks, LSTMs as autocast runs them).
"""

from __future__ import annotations

import torch
from torch import nn


def _cpu_without_avx512(device: torch.device) -> bool:
    return device.type == "cpu" and torch.backends.cpu.get_cpu_capability() != "AVX512"


def channels_last_pays(device: torch.device) -> bool:
    """Whether convolution blocks on ``device`` should keep their activations channels-last in memory."""
    return not _cpu_without_avx512(device)


def run_lstm(lstm: nn.LSTM, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """``lstm(x)``, in float32 outside bfloat16 autocast on a CPU whose oneDNN builds no bfloat16 LSTM (without
    AVX-512), where autocast would fail; the rest of the model keeps its autocast."""
    if _cpu_without_avx512(x.device) and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return lstm(x.float())
    return lstm(x)
