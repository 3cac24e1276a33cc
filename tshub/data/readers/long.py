"""Long tables: one row per series and time step (a series id column, a time column, one column per channel, and
the targets), as pandas' ``melt``, tsfresh, sktime's long format and most database exports write them.

Read as one series per id, in the order the ids first appear: its rows sorted by time (numbers, or ISO 8601 dates and
times; other stamps in the order they first appear), a step the series misses on the table's regular time grid a gap
(NaN), each remaining numeric column a channel, or, with a kind column
(tsfresh's ``kind``, pandas melt's ``variable``), one channel per kind of the one value column; series of fewer steps
NaN-padded at the end, as a shorter row of a wide CSV is (``variable_length`` decides later); the row index a
DataFrame writes with it (``to_csv(path)``) dropped. A table is long only by its header: a series column
(``SERIES_NAMES`` or ``*_id``) whose ids repeat, a time column (``TIME_NAMES``) and at most ``MAX_COLUMNS`` columns,
or more where an id holds at least as many rows as the table has columns (a 12-lead ECG's long export).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from tshub.data.dataset import DatasetError
from tshub.data.readers.base import DEFAULT_LABEL_COLUMN, MISSING_TOKENS, RawSeries, ReadLimits, is_missing_label
from tshub.data.readers.text import holds_row_numbers, is_number, label_array, unquote

#: Header names (lower case) of a series column and of a time column, which with few columns make a long table.
SERIES_NAMES = frozenset(
    {"id", "series", "sample", "case", "subject", "patient", "trial", "recording", "unit", "instance", "entity"}
)  # and any name ending in "_id"
TIME_NAMES = frozenset(
    {"t", "time", "timestamp", "date", "datetime", "ds", "step", "timestep", "time_step", "time_idx"}
)
MAX_COLUMNS = 10
#: Header names (lower case) of a column that names each row's channel (tsfresh's "kind", pandas melt's "variable").
KIND_NAMES = frozenset({"kind", "variable", "channel", "dimension", "dim"})
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
    column is refused, and so are series ids that repeat with no time column: read as one series per row, each row
    would be a series of a few values."""
    keys = [name.strip().lower() for name in header]
    series = next((j for j, k in enumerate(keys) if is_identifier(k, SERIES_NAMES)), None)
    time = next((j for j, k in enumerate(keys) if k in TIME_NAMES), None)
    if len(header) > MAX_COLUMNS and not (
        series is not None and time is not None and _rows_per_id(lines[1:], delimiter, series) >= len(header)
    ):
        return None
    if series is None:
        if time is None:
            return None
        raise DatasetError(
            f"{path}, line {numbers[0]}: a time column ({header[time]!r}) among {len(header)} columns makes this a long "
            "table (one row per series and time step), but no column names the series (id, series, sample, subject, "
            "... or *_id): rename the column that names each series 'id' (a file of one series: add an id column)."
        )
    rows, numbers = lines[1:], numbers[1:]
    if not rows:
        raise DatasetError(f"{path}: only a header line, no series.")
    columns = _columns(rows, delimiter, len(header))
    if columns is None:  # ragged rows: series of unequal lengths in a wide table, unless the ids repeat
        split = [row.split(delimiter) for row in rows]
        if time is not None and len({f[series] if series < len(f) else "" for f in split}) < len(rows):
            wrong = next(i for i, fields in enumerate(split) if len(fields) != len(header))
            raise DatasetError(
                f"{path}, line {numbers[wrong]}: {len(split[wrong])} fields, but the header has {len(header)} column "
                "names; in a long table (one row per series and time step) every row fills every column."
            )
        return None
    if len(set(columns[series])) == len(rows):
        return None  # one row per id: a wide table whose columns happen to be named so
    if time is None:
        if _one_target_per_id(header, columns, series, label_column):
            raise DatasetError(
                f"{path}: the ids of its series column ({header[series]!r}) repeat, which makes this a long table (one "
                f"row per series and time step), but no column names the time step ({', '.join(sorted(TIME_NAMES))}): "
                "rename the column of time steps 'time' (rows already in time order: add one counting them); if each "
                "row is a whole series, remove that column."
            )
        return None
    label = _label_index(path, header, label_column, (series, time))
    kind = next((j for j, k in enumerate(keys) if k in KIND_NAMES and j not in (series, time, label)), None)
    channels = [
        j for j in range(len(header)) if j not in (series, time, label, kind) and not _numbers_rows(keys[j], columns[j])
    ]
    if not channels:
        raise DatasetError(f"{path}: a long table with no value column besides {header[series]!r}, {header[time]!r}.")
    if kind is not None and len(channels) > 1:
        raise DatasetError(
            f"{path}: a long table whose {header[kind]!r} column names each row's channel holds the values in one "
            f"column, but {', '.join(repr(header[j]) for j in channels)} are all value columns; keep one of them."
        )
    values = np.column_stack([_numbers(path, header[j], j, columns[j], numbers) for j in channels])
    kinds = None if kind is None else _kind_order(columns[kind])
    order, starts, position, channel = _layout(path, header, columns, numbers, series, time, kind, kinds)
    n_channels = len(channels) if channel is None else int(channel.max()) + 1
    shape = (len(starts), n_channels, int(position.max()) + 1)
    limits.check_values(shape, str(path))
    X = np.full(shape, np.nan)
    series_of_row = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(order))))
    if channel is None:
        X[series_of_row[:, None], np.arange(n_channels), position[:, None]] = values[order]
    else:
        X[series_of_row, channel, position] = values[order, 0]
    first_rows = order[starts]
    y = None if label is None else _targets(path, header[label], columns[label], order, starts, numbers)
    names = [header[j] for j in channels] if kinds is None else kinds
    lengths = np.zeros(len(starts), dtype=np.int64)  # every channel's series ends at the id's last time step
    np.maximum.at(lengths, series_of_row, position + 1)
    ids = [columns[series][row].strip() for row in first_rows]
    return RawSeries(
        path=path,
        format="csv",
        X=X,
        y=y,
        lines=numbers[first_rows],
        channels=names,
        lengths=lengths,
        ids=ids,
        id_column=header[series].strip(),
    )


def _rows_per_id(rows: list[str], delimiter: str, series: int) -> float:
    """The median number of rows an id of the series column holds (0 without rows): a long table's series have many
    time steps each, while a wide table of whole series with an id and a time column (a subject's recordings) has few
    rows per id and many columns."""
    ids = [fields[series] if len(fields := row.split(delimiter, series + 1)) > series else "" for row in rows]
    counts = np.unique(ids, return_counts=True)[1]
    return float(np.median(counts)) if len(counts) else 0.0


def _one_target_per_id(
    header: list[str], columns: list[list[str]], series: int, label_column: int | str | None
) -> bool:
    """Whether every row of an id gives one target, as in a long table: the targets' column (``label_column``, by
    default the one named like targets, else the first) never differs within an id, or there is none. Rows of an id
    with different targets are separate series of a wide table whose id column repeats, and an id column that holds
    the targets names classes, not series."""
    if label_column is None:
        return True
    if label_column is DEFAULT_LABEL_COLUMN:
        label = _named_like_targets(header)
        label = 0 if label is None else label
    else:
        label = _given_column(header, label_column)
    if label is None:
        return True
    return label != series and len(set(zip(columns[series], columns[label]))) == len(set(columns[series]))


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
        split = [row.split(delimiter) for row in rows]
        if any(len(fields) != width for fields in split):
            return None
        columns = [list(column) for column in zip(*split)]
    if '"' in block or "'" in block:
        columns = [[unquote(f) for f in column] for column in columns]
    return columns


def _numbers_rows(name: str, column: list[str]) -> bool:
    """Whether a column is the row index a DataFrame writes (``to_csv(path)``: unnamed, or 'index' after
    ``reset_index``): named so and holding distinct whole numbers. It is no channel."""
    return name in ROW_INDEX_NAMES and holds_row_numbers(column)


def _label_index(path: Path, header: list[str], label_column: int | str | None, taken: tuple[int, int]) -> int | None:
    """The targets' column: named, indexed, or (by default) the one named like targets; never the id or time."""
    if label_column is None:
        return None
    if label_column is DEFAULT_LABEL_COLUMN:
        found = _named_like_targets(header)
        if found is None:
            raise DatasetError(
                f"{path}: a long table (one row per series and time step, columns {header}) with no column named "
                f"like targets ({', '.join(sorted(LABEL_NAMES))}): series without targets read with label_column=None, "
                "else name the column that holds them, label_column='NAME'."
            )
        return found
    index = _given_column(header, label_column)
    if index is None and isinstance(label_column, str):
        raise DatasetError(f"{path}: no column named {label_column!r} in the header (columns: {header}).")
    if index is None:
        raise DatasetError(f"{path}: label_column={label_column} is outside the {len(header)} columns.")
    if index in taken:
        raise DatasetError(
            f"{path}: label_column names {header[index]!r}, the long table's series or time column; name the column "
            "that holds the targets."
        )
    return index


def _named_like_targets(header: list[str]) -> int | None:
    """The first column named like targets (``LABEL_NAMES``), if any."""
    return next((j for j, name in enumerate(header) if name.strip().lower() in LABEL_NAMES), None)


def _given_column(header: list[str], label_column: int | str) -> int | None:
    """The column ``label_column`` names (a header name, or an index counted from either end); None if none."""
    if isinstance(label_column, str):
        return header.index(label_column) if label_column in header else None
    return label_column % len(header) if -len(header) <= label_column < len(header) else None


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


def _layout(
    path: Path,
    header: list[str],
    columns: list[list[str]],
    numbers: np.ndarray,
    series: int,
    time: int,
    kind: int | None,
    kinds: list[str] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Where each row goes: the row order that lists each series' rows together in time order (the series in order
    of first appearance), where each series starts in it, each ordered row's time step within its series and, with
    a ``kind`` column, its channel (kinds in the order pandas' ``pivot_table`` gives them, ``_kind_order``: the order
    rows come in differs between exports, and a model trained on one would be fed another's channels swapped). A
    missing id, time or kind is refused, and
    so are two rows of one series (and kind) at one time."""
    keys = (series, time) if kind is None else (series, time, kind)
    for j in keys:
        if missing := set(columns[j]) & set(MISSING_TOKENS):
            i = next(i for i, c in enumerate(columns[j]) if c in missing)
            raise DatasetError(f"{path}, line {numbers[i]}: the {header[j]!r} column is missing (a long table's row "
                               "names its series and its time).")  # fmt: skip
    series_code, kind_code = (
        _first_seen_codes(columns[series]),
        None if kind is None or kinds is None else _codes_in(columns[kind], kinds),
    )
    stamp, on_a_scale = _sortable_times(columns[time])
    if not on_a_scale and len(set(columns[time])) > 1:
        example = columns[time][0]
        warnings.warn(
            f"{path}: the {header[time]!r} stamps ({example!r}, ...) are neither numbers nor ISO 8601 dates and times, "
            "so each series' rows are taken in the order the rows come in, not sorted: write them as numbers or "
            "ISO 8601 (2024-01-02T00:00:01) to have them sorted.",
            stacklevel=2,
        )
    order = np.lexsort((np.arange(len(series_code)), *(() if kind_code is None else (kind_code,)), stamp, series_code))
    same_series = series_code[order][1:] == series_code[order][:-1]
    same_time = same_series & (stamp[order][1:] == stamp[order][:-1])
    same = same_time if kind_code is None else same_time & (kind_code[order][1:] == kind_code[order][:-1])
    if (twice := np.flatnonzero(same)).size:
        a, b = order[twice[0]], order[twice[0] + 1]
        raise DatasetError(
            f"{path}, lines {numbers[a]} and {numbers[b]}: two rows of series {columns[series][a]!r} "
            f"({header[series]!r}) at one time, {columns[time][a]!r} ({header[time]!r})"
            + ("" if kind is None else f", for one channel, {columns[kind][a]!r} ({header[kind]!r})")
            + "; each series has one row per time step"
            + ("." if kind is None else " and channel.")
        )
    starts = np.flatnonzero(np.r_[True, ~same_series])
    new_step = np.r_[True, ~same_time]
    step = np.cumsum(new_step) - 1  # the ordered rows' distinct (series, time) pairs, counted
    position = step - np.repeat(step[starts], np.diff(np.append(starts, len(order))))
    last_rows = np.append(starts[1:], len(order)) - 1
    grid = _grid_steps(stamp[order], starts, last_rows, new_step) if on_a_scale else None
    if grid is not None and (holes := int((grid - position)[last_rows].sum())):
        warnings.warn(
            f"{path}: {holes} time step{'s' if holes > 1 else ''} missing inside the series on the table's regular "
            f"time grid ({header[time]!r} a whole number of steps apart): read as gaps, for `missing` to decide.",
            stacklevel=2,
        )
        position = grid
    return order, starts, position, None if kind_code is None else kind_code[order]


def _grid_steps(stamps: np.ndarray, starts: np.ndarray, ends: np.ndarray, new_step: np.ndarray) -> np.ndarray | None:
    """Each ordered row's step on the table's regular time grid, counted from its series' first stamp: where every
    series' consecutive stamps lie a whole number of one step apart (the smallest gap), a step a series misses is a
    gap, not closed up. None where the stamps lie on no such grid (event times), or where the grid would hold a
    series with more holes than values (a stamp far off, which would blow the series up). ``starts`` and ``ends``:
    each series' first and last ordered row."""
    first_of_series = np.zeros(len(stamps), dtype=bool)
    first_of_series[starts] = True
    gaps = np.diff(stamps)[(new_step & ~first_of_series)[1:]]
    if not gaps.size:
        return None
    unit = gaps.min()
    offset = stamps - np.repeat(stamps[starts], np.diff(np.append(starts, len(stamps))))
    if stamps.dtype.kind == "i":  # dates, in microseconds: exact
        if np.any(gaps % unit):
            return None
        grid = offset // unit
    else:
        ratio = gaps / unit
        if not np.allclose(ratio, np.round(ratio), rtol=1e-9, atol=1e-6):
            return None
        grid = np.round(offset / unit).astype(np.int64)
    steps = np.add.reduceat(new_step.astype(np.int64), starts)
    return None if np.any(grid[ends] + 1 > 2 * steps) else grid


def _kind_order(cells: list[str]) -> list[str]:
    """The distinct kinds in the order pandas' pivot_table gives them: by number when every kind is one (1, 2, ...,
    10, not 1, 10, 2), else by name."""
    kinds = set(cells)
    return sorted(kinds, key=float) if all(is_number(k) for k in kinds) else sorted(kinds)


def _codes_in(cells: list[str], order: list[str]) -> np.ndarray:
    """Each cell's place in ``order``."""
    place = {value: k for k, value in enumerate(order)}
    return np.array([place[c] for c in cells])


def _first_seen_codes(cells: list[str]) -> np.ndarray:
    """Each cell's code, distinct values numbered in the order they first appear."""
    codes = {c: k for k, c in enumerate(dict.fromkeys(cells))}
    return np.array([codes[c] for c in cells])


def _sortable_times(times: list[str]) -> tuple[np.ndarray, bool]:
    """Time stamps as numbers to sort by, and whether they lie on a time scale: numbers, or ISO 8601 dates and times
    (in microseconds); any other stamps in the order they first appear in the file, on no scale."""
    try:
        return np.array(times, dtype=np.float64), True
    except ValueError:
        pass
    try:
        with warnings.catch_warnings():  # numpy warns that it drops a time zone ("Z", "+01:00") after applying it
            warnings.simplefilter("ignore", UserWarning)  # microseconds: years ±290 000 (nanoseconds wrap past 2262)
            return np.array(times, dtype="datetime64[us]").astype(np.int64), True
    except ValueError:
        return _first_seen_codes(times), False


def _targets(
    path: Path, name: str, cells: list[str], order: np.ndarray, starts: np.ndarray, numbers: np.ndarray
) -> np.ndarray:
    """One target per series: the one all of its rows give (a missing cell is refused, as is a series whose rows
    disagree); numbers as floats, other labels as text, as a wide table's."""
    missing = {c for c in set(cells) if is_missing_label(c)}
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
