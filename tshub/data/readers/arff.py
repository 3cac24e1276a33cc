"""``.arff`` files, flat univariate and the UEA relational multivariate layout, parsed by scipy.io.arff."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from tshub.data.dataset import DatasetError
from tshub.data.readers.base import RawSeries
from tshub.data.readers.formats import register_format
from tshub.data.readers.long import LABEL_NAMES
from tshub.data.readers.text import is_number, numbered_lines, unquote

_ATTRIBUTE = re.compile(r"@attribute\s+('[^']*'|\"[^\"]*\"|\S+)\s+(.+)", re.IGNORECASE)
_RELATION = re.compile(r"^[ \t]*@relation[ \t]+(\S.*?)[ \t]*$", re.IGNORECASE | re.MULTILINE)
#: A character outside ASCII as ``_ascii`` writes it for scipy, between two control characters no ARFF text holds.
_ESCAPED = re.compile("\x01([0-9a-f]+)\x02")


@register_format("arff", ".arff")
def _parse_arff(path: Path, text: str, label_column: int | str | None) -> RawSeries:
    """Flat ARFF (numeric attributes, class last) or the UEA relational layout (one quoted block per series,
    channels separated by '\\n', then the class). scipy.io.arff parses; failures are located here by line."""
    from scipy.io import arff  # imported here: scipy.io is slow to import and only ARFF needs it

    data_line = _arff_data_line(path, text)
    try:
        data, meta = arff.loadarff(io.StringIO(_ascii(text)))
    except (ValueError, IndexError, StopIteration, NotImplementedError, arff.ArffError) as e:
        raise DatasetError(_arff_failure(path, text, data_line, e)) from None
    names, types = meta.names(), meta.types()
    lines, numbers = numbered_lines(text, skip=data_line)
    numbers = np.array([n for n, s in zip(numbers, lines) if not s.lstrip().startswith("%")], dtype=np.int64)
    if len(numbers) != len(data):
        numbers = np.zeros(len(data), dtype=np.int64)
    # the last attribute is the class where it can be nothing else (nominal, after the series' relational one, or
    # named like targets), read or not (label_column=None); another numeric one only when labels are read
    class_last = len(names) > 1 and (
        types[-1] == "nominal" or types[0] == "relational" or names[-1].strip().lower() in LABEL_NAMES
    )
    target = names[-1] if len(names) > 1 and (class_last or label_column is not None) else None
    series_names = [n for n in names if n != target]
    if types[0] == "relational":
        if len(series_names) > 1:
            raise DatasetError(
                f"{path}: a relational ARFF holds one relational attribute and the class; found "
                f"extra attributes {series_names[1:]}."
            )
        X = np.stack([np.array(block.tolist(), dtype=np.float64).reshape(len(block), -1) for block in data[names[0]]])
    else:
        non_numeric = [n for n in series_names if meta[n][0] != "numeric"]
        if non_numeric:
            raise DatasetError(
                f"{path}: attribute {non_numeric[0]!r} is {meta[non_numeric[0]][0]}; series "
                "attributes must be numeric (the class attribute comes last)."
            )
        X = np.stack([data[n].astype(np.float64) for n in series_names], axis=1)[:, None, :]
    relation = _RELATION.search(text)  # scipy cuts a quoted name at its first space: 'gun point' read as 'gun
    name = unquote(relation.group(1)) if relation else meta.name
    raw = RawSeries(path=path, format="arff", X=X, y=None, lines=numbers, name=name)
    if target is not None and label_column is not None:
        kind, declared = meta[target]
        if kind == "nominal":
            y = np.array([_unescape(v.decode() if isinstance(v, bytes) else str(v)) for v in data[target]])
            raw.classes, raw.task = [_unescape(str(c)) for c in declared], "classification"
        else:
            y = data[target].astype(np.float64)
            raw.task = "regression"
        missing = np.flatnonzero(y == "?") if y.dtype.kind == "U" else np.flatnonzero(np.isnan(y))
        if missing.size:
            raise DatasetError(f"{raw.where(missing[0])}: the class ({target!r}, the last attribute) is missing.")
        raw.y = y
    return raw


def _ascii(text: str) -> str:
    """``text`` with each character outside ASCII escaped (``_ESCAPED``): scipy.io.arff stores nominal values as
    ASCII bytes and fails the whole file on a UTF-8 class such as 'été'; ``_unescape`` restores what it read."""
    return text if text.isascii() else re.sub(r"[^\x00-\x7f]", lambda m: f"\x01{ord(m.group()):x}\x02", text)


def _unescape(value: str) -> str:
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), value)


def _arff_data_line(path: Path, text: str) -> int:
    match = re.search(r"^[ \t]*@data\b", text, re.IGNORECASE | re.MULTILINE)
    if match is None:
        raise DatasetError(
            f"{path}: missing @data line; an ARFF file declares @relation and its @attribute lines, "
            "then @data and one instance per line."
        )
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
    lines, numbers = numbered_lines(text, skip=data_line)
    quoted: list[bool] = []
    marks: dict[str, int] = {}  # the line each quote mark first quotes a relational value on
    for line, number in zip(lines, numbers):
        s = line.strip()
        if s.startswith("%"):
            continue
        problem = _arff_line_problem(s, outer, inner)
        if problem:
            return f"{path}, line {number}: {problem}"
        quoted.append("'" in s or '"' in s)
        if inner and s[:1] in ("'", '"'):
            marks.setdefault(s[0], number)
    said = f"{path}: cannot parse the ARFF file ({type(error).__name__}: {error})."
    if len(marks) > 1:  # scipy splits every relational value with the quote of the first line's
        (first, at), (other, later) = sorted(marks.items(), key=lambda kv: kv[1])
        return (
            f"{said[:-1]}: its relational values are quoted with {first} (line {at}) and with {other} (line {later}), "
            "but are read with the quote of the first line; quote them alike on every line."
        )
    if any(quoted) and not quoted[0]:  # scipy reads every line with the quoting it sniffs on the first data line
        return (
            f"{said[:-1]}: it is read with the quoting of the first data line, which quotes nothing; quote the values "
            "alike on every line (a value quoted on one line, quoted on all)."
        )
    return said


def _arff_line_problem(line: str, outer: list[tuple[str, str]], inner: list[str]) -> str | None:
    fields: list[str]
    if line.startswith("{"):
        return (
            "a sparse ARFF instance ({index value, ...}), which is not read: write the file dense, one value per "
            "@attribute on every line (Weka's SparseToNonSparse filter does)."
        )
    if inner and line[:1] in "'\"":
        end = line.rfind(line[0])
        channels = line[1:end].split("\\n")
        fields = [line[1:end]] + [f for f in line[end + 1 :].split(",") if f.strip()]
        for c, channel in enumerate(channels):
            values = channel.split(",")
            if len(values) != len(inner):
                return f"channel {c} has {len(values)} values, expected {len(inner)} (one per inner @attribute)."
            bad = next((v for v in values if v.strip() != "?" and not is_number(v)), None)
            if bad is not None:
                return f"non-numeric value {bad.strip()[:40]!r} in channel {c}; expected a number or '?'."
    else:
        fields = line.split(",")
    if len(fields) != len(outer):
        return f"{len(fields)} values, expected {len(outer)} (one per @attribute)."
    for j, ((name, kind), value) in enumerate(zip(outer, fields)):
        v = unquote(value)
        if kind.lower() in ("numeric", "real", "integer") and v != "?" and not is_number(v):
            return f"column {j + 1} ({name}): non-numeric value {v[:40]!r}; expected a number or '?'."
        if kind.startswith("{"):
            allowed = [unquote(a) for a in kind.strip("{}").split(",")]
            if v not in allowed and v != "?":
                return f"column {j + 1} ({name}): value {v!r} is not among the declared {{{','.join(allowed)}}}."
        if kind.lower() == "string":
            return f"string attribute {name!r} is not supported; declare it nominal {{...}} or numeric."
    return None
