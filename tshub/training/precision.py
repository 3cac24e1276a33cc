"""Where bfloat16 pays: the device's bf16 units as oneDNN (which runs the CPU's convolutions and matrix products)
will use them.

Measured on CPUs (bench/results/): with AMX, an FCN epoch in bf16 autocast runs at 2.9× float32's speed
(train_speed_xeon_amx.md); on AMD's AVX512-bf16 at 1.8× (train_speed.md, an EPYC). On an Intel CPU's AVX512-bf16
without AMX (Cooper Lake, or a Sapphire Rapids whose AMX a VM hides, measured with oneDNN capped below AMX) bf16
convolutions ran at float32's rate (consistent with its bf16 dot product issuing on one port where float32 FMAs
issue on two), so the casts make the epoch slower: 0.70× (train_speed_xeon_no_amx.md). Without bf16 instructions oneDNN emulates it:
a ranking's bf16 screen took 4.2-4.9× as long as in float32 (recommend_screen_precision.md), an FCN training step on a
Zen 3 EPYC 11× (fcn_step_zen3.md), so a training asked for bf16 there warns.
"""

from __future__ import annotations

import os
import warnings

import torch

from tshub.models.cpu import cpu_capabilities, cpu_made_by

#: ``ONEDNN_MAX_CPU_ISA`` values that keep AMX, and that keep at least AVX512-bf16 (oneDNN's ISA names).
_AMX_ISAS = ("AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512_AMX_2")
_BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512", "AVX10_2_512", *_AMX_ISAS)


def native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 autocast runs faster than float32 on ``device``: CUDA with bf16; a CPU whose oneDNN uses
    AMX, or AVX512-bf16 on a CPU other than Intel's (see the module's measurements).

    On CUDA, compute capability 8 (Ampere) or later on the device itself: ``torch.cuda.is_bf16_supported()`` also says
    yes where bf16 is only emulated (V100, T4), and asks the current device rather than ``device``."""
    if device.type == "cuda":
        return bool(torch.version.hip) or torch.cuda.get_device_properties(device).major >= 8
    if device.type != "cpu":
        return False
    amx, avx512_bf16 = onednn_bf16_units()
    return amx or (avx512_bf16 and not cpu_made_by("Intel"))


def emulated_bf16(device: torch.device) -> bool:
    """Whether oneDNN emulates bfloat16 on ``device``: a CPU without AVX512-bf16 or AMX, or with oneDNN capped
    below them."""
    return device.type == "cpu" and not any(onednn_bf16_units())


def onednn_bf16_units() -> tuple[bool, bool]:
    """Which bfloat16 units of this CPU oneDNN uses: (AMX, AVX512-bf16), each present and not capped away."""
    capabilities = cpu_capabilities()
    cap = onednn_isa_cap()
    amx = bool(capabilities.get("amx_bf16")) and (cap is None or cap in _AMX_ISAS)
    avx512_bf16 = bool(capabilities.get("avx512_bf16")) and (cap is None or cap in _BF16_ISAS)
    return amx, avx512_bf16


def warn_if_emulated_bf16(device: torch.device) -> None:
    """A training asked for bf16 autocast where it is emulated: say so, since it crawls and nothing else tells."""
    if emulated_bf16(device):
        warnings.warn(
            "bfloat16 autocast was asked for, but this CPU has no bf16 instructions oneDNN uses (AVX512-bf16 or AMX), "
            "so it emulates them: an FCN training step ran 11x slower than in float32 on a Zen 3 AMD EPYC. "
            "Pass bf16=False (or leave bf16 unset: the presets use bf16 only where it runs natively), or train on "
            "a CPU with AVX512-bf16 or AMX.",
            stacklevel=3,
        )


def onednn_isa_cap() -> str | None:
    """The instruction set oneDNN is limited to (its ``ONEDNN_MAX_CPU_ISA``, or the older ``DNNL_`` name); None
    when it uses all the CPU has."""
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").strip().upper()
    return None if cap in ("", "ALL", "DEFAULT") else cap
