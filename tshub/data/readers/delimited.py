"""UCR ``.tsv`` (tab separated, label first), old UCR ``.txt`` / ``*_TRAIN`` files and ``.csv`` (one series per row, or
a long table: one row per series and time step)."""

from __future__ import annotations

import csv
import warnings
from dataclasses import replace
from pathlib import Path

from tshub.data.dataset import DatasetError
from tshub.data.readers.base import DEFAULT_LABEL_COLUMN, MISSING_TOKENS, UNLIMITED, RawSeries, ReadLimits
from tshub.data.readers.formats import register_format
from tshub.data.readers.lengths import ReadOptionError
from tshub.data.readers.long import LABEL_NAMES, SERIES_NAMES, TIME_NAMES, is_identifier, read_long_table
from tshub.data.readers.text import (
    DECIMAL_COMMA_NUMBER,
    NonNumericValue,
    holds_row_numbers,
    is_number,
    numbered_lines,
    parse_table,
    raw_table,
    unquote,
)


@register_format("ucr-tsv", ".tsv", bounded=True, options=("header",), label_columns=True)
def _parse_ucr_tsv(
    path: Path,
    text: str,
    label_column: int | str | None,
    *,
    header: bool | None = None,
    limits: ReadLimits = UNLIMITED,
) -> RawSeries:
    """The UCR layout: no header, label first. A header (``header=True``, a ``label_column`` naming a column, or a
    first row detected as one, as in a .csv) marks a table written by pandas or a spreadsheet: the .csv reader
    reads it, tab-separated."""
    lines, numbers = numbered_lines(text)
    if header if header is not None else _has_header(_cells(lines[0], "\t"), lines, "\t", label_column):
        return _parse_csv(path, text, label_column, delimiter="\t", header=True, limits=limits)
    values, labels = parse_table(path, lines, numbers, "\t", label_column, limits)
    return raw_table(path, "ucr-tsv", values, labels, numbers)


@register_format("ucr-txt", ".txt", bounded=True, label_columns=True)
def _parse_ucr_txt(path: Path, text: str, label_column: int | str | None, limits: ReadLimits = UNLIMITED) -> RawSeries:
    """The UCR 2015 layout: label first, then values, separated by commas or by whitespace."""
    lines, numbers = numbered_lines(text)
    sep = "," if "," in lines[0] else None
    values, labels = parse_table(path, lines, numbers, sep, label_column, limits)
    return raw_table(path, "ucr-txt", values, labels, numbers)


@register_format("csv", ".csv", bounded=True, options=("delimiter", "header"), label_columns=True)
def _parse_csv(
    path: Path,
    text: str,
    label_column: int | str | None,
    *,
    delimiter: str | None = None,
    header: bool | None = None,
    limits: ReadLimits = UNLIMITED,
) -> RawSeries:
    """One series per row; an optional header, auto-detected: a non-numeric name outside the label column, or
    the columns numbered 0…k or 1…k over a rectangular table, as pandas and numpy write them (``header=False``
    reads such a row as a series). A header whose first name is empty marks the row index a DataFrame writes by
    default (``to_csv(path)``): that column is dropped, not read as a time step. ``delimiter=None`` detects it
    (``_sniff_delimiter``); in a ';' file a number may have a decimal comma (``0,5``). A quoted field may hold the
    delimiter (RFC 4180). A long table (a series id and a time column, one row per series and time step) is read as
    its series (``tshub.data.readers.long``). A header naming a column like the targets that the default
    ``label_column`` would read as a time step is refused.
    """
    unchosen = label_column is DEFAULT_LABEL_COLUMN
    lines, numbers = numbered_lines(text)
    delimiter = delimiter or _sniff_delimiter(lines[:_SNIFFED_LINES])
    decimal_comma = delimiter == ";" and "," in text
    lines, delimiter = _split_quoted_fields(lines, delimiter)
    kept = [i for i, line in enumerate(lines) if line.replace(delimiter, "").strip()]  # a spreadsheet's empty rows
    if len(kept) < len(lines):  # (delimiters only) are skipped as blank lines are
        lines, numbers = [lines[i] for i in kept], numbers[kept]
    if not lines:
        raise DatasetError(f"{path}: every row is empty (delimiters only); expected one series per row.")
    if decimal_comma:
        lines = [delimiter.join(_decimal_point(f) for f in line.split(delimiter)) for line in lines]
    first = _cells(lines[0], delimiter)
    if header is None:
        header = _has_header(first, lines, delimiter, label_column)
    if header and label_column is None:
        _refuse_a_target_column_read_as_values(path, first)
    if header and (long := read_long_table(path, first, lines, numbers, delimiter, label_column, limits)):
        return long
    ids = None
    drop = _row_number_columns(first, lines, delimiter, label_column) if header else set()
    if header and (naming := _time_and_group_columns(first, label_column) - drop):
        warnings.warn(
            f"{path}: {', '.join(repr(first[j]) for j in sorted(naming))} name each row's series and time, not "
            "values: left out of the series (each row a whole series; a long table, one row per time step, reads "
            "as one series per id).",
            stacklevel=2,
        )
        drop |= naming
    if drop:
        ids = _series_ids(first, lines, delimiter, drop)
        if isinstance(label_column, int):  # its index among the columns kept (negative: from each row's end)
            at = label_column % len(first)
            label_column += sum(j > at for j in drop) if label_column < 0 else -sum(j < at for j in drop)
        lines = [delimiter.join(f for j, f in enumerate(line.split(delimiter)) if j not in drop) for line in lines]
        first = [name for j, name in enumerate(first) if j not in drop]
    if isinstance(label_column, str):
        if not header:
            raise DatasetError(f"{path}: label_column={label_column!r} names a column but header=False.")
        if label_column not in first:
            raise DatasetError(
                f"{path}, line {numbers[0]}: no column named {label_column!r} in the header "
                f"(columns: {first[:10]}{' ...' if len(first) > 10 else ''})."
            )
        label_column = first.index(label_column)
    if header:
        lines, numbers = lines[1:], numbers[1:]
        if not lines:
            raise DatasetError(f"{path}: only a header line, no series.")
        widths = [line.count(delimiter) + 1 for line in lines]
        wide = next((i for i, w in enumerate(widths) if w > len(first)), None)
        if wide is not None or (widths[0] != len(first) and len(set(widths)) == 1):
            j = 0 if wide is None else wide
            raise DatasetError(
                f"{path}, line {numbers[j]}: {widths[j]} fields, but the header has {len(first)} "
                "column names; they must match (shorter rows are shorter series)."
            )
    try:
        values, labels = parse_table(path, lines, numbers, delimiter, label_column, limits)
    except NonNumericValue as e:
        if not header or e.number_format:
            raise
        raise DatasetError(f"{e} {_label_column_hint(first, e.column, label_column)}") from None
    if header and unchosen and isinstance(label_column, int):  # still an index, past the row-number columns
        _refuse_unchosen_label_column(path, first, label_column)
    raw = raw_table(path, "csv", values, labels, numbers)
    return raw if ids is None else replace(raw, ids=ids[1], id_column=ids[0])


def _refuse_a_target_column_read_as_values(path: Path, first: list[str]) -> None:
    """Without targets (``label_column=None``), a column the header names like targets ('label', 'class') would be
    read as series values: numeric labels a time step (or a long table's channel) of every series, without a word."""
    named = next((j for j, name in enumerate(first) if name.strip().lower() in LABEL_NAMES), None)
    if named is not None:
        raise DatasetError(
            f"{path}: the header names column {named + 1} {first[named]!r} like targets, but no column is read as "
            f"targets (label_column=None): its values would be read as series values. Pass "
            f"label_column={first[named]!r} (the labels are then read, and scored by predict), or remove the column."
        )


def _cells(line: str, delimiter: str) -> list[str]:
    return [unquote(f) for f in line.split(delimiter)]


def _has_header(first: list[str], lines: list[str], delimiter: str, label_column: int | str | None) -> bool:
    """Whether the first row names the columns: ``label_column`` is a name, the row numbers the columns as pandas
    and numpy write them, it holds a name (a non-numeric cell) outside the label column, or its label cell is text
    where every other row's is a number, or names the column like targets (``label,400,410,…``: wavelengths or
    seconds as the column names, above numeric or text labels)."""
    skip = label_column if isinstance(label_column, int) else None
    return (
        isinstance(label_column, str)
        or _numbered_columns(first, lines, delimiter, skip)
        or any(
            not is_number(f) and f not in MISSING_TOKENS
            for j, f in enumerate(first)
            if skip is None or j != skip % len(first)
        )
        or (skip is not None and _names_numeric_labels(first, lines[1:], delimiter, skip))
        or (skip is not None and first[skip % len(first)].strip().lower() in LABEL_NAMES)
    )


def _names_numeric_labels(first: list[str], rows: list[str], delimiter: str, label_column: int) -> bool:
    """Whether the first row's label cell is a name ('label', 'class') above labels that are all numbers (a file of
    text classes stops at its first text label)."""
    name = first[label_column % len(first)]
    if not rows or is_number(name) or name in MISSING_TOKENS:
        return False
    for row in rows:
        cells = row.split(delimiter)
        if len(cells) != len(first) or not is_number(unquote(cells[label_column % len(cells)])):
            return False
    return True


#: Joins a row's fields once a quoted field held the delimiter: the ASCII unit separator, not found in text.
_FIELD_SEPARATOR = "\x1f"


def _split_quoted_fields(lines: list[str], delimiter: str) -> tuple[list[str], str]:
    """RFC 4180 quoting: a quoted field may hold the delimiter (pandas writes ``"class, one"``). Only then are the
    rows split by the csv module and rejoined by ``_FIELD_SEPARATOR``, the delimiter from there on; files without
    such a field are read as they were, and so is a line the csv module refuses (a field over its size limit)."""

    def fields(line: str) -> list[str]:
        try:
            return next(csv.reader([line], delimiter=delimiter))
        except csv.Error:
            return line.split(delimiter)

    splittable = len(delimiter) == 1 and not any(_FIELD_SEPARATOR in line for line in lines)
    if not splittable or not any('"' in line and len(fields(line)) != line.count(delimiter) + 1 for line in lines):
        return lines, delimiter
    return [_FIELD_SEPARATOR.join(fields(line)) for line in lines], _FIELD_SEPARATOR


def _label_column_hint(first: list[str], column: int, label_column: int | None) -> str:
    """Name the header of a column read as series values that holds the targets, most likely: text, or a name like
    'label' (``_refuse_unchosen_label_column``), while the targets are read from another column."""
    name = first[column - 1]
    reading = (
        "no column is read as targets (label_column=None)"
        if label_column is None
        else f"the targets are read from column {label_column % len(first) + 1} ({first[label_column]!r})"
    )
    unless = "" if name.strip().lower() in LABEL_NAMES else f"if {name!r} holds the targets, "
    return f"The header names column {column} {name!r} and {reading}: {unless}pass label_column={name!r}."


def _refuse_unchosen_label_column(path: Path, first: list[str], label_column: int) -> None:
    """Left to its default, ``label_column`` reads column 1 as the targets; a header naming another column like the
    targets (``df["label"] = y; df.to_csv(...)`` writes ``0,…,k,label``) says otherwise, and read so, numeric labels
    would silently become a time step and the first time step a regression target. Refused, not read by name: the
    default keeps one meaning (what an explicit 0 and a UCR file read), text labels are refused alike
    (``_label_column_hint``), and no upload trains on a target its user did not pick; naming it costs one option."""
    at = label_column % len(first)
    named = [j for j, name in enumerate(first) if j != at and name.strip().lower() in LABEL_NAMES]
    if not named:
        return
    hints = " ".join(_label_column_hint(first, j + 1, label_column) for j in named)
    message = f"{path}: {hints} Or pass label_column=0 to keep reading column {at + 1} as the targets."
    if len(named) == 1:  # the one option to suggest where a call takes a path and no reader options
        raise ReadOptionError(message, "label_column", first[named[0]])
    raise DatasetError(message)


#: Header names (lower case) of a column that numbers the rows, when it holds distinct whole numbers: an index and
#: names of what a row is (a DataFrame's index named "sample" or "patient"); also any name ending in "_id".
_ROW_NUMBER_NAMES = frozenset({"idx", "index", "row", "unnamed: 0"}) | SERIES_NAMES


def _row_number_columns(first: list[str], lines: list[str], delimiter: str, label_column: int | str | None) -> set[int]:
    """Header columns that number the rows rather than hold a time step: the unnamed first column a DataFrame
    writes as its index (``to_csv(path)``; where ``label_column`` is 0, only when it holds row numbers, and column 0
    then means the next), a column named like an identifier (``id``, ``index``, ``*_id``, …) whose values are
    distinct whole numbers, and one named like the series (``id``, ``patient``, …) whose values are distinct text
    (P01, P02). Read as a time step, a value up to the row count would dwarf the series and its z-normalisation; text
    would be refused as no number. The label column is never one."""
    if len(first) < 2:
        return set()
    label = _label_position(first, label_column)

    def cells(j: int) -> list[str]:
        return [unquote(fields[j]) if j < len(fields := line.split(delimiter)) else "" for line in lines[1:]]

    def numbers_the_rows(j: int) -> bool:
        return holds_row_numbers(cells(j))

    def names_the_series(j: int) -> bool:  # distinct text ids (P01, P02) in a column named like the series
        values = cells(j)
        return len(set(values)) == len(values) and not any(is_number(v) or v in MISSING_TOKENS for v in values)

    drop: set[int] = set()
    if first[0] == "" and (label != 0 or numbers_the_rows(0)):  # as label column 0, the index counts as absent
        drop.add(0)
        label = 1 if label == 0 else label
    for j, name in enumerate(first):
        key = name.strip().lower()
        if j in drop or j == label or not is_identifier(key, _ROW_NUMBER_NAMES):
            continue
        if numbers_the_rows(j) or (is_identifier(key, SERIES_NAMES) and names_the_series(j)):
            drop.add(j)
    return drop


def _label_position(first: list[str], label_column: int | str | None) -> int | None:
    """The header's index of the label column (named or indexed, negative from the end), or None."""
    label = first.index(label_column) if isinstance(label_column, str) and label_column in first else label_column
    return label % len(first) if isinstance(label, int) else None


def _time_and_group_columns(first: list[str], label_column: int | str | None) -> set[int]:
    """In a table of whole series (one per row), the columns that name a row rather than hold its values: a time
    column (``TIME_NAMES``) and, beside one, the columns named like the series (a subject's recordings); the label
    column is never one. Empty without a time column."""
    keys = [name.strip().lower() for name in first]
    label = _label_position(first, label_column)
    time = {j for j, key in enumerate(keys) if key in TIME_NAMES and j != label}
    if not time:
        return set()
    return time | {j for j, key in enumerate(keys) if is_identifier(key, SERIES_NAMES) and j != label}


def _series_ids(first: list[str], lines: list[str], delimiter: str, dropped: set[int]) -> tuple[str, list[str]] | None:
    """The name and values of the dropped column that names the series (``id``, ``*_id``), or None: the other
    dropped columns (a DataFrame's index, ``row``) only number the rows."""
    named = [j for j in sorted(dropped) if is_identifier(first[j].strip().lower(), _SERIES_ID_NAMES)]
    if not named:
        return None
    j = named[0]
    return first[j].strip(), [unquote(line.split(delimiter)[j]).strip() for line in lines[1:]]


#: Header names (lower case) of a column that names each series rather than numbering the rows; and any "*_id".
_SERIES_ID_NAMES = SERIES_NAMES


#: The lines the delimiter is detected on.
_SNIFFED_LINES = 20


def _decimal_point(cell: str) -> str:
    return cell.replace(",", ".") if DECIMAL_COMMA_NUMBER.fullmatch(cell) else cell


def _sniff_delimiter(lines: list[str]) -> str:
    """',' unless ';' or a tab separates the fields of every one of the file's first lines. Spreadsheets in locales
    whose decimal mark is a comma export ';' and a comma in each number, which a field holds at most once: ';' (or
    a tab) is the delimiter when each line has it, and at least as often as commas less one (a comma-separated line
    with a ';' in a label or header name has far fewer, or its next lines have none)."""
    for candidate in (";", "\t"):
        if all(line.count(candidate) and line.count(candidate) >= line.count(",") - 1 for line in lines):
            return candidate
    return ","


def _numbered_columns(first: list[str], lines: list[str], delimiter: str, label_column: int | None = None) -> bool:
    """Whether the first row numbers the columns, 0, 1, …, k or 1, 2, …, k after an optional empty index name (or
    around the label column's non-numeric name: ``label,0,1,…,k``), in a rectangular table (a writer's header spans
    every row; a ragged file's first row is a series) whose next row does not read the same way (a file of ramps is
    data)."""
    if len(lines) < 2:
        return False
    rows = [(first, [unquote(f) for f in lines[1].split(delimiter)])]
    if label_column is not None and len(first) > 1 and not is_number(first[label_column % len(first)]):
        k = label_column % len(first)
        rows.append(([*first[:k], *first[k + 1 :]], [*rows[0][1][:k], *rows[0][1][k + 1 :]]))
    if not any(_numbered(names) and not _numbered(data) for names, data in rows):
        return False
    return all(line.count(delimiter) + 1 == len(first) for line in lines[1:])


def _numbered(row: list[str]) -> bool:
    names = row[1:] if row and row[0] == "" else row
    if len(names) < 3 or not all(n.isdigit() for n in names):
        return False
    start = int(names[0])
    return start in (0, 1) and [int(n) for n in names] == list(range(start, start + len(names)))
