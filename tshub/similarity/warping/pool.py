"""Threads for large DTW batches: the kernels release the GIL, so a thread pool runs several at once.

Threads rather than numba ``prange``: parallel regions shorter than tens of ms stalled 20x on a shared busy machine
(every thread must get a core to finish one), so work is split only when it is large (``PARALLEL_MIN_CELLS``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tshub.similarity.warping.kernels import LANES

PARALLEL_MIN_CELLS = 5e7  # DTW cells (~15 ms) below which work stays on the calling thread
_THREADS = os.cpu_count() or 1
_POOL: tuple[int, ThreadPoolExecutor] | None = None  # (size, pool)


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any], cells: float) -> list[Any]:
    """``fn`` over ``items`` on worker threads (the kernels release the GIL) when the work is worth it, else in order.

    Worth it: more than one thread set and >= PARALLEL_MIN_CELLS DTW cells (tens of ms); fine-grained parallel
    regions stall on a busy machine, where every thread must get a core to finish one.
    """
    global _POOL
    if threads() == 1 or len(items) < 2 or cells < PARALLEL_MIN_CELLS:
        return [fn(item) for item in items]
    if _POOL is None or _POOL[0] != threads():
        _POOL = (threads(), ThreadPoolExecutor(max_workers=threads(), thread_name_prefix="tshub-dtw"))
    return list(_POOL[1].map(fn, items))


def lane_chunks(n: int) -> list[slice]:
    """``range(n)`` cut into at most ``threads()`` slices of whole LANES blocks."""
    blocks = -(-n // LANES)
    per = -(-blocks // max(1, threads())) * LANES
    return [slice(start, min(n, start + per)) for start in range(0, n, per)]


def threads() -> int:
    """Threads the kernels may use (:func:`set_threads`)."""
    return _THREADS


def set_threads(n: int | None) -> None:
    """Threads for large DTW batches (None: every core, the default); results do not depend on it."""
    global _THREADS
    _THREADS = (os.cpu_count() or 1) if n is None else max(1, int(n))
