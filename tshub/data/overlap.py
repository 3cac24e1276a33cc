"""Held-out series that overlap training series: windows cut from the same recordings, sharing a long run of values.

Sliding windows split by time leak at the boundary (the first test windows hold the last training windows' steps),
and windows split at random leak everywhere; exact copies (``tshub.data.readers.assemble``) are only the case of
no shift. A held-out window that overlaps a training window by at least ``run`` steps begins or ends with ``run``
values found, in order, somewhere in that training window, so only its first and its last ``run`` values are
looked up among every run of the training series. Runs are compared by a polynomial rolling hash modulo two primes
below 2³¹ (62 bits: a false match needs a collision in both, about one in 10¹⁸ per pair), computed in O(values)
over blocks of training series, so memory stays bounded whatever their number. Only runs that tell a recording
apart are matched: none holding a missing value, none where fewer than a quarter of the steps change (padding,
silence, a sensor stuck, an appliance's on/off pulses), none of a series taking fewer than three values (binary
readings repeat by chance). Windows normalised one by one (z-scores) no longer share values and are not seen.
"""

from __future__ import annotations

import numpy as np

#: Series shorter than twice this are not checked: a run of a few values recurs by chance (quantised readings).
MIN_RUN = 8
_PRIMES = (np.uint64(2_147_483_647), np.uint64(2_147_483_629))
_BASES = (np.uint64(1_000_003), np.uint64(19_260_817))
_CHANNEL_BASE = np.uint64(1_000_033)
#: Values per block of training series hashed at once (rows × channels × steps).
_BLOCK_VALUES = 1 << 22
#: Rows from which a Python loop over the steps costs less than O(log run) passes over the whole array.
_LOOP_ROWS = 128


def overlapping_training(train: np.ndarray, held_out: np.ndarray, run: int) -> np.ndarray:
    """Per held-out series (rows of ``held_out``, (n, channels, steps), NaN-padded after its end), whether its first
    or its last ``run`` steps occur, every channel alike, as consecutive steps of a training series (``train``, the
    same channels)."""
    return _end_holders(np.asarray(held_out), np.asarray(train), run) >= 1


def overlapping_rows(X: np.ndarray, run: int) -> np.ndarray:
    """Per series of ``X`` (as ``overlapping_training`` takes them), whether its first or its last ``run`` steps
    occur in another series: rows that are windows of shared recordings (or copies of one another), which a random
    carve puts on both sides of a split. A series repeating itself (periodic) is not one."""
    X = np.asarray(X)
    return _end_holders(X, X, run) >= 2  # one holder is the series itself


def _end_holders(ends_of: np.ndarray, among: np.ndarray, run: int) -> np.ndarray:
    """Per series of ``ends_of``, the most series of ``among`` that hold its first or its last ``run`` steps (0
    where neither is usable)."""
    ends, usable = _end_keys(ends_of, run)
    holders = np.zeros(ends.shape, dtype=np.int64)
    if not usable.any() or among.shape[2] < run:
        return np.asarray(holders.max(axis=1))
    rows = max(1, _BLOCK_VALUES // (among.shape[1] * among.shape[2]))
    wanted, order = np.unique(ends[usable], return_inverse=True)
    held_by = np.zeros(len(wanted), dtype=np.int64)
    for start in range(0, len(among), rows):
        keys, valid = _run_keys(among[start : start + rows], run)
        block = len(keys)
        row = np.broadcast_to(np.arange(block)[:, None], keys.shape)[valid]
        keys = keys[valid]  # looked up among the few wanted (sorted), not the other way round: no set of every run
        at = np.minimum(np.searchsorted(wanted, keys), len(wanted) - 1)
        found = wanted[at] == keys
        pairs = np.unique(at[found] * block + row[found])  # a series holding a run twice counts once
        np.add.at(held_by, pairs // block, 1)
    holders[usable] = held_by[order]
    return np.asarray(holders.max(axis=1))


def _end_keys(X: np.ndarray, run: int) -> tuple[np.ndarray, np.ndarray]:
    """The keys of each series' first and last ``run`` steps (of its own length), (n, 2), and whether each is usable."""
    n, _, width = X.shape
    ends = np.zeros((n, 2), dtype=np.uint64)
    usable = np.zeros((n, 2), dtype=bool)
    if width < run:
        return ends, usable
    lengths = width - np.argmax(~np.isnan(X).all(axis=1)[:, ::-1], axis=1)
    rows = max(1, _BLOCK_VALUES // (X.shape[1] * width))
    for start in range(0, n, rows):
        keys, valid = _run_keys(X[start : start + rows], run)
        index = np.arange(len(keys))
        last = np.clip(lengths[start : start + rows] - run, 0, None)
        long_enough = lengths[start : start + rows] >= run
        ends[start : start + rows] = np.stack([keys[:, 0], keys[index, last]], axis=1)
        usable[start : start + rows] = np.stack([valid[:, 0], valid[index, last]], axis=1) & long_enough[:, None]
    return ends, usable


def _run_keys(X: np.ndarray, run: int) -> tuple[np.ndarray, np.ndarray]:
    """The 62-bit key of every run of ``run`` consecutive steps of each series, (n, steps - run + 1), and whether
    each run is usable (no missing value, not one value throughout)."""
    n, channels, width = X.shape
    X = X.astype(np.float64) + 0.0  # a block at a time (float32 data is not copied whole); -0.0 as 0.0
    bits = np.where(np.isnan(X), 0.0, X).view(np.uint64)
    keys = np.zeros((n, width - run + 1), dtype=np.uint64)
    for shift, (prime, base) in enumerate(zip(_PRIMES, _BASES)):
        steps = np.zeros((n, width), dtype=np.uint64)  # per step, the channels' values folded into one residue
        for c in range(channels):
            steps = (steps * _CHANNEL_BASE + ((bits[:, c] >> np.uint64(7 * shift)) % prime)) % prime
        keys = (keys << np.uint64(31)) | _rolling_hashes(steps, run, prime, base)
    missing = np.concatenate([np.zeros((n, 1), np.int64), np.cumsum(np.isnan(X).any(axis=1), axis=1)], axis=1)
    changed = np.zeros((n, width), dtype=np.int64)
    changed[:, 1:] = (np.diff(np.nan_to_num(X), axis=2) != 0).any(axis=1)
    changes = np.cumsum(changed, axis=1)
    varied = changes[:, run - 1 :] - changes[:, : width - run + 1] >= max(1, run // 4)
    valid = (missing[:, run:] == missing[:, : width - run + 1]) & varied & (_distinct_values(X) >= 3)[:, None]
    return keys, valid


def _distinct_values(X: np.ndarray) -> np.ndarray:
    """The number of distinct values each series takes, over its channels (missing values not counted)."""
    ordered = np.sort(X.reshape(len(X), -1), axis=1)  # NaN last
    present = ~np.isnan(ordered)
    return present[:, :1].sum(axis=1) + ((np.diff(ordered, axis=1) != 0) & present[:, 1:]).sum(axis=1)


def _rolling_hashes(steps: np.ndarray, run: int, prime: np.uint64, base: np.uint64) -> np.ndarray:
    """sum_k steps[j + k] · base^(run - 1 - k) mod ``prime`` for every start j, (n, steps - run + 1). Many rows: by
    prefix hashes, one pass over the array in a Python loop over its steps; few (long series): the loop's overhead
    per step would dominate (1e6 steps: ~10 s), so by doubling (``_doubled_hashes``), O(log run) passes instead."""
    n, width = steps.shape
    if n < _LOOP_ROWS:
        return _doubled_hashes(steps, run, prime, base)
    prefix = np.zeros((width + 1, n), dtype=np.uint64)
    by_step = np.ascontiguousarray(steps.T)
    for i in range(width):
        prefix[i + 1] = (prefix[i] * base + by_step[i]) % prime
    scale = np.uint64(pow(int(base), run, int(prime)))
    return np.ascontiguousarray(((prefix[run:] + prime - (prefix[: width - run + 1] * scale) % prime) % prime).T)


def _doubled_hashes(steps: np.ndarray, run: int, prime: np.uint64, base: np.uint64) -> np.ndarray:
    """``_rolling_hashes`` built from runs of powers of two: a hash of two runs end to end is the first's times
    base^(the second's length) plus the second's."""
    width = steps.shape[1]
    block, length = steps, 1  # hashes of the runs of ``length`` steps (a power of two) at every start
    built: np.ndarray | None = None  # hashes of the runs of ``done`` steps, the low bits of ``run`` so far
    done, rest = 0, run
    while rest:
        if rest & 1:
            if built is None:
                built, done = block, length
            else:
                starts = width - (done + length) + 1
                scale = np.uint64(pow(int(base), length, int(prime)))
                built = (built[:, :starts] * scale % prime + block[:, done : done + starts]) % prime
                done += length
        rest >>= 1
        if rest:
            scale = np.uint64(pow(int(base), length, int(prime)))
            block = (block[:, : width - 2 * length + 1] * scale % prime + block[:, length:]) % prime
            length *= 2
    assert built is not None
    return built
