"""Gaps and unequal lengths, handled once for every format: NaN padding of shorter series vs missing values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tshub.data.dataset import DatasetError
from tshub.data.readers.base import MISSING, VARIABLE_LENGTH, check_option


class ReadOptionError(DatasetError):
    """Data that a reader option would read: ``option`` (``variable_length``, ``missing`` or ``label_column``) with
    ``value``, what to suggest where the data came as a path to a call that takes no reader options
    (``dataset_from``)."""

    def __init__(self, message: str, option: str, value: str):
        super().__init__(message)
        self.option, self.value = option, value

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:  # picklable (a worker process sends it back)
        return type(self), (str(self), self.option, self.value)


def nan_padded(series: Any) -> np.ndarray:
    """Series as one float64 (n, c, longest) array, shorter ones NaN-padded after their end (what ``regularize``
    reads): an (n, t) or (n, c, t) array, or a sequence of (t,) or (c, t) series of unequal lengths."""
    if not isinstance(series, (list, tuple)):
        X = np.asarray(series, dtype=np.float64)
        return X[:, None, :] if X.ndim == 2 else X
    arrays = [_series_array(s, i) for i, s in enumerate(series)]
    arrays = [a[None, :] if a.ndim == 1 else a for a in arrays]
    shapes = sorted({a.shape for a in arrays})
    if any(a.ndim != 2 for a in arrays) or len({a.shape[0] for a in arrays}) > 1:
        raise DatasetError(
            f"each series must be (length,) or (channels, length), all with the same channels; got shapes {shapes[:4]}."
        )
    width = max(a.shape[1] for a in arrays)
    return np.stack([np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=np.nan) for a in arrays])


def _series_array(series: Any, i: int) -> np.ndarray:
    """Series ``i`` as a float64 array; channels of unequal lengths are refused, not padded: they usually come from
    sensors sampled at different rates, whose time steps padding would misalign."""
    try:
        return np.asarray(series, dtype=np.float64)
    except ValueError:
        lengths = [np.size(channel) for channel in series] if isinstance(series, (list, tuple)) else []
        if len(set(lengths)) <= 1:
            raise
        raise DatasetError(
            f"series {i}: its {len(lengths)} channels have different lengths ({', '.join(map(str, lengths[:8]))}); "
            "the channels of one series must have one length (variable_length equalises series, not the channels "
            "within one): resample the channels to one rate and length, or cut them to the shortest, and pass each "
            "series as one (channels, length) array."
        ) from None


def regularize(
    X: np.ndarray,
    *,
    variable_length: str = "error",
    missing: str = "error",
    widths: np.ndarray | None = None,
    where: Callable[[int], str] = lambda i: f"series {i}",
    source: str = "data",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fill missing values and equalise lengths of NaN-padded (n, c, w) series; returns (X, provenance).

    By default NaNs after a series' last value mark a shorter series. ``widths`` gives each series' own length
    instead (a file that declares its series equal-length): every NaN within it is a missing value; a width of 0
    leaves that series' trailing NaNs as padding.
    "pad" repeats the last value (no artificial step to zero, deterministic, unlike the archive's low-amplitude
    noise); "resample" stretches every series onto the longest length by linear interpolation.
    """
    check_option("variable_length", variable_length, VARIABLE_LENGTH)
    check_option("missing", missing, MISSING)
    X = np.asarray(X, dtype=np.float64)
    _refuse_values_beyond_float32(X, where)
    nan = np.isnan(X)
    if not nan.any():
        return X, {}
    c, w = X.shape[1:]
    finite = ~nan
    empty = ~finite.any(axis=2)
    if empty.any():
        i, k = np.argwhere(empty)[0]
        raise DatasetError(f"{where(i)}: {_channel(k, c)}has no values (all missing); remove that series.")
    lengths = w - np.argmax(finite[:, :, ::-1], axis=2)
    if widths is not None:
        own = np.asarray(widths, dtype=np.int64)[:, None]
        lengths = np.where(own > 0, own, lengths)
    gaps = nan & (np.arange(w) < lengths[..., None])
    info: dict[str, Any] = {}
    if gaps.any():
        X = _fill_gaps(X, gaps, lengths, missing, where)
        info["missing_values_filled"] = {"method": "linear interpolation", "count": int(gaps.sum())}
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo == hi:
        return X[:, :, :hi], info
    if variable_length == "error":
        i = int(np.argmin(lengths.min(axis=1)))
        raise ReadOptionError(
            f"{source}: series have different lengths ({lo} to {hi} values; the shortest is at {where(i)}); "
            f"pass variable_length='truncate' (cut all to {lo}), 'pad' (repeat each series' last value up to "
            f"{hi}) or 'resample' (linear interpolation to {hi}).",
            "variable_length",
            "pad",
        )
    X = _equalize(X, lengths, variable_length)
    info["variable_length"] = {"method": variable_length, "min_length": lo, "max_length": hi, "length": int(X.shape[2])}
    return X, info


def _refuse_values_beyond_float32(X: np.ndarray, where: Callable[[int], str]) -> None:
    """Infinite values, and finite ones that float32 (the dataset's type) would silently turn into infinity."""
    beyond = np.abs(X) > np.finfo(np.float32).max  # NaN compares False: gaps are handled later
    if not beyond.any():
        return
    i, k, t = np.argwhere(beyond)[0]
    at = f"at time step {t} {_channel(k, X.shape[1])}"
    if np.isinf(X[i, k, t]):
        raise DatasetError(
            f"{where(i)}: infinite value {at}(an overflow or a division by zero upstream?); replace it with a "
            "number, or with NaN and pass missing='interpolate'."
        )
    raise DatasetError(
        f"{where(i)}: value {X[i, k, t]:g} {at}is beyond float32's range (±3.4e38), in which tshub keeps "
        "series; rescale the data (e.g. divide by a power of ten)."
    )


def _fill_gaps(
    X: np.ndarray, gaps: np.ndarray, lengths: np.ndarray, missing: str, where: Callable[[int], str]
) -> np.ndarray:
    if missing == "error":
        i, k, t = np.argwhere(gaps)[0]
        raise ReadOptionError(
            f"{where(i)}: missing value (NaN, '?' or empty) at time step {t} {_channel(k, X.shape[1])}inside the "
            "series, not padding after its end; pass missing='interpolate' to fill gaps linearly, or clean the file.",
            "missing",
            "interpolate",
        )
    X = X.copy()
    for i, k in np.argwhere(gaps.any(axis=2)):
        x = X[i, k, : lengths[i, k]]
        known = np.flatnonzero(~np.isnan(x))
        x[:] = np.interp(np.arange(len(x)), known, x[known])
    return X


def _equalize(X: np.ndarray, lengths: np.ndarray, method: str) -> np.ndarray:
    lo, hi = int(lengths.min()), int(lengths.max())
    if method == "truncate":
        return X[:, :, :lo]
    if method == "pad":
        steps = np.minimum(np.arange(hi), lengths[..., None] - 1)
        return np.take_along_axis(X[:, :, :hi], steps, axis=2)
    out = X[:, :, :hi].copy()
    for i, k in np.argwhere(lengths < hi):
        length = lengths[i, k]
        out[i, k] = np.interp(np.linspace(0, length - 1, hi), np.arange(length), X[i, k, :length])
    return out


def _channel(k: int, c: int) -> str:
    return f"of channel {k} " if c > 1 else ""
