"""What the CPU's kernels (oneDNN, through ATen) compute at all decides the precision of LSTMs under bfloat16
autocast: without AVX-512 (a Zen 3 EPYC) oneDNN builds no bfloat16 LSTM ("could not create a primitive descriptor
for the LSTM forward propagation primitive"), so there an LSTM runs in float32. Other devices run LSTMs as autocast
runs them.
"""

from __future__ import annotations

import torch
from torch import nn


def _cpu_without_avx512(device: torch.device) -> bool:
    return device.type == "cpu" and torch.backends.cpu.get_cpu_capability() != "AVX512"


def run_lstm(lstm: nn.LSTM, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """``lstm(x)``, in float32 outside bfloat16 autocast on a CPU whose oneDNN builds no bfloat16 LSTM (without
    AVX-512), where autocast would fail; the rest of the model keeps its autocast."""
    if _cpu_without_avx512(x.device) and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return lstm(x.float())
    return lstm(x)
