"""The service's durable core without HTTP: job state transitions, recovery after dead workers, tokens,
upload storage and the .npz round trip, settings validation."""

from __future__ import annotations

import base64
import contextlib
import io
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sqlalchemy")

from sqlalchemy import update  # noqa: E402

from server.auth import AuthError, authenticate, create_token, hash_token, revoke_token  # noqa: E402
from server.config import ConfigError, Settings  # noqa: E402
from server.db import BadCursor, DatasetRecord, Job, Token, open_store, utcnow  # noqa: E402
from server.jobstore import JobConflict, JobNotFound, JobStore, local_identity, new_worker_id  # noqa: E402
from server.uploads import ParseOptions, UploadError, ingest, load_npz, store_raw, upload_suffix  # noqa: E402
from tshub.cluster import Outcome  # noqa: E402

SPEC = {
    "model": "Coffee/fcn",
    "arch": None,
    "lr_multiplier": 1.0,
    "epochs": 2,
    "budget_s": None,
    "seed": 0,
    "baseline": False,
}


@pytest.fixture()
def Session(db_url: str):
    """The job store's database, once on SQLite and once on PostgreSQL (every test below runs on both)."""
    Session = open_store(db_url)
    yield Session
    Session.kw["bind"].dispose()


@pytest.fixture()
def owner_and_dataset(Session) -> tuple[str, str]:
    owner, _ = create_token(Session, "tester")
    with Session.begin() as session:
        row = DatasetRecord(owner_id=owner.id, filename="d.csv", raw_sha256="0" * 64, path="datasets/x.npz", summary={})
        session.add(row)
    return owner.id, row.id


def test_every_queued_job_is_claimed_exactly_once_by_racing_workers(Session, owner_and_dataset) -> None:
    store = JobStore(Session)
    jobs = {store.create(*owner_and_dataset, SPEC).id for _ in range(24)}
    claims: dict[str, list[str]] = {}

    def work(worker: str) -> None:
        mine = JobStore(Session)
        while (job := mine.claim_next(worker)) is not None:
            claims.setdefault(job.id, []).append(worker)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert set(claims) == jobs and all(len(w) == 1 for w in claims.values())
    with Session() as session:
        assert {j.state for j in session.query(Job)} == {"running"} and {j.attempts for j in session.query(Job)} == {1}


def test_recovery_requeues_stale_jobs_then_fails_them_after_max_attempts(Session, owner_and_dataset) -> None:
    store = JobStore(Session)
    job = store.create(*owner_and_dataset, SPEC)
    for attempt in (1, 2):
        assert store.claim_next("otherhost/1:123:abc").id == job.id
        assert store.recover(stale_after_s=60, max_attempts=2) == []  # fresh heartbeat, other host: alive
        _age_heartbeat(Session, job.id, seconds=61)
        mine = {"caller": "otherhost/1:123:abc", "holding": {job.id}}
        assert store.recover(stale_after_s=60, max_attempts=2, **mine) == []  # its own, held
        (recovered,) = store.recover(stale_after_s=60, max_attempts=2)
        if attempt == 1:
            assert recovered.state == "queued" and "requeued" in recovered.reason
    assert recovered.state == "failed" and "giving up after 2 of 2 attempts" in recovered.reason
    row = store.get(owner_and_dataset[0], job.id)
    assert (row.state, row.attempts, row.finished_at is not None) == ("failed", 2, True)


def test_a_job_of_a_dead_local_process_is_requeued_at_once(Session, owner_and_dataset) -> None:
    store = JobStore(Session)
    job = store.create(*owner_and_dataset, SPEC)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    store.claim_next(f"{local_identity()}:{dead.stdout.strip()}:abc")
    (recovered,) = store.recover(stale_after_s=3600, max_attempts=3)
    assert (recovered.job_id, recovered.state) == (job.id, "queued")
    assert store.claim_next(new_worker_id()).attempts == 2  # the running (this) process is alive: not recovered
    assert store.recover(stale_after_s=3600, max_attempts=3) == []


def test_a_job_the_engine_cannot_start_is_retried_then_failed(Session, owner_and_dataset) -> None:
    store = JobStore(Session)
    job = store.create(*owner_and_dataset, SPEC)
    worker = new_worker_id()
    store.claim_next(worker)
    assert store.retry(job.id, worker, "Ray is unreachable", max_attempts=2) == "queued"
    store.claim_next(worker)
    assert store.retry(job.id, worker, "Ray is unreachable", max_attempts=2) == "failed"
    row = store.get(owner_and_dataset[0], job.id)
    assert row.state == "failed" and row.reason.startswith("Ray is unreachable; giving up after 2 of 2")


def test_cancel_transitions(Session, owner_and_dataset) -> None:
    owner, dataset = owner_and_dataset
    store = JobStore(Session)
    queued = store.create(owner, dataset, SPEC)
    cancelled = store.cancel(owner, queued.id)
    assert cancelled.state == "cancelled" and cancelled.cancel_requested  # asked, as a running job's is (was False)
    with pytest.raises(JobConflict, match="already cancelled"):
        store.cancel(owner, queued.id)
    running = store.create(owner, dataset, SPEC)
    worker = new_worker_id()
    store.claim_next(worker)
    flagged = store.cancel(owner, running.id)
    assert flagged.state == "running" and flagged.cancel_requested
    assert store.heartbeat(running.id, worker, {"epoch": 3}).cancel_requested
    assert store.finish(running.id, worker, "cancelled", reason="cancelled by the user")
    with pytest.raises(JobNotFound):
        store.cancel("someone-else", running.id)
    # a dead worker's flagged job is cancelled, not requeued
    revoked = store.create(owner, dataset, SPEC)
    store.cancel_all(owner, "its token was revoked")
    assert store.get(owner, revoked.id).cancel_requested
    third = store.create(owner, dataset, SPEC)
    store.claim_next("otherhost/1:9:abc")
    store.cancel(owner, third.id)
    _age_heartbeat(Session, third.id, seconds=100)
    assert [r.state for r in store.recover(stale_after_s=60, max_attempts=3)] == ["cancelled"]


def test_a_worker_that_lost_its_job_cannot_overwrite_it(Session, owner_and_dataset) -> None:
    store = JobStore(Session)
    job = store.create(*owner_and_dataset, SPEC)
    store.claim_next("otherhost/1:1:old")
    _age_heartbeat(Session, job.id, seconds=100)
    store.recover(stale_after_s=60, max_attempts=3)
    store.claim_next("otherhost/1:2:new")
    assert not store.heartbeat(job.id, "otherhost/1:1:old", None).owned
    assert not store.finish(job.id, "otherhost/1:1:old", "succeeded")
    assert store.release(job.id, "otherhost/1:2:new", "the worker shut down") == "queued"
    row = store.get(owner_and_dataset[0], job.id)
    assert (row.state, row.attempts, row.worker) == ("queued", 1, None)  # a clean shutdown costs no attempt


def test_a_cancel_is_never_lost_when_the_job_leaves_its_worker(Session, owner_and_dataset) -> None:
    """A running job asked to stop (by its user, or by revoking its token) is cancelled, not requeued, when its
    worker shuts down or its engine loses it; a flag a claim finds stays set, so the worker stops the job. (Failed
    before: requeued, and the next claim cleared the flag, so the job ran to its end.)"""
    owner, dataset = owner_and_dataset
    store = JobStore(Session)
    worker = new_worker_id()
    ways = {
        "shutdown": lambda job_id: store.release(job_id, worker, "the worker shut down while it ran"),
        "lost": lambda job_id: store.retry(job_id, worker, "attempt 1 was lost", max_attempts=3),
        "revoked": lambda job_id: store.release(job_id, worker, "the worker shut down while it ran"),
    }
    for how, give_back in ways.items():
        job = store.create(owner, dataset, SPEC)
        assert store.claim_next(worker).id == job.id
        if how == "revoked":
            assert store.cancel_all(owner, "its token was revoked") == 1
        else:
            store.cancel(owner, job.id)
        assert give_back(job.id) == "cancelled", how
        row = store.get(owner, job.id)
        assert (row.state, row.finished_at is not None) == ("cancelled", True), how
        assert row.reason.startswith("cancelled by the user") and "before confirming" in row.reason
        assert store.claim_next(worker) is None
    flagged = store.create(owner, dataset, SPEC)
    with Session.begin() as session:  # e.g. a row a release of an older release requeued with its flag set
        session.execute(update(Job).where(Job.id == flagged.id).values(cancel_requested=True))
    assert store.claim_next(worker).cancel_requested
    assert store.heartbeat(flagged.id, worker, None).cancel_requested


class _Handle:
    """A job of ``_Engine``: it ends when ``end()`` is called (at once with ``ended``), writing ``model``."""

    def __init__(self, model_out: Path, model: bytes, ended: bool):
        self.model_out, self.model, self.outcome = model_out, model, None
        if ended:
            self.end()

    def end(self) -> None:
        self.model_out.write_bytes(self.model)
        self.outcome = Outcome("succeeded", result={"model": self.model.decode()})

    def poll(self) -> list:
        return []

    def kill(self) -> None:
        pass


class _Engine:
    def __init__(self, model: bytes = b"zip", ended: bool = True):
        self.model, self.ended, self.handles = model, ended, []

    def submit(self, job_id, spec, dataset, model_out, state_dir=None) -> _Handle:
        self.handles.append(_Handle(model_out, self.model, self.ended))
        self.handles[-1].state_dir = state_dir
        return self.handles[-1]

    def close(self) -> None:
        pass


def _worker(Session, storage: Path, engine: _Engine):
    """A worker on ``engine`` whose storage holds the dataset file of ``owner_and_dataset``."""
    from server.worker import Worker

    (storage / "datasets").mkdir(exist_ok=True)
    (storage / "datasets" / "x.npz").write_bytes(b"x")
    settings = Settings(
        db_url="unused",
        storage=storage,
        max_upload_mb=1,
        engine="local",
        ray_address=None,
        workers=1,
        heartbeat_s=5,
        stale_after_s=60,
        max_attempts=3,
        poll_s=0.01,
    )
    return Worker(settings, Session, engine=engine)


def test_a_job_its_worker_lost_track_of_is_recovered_by_that_worker(Session, owner_and_dataset, tmp_path) -> None:
    """A job the worker claimed but dropped (here the database failed while it recorded the end) is requeued by the
    worker's own recovery. (Failed before: recovery skipped every job of the asking worker, so with no other worker
    the job stayed running forever.)"""
    job = JobStore(Session).create(*owner_and_dataset, SPEC)
    worker = _worker(Session, tmp_path, _Engine())
    worker.step()  # claims and starts the job
    finish, calls = worker.store.finish, []

    def flaky(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("the database is briefly unreachable")
        return finish(*args, **kwargs)

    worker.store.finish = flaky  # type: ignore[method-assign]
    with contextlib.suppress(Exception):
        worker.step()  # the end cannot be recorded: the worker drops the job
    worker._next_recovery = 0.0
    worker.step()  # recovers it and claims it again
    worker.step()  # records its end this time
    row = worker.store.get(owner_and_dataset[0], job.id)
    assert (row.state, row.attempts) == ("succeeded", 2), row.reason


def test_a_lost_attempt_that_ends_late_leaves_the_recorded_model_alone(Session, owner_and_dataset, tmp_path) -> None:
    """A worker whose job was requeued while it stalled, then run to success elsewhere, drops its own late result.
    (Failed before: it stored its checkpoint under the job's model key, replacing the model of the recorded result.)"""
    job = JobStore(Session).create(*owner_and_dataset, SPEC)
    stalled = _worker(Session, tmp_path, _Engine(b"lost attempt", ended=False))
    stalled.step()  # claims the job, then stalls
    _age_heartbeat(Session, job.id, seconds=120)
    other = _worker(Session, tmp_path, _Engine(b"recorded attempt"))
    other.step()  # requeues it and claims it
    other.step()  # records its end
    stalled.engine.handles[0].end()
    stalled.step()
    row = stalled.store.get(owner_and_dataset[0], job.id)
    assert (row.state, row.attempts, row.result) == ("succeeded", 2, {"model": "recorded attempt"})
    assert (tmp_path / row.model_path).read_bytes() == b"recorded attempt"
    assert not list((tmp_path / "tmp").iterdir())  # the late checkpoint is not left behind


def test_a_lost_attempt_keeps_its_training_state_for_the_next_and_an_ended_job_drops_it(
    Session, owner_and_dataset, tmp_path
) -> None:
    """Each attempt of a job gets the same state folder in the local scratch: a lost attempt leaves its state for the
    attempt that resumes it; once the job has ended, nothing is left."""
    job = JobStore(Session).create(*owner_and_dataset, SPEC)
    worker = _worker(Session, tmp_path, _Engine(ended=False))
    worker.step()
    first = worker.engine.handles[0]
    assert first.state_dir == tmp_path / "tmp" / "job-states" / job.id
    (first.state_dir / "finetune").mkdir(parents=True)
    (first.state_dir / "finetune" / "omega-1.safetensors").write_bytes(b"state")  # as the job's training saves it
    first.outcome = Outcome("lost", reason="its process died")
    worker.step()  # requeued, claimed again
    second = worker.engine.handles[1]
    assert second.state_dir == first.state_dir and (second.state_dir / "finetune" / "omega-1.safetensors").is_file()
    second.end()
    worker.step()
    assert worker.store.get(owner_and_dataset[0], job.id).state == "succeeded" and not first.state_dir.exists()


def test_a_running_job_stopped_by_a_revoked_token_says_so(Session, owner_and_dataset, tmp_path) -> None:
    """Regression: a running job cancelled because its token was revoked ended "cancelled by the user"."""
    owner, _ = owner_and_dataset
    store = JobStore(Session)
    revoked, cancelled = store.create(*owner_and_dataset, SPEC), store.create(*owner_and_dataset, SPEC)
    worker = _worker(Session, tmp_path, _Engine(ended=False))
    worker.settings = replace(worker.settings, workers=2, tenant_running=2)
    worker.step()
    store.cancel(owner, cancelled.id)
    store.cancel_all(owner, "cancelled: the token that created it was revoked")
    worker.step()
    assert store.get(owner, revoked.id).reason == "cancelled: the token that created it was revoked"
    assert store.get(owner, cancelled.id).reason == "cancelled by the user"


def test_a_forged_cursor_is_refused_saying_so(Session, owner_and_dataset) -> None:
    """Dates UTC cannot hold are a 422's BadCursor, not an OverflowError (a 500 before)."""
    store = JobStore(Session)
    for forged in ("0001-01-01T00:00:00+05:00|x", "9999-12-31T23:59:59-05:00|x", "not a date|x"):
        cursor = base64.urlsafe_b64encode(forged.encode()).decode()
        with pytest.raises(BadCursor, match="is not one this server gave; use next_cursor"):
            store.page(owner_and_dataset[0], cursor=cursor)


def test_tokens_are_stored_hashed_and_can_be_revoked(Session) -> None:
    owner, token = create_token(Session, "ci")
    with Session() as session:
        stored = session.get(Token, owner.id).token_hash
    assert stored == hash_token(token) and token not in stored
    assert authenticate(Session, token) == owner
    assert revoke_token(Session, owner.id) and not revoke_token(Session, owner.id)
    with pytest.raises(AuthError, match="token create"):
        authenticate(Session, token)


def test_uploads_are_content_addressed_and_size_limited(tmp_path: Path) -> None:
    a = store_raw(io.BytesIO(b"1,2,3\n"), "a.csv", tmp_path, limit_bytes=100)
    b = store_raw(io.BytesIO(b"1,2,3\n"), "b.CSV", tmp_path, limit_bytes=100)
    assert a.path == b.path == tmp_path / "uploads" / f"{a.sha256}.csv"
    assert upload_suffix("GunPoint_TRAIN") == ".txt" and upload_suffix("x.tsv.gz") == ".tsv.gz"
    with pytest.raises(UploadError, match="limit is") as err:
        store_raw(io.BytesIO(b"x" * 101), "c.csv", tmp_path, limit_bytes=100)
    assert err.value.status == 413 and list((tmp_path / "tmp").iterdir()) == []  # no partial file left


def test_an_uploads_warnings_include_those_its_splits_raise(tmp_path: Path) -> None:
    """Regression: the warning that the test file's classes have no training series went to the server's log, not
    to the client: the splits were made outside the block that records the parser's warnings."""
    rows = lambda labels: "".join(f"{c},{i % 3}.0,{i % 5}.0,1.5,2.0\n" for i, c in enumerate(labels))  # noqa: E731
    (tmp_path / "a_TRAIN.csv").write_text(rows([1, 2] * 10))
    (tmp_path / "a_TEST.csv").write_text(rows([5, 6] * 5))
    files = [
        store_raw(open(tmp_path / name, "rb"), name, tmp_path, limit_bytes=10**6)
        for name in ("a_TRAIN.csv", "a_TEST.csv")
    ]
    summary = ingest(files, ParseOptions(), tmp_path, "owner").summary
    assert any("of 10 test series have no training series" in w for w in summary["warnings"]), summary["warnings"]
    assert not any("single training series" in w for w in summary["warnings"])  # they have none, not one


def test_the_same_file_as_training_and_test_file_is_refused(tmp_path: Path) -> None:
    """Regression: the training file uploaded again as ``test_file`` (under another name) was accepted without a
    word, so every job's test metrics scored the very series it had trained on."""
    rows = "".join(f"{i % 2},{i % 3}.0,{i % 5}.0,1.5,2.0\n" for i in range(30))
    files = [store_raw(io.BytesIO(rows.encode()), name, tmp_path, 10**6) for name in ("a.csv", "a_copy.csv")]
    with pytest.raises(UploadError, match=r"'a_copy\.csv': the 'train' and the 'test' file hold the same bytes") as err:
        ingest(files, ParseOptions(), tmp_path, "owner")
    assert err.value.status == 422 and "a file of its own" in str(err.value)


def test_parsed_dataset_round_trips_through_npz_without_pickle(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2, 16)).astype(np.float32)
    y = np.array(["cat", "dog"] * 20)
    np.savez(tmp_path / "raw.npz", X=X, y=y)
    stored = store_raw(open(tmp_path / "raw.npz", "rb"), "raw.npz", tmp_path, limit_bytes=10**6)
    ingested = ingest([stored], ParseOptions(), tmp_path, "owner")
    assert ingested.summary["splits"] == {"train": 27, "val": 7, "test": 6}  # 15% test, then 20% of the rest
    ds = load_npz(tmp_path / ingested.path)
    assert ds.classes == ["cat", "dog"] and np.array_equal(ds.X, X) and set(ds.splits) == {"train", "val", "test"}
    assert load_npz((tmp_path / ingested.path).read_bytes()).summary() == ds.summary()
    with np.load(tmp_path / ingested.path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def test_untrainable_data_is_refused_with_the_reason(tmp_path: Path) -> None:
    X = np.ones((12, 1, 8), dtype=np.float32)
    X[3, 0, 2] = np.nan
    bad = {"nan.npz": dict(X=X, y=np.arange(12) % 2), "oneclass.npz": dict(X=np.ones((12, 8)), y=np.zeros(12))}
    for name, arrays in bad.items():
        np.savez(tmp_path / name, **arrays)
        stored = store_raw(open(tmp_path / name, "rb"), name, tmp_path, limit_bytes=10**6)
        with pytest.raises(UploadError) as err:
            ingest([stored], ParseOptions(), tmp_path, "owner")
        assert err.value.status == 422
        assert ("NaN" if name == "nan.npz" else "only one class") in str(err.value)


def test_settings_reject_unsafe_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSHUB_ENGINE", "spark")
    with pytest.raises(ConfigError, match="local"):
        Settings.from_env()
    monkeypatch.setenv("TSHUB_ENGINE", "local")
    monkeypatch.setenv("TSHUB_HEARTBEAT_S", "10")
    monkeypatch.setenv("TSHUB_STALE_AFTER_S", "15")
    with pytest.raises(ConfigError, match="twice"):
        Settings.from_env()
    monkeypatch.setenv("TSHUB_MAX_UPLOAD_MB", "lots")
    with pytest.raises(ConfigError, match="not a number"):
        Settings.from_env()


def _age_heartbeat(Session, job_id: str, seconds: float) -> None:
    with Session.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow() - timedelta(seconds=seconds)))


def test_job_summary_reports_the_epoch_of_the_kept_weights(shared_data: Path) -> None:
    """Regression: the summary added 1 to ``best_epoch``, which is already the 1-based epoch of the kept weights."""
    import tshub
    from server.runner import fit_summary

    result = tshub.train_from_scratch(
        "fcn", tshub.datasets.load("Coffee"), max_epochs=3, progress=False, arch_kwargs={"filters": [8, 8, 8]}
    )
    summary = fit_summary(result)
    assert summary["best_epoch"] == result.best_epoch
    assert summary["best_epoch"] == result.history[result.best_epoch - 1]["epoch"]


def test_a_job_summary_says_when_the_model_learned_nothing() -> None:
    """Regression: a job whose model scored at chance (every series the same, so one class for all) ended
    "succeeded" with its metrics and nothing to say it learned nothing usable."""
    import tshub
    from server.runner import fit_summary

    wave = np.sin(np.linspace(0, 6, 64)).astype(np.float32)
    same = tshub.Dataset.from_arrays(np.tile(wave, (18, 1)), np.array(["a", "b"] * 9), name="same")
    same = same.with_splits({"train": np.arange(12), "test": np.arange(12, 18)})
    result = tshub.train_from_scratch("fcn", same, max_epochs=1, progress=False, arch_kwargs={"filters": [4, 4, 4]})
    assert (
        fit_summary(result)["learned_nothing"]
        == "its test accuracy 0.500 is less than 5 points above chance (1/2 classes)"
    )


def test_progress_events_name_the_omega_finetune_reports_even_when_halving_interleaves_them():
    """... and the best of each event is its own ω's, not one over every ω tried (read beside that ω's value)."""
    from server.runner import EpochTracker

    events: list[dict] = []
    tracker = EpochTracker(events.append, "classification", "finetune", None)
    tracker({"epoch": 3, "loss": 0.5, "val_accuracy": 0.8, "lr_multiplier": 0.1, "run": 3, "runs": 10})
    tracker({"epoch": 4, "loss": 0.4, "val_accuracy": 0.7, "lr_multiplier": 2.0, "run": 10, "runs": 10})
    tracker({"epoch": 4, "loss": 0.4, "val_accuracy": 0.75, "lr_multiplier": 0.1, "run": 3, "runs": 10})
    tracker({"epoch": 1, "loss": 0.4, "val_accuracy": 0.9})  # one ω (or the baseline): no run fields
    assert [(e.get("run"), e.get("lr_multiplier"), e["best"]) for e in events] == [
        (3, 0.1, 0.8),
        (10, 2.0, 0.7),
        (3, 0.1, 0.8),
        (None, None, 0.9),
    ]


def test_progress_after_a_resume_counts_the_restored_epochs_in_its_best_and_names_the_recipes_limit():
    """Regression: a resumed attempt's "best so far" counted only the epochs since the restart (0.6 where the kept
    epoch had 0.7), and a job without "epochs" reported max_epochs null, so the page's bar was full at every epoch."""
    from server.runner import EpochTracker

    events: list[dict] = []
    tracker = EpochTracker(events.append, "classification", "finetune", None)
    tracker({"epoch": 1, "loss": 0.6, "val_accuracy": 0.7, "restored": True, "max_epochs": 1000})
    tracker({"epoch": 2, "loss": 0.5, "val_accuracy": 0.6, "restored": True, "max_epochs": 1000})
    tracker({"epoch": 3, "loss": 0.4, "val_accuracy": 0.6, "max_epochs": 1000})
    assert events == [
        {"phase": "finetune", "epoch": 3, "max_epochs": 1000, "loss": 0.4, "metric": "val_accuracy", "value": 0.6,
         "best": 0.7}
    ]  # fmt: skip


def test_a_job_killed_mid_fine_tune_resumes_from_its_state_and_ends_as_it_would_have(
    shared_data: Path, private_zoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attempt killed at the fine-tune's third epoch leaves its state; the next attempt (the same job, the same
    state folder) goes on from the last saved epoch and reports what an attempt never killed reports. Regression:
    an attempt killed while training the from-scratch referent had lost the ended fine-tune's state, so the next
    trained it all again; the ended trainings' states stay until the job ends."""
    import tshub
    from server.runner import run_job
    from server.uploads import save_npz
    from tshub.data.splits import training_splits

    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    private_zoo([Path(__file__).resolve().parents[1] / "zoo" / "GunPoint" / "fcn"])
    coffee, _ = training_splits(tshub.datasets.load("Coffee"))
    stored = tmp_path / "coffee.npz"
    save_npz(coffee, stored, coffee.summary())
    spec = {**SPEC, "model": "GunPoint/fcn", "epochs": 5, "baseline": True}
    expected, _ = run_job(spec, stored, lambda event: None)
    epochs: list[int] = []

    baseline: list[int] = []

    def report(event: dict) -> None:
        if "epoch" in event and not event.get("restored"):
            trained = epochs if event.get("phase") == "finetune" else baseline
            trained.append(event["epoch"])
            if event["epoch"] == 3 and trained.count(3) == 1:
                raise KeyboardInterrupt  # the worker's process is gone

    for _ in range(2):  # killed in the fine-tune's third epoch, then in the referent's
        with pytest.raises(KeyboardInterrupt):
            run_job(spec, stored, report, tmp_path / "state")
    resumed, _ = run_job(spec, stored, report, tmp_path / "state")
    assert epochs == [1, 2, 3, 3, 4, 5] and baseline == [1, 2, 3, 3, 4, 5]  # nothing trained twice but the killed
    for key in ("metrics", "val_metrics", "best_epoch", "lr_multiplier"):
        assert resumed[key] == expected[key], key
    assert resumed["baseline"]["metrics"] == expected["baseline"]["metrics"]


def test_a_boolean_is_no_omega() -> None:
    """Regression: ``"lr_multiplier": true`` was taken as ω = 1 (a boolean coerced to a number)."""
    from pydantic import ValidationError

    from server.schemas import JobCreate

    body = {"dataset_id": "d", "model": "GunPoint/fcn"}
    assert JobCreate.model_validate_json('{"dataset_id": "d", "model": "m", "lr_multiplier": 2}').lr_multiplier == 2
    for omega in (True, [0.5, False]):
        with pytest.raises(ValidationError):
            JobCreate.model_validate({**body, "lr_multiplier": omega})


def test_regression_targets_that_never_vary_are_refused_at_upload(tmp_path: Path) -> None:
    """Regression: targets written with too few decimals (every one 0.00000) were accepted, then every source of
    the ranking scored null and an 'auto' job fine-tuned the first alphabetically. Refused as a single class is."""
    rng = np.random.default_rng(0)
    rows = [f"{0.0 if i % 2 else -0.0:.5f}," + ",".join(f"{v:.4f}" for v in rng.normal(size=16)) for i in range(30)]
    (tmp_path / "flat.csv").write_text("\n".join(rows) + "\n")
    stored = store_raw(open(tmp_path / "flat.csv", "rb"), "flat.csv", tmp_path, limit_bytes=10**6)
    with pytest.raises(UploadError, match=r"all 30 targets of its 'train' series equal 0, so a regression") as err:
        ingest([stored], ParseOptions(task="regression"), tmp_path, "owner")
    assert err.value.status == 422


def test_unsupported_file_types_are_told_which_suffixes_may_be_gzipped() -> None:
    """Regression: the 415 listed '.npz, .ts (optionally .gz)', yet an .npz.gz is refused as already compressed."""
    with pytest.raises(UploadError, match=r"\.ts \(each optionally \.gz\) or \.npz \(not gzipped") as err:
        upload_suffix("data.xlsx")
    assert err.value.status == 415 and str(err.value).startswith("data.xlsx: unsupported file type")
    with pytest.raises(UploadError, match="already compressed") as err:
        upload_suffix("data.npz.gz")
    assert err.value.status == 415


def test_the_storage_quota_message_never_shows_the_stored_size_equal_to_the_limit() -> None:
    """Regression: 'this would store 0.5 MB ... over the limit of 0.5 MB' (the two rounded differently)."""
    from server.storage import over_quota

    settings = replace(Settings.from_env(), tenant_storage_mb=0.5)
    assert over_quota(settings, 2**19) is None
    message = over_quota(settings, 2**19 + 10_000)
    assert message is not None and "would store 534,288 bytes" in message
    assert "over the limit of 524,288 bytes (0.5 MB)" in message
    far = over_quota(settings, 3 * 2**20)
    assert far is not None and "would store 3.0 MB" in far and "over the limit of 0.5 MB" in far


def test_job_options_that_cannot_train_are_refused_in_the_apis_terms() -> None:
    """Regression: relative_target on a classification and use_stream_max beside a z-normalised source were queued,
    then failed in the worker, one advising ``preprocessing='minmax_mask'``, a field jobs do not take."""
    from server.runner import job_options_refusal, preprocessing_kind

    relative, stream_max = {"relative_target": True}, {"use_stream_max": True}
    assert "this dataset is a classification dataset" in str(job_options_refusal(relative, "classification", 1))
    assert job_options_refusal(stream_max, "classification", 1) is None  # 'auto': the source is not known yet
    refusal = job_options_refusal(stream_max, "classification", 1, "Coffee/fcn", preprocessing_kind(None))
    assert refusal is not None and "Coffee/fcn is preprocessed with 'znorm': leave use_stream_max out" in refusal
    assert job_options_refusal(stream_max, "regression", 3, "EMG/fcn", "minmax_mask") is None
    refusal = job_options_refusal(relative, "regression", 3, "Coffee/fcn", "znorm")
    assert refusal is not None and "'znorm' does not define for series of 3 channel(s)" in refusal
    assert job_options_refusal(relative, "regression", 1, "Coffee/fcn", "znorm") is None
    assert job_options_refusal(relative, "regression", 3, "EMG/fcn", "minmax_mask") is None
    assert "'identity'" in str(job_options_refusal(relative, "regression", 1, "X/fcn", "identity"))
    for refusal in (
        job_options_refusal(relative, "classification", 1),
        job_options_refusal(stream_max, "r", 1, "C", "znorm"),
    ):
        assert "preprocessing=" not in str(refusal)


def test_a_job_whose_cancel_was_asked_for_is_cancelled_when_it_ends_even_successfully(Session, owner_and_dataset):
    """Regression: a cancel answered 202 while the job ran its last phase (MiniRocket) ended 'succeeded', its model
    downloadable (and counted against a revoked tenant's quota); the docs say such a job is cancelled instead
    whenever it leaves its worker."""
    owner, dataset = owner_and_dataset
    store = JobStore(Session)
    job = store.create(owner, dataset, SPEC)
    worker = new_worker_id()
    store.claim_next(worker)
    store.cancel(owner, job.id)
    assert store.finish(job.id, worker, "succeeded", result={"epochs": 3}, model_path="models/x.zip") == "cancelled"
    row = store.get(owner, job.id)
    assert row.state == "cancelled" and row.model_path is None and row.reason.startswith("cancelled by the user")
    other = store.create(owner, dataset, SPEC)
    store.claim_next(worker)
    assert store.finish(other.id, worker, "succeeded", model_path="models/y.zip") == "succeeded"


@pytest.fixture()
def job_ending_under_the_api(tmp_path: Path):
    """A running job whose worker records its success right after the API's first read of the row."""
    from server.testing import database_with_a_dataset

    Session, owner, dataset_id = database_with_a_dataset(tmp_path / "db.sqlite", "tester")
    store = JobStore(Session)
    job = store.create(owner.id, dataset_id, {"model": "Coffee/fcn", "lr_multiplier": 1.0, "seed": 0})
    store.claim_next("w")
    read = store.get

    def read_then_the_worker_finishes(owner_id: str, job_id: str) -> Job:
        row = read(owner_id, job_id)
        if row.state == "running":
            store.finish(job_id, "w", "succeeded", result={}, model_path=f"models/{job_id}.zip", model_bytes=10)
        return row

    store.get = read_then_the_worker_finishes  # type: ignore[method-assign]
    yield store, owner.id, job.id
    Session.kw["bind"].dispose()


def test_cancelling_a_job_that_just_finished_says_it_finished(job_ending_under_the_api) -> None:
    """Regression: the 409 named the state read before the cancel: "job X is already running; only queued or running
    jobs can be cancelled"."""
    store, owner_id, job_id = job_ending_under_the_api
    with pytest.raises(JobConflict, match="is already succeeded"):
        store.cancel(owner_id, job_id)


def test_deleting_a_job_that_just_finished_returns_its_model_file(job_ending_under_the_api) -> None:
    """Regression: the delete answered the model file read before it (none, while running), so the finished job's
    model zip stayed in storage, counted nowhere, until the sweep."""
    store, owner_id, job_id = job_ending_under_the_api
    assert store.delete(owner_id, job_id) == f"models/{job_id}.zip"
