"""Keep the memory a training step frees mapped in the process, so the next step reuses it without page faults.

A CPU training step allocates and frees the same megabyte-sized activation buffers every step, and a prediction
every batch. glibc's allocator serves large requests with fresh ``mmap``s and hands freed heap memory above its trim
threshold back to the kernel, so every step touches new pages and pays a page fault per 4 KiB: the FCN's float32
step on FordA's shape runs 1.20× faster without them (bench/results/fcn_step.md; its bf16 step, half the bytes,
gained nothing on a quiet Xeon), its forward pass of 256 series 1.57× (2.65× with Winograd's convolutions, whose
products are larger; a Zen 4, fcn_predict_zen4_256.md). ``fit``, ``predict_outputs`` and the recommender's
``target_features`` apply it on a CPU.
Fixing both thresholds keeps that memory in the process for reuse, as the jemalloc or tcmalloc that PyTorch's CPU
performance guide has users preload would, with no library to install. The price: the process's resident size
stays at its peak rather than shrinking after a training.
"""

from __future__ import annotations

import ctypes
import os
import platform

import torch

#: glibc's ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Requests and free heap memory below this stay in the process (glibc's own dynamic limit is 32 MiB).
_KEPT_BYTES = 1 << 30
#: Set to "0" to leave the allocator as the process has it.
OPT_OUT = "TSHUB_KEEP_FREED_MEMORY"

_applied: bool | None = None


def keep_freed_memory(device: torch.device) -> bool:
    """For work on ``device``: raise glibc's mmap and trim thresholds to 1 GiB, once per process, when it is a CPU (a
    GPU's tensors live in its own caching allocator). Whether they are raised (False off glibc, or when the
    ``TSHUB_KEEP_FREED_MEMORY=0`` environment variable declines it). Changes no computed value."""
    global _applied
    if device.type != "cpu":
        return False
    if _applied is None:
        _applied = _raise_thresholds()
    return _applied


def _raise_thresholds() -> bool:
    if os.environ.get(OPT_OUT, "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    # both or neither: a fixed trim threshold alone turns off glibc's dynamic mmap threshold, and every large
    # request then maps fresh pages (the FCN step measured twice as slow)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEPT_BYTES)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _KEPT_BYTES))
