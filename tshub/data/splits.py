"""Deterministic train/validation/test splits and stratified train reductions, returned as new Datasets.

Every function is a pure function of the dataset and the seed (``numpy.random.default_rng(seed)``), keeps index
order inside each split, and records what it did in ``meta`` ("split_protocol", "train_reduction").
Classification splits are stratified per class; regression splits are plain shuffles.
Per-class counts follow the largest-remainder rule, so they sum exactly to the requested totals.

A dataset without splits is training data: ``training_splits`` (what fine-tuning, the from-scratch referent, the
CLI and the service all use) carves a stratified, seeded validation split from it, and a test split when asked.
Rows that are sliding windows of a series (``sliding_window_stride``) share time steps with their neighbours, so
a random carve would put overlapping windows in train and in validation/test: with ``split_order="auto"`` (the
default, ``SPLIT_ORDERS``) such rows are carved as chronological blocks after a purged gap instead, the last block
of each series where the rows are the windows of several series one after another (``series_starts``).
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from tshub.data.dataset import Dataset, DatasetError, missing_targets, refuse_incomplete_dataset, require_dataset
from tshub.data.overlap import MIN_RUN, overlapping_rows
from tshub.data.readers.text import is_number

Fractions = Sequence[float] | Mapping[str, float]

#: How ``training_splits`` makes the validation split: "split" holds a share of the training series out (the
#: default), "train" trains on every series and selects on them. On 13 small UCR sets outside UCR 2015, 3 seeds,
#: "train" fine-tuned to 0.922 against 0.908 (22 wins, 7 ties, 10 losses; Wilcoxon p = 0.003, sign test p = 0.0501:
#: bench/results/ucr_full_train_finetune.md), short of the rule fixed before the runs for changing the default.
VALIDATIONS = ("split", "train")

#: How the validation and test splits tshub carves are ordered. "auto" (the default): chronological blocks when the
#: rows are sliding windows of a series, or of several (``sliding_window_stride``), else stratified random, as
#: always; "time": chronological blocks (the rows are in time order, windows or not); "random": stratified random,
#: even for windows (their held-out windows then share time steps with training ones, which flatters validation and
#: test scores).
SplitOrderName = Literal["auto", "random", "time"]
SPLIT_ORDERS: tuple[str, ...] = get_args(SplitOrderName)

#: Share of the consecutive row pairs that must be one stride apart for the rows to count as sliding windows
#: (a few breaks, e.g. days missing from a price series, are tolerated).
WINDOW_PAIRS = 0.9
#: The least share for the windows of many short series, when WINDOW_PAIRS of the pairs inside a series are (a gesture
#: of 400 EMG samples gives 7 windows of 100 every 50 steps: 6 pairs of 7 one stride apart, 86%).
SERIES_PAIRS = 0.5


@dataclass(frozen=True)
class SplitOrder:
    """How held-out splits are carved from some rows (``split_order_for``): ``order`` "time" or "random", as
    ``asked`` ("auto", "random" or "time") resolved; ``stride`` the signed stride of their sliding windows (0: they
    are not), ``length`` the steps of a window, ``pairs`` the share of consecutive rows one stride apart, ``series``
    how many series the windows are of (``series_starts``), ``horizon`` the outputs of a regression's target (the
    next ``horizon`` values of a forecast); ``up_to_scale``: the windows match only up to each one's scale
    (normalised one by one: ``stride_up_to_scale``), taken as one series."""

    order: str
    asked: str
    stride: int = 0
    length: int = 0
    pairs: float = 0.0
    series: int = 1
    horizon: int = 1
    up_to_scale: bool = False

    @property
    def purge(self) -> int:
        """Windows dropped between a training block and the block held out after it: (length + horizon - 1) //
        |stride|, so that no held-out window shares a time step with a training window, nor with the values after
        one (a forecast's targets: one for a next-value target). 0 for rows that are not windows."""
        return (self.length + self.horizon - 1) // abs(self.stride) if self.stride else 0

    def record(self) -> dict[str, Any]:
        """What the split protocol says of the order (nothing for data that are not windows split at random by
        default, so that their protocol stays as it always was)."""
        if self.order == "random" and not self.stride and self.asked == "auto":
            return {}
        windows = {"stride": self.stride, "length": self.length, "pairs": round(self.pairs, 4)} if self.stride else None
        if windows is not None:  # one series, one output: the record it always was
            windows.update({"series": self.series} if self.series > 1 else {})
            windows.update({"horizon": self.horizon} if self.horizon > 1 else {})
            windows.update({"up_to_scale": True} if self.up_to_scale else {})
        return {"split_order": self.asked, "order": self.order, "sliding_windows": windows}

    def of_series(self) -> str:
        """The series the windows are of, as a sentence says it."""
        return "one series" if self.series == 1 else f"{self.series} series"


def sliding_window_stride(X: np.ndarray) -> tuple[int, float]:
    """The stride of rows that are sliding windows (of one series, or of several one after another), and the share
    of consecutive pairs that are.

    Row i+1 is row i moved s steps on (every channel; ``np.isclose``, so float rounding passes) for at least
    ``WINDOW_PAIRS`` of the consecutive pairs, with 1 <= s <= length // 2: the stride is s, or -s when the rows go
    back in time (newest first). The windows of many short series (a gesture's few windows after another's) count
    too when at least ``SERIES_PAIRS`` of the pairs are one stride apart and ``WINDOW_PAIRS`` of those within a
    series (``series_starts``). 0 when they are not windows. Pairs whose overlap is constant do not count (constant
    rows match any shift). Cost O(n·length): candidate strides come from a sample of pairs, then each is checked on
    every pair. Windows normalised one by one do not match and are not detected here; under ``split_order="time"``
    ``stride_up_to_scale`` finds them.
    """
    X = np.asarray(X)
    X = X[:, None, :] if X.ndim == 2 else X
    if X.ndim != 3 or len(X) < 3 or X.shape[-1] < 4 or not np.issubdtype(X.dtype, np.number):
        return 0, 0.0
    X = _unit_scale(X)
    best = (0, 0.0)
    for stride in _candidate_strides(X):
        share = _window_pairs(X, stride)
        if share > best[1]:
            best = (stride, share)
    stride, share = best
    if share >= WINDOW_PAIRS or (share >= SERIES_PAIRS and _windows_within_series(X, stride, share) >= WINDOW_PAIRS):
        return best
    return 0, share


def stride_up_to_scale(X: np.ndarray, sample: int = 64) -> tuple[int, float]:
    """The stride of rows that are sliding windows normalised one by one (z-scores, min-max: any scale and offset
    per row and channel), which ``sliding_window_stride`` cannot see, and the share of consecutive pairs one stride
    apart; (0, best share) when they are not. Only for rows the caller says are in time order
    (``split_order="time"``): a ramp matches every shift up to scale, so the smallest stride that matches is taken,
    the one whose gap purges most. Strides are shortlisted by the lagged correlations of a few pairs (FFT, O(L log L)
    each), tried on a sample of pairs, then checked on all (``_scaled_pairs``)."""
    X = np.asarray(X)
    X = X[:, None, :] if X.ndim == 2 else X
    if X.ndim != 3 or len(X) < 3 or X.shape[-1] < 4 or not np.issubdtype(X.dtype, np.number):
        return 0, 0.0
    sampled = np.unique(np.linspace(0, len(X) - 2, min(sample, len(X) - 1)).astype(np.int64))
    best = 0.0
    for stride in _correlated_strides(X, sampled[:: max(1, len(sampled) // _SHORTLIST_PAIRS)]):
        if _scaled_pairs(X, sampled, stride).mean() < WINDOW_PAIRS:
            continue
        share = float(_scaled_pairs(X, np.arange(len(X) - 1), stride).mean())
        if share >= WINDOW_PAIRS:
            return stride, share
        best = max(best, share)
    return 0, best


#: Pairs of rows whose lagged correlations shortlist the strides ``stride_up_to_scale`` checks.
_SHORTLIST_PAIRS = 8
#: Values per temporary array of ``_scaled_pairs`` (rows × channels × steps of a chunk), so memory stays bounded.
_CHUNK_VALUES = 1 << 22


def _correlated_strides(X: np.ndarray, pairs: np.ndarray) -> list[int]:
    """Signed strides 1..length // 2 at which at least half of ``pairs`` (row i, row i + 1) correlate perfectly over
    their overlap in every channel not constant in both (Pearson r > 1 - 1e-4), smallest first, forward before
    backward."""
    length = X.shape[-1]
    n = 1 << int(2 * length - 1).bit_length()
    lags = np.arange(1, length // 2 + 1)
    votes: dict[int, int] = {}
    for i in pairs:
        rows = _zscores(X[i : i + 2].astype(np.float64))
        rows = np.nan_to_num(rows)  # a constant channel: zeros, constant in every overlap
        for sign, x, y in ((1, rows[0], rows[1]), (-1, rows[1], rows[0])):  # y moved ``lag`` on is x's end
            matched = _lagged_correlation(x, y, lags, n) > 1 - 1e-4
            for lag in lags[matched]:
                votes[sign * int(lag)] = votes.get(sign * int(lag), 0) + 1
    chosen = [stride for stride, count in votes.items() if count >= len(pairs) / 2]
    return sorted(chosen, key=lambda stride: (abs(stride), -stride))


def _lagged_correlation(x: np.ndarray, y: np.ndarray, lags: np.ndarray, n: int) -> np.ndarray:
    """Per lag k, the lowest Pearson correlation over channels between x[:, k:] and y[:, :length - k] (channels,
    length); a channel constant on both sides does not count, one constant on one side only gives 0, and a lag
    with no channel that counts gives 0. Sums by FFT cross-correlation and cumulative sums."""
    length = x.shape[-1]
    m = (length - lags).astype(np.float64)
    cross = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(y, n)), n)[:, lags]
    sx = np.cumsum(x[:, ::-1], axis=1)[:, ::-1][:, lags]
    sx2 = np.cumsum((x * x)[:, ::-1], axis=1)[:, ::-1][:, lags]
    sy = np.cumsum(y, axis=1)[:, length - lags - 1]
    sy2 = np.cumsum(y * y, axis=1)[:, length - lags - 1]
    var_x, var_y = sx2 - sx * sx / m, sy2 - sy * sy / m
    flat_x, flat_y = var_x <= 1e-9 * m, var_y <= 1e-9 * m
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (cross - sx * sy / m) / np.sqrt(var_x * var_y)
    r = np.where(flat_x & flat_y, np.inf, np.where(flat_x | flat_y, 0.0, np.nan_to_num(r)))
    lowest = r.min(axis=0)
    return np.where(np.isinf(lowest), 0.0, lowest)


def _scaled_pairs(X: np.ndarray, pairs: np.ndarray, stride: int) -> np.ndarray:
    """For pairs (row i, row i + 1), whether the later row is the earlier one moved ``stride`` steps on up to a scale
    and an offset per channel: their overlaps, each z-normalised, agree in every channel (one constant on both sides
    agrees, as ``sliding_window_stride`` lets it), and at least one channel is not constant."""
    k, length = abs(stride), X.shape[-1]
    chunk = max(1, _CHUNK_VALUES // (X.shape[1] * length))
    same = []
    for start in range(0, len(pairs), chunk):
        rows = pairs[start : start + chunk]
        earlier, later = (X[rows], X[rows + 1]) if stride > 0 else (X[rows + 1], X[rows])
        a = _zscores(earlier[:, :, k:].astype(np.float64))
        b = _zscores(later[:, :, : length - k].astype(np.float64))
        flat_a, flat_b = np.isnan(a[:, :, 0]), np.isnan(b[:, :, 0])
        channels = np.where(flat_a & flat_b, True, (np.abs(a - b) <= 1e-3).all(axis=2))
        same.append(channels.all(axis=1) & ~(flat_a & flat_b).all(axis=1))
    return np.concatenate(same) if same else np.zeros(0, dtype=bool)


def _zscores(values: np.ndarray) -> np.ndarray:
    """Each row's channels z-normalised along time; NaN where a channel is constant."""
    std = values.std(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (values - values.mean(axis=-1, keepdims=True)) / np.where(std > 1e-12, std, np.nan)


def _windows_within_series(X: np.ndarray, stride: int, share: float) -> float:
    """The share of consecutive pairs one ``stride`` apart (``share`` of all pairs) among the pairs inside a series:
    those that do not start another one (``series_starts``)."""
    pairs = len(X) - 1
    inside = pairs - (len(series_starts(X if stride > 0 else X[::-1], abs(stride))) - 1)
    return share * pairs / inside if inside else 0.0


def _candidate_strides(X: np.ndarray, sample: int = 64, keep: int = 3) -> list[int]:
    """The strides (signed) that most of up to ``sample`` evenly spaced pairs allow, judged by one value each: the
    first of the later row against the earlier row's values 1..length // 2 steps on."""
    half = X.shape[-1] // 2
    pairs = np.unique(np.linspace(0, len(X) - 2, min(sample, len(X) - 1)).astype(np.int64))
    a, b = X[pairs], X[pairs + 1]
    votes = {}
    for sign, earlier, later in ((1, a, b), (-1, b, a)):
        counts = _close(earlier[:, :, 1 : half + 1], later[:, :, :1]).all(axis=1).sum(axis=0)
        for i in np.flatnonzero(counts >= SERIES_PAIRS * len(pairs)):
            votes[sign * (int(i) + 1)] = int(counts[i])
    return sorted(votes, key=lambda s: (-votes[s], abs(s)))[:keep]


def _window_pairs(X: np.ndarray, stride: int) -> float:
    """Share of consecutive pairs whose later row is the earlier one moved ``stride`` steps on."""
    return float(_one_stride_apart(X, stride).mean())


def _one_stride_apart(X: np.ndarray, stride: int, chunk: int = 4096) -> np.ndarray:
    """For each consecutive pair of rows, whether the later one is the earlier one moved ``stride`` steps on (in
    chunks of rows, so the comparison's temporaries stay small)."""
    k, length = abs(stride), X.shape[-1]
    masks = []
    for start in range(0, len(X) - 1, chunk):
        rows = X[start : start + chunk + 1]
        earlier, later = (rows[:-1], rows[1:]) if stride > 0 else (rows[1:], rows[:-1])
        overlap = earlier[:, :, k:]
        same = _close(later[:, :, : length - k], overlap).all(axis=(1, 2))
        masks.append(same & (np.ptp(overlap, axis=(1, 2)) > 0))
    return np.concatenate(masks) if masks else np.zeros(0, dtype=bool)


def series_starts(X: np.ndarray, stride: int) -> np.ndarray:
    """The rows of sliding windows ``X`` (in time order, ``stride`` > 0) that begin another series: a row sharing
    no time step with the row before, at any shift (a row a few steps further on than ``stride``, a missing window,
    continues its series). Always starts with row 0."""
    X = _unit_scale(X[:, None, :] if X.ndim == 2 else X)
    breaks = np.flatnonzero(~_one_stride_apart(X, stride)) + 1
    return np.concatenate([[0], [i for i in breaks if not _continues(X[i - 1], X[i])]]).astype(np.int64)


def _continues(earlier: np.ndarray, later: np.ndarray) -> bool:
    """Whether ``later`` (channels, length) starts inside ``earlier``: its first steps are some of ``earlier``'s
    last ones, a non-constant overlap of at least two steps (candidate shifts found by the first value, then
    checked)."""
    length = earlier.shape[-1]
    for shift in np.flatnonzero(_close(earlier[:, 1 : length - 1], later[:, :1]).all(axis=0)) + 1:
        overlap = earlier[:, shift:]
        if np.ptp(overlap) > 0 and _close(later[:, : length - shift], overlap).all():
            return True
    return False


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Equal up to float32 rounding of values written and read again (relative), or of values near zero (of rows
    ``_unit_scale`` scaled)."""
    return np.isclose(a, b, rtol=1e-5, atol=1e-7)


def _unit_scale(X: np.ndarray) -> np.ndarray:
    """``X`` divided by its largest finite magnitude, so that ``_close``'s "near zero" is near zero for the data's
    scale: random seismograms in m/s (~1e-8) were all near zero, hence "sliding windows" at any stride."""
    scale = float(np.max(np.abs(X), initial=0.0, where=np.isfinite(X)))
    return X / scale if scale > 0 else X


def split_order_for(ds: Dataset, split_order: str = "auto") -> SplitOrder:
    """Resolve ``split_order`` (``SPLIT_ORDERS``) for the rows tshub carves from: the "train" split, or every row of
    a dataset without splits. "auto" becomes "time" for sliding windows, and says so in a warning (a choice the
    caller did not make), else "random"."""
    _check_split_order(split_order)
    rows = np.sort(ds.splits["train"]) if "train" in ds.splits else np.arange(len(ds.X))  # a row's index is its time
    stride, pairs = sliding_window_stride(ds.X[rows])
    up_to_scale = split_order == "time" and not stride  # rows in time order: windows normalised one by one?
    if up_to_scale:
        stride, pairs = stride_up_to_scale(ds.X[rows])
    up_to_scale = up_to_scale and bool(stride)
    order = "time" if split_order == "time" or (split_order == "auto" and stride) else "random"
    in_time = rows if stride > 0 else rows[::-1]
    series = len(series_starts(ds.X[in_time], abs(stride))) if stride and not up_to_scale else 1
    horizon = int(np.prod(np.shape(ds.y)[1:])) if stride and ds.task == "regression" else 1
    resolved = SplitOrder(
        order, split_order, stride, ds.length if stride else 0, pairs if stride else 0.0, series, horizon, up_to_scale
    )
    if stride < 0 and _lag_features(ds, rows):
        warnings.warn(
            f"dataset {ds.name!r}: its rows look like lag features, most recent first (each target is the first "
            "value of the next row, as pandas' shift(1), shift(2), ... build them): tshub's models read time left to "
            "right, and its carve takes such rows for windows newest first, holding the oldest rows out. Reverse each "
            "row (X[:, :, ::-1]) so that time runs left to right, then split and train.",
            stacklevel=2,
        )
    if split_order == "auto" and not stride:
        _warn_of_overlapping_rows(ds, rows)
    if split_order == "auto" and stride:
        blocks = (
            f"chronological blocks, each after {resolved.purge} purged windows"
            if series == 1
            else f"the last chronological block of each series, after {resolved.purge} purged windows (or the last "
            "whole series, where the series are too short for that)"
        )
        warnings.warn(
            f"dataset {ds.name!r}: its rows are sliding windows of {resolved.of_series()} ({pairs:.0%} of "
            f"consecutive rows are {_steps(stride)} apart{', newest first' if stride < 0 else ''}), so the validation "
            f"and test splits tshub carves are {blocks}, so that none shares a time step with a training window "
            "(split order 'auto'); pass split_order='random' to shuffle them anyway.",
            stacklevel=2,
        )
    return resolved


#: A random carve is warned about when at least this share of the rows it carves from (and two of them) repeat or
#: overlap another by half their length.
OVERLAPPING_ROWS = 0.01
#: Above this many values the rows are not checked for overlaps (the check hashes every run of every row: 0.1 to
#: 0.5 s per million values, idle or busy core).
OVERLAP_CHECK_VALUES = 50_000_000
#: Overlap counts kept by the rows' content (``_overlapping_row_count``): a fine-tune with its baselines carves the
#: same rows two or three times (fine-tune, from-scratch referent, MiniRocket), a service worker a dataset per job.
_OVERLAP_COUNTS_KEPT = 8
_overlap_counts: OrderedDict[tuple[str, int], int] = OrderedDict()
_overlap_counts_lock = threading.Lock()


def _warn_of_overlapping_rows(ds: Dataset, rows: np.ndarray) -> None:
    """Warn when rows carved at random repeat or overlap one another by half their length (``tshub.data.overlap``):
    copies, or windows of shared recordings at irregular offsets (event-centred windows) or in an order the stride
    check cannot see (a panel's windows ordered by date across its series). A random carve then puts such rows on
    both sides of a split, whose scores are optimistic."""
    run = -(-ds.length // 2)
    if run < MIN_RUN or len(rows) < 2 or len(rows) * int(np.prod(ds.X.shape[1:])) > OVERLAP_CHECK_VALUES:
        return
    shared = _overlapping_row_count(ds.X[rows], run)
    if shared >= max(2, OVERLAPPING_ROWS * len(rows)):
        warnings.warn(
            f"dataset {ds.name!r}: {shared} of the {len(rows)} series tshub carves held-out splits from repeat another "
            f"or share {run} or more consecutive values (half their length) with one: copies, or windows of the same "
            "recordings at irregular offsets or ordered across series (by date). Carved at random, the validation "
            "and test splits then hold series the model trains on, and score optimistically: remove the copies, "
            "split by recording (tshub.data.splits.group_split), or pass split_order='time' if the rows are in "
            "time order.",
            stacklevel=3,
        )


def _overlapping_row_count(X: np.ndarray, run: int) -> int:
    """``overlapping_rows(X, run).sum()``, counted once per content: keyed by the rows' sha256 (over 100 times
    faster than the count it saves), their shape and type."""
    X = np.ascontiguousarray(X)
    key = (hashlib.sha256(X.data).hexdigest() + f"{X.shape}{X.dtype}", run)
    with _overlap_counts_lock:
        if key in _overlap_counts:
            _overlap_counts.move_to_end(key)
            return _overlap_counts[key]
    count = int(overlapping_rows(X, run).sum())
    with _overlap_counts_lock:
        _overlap_counts[key] = count
        while len(_overlap_counts) > _OVERLAP_COUNTS_KEPT:
            _overlap_counts.popitem(last=False)
    return count


def _lag_features(ds: Dataset, rows: np.ndarray) -> bool:
    """Whether rows taken for windows newest first are lag features instead (row t = x[t-1], x[t-2], ..., target
    x[t], rows in time order): each row's target is the next row's first value, where in windows newest first it is
    the last value of the row before (a one-output regression only: classes say nothing of it)."""
    if ds.task != "regression" or np.ndim(ds.y) != 1 or len(rows) < 3:
        return False
    y, first = np.asarray(ds.y, dtype=np.float64)[rows], ds.X[rows, 0, 0].astype(np.float64)
    return bool(np.mean(np.isclose(y[:-1], first[1:], rtol=1e-5, atol=1e-7 * np.max(np.abs(y)))) >= WINDOW_PAIRS)


def _steps(stride: int) -> str:
    return f"{abs(stride)} step{'s' if abs(stride) > 1 else ''}"


def _check_split_order(split_order: str) -> None:
    if split_order not in SPLIT_ORDERS:
        raise DatasetError(
            f"split_order must be 'auto' (chronological for sliding windows, else random), 'random' or "
            f"'time' (chronological blocks: rows in time order), got {split_order!r}."
        )


def chronological_holdout(ds: Dataset, split: str, fraction: float, order: SplitOrder) -> Dataset:
    """Hold the last ``fraction`` of the training rows (in time: the first rows when they go back in time) out as
    ``split``, after a gap of ``order.purge`` windows that go to no split, so that no held-out window shares a time
    step with a training window; for the windows of several series (``series_starts``), the last ``fraction`` of
    each, where a series has windows enough to leave two for training (a shorter one stays in training); the last
    whole series instead (``_whole_series_holdout``) where the typical series would purge more windows than it holds
    out (a gesture's few windows), or none can be carved. The protocol records each block held out this way (test,
    then validation)."""
    rows = np.sort(ds.splits["train"])  # a row's index is its time, whatever order the split was given in
    in_time = rows if order.stride >= 0 else rows[::-1]
    n = len(in_time)
    one = order.up_to_scale or not order.stride  # windows matched up to scale are taken as one series
    starts = np.zeros(1, dtype=np.int64) if one else series_starts(ds.X[in_time], abs(order.stride))
    every_series = np.split(in_time, starts[1:])
    typical = np.median([len(series) for series in every_series])
    if len(every_series) > 2 and max(1, round(fraction * typical)) < order.purge:
        return _whole_series_holdout(ds, split, fraction, order, every_series)
    kept_rows, held_rows, short = [], [], 0
    for series in every_series:
        held = max(1, round(fraction * len(series)))
        kept = len(series) - held - order.purge
        if kept < 2 and len(starts) > 1:
            kept_rows.append(series)
            short += 1
            continue
        kept_rows.append(series[: max(kept, 0)])
        held_rows.append(series[len(series) - held :])
    held_total, kept_total = sum(map(len, held_rows)), sum(map(len, kept_rows))
    if not held_rows and len(every_series) > 2:
        return _whole_series_holdout(ds, split, fraction, order, every_series)
    if not held_rows or kept_total < 2:
        windows = f"sliding windows ({_steps(order.stride)} apart, {order.length} steps each)"
        gap = f"after the {order.purge} windows that would share time steps with them"
        outcome = (
            f"holding the last {held_total} out as {split!r} {gap} leaves {max(kept_total, 0)} to train on"
            if len(starts) == 1
            else f"none of its {len(starts)} series has windows enough to hold its last {fraction:.0%} out as "
            f"{split!r} {gap} and keep 2 to train on"
        )
        raise DatasetError(
            f"dataset {ds.name!r}: its {n} training rows are {windows}{_of_several(len(starts))}; {outcome}: use "
            "more windows (a longer series, a smaller stride), a smaller fraction, or split_order='random' to "
            "accept overlapping windows across the splits."
        )
    block = {"fraction": fraction, "rows": held_total, "purged": order.purge}
    if len(starts) > 1:  # one series: the record it always was
        block.update(series=len(starts) - short, series_too_short=short)
    return _held_out(ds, split, order, block, kept_rows, held_rows)


def _whole_series_holdout(
    ds: Dataset, split: str, fraction: float, order: SplitOrder, every_series: list[np.ndarray]
) -> Dataset:
    """Hold the last whole series (in time) out as ``split``: of each class, as many of its last series as come
    closest to ``fraction`` of its rows (at least one), leaving it one (a class of one series stays in training, as a
    stratified carve keeps it); of a regression, of all series, leaving two. Windows of series too short to carve
    each (a gesture's few) share no time step with another series', so no gap is needed."""
    if ds.task == "classification":
        majority = np.array([np.bincount(np.asarray(ds.y[rows], dtype=np.int64)).argmax() for rows in every_series])
        groups, spare = [np.flatnonzero(majority == c) for c in np.unique(majority)], 1
    else:
        groups, spare = [np.arange(len(every_series))], 2
    held: set[int] = set()
    for members in groups:  # each in time order
        target, rows = fraction * sum(len(every_series[i]) for i in members), 0
        for taken, i in enumerate(members[::-1]):
            size = len(every_series[i])
            if len(members) - taken <= spare or (rows and abs(rows + size - target) >= abs(rows - target)):
                break
            held.add(int(i))
            rows += size
    if not held:
        raise DatasetError(
            f"dataset {ds.name!r}: its training rows are sliding windows of {len(every_series)} series, too short "
            f"to hold each one's end out as {split!r} after a gap, and no class has a series to spare for it: train "
            "on every series and select on them (validation='train'), or use split_order='random' to accept "
            "overlapping windows across the splits."
        )
    kept_rows = [rows for i, rows in enumerate(every_series) if i not in held]
    held_rows = [rows for i, rows in enumerate(every_series) if i in held]
    block = {
        "fraction": fraction,
        "rows": sum(map(len, held_rows)),
        "purged": 0,
        "whole_series": len(held),
        "series": len(every_series),
    }
    return _held_out(ds, split, order, block, kept_rows, held_rows)


def _held_out(
    ds: Dataset,
    split: str,
    order: SplitOrder,
    block: dict[str, Any],
    kept_rows: list[np.ndarray],
    held_rows: list[np.ndarray],
) -> Dataset:
    """``ds`` with ``held_rows`` as ``split`` and ``kept_rows`` as its training split, the protocol recording this
    block after those held out before it (test, then validation)."""
    previous = ds.meta.get("split_protocol") or {}
    blocks = previous.get("held_out", {}) if previous.get("rule") == "chronological_holdout" else {}
    protocol = {"rule": "chronological_holdout", **order.record(), "held_out": {**blocks, split: block}}
    splits = {**ds.splits, "train": np.sort(np.concatenate(kept_rows)), split: np.sort(np.concatenate(held_rows))}
    return ds.with_splits(splits, split_protocol=protocol)


def _of_several(series: int) -> str:
    return f" of {series} series" if series > 1 else ""


def official_with_validation(
    ds: Dataset, val_fraction: float = 0.2, seed: int = 0, split_order: str | SplitOrder = "auto"
) -> Dataset:
    """Carve a stratified "val" split out of "train" (the official test split stays untouched).

    Every class with at least two training series keeps at least one in train; single-series classes stay in train.
    ``split_order`` (``SPLIT_ORDERS``, or one already resolved by ``split_order_for``): for training rows that are
    sliding windows ("auto") or in time order ("time"), the last ``val_fraction`` of them after a purged gap
    instead (``chronological_holdout``).
    """
    if "val" in ds.splits:
        raise DatasetError(f"dataset {ds.name!r} already has a 'val' split; use ensure_validation to keep it.")
    if not 0 < val_fraction < 1:
        raise DatasetError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}.")
    train = _indices(ds, "train")
    order = split_order if isinstance(split_order, SplitOrder) else split_order_for(ds, split_order)
    if order.order == "time":
        return chronological_holdout(ds, "val", val_fraction, order)
    groups = _groups(ds, train, stratify=True)
    sizes = np.array([len(g) for g in groups])
    room = np.maximum(sizes - 1, 0)
    if room.sum() == 0:
        why = (
            f"every class has a single training series: train on all of them and select the weights on them "
            f"(validation='train'), or, if that is not what the data is: {_single_series_advice(ds)}"
            if ds.task == "classification"
            else f"it has {len(train)} training series; at least 2 are needed."
        )
        raise DatasetError(f"dataset {ds.name!r}: cannot carve a validation split, {why}")
    n_val = int(min(max(1, round(val_fraction * len(train))), room.sum()))
    counts = _allocate(n_val, sizes, np.zeros_like(sizes), room)
    rng = np.random.default_rng(seed)
    val = np.concatenate([rng.permutation(g)[:k] for g, k in zip(groups, counts)])
    splits = {**ds.splits, "train": np.setdiff1d(train, val), "val": np.sort(val)}
    protocol = {"rule": "official_with_validation", "val_fraction": val_fraction, "seed": seed, **order.record()}
    carved = ds.meta.get("split_protocol")
    if isinstance(carved, dict) and carved.get("rule") == "random_split":  # the test split was carved, not given
        protocol = {**protocol, "rule": "random_test_with_validation", "test": carved}
    return ds.with_splits(splits, split_protocol=protocol)


def ensure_validation(
    ds: Dataset, val_fraction: float = 0.2, seed: int = 0, split_order: str | SplitOrder = "auto"
) -> Dataset:
    """The dataset unchanged when it has a "val" split, else ``official_with_validation`` (of every series when the
    dataset has no splits at all)."""
    if "val" in ds.splits:
        return ds
    return official_with_validation(as_training_data(ds), val_fraction, seed, split_order)


def train_as_validation(ds: Dataset, reason: str) -> Dataset:
    """The dataset with its training split doubling as validation split (the loop then trains on every series and
    selects its weights on them); a "val" split already there joins the training split first. ``reason`` stays in
    ``meta["train_as_validation"]`` for whoever reports it."""
    train = ds.splits["train"] if "val" not in ds.splits else np.union1d(ds.splits["train"], ds.splits["val"])
    return ds.with_splits({**ds.splits, "train": train, "val": train}, train_as_validation=reason)


def validation_is_train(ds: Dataset) -> bool:
    """Whether the validation split is the training split itself (the weights were then selected and stopped on
    training figures: say so wherever validation figures are shown)."""
    return bool(np.array_equal(np.unique(ds.splits["val"]), np.unique(ds.splits["train"])))


def as_training_data(ds: Dataset) -> Dataset:
    """A dataset without splits is training data: every series goes to "train"; one with splits is unchanged."""
    if ds.splits:
        return ds
    return ds.with_splits({"train": np.arange(len(ds.X))}, split_protocol={"rule": "all series are training data"})


def training_splits(
    ds: Dataset,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
    validation: str = "split",
    split_order: str = "auto",
) -> tuple[Dataset, list[str]]:
    """The dataset ready to train on, and notes saying which splits were made (empty when none were).

    Without splits, every series is training data; ``test_fraction`` > 0 first holds out a stratified test split
    of that share. ``validation="split"``: without a "val" split, ``val_fraction`` of the training series become
    one (stratified, seeded). ``validation="train"``: every training series (a "val" split's too) trains the model
    and selects its weights (``train_as_validation``), as bigdata18 trained; see ``VALIDATIONS`` for the evidence.
    ``split_order`` (``SPLIT_ORDERS``): with "auto", training rows that are sliding windows (of one series or several)
    (``sliding_window_stride``) give chronological test and validation blocks after purged gaps instead
    (``chronological_holdout``), with a warning saying so; "time" does so for any rows, "random" never. Splits the
    dataset brings (a catalogue set's official test split, a test file) are never changed; where it brings every
    split and none is carved, ``meta["split_protocol"]`` records them as "given".
    Refused before any split is made, so that counts and indices are those of the data given: a dataset with splits
    but no "train" split, series with NaN or infinite values (``refuse_incomplete_dataset``), and training series
    that leave nothing to learn (``check_classes``: one class, or one regression target value).
    """
    if validation not in VALIDATIONS:
        raise DatasetError(
            f"validation must be 'split' (hold a stratified share of the training series out) or 'train' (train on "
            f"every training series and select the weights on them), got {validation!r}."
        )
    _indices(as_training_data(require_dataset(ds)), "train")  # splits without a training split: say so
    refuse_incomplete_dataset(ds)
    check_classes(as_training_data(ds))
    _check_split_order(split_order)
    empty = [name for name, rows in ds.splits.items() if name != "train" and not len(rows)]
    if empty:  # validated or tested on nothing, every figure NaN: as if the split were not there
        ds = ds.with_splits({name: rows for name, rows in ds.splits.items() if name not in empty})
    if test_fraction and set(ds.splits) == {"train"} and len(ds.splits["train"]) == len(ds.X):
        ds = ds.with_splits({})  # every series training data (a train-only set): as without splits, test held out
    carves = bool(not ds.splits and test_fraction) or (validation == "split" and "val" not in ds.splits)
    order = split_order_for(ds, split_order) if carves else SplitOrder("random", split_order)
    notes = [f"the {name!r} split holds no series: left out" for name in empty]
    if not ds.splits and test_fraction:
        if not 0 < test_fraction < 1:
            raise DatasetError(f"test_fraction must lie in [0, 1), got {test_fraction}.")
        if order.order == "time":
            ds = chronological_holdout(as_training_data(ds), "test", test_fraction, order)
        else:
            ds = random_split(ds, {"train": 1 - test_fraction, "test": test_fraction}, seed=seed)
            ds = ds.with_splits(ds.splits, split_protocol={**ds.meta["split_protocol"], **order.record()})
        n_test = len(ds.splits["test"])
        notes.append(
            f"no splits: held out {'the last ' if order.order == 'time' else ''}{n_test} of the {len(ds.X)} series "
            f"({_share(n_test, len(ds.X), test_fraction)}) as a test split ({_how(ds, order, seed, 'test')})"
        )
    elif not ds.splits:
        notes.append(f"no splits: all {len(ds.X)} series are training data")
    if validation == "train":
        ds = train_as_validation(as_training_data(ds), "validation='train'")
        notes.append(
            f"validation='train': all {len(ds.splits['train'])} training series train the model and select its "
            "weights (none held out)"
        )
    elif "val" not in ds.splits:
        n_train = len(as_training_data(ds).splits["train"])
        ds = ensure_validation(ds, val_fraction, seed, order)
        n_val = len(ds.splits["val"])
        notes.append(
            f"carved {'the last ' if order.order == 'time' else ''}{n_val} of the {n_train} training series "
            f"({_share(n_val, n_train, val_fraction)}) as validation ({_how(ds, order, seed, 'val')})"
            + (
                f"; {n_val} validation series choose the weights, the stop and ω nearly by chance: with this little "
                "data consider validation='train', or more series"
                if n_val < SMALL_VALIDATION
                else ""
            )
        )
    if not carves and validation == "split" and not ds.meta.get("split_protocol"):
        ds = ds.with_splits(ds.splits, split_protocol={"rule": "given", "splits": ds.split_sizes})
    _warn_untrained_classes(ds)
    _warn_test_seen_in_training(ds)
    return ds, notes


def _how(ds: Dataset, order: SplitOrder, seed: int, split: str) -> str:
    """How the carve of ``split`` was made, for its note: seeded and stratified; or in time order after how many
    purged windows, or as whole series; or at random although the rows are windows (which the note then says
    leaks)."""
    windows = f"{_steps(order.stride)} apart, {order.length} steps each"
    whole = ds.meta.get("split_protocol", {}).get("held_out", {}).get(split, {}).get("whole_series")
    if order.order == "time" and whole:
        return (
            f"the last {whole} whole series in time{', of each class' if ds.task == 'classification' else ''}: the "
            f"rows are sliding windows of {order.series} series, too short to hold each one's end out after a gap, "
            f"{windows}"
        )
    if order.order == "time" and order.stride:
        each = f"the end of each of its {order.series} series, " if order.series > 1 else ""
        scaled = " (up to each window's scale: normalised one by one)" if order.up_to_scale else ""
        return (
            f"{each}in time order after {order.purge} purged windows: the rows are sliding windows"
            f"{_of_several(order.series)}{scaled}, {windows}"
        )
    if order.order == "time":
        return "in row order, split_order='time'"
    how = f"seed {seed}{', stratified' if _stratified(ds) else ''}"
    if order.stride:
        how += (
            f"; the rows are sliding windows ({windows}), so held-out windows share time steps with training ones "
            "and score optimistically: split_order='auto' or 'time' would carve chronological blocks"
        )
    return how


#: Fewer validation series than this are noted as choosing the weights (and ω) nearly by chance.
SMALL_VALIDATION = 5


def _share(n: int, of: int, asked: float) -> str:
    """The share a split got, and the one asked when rounding per class moved it: "20%, 25% asked"."""
    got = f"{n / of:.0%}"
    return got if got == f"{asked:.0%}" else f"{got}, {asked:.0%} asked"


def _warn_test_seen_in_training(ds: Dataset) -> None:
    """Warn when test series are also training or validation series (splits given by hand that overlap): their test
    metrics measure how well the model fits what it learned from, not how it generalises. Both warnings are
    attributed to ``training_splits``, which a CLI run calls for each training it makes: Python then says each once."""
    test = np.unique(ds.splits.get("test", []))
    seen = np.intersect1d(test, np.union1d(ds.splits["train"], ds.splits["val"]))
    if len(seen):
        warnings.warn(
            f"dataset {ds.name!r}: {len(seen)} of the {len(test)} test series are also training or validation "
            f"series (e.g. series {seen[0]}); the test metrics then score series the model learned from: make "
            "the splits disjoint.",
            stacklevel=2,
        )


def _warn_untrained_classes(ds: Dataset) -> None:
    """Warn when the test or validation split holds a class no training series has: the model's head has an output
    for it (its outputs are the data's classes) but learns never to predict it, so every such series counts as an
    error in that split's metrics."""
    if ds.task != "classification" or "train" not in ds.splits:
        return
    trained = set(np.unique(ds.y[ds.splits["train"]]).tolist())
    for split in ("val", "test"):
        unseen = sorted(set(np.unique(ds.y[ds.splits.get(split, [])]).tolist()) - trained)
        if unseen:
            names = [(ds.classes or [])[i] for i in unseen]
            n = int(np.isin(ds.y[ds.splits[split]], unseen).sum())
            warnings.warn(
                f"dataset {ds.name!r}: class(es) {names[:10]} of {n} {split} series have no training series; the "
                "model still gets an output for each (its outputs are the data's classes, so the head and its "
                f"training differ from the same data without them) but learns never to predict them, so the {split} "
                f"metrics count all {n} as errors: add training series of those classes, or drop those series.",
                stacklevel=2,
            )


def check_classes(ds: Dataset, split: str = "train") -> None:
    """Refuse a dataset whose ``split`` leaves nothing to learn: a classification with fewer than two classes, or a
    regression whose targets all take one value (every ranking score and metric would then be undefined)."""
    if split not in ds.splits:
        return
    if not len(ds.splits[split]):
        raise DatasetError(
            f"dataset {ds.name!r}: its {split!r} split holds no series (the dataset has {len(ds.X)}), so there is "
            f"nothing to learn from: list the indices of its series in splits[{split!r}]."
        )
    if ds.task == "regression":
        _check_targets_vary(ds, split)
        return
    present = np.unique(ds.y[ds.splits[split]])
    if len(present) < 2:
        raise DatasetError(
            f"dataset {ds.name!r}: its {split!r} series hold only one class ({(ds.classes or ['?'])[present[0]]!r}); "
            "classification needs at least two classes: check the label column, or pass task='regression' for "
            "numeric targets."
        )


def _check_targets_vary(ds: Dataset, split: str) -> None:
    """Refuse regression targets of ``split`` that all equal one value (missing ones aside; fewer than two known
    targets are left to the checks of too few series)."""
    y = ds.y[ds.splits[split]]
    known = np.asarray(y[~missing_targets(y)], dtype=np.float64).reshape(-1, *np.shape(y)[1:])
    if len(known) < 2 or np.ptp(known, axis=0).any():
        return
    first = known[0] + 0.0  # -0.0 reads as 0
    value = f"{first:g}" if known.ndim == 1 else str(first.tolist())
    raise DatasetError(
        f"dataset {ds.name!r}: all {len(known)} targets of its {split!r} series equal {value}, so a regression has "
        "nothing to learn: check the label column, and that the targets were written with enough digits (a file "
        "that rounds small values to a few decimals can turn them all into one value)."
    )


def random_split(
    ds: Dataset, fractions: Fractions = (0.7, 0.15, 0.15), seed: int = 0, stratify: bool = True
) -> Dataset:
    """Split all series at random (per class when ``stratify`` and classification, as Otović et al.).

    ``fractions`` is (train, test), (train, val, test) or a {split name: fraction} mapping; existing splits are
    replaced.
    """
    names, weights = _fractions(fractions)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in names]
    for group in _groups(ds, np.arange(len(ds.X)), stratify):
        counts = _allocate(len(group), weights, np.zeros(len(names), np.int64), np.full(len(names), len(group)))
        for part, chunk in zip(parts, np.split(rng.permutation(group), np.cumsum(counts)[:-1])):
            part.append(chunk)
    splits = {name: np.sort(np.concatenate(part)) for name, part in zip(names, parts)}
    if not all(len(idx) for idx in splits.values()):
        sizes = {name: len(idx) for name, idx in splits.items()}
        if _stratified(ds, stratify):  # without a split per class, the labels are not why
            _refuse_labels_of_single_series(ds, sizes)
        raise DatasetError(
            f"dataset {ds.name!r}: {len(ds.X)} series are too few to give each split at least one "
            f"({sizes}{', allocated per class' if _stratified(ds, stratify) else ''}); use more series, larger fractions "
            "for the small splits, or splits of your own."
        )
    protocol = {
        "rule": "random_split",
        "fractions": dict(zip(names, weights.tolist())),
        "seed": seed,
        "stratified": _stratified(ds, stratify),
    }
    return ds.with_splits(splits, split_protocol=protocol)


def _refuse_labels_of_single_series(ds: Dataset, sizes: dict[str, int]) -> None:
    """When most classes hold a single series (per-class allocation cannot then reach every split), say what the
    labels look like: numbers are likely regression targets read as classes; anything else, the wrong column."""
    if ds.task != "classification":
        return
    codes, counts = np.unique(ds.y, return_counts=True)
    single = int((counts == 1).sum())
    if single <= len(codes) / 2:  # most classes have several series: the data is simply too small
        return
    if _numeric_labels(ds):
        raise DatasetError(
            f"dataset {ds.name!r}: {len(codes)} classes for {len(ds.X)} series: {_single_series_advice(ds)}"
        )
    raise DatasetError(
        f"dataset {ds.name!r}: {single} of its {len(codes)} classes hold a single series, and a split per class "
        f"cannot give such a class to every split ({sizes}): {_single_series_advice(ds)}"
    )


def _numeric_labels(ds: Dataset) -> bool:
    classes = ds.classes or []
    return bool(classes) and all(is_number(label) for label in classes)


def _single_series_advice(ds: Dataset) -> str:
    """What labels of a single series each usually are: numeric targets read as classes, or another column read as
    the labels (time stamps or ids, as a forecasting file's first column)."""
    if _numeric_labels(ds):
        return (
            "are the labels numeric targets? Read them as a regression (task='regression'), or name the label column "
            "(label_column=...)."
        )
    return "check that the label column holds the class labels (label_column=...), or give each class more series."


def group_split(ds: Dataset, groups: np.ndarray, fractions: Fractions = (0.7, 0.15, 0.15), seed: int = 0) -> Dataset:
    """Split whole groups at random (e.g. the recordings that overlapping windows were cut from), so that no group
    has series in two splits and no window shares samples with one in another split; the fractions count groups."""
    names, weights = _fractions(fractions)
    groups = np.asarray(groups)
    if len(groups) != len(ds.X):
        raise DatasetError(f"dataset {ds.name!r}: {len(groups)} group labels for {len(ds.X)} series; give one each.")
    unlabelled = int(missing_targets(groups).sum())  # NaN, inf or None, as a missing target is
    if unlabelled:  # np.isin never matches NaN: those series would go to no split
        raise DatasetError(
            f"dataset {ds.name!r}: {unlabelled} series have no group label (NaN, inf or None); give every series its "
            "group."
        )
    keys = np.unique(groups)
    counts = _allocate(len(keys), weights, np.zeros(len(names), np.int64), np.full(len(names), len(keys)))
    if not counts.all():
        raise DatasetError(
            f"dataset {ds.name!r}: {len(keys)} group(s) are too few to give each of {names} at least one; "
            "use more groups, or random_split (whose splits share groups)."
        )
    chunks = np.split(np.random.default_rng(seed).permutation(keys), np.cumsum(counts)[:-1])
    protocol = {"rule": "group_split", "fractions": dict(zip(names, weights.tolist())), "seed": seed}
    return ds.with_splits(
        {name: np.flatnonzero(np.isin(groups, chunk)) for name, chunk in zip(names, chunks)},
        split_protocol={**protocol, "groups": {name: chunk.tolist() for name, chunk in zip(names, chunks)}},
    )


def chronological_split(ds: Dataset, fractions: Fractions = (0.7, 0.15, 0.15)) -> Dataset:
    """Consecutive blocks in series order (no shuffling), for data ordered in time such as S&P 500 windows; where the
    rows are sliding windows (``split_order_for``), each block after the first starts after the purged windows that
    share a time step (or a target) with the block before (``SplitOrder.purge``, recorded as ``purged``), and windows
    going back in time (newest first) train on the oldest rows, as ``chronological_holdout`` carves them."""
    names, weights = _fractions(fractions)
    n = len(ds.X)
    counts = _allocate(n, weights, np.zeros(len(names), np.int64), np.full(len(names), n))
    order = split_order_for(ds.with_splits({}), "time")
    in_time = np.arange(n) if order.stride >= 0 else np.arange(n)[::-1]  # windows newest first: the oldest train
    blocks = np.split(in_time, np.cumsum(counts)[:-1])
    blocks = blocks[:1] + [np.sort(block[order.purge :]) for block in blocks[1:]]
    blocks[0] = np.sort(blocks[0])
    if not all(len(block) for block in blocks):
        purged = f", less {order.purge} purged windows before each held-out block," if order.purge else ""
        raise DatasetError(
            f"dataset {ds.name!r}: {n} series are too few{purged} to give each of {names} at least one; give more "
            "series or fewer splits."
        )
    protocol: dict[str, Any] = {"rule": "chronological_split", "fractions": dict(zip(names, weights.tolist()))}
    protocol |= {"purged": order.purge, "sliding_windows": order.record()["sliding_windows"]} if order.purge else {}
    return ds.with_splits(dict(zip(names, blocks)), split_protocol=protocol)


def reduce_train(ds: Dataset, n: int, seed: int = 0) -> Dataset:
    """Keep ``n`` training series, stratified (each class keeps at least one when ``n`` allows); val/test untouched.

    The reduced targets of Otović et al. (1k5 = 1500, 9k = 9000 training instances).
    """
    train = _indices(ds, "train")
    if not 1 <= n <= len(train):
        raise DatasetError(
            f"dataset {ds.name!r}: cannot reduce 'train' to {n} series, it has {len(train)}; "
            f"choose n between 1 and {len(train)}."
        )
    groups = _groups(ds, train, stratify=True)
    sizes = np.array([len(g) for g in groups])
    low = np.ones_like(sizes) if n >= len(groups) else np.zeros_like(sizes)
    counts = _allocate(n, sizes, low, sizes)
    rng = np.random.default_rng(seed)
    kept = np.sort(np.concatenate([rng.permutation(g)[:k] for g, k in zip(groups, counts)]))
    return ds.with_splits(
        {**ds.splits, "train": kept},
        train_reduction={"n": n, "from": len(train), "seed": seed, "stratified": _stratified(ds)},
    )


def _allocate(total: int, weights: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Integers within [low, high] summing to ``total``, proportional to ``weights`` as far as the bounds allow.

    Largest remainder: start from the clipped floor of the ideal shares, then add (or remove) one at a time where
    the count lies furthest below (above) its ideal share; ties go to the first entry.
    """
    weights = np.asarray(weights, dtype=np.float64)
    ideal = total * weights / weights.sum()
    counts = np.clip(np.floor(ideal).astype(np.int64), low, high)
    while counts.sum() < total:
        counts[np.argmax(np.where(counts < high, ideal - counts, -np.inf))] += 1
    while counts.sum() > total:
        counts[np.argmin(np.where(counts > low, ideal - counts, np.inf))] -= 1
    return counts


def _groups(ds: Dataset, idx: np.ndarray, stratify: bool = True) -> list[np.ndarray]:
    """Indices per class present (classification and stratify) or one group."""
    if not _stratified(ds, stratify):
        return [idx]
    labels = ds.y[idx]
    return [idx[labels == c] for c in np.unique(labels)]


def _stratified(ds: Dataset, stratify: bool = True) -> bool:
    return stratify and ds.task == "classification"


def _indices(ds: Dataset, split: str) -> np.ndarray:
    if split not in ds.splits:
        raise DatasetError(
            f"dataset {ds.name!r} has no {split!r} split (it has {sorted(ds.splits) or 'none'}): list the indices of "
            f"its series in splits[{split!r}], make the splits with random_split or chronological_split, or give no "
            "splits (every series is then training data)."
        )
    return ds.splits[split]


def _fractions(fractions: Fractions) -> tuple[list[str], np.ndarray]:
    if isinstance(fractions, Mapping):
        names, values = list(fractions), list(fractions.values())
    else:
        values = list(fractions)
        names = {2: ["train", "test"], 3: ["train", "val", "test"]}.get(len(values), [])
        if not names:
            raise DatasetError(
                f"fractions {tuple(values)}: give 2 (train, test) or 3 (train, val, test) values, "
                "or a {split name: fraction} mapping."
            )
    weights = np.asarray(values, dtype=np.float64)
    if len(weights) == 0 or np.any(~(weights > 0)) or not np.isclose(weights.sum(), 1.0, atol=1e-6):
        raise DatasetError(
            f"fractions {dict(zip(names, values))} must all be positive and sum to 1 (they sum to {weights.sum():g})."
        )
    return names, weights
