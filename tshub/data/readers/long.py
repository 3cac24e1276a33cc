"""Long tables: one row per series and time step (a series id column, a time column, one column per channel, and
the targets), as pandas' ``melt``, tsfresh, sktime's long format and most database exports write them.

Read as one series per id, in the order the ids first appear: its rows sorted by time (numbers, or ISO 8601 dates
and times; any other time stamps keep the file's order), each remaining numeric column a channel, series of fewer
steps NaN-padded at the end, as a shorter row of a wide CSV is (``variable_length`` decides later); the row index a
DataFrame writes with it (``to_csv(path)``) is dropped. A table is long
only by its header: a series column (``id``, ``series``, ``sample``, ``case`` or ``*_id``) whose ids repeat, a time
column (``time``, ``timestamp``, ``date``, ``step``, ...) and at most ``MAX_COLUMNS`` columns.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from tshub.data.dataset import DatasetError
from tshub.data.readers.base import DEFAULT_LABEL_COLUMN, MISSING_LABELS, MISSING_TOKENS, RawSeries, ReadLimits
from tshub.data.readers.text import is_number, label_array, unquote

#: Header names (lower case) of a series column and of a time column, which with few columns make a long table.
SERIES_NAMES = frozenset(
    {"id", "series", "sample", "case", "subject", "patient", "trial", "recording", "unit", "instance", "entity"}
)  # and any name ending in "_id"
TIME_NAMES = frozenset(
    {"t", "time", "timestamp", "date", "datetime", "ds", "step", "timestep", "time_step", "time_idx"}
)
MAX_COLUMNS = 10
#: Header names (lower case) of the row index a DataFrame writes with its rows.
ROW_INDEX_NAMES = frozenset({"", "index", "idx", "row", "unnamed: 0"})
#: Header names (lower case) of a column that holds the targets.
LABEL_NAMES = frozenset({"label", "labels", "class", "target", "y", "category"})


def is_identifier(name: str, names: frozenset[str]) -> bool:
    """Whether a lower-case header ``name`` names an identifier column: one of ``names``, or ``*_id``."""
    return name in names or name.endswith("_id")


def read_long_table(
    path: Path,
    header: list[str],
    lines: list[str],
    numbers: np.ndarray,
    delimiter: str,
    label_column: int | str | None,
    limits: ReadLimits,
) -> RawSeries | None:
    """The series of a long table (``lines``, the first its ``header``, at file lines ``numbers``), or None when the
    table is not one. Its targets are ``label_column``'s (a name or an index; by default the column named like
    targets, see ``LABEL_NAMES``; None: no targets), one per series. A time column among few columns with no series
    column is refused: read as one series per row, each row would be a series of a few values."""
    keys = [name.strip().lower() for name in header]
    series = next((j for j, k in enumerate(keys) if is_identifier(k, SERIES_NAMES)), None)
    time = next((j for j, k in enumerate(keys) if k in TIME_NAMES), None)
    if time is None or len(header) > MAX_COLUMNS:
        return None
    if series is None:
        raise DatasetError(
            f"{path}, line {numbers[0]}: a time column ({header[time]!r}) among {len(header)} columns makes this a long "
            "table (one row per series and time step), but no column names the series (id, series, sample, subject, "
            "... or *_id): rename the column that names each series 'id' (a file of one series: add an id column)."
        )
    rows, numbers = lines[1:], numbers[1:]
    if not rows:
        raise DatasetError(f"{path}: only a header line, no series.")
    columns = _columns(rows, delimiter, len(header))
    ids = columns[series] if columns else [f[series] if series < len(f) else "" for f in _fields(rows, delimiter)]
    if len(set(ids)) == len(rows):
        return None  # one row per id: a wide table whose columns happen to be named so
    if columns is None:
        wrong = next(i for i, fields in enumerate(_fields(rows, delimiter)) if len(fields) != len(header))
        raise DatasetError(
            f"{path}, line {numbers[wrong]}: {rows[wrong].count(delimiter) + 1} fields, but the header has "
            f"{len(header)} column names; in a long table (one row per series and time step) every row fills every "
            "column."
        )
    label = _label_index(path, header, label_column, (series, time))
    channels = [
        j for j in range(len(header)) if j not in (series, time, label) and not _numbers_rows(keys[j], columns[j])
    ]
    if not channels:
        raise DatasetError(f"{path}: a long table with no value column besides {header[series]!r}, {header[time]!r}.")
    values = np.column_stack([_numbers(path, header[j], j, columns[j], numbers) for j in channels])
    order, starts = _series_rows(path, header, columns[series], columns[time], numbers, series, time)
    lengths = np.diff(np.append(starts, len(order)))
    limits.check_values((len(starts), len(channels), int(lengths.max())), str(path))
    X = np.full((len(starts), len(channels), int(lengths.max())), np.nan)
    for i, (start, length) in enumerate(zip(starts, lengths)):
        X[i, :, :length] = values[order[start : start + length]].T
    first_rows = order[starts]
    y = None if label is None else _targets(path, header[label], columns[label], order, starts, numbers)
    return RawSeries(path=path, format="csv", X=X, y=y, lines=numbers[first_rows])


def _columns(rows: list[str], delimiter: str, width: int) -> list[list[str]] | None:
    """Each of the ``width`` columns' fields, unquoted; None when a row has another number of fields. One split of
    the whole table, each row closed by a marker field that proves the rows whole: a split per row took most of the
    read (1.8 M rows: 3.0 of 8.1 s)."""
    mark = "\x1e"  # ASCII's record separator, not found in text
    block = f"{delimiter}{mark}{delimiter}".join(rows)
    flat = block.split(delimiter)
    if len(flat) == len(rows) * (width + 1) - 1 and flat[width :: width + 1].count(mark) == len(rows) - 1:
        columns = [flat[j :: width + 1] for j in range(width)]
    else:  # a ragged table, or one whose text holds the marker
        split = _fields(rows, delimiter)
        if any(len(fields) != width for fields in split):
            return None
        columns = [list(column) for column in zip(*split)]
    if '"' in block or "'" in block:
        columns = [[unquote(f) for f in column] for column in columns]
    return columns


def _numbers_rows(name: str, column: list[str]) -> bool:
    """Whether a column is the row index a DataFrame writes (``to_csv(path)``: unnamed, or 'index' after
    ``reset_index``): named so and holding distinct whole numbers. It is no channel."""
    return name in ROW_INDEX_NAMES and all(c.isdecimal() for c in column) and len(set(column)) == len(column)


def _fields(rows: list[str], delimiter: str) -> list[list[str]]:
    return [row.split(delimiter) for row in rows]


def _label_index(path: Path, header: list[str], label_column: int | str | None, taken: tuple[int, int]) -> int | None:
    """The targets' column: named, indexed, or (by default) the one named like targets; never the id or time."""
    if label_column is None:
        return None
    if label_column is DEFAULT_LABEL_COLUMN:
        found = next((j for j, name in enumerate(header) if name.strip().lower() in LABEL_NAMES), None)
        if found is None:
            raise DatasetError(
                f"{path}: a long table (one row per series and time step, columns {header}) with no column named "
                f"like targets ({', '.join(sorted(LABEL_NAMES))}): name the one that holds them, label_column='NAME'."
            )
        return found
    if isinstance(label_column, str):
        if label_column not in header:
            raise DatasetError(f"{path}: no column named {label_column!r} in the header (columns: {header}).")
        index = header.index(label_column)
    elif not -len(header) <= label_column < len(header):
        raise DatasetError(f"{path}: label_column={label_column} is outside the {len(header)} columns.")
    else:
        index = label_column % len(header)
    if index in taken:
        raise DatasetError(
            f"{path}: label_column names {header[index]!r}, the long table's series or time column; name the column "
            "that holds the targets."
        )
    return index


def _numbers(path: Path, name: str, j: int, column: list[str], numbers: np.ndarray) -> np.ndarray:
    """Column ``j`` (named ``name``) as floats; missing-value marks are NaN (gaps, for ``missing`` to decide)."""
    try:
        return np.array(column, dtype=np.float64)
    except ValueError:
        pass
    cells = ["nan" if c in MISSING_TOKENS else c for c in column]
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        i = next(i for i, cell in enumerate(cells) if not is_number(cell))
    raise DatasetError(
        f"{path}, line {numbers[i]}, column {j + 1} ({name!r}): non-numeric value {cells[i][:40]!r}; a long "
        "table's columns besides the series, time and target ones are the series' values (channels); if "
        f"{name!r} holds the targets, pass label_column={name!r}."
    )


def _series_rows(
    path: Path, header: list[str], ids: list[str], times: list[str], numbers: np.ndarray, series: int, time: int
) -> tuple[np.ndarray, np.ndarray]:
    """The row order that lists each series' rows together, in time order, the series in order of first appearance;
    and where each series starts in it. Two rows of one series at one time are refused, and so is a missing id or
    time."""
    for j, column in ((series, ids), (time, times)):
        if missing := set(column) & set(MISSING_TOKENS):
            i = next(i for i, c in enumerate(column) if c in missing)
            raise DatasetError(f"{path}, line {numbers[i]}: the {header[j]!r} column is missing (a long table's row "
                               "names its series and its time).")  # fmt: skip
    codes = {s: k for k, s in enumerate(dict.fromkeys(ids))}
    series_code = np.array([codes[s] for s in ids])
    stamp = _sortable_times(times)
    order = np.lexsort(
        (np.arange(len(ids)), stamp, series_code) if stamp is not None else (np.arange(len(ids)), series_code)
    )
    if stamp is not None:
        same = np.flatnonzero(
            (series_code[order][1:] == series_code[order][:-1]) & (stamp[order][1:] == stamp[order][:-1])
        )
        if same.size:
            a, b = order[same[0]], order[same[0] + 1]
            raise DatasetError(
                f"{path}, lines {numbers[a]} and {numbers[b]}: two rows of series {ids[a]!r} ({header[series]!r}) at "
                f"one time, {times[a]!r} ({header[time]!r}); each series has one row per time step."
            )
    starts = np.flatnonzero(np.diff(series_code[order], prepend=-1))
    return order, starts


def _sortable_times(times: list[str]) -> np.ndarray | None:
    """Time stamps as numbers to sort by: numbers, or ISO 8601 dates and times; None for any other stamps (the rows
    keep the file's order)."""
    try:
        return np.array(times, dtype=np.float64)
    except ValueError:
        pass
    try:
        with warnings.catch_warnings():  # numpy warns that it drops a time zone ("Z", "+01:00") after applying it
            warnings.simplefilter("ignore", UserWarning)  # microseconds: years ±290 000 (nanoseconds wrap past 2262)
            return np.array(times, dtype="datetime64[us]").astype(np.int64)
    except ValueError:
        return None


def _targets(
    path: Path, name: str, cells: list[str], order: np.ndarray, starts: np.ndarray, numbers: np.ndarray
) -> np.ndarray:
    """One target per series: the one all of its rows give (a missing cell is refused, as is a series whose rows
    disagree); numbers as floats, other labels as text, as a wide table's."""
    missing = {c for c in set(cells) if c in MISSING_LABELS or c.lower() == "nan"}
    if missing:
        first = next(i for i, c in enumerate(cells) if c in missing)
        raise DatasetError(f"{path}, line {numbers[first]}: the target ({name!r}) is missing.")
    per_row = np.array(cells)[order]
    series_first = per_row[np.repeat(starts, np.diff(np.append(starts, len(order))))]
    if (other := np.flatnonzero(per_row != series_first)).size:
        k, start = other[0], starts[np.searchsorted(starts, other[0], side="right") - 1]
        raise DatasetError(
            f"{path}, lines {numbers[order[start]]} and {numbers[order[k]]}: one series with two targets in "
            f"{name!r}, {str(per_row[start])!r} and {str(per_row[k])!r}; a long table gives each series one target."
        )
    return label_array(per_row[starts].tolist())
