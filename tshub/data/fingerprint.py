"""Content fingerprints of training series, to tell whether a checkpoint was trained on a target's own data.

A fingerprint is a bottom-k sketch: every series is hashed (SHA-256 of its float32 values), and the ``k`` smallest
hashes are kept with the number of series. Two sets of series are compared on the part of hash space the sketch
covers (hashes up to its largest), where both are sampled alike, so overlap is seen in either direction: a target
that holds most of a checkpoint's training series, or one that is mostly made of them (e.g. a subset of the
source's training file), as long as a few of its series fall in that part. A JSON-ready dict of a few kB, kept in
a checkpoint's ``config.json`` under ``meta.train_fingerprint``. ``dataset_sha256`` is the exact digest of a whole
dataset, which an experiment record keeps to tell two datasets of one name apart.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tshub.data.dataset import Dataset

METHOD = "sha256-float32-bottom-k/1"
SKETCH_SIZE = 128
#: A checkpoint is trained on the target's data when this share of the compared series match, either way.
OVERLAP_THRESHOLD = 0.5


def series_hashes(X: np.ndarray) -> np.ndarray:
    """The first 64 bits of SHA-256 of every series' float32 values (any shape (n, ...)), as uint64."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    return np.array([int.from_bytes(hashlib.sha256(x.tobytes()).digest()[:8], "big") for x in X], dtype=np.uint64)


#: Significant digits two copies of a series agree to: a copy written with '%.4g' (or '%.6g', or read back from
#: float64) matches, and two recordings that differ anywhere do not.
NEAR_DIGITS = 3
#: Projections the candidate pairs of ``near_copies`` are found in (a filter: every pair is checked in full).
_PROJECTIONS = 8


def near_copies(target: np.ndarray, source: np.ndarray) -> tuple[int, int]:
    """How many of ``target``'s series equal one of ``source``'s to NEAR_DIGITS significant digits at every value,
    and how many of ``source``'s are so equalled (series (n, ...) of one shape; channels are compared together).

    Tolerances, not rounded hashes: rounding an already rounded value to 3 digits can land on the other side of a
    rounding boundary (0.12549 → '%.4g' 0.1255 → 0.126, not 0.125), which one value in twenty of a '%.4g' copy did,
    so no series of it hashed alike. Candidate pairs are found in a few ±1 projections, where a copy lies within
    the tolerance times the series' L1 norm on every axis, then checked value by value."""
    t = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    s = np.asarray(source, dtype=np.float64).reshape(len(source), -1)
    if not len(t) or not len(s) or t.shape[1] != s.shape[1]:
        return 0, 0
    # a series with NaN or infinite values is no value-copy of any (and the projections' tree refuses them)
    t_rows, s_rows = np.flatnonzero(np.isfinite(t).all(axis=1)), np.flatnonzero(np.isfinite(s).all(axis=1))
    if not len(t_rows) or not len(s_rows):
        return 0, 0
    return _finite_near_copies(t[t_rows], s[s_rows])


def _finite_near_copies(t: np.ndarray, s: np.ndarray) -> tuple[int, int]:
    """``near_copies`` of finite series, flattened (n, values)."""
    from scipy.spatial import cKDTree  # scipy is slow to import; a recommendation only needs it here

    tolerance = 1.01 * 0.5 * 10.0 ** (1 - NEAR_DIGITS)  # relative: half a unit in the last digit kept, and slack
    floor = 1e-6 * np.abs(t).max(axis=1)  # values near zero keep no significant digits worth comparing
    signs = np.random.default_rng(0).choice([-1.0, 1.0], size=(t.shape[1], _PROJECTIONS))
    # |signs · (x - s)| <= sum |x - s| <= tolerance * sum max(|x|, |s|), and |s| <= |x| + |x - s|
    radius = 1.05 * tolerance * np.abs(t).sum(axis=1) + 1.05 * floor * t.shape[1]
    pairs = cKDTree(s @ signs).query_ball_point(t @ signs, r=radius, p=np.inf)
    matched_target, matched_source = np.zeros(len(t), dtype=bool), np.zeros(len(s), dtype=bool)
    for i, candidates in enumerate(pairs):
        if not candidates:
            continue
        scale = np.maximum(np.abs(t[i]), np.abs(s[candidates]))
        close = (np.abs(s[candidates] - t[i]) <= tolerance * scale + floor[i]).all(axis=1)
        matched_target[i] = close.any()
        matched_source[np.asarray(candidates)[close]] = True
    return int(matched_target.sum()), int(matched_source.sum())


def fingerprint(*series: np.ndarray, k: int = SKETCH_SIZE) -> dict[str, Any]:
    """The sketch of the series in one or more arrays (n_i, channels, length_i), as a checkpoint's config keeps it."""
    hashes = np.unique(np.concatenate([series_hashes(X) for X in series]))
    return {
        "method": METHOD,
        "n": int(sum(len(X) for X in series)),
        "k": k,
        "hashes": [f"{h:016x}" for h in hashes[:k].tolist()],
    }


def overlap(stored: Any, hashes: np.ndarray) -> float | None:
    """How much the series of ``hashes`` (``series_hashes`` of a target) and the fingerprinted ones coincide: the
    larger of the share of the sketch found among them and the share of them, within the sketch's hash range, found
    in the sketch. None when ``stored`` is no fingerprint of this method, or when it cannot tell: none of the
    target's series falls in the sketch's range and the sketch is not among them (a 46 k-series multi-head's
    sketch covers 0.3 % of hash space, so a 200-series subset of one of its sets usually has no series there)."""
    if not isinstance(stored, dict) or stored.get("method") != METHOD or not stored.get("hashes"):
        return None
    sketch = np.array([int(h, 16) for h in stored["hashes"]], dtype=np.uint64)
    target = np.unique(hashes)
    complete = len(sketch) < int(stored.get("k", SKETCH_SIZE))  # the sketch holds every fingerprinted series
    sampled = target if complete else target[target <= sketch.max()]
    found = float(np.isin(sketch, target).mean())
    if not len(sampled):
        return found if found >= OVERLAP_THRESHOLD else None
    return max(found, float(np.isin(sampled, sketch).mean()))


def dataset_sha256(dataset: Dataset) -> str:
    """SHA-256 of everything a run learns and is scored on: series, targets, task, classes and splits (not the name
    or the provenance)."""
    names = sorted(dataset.splits)
    arrays = [dataset.X, dataset.y, *(dataset.splits[name] for name in names)]
    layout = [dataset.task, dataset.classes, names, [[str(a.dtype), list(a.shape)] for a in arrays]]
    digest = hashlib.sha256(json.dumps(layout).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
