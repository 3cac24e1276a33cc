"""Sets of variable-length multichannel series as the kernels read them, and the NaN handling of their input.

Series are channels-first like the rest of tshub: ``(t,)`` or ``(c, t)``; a set of series is an ``(n, c, t)`` array
or a list of such arrays of any lengths. Trailing all-NaN time steps (the UCR padding of variable-length sets) are
dropped; interior NaN (missing values) are linearly interpolated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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
        """Channels of every series."""
        return self.flat.shape[1]

    @property
    def lengths(self) -> np.ndarray:
        """Length of each series."""
        return np.diff(self.offsets)

    def series(self, i: int) -> np.ndarray:
        """Series i as a time-major (t, c) view."""
        return self.flat[self.offsets[i] : self.offsets[i + 1]]

    @classmethod
    def from_list(cls, series: Sequence[np.ndarray], n_channels: int) -> SeriesSet:
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
        empty = np.isnan(x).all(axis=1)
        if empty.any():
            raise ValueError(
                f"channel {int(np.flatnonzero(empty)[0])} of a series is entirely NaN; remove that series or fill it."
            )
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
