"""The worker: claims queued jobs from the database, runs them on an engine, reports progress and recovers.

One worker process supervises up to ``TSHUB_WORKERS`` jobs at once (each in its own child process or Ray
task) without blocking: every loop it drains progress, heartbeats, applies cancellations, records outcomes,
claims more work (fairly across tenants, at most ``TSHUB_TENANT_RUNNING`` per tenant), stops jobs past
``TSHUB_MAX_JOB_S``, requeues (or fails, after ``TSHUB_MAX_ATTEMPTS``) jobs whose worker died, and now and then
sweeps unreferenced files from the storage. Run it with
``python -m server.worker`` or let ``tshub serve`` start it. SIGTERM/SIGINT give running jobs back to the queue.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import sessionmaker

from server.config import Settings
from server.db import DatasetRecord, Job, open_store
from server.engines import Engine, Handle, make_engine, one_line, set_parent_death_signal
from server.jobstore import USER_CANCEL, JobStore, new_worker_id
from server.storage import JOB_STATES, sweep
from tshub.cluster import CANCELLED, FAILED, LOST, Outcome

log = logging.getLogger("tshub.worker")

PROGRESS_WRITE_S = 0.5  # write progress to the database at most this often per job
BUSY_POLL_S = 0.2
SWEEP_EVERY_S = 600.0


@dataclass
class Running:
    job: Job
    handle: Handle
    model_rel: str
    model_out: Path
    state_dir: Path
    started: float = field(default_factory=time.monotonic)
    last_beat: float = field(default_factory=time.monotonic)
    progress: dict[str, Any] | None = None
    dirty: bool = False


class Worker:
    def __init__(self, settings: Settings, Session: sessionmaker | None = None, engine: Engine | None = None):
        self.settings = settings
        self.Session = Session or open_store(settings.db_url)
        self.store = JobStore(self.Session)
        self.engine = engine or make_engine(settings)
        self.storage = settings.object_store()
        self.id = new_worker_id()
        self.running: dict[str, Running] = {}
        self._next_recovery = 0.0
        self._next_sweep = time.monotonic() + SWEEP_EVERY_S / 10

    def run(self, stop: threading.Event) -> None:
        log.info(
            "worker %s: engine %s, %d job slot(s), database %s",
            self.id,
            self.settings.engine,
            self.settings.workers,
            self.Session.kw["bind"].url.render_as_string(hide_password=True),
        )
        try:
            while not stop.is_set():
                try:
                    self.step()
                except Exception:  # e.g. the database is briefly unreachable: keep the jobs, try again
                    log.exception("worker step failed; retrying")
                stop.wait(BUSY_POLL_S if self.running else self.settings.poll_s)
        finally:
            self.shutdown("the worker shut down")

    def step(self) -> None:
        """One round: recover dead workers' jobs, supervise running ones, claim new ones."""
        now = time.monotonic()
        if now >= self._next_recovery:
            for rec in self.store.recover(
                self.settings.stale_after_s, self.settings.max_attempts, caller=self.id, holding=self.running.keys()
            ):
                log.warning("job %s → %s: %s", rec.job_id, rec.state, rec.reason)
            self._next_recovery = now + min(self.settings.heartbeat_s, self.settings.stale_after_s / 4)
        if now >= self._next_sweep:
            sweep(self.storage, self.Session, grace_s=2 * self.settings.parse_timeout_s + 600)
            self._next_sweep = now + SWEEP_EVERY_S
        for job_id in list(self.running):
            run = self.running[job_id]
            try:
                self._supervise(run)
            except Exception as err:  # the engine lost track of this job (e.g. the Ray cluster is unreachable)
                log.exception("supervising job %s failed", job_id)
                run.handle.kill()
                self._finish(run, Outcome(LOST, reason=f"the engine lost track of it ({one_line(err)})"))
        while len(self.running) < self.settings.workers:
            job = self.store.claim_next(self.id, self.settings.tenant_running)
            if job is None:
                break
            self._start(job)

    def shutdown(self, reason: str) -> None:
        """Stop every job this worker runs and put it back in the queue (the attempt does not count), or cancel it
        when its cancel was asked for."""
        for job_id, run in list(self.running.items()):
            run.handle.kill()
            run.model_out.unlink(missing_ok=True)
            state = self.store.release(job_id, self.id, f"{reason} while it ran")
            if state is not None:
                log.info("job %s %s: %s", job_id, state, reason)
        self.running.clear()
        self.engine.close()

    # ------------------------------------------------------------------ internals
    def _start(self, job: Job) -> None:
        with self.Session() as session:
            dataset = session.get(DatasetRecord, job.dataset_id)
        model_rel = f"models/{job.id}.zip"
        data_path = self.storage.local_path(dataset.path) if dataset else None
        if data_path is None:
            self.store.finish(
                job.id,
                self.id,
                "failed",
                reason=f"the dataset file of {job.dataset_id} is missing from the server's storage; upload it again",
            )
            return
        try:
            model_out = self.storage.temp_file(".zip")  # the engine writes the checkpoint here, _finish stores it
            handle = self.engine.submit(job.id, job.spec, data_path, model_out, self._state_dir(job.id))
        except Exception as err:  # the engine could not start it (e.g. Ray unreachable): retry, a few times
            log.exception("could not start job %s", job.id)
            self.store.retry(
                job.id, self.id, f"the engine could not start it ({one_line(err)})", self.settings.max_attempts
            )
            return
        log.info("job %s started (attempt %d): %s", job.id, job.attempts, job.spec)
        self.running[job.id] = Running(  # last_beat 0: beat now, submit may block
            job, handle, model_rel, model_out, self._state_dir(job.id), last_beat=0.0
        )

    def _state_dir(self, job_id: str) -> Path:
        """Where a job's trainings keep their state, in the local scratch folder: an attempt after a kill resumes
        from it; it goes when the job ends, and the storage sweep clears those of jobs that ended elsewhere."""
        return self.storage.scratch / JOB_STATES / job_id

    def _supervise(self, run: Running) -> None:
        events = run.handle.poll()
        if events:
            run.progress, run.dirty = events[-1], True
        if run.handle.outcome is not None:
            self._finish(run, run.handle.outcome)
            return
        now = time.monotonic()
        if now - run.started > self.settings.max_job_s:
            run.handle.kill()
            self._finish(
                run,
                Outcome(
                    "failed",
                    reason=f"stopped after {self.settings.max_job_s:g} s, the server's "
                    "limit per job (TSHUB_MAX_JOB_S); ask for fewer epochs, a "
                    "budget_s, or no ω grid or baseline",
                ),
            )
            return
        due = now - run.last_beat >= self.settings.heartbeat_s
        if due or (run.dirty and now - run.last_beat >= PROGRESS_WRITE_S):
            beat = self.store.heartbeat(run.job.id, self.id, run.progress if run.dirty else None)
            run.last_beat, run.dirty = now, False
            if not beat.owned:
                log.warning("job %s is no longer this worker's (requeued elsewhere); stopping it", run.job.id)
                run.handle.kill()
                run.model_out.unlink(missing_ok=True)
                del self.running[run.job.id]
            elif beat.cancel_requested:
                run.handle.kill()
                self._finish(run, Outcome(CANCELLED, reason=beat.cancel_reason or USER_CANCEL))

    def _finish(self, run: Running, outcome: Outcome) -> None:
        del self.running[run.job.id]
        if outcome.state == LOST:  # the work did nothing wrong: run it again elsewhere, a bounded number of times
            run.model_out.unlink(missing_ok=True)
            state = self.store.retry(
                run.job.id,
                self.id,
                f"attempt {run.job.attempts} was lost: {outcome.reason}",
                self.settings.max_attempts,
            )
            log.warning("job %s lost (%s) → %s", run.job.id, outcome.reason, state)
            return
        model = run.model_out
        if outcome.state == "succeeded" and not self.store.heartbeat(run.job.id, self.id, None).owned:
            model.unlink(missing_ok=True)  # the model key is the job's: the attempt that took the job over owns it
            log.warning("job %s finished but was no longer this worker's; outcome dropped", run.job.id)
            return
        if outcome.state == "succeeded" and model.is_file() and model.stat().st_size:
            model_bytes = model.stat().st_size
            self.storage.put_file(run.model_rel, model)
        elif outcome.state == "succeeded":
            outcome = Outcome(FAILED, reason="the job ended without writing its checkpoint; see the worker log")
        model.unlink(missing_ok=True)
        shutil.rmtree(run.state_dir, ignore_errors=True)  # no attempt follows one that ended (unlike a lost one)
        succeeded = outcome.state == "succeeded"
        saved = self.store.finish(
            run.job.id,
            self.id,
            outcome.state,
            reason=outcome.reason,
            result=outcome.result,
            model_path=run.model_rel if succeeded else None,
            model_bytes=model_bytes if succeeded else None,
            progress=ended_progress(run.progress) if succeeded else run.progress,
        )
        log.info("job %s %s%s", run.job.id, saved or outcome.state, f": {outcome.reason}" if outcome.reason else "")
        if succeeded and saved == "cancelled":  # cancelled as it ended: the model it stored is no one's
            self.storage.delete(run.model_rel)
        if not saved:
            log.warning("job %s finished but was no longer this worker's; outcome dropped", run.job.id)


def ended_progress(progress: dict[str, Any] | None) -> dict[str, Any]:
    """The progress of a job that succeeded: done, with its source (its last event named the phase then under way,
    e.g. MiniRocket's, with no epoch, as if it still ran). A failed or cancelled job keeps its last event: where it
    stopped."""
    source = (progress or {}).get("source")
    return {"phase": "done", **({"source": source} if source else {})}


def main() -> None:
    """``python -m server.worker``: run until SIGTERM/SIGINT (or until the parent ``tshub serve`` dies)."""
    logging.basicConfig(
        level=os.environ.get("TSHUB_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop_with_parent(stop)
    Worker(Settings.from_env()).run(stop)


def stop_with_parent(stop: threading.Event | None) -> None:
    """When started by ``tshub serve`` (TSHUB_PARENT_PID set), get SIGTERM as soon as that process is gone (and
    stop at once, through ``stop`` or SIGTERM, when it already is)."""
    parent = os.environ.get("TSHUB_PARENT_PID")
    if not parent:
        return
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != int(parent):
        stop.set() if stop is not None else os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    main()
