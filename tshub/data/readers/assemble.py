"""Parsed files (one per split) → one Dataset: channels and targets checked, lengths made equal over all files."""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tshub.data.dataset import Dataset, DatasetError, Task, infer_task, missing_targets
from tshub.data.overlap import MIN_RUN, overlapping_training
from tshub.data.readers.base import TRAILING_NAN, UNLIMITED, RawSeries, ReadLimits, check_option
from tshub.data.readers.formats import suffixes
from tshub.data.readers.lengths import regularize
from tshub.data.readers.text import is_number


def assemble(
    raws: list[RawSeries],
    split_names: list[str] | None,
    *,
    task: Task | None = None,
    variable_length: str = "error",
    missing: str = "error",
    trailing_nan: str = "padding",
    name: str | None = None,
    limits: ReadLimits = UNLIMITED,
    benchmark_splits: bool = False,
) -> Dataset:
    """Concatenate parsed files (one per split name, or one file without splits) into a Dataset.

    A held-out file holding exact copies of training series, or series overlapping them by half their length
    (windows of the same recordings), is warned about, unless ``benchmark_splits``: the files
    are a published benchmark's own splits (the catalogue's UCR sets; 16 of them hold such copies, Crop 2,753 of its
    16,800 test series), whose copies are the benchmark's, not the user's to remove.

    Provenance in ``meta``: format, source_files, source_md5 (md5 of each file's decompressed bytes, in the
    order of source_files: two files may share a name), channel_names (where the files name their channels),
    declared_task (where their headers declare one), series_ids (the column naming every file's series and their
    ids), and what
    was done to gaps (missing_values_filled) and lengths (variable_length).
    """
    check_option("trailing_nan", trailing_nan, TRAILING_NAN)
    for r in raws:
        _refuse_empty(r)
    files = ", ".join(str(r.path) for r in raws)
    raws = _channels_lined_up(raws, files)
    channels = sorted({r.X.shape[1] for r in raws})
    if len(channels) > 1:
        raise DatasetError(f"{files}: the files have different channel counts {channels}; they must match.")
    if len({r.y is None for r in raws}) > 1:
        raise DatasetError(f"{files}: some files have targets and others not; label all of them or none.")
    width = max(r.X.shape[2] for r in raws)
    limits.check_values((sum(len(r.X) for r in raws), channels[0], width), files)
    X = np.concatenate([np.pad(r.X, ((0, 0), (0, 0), (0, width - r.X.shape[2])), constant_values=np.nan) for r in raws])
    offsets = np.cumsum([0] + [len(r.X) for r in raws])

    def where(i: int) -> str:
        j = int(np.searchsorted(offsets, i, side="right") - 1)
        return raws[j].where(i - offsets[j])

    # In a file where every NaN is a missing value, each series is as long as the file's rows; the NaNs that pad a
    # shorter file up to the longest one are still padding, and so are those of a file that declares no equal lengths.
    own_widths = [
        np.full(len(r.X), r.X.shape[2] if trailing_nan == "missing" or r.fixed_length else 0)
        if r.lengths is None
        else r.lengths
        for r in raws
    ]
    widths = np.concatenate(own_widths) if any(w.any() for w in own_widths) else None
    as_read = X
    X, info = regularize(X, variable_length=variable_length, missing=missing, widths=widths, where=where, source=files)
    if split_names is None:
        splits = dict(raws[0].splits) if len(raws) == 1 else {}
    else:
        _refuse_own_splits(raws, split_names)
        _refuse_repeated_files(raws, split_names)
        if not benchmark_splits:
            _warn_of_training_series_held_out_again(as_read, offsets, raws, split_names)
        splits = {s: np.arange(offsets[j], offsets[j + 1]) for j, s in enumerate(split_names)}
    declared = _declared_task(raws)
    y, task, classes = _targets(raws, task or declared, files)
    if raws[0].y is None:
        info["unlabeled"] = True
    provenance = {
        "format": raws[0].format,
        "source_files": [str(r.path) for r in raws],
        **({"source_md5": [r.md5 for r in raws]} if all(r.md5 for r in raws) else {}),
        **({"channel_names": names} if (names := _channel_names(raws)) else {}),
        **({"declared_task": declared} if declared else {}),
        **_series_ids(raws),
        **info,
    }
    ds_name = name or raws[0].name or _stem(raws[0].path)
    try:
        ds = Dataset.from_arrays(
            X.astype(np.float32), y, name=ds_name, task=task, classes=classes, splits=splits, meta=provenance
        )
    except DatasetError as e:
        raise DatasetError(f"{files}: {e}") from None
    return ds if all(r.typed_labels for r in raws) else replace(ds, class_values=None)


def _channels_lined_up(raws: list[RawSeries], files: str) -> list[RawSeries]:
    """The files with their channels in the first file's order where every file names them, each name once (long
    tables): a channel's place in a file is the order its rows or columns happen to come in, which another export
    changes."""
    named = [r.channels for r in raws if r.channels is not None and len(set(r.channels)) == len(r.channels)]
    if len(raws) < 2 or len(named) < len(raws):
        return raws
    first = named[0]
    if any(set(n) != set(first) for n in named[1:]):
        said = "; ".join(f"{r.path}: {', '.join(n)}" for r, n in zip(raws, named))
        raise DatasetError(f"{files}: the files name different channels ({said}); they must name the same ones.")
    return [replace(r, X=r.X[:, [n.index(c) for c in first]], channels=first) for r, n in zip(raws, named)]


def _series_ids(raws: list[RawSeries]) -> dict[str, Any]:
    """``series_ids``: the column naming the series of every file and each series' id in it, in order (nothing where
    the files have no such column): predictions are then written against the ids the user knows, not row numbers."""
    columns = {r.id_column for r in raws}
    if len(columns) > 1 or None in columns or any(r.ids is None for r in raws):
        return {}
    return {"series_ids": {"column": columns.pop(), "ids": [i for r in raws for i in r.ids or []]}}


def _channel_names(raws: list[RawSeries]) -> list[str] | None:
    """The channels' names where the files name them, each once and alike (after ``_channels_lined_up``): names a
    model keeps, by which files to predict on line up with it (``Dataset.ordered_like``)."""
    first = raws[0].channels
    if first is None or len(set(first)) < len(first) or any(r.channels != first for r in raws):
        return None
    return list(first)


def _refuse_own_splits(raws: list[RawSeries], split_names: list[str]) -> None:
    """A file read as one split must hold no other (an .npz's X_test, its splits_*): merged into that split, its test
    series would train, and a test file passed beside it is often those very series."""
    for raw, name in zip(raws, split_names):
        if set(raw.splits) - {name}:
            raise DatasetError(
                f"{raw.path}: the file holds its own splits ({', '.join(sorted(raw.splits))}), which reading it as the "
                f"{name!r} split would merge into one: read it alone (its splits are kept), or save it with the "
                f"{name!r} series only."
            )


def _refuse_repeated_files(raws: list[RawSeries], split_names: list[str]) -> None:
    """The same file read as two splits (the training file passed or uploaded again as the test file) would score
    the model on the very series it trained on, without a word."""
    seen: dict[str, tuple[RawSeries, str]] = {}
    for raw, name in zip(raws, split_names):
        if raw.md5 in seen:
            first, first_name = seen[raw.md5]
            where = raw.path if raw.path == first.path else f"{first.path} and {raw.path}"
            raise DatasetError(
                f"the {first_name!r} and the {name!r} file hold the same bytes ({where}): the {name!r} metrics would "
                f"score the series the model trained on; give the {name!r} split a file of its own series."
            )
        if raw.md5 is not None:
            seen[raw.md5] = (raw, name)


def _warn_of_training_series_held_out_again(
    X: np.ndarray, offsets: np.ndarray, raws: list[RawSeries], split_names: list[str]
) -> None:
    """Warn where a held-out file (any split but "train") holds exact copies of training series, same values and
    same length (``X``: every file's series NaN-padded to one width, as read, before lengths are equalised), and
    where others share half their length or more with a training series (``tshub.data.overlap``: windows of the same
    recordings, overlapping). Its scores then measure series the model trained on, as the same file given twice would
    (``_refuse_repeated_files``), but a few copies may be meant (UCR archive splits hold some), so it is said, not
    refused."""
    if "train" not in split_names:
        return
    part = {name: X[offsets[j] : offsets[j + 1]] for j, name in enumerate(split_names)}
    seen = set(_canonical_rows(part["train"]))
    for raw, name in zip(raws, split_names):
        if name == "train":
            continue
        copied = np.array([row in seen for row in _canonical_rows(part[name])], dtype=bool)
        if copied.any():
            warnings.warn(
                f"{copied.sum()} of the {len(copied)} series of the {name!r} file {raw.path} are exact copies of "
                f"training series (same values, same length): its scores are optimistic, since the model trains on "
                f"those very series; remove them from the {name!r} file (or from the training file) to score series "
                "it has not seen.",
                stacklevel=4,
            )
        run = -(-raw.X.shape[2] // 2)
        if run < MIN_RUN:
            continue
        overlapping = overlapping_training(part["train"], part[name], run) & ~copied
        if overlapping.any():
            warnings.warn(
                f"{overlapping.sum()} of the {len(copied)} series of the {name!r} file {raw.path} share {run} or more "
                f"consecutive values (half their length) with a training series, beyond exact copies: windows cut "
                f"from the same recordings, overlapping the training windows? Their scores are optimistic; cut the "
                f"{name!r} windows from another stretch of the recordings than the training ones, a window's length "
                "apart at least.",
                stacklevel=4,
            )


def _canonical_rows(X: np.ndarray) -> list[bytes]:
    """Each series' values as bytes that equal series share: every NaN (padding of a shorter series) one pattern,
    -0.0 as 0.0."""
    canonical = np.where(np.isnan(X), np.nan, X + 0.0)
    return [row.tobytes() for row in canonical]


def _refuse_empty(raw: RawSeries) -> None:
    """A file without series (an ARFF without instances, an .npz of shape (0, t)) or with series of no values or
    no channels would make an empty dataset that fails only later, deep in training."""
    n, channels, width = raw.X.shape
    if n == 0:
        raise DatasetError(f"{raw.path}: no series; the file must hold at least one.")
    if channels == 0 or width == 0:
        raise DatasetError(
            f"{raw.path}: its series have {channels} channel(s) of {width} values, so no values; store them as "
            "(n, length) or (n, channels, length) with at least one value."
        )


def _targets(raws: list[RawSeries], task: Task | None, files: str) -> tuple[np.ndarray, Task | None, list | None]:
    """Concatenated raw targets, the task (explicit, declared, or None to infer) and declared classes."""
    if raws[0].y is None:  # unlabelled whatever the task, which types labels (a classifier's predict passes its own)
        return np.full(sum(len(r.X) for r in raws), np.nan, dtype=np.float32), "regression", None
    ys = [r.y for r in raws if r.y is not None]  # all of them: assemble checks that all files or none are labeled
    if any(y.dtype.kind in "US" for y in ys):
        ys = [y if y.dtype.kind in "US" else np.array([_num_str(v) for v in y]) for y in ys]
    _refuse_missing_targets(raws)
    if task is None:
        _refuse_targets_of_two_tasks(_target_parts(raws, ys))
    y = np.concatenate(ys)
    classes = raws[0].classes if all(r.classes == raws[0].classes for r in raws) else None
    if task == "regression" and y.dtype.kind in "US":
        try:
            y = y.astype(np.float64)
        except ValueError:
            bad = next(v for v in y if not is_number(v))
            raise DatasetError(f"{files}: task='regression' needs numeric targets, found {bad!r}.") from None
    return y, task, classes


def _target_parts(raws: list[RawSeries], ys: list[np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """The targets of each file, or of each split of a file that holds its own (an .npz's y_train and y_test), named
    as messages name them."""
    parts = []
    for raw, y in zip(raws, ys):
        if raw.splits and len(raws) == 1:
            parts += [(f"{raw.path} ({name} split)", y[idx]) for name, idx in raw.splits.items()]
        else:
            parts.append((str(raw.path), y))
    return parts


def _refuse_targets_of_two_tasks(parts: list[tuple[str, np.ndarray]]) -> None:
    """Files (or splits of one file) whose numbers read as different tasks (whole numbers in one, classes; fractions
    in another, regression) would all be read as a regression, the classes learned as quantities: the task must be
    said."""
    if len(parts) < 2 or any(y.dtype.kind not in "iuf" for _, y in parts):
        return
    tasks = [infer_task(y) if len(y) else None for _, y in parts]
    if {"classification", "regression"} <= set(tasks):
        (classes, _), (values, y) = parts[tasks.index("classification")], parts[tasks.index("regression")]
        raise DatasetError(
            f"{classes}'s targets read as classes (whole numbers), {values}'s as regression values (fractional, "
            f"e.g. {next(v for v in y if v % 1):g}): pass task='classification' or task='regression' to say which, "
            "or check the label column of each file."
        )


def _declared_task(raws: list[RawSeries]) -> Task | None:
    """The task a file's header declares (a .ts's @classLabel or @targetlabel, an ARFF's nominal class)."""
    return next((r.task for r in raws if r.task), None)


def _refuse_missing_targets(raws: list[RawSeries]) -> None:
    """Name the first series whose target is missing (``missing_targets``)."""
    for r in raws:
        if r.y is None:
            continue
        missing = missing_targets(r.y)
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise DatasetError(
                f"{r.where(i)}: the target is {r.y[i]}; every series needs a finite target (drop the unlabelled "
                "series, or read them with label_column=None)."
            )


def _num_str(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def _stem(path: Path) -> str:
    stem = path.name
    for suffix in (".gz", *suffixes()):
        stem = stem.removesuffix(suffix)
    return re.sub(r"_(TRAIN|TEST)$", "", stem, flags=re.IGNORECASE)
