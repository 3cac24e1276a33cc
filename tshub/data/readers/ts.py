"""sktime / aeon ``.ts`` files: a header of ``@key value`` lines, then one series per line, channels split by ``:``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tshub.data.dataset import DatasetError
from tshub.data.readers.base import MISSING_LABELS, UNLIMITED, RawSeries, ReadLimits
from tshub.data.readers.formats import register_format
from tshub.data.readers.text import is_number, numbered_lines, parse_numbers, unquote

#: Comment lines: sktime's '#', and ARFF's '%' that files converted from ARFF keep (aeon's UnitTest_TRAIN.ts).
COMMENTS = ("#", "%")


@register_format("ts", ".ts", bounded=True)
def _parse_ts(path: Path, text: str, label_column: int | str | None, limits: ReadLimits = UNLIMITED) -> RawSeries:
    """The sktime/aeon .ts format: @-header, then one series per line, dimensions ':'-separated, label last."""
    all_lines = text.splitlines()
    header: dict[str, tuple[str, int]] = {}
    data_start = None
    for i, line in enumerate(all_lines):
        s = line.strip()
        if not s or s.startswith(COMMENTS):
            continue
        if not s.startswith("@"):
            raise DatasetError(
                f"{path}, line {i + 1}: expected a header line starting with '@' (or @data) before "
                f"the series, got {s[:40]!r}."
            )
        key, value = (s[1:].split(None, 1) + [""])[:2]  # the key ends at any whitespace, a tab included
        if key.lower() == "data":
            data_start = i + 1
            break
        header[key.lower()] = (value.strip(), i + 1)
    if data_start is None:
        raise DatasetError(
            f"{path}: missing @data line; a .ts file has its @-header (@problemName, @classLabel, "
            "...) then @data and one series per line."
        )
    if _ts_bool(path, header, "timestamps", False):
        raise DatasetError(
            f"{path}, line {header['timestamps'][1]}: @timeStamps true is not supported; write the "
            "values without timestamps (resample irregular series first)."
        )
    class_value = header.get("classlabel", ("false", 0))[0].split()
    has_classes = _ts_bool(path, header, "classlabel", False)
    is_regression = _ts_bool(path, header, "targetlabel", False)
    declared = has_classes or is_regression  # the last ':' field is the label, read or not (label_column=None)
    labeled = declared and label_column is not None
    classes = [unquote(c) for c in class_value[1:]] if has_classes else None
    if has_classes and not classes:
        raise DatasetError(
            f"{path}, line {header['classlabel'][1]}: @classLabel true declares no classes; list them after "
            "true (e.g. '@classLabel true 1 2 3')."
        )
    equal = _ts_bool(path, header, "equallength", False)
    expected_dims = _ts_int(path, header, "dimensions")
    if expected_dims is None and _ts_bool(path, header, "univariate", False):
        expected_dims = 1
    lines, numbers = numbered_lines(text, skip=data_start)
    lines_numbers = [(s.strip(), n) for s, n in zip(lines, numbers) if not s.lstrip().startswith(COMMENTS)]
    if not lines_numbers:
        raise DatasetError(f"{path}: no series after @data (line {data_start}).")
    series: list[list[np.ndarray]] = []
    labels: list[str] = []
    for s, number in lines_numbers:
        parts = s.split(":")
        if declared:
            if len(parts) < 2:
                raise DatasetError(
                    f"{path}, line {number}: label missing; expected '<values>:<label>' "
                    "(@classLabel/@targetlabel true)."
                )
            label = parts.pop().strip()
            if labeled:
                labels.append(_ts_label(path, number, label, classes, is_regression, expected_dims))
        elif len(parts) > 1 and not parts[-1].strip():
            parts.pop()  # aeon's writer ends every channel with ':', so an unlabelled line ends with an empty field
        expected_dims = expected_dims or len(parts)
        if len(parts) != expected_dims:
            raise DatasetError(
                f"{path}, line {number}: {len(parts)} dimension(s), expected {expected_dims} "
                "(dimensions are separated by ':'" + (", the label comes last)." if declared else ").")
            )
        series.append([_ts_values(path, number, d, part) for d, part in enumerate(parts)])
    lengths = np.array([[len(v) for v in dims] for dims in series])
    uneven = np.flatnonzero(lengths.min(axis=1) != lengths.max(axis=1))
    if uneven.size:  # as an array's channels of two lengths are refused (lengths._series_array)
        i = int(uneven[0])
        raise DatasetError(
            f"{path}, line {lines_numbers[i][1]}: its {lengths.shape[1]} dimensions have different lengths "
            f"({', '.join(map(str, lengths[i][:8]))}); the dimensions of one series must have one length "
            "(variable_length equalises series, not the dimensions within one, whose time steps padding would "
            "misalign): resample them to one rate and length, or cut them to the shortest."
        )
    if equal:
        expected = _ts_int(path, header, "serieslength") or int(lengths[0, 0])
        bad = np.argwhere(lengths != expected)
        if bad.size:
            i, d = bad[0]
            raise DatasetError(
                f"{path}, line {lines_numbers[i][1]}: dimension {d} has {lengths[i, d]} values, "
                f"expected {expected} (@equalLength true); set @equalLength false for unequal lengths."
            )
    assert expected_dims is not None  # set by the loop over the (non-empty) data lines
    limits.check_values((len(series), expected_dims, int(lengths.max())), str(path))
    X = np.full((len(series), expected_dims, int(lengths.max())), np.nan)
    for i, dims in enumerate(series):
        for d, v in enumerate(dims):
            X[i, d, : len(v)] = v
    y = None if not labeled else (np.array(labels, dtype=np.float64) if is_regression else np.array(labels))
    return RawSeries(
        path=path,
        format="ts",
        X=X,
        y=y,
        lines=np.array([n for _, n in lines_numbers]),
        classes=classes if labeled else None,
        task=None if not labeled else ("regression" if is_regression else "classification"),
        name=header.get("problemname", (None, 0))[0],
        fixed_length=equal,
    )


def _ts_label(
    path: Path, number: int, label: str, classes: list[str] | None, is_regression: bool, dims: int | None
) -> str:
    if label in MISSING_LABELS:
        raise DatasetError(f"{path}, line {number}: label missing after the last ':'.")
    if "," in label:
        raise DatasetError(
            f"{path}, line {number}: label missing; the last ':' field holds values "
            f"({label[:30]!r}...), expected {dims or 'the'} dimension(s) then ':<label>'."
        )
    if is_regression and not is_number(label):
        raise DatasetError(f"{path}, line {number}: target {label!r} is not a number (@targetlabel true).")
    if classes is not None and unquote(label) not in classes:
        raise DatasetError(
            f"{path}, line {number}: label {label!r} is not among the declared @classLabel values {classes[:10]}."
        )
    return unquote(label)


def _ts_values(path: Path, number: int, dim: int, part: str) -> np.ndarray:
    if "(" in part:
        raise DatasetError(f"{path}, line {number}: timestamped values '(t, v)' are not supported.")
    fields = part.split(",")
    empty = [j for j, f in enumerate(fields) if not f.strip()]  # first: numpy's fromstring reads a blank as -1
    if empty:
        raise DatasetError(
            f"{path}, line {number}, dimension {dim}: empty value at position {empty[0] + 1}; "
            "write '?' for a missing value."
        )
    try:
        values = np.fromstring(part.replace("?", "NaN"), sep=",")
        if values.size == len(fields):
            return values
    except ValueError:
        pass
    return parse_numbers(fields, path, f"line {number}, dimension {dim}", lambda j: j + 1)


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
