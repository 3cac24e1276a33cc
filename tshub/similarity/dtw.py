"""Dynamic time warping: exact, multivariate, unequal lengths, optional Sakoe–Chiba band, compiled with numba.

Conventions (bigdata18 ``dtw.pyx`` and ``tslearn.metrics.dtw``): the local cost is the squared Euclidean distance
summed over channels, the accumulated cost follows ``D[a, j] = cost(a, j) + min(D[a-1, j], D[a, j-1], D[a-1, j-1])``
and the distance is ``sqrt(D[n-1, m-1])``. The arithmetic is done in tslearn's order, so costs agree bit for bit;
warping paths break ties like tslearn: (a-1, j-1), then (a-1, j), then (a, j-1).

``window`` is the Sakoe–Chiba radius: ``None`` (unconstrained), an int (samples) or a float in [0, 1) (fraction of
the longer series, rounded to the nearest sample). As in tslearn the band is widened by the length difference so
the end point stays reachable: row ``a`` may match columns ``[a - r + min(0, m - n), a + r + max(0, m - n)]``.

Series are channels-first like the rest of tshub: ``(t,)`` or ``(c, t)``; a set of series is an ``(n, c, t)`` array
or a list of such arrays of any lengths. Trailing all-NaN time steps (the UCR padding of variable-length sets) are
dropped; interior NaN (missing values) are linearly interpolated.

Speed: the DTW recurrence is serial along a row, so one DTW alone cannot use SIMD units. The kernels compute up to
``LANES`` DTWs of one series ``x`` against different series at once (SIMD across the lanes) and ``STRIP`` rows of
``x`` per sweep, carrying the values between those rows in registers; only every ``STRIP``-th row goes to memory.
Warping paths keep 2-bit back-pointers packed 32 to a uint64 instead of the accumulated matrix. Large batches are
split over threads (the kernels release the GIL; :func:`set_threads`) rather than numba ``prange``: regions shorter
than tens of ms stalled 20x on the shared busy machine (every thread must get a core to finish one).
"""

from __future__ import annotations

from collections.abc import Sequence

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numba import literally, njit

LANES = 32  # DTWs computed together; >= 32 lets LLVM's loop vectoriser fill AVX2 vectors
STRIP = 4  # rows of x per sweep over the columns
PARALLEL_MIN_CELLS = 5e7  # DTW cells (~15 ms) below which work stays on the calling thread
_INF = np.inf
_THREADS = os.cpu_count() or 1
_POOL: tuple[int, ThreadPoolExecutor] | None = None  # (size, pool)
_NO_THR = np.full(LANES, np.inf)  # read-only global: numba freezes it as a constant


class SeriesSet:
    """Variable-length multichannel series stored flat: ``flat[offsets[i]:offsets[i+1]]`` is series i, (t_i, c).

    Time-major float64 inside (the layout the kernels read); build one with :func:`as_series_set`.
    """

    def __init__(self, flat: np.ndarray, offsets: np.ndarray):
        self.flat = np.ascontiguousarray(flat, dtype=np.float64)
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_channels(self) -> int:
        return self.flat.shape[1]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def series(self, i: int) -> np.ndarray:
        """Series i as a time-major (t, c) view."""
        return self.flat[self.offsets[i] : self.offsets[i + 1]]

    @classmethod
    def from_list(cls, series: Sequence[np.ndarray], n_channels: int) -> "SeriesSet":
        """From time-major (t_i, c) arrays."""
        lengths = np.array([len(s) for s in series], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = np.concatenate(list(series), axis=0) if len(series) else np.zeros((0, n_channels))
        return cls(flat.reshape(-1, n_channels), offsets)


def as_series(x: np.ndarray) -> np.ndarray:
    """One series, ``(t,)`` or ``(c, t)``, as a time-major float64 (t, c) array without NaN (see module doc)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"a series must have shape (t,) or (channels, t), got {x.shape}.")
    nan = np.isnan(x)
    if nan.any():
        valid = ~nan.all(axis=0)
        if not valid.any():
            raise ValueError("a series is entirely NaN; remove it before computing DTW.")
        x = x[:, : np.flatnonzero(valid)[-1] + 1]
        t = np.arange(x.shape[1])
        x = np.stack([np.interp(t, t[~np.isnan(ch)], ch[~np.isnan(ch)]) for ch in x])
    if x.shape[1] == 0:
        raise ValueError("a series has length 0.")
    return np.ascontiguousarray(x.T)


def as_series_set(X: np.ndarray | Sequence[np.ndarray] | SeriesSet) -> SeriesSet:
    """A set of series: ``(n, t)``, ``(n, c, t)`` (NaN-padded allowed) or a list of ``(t,)``/``(c, t)`` arrays."""
    if isinstance(X, SeriesSet):
        return X
    if isinstance(X, np.ndarray) and X.ndim == 2:
        X = X[:, None, :]
    items = [as_series(x) for x in X]
    if not items:
        raise ValueError("the set of series is empty.")
    channels = {s.shape[1] for s in items}
    if len(channels) != 1:
        raise ValueError(f"all series must have the same number of channels, got {sorted(channels)}.")
    return SeriesSet.from_list(items, channels.pop())


def window_code(window: int | float | None) -> float:
    """Encode ``window`` for the kernels: -1 = none, [0, 1) = fraction, >= 1 = radius in samples."""
    if window is None:
        return -1.0
    if isinstance(window, (bool, np.bool_)):
        raise ValueError("window must be None, an int radius in samples or a float fraction in [0, 1).")
    if isinstance(window, (int, np.integer)):
        if window < 0:
            raise ValueError(f"window radius must be >= 0 samples, got {window}.")
        return float(window)
    window = float(window)
    if not 0.0 <= window < 1.0:
        raise ValueError(f"a float window is a fraction of the longer series in [0, 1), got {window}; pass an int for samples.")
    return window


@njit(cache=True, nogil=True)
def _radius(code: float, n: int, m: int) -> int:
    if code < 0.0:
        return -1
    if code < 1.0:
        return int(np.round(code * max(n, m)))
    return int(code)


@njit(cache=True, nogil=True)
def _band(a: int, n: int, m: int, r: int) -> tuple[int, int]:
    """Columns [lo, hi] that row ``a`` may match (tslearn's Sakoe–Chiba mask for unequal lengths)."""
    if r < 0:
        return 0, m - 1
    delta = m - n
    return max(a - r + min(0, delta), 0), min(a + r + max(0, delta), m - 1)


@njit(cache=True, nogil=True, error_model="numpy")
def _strip(x, a, R, Y, K, lo, hi, blo, bhi, prev, out, L, dd, W, rmin, dirs, fused, path):
    """Rows a..a+R-1 of K accumulated-cost matrices over columns lo..hi.

    ``prev`` holds row a-1 (index j+1 = column j, index 0 the virtual column -1); the last row goes to ``out``.
    ``fused``: univariate and unconstrained, local cost computed in the recurrence; otherwise from ``dd``
    (channel sum, ``inf`` outside each lane's band ``[blo, bhi]``). ``path``: back-pointers into ``dirs``.
    ``rmin`` gets each lane's minimum of the last row (every warping path crosses it: a lower bound).
    """
    literally(R)
    literally(fused)
    literally(path)
    c = x.shape[1]
    for k in range(K):
        for r in range(R):
            L[r, k] = _INF
            W[r, k] = 0
        out[lo, k] = _INF
        rmin[k] = _INF
    for j in range(lo, hi + 1):
        s = np.uint64(2 * (j & 31))
        if not fused:
            for r in range(R):
                for k in range(K):
                    dd[r, k] = 0.0
                for ch in range(c):
                    xv = x[a + r, ch]
                    for k in range(K):
                        diff = xv - Y[j, ch, k]
                        dd[r, k] += diff * diff
                for k in range(K):
                    if j < blo[r, k] or j > bhi[r, k]:
                        dd[r, k] = _INF
        for k in range(K):
            yv = Y[j, 0, k]
            up = prev[j + 1, k]
            dg = prev[j, k]
            for r in range(R):
                left = L[r, k]
                m = min(min(up, left), dg)
                if path:
                    # argmin over (diag, up, left), first on ties; the `and` form keeps LLVM's vectoriser happy
                    W[r, k] |= (np.uint64(dg > m) + np.uint64(up > left and dg > m)) << s
                if fused:
                    diff = x[a + r, 0] - yv
                    up = diff * diff + m
                else:
                    up = dd[r, k] + m
                L[r, k] = up
                dg = left
            out[j + 1, k] = up
            rmin[k] = min(rmin[k], up)
        if path and ((j & 31) == 31 or j == hi):
            for r in range(R):
                for k in range(K):
                    dirs[a + r, j >> 5, k] = W[r, k]
                    W[r, k] = 0


@njit(cache=True, nogil=True, error_model="numpy")
def _sweep(x, Y, K, m, code, thr, res, dirs, fused, path):
    """Accumulated costs of x (n, c) against lanes ``Y[:, :, :K]`` (lengths ``m``) into ``res[:K]``.

    All lanes give ``inf`` as soon as every lane k's cost must exceed ``thr[k]`` (early abandoning). With ``path``,
    ``dirs`` (n, ceil(M/32), LANES) receives the back-pointers.
    """
    literally(fused)
    literally(path)
    n = x.shape[0]
    M = 0
    for k in range(K):
        M = max(M, m[k])
    prev = np.full((M + 1, LANES), _INF)
    out = np.full((M + 1, LANES), _INF)
    L = np.empty((STRIP, LANES))
    dd = np.empty((STRIP, LANES))
    W = np.zeros((STRIP, LANES), np.uint64)
    rmin = np.empty(LANES)
    blo = np.zeros((STRIP, LANES), np.int64)
    bhi = np.zeros((STRIP, LANES), np.int64)
    rad = np.empty(K, np.int64)
    windowed = False
    for k in range(K):
        rad[k] = _radius(code, n, m[k])
        windowed = windowed or rad[k] >= 0
    for k in range(K):
        prev[0, k] = 0.0
        for r in range(STRIP):
            bhi[r, k] = m[k] - 1
    a = 0
    while a < n:
        R = STRIP if a + STRIP <= n else 1
        lo, hi = 0, M - 1
        if windowed:
            lo, hi = M, 0
            for r in range(R):
                for k in range(K):
                    blo[r, k], bhi[r, k] = _band(a + r, n, m[k], rad[k])
                    lo = min(lo, blo[r, k])
                    hi = max(hi, bhi[r, k])
        if R == STRIP:
            _strip(x, a, STRIP, Y, K, lo, hi, blo, bhi, prev, out, L, dd, W, rmin, dirs, fused, path)
        else:
            _strip(x, a, 1, Y, K, lo, hi, blo, bhi, prev, out, L, dd, W, rmin, dirs, fused, path)
        a += R
        prev, out = out, prev
        beaten = True
        for k in range(K):
            beaten = beaten and rmin[k] > thr[k]
        if beaten:
            for k in range(K):
                res[k] = _INF
            return
    for k in range(K):
        res[k] = prev[m[k], k]


@njit(cache=True, nogil=True)
def _pack(flat, offsets, idx, start, K):
    """Lanes ``idx[start:start+K]`` as a zero-padded (M, c, LANES) block and their lengths."""
    c = flat.shape[1]
    m = np.zeros(LANES, np.int64)
    M = 1
    for k in range(K):
        s = idx[start + k]
        m[k] = offsets[s + 1] - offsets[s]
        M = max(M, m[k])
    Y = np.zeros((M, c, LANES))
    for k in range(K):
        o = offsets[idx[start + k]]
        for j in range(m[k]):
            for ch in range(c):
                Y[j, ch, k] = flat[o + j, ch]
    return Y, m


@njit(cache=True, nogil=True)
def costs_block(x, flat, offsets, idx, start, K, code, thr, res):
    """Accumulated costs of x (t, c) against series ``idx[start:start+K]`` of a flat set, into ``res[:K]``.

    ``thr``: per-lane abandoning thresholds (see :func:`_sweep`).
    """
    Y, m = _pack(flat, offsets, idx, start, K)
    nodirs = np.zeros((0, 0, 0), np.uint64)
    if x.shape[1] == 1 and code < 0.0:
        _sweep(x, Y, K, m, code, thr, res, nodirs, True, False)
    else:
        _sweep(x, Y, K, m, code, thr, res, nodirs, False, False)


@njit(cache=True, nogil=True)
def costs_many(x, flat, offsets, idx, code, thr):
    """Accumulated costs of x (t, c) against the series ``idx`` of a flat set, abandoning past ``thr`` (per item)."""
    res = np.empty(len(idx) + LANES)
    for start in range(0, len(idx), LANES):
        costs_block(x, flat, offsets, idx, start, min(LANES, len(idx) - start), code, thr[start:], res[start:])
    return res[: len(idx)]


@njit(cache=True, nogil=True)
def backtrack(dirs, k, n, m):
    """Warping path of lane k, (L, 2) pairs from (0, 0) to (n-1, m-1), following the packed back-pointers."""
    path = np.empty((n + m, 2), np.int64)
    a, j, p = n - 1, m - 1, 0
    while True:
        path[p, 0] = a
        path[p, 1] = j
        p += 1
        if a == 0 and j == 0:
            break
        if a == 0:
            j -= 1
        elif j == 0:
            a -= 1
        else:
            step = (dirs[a, j >> 5, k] >> np.uint64(2 * (j & 31))) & np.uint64(3)
            if step == 0:
                a -= 1
                j -= 1
            elif step == 1:
                a -= 1
            else:
                j -= 1
    return path[:p][::-1]


@njit(cache=True, nogil=True)
def paths_block(x, flat, offsets, idx, start, K, code, res):
    """Like :func:`costs_block` and also the back-pointers, (n, ceil(M/32), LANES) uint64, for :func:`backtrack`."""
    Y, m = _pack(flat, offsets, idx, start, K)
    dirs = np.zeros((x.shape[0], (Y.shape[0] + 31) // 32, LANES), np.uint64)
    if x.shape[1] == 1 and code < 0.0:
        _sweep(x, Y, K, m, code, _NO_THR, res, dirs, True, True)
    else:
        _sweep(x, Y, K, m, code, _NO_THR, res, dirs, False, True)
    return dirs, m


@njit(cache=True, nogil=True)
def cdist_rows(flat_a, off_a, flat_b, off_b, rows, code, symmetric, out):
    """Rows ``rows`` of the accumulated-cost matrix between two flat sets (``symmetric``: upper triangle only)."""
    nb = len(off_b) - 1
    for i in rows:
        idx = np.arange(i + 1 if symmetric else 0, nb)
        out[i, idx] = costs_many(flat_a[off_a[i] : off_a[i + 1]], flat_b, off_b, idx, code, np.full(len(idx), _INF))


def _pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, SeriesSet]:
    xs, ys = as_series(x), as_series(y)
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(f"series have {xs.shape[1]} and {ys.shape[1]} channels; DTW needs the same number.")
    return xs, SeriesSet.from_list([ys], ys.shape[1])


def dtw(x: np.ndarray, y: np.ndarray, window: int | float | None = None) -> float:
    """DTW distance between two series (``(t,)`` or ``(c, t)``, any lengths); see the module doc for ``window``."""
    xs, ys = _pair(x, y)
    res = np.empty(LANES)
    costs_block(xs, ys.flat, ys.offsets, np.zeros(1, np.int64), 0, 1, window_code(window), _NO_THR, res)
    return float(np.sqrt(res[0]))


def dtw_path(x: np.ndarray, y: np.ndarray, window: int | float | None = None) -> tuple[float, np.ndarray]:
    """DTW distance and optimal warping path, an (L, 2) array of (index in x, index in y) from (0, 0) to the ends."""
    xs, ys = _pair(x, y)
    res = np.empty(LANES)
    dirs, m = paths_block(xs, ys.flat, ys.offsets, np.zeros(1, np.int64), 0, 1, window_code(window), res)
    return float(np.sqrt(res[0])), backtrack(dirs, 0, len(xs), int(m[0])).copy()


def costs_to(x: np.ndarray, S: SeriesSet, idx: np.ndarray, code: float, thr: np.ndarray | None = None) -> np.ndarray:
    """Accumulated costs of x (t, c) against series ``idx`` of S, split over threads when worth it."""
    thr = np.full(len(idx), _INF) if thr is None else thr
    cells = len(x) * S.lengths[idx].sum()
    parts = parallel_map(lambda sl: costs_many(x, S.flat, S.offsets, idx[sl], code, thr[sl]),
                         lane_chunks(len(idx)), cells)
    return np.concatenate(parts) if parts else np.zeros(0)


def min_cost_groups(S: SeriesSet, src: np.ndarray, tgt: np.ndarray, group: np.ndarray, n_groups: int, code: float
                    ) -> np.ndarray:
    """Per group g: the smallest accumulated cost between series ``src`` and the series ``tgt[group == g]`` of S.

    Sort ``tgt`` by length (lanes are padded to the longest). A DTW is abandoned as soon as it cannot beat its
    group's best so far (from the previous ``src`` series), which keeps every minimum exact.
    """
    best = np.full(n_groups, _INF)
    for i in src:
        np.minimum.at(best, group, costs_to(S.series(i), S, tgt, code, best[group]))
    return best


def cdist_cost(a: SeriesSet, b: SeriesSet | None, code: float) -> np.ndarray:
    """Accumulated-cost matrix between two sets (``b=None``: within ``a``, computed once per pair)."""
    other = a if b is None else b
    out = np.zeros((len(a), len(other)))
    cells = a.lengths.sum() * other.lengths.sum() / (2 if b is None else 1)
    rows = [np.arange(t, len(a), max(1, threads()), dtype=np.int64) for t in range(max(1, threads()))]
    parallel_map(lambda r: cdist_rows(a.flat, a.offsets, other.flat, other.offsets, r, code, b is None, out),
                 rows, cells)
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
    return np.sqrt(cdist_cost(a, None if B is None else b, window_code(window)))


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
