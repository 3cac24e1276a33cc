"""Dynamic time warping: exact, multivariate, unequal lengths, optional Sakoe–Chiba band, compiled with numba.

Conventions (bigdata18 ``dtw.pyx`` and ``tslearn.metrics.dtw``): the local cost is the squared Euclidean distance
summed over channels, the accumulated cost follows ``D[a, j] = cost(a, j) + min(D[a-1, j], D[a, j-1], D[a-1, j-1])``
and the distance is ``sqrt(D[n-1, m-1])``. The arithmetic is done in tslearn's order, so costs agree bit for bit;
warping paths break ties like tslearn: (a-1, j-1), then (a-1, j), then (a, j-1).

``window`` is the Sakoe–Chiba radius: ``None`` (unconstrained), an int (samples) or a float in [0, 1) (fraction of
the longer series, rounded to the nearest sample). As in tslearn the band is widened by the length difference so
the end point stays reachable: row ``a`` may match columns ``[a - r + min(0, m - n), a + r + max(0, m - n)]``.

Layout: ``band`` (the typed Sakoe–Chiba band), ``series`` (sets of series, NaN handling), ``kernels`` (the
compiled DTWs), ``pool`` (the thread pool for large batches); this module holds the distances built on them.
"""

from __future__ import annotations

import numpy as np

from tshub.similarity.warping.band import UNCONSTRAINED, Band
from tshub.similarity.warping.kernels import (
    LANES,
    NO_THRESHOLDS,
    backtrack,
    cdist_rows,
    costs_block,
    costs_many,
    paths_block,
)
from tshub.similarity.warping.pool import lane_chunks, parallel_map, set_threads, threads
from tshub.similarity.warping.series import SeriesSet, as_series, as_series_set

__all__ = [
    "UNCONSTRAINED",
    "Band",
    "SeriesSet",
    "as_series",
    "as_series_set",
    "cdist_cost",
    "cdist_dtw",
    "costs_to",
    "dtw",
    "dtw_path",
    "min_cost_groups",
    "set_threads",
    "threads",
]


def _pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, SeriesSet]:
    """Two series as the kernels take them: x (t, c) and a one-series set of y, with the same channel count."""
    xs, ys = as_series(x), as_series(y)
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(f"series have {xs.shape[1]} and {ys.shape[1]} channels; DTW needs the same number.")
    return xs, SeriesSet.from_list([ys], ys.shape[1])


def dtw(x: np.ndarray, y: np.ndarray, window: int | float | None = None) -> float:
    """DTW distance between two series (``(t,)`` or ``(c, t)``, any lengths); see the module doc for ``window``."""
    xs, ys = _pair(x, y)
    res = np.empty(LANES)
    costs_block(xs, ys.flat, ys.offsets, np.zeros(1, np.int64), 0, 1, Band.of(window), NO_THRESHOLDS, res)
    return float(np.sqrt(res[0]))


def dtw_path(x: np.ndarray, y: np.ndarray, window: int | float | None = None) -> tuple[float, np.ndarray]:
    """DTW distance and optimal warping path, an (L, 2) array of (index in x, index in y) from (0, 0) to the ends."""
    xs, ys = _pair(x, y)
    res = np.empty(LANES)
    dirs, lengths = paths_block(xs, ys.flat, ys.offsets, np.zeros(1, np.int64), 0, 1, Band.of(window), res)
    return float(np.sqrt(res[0])), backtrack(dirs, 0, len(xs), int(lengths[0])).copy()


def costs_to(
    x: np.ndarray, S: SeriesSet, idx: np.ndarray, band: Band, thresholds: np.ndarray | None = None
) -> np.ndarray:
    """Accumulated costs of x (t, c) against series ``idx`` of S, split over threads when worth it; a DTW is
    abandoned (``inf``) once it must exceed its ``thresholds`` entry."""
    thresholds = np.full(len(idx), np.inf) if thresholds is None else thresholds
    cells = len(x) * S.lengths[idx].sum()
    parts = parallel_map(
        lambda sl: costs_many(x, S.flat, S.offsets, idx[sl], band, thresholds[sl]), lane_chunks(len(idx)), cells
    )
    return np.concatenate(parts) if parts else np.zeros(0)


def min_cost_groups(
    S: SeriesSet, src: np.ndarray, tgt: np.ndarray, group: np.ndarray, n_groups: int, band: Band
) -> np.ndarray:
    """Per group g: the smallest accumulated cost between series ``src`` and the series ``tgt[group == g]`` of S.

    Sort ``tgt`` by length (lanes are padded to the longest). A DTW is abandoned as soon as it cannot beat its
    group's best so far (from the previous ``src`` series), which keeps every minimum exact.
    """
    best = np.full(n_groups, np.inf)
    for i in src:
        np.minimum.at(best, group, costs_to(S.series(i), S, tgt, band, best[group]))
    return best


def cdist_cost(a: SeriesSet, b: SeriesSet | None, band: Band) -> np.ndarray:
    """Accumulated-cost matrix between two sets (``b=None``: within ``a``, computed once per pair)."""
    other = a if b is None else b
    out = np.zeros((len(a), len(other)))
    cells = a.lengths.sum() * other.lengths.sum() / (2 if b is None else 1)
    rows = [np.arange(t, len(a), max(1, threads()), dtype=np.int64) for t in range(max(1, threads()))]
    parallel_map(
        lambda r: cdist_rows(a.flat, a.offsets, other.flat, other.offsets, r, band, b is None, out), rows, cells
    )
    if b is None:
        out = np.triu(out, 1) + np.triu(out, 1).T
    return out


def cdist_dtw(A, B=None, window: int | float | None = None) -> np.ndarray:
    """Matrix of DTW distances between two sets of series (``B=None``: within ``A``, zero diagonal).

    Parallel over rows when the work is large enough (see :func:`set_threads`).
    """
    a = as_series_set(A)
    b = a if B is None else as_series_set(B)
    if a.n_channels != b.n_channels:
        raise ValueError(f"sets have {a.n_channels} and {b.n_channels} channels; DTW needs the same number.")
    return np.sqrt(cdist_cost(a, None if B is None else b, Band.of(window)))
