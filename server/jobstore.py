"""Job state transitions, each one a conditional UPDATE (portable: SQLite, PostgreSQL, ...).

A transition only happens when the row is still in the state (and, for running jobs, with the worker and
heartbeat) the caller saw, so concurrent workers, the API and recovery never step on each other.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import sessionmaker

from server.db import Job, utcnow


class JobNotFound(LookupError):
    pass


class JobConflict(RuntimeError):
    """The job is in a state where the request makes no sense (e.g. cancelling a finished job)."""


@dataclass(frozen=True)
class Beat:
    """What a heartbeat learns: whether the job is still this worker's, and whether the user asked to cancel."""

    owned: bool
    cancel_requested: bool


@dataclass(frozen=True)
class Recovery:
    job_id: str
    state: str
    reason: str


def local_identity() -> str:
    """Host and PID namespace: workers with the same identity can check each other's PIDs."""
    try:
        pidns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        pidns = 0
    return f"{socket.gethostname()}/{pidns}"


def new_worker_id() -> str:
    return f"{local_identity()}:{os.getpid()}:{secrets.token_hex(3)}"


def worker_process_gone(worker_id: str | None) -> bool:
    """True when ``worker_id`` names a process of this host and PID namespace that no longer exists."""
    if not worker_id or worker_id.count(":") != 2:
        return False
    identity, pid, _ = worker_id.split(":")
    if identity != local_identity() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class JobStore:
    """Creates, claims, updates and recovers jobs in the database behind ``Session``."""

    def __init__(self, Session: sessionmaker):
        self.Session = Session

    # ------------------------------------------------------------------ API side
    def create(self, owner_id: str, dataset_id: str, spec: dict[str, Any]) -> Job:
        """Insert a queued job and commit before returning, so the 202 answer always has a durable row."""
        with self.Session.begin() as session:
            job = Job(owner_id=owner_id, dataset_id=dataset_id, spec=spec, state="queued")
            session.add(job)
        return job

    def get(self, owner_id: str, job_id: str) -> Job:
        with self.Session() as session:
            job = session.get(Job, job_id)
        if job is None or job.owner_id != owner_id:
            raise JobNotFound(f"no job {job_id!r} for this token")
        return job

    def list(self, owner_id: str, limit: int = 100) -> list[Job]:
        with self.Session() as session:
            rows = session.scalars(select(Job).where(Job.owner_id == owner_id)
                                   .order_by(Job.created_at.desc()).limit(limit))
            return list(rows)

    def cancel(self, owner_id: str, job_id: str) -> Job:
        """Cancel a queued job at once; flag a running one (its worker stops the training at its next heartbeat)."""
        job = self.get(owner_id, job_id)
        now = utcnow()
        with self.Session.begin() as session:
            done = session.execute(
                update(Job).where(Job.id == job_id, Job.state == "queued")
                .values(state="cancelled", reason="cancelled by the user before it started", finished_at=now)
            ).rowcount
            if not done:
                done = session.execute(
                    update(Job).where(Job.id == job_id, Job.state == "running").values(cancel_requested=True)
                ).rowcount
        if not done:
            raise JobConflict(f"job {job_id} is already {job.state}; only queued or running jobs can be cancelled")
        return self.get(owner_id, job_id)

    # ------------------------------------------------------------------ worker side
    def claim_next(self, worker_id: str) -> Job | None:
        """Take the oldest queued job; the conditional UPDATE makes the claim atomic across workers."""
        with self.Session() as session:
            candidates = session.scalars(select(Job.id).where(Job.state == "queued")
                                         .order_by(Job.created_at).limit(5)).all()
        for job_id in candidates:
            now = utcnow()
            with self.Session.begin() as session:
                claimed = session.execute(
                    update(Job).where(Job.id == job_id, Job.state == "queued")
                    .values(state="running", worker=worker_id, attempts=Job.attempts + 1, heartbeat_at=now,
                            started_at=now, progress=None, cancel_requested=False)
                ).rowcount
            if claimed:
                with self.Session() as session:
                    return session.get(Job, job_id)
        return None

    def heartbeat(self, job_id: str, worker_id: str, progress: dict[str, Any] | None) -> Beat:
        values: dict[str, Any] = {"heartbeat_at": utcnow()}
        if progress is not None:
            values["progress"] = progress
        with self.Session.begin() as session:
            owned = session.execute(
                update(Job).where(Job.id == job_id, Job.worker == worker_id, Job.state == "running").values(**values)
            ).rowcount == 1
            cancel = bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))
        return Beat(owned=owned, cancel_requested=cancel)

    def finish(self, job_id: str, worker_id: str, state: str, *, reason: str | None = None,
               result: dict[str, Any] | None = None, model_path: str | None = None,
               progress: dict[str, Any] | None = None) -> bool:
        """Record the outcome; False when the job was taken from this worker meanwhile (then nothing changes)."""
        values: dict[str, Any] = {"state": state, "reason": reason, "result": result, "model_path": model_path,
                                  "finished_at": utcnow(), "heartbeat_at": utcnow()}
        if progress is not None:
            values["progress"] = progress
        with self.Session.begin() as session:
            return session.execute(
                update(Job).where(Job.id == job_id, Job.worker == worker_id, Job.state == "running").values(**values)
            ).rowcount == 1

    def release(self, job_id: str, worker_id: str, reason: str) -> bool:
        """Give a running job back to the queue on a clean worker shutdown; the attempt does not count."""
        with self.Session.begin() as session:
            return session.execute(
                update(Job).where(Job.id == job_id, Job.worker == worker_id, Job.state == "running")
                .values(**_transition("queued", reason), attempts=Job.attempts - 1)
            ).rowcount == 1

    def retry(self, job_id: str, worker_id: str, why: str, max_attempts: int) -> str:
        """Requeue a job whose attempt failed for a passing reason, or fail it after ``max_attempts``."""
        with self.Session() as session:
            attempts = session.scalar(select(Job.attempts).where(Job.id == job_id)) or 0
        state, reason = _retry_outcome(why, attempts, max_attempts)
        with self.Session.begin() as session:
            session.execute(update(Job).where(Job.id == job_id, Job.worker == worker_id, Job.state == "running")
                            .values(**_transition(state, reason)))
        return state

    def recover(self, stale_after_s: float, max_attempts: int, *, caller: str | None = None) -> list[Recovery]:
        """Requeue (or fail after ``max_attempts``) every running job whose worker is gone.

        A worker is gone when its heartbeat is older than ``stale_after_s``, or at once when it ran on this
        host and its process no longer exists (a restart after a kill needs no waiting). The ``caller``
        worker's own jobs are never touched: it is alive, it is asking.
        """
        cutoff = utcnow() - timedelta(seconds=stale_after_s)
        with self.Session() as session:
            others = or_(Job.worker.is_(None), Job.worker != caller)
            rows = session.execute(select(Job.id, Job.worker, Job.heartbeat_at, Job.attempts, Job.cancel_requested)
                                   .where(Job.state == "running", others)).all()
        recovered = []
        for job_id, worker, beat, attempts, cancel in rows:
            if not (beat is None or beat < cutoff or worker_process_gone(worker)):
                continue
            since = f"{beat:%Y-%m-%d %H:%M:%S} UTC" if beat else "never"
            why = f"worker {worker} stopped during attempt {attempts} (last heartbeat {since})"
            state, reason = (("cancelled", f"cancelled by the user; {why} before confirming") if cancel
                             else _retry_outcome(why, attempts, max_attempts))
            with self.Session.begin() as session:
                done = session.execute(
                    update(Job).where(Job.id == job_id, Job.state == "running", Job.worker == worker,
                                      Job.heartbeat_at == beat).values(**_transition(state, reason))
                ).rowcount
            if done:
                recovered.append(Recovery(job_id, state, reason))
        return recovered


def _retry_outcome(why: str, attempts: int, max_attempts: int) -> tuple[str, str]:
    if attempts >= max_attempts:
        return "failed", (f"{why}; giving up after {attempts} of {max_attempts} attempts (TSHUB_MAX_ATTEMPTS). "
                          "Check the worker logs, e.g. for running out of memory.")
    return "queued", f"requeued: {why}"


def _transition(state: str, reason: str) -> dict[str, Any]:
    """Column values of a move to ``state``: back to the queue (no worker), or finished."""
    if state == "queued":
        return {"state": state, "reason": reason, "worker": None, "progress": None}
    return {"state": state, "reason": reason, "finished_at": utcnow()}
