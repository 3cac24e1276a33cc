"""Readers for every supported file format; ``read_file`` dispatches on the suffix through the format registry.

Formats: UCR ``.tsv``/``.tsv.gz`` (tab separated, label first; one with a header row reads as a tab-separated
``.csv``), the old UCR ``.txt`` / ``*_TRAIN`` files (comma or whitespace separated), sktime/aeon ``.ts``, ``.arff``
(flat univariate and the UEA relational multivariate layout, parsed by scipy.io.arff), ``.csv`` (one series per
row) and ``.npz`` (arrays ``X`` and ``y``, never unpickled). Any of them may be gzipped (``.gz``) except ``.npz``.

Untrusted files (the fine-tune service's uploads) are read under ``ReadLimits``: gzip is decompressed as a stream
that stops at a byte cap (concatenated members included), zip members of an ``.npz`` are checked by their declared
sizes and array headers before anything is read, and the series count and the values to allocate are bounded
before allocating, so a small compressed file cannot expand into gigabytes.

Every parser returns a ``RawSeries`` (NaN where a value is missing or pads a shorter series, raw targets, the line
of every series), so gaps and unequal lengths are handled once, by ``regularize``, jointly over all files of a
dataset: ``read_split_files({"train": ..., "test": ...})`` gives train and test the same length.

Layout: ``formats`` (the registry), one module per format family (``delimited``: UCR .tsv/.txt and CSV; ``ts``;
``arff``; ``npz``), ``text`` (safe reading of text files, delimited tables), ``lengths`` (gaps and lengths),
``assemble`` (parsed files → Dataset), ``base`` (options, ``ReadLimits``, ``RawSeries``).

NaN conventions: NaNs after a series' last value are padding of a shorter series (``variable_length`` decides what
happens), NaNs before it are missing values (``missing`` decides). With ``trailing_nan="missing"`` (and in ``.ts``
files declaring ``@equalLength true``) every NaN is a missing value.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tshub.data.dataset import Dataset, DatasetError, Task

# The format modules register their parsers when imported.
from tshub.data.readers import arff, delimited, npz, ts  # noqa: F401
from tshub.data.readers import assemble as assembly  # the module stays tshub.data.readers.assemble
from tshub.data.readers.base import (
    DEFAULT_LABEL_COLUMN,
    MISSING,
    TRAILING_NAN,
    UNLIMITED,
    VARIABLE_LENGTH,
    Missing,
    RawSeries,
    ReadLimits,
    VariableLength,
)
from tshub.data.readers.formats import file_format, get_format, register_format, suffixes
from tshub.data.readers.lengths import regularize
from tshub.data.readers.text import check_line_count, decode_text, read_bytes

__all__ = [
    "DEFAULT_LABEL_COLUMN",
    "MISSING",
    "Missing",
    "TRAILING_NAN",
    "UNLIMITED",
    "VARIABLE_LENGTH",
    "VariableLength",
    "RawSeries",
    "ReadLimits",
    "file_format",
    "parse_file",
    "read_file",
    "read_split_files",
    "regularize",
    "register_format",
]


def read_file(
    path: str | Path,
    *,
    task: Task | None = None,
    label_column: int | str | None = DEFAULT_LABEL_COLUMN,
    variable_length: str = "error",
    missing: str = "error",
    trailing_nan: str = "padding",
    name: str | None = None,
    limits: ReadLimits = UNLIMITED,
    **kw: Any,
) -> Dataset:
    """Read one file into a Dataset (no splits, except the ``splits_*`` arrays of an ``.npz``).

    ``label_column`` picks the target column of delimited text files (index, negative from the end, or a header
    name for CSV; left out, column 0, but a header that names another column like the targets is refused);
    ``None`` reads unlabeled data in every format (targets become NaN, task "regression",
    ``meta["unlabeled"]``). ``.ts``, ``.arff`` and ``.npz`` carry their targets by declaration (ARFF: the last
    attribute). ``variable_length``: "error" | "truncate" (to the shortest) | "pad" (repeat each series' last
    value up to the longest) | "resample" (linear interpolation to the longest). ``missing``: "error" |
    "interpolate" (linear, edges take the nearest value). CSV options: ``delimiter=None`` (detected: ",", ";"
    whose numbers may have decimal commas, or a tab), ``header=None`` (auto; a ``.tsv`` takes it too: with a header
    it reads as a tab-separated CSV). ``limits`` bounds what an untrusted file may make this process read and
    allocate (see ``ReadLimits``).
    """
    raw = parse_file(path, label_column=label_column, limits=limits, **kw)
    return assembly.assemble(
        [raw],
        None,
        task=task,
        variable_length=variable_length,
        missing=missing,
        trailing_nan=trailing_nan,
        name=name,
        limits=limits,
    )


def read_split_files(
    paths: Mapping[str, str | Path],
    *,
    task: Task | None = None,
    label_column: int | str | None = DEFAULT_LABEL_COLUMN,
    variable_length: str = "error",
    missing: str = "error",
    trailing_nan: str = "padding",
    name: str | None = None,
    limits: ReadLimits = UNLIMITED,
    benchmark_splits: bool = False,
    **kw: Any,
) -> Dataset:
    """Read one file per split (e.g. ``{"train": "X_TRAIN.tsv", "test": "X_TEST.tsv"}``) into one Dataset.

    Series are concatenated in the mapping's order and lengths are made equal over all files together; a held-out
    file's exact copies of training series, and its series overlapping one by half their length (windows of the
    same recordings), are warned about unless ``benchmark_splits`` (a published benchmark's own splits, see
    ``assemble``). Options as in ``read_file``.
    """
    if not isinstance(paths, Mapping):
        raise TypeError(
            f"read_split_files takes the files by split name, e.g. {{'train': 'X_TRAIN.ts', 'test': 'X_TEST.ts'}}, got "
            f"a {type(paths).__name__}; one file alone: read_file(path)."
        )
    if not paths:
        raise DatasetError("read_split_files needs at least one {split_name: path} entry.")
    raws = [parse_file(p, label_column=label_column, limits=limits, **kw) for p in paths.values()]
    return assembly.assemble(
        raws,
        list(paths),
        task=task,
        variable_length=variable_length,
        missing=missing,
        trailing_nan=trailing_nan,
        name=name,
        limits=limits,
        benchmark_splits=benchmark_splits,
    )


class InapplicableOption(DatasetError, TypeError):
    """A reader option the file's format does not take: a TypeError to Python code (an unexpected keyword), a data
    error the command line says in one line (``--delimiter`` given with a .ts file)."""


def parse_file(
    path: str | Path,
    *,
    label_column: int | str | None = DEFAULT_LABEL_COLUMN,
    limits: ReadLimits = UNLIMITED,
    **options: Any,
) -> RawSeries:
    """Parse a file of any registered format into a ``RawSeries`` (no length or gap handling yet)."""
    path = Path(path)
    if label_column is not None and not isinstance(label_column, str) and label_column is not DEFAULT_LABEL_COLUMN:
        try:
            label_column = operator.index(label_column)  # numpy integers too
        except TypeError:
            raise DatasetError(
                f"label_column={label_column!r}: give a column index (int), a header name (str) or None."
            ) from None
    fmt = get_format(file_format(path))
    unknown = set(options) - fmt.options
    if unknown:
        takes = {f.name: sorted(f.options) for f in map(get_format, set(suffixes().values())) if f.options}
        raise InapplicableOption(
            f"read_file: option(s) {sorted(unknown)} do not apply to {fmt.name} files ({path}); "
            f"formats that take options: {takes}."
        )
    if not fmt.label_columns and label_column is not None and label_column is not DEFAULT_LABEL_COLUMN:
        raise DatasetError(
            f"label_column={label_column!r} picks a column of a delimited text file, but {path} ({fmt.name}) declares "
            f"its targets itself: drop label_column={label_column!r} (label_column=None reads its series without "
            "targets)."
        )
    if fmt.binary:
        return fmt.parse(path, label_column, limits)
    data = read_bytes(path, limits.max_bytes)
    text = decode_text(path, data)
    if not text.strip():
        raise DatasetError(f"{path}: the file is empty; expected one series per line ({fmt.name} format).")
    check_line_count(path, text, limits.max_series)
    raw = fmt.parse(path, text, label_column, **options, **({"limits": limits} if fmt.bounded else {}))
    raw.md5 = hashlib.md5(data).hexdigest()
    return raw
