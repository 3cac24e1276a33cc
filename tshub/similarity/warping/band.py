"""The Sakoe–Chiba band: a radius in samples or a fraction of the longer series, and the columns it lets a row match.

As in tslearn (``metrics/_masks.py``), the band is widened by the length difference so the end point stays
reachable: row ``a`` of an (n × m) problem may match columns ``[a - r + min(0, m - n), a + r + max(0, m - n)]``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


class Band(NamedTuple):
    """A Sakoe–Chiba band as the kernels take it (numba passes a NamedTuple by value).

    ``radius`` in samples when >= 0, else ``fraction`` of the longer series (rounded to the nearest sample) when
    >= 0, else no band. Build one with :meth:`of`.
    """

    radius: int = -1
    fraction: float = -1.0

    @classmethod
    def of(cls, window: int | float | Band | None) -> Band:
        """The band of a user's ``window``: None (unconstrained), an int radius in samples, or a float fraction of
        the longer series in [0, 1)."""
        if window is None:
            return UNCONSTRAINED
        if isinstance(window, Band):
            return window
        if isinstance(window, (bool, np.bool_)):
            raise ValueError("window must be None, an int radius in samples or a float fraction in [0, 1).")
        if isinstance(window, (int, np.integer)):
            if window < 0:
                raise ValueError(f"window radius must be >= 0 samples, got {window}.")
            return cls(radius=int(window))
        fraction = float(window)
        if not 0.0 <= fraction < 1.0:
            raise ValueError(
                f"a float window is a fraction of the longer series in [0, 1), got {fraction}; pass an int for samples."
            )
        return cls(fraction=fraction)


UNCONSTRAINED = Band()


@njit(cache=True, nogil=True)
def is_unconstrained(band: Band) -> bool:
    """Whether ``band`` lets every row match every column."""
    return band.radius < 0 and band.fraction < 0.0


@njit(cache=True, nogil=True)
def band_radius(band: Band, n: int, m: int) -> int:
    """The radius in samples of ``band`` for an (n × m) problem; -1 when unconstrained."""
    if band.radius >= 0:
        return band.radius
    if band.fraction >= 0.0:
        return int(np.round(band.fraction * max(n, m)))
    return -1


@njit(cache=True, nogil=True)
def band_columns(row: int, n: int, m: int, radius: int) -> tuple[int, int]:
    """Columns [lo, hi] that ``row`` may match within ``radius`` (tslearn's Sakoe–Chiba mask for unequal lengths)."""
    if radius < 0:
        return 0, m - 1
    delta = m - n
    return max(row - radius + min(0, delta), 0), min(row + radius + max(0, delta), m - 1)
