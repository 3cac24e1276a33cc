"""What the CPU's kernels (oneDNN, through ATen) compute fast, or at all, decides three things inside the models: the
memory layout of convolution blocks, which of their convolutions run as Winograd's (``tshub.models.winograd``), and
the precision of LSTMs under bfloat16 autocast.

Measured (bench/results/): oneDNN's convolutions on CPUs with AVX-512 compute channels-last, so blocks that keep
their activations so skip a transpose per convolution (FCN step 1.37× faster in bf16 and 1.11× in float32 on a Xeon,
fcn_step.md); with AVX2 alone (a Zen 3 EPYC) the same blocks made the float32 step slower than plain (N, C, T) tensors
(0.85×, fcn_step_zen3.md), and oneDNN builds no bfloat16 LSTM at all ("could not create a primitive descriptor for the LSTM
forward propagation primitive"), so there an LSTM runs in float32. Other devices keep what tshub did before
(channels-last blocks, LSTMs as autocast runs them).

On AVX2, and on AMD's AVX-512 CPUs, in float32 the blocks' wide convolutions of kernel 3 and 5 run as Winograd's
F(6, 3) and F(4, 5) instead (their output channels-last), and the one of few input channels that feeds them (the
FCN's first) runs oneDNN's channels-last path, so every block hands the next a channels-last tensor. Measured on a
Zen 3 EPYC (AVX2; one thread, the transfer matrix busy beside it), the FCN's training step took 118 instead of 197 ms
on plain tensors (1.68×; fcn_step_zen3.md), the kernel-5 layer 1.82× and the kernel-3 one 1.78× faster, the first
2.2× (fcn_conv_layers_zen3.md); on a Zen 4 EPYC (AVX-512 and AVX512-bf16; one thread, CPU time), 95 instead of 132 ms
with oneDNN's channels-last convolutions (1.39×, fcn_step_zen4.md; MLSTM-FCN's 107 instead of 145 ms, 1.36×,
fcn_step_zen4_mlstm_fcn.md), the wide layers 1.48× and 1.29× faster
(fcn_conv_layers_zen4_float32.md), and a forward pass alone (prediction) 1.20× (16 series) and 1.18× (256) with
freed memory kept, as tshub keeps it (fcn_predict_zen4_*.md; without, its larger buffers' page faults made it 0.7×).
In bf16 they would be 1.37× faster on that Zen 4 but err 6× more than a direct
bf16 convolution (2.2e-2 to 2.4e-2 of the output's range against 3.8e-3, fcn_conv_layers_zen4.md), so bf16 keeps
oneDNN's. Narrower convolutions (below 128 channels), whose transforms weigh more against the multiplies they save,
and Intel's AVX-512 CPUs were not measured with it, so they keep oneDNN's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _cpu_without_avx512(device: torch.device) -> bool:
    return device.type == "cpu" and torch.backends.cpu.get_cpu_capability() != "AVX512"


WINOGRAD_TILES = {3: 6, 5: 4}  # kernel size → outputs per tile of F(m, k), measured on AVX2 (fcn_step_zen3.md)
WINOGRAD_MIN_CHANNELS = 128  # in and out: the FCN's wide layers, where it was measured


def winograd_pays(device: torch.device) -> bool:
    """Whether wide float32 convolutions run faster as Winograd's on ``device``: measured on AVX2 CPUs (Zen 3) and on
    AMD's AVX-512 ones (Zen 4)."""
    if device.type != "cpu":
        return False
    capability = torch.backends.cpu.get_cpu_capability()
    return capability == "AVX2" or (capability == "AVX512" and cpu_made_by("AMD"))


def cpu_made_by(maker: str) -> bool:
    """Whether the CPU's name as torch reads it starts with ``maker`` ("AMD", "Intel"): the measurements that decide
    layouts and precision differ between makers' CPUs of one instruction set."""
    return str(cpu_capabilities().get("cpu_name", "")).startswith(maker)


def cpu_capabilities() -> dict[str, Any]:
    """What torch reads of the CPU: its name and instruction sets (``torch.cpu.get_capabilities``); empty with a
    torch too old to read them, so that nothing measured on a named CPU or instruction set is assumed there."""
    read = getattr(torch.cpu, "get_capabilities", None)
    return dict(read()) if read is not None else {}


def winograd_tile(x: torch.Tensor, conv: nn.Conv1d) -> int | None:
    """Outputs per tile of the Winograd convolution that computes ``conv(x)`` faster here, or None for oneDNN's.

    Only where it was measured (``winograd_pays``, float32 outside autocast) and only for stride-1, undilated,
    ungrouped convolutions with zero padding.
    """
    return winograd_tile_of(conv) if _winograd_runs(x) else None


def _winograd_runs(x: torch.Tensor) -> bool:
    """Whether wide convolutions of ``x`` run as Winograd's here: where it pays, in float32 outside autocast."""
    return winograd_pays(x.device) and x.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")


def winograd_tile_of(conv: nn.Conv1d) -> int | None:
    """Outputs per tile of the Winograd convolution measured for ``conv``'s shape, or None: the shape half of
    ``winograd_tile``, whatever the CPU (bench/fcn_conv_layers.py times it anywhere)."""
    if conv.stride != (1,) or conv.dilation != (1,) or conv.groups != 1 or conv.padding_mode != "zeros":
        return None
    if min(conv.in_channels, conv.out_channels) < WINOGRAD_MIN_CHANNELS:
        return None
    return WINOGRAD_TILES.get(conv.kernel_size[0])


def channels_last_pays(device: torch.device) -> bool:
    """Whether convolution blocks on ``device`` should keep their activations channels-last in memory."""
    return not _cpu_without_avx512(device)


def computes_channels_last(x: torch.Tensor, conv: nn.Conv1d) -> bool:
    """Whether a channels-last block's convolution that does not run as Winograd's computes channels-last (oneDNN).

    Wherever that pays (``channels_last_pays``); and where the wide convolutions run as Winograd's (AVX2), the one of
    few input channels that feeds them (the FCN's first, 1 → 128), so that the whole chain stays channels-last: its
    BatchNorm and ReLU run on the (N·T, C) matrix and the next convolution gathers its tiles without a transpose
    (the float32 step 1.07× faster than with that convolution plain for the FCN, 1.06× on 32 input channels, 1.14×
    for MLSTM-FCN: bench/results/fcn_step_zen3*.md).
    """
    if channels_last_pays(x.device):
        return True
    return _winograd_runs(x) and feeds_winograd(conv)


def feeds_winograd(conv: nn.Conv1d) -> bool:
    """Whether ``conv`` has few input channels and the many output channels of the convolutions that run as
    Winograd's: the shape half of ``computes_channels_last`` (bench/fcn_conv_layers.py uses it on any CPU)."""
    return conv.in_channels < WINOGRAD_MIN_CHANNELS <= conv.out_channels


def run_lstm(lstm: nn.LSTM, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """``lstm(x)``, in float32 outside bfloat16 autocast on a CPU whose oneDNN builds no bfloat16 LSTM (without
    AVX-512), where autocast would fail; the rest of the model keeps its autocast."""
    if _cpu_without_avx512(x.device) and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return lstm(x.float())
    return lstm(x)
