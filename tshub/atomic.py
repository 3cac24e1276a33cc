"""Atomic file writes: every file that readers or other processes may open while it is written (records, indexes,
cards, checkpoints' metadata, service model blobs) goes through here, and every checkpoint folder written whole."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[Path], object], *, durable: bool = True) -> None:
    """Create ``path`` through ``write(temporary sibling)``, flush it to disk (``durable``), then rename it over
    ``path``.

    Readers see the old file or the new one, never a partial one; the temporary name is unique per process, so
    processes writing the same file concurrently do not clobber each other's temporary (the last rename wins).
    Without ``durable`` a crash of the machine (not of the process) may leave the file absent, empty or cut short:
    only for files that are recomputed when missing or unreadable, such as caches, where the flush is pure cost.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text_atomic(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def replace_folder(path: str | Path, fill: Callable[[Path], object]) -> Path:
    """Create the folder ``path`` through ``fill(empty temporary sibling)``, then swap it for the old one.

    A failure while filling leaves the old folder as it was, and no reader finds a half-written one (only, for the
    instant between two renames, none). The temporary names are unique per process, as in ``atomic_write``.
    """
    path = Path(path)
    staging = path.with_name(f".{path.name}.{os.getpid()}.new")
    retired = path.with_name(f".{path.name}.{os.getpid()}.old")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        fill(staging)
        if path.exists():
            os.replace(path, retired)
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(retired, ignore_errors=True)
    return path
