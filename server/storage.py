"""Where the service keeps files: one interface over a local folder (the default) and an S3-compatible bucket.

Keys are relative POSIX paths: ``uploads/<sha256><suffix>`` (raw uploads, content-addressed), ``datasets/<owner>/
<key>.npz`` (parsed arrays, per tenant) and ``models/<job>.zip`` (fine-tuned checkpoints). Every put is atomic (a
rename in the folder; a single PUT or a completed multipart upload in S3), so a reader, or a restart after kill -9,
sees a whole file or none. Work that needs a file on disk (parsing, training, downloads) reads ``local_path``: the
file itself in a folder, a cached copy (keyed by the object's ETag) under the local scratch folder with S3.

The rest of this module is what tenants keep here: usage per tenant (for its quota), deleting a dataset's or
job's files, and sweeping what nothing references any more (rejected uploads, temp files of killed requests,
raw blobs of deleted datasets, abandoned multipart uploads). Only files older than a grace period are swept,
so work in flight is never touched.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from server.config import Settings
from server.db import TERMINAL_STATES, DatasetRecord, Job
from server.hub_store import hub_blobs

#: The scratch folder where a job's trainings keep their state, a folder per job (server.worker).
JOB_STATES = "job-states"

log = logging.getLogger(__name__)

PREFIXES = ("uploads", "datasets", "models")


class StorageError(RuntimeError):
    """The storage cannot be used as configured (the message says what to fix)."""


class ObjectStore(ABC):
    """Files by key, written atomically; ``scratch`` is a local folder for temp files and cached copies."""

    scratch: Path

    def temp_file(self, suffix: str = "") -> Path:
        """A new empty file in the scratch folder, for content on its way in (then ``put_file``)."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.scratch, suffix=suffix)
        os.close(fd)
        return Path(name)

    @abstractmethod
    def put_file(self, key: str, path: Path) -> None:
        """Store the local file ``path`` under ``key`` atomically; the file is moved (gone from ``path``)."""

    @abstractmethod
    def local_path(self, key: str) -> Path | None:
        """A local file with the content of ``key`` (None when there is no such key); do not modify it."""

    @abstractmethod
    def size(self, key: str) -> int | None:
        """The size of ``key`` in bytes, None when absent."""

    @abstractmethod
    def delete(self, key: str, older_than: float | None = None) -> None:
        """Remove ``key`` (nothing happens when it is absent, or, with ``older_than``, when it was written since)."""

    @abstractmethod
    def listing(self, prefix: str) -> Iterator[tuple[str, float]]:
        """``(key, modification time)`` of every key under ``prefix/``."""

    def sweep_partial(self, cutoff: float, keep: frozenset[Path] = frozenset()) -> int:
        """Remove partial writes older than ``cutoff`` (a time.time()), but none under the folders ``keep``; returns
        how many went."""
        return _remove_old_files(self.scratch, cutoff, keep)


class LocalFolder(ObjectStore):
    """Keys as files under ``root``; the scratch folder is ``root/tmp``, on the same file system, so a put is a
    rename. Shared between machines only through a shared file system (NFS): use S3 otherwise."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.scratch = self.root / "tmp"

    def put_file(self, key: str, path: Path) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except OSError:  # another file system: copy next to the target, then rename
            staged = self.temp_file()
            shutil.move(path, staged)
            os.replace(staged, target)

    def local_path(self, key: str) -> Path | None:
        path = self.root / key
        return path if path.is_file() else None

    def size(self, key: str) -> int | None:
        path = self.root / key
        return path.stat().st_size if path.is_file() else None

    def delete(self, key: str, older_than: float | None = None) -> None:
        path = self.root / key
        try:
            if older_than is None or path.stat().st_mtime < older_than:
                path.unlink()
        except FileNotFoundError:
            pass

    def listing(self, prefix: str) -> Iterator[tuple[str, float]]:
        folder = self.root / prefix
        for path in folder.rglob("*") if folder.is_dir() else ():
            try:
                if path.is_file():
                    yield path.relative_to(self.root).as_posix(), path.stat().st_mtime
            except FileNotFoundError:
                pass

    def __repr__(self) -> str:
        return f"LocalFolder({str(self.root)!r})"


class S3Store(ObjectStore):
    """Keys as objects of an S3-compatible bucket (AWS S3, MinIO, Ceph, ...) under an optional prefix.

    The endpoint and credentials come from boto3's usual environment (``AWS_ENDPOINT_URL``,
    ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``), so every API and worker machine
    configured alike sees the same files. One boto3 client per process (clients do not survive a fork).
    """

    def __init__(self, bucket: str, prefix: str, scratch: Path):
        self.bucket, self.prefix, self.scratch = bucket, prefix.strip("/"), Path(scratch)
        self._client: Any = None
        self._pid = -1
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, scratch: Path) -> S3Store:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise StorageError(f"TSHUB_SERVER_STORAGE={url!r}: an S3 location reads s3://BUCKET[/PREFIX].")
        return cls(parsed.netloc, parsed.path, scratch)

    def __getstate__(self) -> dict[str, Any]:  # pickled into isolated children and Ray tasks: no client, no lock
        return {"bucket": self.bucket, "prefix": self.prefix, "scratch": self.scratch}

    def __setstate__(self, state: dict[str, Any]) -> None:
        S3Store.__init__(self, state["bucket"], state["prefix"], state["scratch"])

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                try:
                    import boto3
                except ImportError:
                    raise StorageError("S3 storage needs boto3: pip install 'tshub[cluster]'") from None
                self._client, self._pid = boto3.client("s3"), os.getpid()
            return self._client

    def check(self) -> None:
        """Fail at start, with what to fix, when the bucket cannot be reached."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as err:
            raise StorageError(
                f"cannot use S3 bucket {self.bucket!r} ({err}); create it, and check AWS_ENDPOINT_URL "
                "and the AWS credentials in the environment."
            ) from None

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_file(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.bucket, self._name(key))
        etag = self._etag(key)
        if etag is None:
            raise StorageError(f"S3 lost {key!r} right after storing it")
        cached = self._cached(key, etag)
        cached.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, cached)  # what we just stored is the cached copy of its reads on this machine

    def local_path(self, key: str) -> Path | None:
        etag = self._etag(key)
        if etag is None:
            return None
        cached = self._cached(key, etag)
        if not cached.is_file():
            partial = self.temp_file()
            self.client.download_file(self.bucket, self._name(key), str(partial))
            cached.parent.mkdir(parents=True, exist_ok=True)
            os.replace(partial, cached)
        return cached

    def size(self, key: str) -> int | None:
        head = self._head(key)
        return None if head is None else int(head["ContentLength"])

    def delete(self, key: str, older_than: float | None = None) -> None:
        if older_than is not None:
            head = self._head(key)
            if head is None or head["LastModified"].timestamp() >= older_than:
                return
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        shutil.rmtree(self.scratch / "cache" / key, ignore_errors=True)

    def listing(self, prefix: str) -> Iterator[tuple[str, float]]:
        start = len(self._name(""))
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._name(prefix + "/")
        ):
            for item in page.get("Contents", ()):
                yield item["Key"][start:], item["LastModified"].timestamp()

    def sweep_partial(self, cutoff: float, keep: frozenset[Path] = frozenset()) -> int:
        """Local temp files (none under the folders ``keep``) and multipart uploads abandoned by killed processes
        (old cached copies go too, uncounted: they are copies)."""
        _remove_old_files(self.scratch / "cache", cutoff)
        removed = _remove_old_files(self.scratch, cutoff, keep)
        for page in self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self._name("")
        ):
            for upload in page.get("Uploads", ()):
                if upload["Initiated"].timestamp() < cutoff:
                    removed += self._abort_upload(upload["Key"], upload["UploadId"])
        return removed

    def _abort_upload(self, name: str, upload_id: str) -> int:
        """1 when this call aborted the upload, 0 when it was already gone: another replica's sweep aborted it,
        or its writer's last request completed it after the listing, which is what the sweep wants either way."""
        from botocore.exceptions import ClientError

        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "NoSuchUpload":
                return 0
            raise
        return 1

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def _etag(self, key: str) -> str | None:
        head = self._head(key)
        return None if head is None else head["ETag"].strip('"')

    def _cached(self, key: str, etag: str) -> Path:
        """Where this machine keeps a copy of ``key`` at version ``etag`` (under its own name: readers go by the
        suffix)."""
        return self.scratch / "cache" / key / etag / Path(key).name

    def __repr__(self) -> str:
        return f"S3Store('s3://{self.bucket}/{self.prefix}')"


def open_storage(location: ObjectStore | str | Path, scratch: Path | None = None) -> ObjectStore:
    """The store at ``location``: ``s3://bucket[/prefix]`` (scratch: a local folder for temp files and cached
    copies), or a local folder."""
    if isinstance(location, ObjectStore):
        return location
    if str(location).startswith("s3://"):
        if scratch is None:
            raise StorageError("S3 storage needs a local scratch folder")
        return S3Store.from_url(str(location), scratch)
    return LocalFolder(Path(location))


def _remove_old_files(folder: Path, cutoff: float, keep: frozenset[Path] = frozenset()) -> int:
    removed = 0
    for path in folder.rglob("*") if folder.is_dir() else ():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff and keep.isdisjoint(path.parents):
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


# ------------------------------------------------------------------------------------------ what tenants keep
def tenant_usage(Session: sessionmaker, owner_id: str, hub_files: dict[str, int] | None = None) -> int:
    """Bytes stored for ``owner_id``: its datasets (raw and parsed; the datasets of one re-uploaded file share their
    stored files, counted once), its jobs' models and its Hub repos' files (``hub_files``, its ``hub_blobs`` when the
    caller has read them already)."""
    per_file = (
        select(func.max(DatasetRecord.bytes).label("bytes"))
        .where(DatasetRecord.owner_id == owner_id)
        .group_by(DatasetRecord.path)
        .subquery()
    )
    with Session() as session:
        data = session.scalar(select(func.coalesce(func.sum(per_file.c.bytes), 0)))
        models = session.scalar(select(func.coalesce(func.sum(Job.model_bytes), 0)).where(Job.owner_id == owner_id))
    held = hub_blobs(Session, owner_id) if hub_files is None else hub_files
    return int(data) + int(models) + sum(held.values())


def dataset_bytes_added(Session: sessionmaker, owner_id: str, path: str, size: int) -> int:
    """What storing a dataset of ``size`` bytes at ``path`` adds to ``owner_id``'s usage: nothing where one of its
    datasets already holds that parsed file (a re-upload), ``size`` otherwise."""
    with Session() as session:
        held = session.scalar(
            select(func.count())
            .select_from(DatasetRecord)
            .where(DatasetRecord.owner_id == owner_id, DatasetRecord.path == path)
        )
    return 0 if held else size


def raw_bytes_added(Session: sessionmaker, owner_id: str, files: dict[str, int]) -> int:
    """What the raw uploads ``files`` (size by sha256) add to ``owner_id``'s usage: those its datasets already
    hold add nothing."""
    with Session() as session:
        rows = session.execute(
            select(DatasetRecord.raw_sha256, DatasetRecord.summary).where(DatasetRecord.owner_id == owner_id)
        ).all()
    held = raw_digests((first, summary) for first, summary in rows)
    return sum(size for sha, size in files.items() if sha not in held)


def raw_digests(datasets: Iterable[tuple[str, dict[str, Any] | None]]) -> set[str]:
    """The sha256 of every raw upload the datasets ``(raw_sha256, summary)`` were parsed from: the first file's
    column, and every file's in the summary (a test file's too)."""
    return {sha for first, summary in datasets for sha in [first, *(summary or {}).get("sha256", [])]}


def over_quota(settings: Settings, used: int) -> str | None:
    """Why storing ``used`` bytes for a tenant is refused (413), or None within TSHUB_TENANT_STORAGE_MB."""
    if used <= settings.tenant_storage_bytes:
        return None
    stored, limit = f"{used / 2**20:,.1f} MB", f"{settings.tenant_storage_mb:g} MB"
    if stored == f"{settings.tenant_storage_mb:,.1f} MB":  # "0.5 MB, over the limit of 0.5 MB" says nothing: bytes
        stored, limit = f"{used:,} bytes", f"{settings.tenant_storage_bytes:,} bytes ({limit})"
    return (
        f"storage quota exceeded: this would store {stored} for your token (datasets, job models and Hub files), "
        f"over the limit of {limit} (TSHUB_TENANT_STORAGE_MB); delete datasets or jobs you no longer need "
        "(DELETE /v1/datasets/{id}, DELETE /v1/jobs/{id})."
    )


class TenantLocks:
    """A lock per tenant, held from a check of what it stores to the write that the check allowed: its quota, which
    its concurrent uploads and Hub commits would otherwise all pass before any of them had stored; and a parsed file
    that a re-upload reuses, which the deletion of its twin dataset would otherwise remove as unreferenced. They hold
    within one API process (the Hub runs on one; uploads spread over several API machines can overshoot the quota by
    one request each)."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, owner_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(owner_id, threading.Lock())


def remove_unreferenced(storage: ObjectStore, Session: sessionmaker, dataset_key: str) -> None:
    """Delete a parsed dataset once no dataset row points at it (a tenant's re-uploads share one)."""
    with Session() as session:
        still_used = session.scalar(
            select(func.count()).select_from(DatasetRecord).where(DatasetRecord.path == dataset_key)
        )
    if not still_used:
        storage.delete(dataset_key)


def sweep(storage: ObjectStore | Path, Session: sessionmaker, grace_s: float) -> int:
    """Delete temp files, raw uploads, parsed datasets and models that no row references and that are older
    than ``grace_s`` (but no saved training state of a job still queued or running: an ω trained long ago resumes
    from it after a kill); returns how many files went."""
    storage = open_storage(storage)
    with Session() as session:
        datasets = session.execute(select(DatasetRecord.path, DatasetRecord.raw_sha256, DatasetRecord.summary)).all()
        models = set(session.scalars(select(Job.model_path).where(Job.model_path.is_not(None))))
    raw = raw_digests((first, summary) for _, first, summary in datasets)
    referenced = {
        "uploads": lambda key: key.split("/")[-1].split(".")[0] in raw,
        "datasets": {path for path, _, _ in datasets}.__contains__,
        "models": models.__contains__,
    }
    with Session() as session:
        unfinished = session.scalars(select(Job.id).where(Job.state.not_in(TERMINAL_STATES))).all()
    cutoff = time.time() - grace_s
    removed = storage.sweep_partial(cutoff, frozenset(storage.scratch / JOB_STATES / job_id for job_id in unfinished))
    for prefix in PREFIXES:
        for key, mtime in list(storage.listing(prefix)):
            if mtime < cutoff and not referenced[prefix](key):
                storage.delete(key, older_than=cutoff)  # unless written again since the listing
                removed += 1
    if removed:
        log.info("storage sweep removed %d unreferenced file(s)", removed)
    return removed
