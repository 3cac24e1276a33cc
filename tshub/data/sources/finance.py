"""The S&P 500 index (^GSPC) as Otović et al. used it: 50 daily Close prices → the next Close (raw price).

Protocol that gives the paper's 22,681 windows from the 22,834 rows of 1927-12-30..2018-11-26: the Close series
is cut chronologically into train/val/test at floor(70 %) and floor(85 %) of the rows (15,983 / 3,425 / 3,426
rows), then each part is windowed on its own with ``range(len(part) - 50 - 1)`` start positions, i.e. every
window whose target lies in the part except the last one (tstl's off-by-one): 15,932 + 3,374 + 3,375 = 22,681
= 22,834 − 3 × 51. No window crosses a split boundary. Train, val, test follow each other in time (the order of
val and test in tstl is UNVERIFIED; the most recent part is test here).
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tshub.data.dataset import SPLIT_NAMES, Dataset, DatasetError
from tshub.data.sources.base import OTOVIC_CITATION, OTOVIC_FRACTIONS, find_file

SP500_WINDOW = 50

SP500_META = {
    "domain": "finance",
    "frequency": "daily (trading days)",
    "units": "USD (index points)",
    "target": "next Close",
    "window": SP500_WINDOW,
    "citation": "Yahoo Finance, S&P 500 index (^GSPC) daily history, https://finance.yahoo.com/quote/%5EGSPC/history",
    "license": "Yahoo Finance terms of use",
    "protocol": OTOVIC_CITATION,
}


def load_sp500(path: str | Path | None = None) -> Dataset:
    """Windows of 50 Close prices with the next Close as target, split chronologically 70/15/15 before windowing.

    ``path``: the Yahoo Finance CSV (``Date,...,Close,...``), its folder, or the data root (folder ``SP500/``).
    """
    file = find_file(path, ("SP500",), ("*.csv",))
    dates, close = read_close(file)
    bounds = row_bounds(len(close))
    X_parts, y_parts, splits, ranges = [], [], {}, {}
    start = 0
    for name, lo, hi in zip(SPLIT_NAMES, bounds[:-1], bounds[1:]):
        if hi - lo <= SP500_WINDOW + 1:
            raise DatasetError(
                f"{file}: the {name} part has {hi - lo} rows, too few for one {SP500_WINDOW}-day window."
            )
        windows = sliding_window_view(close[lo:hi], SP500_WINDOW + 1)[:-1]
        X_parts.append(windows[:, :SP500_WINDOW])
        y_parts.append(windows[:, SP500_WINDOW])
        splits[name] = np.arange(start, start + len(windows), dtype=np.int64)
        ranges[name] = {
            "rows": [int(lo), int(hi)],
            "first_target": dates[lo + SP500_WINDOW],
            "last_target": dates[lo + SP500_WINDOW + len(windows) - 1],
        }
        start += len(windows)
    return Dataset(
        name="SP500",
        X=np.concatenate(X_parts)[:, None, :],
        y=np.concatenate(y_parts),
        task="regression",
        splits=splits,
        meta={
            **SP500_META,
            "files": [str(file)],
            "split_ranges": ranges,
            "split_protocol": {
                "rule": "chronological_rows_then_windows",
                "fractions": dict(zip(SPLIT_NAMES, OTOVIC_FRACTIONS)),
            },
        },
    )


def row_bounds(n: int, fractions: tuple[float, ...] = OTOVIC_FRACTIONS) -> np.ndarray:
    """Row cut points [0, floor(70 % n), floor(85 % n), n] of the chronological parts (before windowing)."""
    cumulative = np.round(np.cumsum(fractions), 9)
    bounds = np.floor(cumulative * n).astype(np.int64)
    bounds[-1] = n
    return np.concatenate([[0], bounds])


def read_close(file: Path) -> tuple[list[str], np.ndarray]:
    """Dates and Close prices (float64) of a Yahoo Finance CSV, checked to be complete and in increasing date order."""
    try:
        with open(file, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not {"Date", "Close"} <= set(reader.fieldnames or []):
                raise DatasetError(f"{file}: needs columns Date and Close; the header is {reader.fieldnames}.")
            dates: list[str] = []
            close: list[float] = []
            last: datetime | None = None
            for line, row in enumerate(reader, start=2):
                try:
                    close.append(float(row["Close"]))
                except (TypeError, ValueError):
                    raise DatasetError(
                        f"{file} line {line}: Close {row['Close']!r} is not a number; drop or fill that row."
                    ) from None
                when = _iso_date(row["Date"], f"{file} line {line}")
                if last is not None and when <= last:
                    raise DatasetError(
                        f"{file} line {line}: date {row['Date']} does not follow {dates[-1]}; "
                        "rows must be in increasing date order."
                    )
                dates.append(row["Date"])
                last = when
    except OSError as exc:
        raise DatasetError(f"{file}: cannot read the CSV ({exc}).") from exc
    values = np.asarray(close, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise DatasetError(f"{file}: Close has NaN or infinite values; drop or fill those rows.")
    return dates, values


def _iso_date(text: str | None, where: str) -> datetime:
    """An ISO 8601 date (Yahoo Finance's YYYY-MM-DD, a time and zone allowed), in UTC when it has a zone: other
    spellings such as 01/02/2000 do not sort as text, so the date order could not be checked."""
    try:
        when = datetime.fromisoformat(text or "")
    except ValueError:
        raise DatasetError(
            f"{where}: date {text!r} is not an ISO date (YYYY-MM-DD, as Yahoo Finance writes it); convert the "
            "Date column to that form."
        ) from None
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when
