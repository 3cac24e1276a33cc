"""Readers for every supported file format; ``read_file`` dispatches on the suffix.

Formats: UCR ``.tsv``/``.tsv.gz`` (tab separated, label first), the old UCR ``.txt`` / ``*_TRAIN`` files (comma or
whitespace separated), sktime/aeon ``.ts``, ``.arff`` (flat univariate and the UEA relational multivariate layout,
parsed by scipy.io.arff), ``.csv`` (one series per row) and ``.npz`` (arrays ``X`` and ``y``, never unpickled).
Any of them may be gzipped (``.gz``) except ``.npz``.

Untrusted files (the fine-tune service's uploads) are read under ``ReadLimits``: gzip is decompressed as a stream
that stops at a byte cap (concatenated members included), zip members of an ``.npz`` are checked by their declared
sizes and array headers before anything is read, and the series count and the values to allocate are bounded
before allocating, so a small compressed file cannot expand into gigabytes.

Every parser returns a ``RawSeries`` (NaN where a value is missing or pads a shorter series, raw targets, the line
of every series), so gaps and unequal lengths are handled once, by ``regularize``, jointly over all files of a
dataset: ``read_split_files({"train": ..., "test": ...})`` gives train and test the same length.

NaN conventions: NaNs after a series' last value are padding of a shorter series (``variable_length`` decides what
happens), NaNs before it are missing values (``missing`` decides). With ``trailing_nan="missing"`` (and in ``.ts``
files declaring ``@equalLength true``) every NaN is a missing value.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tshub.data.dataset import Dataset, DatasetError, Task

VARIABLE_LENGTH = ("error", "truncate", "pad", "resample")
MISSING = ("error", "interpolate")
TRAILING_NAN = ("padding", "missing")
FORMATS = {".tsv": "ucr-tsv", ".txt": "ucr-txt", ".ts": "ts", ".arff": "arff", ".csv": "csv", ".npz": "npz"}
_FORMAT_OPTIONS = {"csv": {"delimiter", "header"}}
_MISSING_TOKENS = ("", "?")
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # everything str.splitlines splits on
_CHUNK = 1 << 20
_MAX_NPZ_MEMBERS = 64


@dataclass(frozen=True)
class ReadLimits:
    """Caps for reading untrusted files; None means no cap (trusted local files, the default).

    ``max_bytes``: decompressed bytes of a text file, and declared uncompressed bytes of all members of an .npz;
    ``max_series``: series (lines) in a file; ``max_values``: values (series × channels × length) to allocate.
    """

    max_bytes: int | None = None
    max_series: int | None = None
    max_values: int | None = None

    def check_values(self, shape: tuple[int, ...], where: str) -> None:
        count = int(np.prod(shape, dtype=np.float64))
        if self.max_values is not None and count > self.max_values:
            raise DatasetError(f"{where}: {' × '.join(map(str, shape))} = {count:,} values, over the limit of "
                               f"{self.max_values:,}; send fewer or shorter series.")


UNLIMITED = ReadLimits()


@dataclass
class RawSeries:
    """One file as parsed, before gaps and lengths are handled.

    ``X`` is float64 (n, channels, width) with NaN for missing or padding values, ``y`` the raw targets (strings or
    floats; None when the file has none), ``lines`` the 1-based line of each series (0 for binary formats).
    """

    path: Path
    format: str
    X: np.ndarray
    y: np.ndarray | None
    lines: np.ndarray
    classes: list[str] | None = None
    task: Task | None = None
    name: str | None = None
    fixed_length: bool = False
    splits: dict[str, np.ndarray] = field(default_factory=dict)
    md5: str | None = None

    def where(self, i: int) -> str:
        return f"{self.path}, line {self.lines[i]}" if self.lines[i] else f"{self.path}, series {i}"


# ===================================================================== public entry points
def read_file(
    path: str | Path,
    *,
    task: Task | None = None,
    label_column: int | str | None = 0,
    variable_length: str = "error",
    missing: str = "error",
    trailing_nan: str = "padding",
    name: str | None = None,
    limits: ReadLimits = UNLIMITED,
    **kw: Any,
) -> Dataset:
    """Read one file into a Dataset (no splits, except the ``splits_*`` arrays of an ``.npz``).

    ``label_column`` picks the target column of delimited text files (index, negative from the end, or a header
    name for CSV); ``None`` reads unlabeled data in every format (targets become NaN, task "regression",
    ``meta["unlabeled"]``). ``.ts``, ``.arff`` and ``.npz`` carry their targets by declaration (ARFF: the last
    attribute). ``variable_length``: "error" | "truncate" (to the shortest) | "pad" (repeat each series' last
    value up to the longest) | "resample" (linear interpolation to the longest). ``missing``: "error" |
    "interpolate" (linear, edges take the nearest value). CSV options: ``delimiter=","``, ``header=None`` (auto).
    ``limits`` bounds what an untrusted file may make this process read and allocate (see ``ReadLimits``).
    """
    raw = parse_file(path, label_column=label_column, limits=limits, **kw)
    return assemble([raw], None, task=task, variable_length=variable_length, missing=missing,
                    trailing_nan=trailing_nan, name=name, limits=limits)


def read_split_files(
    paths: Mapping[str, str | Path],
    *,
    task: Task | None = None,
    label_column: int | str | None = 0,
    variable_length: str = "error",
    missing: str = "error",
    trailing_nan: str = "padding",
    name: str | None = None,
    limits: ReadLimits = UNLIMITED,
    **kw: Any,
) -> Dataset:
    """Read one file per split (e.g. ``{"train": "X_TRAIN.tsv", "test": "X_TEST.tsv"}``) into one Dataset.

    Series are concatenated in the mapping's order and lengths are made equal over all files together.
    Options as in ``read_file``.
    """
    if not paths:
        raise DatasetError("read_split_files needs at least one {split_name: path} entry.")
    raws = [parse_file(p, label_column=label_column, limits=limits, **kw) for p in paths.values()]
    return assemble(raws, list(paths), task=task, variable_length=variable_length, missing=missing,
                    trailing_nan=trailing_nan, name=name, limits=limits)


def parse_file(path: str | Path, *, label_column: int | str | None = 0, limits: ReadLimits = UNLIMITED,
               **kw: Any) -> RawSeries:
    """Parse a file of any supported format into a ``RawSeries`` (no length or gap handling yet)."""
    path = Path(path)
    fmt = file_format(path)
    unknown = set(kw) - _FORMAT_OPTIONS.get(fmt, set())
    if unknown:
        raise TypeError(f"read_file: option(s) {sorted(unknown)} do not apply to {fmt} files ({path}); "
                        f"options for CSV files: {sorted(_FORMAT_OPTIONS['csv'])}.")
    if fmt == "npz":
        return _parse_npz(path, label_column, limits)
    data = _read_bytes(path, limits.max_bytes)
    text = _decode(path, data)
    if not text.strip():
        raise DatasetError(f"{path}: the file is empty; expected one series per line ({fmt} format).")
    _check_line_count(path, text, limits.max_series)
    parser = {"ucr-tsv": _parse_ucr_tsv, "ucr-txt": _parse_ucr_txt, "ts": _parse_ts, "arff": _parse_arff,
              "csv": _parse_csv}[fmt]
    raw = parser(path, text, label_column, **({"limits": limits} if fmt == "ts" else kw))
    raw.md5 = hashlib.md5(data).hexdigest()
    return raw


def file_format(path: Path) -> str:
    """The format name of a path from its suffix (``.gz`` looked through); old UCR files end in _TRAIN/_TEST."""
    lower = path.name.lower().removesuffix(".gz")
    fmt = FORMATS.get(Path(lower).suffix)
    if fmt == "npz" and path.name.lower().endswith(".gz"):
        raise DatasetError(f"{path}: an .npz archive is already compressed; read the uncompressed .npz.")
    if fmt is None and re.search(r"_(train|test)$", lower):
        fmt = "ucr-txt"
    if fmt is None:
        raise DatasetError(f"{path}: unsupported file type; supported suffixes: {', '.join(FORMATS)} "
                           "(optionally .gz), or an old UCR file named *_TRAIN / *_TEST.")
    return fmt


# ===================================================================== gaps and lengths
def regularize(
    X: np.ndarray,
    *,
    variable_length: str = "error",
    missing: str = "error",
    padding: bool = True,
    where: Callable[[int], str] = lambda i: f"series {i}",
    source: str = "data",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fill missing values and equalise lengths of NaN-padded (n, c, w) series; returns (X, provenance).

    With ``padding`` NaNs after a series' last value mark a shorter series; otherwise they are missing values.
    "pad" repeats the last value (no artificial step to zero, deterministic, unlike the archive's low-amplitude
    noise); "resample" stretches every series onto the longest length by linear interpolation.
    """
    _check_option("variable_length", variable_length, VARIABLE_LENGTH)
    _check_option("missing", missing, MISSING)
    X = np.asarray(X, dtype=np.float64)
    nan = np.isnan(X)
    if not nan.any():
        return X, {}
    n, c, w = X.shape
    finite = ~nan
    empty = ~finite.any(axis=2)
    if empty.any():
        i, k = np.argwhere(empty)[0]
        raise DatasetError(f"{where(i)}: {_channel(k, c)}has no values (all missing); remove that series.")
    lengths = w - np.argmax(finite[:, :, ::-1], axis=2) if padding else np.full((n, c), w)
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
        raise DatasetError(
            f"{source}: series have different lengths ({lo} to {hi} values; the shortest is at {where(i)}); "
            f"pass variable_length='truncate' (cut all to {lo}), 'pad' (repeat each series' last value up to "
            f"{hi}) or 'resample' (linear interpolation to {hi})."
        )
    X = _equalize(X, lengths, variable_length)
    info["variable_length"] = {"method": variable_length, "min_length": lo, "max_length": hi,
                               "length": int(X.shape[2])}
    return X, info


def _fill_gaps(X: np.ndarray, gaps: np.ndarray, lengths: np.ndarray, missing: str,
               where: Callable[[int], str]) -> np.ndarray:
    if missing == "error":
        i, k, t = np.argwhere(gaps)[0]
        raise DatasetError(
            f"{where(i)}: missing value (NaN, '?' or empty) at time step {t} {_channel(k, X.shape[1])}inside the "
            "series, not padding after its end; pass missing='interpolate' to fill gaps linearly, or clean the file."
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


# ===================================================================== assembling a Dataset
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
) -> Dataset:
    """Concatenate parsed files (one per split name, or one file without splits) into a Dataset.

    Provenance in ``meta``: format, source_files, source_md5 (md5 of each file's decompressed bytes), and what
    was done to gaps (missing_values_filled) and lengths (variable_length).
    """
    _check_option("trailing_nan", trailing_nan, TRAILING_NAN)
    files = ", ".join(str(r.path) for r in raws)
    channels = sorted({r.X.shape[1] for r in raws})
    if len(channels) > 1:
        raise DatasetError(f"{files}: the files have different channel counts {channels}; they must match.")
    if len({r.y is None for r in raws}) > 1:
        raise DatasetError(f"{files}: some files have targets and others not; label all of them or none.")
    width = max(r.X.shape[2] for r in raws)
    limits.check_values((sum(len(r.X) for r in raws), channels[0], width), files)
    X = np.concatenate([np.pad(r.X, ((0, 0), (0, 0), (0, width - r.X.shape[2])), constant_values=np.nan)
                        for r in raws])
    offsets = np.cumsum([0] + [len(r.X) for r in raws])

    def where(i: int) -> str:
        j = int(np.searchsorted(offsets, i, side="right") - 1)
        return raws[j].where(i - offsets[j])

    padding = trailing_nan == "padding" and not any(r.fixed_length for r in raws)
    X, info = regularize(X, variable_length=variable_length, missing=missing, padding=padding, where=where,
                         source=files)
    if split_names is None:
        splits = dict(raws[0].splits) if len(raws) == 1 else {}
    else:
        splits = {s: np.arange(offsets[j], offsets[j + 1]) for j, s in enumerate(split_names)}
    y, task, classes = _targets(raws, task, files)
    if raws[0].y is None:
        info["unlabeled"] = True
    provenance = {
        "format": raws[0].format,
        "source_files": [str(r.path) for r in raws],
        **({"source_md5": {r.path.name: r.md5 for r in raws}} if all(r.md5 for r in raws) else {}),
        **info,
    }
    ds_name = name or raws[0].name or _stem(raws[0].path)
    try:
        return Dataset.from_arrays(X.astype(np.float32), y, name=ds_name, task=task, classes=classes,
                                   splits=splits, meta=provenance)
    except DatasetError as e:
        raise DatasetError(f"{files}: {e}") from None


def _targets(raws: list[RawSeries], task: Task | None, files: str) -> tuple[np.ndarray, Task | None, list | None]:
    """Concatenated raw targets, the task (explicit, declared, or None to infer) and declared classes."""
    declared = next((r.task for r in raws if r.task), None)
    task = task or declared
    if raws[0].y is None:
        if task == "classification":
            raise DatasetError(f"{files}: no class labels found (label_column=None or an unlabeled file) but "
                               "task='classification'; point label_column at the labels.")
        return np.full(sum(len(r.X) for r in raws), np.nan, dtype=np.float32), "regression", None
    ys = [r.y for r in raws]
    if any(y.dtype.kind in "US" for y in ys):
        ys = [y if y.dtype.kind in "US" else np.array([_num_str(v) for v in y]) for y in ys]
    y = np.concatenate(ys)
    classes = raws[0].classes if all(r.classes == raws[0].classes for r in raws) else None
    if task == "regression" and y.dtype.kind in "US":
        try:
            y = y.astype(np.float64)
        except ValueError:
            bad = next(v for v in y if not _is_number(v))
            raise DatasetError(f"{files}: task='regression' needs numeric targets, found {bad!r}.") from None
    return y, task, classes


def _num_str(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _stem(path: Path) -> str:
    stem = path.name
    for suffix in (".gz", *FORMATS):
        stem = stem.removesuffix(suffix)
    return re.sub(r"_(TRAIN|TEST)$", "", stem, flags=re.IGNORECASE)


def _check_option(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise DatasetError(f"{name}={value!r} is not an option; choose one of {', '.join(map(repr, allowed))}.")


# ===================================================================== text helpers
def _read_bytes(path: Path, max_bytes: int | None = None) -> bytes | bytearray:
    """The file's bytes, gunzipped as a stream (every member of a concatenated gzip) that stops past ``max_bytes``."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file.")
    gzipped = path.name.lower().endswith(".gz")
    data = bytearray()
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            while chunk := f.read(_CHUNK):
                data += chunk
                if max_bytes is not None and len(data) > max_bytes:
                    raise DatasetError(f"{path}: {'decompresses' if gzipped else 'is'} to more than "
                                       f"{max_bytes / 2**20:g} MB, the limit for one file; send a smaller file.")
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: cannot decompress ({e}); is it a complete gzip file?") from None
    return data


def _check_line_count(path: Path, text: str, max_series: int | None) -> None:
    """Refuse more lines than ``max_series`` (+ a header allowance) before splitting the text into lines."""
    if max_series is None:
        return
    lines = sum(text.count(c) for c in _LINE_BREAKS)
    if lines > max_series + 1000:
        raise DatasetError(f"{path}: {lines:,} lines, more than the {max_series:,} series one file may hold; "
                           "send fewer series (or several datasets).")


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DatasetError(f"{path}, line {line}: not UTF-8 text; expected a text file of numbers.") from None


def _numbered_lines(text: str, skip: int = 0) -> tuple[list[str], np.ndarray]:
    """Non-blank lines after the first ``skip`` lines, with their 1-based line numbers."""
    numbered = [(i + 1, line) for i, line in enumerate(text.splitlines()) if i >= skip and line.strip()]
    return [line for _, line in numbered], np.array([i for i, _ in numbered], dtype=np.int64)


def _parse_table(path: Path, lines: list[str], numbers: np.ndarray, sep: str | None,
                 label_column: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """A delimited table (one series per line) into float values (n, w) and the raw label column.

    Fast path: one ``np.fromstring`` over the whole block; on anything unusual (empty or '?' fields, text labels,
    bad values, rows of unequal length) a per-line pass parses what it can and names the first bad line and column.
    A shorter row is a shorter series, NaN-padded here (``variable_length`` decides later); a negative
    ``label_column`` counts from the end of each row.
    """
    widths = np.fromiter((len(s.split()) if sep is None else s.count(sep) + 1 for s in lines), np.int64, len(lines))
    if np.any(widths != widths[0]):
        return _parse_table_by_line(path, lines, numbers, sep, label_column)
    width = int(widths[0])
    col = _column_index(path, label_column, width)
    if width - (col is not None) < 1:
        raise DatasetError(f"{path}, line {numbers[0]}: no series values besides the label column.")
    block = "\n".join(lines)
    if sep not in (None, "\t", " "):
        block = block.replace(sep, " ")
    try:
        values = np.fromstring(block, sep=" ")
    except ValueError:
        values = None
    if values is None or values.size != len(lines) * width:
        return _parse_table_by_line(path, lines, numbers, sep, col)
    values = values.reshape(len(lines), width)
    if col is None:
        return values, None
    labels = values[:, col]
    if np.isnan(labels).any():
        raise DatasetError(f"{path}, line {numbers[np.flatnonzero(np.isnan(labels))[0]]}: the label "
                           f"(column {col + 1}) is missing.")
    return np.delete(values, col, axis=1), labels


def _parse_table_by_line(path: Path, lines: list[str], numbers: np.ndarray, sep: str | None,
                         label_column: int | str | None) -> tuple[np.ndarray, np.ndarray | None]:
    rows = [line.split(sep) for line in lines]
    values = np.full((len(rows), max(map(len, rows)) - (label_column is not None)), np.nan)
    labels: list[str] = []
    for i, (fields, number) in enumerate(zip(rows, numbers)):
        if label_column is not None:
            col = _column_index(path, label_column, len(fields), f"line {number}")
            label = _unquote(fields.pop(col))
            if label in _MISSING_TOKENS or label.lower() == "nan":
                raise DatasetError(f"{path}, line {number}: the label (column {col + 1}) is missing.")
            labels.append(label)
            if not fields:
                raise DatasetError(f"{path}, line {number}: no series values besides the label column.")
        values[i, :len(fields)] = _parse_numbers(
            fields, path, f"line {number}", lambda j: j + 1 + (label_column is not None and j >= col))
    return values, (None if label_column is None else _label_array(labels))


def _parse_numbers(fields: list[str], path: Path, where: str, column: Callable[[int], int]) -> np.ndarray:
    """Floats from text fields; '', '?' and NaN are missing; a bad field is reported with its column."""
    try:
        return np.array(fields, dtype=np.float64)
    except ValueError:
        pass
    out = np.empty(len(fields))
    for j, f in enumerate(fields):
        s = f.strip()
        if s in _MISSING_TOKENS:
            out[j] = np.nan
            continue
        try:
            out[j] = float(s)
        except ValueError:
            raise DatasetError(f"{path}, {where}, column {column(j)}: non-numeric value {s[:40]!r}; expected a "
                               "number ('', '?' or NaN mark a missing value).") from None
    return out


def _label_array(labels: list[str]) -> np.ndarray:
    """Labels as floats when they all are numbers (regression targets, UCR classes), otherwise as strings."""
    try:
        return np.array(labels, dtype=np.float64)
    except ValueError:
        return np.array(labels)


def _column_index(path: Path, label_column: int | str | None, width: int, where: str = "") -> int | None:
    if label_column is None:
        return None
    if isinstance(label_column, str):
        raise DatasetError(f"{path}: label_column={label_column!r} names a column, but this file has no header; "
                           "give the column index instead.")
    if not -width <= label_column < width:
        raise DatasetError(f"{path}{', ' + where if where else ''}: label_column={label_column} is outside the "
                           f"{width} columns.")
    return label_column % width


def _unquote(s: str) -> str:
    s = s.strip()
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"" else s


def _raw_table(path: Path, fmt: str, values: np.ndarray, labels: np.ndarray | None, numbers: np.ndarray) -> RawSeries:
    return RawSeries(path=path, format=fmt, X=values[:, None, :], y=labels, lines=numbers)


# ===================================================================== UCR text formats and CSV
def _parse_ucr_tsv(path: Path, text: str, label_column: int | str | None) -> RawSeries:
    lines, numbers = _numbered_lines(text)
    values, labels = _parse_table(path, lines, numbers, "\t", label_column)
    return _raw_table(path, "ucr-tsv", values, labels, numbers)


def _parse_ucr_txt(path: Path, text: str, label_column: int | str | None) -> RawSeries:
    """The UCR 2015 layout: label first, then values, separated by commas or by whitespace."""
    lines, numbers = _numbered_lines(text)
    sep = "," if "," in lines[0] else None
    values, labels = _parse_table(path, lines, numbers, sep, label_column)
    return _raw_table(path, "ucr-txt", values, labels, numbers)


def _parse_csv(path: Path, text: str, label_column: int | str | None, *, delimiter: str = ",",
               header: bool | None = None) -> RawSeries:
    """One series per row; an optional header (auto-detected: a non-numeric value outside the label column)."""
    lines, numbers = _numbered_lines(text)
    first = [_unquote(f) for f in lines[0].split(delimiter)]
    if header is None:
        skip = label_column if isinstance(label_column, int) else None
        header = isinstance(label_column, str) or any(
            not _is_number(f) and f not in _MISSING_TOKENS for j, f in enumerate(first)
            if skip is None or j != skip % len(first))
    if isinstance(label_column, str):
        if not header:
            raise DatasetError(f"{path}: label_column={label_column!r} names a column but header=False.")
        if label_column not in first:
            raise DatasetError(f"{path}, line {numbers[0]}: no column named {label_column!r} in the header "
                               f"(columns: {first[:10]}{' ...' if len(first) > 10 else ''}).")
        label_column = first.index(label_column)
    if header:
        lines, numbers = lines[1:], numbers[1:]
        if not lines:
            raise DatasetError(f"{path}: only a header line, no series.")
        widths = [line.count(delimiter) + 1 for line in lines]
        wide = next((i for i, w in enumerate(widths) if w > len(first)), None)
        if wide is not None or (widths[0] != len(first) and len(set(widths)) == 1):
            j = 0 if wide is None else wide
            raise DatasetError(f"{path}, line {numbers[j]}: {widths[j]} fields, but the header has {len(first)} "
                               "column names; they must match (shorter rows are shorter series).")
    values, labels = _parse_table(path, lines, numbers, delimiter, label_column)
    return _raw_table(path, "csv", values, labels, numbers)


# ===================================================================== sktime / aeon .ts
def _parse_ts(path: Path, text: str, label_column: int | str | None, limits: ReadLimits = UNLIMITED) -> RawSeries:
    """The sktime/aeon .ts format: @-header, then one series per line, dimensions ':'-separated, label last."""
    all_lines = text.splitlines()
    header: dict[str, tuple[str, int]] = {}
    data_start = None
    for i, line in enumerate(all_lines):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if not s.startswith("@"):
            raise DatasetError(f"{path}, line {i + 1}: expected a header line starting with '@' (or @data) before "
                               f"the series, got {s[:40]!r}.")
        key, _, value = s[1:].partition(" ")
        if key.lower() == "data":
            data_start = i + 1
            break
        header[key.lower()] = (value.strip(), i + 1)
    if data_start is None:
        raise DatasetError(f"{path}: missing @data line; a .ts file has its @-header (@problemName, @classLabel, "
                           "...) then @data and one series per line.")
    if _ts_bool(path, header, "timestamps", False):
        raise DatasetError(f"{path}, line {header['timestamps'][1]}: @timeStamps true is not supported; write the "
                           "values without timestamps (resample irregular series first).")
    class_value = header.get("classlabel", ("false", 0))[0].split()
    has_classes = _ts_bool(path, header, "classlabel", False)
    is_regression = _ts_bool(path, header, "targetlabel", False)
    labeled = (has_classes or is_regression) and label_column is not None
    classes = [_unquote(c) for c in class_value[1:]] if has_classes else None
    equal = _ts_bool(path, header, "equallength", False)
    expected_dims = _ts_int(path, header, "dimensions")
    if expected_dims is None and _ts_bool(path, header, "univariate", False):
        expected_dims = 1
    lines, numbers = _numbered_lines(text, skip=data_start)
    lines_numbers = [(s.strip(), n) for s, n in zip(lines, numbers) if not s.lstrip().startswith("#")]
    if not lines_numbers:
        raise DatasetError(f"{path}: no series after @data (line {data_start}).")
    series: list[list[np.ndarray]] = []
    labels: list[str] = []
    for s, number in lines_numbers:
        parts = s.split(":")
        if labeled:
            if len(parts) < 2:
                raise DatasetError(f"{path}, line {number}: label missing; expected '<values>:<label>' "
                                   "(@classLabel/@targetlabel true).")
            labels.append(_ts_label(path, number, parts.pop().strip(), classes, is_regression, expected_dims))
        expected_dims = expected_dims or len(parts)
        if len(parts) != expected_dims:
            raise DatasetError(f"{path}, line {number}: {len(parts)} dimension(s), expected {expected_dims} "
                               "(dimensions are separated by ':'" + (", the label comes last)." if labeled else ")."))
        series.append([_ts_values(path, number, d, part) for d, part in enumerate(parts)])
    lengths = np.array([[len(v) for v in dims] for dims in series])
    if equal:
        expected = _ts_int(path, header, "serieslength") or int(lengths[0, 0])
        bad = np.argwhere(lengths != expected)
        if bad.size:
            i, d = bad[0]
            raise DatasetError(f"{path}, line {lines_numbers[i][1]}: dimension {d} has {lengths[i, d]} values, "
                               f"expected {expected} (@equalLength true); set @equalLength false for unequal lengths.")
    limits.check_values((len(series), expected_dims, int(lengths.max())), str(path))
    X = np.full((len(series), expected_dims, int(lengths.max())), np.nan)
    for i, dims in enumerate(series):
        for d, v in enumerate(dims):
            X[i, d, : len(v)] = v
    y = None if not labeled else (np.array(labels, dtype=np.float64) if is_regression else np.array(labels))
    return RawSeries(path=path, format="ts", X=X, y=y, lines=np.array([n for _, n in lines_numbers]),
                     classes=classes if labeled else None,
                     task=None if not labeled else ("regression" if is_regression else "classification"),
                     name=header.get("problemname", (None, 0))[0], fixed_length=equal)


def _ts_label(path: Path, number: int, label: str, classes: list[str] | None, is_regression: bool,
              dims: int | None) -> str:
    if label in _MISSING_TOKENS:
        raise DatasetError(f"{path}, line {number}: label missing after the last ':'.")
    if "," in label:
        raise DatasetError(f"{path}, line {number}: label missing; the last ':' field holds values "
                           f"({label[:30]!r}...), expected {dims or 'the'} dimension(s) then ':<label>'.")
    if is_regression and not _is_number(label):
        raise DatasetError(f"{path}, line {number}: target {label!r} is not a number (@targetlabel true).")
    if classes is not None and _unquote(label) not in classes:
        raise DatasetError(f"{path}, line {number}: label {label!r} is not among the declared @classLabel "
                           f"values {classes[:10]}.")
    return _unquote(label)


def _ts_values(path: Path, number: int, dim: int, part: str) -> np.ndarray:
    if "(" in part:
        raise DatasetError(f"{path}, line {number}: timestamped values '(t, v)' are not supported.")
    fields = part.split(",")
    try:
        values = np.fromstring(part.replace("?", "NaN"), sep=",")
        if values.size == len(fields):
            return values
    except ValueError:
        pass
    values = _parse_numbers(fields, path, f"line {number}, dimension {dim}", lambda j: j + 1)
    empty = [j for j, f in enumerate(fields) if not f.strip()]
    if empty:
        raise DatasetError(f"{path}, line {number}, dimension {dim}: empty value at position {empty[0] + 1}; "
                           "write '?' for a missing value.")
    return values


def _ts_bool(path: Path, header: dict[str, tuple[str, int]], key: str, default: bool) -> bool:
    if key not in header:
        return default
    value, line = header[key]
    word = value.split()[0].lower() if value else ""
    if word not in ("true", "false"):
        raise DatasetError(f"{path}, line {line}: @{key} must be true or false, got {value[:30]!r}.")
    return word == "true"


def _ts_int(path: Path, header: dict[str, tuple[str, int]], key: str) -> int | None:
    if key not in header:
        return None
    value, line = header[key]
    if not value.isdigit():
        raise DatasetError(f"{path}, line {line}: @{key} must be a whole number, got {value!r}.")
    return int(value)


# ===================================================================== ARFF (scipy.io.arff)
_ATTRIBUTE = re.compile(r"@attribute\s+('[^']*'|\"[^\"]*\"|\S+)\s+(.+)", re.IGNORECASE)


def _parse_arff(path: Path, text: str, label_column: int | str | None) -> RawSeries:
    """Flat ARFF (numeric attributes, class last) or the UEA relational layout (one quoted block per series,
    channels separated by '\\n', then the class). scipy.io.arff parses; failures are located here by line."""
    from scipy.io import arff  # imported here: scipy.io is slow to import and only ARFF needs it

    data_line = _arff_data_line(path, text)
    try:
        data, meta = arff.loadarff(io.StringIO(text))
    except (ValueError, IndexError, StopIteration, NotImplementedError, arff.ArffError) as e:
        raise DatasetError(_arff_failure(path, text, data_line, e)) from None
    names, types = meta.names(), meta.types()
    lines, numbers = _numbered_lines(text, skip=data_line)
    numbers = np.array([n for n, s in zip(numbers, lines) if not s.lstrip().startswith("%")], dtype=np.int64)
    if len(numbers) != len(data):
        numbers = np.zeros(len(data), dtype=np.int64)
    target = names[-1] if label_column is not None and len(names) > 1 else None
    series_names = [n for n in names if n != target]
    if types[0] == "relational":
        if len(series_names) > 1:
            raise DatasetError(f"{path}: a relational ARFF holds one relational attribute and the class; found "
                               f"extra attributes {series_names[1:]}.")
        X = np.stack([np.array(block.tolist(), dtype=np.float64).reshape(len(block), -1)
                      for block in data[names[0]]])
    else:
        non_numeric = [n for n in series_names if meta[n][0] != "numeric"]
        if non_numeric:
            raise DatasetError(f"{path}: attribute {non_numeric[0]!r} is {meta[non_numeric[0]][0]}; series "
                               "attributes must be numeric (the class attribute comes last).")
        X = np.stack([data[n].astype(np.float64) for n in series_names], axis=1)[:, None, :]
    raw = RawSeries(path=path, format="arff", X=X, y=None, lines=numbers, name=meta.name)
    if target is not None:
        kind, declared = meta[target]
        if kind == "nominal":
            y = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in data[target]])
            raw.classes, raw.task = [str(c) for c in declared], "classification"
        else:
            y = data[target].astype(np.float64)
            raw.task = "regression"
        missing = np.flatnonzero(y == "?") if y.dtype.kind == "U" else np.flatnonzero(np.isnan(y))
        if missing.size:
            raise DatasetError(f"{raw.where(missing[0])}: the class ({target!r}, the last attribute) is missing.")
        raw.y = y
    return raw


def _arff_data_line(path: Path, text: str) -> int:
    match = re.search(r"^[ \t]*@data\b", text, re.IGNORECASE | re.MULTILINE)
    if match is None:
        raise DatasetError(f"{path}: missing @data line; an ARFF file declares @relation and its @attribute lines, "
                           "then @data and one instance per line.")
    return text.count("\n", 0, match.start()) + 1


def _arff_failure(path: Path, text: str, data_line: int, error: Exception) -> str:
    """Name the line scipy stumbled on: check each data line's field count, numbers and nominal values."""
    outer: list[tuple[str, str]] = []
    inner: list[str] = []
    in_relational = False
    for line in text.splitlines()[:data_line]:
        s = line.strip()
        if s.lower().startswith("@end"):
            in_relational = False
        match = _ATTRIBUTE.match(s)
        if match and in_relational:
            inner.append(match.group(2).strip())
        elif match:
            outer.append((match.group(1), match.group(2).strip()))
            in_relational = match.group(2).strip().lower().startswith("relational")
    lines, numbers = _numbered_lines(text, skip=data_line)
    for line, number in zip(lines, numbers):
        s = line.strip()
        if s.startswith("%"):
            continue
        problem = _arff_line_problem(s, outer, inner)
        if problem:
            return f"{path}, line {number}: {problem}"
    return f"{path}: cannot parse the ARFF file ({type(error).__name__}: {error})."


def _arff_line_problem(line: str, outer: list[tuple[str, str]], inner: list[str]) -> str | None:
    fields: list[str]
    if inner and line[:1] in "'\"":
        end = line.rfind(line[0])
        channels = line[1:end].split("\\n")
        fields = [line[1:end]] + [f for f in line[end + 1:].split(",") if f.strip()]
        for c, channel in enumerate(channels):
            values = channel.split(",")
            if len(values) != len(inner):
                return f"channel {c} has {len(values)} values, expected {len(inner)} (one per inner @attribute)."
            bad = next((v for v in values if v.strip() != "?" and not _is_number(v)), None)
            if bad is not None:
                return f"non-numeric value {bad.strip()[:40]!r} in channel {c}; expected a number or '?'."
    else:
        fields = line.split(",")
    if len(fields) != len(outer):
        return f"{len(fields)} values, expected {len(outer)} (one per @attribute)."
    for j, ((name, kind), value) in enumerate(zip(outer, fields)):
        v = _unquote(value)
        if kind.lower() in ("numeric", "real", "integer") and v != "?" and not _is_number(v):
            return f"column {j + 1} ({name}): non-numeric value {v[:40]!r}; expected a number or '?'."
        if kind.startswith("{"):
            allowed = [_unquote(a) for a in kind.strip("{}").split(",")]
            if v not in allowed and v != "?":
                return f"column {j + 1} ({name}): value {v!r} is not among the declared {{{','.join(allowed)}}}."
        if kind.lower() == "string":
            return f"string attribute {name!r} is not supported; declare it nominal {{...}} or numeric."
    return None


# ===================================================================== NumPy .npz
def _parse_npz(path: Path, label_column: int | str | None, limits: ReadLimits = UNLIMITED) -> RawSeries:
    """Arrays ``X`` ((n, t) or (n, c, t)), ``y`` (labels or values; indices when ``classes`` is given),
    optional ``classes`` and ``splits_<name>`` index arrays. Object arrays are refused (no unpickling)."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file.")
    _check_npz_members(path, limits)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{path}: not a readable .npz archive ({e}); save it with numpy.savez.") from None
    with archive:
        keys = set(archive.files)
        if "X" not in keys:
            raise DatasetError(f"{path}: no array 'X' (keys: {sorted(keys)}); store the series as X.")
        X = _npz_array(archive, path, "X")
        if X.dtype.kind not in "fiub" or X.ndim not in (2, 3):
            raise DatasetError(f"{path}: key 'X' must be a numeric array of shape (n, length) or "
                               f"(n, channels, length), got dtype {X.dtype} shape {X.shape}.")
        raw = RawSeries(path=path, format="npz", X=(X[:, None, :] if X.ndim == 2 else X).astype(np.float64),
                        y=None, lines=np.zeros(len(X), dtype=np.int64), md5=hashlib.md5(path.read_bytes()).hexdigest())
        if label_column is not None:
            raw.y, raw.classes = _npz_targets(archive, path, keys, len(X))
            raw.task = "classification" if raw.classes is not None else None
        for key in sorted(k for k in keys if k.startswith("splits_")):
            idx = _npz_array(archive, path, key)
            if idx.dtype.kind not in "iu" or idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= len(X))):
                raise DatasetError(f"{path}: key {key!r} must be a 1-d integer array of indices in [0, {len(X)}).")
            raw.splits[key.removeprefix("splits_")] = idx.astype(np.int64)
    return raw


def _npz_targets(archive: Any, path: Path, keys: set[str], n: int) -> tuple[np.ndarray, list[str] | None]:
    if "y" not in keys:
        raise DatasetError(f"{path}: no array 'y' (keys: {sorted(keys)}); store the targets as y, or pass "
                           "label_column=None for unlabeled series.")
    y = _npz_array(archive, path, "y")
    if len(y) != n:
        raise DatasetError(f"{path}: 'X' has {n} series but 'y' has {len(y)} targets; they must match one to one.")
    if "classes" not in keys:
        return y, None
    classes = [str(c) for c in _npz_array(archive, path, "classes").tolist()]
    if y.dtype.kind in "iu":
        if y.size and (y.min() < 0 or y.max() >= len(classes)):
            raise DatasetError(f"{path}: integer 'y' indexes 'classes' but lies outside [0, {len(classes)}).")
        return np.array(classes)[y], classes
    return y, classes


def _npz_array(archive: Any, path: Path, key: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as e:
        if "allow_pickle" not in str(e):
            raise DatasetError(f"{path}: key {key!r} cannot be read ({e}); the archive is damaged, save it again "
                               "with numpy.savez.") from None
        raise DatasetError(f"{path}: key {key!r} holds Python objects (dtype=object), which tshub never "
                           "unpickles; save numeric or fixed-width string arrays (e.g. y.astype(str)).") from None
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as e:
        raise DatasetError(f"{path}: key {key!r} is truncated or corrupted ({e}); was the file cut short? "
                           "Save it again with numpy.savez and upload the complete file.") from None


def _check_npz_members(path: Path, limits: ReadLimits) -> None:
    """Before numpy reads anything: a complete zip, few members, declared sizes within ``limits.max_bytes``, and
    every array header's shape both within ``limits.max_values`` and backed by its member's declared size (zip
    reads stop at the declared size, so these bound what loading can allocate, whatever the compressed size)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > _MAX_NPZ_MEMBERS:
                raise DatasetError(f"{path}: {len(members)} members; an .npz dataset holds a few arrays (X, y, "
                                   f"classes, splits_*), at most {_MAX_NPZ_MEMBERS}.")
            declared = sum(m.file_size for m in members)
            if limits.max_bytes is not None and declared > limits.max_bytes:
                raise DatasetError(f"{path}: its arrays expand to {declared / 2**20:,.0f} MB, over the limit of "
                                   f"{limits.max_bytes / 2**20:g} MB; send a smaller dataset.")
            for member in members:
                with archive.open(member) as f:
                    shape, dtype = _npy_header(f, path, member.filename)
                count = int(np.prod(shape, dtype=np.float64))
                if count * max(dtype.itemsize, 1) > member.file_size:
                    raise DatasetError(f"{path}: {member.filename} declares shape {shape} of {dtype} but holds only "
                                       f"{member.file_size} bytes; the archive is truncated or forged, save it again "
                                       "with numpy.savez.")
                limits.check_values(shape, f"{path}: {member.filename}")
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: not a complete .npz (zip) archive ({e}); was the upload cut short? Save it "
                           "with numpy.savez and send the whole file.") from None


def _npy_header(f: Any, path: Path, member: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(f))
        if read_header is None:
            raise ValueError("unsupported .npy format version")
        shape, _, dtype = read_header(f)
    except ValueError as e:
        raise DatasetError(f"{path}: {member} is not a .npy array ({e}); save the dataset with numpy.savez.") from None
    return tuple(int(d) for d in shape), dtype
