"""The format registry: every reader module registers its parser under a format name and the suffixes it reads.

A text parser is called as ``parse(path, text, label_column, **options)`` once the file is read (gunzipped, byte-
and line-capped, decoded); a ``binary`` one as ``parse(path, label_column, limits)`` on the path. A ``bounded``
text parser also gets ``limits=`` because what it allocates is declared inside the file (``.ts`` headers).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tshub.data.dataset import DatasetError
from tshub.data.readers.base import RawSeries

Parser = TypeVar("Parser", bound=Callable[..., RawSeries])


@dataclass(frozen=True)
class FileFormat:
    """A registered format: its name, the suffixes it reads, its parser and the keyword options it takes."""

    name: str
    suffixes: tuple[str, ...]
    parse: Callable[..., RawSeries]
    binary: bool = False
    bounded: bool = False
    options: frozenset[str] = frozenset()
    label_columns: bool = False  # its targets are a column to pick (delimited text), not declared by the file


_REGISTRY: dict[str, FileFormat] = {}


def register_format(
    name: str,
    *suffixes: str,
    binary: bool = False,
    bounded: bool = False,
    options: tuple[str, ...] = (),
    label_columns: bool = False,
) -> Callable[[Parser], Parser]:
    """Decorator registering ``parse`` as the reader of format ``name`` (files ending in ``suffixes``); with
    ``label_columns`` its targets are the column ``label_column`` picks, else the file declares them."""

    def wrap(parse: Parser) -> Parser:
        if name in _REGISTRY:
            raise ValueError(f"file format {name!r} is already registered")
        _REGISTRY[name] = FileFormat(name, suffixes, parse, binary, bounded, frozenset(options), label_columns)
        return parse

    return wrap


def get_format(name: str) -> FileFormat:
    """The registered format ``name``."""
    return _REGISTRY[name]


def suffixes() -> dict[str, str]:
    """Every registered suffix and the format that reads it, in registration order."""
    return {suffix: fmt.name for fmt in _REGISTRY.values() for suffix in fmt.suffixes}


def file_format(path: Path) -> str:
    """The format name of a path from its suffix (``.gz`` looked through); old UCR files end in _TRAIN/_TEST."""
    lower = path.name.lower().removesuffix(".gz")
    fmt = suffixes().get(Path(lower).suffix)
    if fmt is not None and get_format(fmt).binary and path.name.lower().endswith(".gz"):
        raise DatasetError(
            f"{path}: an {Path(lower).suffix} archive is already compressed; read the uncompressed "
            f"{Path(lower).suffix}."
        )
    if fmt is None and re.search(r"_(train|test)$", lower):
        fmt = "ucr-txt"
    if fmt is None:
        text = [suffix for suffix, name in suffixes().items() if not get_format(name).binary]
        binary = [suffix for suffix, name in suffixes().items() if get_format(name).binary]
        raise DatasetError(
            f"{path}: unsupported file type; supported suffixes: {', '.join(text)} (each optionally .gz) or "
            f"{', '.join(binary)} (not gzipped: already compressed), or an old UCR file named *_TRAIN / *_TEST."
        )
    return fmt
