"""The service's storage, on a local folder and on an S3-compatible server (moto on loopback): content-addressed
uploads, atomic puts (nothing half-written after kill -9), per-tenant parsed datasets, and the sweep."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sqlalchemy")

from server.db import open_store  # noqa: E402
from server.storage import ObjectStore, open_storage, sweep  # noqa: E402
from server.uploads import ParseOptions, UploadError, ingest, load_npz, store_raw  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["folder", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the storage lives: a local folder, or a fresh bucket of the loopback S3 server."""
    if request.param == "folder":
        return str(tmp_path / "storage")
    s3 = request.getfixturevalue("s3")
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    return f"s3://{s3.bucket()}/tshub"


@pytest.fixture()
def storage(location: str, tmp_path: Path) -> ObjectStore:
    return open_storage(location, scratch=tmp_path / "scratch")


def csv_bytes(seed: int, rows: int = 40, length: int = 24) -> bytes:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    series = rng.normal(size=(rows, length)) + 2 * labels[:, None]
    return "\n".join(f"{y}," + ",".join(f"{v:.4f}" for v in x) for y, x in zip(labels, series)).encode()


def keys(storage: ObjectStore) -> list[str]:
    return sorted(key for prefix in ("uploads", "datasets", "models") for key, _ in storage.listing(prefix))


def test_uploads_are_content_addressed_and_refused_uploads_leave_nothing(storage: ObjectStore) -> None:
    a = store_raw(io.BytesIO(b"0,1,2,3\n1,2,3,4\n"), "a.csv", storage, limit_bytes=100)
    b = store_raw(io.BytesIO(b"0,1,2,3\n1,2,3,4\n"), "b.CSV", storage, limit_bytes=100)
    assert a.sha256 == b.sha256 and keys(storage) == [f"uploads/{a.sha256}.csv"]
    assert a.path.read_bytes() == b"0,1,2,3\n1,2,3,4\n"
    with pytest.raises(UploadError, match="too large"):
        store_raw(io.BytesIO(b"x" * 101), "c.csv", storage, limit_bytes=100)
    with pytest.raises(UploadError, match="empty"):
        store_raw(io.BytesIO(b""), "d.csv", storage, limit_bytes=100)
    assert keys(storage) == [f"uploads/{a.sha256}.csv"]
    assert [p for p in storage.scratch.rglob("*") if p.is_file() and "cache" not in p.parts] == []


def test_parsed_datasets_are_per_tenant_and_reused(storage: ObjectStore, tmp_path: Path) -> None:
    raw = store_raw(io.BytesIO(csv_bytes(0)), "Lab_TRAIN.csv", storage, limit_bytes=10**6)
    alice = ingest([raw], ParseOptions(), storage, "alice")
    again = ingest([raw], ParseOptions(), storage, "alice")
    bob = ingest([raw], ParseOptions(), storage, "bob")
    assert alice.path == again.path and alice.path.startswith("datasets/alice/")
    assert bob.path.startswith("datasets/bob/") and bob.path != alice.path
    assert storage.size(alice.path) == alice.bytes - raw.size
    ds = load_npz(storage.local_path(alice.path))
    assert ds.X.shape == (40, 1, 24) and set(ds.splits) >= {"train", "val", "test"}
    # another machine (its own scratch folder, nothing cached) reads the same bytes
    other = open_storage(
        storage.root if hasattr(storage, "root") else f"s3://{storage.bucket}/{storage.prefix}",
        scratch=tmp_path / "other-machine",
    )
    assert other.local_path(alice.path).read_bytes() == storage.local_path(alice.path).read_bytes()
    assert other.local_path("datasets/carol/none.npz") is None


SLOW_PUT = """
import os, sys, time
from pathlib import Path
from server.storage import open_storage
from server.uploads import store_raw

class Slow:
    def __init__(self): self.sent = 0
    def read(self, n):
        if self.sent == 1 << 20: print("streaming", flush=True)
        if self.sent >= 1 << 22: time.sleep(0.05)
        self.sent += 1 << 20
        return b"1,2,3\\n" * (1 << 20 // 6)

storage = open_storage(sys.argv[1], scratch=Path(sys.argv[2]))
if sys.argv[3] == "stream":
    store_raw(Slow(), "big.csv", storage, limit_bytes=1 << 40)
else:  # a large put (multipart on S3)
    big = storage.temp_file(); big.write_bytes(os.urandom(48 << 20)); print("streaming", flush=True)
    storage.put_file("models/big.zip", big)
print("done", flush=True)
"""


@pytest.mark.parametrize("what", ["stream", "put"])
def test_kill_9_during_a_write_leaves_no_partial_file_and_the_sweep_clears_the_rest(
    storage: ObjectStore, location: str, tmp_path: Path, what: str
) -> None:
    Session = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    before = store_raw(io.BytesIO(b"0,1,2\n1,2,3\n"), "kept.csv", storage, limit_bytes=100)
    writer = subprocess.Popen(
        [sys.executable, "-c", SLOW_PUT, location, str(storage.scratch), what],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert writer.stdout.readline().strip() == "streaming"
    time.sleep(0.5)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    written = set(keys(storage)) - {f"uploads/{before.sha256}.csv"}
    assert written <= {"models/big.zip"}  # the streamed upload never became visible...
    if written:  # ...and a put is whole or absent (a folder renames in one step, so it may have finished)
        assert storage.size("models/big.zip") == 48 << 20
    assert storage.local_path(f"uploads/{before.sha256}.csv").read_bytes() == b"0,1,2\n1,2,3\n"
    assert sweep(storage, Session, grace_s=0) >= 1  # the partial spool (and, on S3, any abandoned multipart upload)
    assert [p for p in storage.scratch.rglob("*") if p.is_file() and "cache" not in p.parts] == []
    if hasattr(storage, "client"):
        assert storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []
    Session.kw["bind"].dispose()


def test_two_sweeps_racing_over_an_abandoned_multipart_upload_both_finish(
    s3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two replicas sweep the same bucket: the upload one of them lists may be gone (aborted by the other, or
    completed by a writer whose last request was in flight) when it asks to abort it; that is the goal, not an
    error."""
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    location = f"s3://{s3.bucket()}/tshub"
    ours, theirs = (open_storage(location, scratch=tmp_path / name) for name in ("ours", "theirs"))
    ours.client.create_multipart_upload(Bucket=ours.bucket, Key=ours._name("models/abandoned.zip"))
    Session = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")

    def the_other_replica_aborts_first(params: dict, **_: object) -> None:
        theirs.client.abort_multipart_upload(Bucket=params["Bucket"], Key=params["Key"], UploadId=params["UploadId"])

    ours.client.meta.events.register("before-parameter-build.s3.AbortMultipartUpload", the_other_replica_aborts_first)
    time.sleep(1.1)
    assert sweep(ours, Session, grace_s=1) == 0  # nothing was left for this sweep to remove
    assert ours.client.list_multipart_uploads(Bucket=ours.bucket).get("Uploads", []) == []
    Session.kw["bind"].dispose()


def test_sweep_removes_only_old_unreferenced_objects(storage: ObjectStore, tmp_path: Path) -> None:
    from server.auth import create_token
    from server.db import DatasetRecord

    Session = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    owner, _ = create_token(Session, "alice")
    used = store_raw(io.BytesIO(csv_bytes(1)), "Used.csv", storage, limit_bytes=10**6)
    parsed = ingest([used], ParseOptions(), storage, owner.id)
    with Session.begin() as session:
        session.add(
            DatasetRecord(
                owner_id=owner.id, filename="Used.csv", raw_sha256=used.sha256, path=parsed.path, summary=parsed.summary
            )
        )
    unused = store_raw(io.BytesIO(csv_bytes(2)), "Unused.csv", storage, limit_bytes=10**6)
    orphan = ingest([unused], ParseOptions(), storage, owner.id)
    model = storage.temp_file()
    model.write_bytes(b"zip")
    storage.put_file("models/gone.zip", model)
    assert sweep(storage, Session, grace_s=600) == 0  # everything is fresh: work in flight is never touched
    time.sleep(1.1)
    assert sweep(storage, Session, grace_s=1) == 3
    assert keys(storage) == sorted([f"uploads/{used.sha256}.csv", parsed.path])
    assert orphan.path not in keys(storage)
    Session.kw["bind"].dispose()


def test_the_sweep_keeps_the_training_state_of_an_unfinished_job(storage: ObjectStore, tmp_path: Path) -> None:
    """Regression: the workers' sweep removed every scratch file older than its grace, a running job's saved training
    states too: an ω finished 25 minutes before (while later ω trained) lost its state, and an attempt after a kill
    trained it again from its first epoch. A finished job's states still go."""
    from server.jobstore import JobStore
    from server.storage import JOB_STATES
    from server.testing import database_with_a_dataset

    Session, owner, dataset_id = database_with_a_dataset(tmp_path / "db.sqlite", "alice")
    jobs = JobStore(Session)
    running, ended = (jobs.create(owner.id, dataset_id, {"model": "GunPoint/fcn", "seed": 0}) for _ in range(2))
    jobs.claim_next("w")
    jobs.claim_next("w")
    jobs.finish(ended.id, "w", "failed", reason="x")
    states = {
        job.id: storage.scratch / JOB_STATES / job.id / "finetune" / "omega-1.safetensors" for job in (running, ended)
    }
    for state in states.values():
        state.parent.mkdir(parents=True)
        state.write_bytes(b"saved training state")
        os.utime(state, (time.time() - 1500, time.time() - 1500))
    sweep(storage, Session, grace_s=1200)
    assert states[running.id].exists() and not states[ended.id].exists()
    Session.kw["bind"].dispose()


def test_the_storage_setting_takes_a_folder_or_a_bucket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, s3) -> None:
    from server.config import Settings
    from server.storage import LocalFolder, S3Store, StorageError

    monkeypatch.setenv("TSHUB_SERVER_STORAGE", str(tmp_path / "files"))
    settings = Settings.from_env()
    assert isinstance(settings.object_store(), LocalFolder) and settings.storage == tmp_path / "files"
    monkeypatch.setenv("TSHUB_SERVER_STORAGE", "s3://lab-bucket/tshub")
    store = Settings.from_env().object_store()
    assert isinstance(store, S3Store) and (store.bucket, store.prefix) == ("lab-bucket", "tshub")
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(StorageError, match="create it, and check AWS_ENDPOINT_URL"):
        store.check()  # the API refuses to start on a bucket it cannot reach
    with pytest.raises(StorageError, match="s3://BUCKET"):
        open_storage("s3://", scratch=tmp_path)
