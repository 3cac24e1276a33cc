"""UCR ``.tsv`` (tab separated, label first), old UCR ``.txt`` / ``*_TRAIN`` files and ``.csv`` (one series per row)."""

from __future__ import annotations

from pathlib import Path

from tshub.data.dataset import DatasetError
from tshub.data.readers.base import MISSING_TOKENS, RawSeries
from tshub.data.readers.formats import register_format
from tshub.data.readers.text import is_number, numbered_lines, parse_table, raw_table, unquote


@register_format("ucr-tsv", ".tsv")
def _parse_ucr_tsv(path: Path, text: str, label_column: int | str | None) -> RawSeries:
    lines, numbers = numbered_lines(text)
    values, labels = parse_table(path, lines, numbers, "\t", label_column)
    return raw_table(path, "ucr-tsv", values, labels, numbers)


@register_format("ucr-txt", ".txt")
def _parse_ucr_txt(path: Path, text: str, label_column: int | str | None) -> RawSeries:
    """The UCR 2015 layout: label first, then values, separated by commas or by whitespace."""
    lines, numbers = numbered_lines(text)
    sep = "," if "," in lines[0] else None
    values, labels = parse_table(path, lines, numbers, sep, label_column)
    return raw_table(path, "ucr-txt", values, labels, numbers)


@register_format("csv", ".csv", options=("delimiter", "header"))
def _parse_csv(
    path: Path, text: str, label_column: int | str | None, *, delimiter: str = ",", header: bool | None = None
) -> RawSeries:
    """One series per row; an optional header (auto-detected: a non-numeric value outside the label column)."""
    lines, numbers = numbered_lines(text)
    first = [unquote(f) for f in lines[0].split(delimiter)]
    if header is None:
        skip = label_column if isinstance(label_column, int) else None
        header = isinstance(label_column, str) or any(
            not is_number(f) and f not in MISSING_TOKENS
            for j, f in enumerate(first)
            if skip is None or j != skip % len(first)
        )
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
    values, labels = parse_table(path, lines, numbers, delimiter, label_column)
    return raw_table(path, "csv", values, labels, numbers)
