"""What tenants keep on the server's disk: usage per tenant (for its quota), deleting a dataset's or job's
files, and sweeping what nothing references any more (rejected uploads, temp files of killed requests, raw
blobs of deleted datasets). Only files older than a grace period are swept, so work in flight is never touched.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from server.db import DatasetRecord, Job

log = logging.getLogger(__name__)


def tenant_usage(Session: sessionmaker, owner_id: str) -> int:
    """Bytes stored for ``owner_id``: its datasets (raw and parsed) and its jobs' models."""
    with Session() as session:
        data = session.scalar(select(func.coalesce(func.sum(DatasetRecord.bytes), 0))
                              .where(DatasetRecord.owner_id == owner_id))
        models = session.scalar(select(func.coalesce(func.sum(Job.model_bytes), 0)).where(Job.owner_id == owner_id))
    return int(data) + int(models)


def remove_unreferenced(storage: Path, Session: sessionmaker, dataset_path: str) -> None:
    """Delete a parsed dataset file once no dataset row points at it (a tenant's re-uploads share one)."""
    with Session() as session:
        still_used = session.scalar(select(func.count()).select_from(DatasetRecord)
                                    .where(DatasetRecord.path == dataset_path))
    if not still_used:
        (storage / dataset_path).unlink(missing_ok=True)


def sweep(storage: Path, Session: sessionmaker, grace_s: float) -> int:
    """Delete temp files, raw uploads, parsed datasets and models that no row references and that are older
    than ``grace_s``; returns how many files went."""
    with Session() as session:
        datasets = session.execute(select(DatasetRecord.path, DatasetRecord.raw_sha256, DatasetRecord.summary)).all()
        models = set(session.scalars(select(Job.model_path).where(Job.model_path.is_not(None))))
    raw = {sha for _, first, summary in datasets for sha in [first, *(summary or {}).get("sha256", [])]}
    parsed = {path for path, _, _ in datasets}
    cutoff = time.time() - grace_s
    doomed = [p for p in _files(storage / "tmp") if p.stat().st_mtime < cutoff]
    doomed += [p for p in _files(storage / "uploads") if p.name.split(".")[0] not in raw]
    doomed += [p for p in _files(storage / "datasets") if _rel(p, storage) not in parsed]
    doomed += [p for p in _files(storage / "models") if _rel(p, storage) not in models]
    removed = 0
    for path in doomed:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    if removed:
        log.info("storage sweep removed %d unreferenced file(s)", removed)
    return removed


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


def _rel(path: Path, storage: Path) -> str:
    return path.relative_to(storage).as_posix()
