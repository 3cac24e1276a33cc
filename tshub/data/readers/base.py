"""What every reader shares: the options' allowed values, ``ReadLimits`` for untrusted files, and ``RawSeries``,
one file as parsed before gaps and lengths are handled."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from tshub.data.dataset import DatasetError, Task

VariableLength = Literal["error", "truncate", "pad", "resample"]
Missing = Literal["error", "interpolate"]
VARIABLE_LENGTH: tuple[str, ...] = get_args(VariableLength)
MISSING: tuple[str, ...] = get_args(Missing)
TRAILING_NAN = ("padding", "missing")
#: Value cells that mean "no value" in text formats: the UCR/ARFF spellings, R's NA and what spreadsheet, pandas
#: and SQL exports write for a missing number.
MISSING_TOKENS = ("", "?", "NA", "N/A", "n/a", "#N/A", "<NA>", "NULL", "null", "None")
#: Label cells that mean "no label": fewer than for values, since "NA" or "None" can name a class.
MISSING_LABELS = ("", "?")


def is_missing_label(label: str) -> bool:
    """A label cell of a delimited table that says nothing: empty, '?', or NaN in any case."""
    return label in MISSING_LABELS or label.lower() == "nan"


class _UnchosenColumn(int):
    """Column 0 as a default: equal to 0 wherever a column index is read, yet told apart (by identity) from a
    caller's explicit 0, so a CSV header naming another column like the targets is refused, not read as data."""


#: The default ``label_column`` of every reader and of the CLI: column 0 unless the caller chose (see ``_parse_csv``).
DEFAULT_LABEL_COLUMN: int = _UnchosenColumn(0)


def label_column_from_text(text: str) -> int | str:
    """A label column as a user writes it (a CLI flag, a form field): an index in digits, negative from the end, or
    a header's name."""
    return int(text) if re.fullmatch(r"-?\d+", text.strip()) else text


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
        """Refuse to allocate an array of ``shape`` holding more than ``max_values`` values."""
        count = int(np.prod(shape, dtype=np.float64))
        if self.max_values is not None and count > self.max_values:
            raise DatasetError(
                f"{where}: {' × '.join(map(str, shape))} = {count:,} values, over the limit of "
                f"{self.max_values:,}; send fewer or shorter series."
            )


UNLIMITED = ReadLimits()


@dataclass
class RawSeries:
    """One file as parsed, before gaps and lengths are handled.

    ``X`` is float64 (n, channels, width) with NaN for missing or padding values, ``y`` the raw targets (strings or
    floats; None when the file has none), ``lines`` the 1-based line of each series (0 for binary formats).
    ``typed_labels``: ``y`` has the type its author gave it (an .npz array), so numeric labels keep their values
    (``Dataset.class_values``); a text format's numbers are parsed only to read fast, its labels stay text.
    ``channels``: the channels' names where the file names them (a long table's kinds or value columns), by which
    the files of one dataset line their channels up. ``lengths``: each series' own length where the file says it
    (a long table: its time steps), so that a NaN within it is a gap even at its end (a channel missing at its last
    time step), not a shorter series. ``ids``: the name each series has in the file where a column gives it (a long
    table's series column, a wide table's id column), ``id_column`` that column's name.
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
    typed_labels: bool = False
    channels: list[str] | None = None
    lengths: np.ndarray | None = None
    ids: list[str] | None = None
    id_column: str | None = None

    def where(self, i: int) -> str:
        """Where series ``i`` is, for messages: its line, or its index in a binary file."""
        return f"{self.path}, line {self.lines[i]}" if self.lines[i] else f"{self.path}, series {i}"


def check_option(name: str, value: str, allowed: tuple[str, ...]) -> None:
    """A clear error when an option's value is not one of ``allowed``."""
    if value not in allowed:
        raise DatasetError(f"{name}={value!r} is not an option; choose one of {', '.join(map(repr, allowed))}.")
