"""NumPy ``.npz`` archives (arrays ``X`` and ``y``, optional ``splits_*``; or ``X_train``, ``y_train``, ``X_test``, ...),
checked before reading, never unpickled."""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from tshub.data.dataset import DatasetError, label_text
from tshub.data.readers.base import UNLIMITED, RawSeries, ReadLimits
from tshub.data.readers.formats import register_format

_MAX_NPZ_MEMBERS = 64


#: Split arrays ``X_<name>`` / ``y_<name>`` (as many scripts and tsai save a benchmark): each name's split.
SPLIT_ARRAYS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


@register_format("npz", ".npz", binary=True)
def _parse_npz(path: Path, label_column: int | str | None, limits: ReadLimits = UNLIMITED) -> RawSeries:
    """Arrays ``X`` ((n, t) or (n, c, t)), ``y`` (labels or values; indices when ``classes`` is given),
    optional ``classes`` and ``splits_<name>`` index arrays; or split arrays ``X_train``/``y_train``,
    ``X_test``/``y_test``, ... (``SPLIT_ARRAYS``), read as those splits. Object arrays are refused (no unpickling)."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file.")
    _check_npz_members(path, limits)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{path}: not a readable .npz archive ({e}); save it with numpy.savez.") from None
    with archive:
        keys = set(archive.files)
        parts = _split_arrays(path, keys)
        if not parts and "X" not in keys:
            raise DatasetError(
                f"{path}: no array 'X' (keys: {sorted(keys)}); store the series as X (and the targets as y), or "
                "each split's as X_train, y_train, X_test, y_test."
            )
        blocks = {suffix: _series(archive, path, _key("X", suffix)) for suffix in parts or [""]}
        X = _stack(path, blocks)
        raw = RawSeries(
            path=path,
            format="npz",
            X=X,
            y=None,
            lines=np.zeros(len(X), dtype=np.int64),
            md5=hashlib.md5(path.read_bytes()).hexdigest(),
            typed_labels=True,
        )
        if label_column is not None:
            raw.y, raw.classes = _npz_targets(archive, path, keys, {s: len(b) for s, b in blocks.items()})
            raw.task = "classification" if raw.classes is not None else None
        ends = np.cumsum([len(b) for b in blocks.values()])
        for (suffix, block), end in zip(blocks.items(), ends, strict=True):
            if suffix:
                raw.splits[parts[suffix]] = np.arange(end - len(block), end)
        for key in sorted(k for k in keys if k.startswith("splits_")):
            idx = _npz_array(archive, path, key)
            if idx.dtype.kind not in "iu" or idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= len(X))):
                raise DatasetError(f"{path}: key {key!r} must be a 1-d integer array of indices in [0, {len(X)}).")
            raw.splits[key.removeprefix("splits_")] = idx.astype(np.int64)
    _refuse_shared_series(path, raw.splits)
    return raw


def _split_arrays(path: Path, keys: set[str]) -> dict[str, str]:
    """The split arrays' suffixes and the splits they are (``X_valid`` → "val"), in train, val, test order; {} when
    the archive has none (beside ``X`` other arrays, such as ``X_mean``, are left alone as they always were)."""
    named = {k.split("_", 1)[1] for k in keys if k[:2] in ("X_", "y_") and not k.startswith("splits_")}
    if "X" in keys:
        splits = sorted(n for n in named if n in SPLIT_ARRAYS)
        if splits:
            raise DatasetError(
                f"{path}: both 'X' and split arrays ({', '.join(f'X_{n}' for n in splits)}); keep one layout: X and "
                "y for every series, or X_train, y_train, X_test, y_test."
            )
        return {}
    if not named:
        return {}
    unknown = sorted(n for n in named if n not in SPLIT_ARRAYS)
    if unknown:
        raise DatasetError(
            f"{path}: key '{'X' if f'X_{unknown[0]}' in keys else 'y'}_{unknown[0]}': split arrays are X_train, X_val "
            "(or X_valid, X_validation) and X_test, each with its y_; name yours so, or store every series as X "
            "with splits_<name> index arrays."
        )
    given = sorted(k for k in keys if k.startswith("splits_"))
    if given:
        raise DatasetError(
            f"{path}: both split arrays (X_{sorted(named)[0]}, ...) and {given[0]!r}; the split arrays say which "
            "series are in which split, so drop the splits_ arrays."
        )
    for n in sorted(named):
        if f"X_{n}" not in keys:
            raise DatasetError(f"{path}: 'y_{n}' has no 'X_{n}' (keys: {sorted(keys)}); store that split's series.")
    splits = [SPLIT_ARRAYS[n] for n in named]
    twice = next((s for s in splits if splits.count(s) > 1), None)
    if twice is not None:
        raise DatasetError(
            f"{path}: {', '.join(f'X_{n}' for n in sorted(named) if SPLIT_ARRAYS[n] == twice)} are all the "
            f"{twice!r} split; keep one."
        )
    order = list(dict.fromkeys(SPLIT_ARRAYS.values()))
    return {n: SPLIT_ARRAYS[n] for n in sorted(named, key=lambda n: order.index(SPLIT_ARRAYS[n]))}


def _key(prefix: str, suffix: str) -> str:
    """``X``/``y`` of a plain archive (suffix ""), ``X_train``/``y_train`` of a split's arrays."""
    return f"{prefix}_{suffix}" if suffix else prefix


def _series(archive: Any, path: Path, key: str) -> np.ndarray:
    X = _npz_array(archive, path, key)
    if X.dtype.kind not in "fiub" or X.ndim not in (2, 3):
        raise DatasetError(
            f"{path}: key {key!r} must be a numeric array of shape (n, length) or (n, channels, length), got dtype "
            f"{X.dtype} shape {X.shape}."
        )
    return (X[:, None, :] if X.ndim == 2 else X).astype(np.float64)


def _stack(path: Path, blocks: dict[str, np.ndarray]) -> np.ndarray:
    """The split arrays as one (n, c, t) array: the same channels, shorter series NaN-padded (``variable_length``
    decides what becomes of them, as for rows of a text file)."""
    (first, reference), *others = blocks.items()
    if not others:
        return reference  # one array of every series: no copy
    for suffix, block in others:
        if block.shape[1] != reference.shape[1]:
            raise DatasetError(
                f"{path}: 'X_{suffix}' has {block.shape[1]} channels, 'X_{first}' {reference.shape[1]}; every split "
                "needs the same channels."
            )
    X = np.full(
        (sum(len(b) for b in blocks.values()), reference.shape[1], max(b.shape[2] for b in blocks.values())), np.nan
    )
    start = 0
    for block in blocks.values():  # filled in place: one copy of the data, not a padded one and then another
        X[start : start + len(block), :, : block.shape[2]] = block
        start += len(block)
    return X


def _refuse_shared_series(path: Path, splits: dict[str, np.ndarray]) -> None:
    """Each series belongs to one split at most, once: a series in train and test leaks what the test measures."""
    owner: dict[int, str] = {}
    for name, idx in sorted(splits.items()):
        unique, counts = np.unique(idx, return_counts=True)
        if (counts > 1).any():
            raise DatasetError(
                f"{path}: 'splits_{name}' lists series {unique[counts > 1][0]} more than once; list each series once."
            )
        shared = next((i for i in unique.tolist() if i in owner), None)
        if shared is not None:
            raise DatasetError(
                f"{path}: series {shared} is in both {owner[shared]!r} and {name!r}; a series in two splits leaks "
                "one into the other, so give each series to one split."
            )
        owner |= dict.fromkeys(unique.tolist(), name)


def _npz_targets(
    archive: Any, path: Path, keys: set[str], sizes: dict[str, int]
) -> tuple[np.ndarray, list[str] | None]:
    """The targets of every block of series (``sizes``: suffix → count; "" for plain X and y), concatenated."""
    parts = []
    for suffix, n in sizes.items():
        x_key, y_key = _key("X", suffix), _key("y", suffix)
        if y_key not in keys:
            raise DatasetError(
                f"{path}: no {y_key!r} for {x_key!r} (keys: {sorted(keys)}); store the targets as {y_key}, or pass "
                "label_column=None for unlabeled series."
            )
        y = _npz_array(archive, path, y_key)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]  # a column vector (n, 1), as scikit-learn code often keeps it
        if len(y) != n:
            raise DatasetError(
                f"{path}: {x_key!r} has {n} series but {y_key!r} has {len(y)} targets; they must match one to one."
            )
        parts.append(y)
    if len({y.dtype.kind in "U" for y in parts}) > 1:
        raise DatasetError(f"{path}: some y arrays hold text and some numbers; store every split's targets alike.")
    y = np.concatenate(parts)
    if "classes" not in keys:
        return y, None
    classes = [str(c) for c in _npz_array(archive, path, "classes").tolist()]
    if y.dtype.kind in "iu":
        if y.size and (y.min() < 0 or y.max() >= len(classes)):
            raise DatasetError(f"{path}: integer 'y' indexes 'classes' but lies outside [0, {len(classes)}).")
        return np.array(classes)[y], classes
    whole = y.dtype.kind == "f" and y.size and np.all(np.mod(y, 1) == 0)
    if whole and not {label_text(v) for v in y.tolist()} <= set(classes):
        raise DatasetError(
            f"{path}: 'y' holds whole numbers as floats, which are not among 'classes' {classes[:10]}; to index "
            "'classes' they must be integers: store y.astype(int)."
        )
    return y, classes


def _npz_array(archive: Any, path: Path, key: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as e:
        if "allow_pickle" not in str(e):
            raise DatasetError(
                f"{path}: key {key!r} cannot be read ({e}); the archive is damaged, save it again with numpy.savez."
            ) from None
        save = (
            "series of unequal lengths NaN-padded into one float array, which variable_length='pad', 'truncate' or "
            "'resample' reads"
            if key.startswith("X")  # a ragged list of series, as np.array(series, dtype=object) holds it
            else "numeric or fixed-width string arrays (e.g. y.astype(str))"
        )
        raise DatasetError(
            f"{path}: key {key!r} holds Python objects (dtype=object), which tshub never unpickles; save {save}."
        ) from None
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as e:
        raise DatasetError(
            f"{path}: key {key!r} is truncated or corrupted ({e}); was the file cut short? "
            "Save it again with numpy.savez and upload the complete file."
        ) from None


def _check_npz_members(path: Path, limits: ReadLimits) -> None:
    """Before numpy reads anything: a complete zip, few members, declared sizes within ``limits.max_bytes``, and
    every array header's shape both within ``limits.max_values`` and backed by its member's declared size (zip
    reads stop at the declared size, so these bound what loading can allocate, whatever the compressed size)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > _MAX_NPZ_MEMBERS:
                raise DatasetError(
                    f"{path}: {len(members)} members; an .npz dataset holds a few arrays (X, y, "
                    f"classes, splits_*), at most {_MAX_NPZ_MEMBERS}."
                )
            declared = sum(m.file_size for m in members)
            if limits.max_bytes is not None and declared > limits.max_bytes:
                raise DatasetError(
                    f"{path}: its arrays expand to {declared / 2**20:,.0f} MB, over the limit of "
                    f"{limits.max_bytes / 2**20:g} MB; send a smaller dataset."
                )
            for member in members:
                with archive.open(member) as f:
                    shape, dtype = _npy_header(f, path, member.filename)
                count = int(np.prod(shape, dtype=np.float64))
                if count * max(dtype.itemsize, 1) > member.file_size:
                    raise DatasetError(
                        f"{path}: {member.filename} declares shape {shape} of {dtype} but holds only "
                        f"{member.file_size} bytes; the archive is truncated or forged, save it again "
                        "with numpy.savez."
                    )
                limits.check_values(shape, f"{path}: {member.filename}")
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise DatasetError(
            f"{path}: not a complete .npz (zip) archive ({e}); was the upload cut short? Save it "
            "with numpy.savez and send the whole file."
        ) from None


def _npy_header(f: Any, path: Path, member: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(
            np.lib.format.read_magic(f)
        )
        if read_header is None:
            raise ValueError("unsupported .npy format version")
        shape, _, dtype = read_header(f)
    except ValueError as e:
        raise DatasetError(f"{path}: {member} is not a .npy array ({e}); save the dataset with numpy.savez.") from None
    return tuple(int(d) for d in shape), dtype
