"""Upload intake: size-limited copies stored content-addressed, parsed with tshub's readers, kept as .npz.

Raw files land in ``uploads/<sha256><suffix>`` of the storage (``server.storage``) before parsing (so an
acknowledged upload is never lost); only these raw blobs are shared between tenants. The parsed dataset, with its
splits, name and summary (derived from this tenant's file names and options), goes to
``datasets/<owner>/<key>.npz`` (plain arrays, loaded
with ``allow_pickle=False``), so nothing one tenant named or uploaded shows in another's data or checkpoints.
Parsing reads under ``ReadLimits`` and runs in an isolated child process (``server.isolation``). Every problem with the user's file becomes an ``UploadError`` with an HTTP status and a
message saying what is wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from server.storage import ObjectStore, open_storage
from tshub.data.dataset import Dataset, DatasetError, refuse_incomplete_series
from tshub.data.readers import DEFAULT_LABEL_COLUMN, ReadLimits, file_format, read_file, read_split_files
from tshub.data.readers.base import label_column_from_text
from tshub.data.splits import check_classes, training_splits

log = logging.getLogger(__name__)

#: The suffix each reader format is stored under (a stored file is named by its content, not its upload name).
FORMAT_SUFFIX = {"ucr-tsv": ".tsv", "ucr-txt": ".txt", "ts": ".ts", "arff": ".arff", "csv": ".csv", "npz": ".npz"}
TEST_FRACTION = 0.15  # held out of a single file without splits, so jobs report test metrics
NPZ_FORMAT = 1
_CHUNK = 1 << 20


class UploadError(ValueError):
    """A rejected upload: ``status`` is the HTTP status to answer (413, 415 or 422)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def chosen_label_column(field: str | None) -> int | str | None:
    """The upload form's label column: an index, a header's name, or None when the client chose none (empty or
    omitted), so the readers' default applies: the first column, refused when a header names another like a label."""
    if field is None or not field.strip():
        return None
    return label_column_from_text(field)


@dataclass(frozen=True)
class ParseOptions:
    """The reader options a user may set (see ``tshub.data.readers.read_file``)."""

    task: str | None = None
    label_column: int | str | None = None  # None: the readers' default (DEFAULT_LABEL_COLUMN), not an explicit 0
    variable_length: str = "error"
    missing: str = "error"
    name: str | None = None
    split_order: str = "auto"  # how the splits are carved (tshub.data.splits.SPLIT_ORDERS): part of the parse

    def key(self) -> str:
        return json.dumps(
            [self.task, self.label_column, self.variable_length, self.missing, self.name, self.split_order]
        )


@dataclass(frozen=True)
class StoredFile:
    path: Path  # a local copy, for the parser
    sha256: str
    size: int
    filename: str


@dataclass(frozen=True)
class Ingested:
    """A parsed upload: where its arrays live (relative to storage) and its JSON summary."""

    path: str
    raw_sha256: str
    summary: dict[str, Any]
    bytes: int  # stored for this dataset: the raw files and the parsed arrays


def upload_suffix(filename: str) -> str:
    """The suffix to store ``filename`` under, from the format the readers see in its name; 415 when none."""
    name = Path(filename).name or "upload"
    try:
        fmt = file_format(Path(name))
    except DatasetError as err:
        raise UploadError(415, str(err)) from None
    return FORMAT_SUFFIX[fmt] + (".gz" if filename.lower().endswith(".gz") else "")


def store_raw(stream: BinaryIO, filename: str, storage: ObjectStore | Path, limit_bytes: int) -> StoredFile:
    """Copy ``stream`` into the content-addressed upload store, refusing more than ``limit_bytes`` (413)."""
    storage = open_storage(storage)
    suffix = upload_suffix(filename)
    digest, size = hashlib.sha256(), 0
    spool = storage.temp_file()
    try:
        with open(spool, "wb") as out:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > limit_bytes:
                    raise UploadError(413, too_large_message(limit_bytes))
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise UploadError(422, f"{filename!r} is empty.")
        key = f"uploads/{digest.hexdigest()}{suffix}"
        storage.put_file(key, spool)
    finally:
        spool.unlink(missing_ok=True)
    path = storage.local_path(key)
    assert path is not None  # just stored
    return StoredFile(path, digest.hexdigest(), size, filename)


def too_large_message(limit_bytes: int) -> str:
    return (
        f"upload too large: the limit is {limit_bytes / 2**20:g} MB per request (TSHUB_MAX_UPLOAD_MB); "
        "split the data or ask the operator to raise the limit."
    )


def ingest(
    files: list[StoredFile],
    options: ParseOptions,
    storage: ObjectStore | Path,
    owner_id: str,
    limits: ReadLimits = ReadLimits(),
) -> Ingested:
    """Parse one file (split here) or a train and a test file; store the arrays and return the summary.

    The parsed result is keyed by the owner, the raw files and the options, so a re-upload by the same tenant
    reuses it and one by another tenant is parsed afresh from its own file names.
    """
    options = replace(options, name=options.name or default_name(files[0].filename))
    key = hashlib.sha256("|".join([owner_id, *(f.sha256 for f in files), options.key()]).encode()).hexdigest()
    storage = open_storage(storage)
    rel = f"datasets/{owner_id}/{key}.npz"
    raw_bytes = sum(f.size for f in files)
    existing = storage.local_path(rel)
    if existing is not None:
        return Ingested(
            rel,
            files[0].sha256,
            {**load_summary(existing), "files": [f.filename for f in files]},
            raw_bytes + existing.stat().st_size,
        )
    with warnings.catch_warnings(record=True) as caught:  # the parser's and the splits' warnings go to the client
        warnings.simplefilter("always")
        dataset = parse(files, options, limits)
        dataset, split_notes = with_training_splits(dataset, options.split_order)
    notes = [hide_paths(str(w.message), files) for w in caught]  # a reader's warning names the file it read
    check_trainable(dataset)
    summary = {
        **dataset.summary(),
        "files": [f.filename for f in files],
        "sha256": [f.sha256 for f in files],
        "split_protocol": dataset.meta.get("split_protocol"),
        "warnings": notes + split_notes + data_warnings(dataset),
    }
    staged = storage.temp_file(".npz")
    try:
        save_npz(dataset, staged, summary)
        size = staged.stat().st_size
        storage.put_file(rel, staged)
    finally:
        staged.unlink(missing_ok=True)
    return Ingested(rel, files[0].sha256, summary, raw_bytes + size)


def parse(files: list[StoredFile], options: ParseOptions, limits: ReadLimits = ReadLimits()) -> Dataset:
    """Read uploaded file(s) with tshub's readers (a second file is the test split); any failure is the
    file's fault, reported as 422 with the reader's message (naming the uploaded file, line and problem)."""
    kw: dict[str, Any] = {
        "task": options.task,
        "label_column": DEFAULT_LABEL_COLUMN if options.label_column is None else options.label_column,
        "variable_length": options.variable_length,
        "missing": options.missing,
        "name": options.name or default_name(files[0].filename),
        "limits": limits,
    }
    shown = ", ".join(repr(f.filename) for f in files)
    try:
        if len(files) == 1:
            dataset = read_file(files[0].path, **kw)
        else:
            dataset = read_split_files({"train": files[0].path, "test": files[1].path}, **kw)
    except MemoryError:
        raise UploadError(413, f"{shown}: too large to parse in memory on this server.") from None
    except Exception as err:  # untrusted input: every reader error means a malformed file
        log.info("upload %s rejected: %r", shown, err)
        raise UploadError(422, f"could not read {shown}: {hide_paths(str(err) or type(err).__name__, files)}") from None
    dataset.meta["source_files"] = [f.filename for f in files]  # not the server's paths
    return dataset


def default_name(filename: str) -> str:
    """The dataset name of an upload named ``filename`` (``GunPoint_TRAIN.tsv.gz`` → ``GunPoint``)."""
    return re.sub(r"_train$", "", Path(filename).name.split(".")[0], flags=re.I) or "upload"


def hide_paths(message: str, files: list[StoredFile]) -> str:
    """``message`` with the server's storage paths replaced by the names the user uploaded."""
    for f in files:
        message = message.replace(str(f.path), f.filename)
    return message


def with_training_splits(ds: Dataset, split_order: str = "auto") -> tuple[Dataset, list[str]]:
    """Make sure the dataset has train and val (and, from a file without splits, test) splits, saying what was made
    (``tshub.data.splits.training_splits``, as fine-tuning in Python and the CLI do, ``split_order`` included: the
    upload carves the splits every job on it trains, validates and tests on)."""
    try:
        return training_splits(ds, test_fraction=TEST_FRACTION, seed=0, split_order=split_order)
    except ValueError as err:
        raise UploadError(422, f"cannot train on the {len(ds.X)} series: {err}") from None


def check_trainable(ds: Dataset) -> None:
    """Reject data that cannot train: non-finite values, too few series per split, a single class or a regression
    target that never varies (``check_classes``, as in Python and the CLI)."""
    try:
        refuse_incomplete_series(
            ds.X,
            "clean them, or for variable-length series padded with NaN pass variable_length=pad, truncate or resample.",
        )
    except DatasetError as err:
        raise UploadError(422, str(err)) from None
    if ds.task == "regression" and not np.all(np.isfinite(ds.y)):
        raise UploadError(422, "some regression targets are NaN or infinite; every series needs a finite target.")
    try:
        check_classes(ds)
    except DatasetError as err:
        raise UploadError(422, str(err)) from None
    sizes = ds.split_sizes
    if sizes.get("train", 0) < 2 or sizes.get("val", 0) < 1:
        raise UploadError(422, f"too few series to train: splits {sizes}; need at least 2 in train and 1 in val.")


def data_warnings(ds: Dataset) -> list[str]:
    """Things that do not stop training but the user should know."""
    notes = []
    flat = ds.X.reshape(len(ds.X), -1)
    constant = int((flat.std(axis=1) == 0).sum())
    if constant:
        notes.append(f"{constant} series are constant (z-normalisation maps them to zeros)")
    if "test" not in ds.splits or not len(ds.splits["test"]):
        notes.append("no test split: jobs report validation metrics only")
    if ds.task == "classification":
        counts = np.bincount(ds.y[ds.splits["train"]], minlength=len(ds.classes or []))
        rare = [c for c, k in zip(ds.classes or [], counts) if k == 1]  # none at all: the splits' warning says so
        if rare:
            notes.append(f"classes with a single training series: {rare[:10]}")
    if len(ds.splits["train"]) < 30:
        notes.append(f"small training set ({len(ds.splits['train'])} series): metrics will be noisy")
    return notes


# --------------------------------------------------------------------------------------------- .npz round trip
def save_npz(ds: Dataset, path: Path, summary: dict[str, Any]) -> None:
    """Write arrays, splits and JSON metadata (no object arrays, so no pickle), atomically."""
    arrays: dict[str, np.ndarray] = {
        "X": ds.X,
        "y": ds.y,
        "header": np.array(
            json.dumps(
                {
                    "format": NPZ_FORMAT,
                    "name": ds.name,
                    "task": ds.task,
                    "classes": ds.classes,
                    "meta": ds.meta,
                    "summary": summary,
                },
                default=str,
            )
        ),
    }
    arrays.update({f"split.{k}": v for k, v in ds.splits.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as out:
        np.savez(out, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds like allow_pickle (bool)
        out.flush()
        os.fsync(out.fileno())
    os.replace(out.name, path)


def load_npz(source: Path | bytes) -> Dataset:
    """The dataset written by ``save_npz``, from a path or the file's bytes (as a Ray task receives it)."""
    with np.load(io.BytesIO(source) if isinstance(source, bytes) else source, allow_pickle=False) as z:
        header = json.loads(str(z["header"]))
        splits = {k[len("split.") :]: z[k] for k in z.files if k.startswith("split.")}
        return Dataset(
            name=header["name"],
            X=z["X"],
            y=z["y"],
            task=header["task"],
            classes=header["classes"],
            splits=splits,
            meta=header["meta"],
        )


def load_summary(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["header"]))["summary"]
