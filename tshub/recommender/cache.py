"""Features of a checkpoint on a target sample, kept on disk, so asking again about the same data is instant.

A service answers ``POST /v1/recommend`` and then a job with ``"model": "auto"`` on the same dataset; a user tries
several ``k``/``arch``/methods. The key is the content digest of the checkpoint (its config.json, which holds the
weights' sha256, and its weights file's size and time), of the exact series scored, and of how they were scored,
so a changed checkpoint or target never meets stale features. Files are plain ``.npy`` (read with ``allow_pickle=False``) under
``$TSHUB_HOME/features`` (default ``~/.cache/tshub/features``), the oldest pruned beyond ``TSHUB_FEATURE_CACHE_MB``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from tshub.atomic import atomic_write
from tshub.data.dataset import Dataset
from tshub.hub.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from tshub.hub.store import home_store
from tshub.recommender.candidates import Candidate
from tshub.training.finetuning import follows_level

CACHE_MB_ENV = "TSHUB_FEATURE_CACHE_MB"
DEFAULT_CACHE_MB = 512
FEATURES_VERSION = 2  # bump when target_features computes something else for the same inputs


def cache_folder() -> Path:
    return home_store().root.parent / "features"


def checkpoint_digest(candidate: Candidate) -> str | None:
    """sha256 of the checkpoint's config.json (it records its weights' sha256) and of its weights file's size and
    modification time, None for one not yet downloaded. Loading checks the weights against config.json; a cache hit
    loads nothing, so weights replaced under an unchanged config.json must change the key themselves (and then
    fail that check) rather than be ranked by the features of the weights that were there before."""
    if candidate.hub_only:
        return None
    folder = Path(candidate.location)
    config = folder / CONFIG_NAME
    if not config.is_file():
        return None
    digest = hashlib.sha256(config.read_bytes())
    try:
        weights = (folder / WEIGHTS_NAME).stat()
        digest.update(f"{weights.st_size}:{weights.st_mtime_ns}".encode())
    except OSError:  # no weights file: no cache hit either, loading says what is missing
        return None
    return digest.hexdigest()


def sample_digest(sample: Dataset, *, bf16: bool, statistics: str = "source") -> str:
    """sha256 of the series scored (bytes and shape) and how they are scored: with stream_max or not, which a
    forecast's targets decide (``follows_level``: its fine-tune takes none)."""
    X, _ = sample.split("train")
    how = [X.shape, str(X.dtype), bf16, FEATURES_VERSION] + ([statistics] if statistics != "source" else [])
    how += ["follows_level"] if sample.task == "regression" and follows_level(sample) else []
    digest = hashlib.sha256(json.dumps(how).encode())
    digest.update(np.ascontiguousarray(X).tobytes())
    return digest.hexdigest()


class FeatureCache:
    """Features by (checkpoint digest, sample digest); a read miss or an unreadable file is simply a miss.

    A ``scope`` (e.g. a service's tenant) sees only the entries written in that scope: a hit would otherwise tell
    one tenant that another already ranked the very same series."""

    def __init__(self, folder: Path | None = None, limit_mb: float | None = None, scope: str | None = None):
        self.folder = folder or cache_folder()
        self.limit_bytes = int(
            (limit_mb if limit_mb is not None else float(os.environ.get(CACHE_MB_ENV, DEFAULT_CACHE_MB))) * 2**20
        )
        self.scope = scope

    def _path(self, checkpoint: str, sample: str) -> Path:
        scoped = f"{checkpoint}:{sample}" if self.scope is None else f"{self.scope}:{checkpoint}:{sample}"
        key = hashlib.sha256(scoped.encode()).hexdigest()
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, checkpoint: str | None, sample: str) -> np.ndarray | None:
        if checkpoint is None:
            return None
        path = self._path(checkpoint, sample)
        try:
            features = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):  # absent, or left empty or cut short by a crash
            return None
        with contextlib.suppress(OSError):  # pruned meanwhile by another process: what was read is still right
            os.utime(path)  # recently used: pruned last
        return features.astype(np.float64)

    def put(self, checkpoint: str | None, sample: str, features: np.ndarray) -> None:
        if checkpoint is None or self.limit_bytes <= 0:
            return
        try:  # renamed into place, so a reader never meets half an entry; not flushed to disk (an fsync per
            # candidate added 1-1.6 s of I/O wait to a cold ranking of the zoo, bench/results/recommend_cold_cpu.md):
            # an entry that a machine crash leaves absent, empty or cut short is a miss, recomputed
            atomic_write(
                self._path(checkpoint, sample), lambda tmp: _save(tmp, features.astype(np.float32)), durable=False
            )
        except OSError:  # a read-only or full disk costs speed, not the answer
            pass

    def prune(self) -> None:
        """Delete the least recently used files until the folder holds at most the limit."""
        files = []
        for path in self.folder.glob("*/*.npy"):
            try:
                stat = path.stat()
            except OSError:  # removed meanwhile by another process
                continue
            files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.limit_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size


def _save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)
