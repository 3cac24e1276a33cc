"""The compiled DTW kernels: ``LANES`` DTWs of one series at once, ``STRIP`` rows per sweep, packed back-pointers.

The DTW recurrence is serial along a row, so one DTW alone cannot use SIMD units. The kernels compute up to
``LANES`` DTWs of one series ``x`` against different series at once (SIMD across the lanes) and ``STRIP`` rows of
``x`` per sweep, carrying the values between those rows in registers; only every ``STRIP``-th row goes to memory.
Warping paths keep 2-bit back-pointers packed 32 to a uint64 instead of the accumulated matrix. Every kernel
releases the GIL (``nogil``), so ``tshub.similarity.warping.pool`` can run several at once.

Sets of series come flat (see ``SeriesSet``): ``flat[offsets[i]:offsets[i+1]]`` is series i, time-major (t_i, c).
"""

from __future__ import annotations

import numpy as np
from numba import literally, njit

from tshub.similarity.warping.band import band_columns, band_radius, is_unconstrained

LANES = 32  # DTWs computed together; >= 32 lets LLVM's loop vectoriser fill AVX2 vectors
STRIP = 4  # rows of x per sweep over the columns
_INF = np.inf
NO_THRESHOLDS = np.full(LANES, np.inf)  # read-only global: numba freezes it as a constant


@njit(cache=True, nogil=True, error_model="numpy")
def strip_rows(
    x,
    row,
    n_rows,
    lanes,
    n_lanes,
    col_lo,
    col_hi,
    band_lo,
    band_hi,
    prev_row,
    last_row,
    left_cost,
    local_cost,
    pointers,
    row_min,
    dirs,
    fused,
    with_path,
):
    """Rows ``row .. row + n_rows - 1`` of ``n_lanes`` accumulated-cost matrices over columns ``col_lo .. col_hi``.

    ``prev_row`` holds row ``row - 1`` (index j+1 = column j, index 0 the virtual column -1); the last row goes to
    ``last_row``. ``fused``: univariate and unconstrained, the local cost computed in the recurrence; otherwise from
    ``local_cost`` (channel sum, ``inf`` outside each lane's band ``[band_lo, band_hi]``). ``with_path``: back-pointers
    into ``dirs``. ``row_min`` gets each lane's minimum of the last row (every warping path crosses it: a lower
    bound). ``left_cost`` and ``pointers`` are (STRIP, LANES) scratch.
    """
    literally(n_rows)
    literally(fused)
    literally(with_path)
    c = x.shape[1]
    for k in range(n_lanes):
        for r in range(n_rows):
            left_cost[r, k] = _INF
            pointers[r, k] = 0
        last_row[col_lo, k] = _INF
        row_min[k] = _INF
    for j in range(col_lo, col_hi + 1):
        shift = np.uint64(2 * (j & 31))
        if not fused:
            for r in range(n_rows):
                for k in range(n_lanes):
                    local_cost[r, k] = 0.0
                for ch in range(c):
                    xv = x[row + r, ch]
                    for k in range(n_lanes):
                        diff = xv - lanes[j, ch, k]
                        local_cost[r, k] += diff * diff
                for k in range(n_lanes):
                    if j < band_lo[r, k] or j > band_hi[r, k]:
                        local_cost[r, k] = _INF
        for k in range(n_lanes):
            yv = lanes[j, 0, k]
            up = prev_row[j + 1, k]
            diagonal = prev_row[j, k]
            for r in range(n_rows):
                left = left_cost[r, k]
                m = min(min(up, left), diagonal)
                if with_path:
                    # argmin over (diag, up, left), first on ties; the `and` form keeps LLVM's vectoriser happy
                    pointers[r, k] |= (np.uint64(diagonal > m) + np.uint64(up > left and diagonal > m)) << shift
                if fused:
                    diff = x[row + r, 0] - yv
                    up = diff * diff + m
                else:
                    up = local_cost[r, k] + m
                left_cost[r, k] = up
                diagonal = left
            last_row[j + 1, k] = up
            row_min[k] = min(row_min[k], up)
        if with_path and ((j & 31) == 31 or j == col_hi):
            for r in range(n_rows):
                for k in range(n_lanes):
                    dirs[row + r, j >> 5, k] = pointers[r, k]
                    pointers[r, k] = 0


@njit(cache=True, nogil=True, error_model="numpy")
def sweep(x, lanes, n_lanes, lengths, band, thresholds, res, dirs, fused, with_path):
    """Accumulated costs of x (n, c) against ``lanes[:, :, :n_lanes]`` (of ``lengths``) into ``res[:n_lanes]``.

    All lanes give ``inf`` as soon as every lane k's cost must exceed ``thresholds[k]`` (early abandoning). With
    ``with_path``, ``dirs`` (n, ceil(longest/32), LANES) receives the back-pointers.
    """
    literally(fused)
    literally(with_path)
    n = x.shape[0]
    longest = 0
    for k in range(n_lanes):
        longest = max(longest, lengths[k])
    prev_row = np.full((longest + 1, LANES), _INF)
    last_row = np.full((longest + 1, LANES), _INF)
    left_cost = np.empty((STRIP, LANES))
    local_cost = np.empty((STRIP, LANES))
    pointers = np.zeros((STRIP, LANES), np.uint64)
    row_min = np.empty(LANES)
    band_lo = np.zeros((STRIP, LANES), np.int64)
    band_hi = np.zeros((STRIP, LANES), np.int64)
    radius = np.empty(n_lanes, np.int64)
    windowed = False
    for k in range(n_lanes):
        radius[k] = band_radius(band, n, lengths[k])
        windowed = windowed or radius[k] >= 0
    for k in range(n_lanes):
        prev_row[0, k] = 0.0
        for r in range(STRIP):
            band_hi[r, k] = lengths[k] - 1
    row = 0
    while row < n:
        n_rows = STRIP if row + STRIP <= n else 1
        col_lo, col_hi = 0, longest - 1
        if windowed:
            col_lo, col_hi = longest, 0
            for r in range(n_rows):
                for k in range(n_lanes):
                    band_lo[r, k], band_hi[r, k] = band_columns(row + r, n, lengths[k], radius[k])
                    col_lo = min(col_lo, band_lo[r, k])
                    col_hi = max(col_hi, band_hi[r, k])
        if n_rows == STRIP:
            strip_rows(
                x,
                row,
                STRIP,
                lanes,
                n_lanes,
                col_lo,
                col_hi,
                band_lo,
                band_hi,
                prev_row,
                last_row,
                left_cost,
                local_cost,
                pointers,
                row_min,
                dirs,
                fused,
                with_path,
            )
        else:
            strip_rows(
                x,
                row,
                1,
                lanes,
                n_lanes,
                col_lo,
                col_hi,
                band_lo,
                band_hi,
                prev_row,
                last_row,
                left_cost,
                local_cost,
                pointers,
                row_min,
                dirs,
                fused,
                with_path,
            )
        row += n_rows
        prev_row, last_row = last_row, prev_row
        beaten = True
        for k in range(n_lanes):
            beaten = beaten and row_min[k] > thresholds[k]
        if beaten:
            for k in range(n_lanes):
                res[k] = _INF
            return
    for k in range(n_lanes):
        res[k] = prev_row[lengths[k], k]


@njit(cache=True, nogil=True)
def pack_lanes(flat, offsets, idx, start, n_lanes):
    """Series ``idx[start:start + n_lanes]`` as a zero-padded (longest, c, LANES) block, and their lengths."""
    c = flat.shape[1]
    lengths = np.zeros(LANES, np.int64)
    longest = 1
    for k in range(n_lanes):
        s = idx[start + k]
        lengths[k] = offsets[s + 1] - offsets[s]
        longest = max(longest, lengths[k])
    lanes = np.zeros((longest, c, LANES))
    for k in range(n_lanes):
        o = offsets[idx[start + k]]
        for j in range(lengths[k]):
            for ch in range(c):
                lanes[j, ch, k] = flat[o + j, ch]
    return lanes, lengths


@njit(cache=True, nogil=True)
def costs_block(x, flat, offsets, idx, start, n_lanes, band, thresholds, res):
    """Accumulated costs of x (t, c) against series ``idx[start:start + n_lanes]`` of a flat set, into
    ``res[:n_lanes]``, abandoning a block once every lane is past its ``thresholds`` (see :func:`sweep`)."""
    lanes, lengths = pack_lanes(flat, offsets, idx, start, n_lanes)
    no_dirs = np.zeros((0, 0, 0), np.uint64)
    if x.shape[1] == 1 and is_unconstrained(band):
        sweep(x, lanes, n_lanes, lengths, band, thresholds, res, no_dirs, True, False)
    else:
        sweep(x, lanes, n_lanes, lengths, band, thresholds, res, no_dirs, False, False)


@njit(cache=True, nogil=True)
def costs_many(x, flat, offsets, idx, band, thresholds):
    """Accumulated costs of x (t, c) against the series ``idx`` of a flat set, abandoning past ``thresholds``."""
    res = np.empty(len(idx) + LANES)
    for start in range(0, len(idx), LANES):
        costs_block(x, flat, offsets, idx, start, min(LANES, len(idx) - start), band, thresholds[start:], res[start:])
    return res[: len(idx)]


@njit(cache=True, nogil=True)
def backtrack(dirs, lane, n, m):
    """Warping path of ``lane``, (L, 2) pairs from (0, 0) to (n-1, m-1), following the packed back-pointers."""
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
            step = (dirs[a, j >> 5, lane] >> np.uint64(2 * (j & 31))) & np.uint64(3)
            if step == 0:
                a -= 1
                j -= 1
            elif step == 1:
                a -= 1
            else:
                j -= 1
    return path[:p][::-1]


@njit(cache=True, nogil=True)
def paths_block(x, flat, offsets, idx, start, n_lanes, band, res):
    """Like :func:`costs_block`, and the back-pointers, (n, ceil(longest/32), LANES) uint64, for :func:`backtrack`."""
    lanes, lengths = pack_lanes(flat, offsets, idx, start, n_lanes)
    dirs = np.zeros((x.shape[0], (lanes.shape[0] + 31) // 32, LANES), np.uint64)
    if x.shape[1] == 1 and is_unconstrained(band):
        sweep(x, lanes, n_lanes, lengths, band, NO_THRESHOLDS, res, dirs, True, True)
    else:
        sweep(x, lanes, n_lanes, lengths, band, NO_THRESHOLDS, res, dirs, False, True)
    return dirs, lengths


@njit(cache=True, nogil=True)
def cdist_rows(flat_a, offsets_a, flat_b, offsets_b, rows, band, symmetric, out):
    """Rows ``rows`` of the accumulated-cost matrix between two flat sets (``symmetric``: upper triangle only)."""
    nb = len(offsets_b) - 1
    for i in rows:
        idx = np.arange(i + 1 if symmetric else 0, nb)
        out[i, idx] = costs_many(
            flat_a[offsets_a[i] : offsets_a[i + 1]], flat_b, offsets_b, idx, band, np.full(len(idx), _INF)
        )
