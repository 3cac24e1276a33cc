"""DTW barycenter averaging (Petitjean et al. 2011) started from the medoid, as bigdata18's ``dba.py``.

``dba`` = bigdata18 semantics (Ismail Fawaz et al. 2018): start from the medoid (the series minimising the sum of
squared DTW distances to all others), then a fixed number of iterations (10) of: align every series to the current
average with DTW, set each average point to the mean of the series points aligned to it (unit weights). Paths break
exact ties like tslearn (diagonal, then the average's index, then the series' index; bigdata18's strict comparisons
step along the average's index instead of the diagonal on exact ties), and each iteration's sums run in tslearn's
order, so the result equals ``tslearn.barycenters.dtw_barycenter_averaging(X, init_barycenter=medoid, max_iter=10,
tol=0)`` (bit for bit on every real UCR class tried), including tslearn's guard of stopping once the mean squared
DTW grows (bigdata18 has none; the cost can only grow through round-off at a fixed point, so results agree).
DBA is discontinuous: a 1e-7 change of the input (e.g. float32 rounding) can flip a warping step and move the
average by 1e-3, so comparisons must feed both sides identical arrays.

The medoid is the expensive part (n² DTWs). ``medoid_index(method="exact")`` is exact: candidates are visited in
the order of a cheap proxy (DTW between 32-segment PAA summaries) and each candidate's sum is abandoned as soon as
it exceeds the best complete sum, reusing every DTW already computed (DTW is symmetric). DTW obeys no triangle
inequality and lower bounds for unconstrained DTW are weak, so this saves 15–45 % of the DTWs on real UCR classes,
not orders of magnitude; ``method="top:N"`` evaluates only the N best candidates by the proxy (approximate).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numba import njit

from tshub.similarity.warping import UNCONSTRAINED, Band, SeriesSet, as_series, as_series_set, cdist_cost, costs_to
from tshub.similarity.warping.kernels import LANES, backtrack, paths_block
from tshub.similarity.warping.pool import lane_chunks, parallel_map, threads

PROXY_SEGMENTS = 32


def _paa(S: SeriesSet, segments: int) -> SeriesSet:
    """Piecewise aggregate approximation: each series as the means of ``segments`` near-equal pieces."""
    out = []
    for i in range(len(S)):
        x = S.series(i)
        edges = np.linspace(0, len(x), min(segments, len(x)) + 1).astype(np.int64)
        out.append(np.add.reduceat(x, edges[:-1], axis=0) / np.diff(edges)[:, None])
    return SeriesSet.from_list(out, S.n_channels)


def parse_medoid_method(method: str) -> int | None:
    """None for "exact", N for "top:N"."""
    if method == "exact":
        return None
    if method.startswith("top:") and method[4:].isdigit() and int(method[4:]) > 0:
        return int(method[4:])
    raise ValueError(f"medoid method must be 'exact' or 'top:N' (N > 0), got {method!r}.")


def medoid_index(
    series: np.ndarray | Sequence[np.ndarray] | SeriesSet,
    window: int | float | None = None,
    method: str = "exact",
    check: Callable[[], None] | None = None,
) -> int:
    """Index of the series with the smallest sum of squared DTW distances to the others (lowest index on ties).
    ``check`` is called before each candidate's row of DTWs (a caller's deadline)."""
    S = as_series_set(series)
    band = Band.of(window)
    n = len(S)
    top = parse_medoid_method(method)
    if n <= 2:
        return 0
    if top is None and S.lengths.mean() <= 2 * PROXY_SEGMENTS:  # the proxy would cost about as much as the real thing
        return int(np.argmin(cdist_cost(S, None, band).sum(axis=1)))
    proxy = cdist_cost(_paa(S, PROXY_SEGMENTS), None, UNCONSTRAINED)
    order = np.argsort(proxy.sum(axis=1), kind="stable")[: top or n]
    known = np.full((n, n), np.nan)
    np.fill_diagonal(known, 0.0)
    step = LANES * threads()
    best, best_i = np.inf, -1
    for i in order:
        if check is not None:
            check()
        have = ~np.isnan(known[i])
        total = known[i, have].sum()
        if total > best:
            continue
        todo = np.flatnonzero(~have)
        todo = todo[np.argsort(-proxy[i, todo], kind="stable")]  # big terms first: abandon sooner
        for start in range(0, len(todo), step):
            block = todo[start : start + step]
            costs = costs_to(S.series(i), S, block, band)
            known[i, block] = costs
            known[block, i] = costs
            total += costs.sum()
            if total > best:
                break
        else:
            total = known[i].sum()
            if total < best or (total == best and i < best_i):
                best, best_i = total, int(i)
    return best_i


@njit(cache=True, nogil=True)
def _align_block(avg, flat, offsets, idx, start, K, band, partial, counts, costs):
    """Align series ``start..start+K`` to the average: per-series sums of aligned points, counts and costs."""
    res = np.empty(LANES)
    dirs, m = paths_block(avg, flat, offsets, idx, start, K, band, res)
    for k in range(K):
        s = start + k
        costs[s] = res[k]
        path = backtrack(dirs, k, avg.shape[0], m[k])
        o = offsets[s]
        for p in range(path.shape[0]):
            i = path[p, 0]
            counts[s, i] += 1.0
            for ch in range(avg.shape[1]):
                partial[s, i, ch] += flat[o + path[p, 1], ch]


def _assign(avg: np.ndarray, S: SeriesSet, band: Band) -> tuple[np.ndarray, np.ndarray, float]:
    """One DBA alignment step: per-index sums of aligned points, their counts, and the mean squared DTW.

    Blocks of series go to threads; per-series partial sums are then reduced in series order (tslearn's order).
    """
    n = len(S)
    partial = np.zeros((n, *avg.shape))
    counts = np.zeros((n, len(avg)))
    costs = np.empty(n)
    idx = np.arange(n)

    def align(part: slice) -> None:
        for start in range(part.start, part.stop, LANES):
            K = min(LANES, part.stop - start)
            _align_block(avg, S.flat, S.offsets, idx, start, K, band, partial, counts, costs)

    parallel_map(align, lane_chunks(n), len(avg) * S.lengths.sum())
    return _reduce(partial, counts, costs)


@njit(cache=True, nogil=True)
def _reduce(partial, counts, costs):
    n, nb, c = partial.shape
    sums = np.zeros((nb, c))
    total = np.zeros(nb)
    cost = 0.0
    for s in range(n):
        for i in range(nb):
            total[i] += counts[s, i]
            for ch in range(c):
                sums[i, ch] += partial[s, i, ch]
        cost += np.sqrt(costs[s]) ** 2
    return sums, total, cost / n


def dba(
    series: np.ndarray | Sequence[np.ndarray] | SeriesSet,
    n_iterations: int = 10,
    window: int | float | None = None,
    init: str | np.ndarray = "medoid",
    medoid: str = "exact",
    check: Callable[[], None] | None = None,
) -> np.ndarray:
    """DBA average of a set of series, channels-first ``(c, t)`` with t = the initial average's length.

    ``init``: "medoid" (bigdata18) or an initial average ``(t,)``/``(c, t)``; ``medoid``: see :func:`medoid_index`;
    ``check`` (a caller's deadline) is called between the steps: each medoid row, each iteration.
    """
    S = as_series_set(series)
    band = Band.of(window)
    if isinstance(init, str):
        if init != "medoid":
            raise ValueError(f"init must be 'medoid' or an array, got {init!r}.")
        avg = S.series(medoid_index(S, window, medoid, check)).copy()
    else:
        avg = as_series(init)
        if avg.shape[1] != S.n_channels:
            raise ValueError(f"init has {avg.shape[1]} channels, the series {S.n_channels}.")
    previous = np.inf
    for _ in range(n_iterations):
        if check is not None:
            check()
        sums, counts, cost = _assign(avg, S, band)
        avg = sums * (1.0 / counts)[:, None]
        if cost > previous:  # tslearn's guard; the cost only grows through round-off at a fixed point
            break
        previous = cost
    return np.ascontiguousarray(avg.T)
