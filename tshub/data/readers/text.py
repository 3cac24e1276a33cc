"""Reading text files safely (gunzip as a capped stream, line caps, decoding) and parsing delimited tables."""

from __future__ import annotations

import codecs
import gzip
import re
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from tshub.data.dataset import DatasetError
from tshub.data.readers.base import MISSING_TOKENS, UNLIMITED, RawSeries, ReadLimits, is_missing_label

_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # everything str.splitlines splits on
_CHUNK = 1 << 20


def read_bytes(path: Path, max_bytes: int | None = None) -> bytes | bytearray:
    """The file's bytes, gunzipped as a stream (every member of a concatenated gzip) that stops past ``max_bytes``."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file.")
    gzipped = path.name.lower().endswith(".gz")
    data = bytearray()
    try:
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                data += chunk
                if max_bytes is not None and len(data) > max_bytes:
                    raise DatasetError(
                        f"{path}: {'decompresses' if gzipped else 'is'} to more than "
                        f"{max_bytes / 2**20:g} MB, the limit for one file; send a smaller file."
                    )
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: cannot decompress ({e}); is it a complete gzip file?") from None
    return data


def check_line_count(path: Path, text: str, max_series: int | None) -> None:
    """Refuse more lines than ``max_series`` (+ a header allowance) before splitting the text into lines."""
    if max_series is None:
        return
    lines = sum(text.count(c) for c in _LINE_BREAKS) - text.count("\r\n")  # a Windows line break is one break
    if lines > max_series + 1000:
        raise DatasetError(
            f"{path}: {lines:,} lines, more than the {max_series:,} series one file may hold; "
            "send fewer series (or several datasets)."
        )


def decode_text(path: Path, data: bytes | bytearray) -> str:
    """UTF-8 (a byte order mark ignored), or UTF-16 where its byte order mark says so (Excel's "Unicode Text",
    PowerShell's redirects); anything else is refused with the line it stops at."""
    encoding = "utf-16" if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data[: e.start].decode(encoding, errors="replace").count("\n") + 1
        raise DatasetError(
            f"{path}, line {line}: not {'UTF-16' if encoding == 'utf-16' else 'UTF-8'} text; expected a text file of "
            "numbers (a label in another encoding, such as Windows' cp1252: save it as UTF-8)."
        ) from None


def numbered_lines(text: str, skip: int = 0) -> tuple[list[str], np.ndarray]:
    """Non-blank lines after the first ``skip`` lines, with their 1-based line numbers."""
    numbered = [(i + 1, line) for i, line in enumerate(text.splitlines()) if i >= skip and line.strip()]
    return [line for _, line in numbered], np.array([i for i, _ in numbered], dtype=np.int64)


def parse_table(
    path: Path,
    lines: list[str],
    numbers: np.ndarray,
    sep: str | None,
    label_column: int | str | None,
    limits: ReadLimits = UNLIMITED,
) -> tuple[np.ndarray, np.ndarray | None]:
    """A delimited table (one series per line) into float values (n, w) and the raw label column.

    Fast path: one ``np.fromstring`` over the whole block; on anything unusual (empty or '?' fields, text labels,
    bad values, rows of unequal length) a per-line pass parses what it can and names the first bad line and column.
    A shorter row is a shorter series, NaN-padded here (``variable_length`` decides later); a negative
    ``label_column`` counts from the end of each row. ``limits`` bounds the padded table before it is allocated
    (one long row among many short ones would otherwise make a small file allocate rows × longest row).
    """
    widths = np.fromiter((len(s.split()) if sep is None else s.count(sep) + 1 for s in lines), np.int64, len(lines))
    if np.any(widths != widths[0]):
        return _parse_table_by_line(path, lines, numbers, sep, label_column, limits)
    width = int(widths[0])
    col = _column_index(path, label_column, width)
    if width - (col is not None) < 1:
        raise DatasetError(f"{path}, line {numbers[0]}: {_one_field_problem(lines[0], sep)}.")
    block = "\n".join(lines)
    if sep not in (None, "\t", " "):
        block = block.replace(sep, " ")
    try:
        values = np.fromstring(block, sep=" ")
    except ValueError:
        values = None
    if values is None or values.size != len(lines) * width:
        return _parse_table_by_line(path, lines, numbers, sep, col, limits)
    if sep is not None and any(len(row.split()) != width for row in block.split("\n")):
        # a row may hold an empty field (one number fewer) and another '1 204' (one more): the total above matched
        # and the reshape below would shift values across rows
        return _parse_table_by_line(path, lines, numbers, sep, col, limits)
    values = values.reshape(len(lines), width)
    if col is None:
        return values, None
    labels = values[:, col]
    if np.isnan(labels).any():
        raise DatasetError(
            f"{path}, line {numbers[np.flatnonzero(np.isnan(labels))[0]]}: the label (column {col + 1}) is missing."
        )
    written = [_field(line, sep, col, width).strip() for line in lines]
    if _written_as_codes(written):
        return np.delete(values, col, axis=1), np.array(written)
    return np.delete(values, col, axis=1), labels


def _field(line: str, sep: str | None, col: int, width: int) -> str:
    """Field ``col`` of a line of ``width`` fields, splitting no more of it than needed (the label is first or last)."""
    return line.rsplit(sep, 1)[-1] if col == width - 1 else line.split(sep, col + 1)[col]


def _parse_table_by_line(
    path: Path,
    lines: list[str],
    numbers: np.ndarray,
    sep: str | None,
    label_column: int | str | None,
    limits: ReadLimits,
) -> tuple[np.ndarray, np.ndarray | None]:
    rows = [line.split(sep) for line in lines]
    shape = (len(rows), max(map(len, rows)) - (label_column is not None))
    limits.check_values((shape[0], 1, shape[1]), str(path))
    values = np.full(shape, np.nan)
    labels: list[str] = []
    for i, (fields, number) in enumerate(zip(rows, numbers)):
        col = _column_index(path, label_column, len(fields), f"line {number}")
        if i == 0 and len(rows) > 1 and _looks_like_header(fields):
            raise DatasetError(
                f"{path}, line {number}: {', '.join(map(repr, fields[:3]))}... are names, not numbers: a header "
                "row? It is read without one: remove it (a .csv or .tsv file's header is detected unless header=False)."
            )
        if col is not None:
            label = unquote(fields.pop(col))
            if is_missing_label(label):
                raise DatasetError(f"{path}, line {number}: the label (column {col + 1}) is missing.")
            labels.append(label)
            if not fields:
                raise DatasetError(f"{path}, line {number}: no series values besides the label column.")
        values[i, : len(fields)] = parse_numbers(fields, path, f"line {number}", partial(_file_column, label=col))
    return values, (None if label_column is None else label_array(labels))


def _looks_like_header(fields: list[str]) -> bool:
    """No field is a number (a decimal comma's included) and some are names (not only missing-value marks)."""
    cells = [unquote(f) for f in fields]
    numbers = [is_number(c) or DECIMAL_COMMA_NUMBER.fullmatch(c) for c in cells]
    return not any(numbers) and any(c not in MISSING_TOKENS for c in cells)


def _one_field_problem(line: str, sep: str | None) -> str:
    """What is wrong with a line of one field: no values besides the label, often because of a wrong delimiter."""
    found = next((c for c in (",", ";", "\t", "|") if c != sep and c in line), None)
    if found is None:
        return "no series values besides the label column"
    return (
        f"one field ({line[:40]!r}), so no series values besides the label column: it seems separated by "
        f"{found!r}, not {'whitespace' if sep is None else repr(sep)}; pass delimiter={found!r} for a .csv, or name the file .tsv for tabs, .txt for "
        "commas or whitespace"
    )


def _file_column(j: int, label: int | None) -> int:
    """The 1-based file column of a line's ``j``-th value field, the label column (``label``) taken out."""
    return j + 1 + (label is not None and j >= label)


#: A number written with a decimal comma (``0,5``, ``-1,2e3``; quoted or not), as spreadsheets in such locales export.
DECIMAL_COMMA_NUMBER = re.compile(r'\s*"?[-+]?\d*,\d+(?:[eE][-+]?\d+)?"?\s*')
#: A number with its thousands grouped (1,234.5; 1.234,5; 1'234.5), which no float parser reads.
THOUSANDS_NUMBER = re.compile(r"\s*[-+]?\d{1,3}(?:([,.' ])\d{3})(?:\1\d{3})*(?:[.,]\d+)?\s*")


def parse_numbers(fields: list[str], path: Path, where: str, column: Callable[[int], int]) -> np.ndarray:
    """Floats from text fields, quoted or not; '', '?' and NaN are missing; a bad field is reported with its column."""
    try:
        return np.array(fields, dtype=np.float64)
    except ValueError:
        pass
    out = np.empty(len(fields))
    for j, f in enumerate(fields):
        s = unquote(f)  # a spreadsheet's CSV may quote every cell, numbers included
        if s in MISSING_TOKENS:
            out[j] = np.nan
            continue
        try:
            out[j] = float(s)
        except ValueError:
            comma, grouped = DECIMAL_COMMA_NUMBER.fullmatch(s) is not None, THOUSANDS_NUMBER.fullmatch(s) is not None
            why = (
                "a decimal comma, read as one only in a ';'-separated file (a spreadsheet's export where the decimal "
                "mark is a comma): write decimal points, or separate the fields by ';'"
                if comma
                else "a number with thousands separators: save the file without them (a spreadsheet's number format "
                "'General' or '0.00')"
                if grouped
                else "expected a number ('', '?', NA or NaN mark a missing value)"
            )
            raise NonNumericValue(
                f"{path}, {where}, column {column(j)}: non-numeric value {s[:40]!r}; {why}.",
                column(j),
                comma or grouped,
            ) from None
    return out


class NonNumericValue(DatasetError):
    """A field that should be a number is not; ``column`` (1-based) lets a reader with a header name the column;
    ``number_format``: the field is a number in a format not read (a decimal comma, thousands separators; the message
    says so), not a label read as a value."""

    def __init__(self, message: str, column: int, number_format: bool = False) -> None:
        super().__init__(message)
        self.column = column
        self.number_format = number_format


def label_array(labels: list[str]) -> np.ndarray:
    """Labels as floats when they all are numbers (regression targets, UCR classes), otherwise as strings; whole
    numbers written with leading zeros (001, 010) are codes, kept as written (as numbers, 01 and 1 would merge)."""
    if _written_as_codes(labels):
        return np.array(labels)
    try:
        return np.array(labels, dtype=np.float64)
    except ValueError:
        return np.array(labels)


#: A whole number written with leading zeros: a code (a zip code, a class numbered 001), not a quantity.
_LEADING_ZERO = re.compile(r"[+-]?0\d+$")


def _written_as_codes(labels: list[str]) -> bool:
    """Whether some label is a whole number written with leading zeros: the labels are codes, kept as written."""
    return any(_LEADING_ZERO.match(str(label).strip()) for label in labels)


def _column_index(path: Path, label_column: int | str | None, width: int, where: str = "") -> int | None:
    if label_column is None:
        return None
    if isinstance(label_column, str):
        raise DatasetError(
            f"{path}: label_column={label_column!r} names a column, but this file is read without a header (a UCR "
            ".txt file, or header=False); give the column index instead."
        )
    if not -width <= label_column < width:
        raise DatasetError(
            f"{path}{', ' + where if where else ''}: label_column={label_column} is outside the {width} columns."
        )
    return label_column % width


def holds_row_numbers(cells: list[str]) -> bool:
    """Whether a column's cells number the rows: distinct whole numbers (a DataFrame's index, an id column)."""
    return all(c.isdecimal() for c in cells) and len(set(map(int, cells))) == len(cells)


def unquote(s: str) -> str:
    s = s.strip()
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"" else s


def raw_table(path: Path, fmt: str, values: np.ndarray, labels: np.ndarray | None, numbers: np.ndarray) -> RawSeries:
    return RawSeries(path=path, format=fmt, X=values[:, None, :], y=labels, lines=numbers)


def is_number(s: str) -> bool:
    """Whether ``s`` parses as a float."""
    try:
        float(s)
    except ValueError:
        return False
    return True
