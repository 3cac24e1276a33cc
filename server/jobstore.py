"""Job state transitions, each one a conditional UPDATE (portable: SQLite, PostgreSQL, ...).

A transition only happens when the row is still in the state (and, for running jobs, with the worker and
heartbeat) the caller saw, so concurrent workers, the API and recovery never step on each other. Claims on
PostgreSQL use its queue primitives instead (an owner try-lock and ``FOR UPDATE SKIP LOCKED``): racing workers
skip what another is claiming instead of colliding on one row (faster in 3 of 4 runs of ``bench/service_scale.py``).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import aliased, sessionmaker

from server.db import TERMINAL_STATES, Job, page_of, utcnow

#: First key of the PostgreSQL advisory locks that serialise claims per owner (the second is the owner's hash).
CLAIM_LOCK_SPACE = 0x7453
#: The reason of a job its user cancelled while it ran (another reason, e.g. a revoked token, replaces it).
USER_CANCEL = "cancelled by the user"


class JobNotFound(LookupError):
    pass


class QuotaExceeded(RuntimeError):
    """A tenant is at one of its limits (answered 429; the message names the limit and what to do)."""


class JobConflict(RuntimeError):
    """The job is in a state where the request makes no sense (e.g. cancelling a finished job)."""


@dataclass(frozen=True)
class Beat:
    """What a heartbeat learns: whether the job is still this worker's, and whether the user asked to cancel."""

    owned: bool
    cancel_requested: bool
    cancel_reason: str | None = None  # why it is to stop (USER_CANCEL, a revoked token...); None: no reason recorded


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
    def create(self, owner_id: str, dataset_id: str, spec: dict[str, Any], max_queued: int | None = None) -> Job:
        """Insert a queued job and commit before returning, so the 202 answer always has a durable row; refuse
        it (QuotaExceeded) when the owner would have more than ``max_queued`` queued jobs (counted after the
        insert, in the same transaction, so concurrent requests cannot overshoot on SQLite)."""
        with self.Session.begin() as session:
            job = Job(owner_id=owner_id, dataset_id=dataset_id, spec=spec, state="queued")
            session.add(job)
            session.flush()
            queued = session.scalar(
                select(func.count()).select_from(Job).where(Job.owner_id == owner_id, Job.state == "queued")
            )
            if max_queued is not None and queued > max_queued:  # raising rolls the insert back
                raise QuotaExceeded(
                    f"you have {queued - 1} queued jobs, the limit per token (TSHUB_TENANT_QUEUED "
                    f"= {max_queued}); wait for some to start, or cancel some."
                )
        return job

    def get(self, owner_id: str, job_id: str) -> Job:
        with self.Session() as session:
            job = session.get(Job, job_id)
        if job is None or job.owner_id != owner_id:
            raise JobNotFound(f"no job {job_id!r} for this token")
        return job

    def page(
        self, owner_id: str, *, state: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[Job], str | None]:
        """The owner's jobs, newest first, optionally in one state; and the next page's cursor."""
        query = select(Job).where(Job.owner_id == owner_id)
        if state is not None:
            query = query.where(Job.state == state)
        with self.Session() as session:
            return page_of(session, query, Job, limit, cursor)

    def delete(self, owner_id: str, job_id: str) -> str | None:
        """Delete a finished job's row; returns its model file (relative to storage) for the caller to remove."""
        self.get(owner_id, job_id)  # another owner's, or no such job: 404
        with self.Session.begin() as session:  # the model file read with the delete: a job ending meanwhile has one
            deleted = session.execute(
                delete(Job).where(Job.id == job_id, Job.state.in_(TERMINAL_STATES)).returning(Job.model_path)
            ).all()
        if not deleted:
            raise JobConflict(
                f"job {job_id} is {self.get(owner_id, job_id).state}; cancel it (POST /v1/jobs/{job_id}/cancel) and "
                "delete it once it is cancelled"
            )
        return deleted[0].model_path

    def cancel_all(self, owner_id: str, reason: str) -> int:
        """Cancel every queued job of ``owner_id`` and ask its running ones to stop (e.g. its token was revoked)."""
        with self.Session.begin() as session:
            queued = session.execute(
                update(Job)
                .where(Job.owner_id == owner_id, Job.state == "queued")
                .values(state="cancelled", cancel_requested=True, reason=reason, finished_at=utcnow())
            ).rowcount
            running = session.execute(  # the reason goes with the flag, for the worker that stops the job to say
                update(Job)
                .where(Job.owner_id == owner_id, Job.state == "running", Job.cancel_requested.is_(False))
                .values(cancel_requested=True, reason=reason)
            ).rowcount
        return queued + running

    def cancel(self, owner_id: str, job_id: str) -> Job:
        """Cancel a queued job at once; flag a running one (its worker stops the training at its next heartbeat)."""
        self.get(owner_id, job_id)  # another owner's, or no such job: 404
        now = utcnow()
        with self.Session.begin() as session:
            done = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == "queued")
                .values(
                    state="cancelled",
                    cancel_requested=True,  # what a client reads to tell a job it asked to stop, queued or running
                    reason="cancelled by the user before it started",
                    finished_at=now,
                )
            ).rowcount
            if not done:
                done = session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.state == "running")
                    .values(cancel_requested=True, reason=USER_CANCEL)
                ).rowcount
        if not done:  # its state now, not the one read before: it may have ended meanwhile
            raise JobConflict(
                f"job {job_id} is already {self.get(owner_id, job_id).state}; only queued or running jobs can be "
                "cancelled"
            )
        return self.get(owner_id, job_id)

    # ------------------------------------------------------------------ worker side
    def claim_next(self, worker_id: str, tenant_running: int | None = None) -> Job | None:
        """Take the next queued job, fairly across tenants: the owner with the fewest running jobs first (never
        one already at ``tenant_running``), then the one whose last job started longest ago, then that owner's
        oldest job. Atomic on every database (see ``_claim_locked`` and ``_claim_conditional``)."""
        claim = self._claim_locked if self.Session.kw["bind"].dialect.name == "postgresql" else self._claim_conditional
        for owner_id in self._owners_in_turn(tenant_running):
            job_id = claim(owner_id, worker_id, tenant_running)
            if job_id is not None:
                with self.Session() as session:
                    return session.get(Job, job_id)
        return None

    def _claim_conditional(self, owner_id: str, worker_id: str, tenant_running: int | None) -> str | None:
        """Portable claim: pick the owner's oldest queued job, then one conditional UPDATE (the first statement of
        its transaction, so SQLite runs it under its write lock) that re-checks the state and the owner's running
        count. Racing workers collide on the same row and all but one update nothing."""
        with self.Session() as session:
            job_id = session.scalar(
                select(Job.id)
                .where(Job.owner_id == owner_id, Job.state == "queued")
                .order_by(Job.created_at, Job.id)
                .limit(1)
            )
        if job_id is None:
            return None
        conditions = [Job.id == job_id, Job.state == "queued"]
        if tenant_running is not None:
            other = aliased(Job)
            running = (
                select(func.count())
                .select_from(other)
                .where(other.owner_id == owner_id, other.state == "running")
                .scalar_subquery()
            )
            conditions.append(running < tenant_running)
        with self.Session.begin() as session:
            claimed = session.execute(update(Job).where(*conditions).values(**_claimed_by(worker_id))).rowcount
        return job_id if claimed else None

    def _claim_locked(self, owner_id: str, worker_id: str, tenant_running: int | None) -> str | None:
        """PostgreSQL claim, in one transaction: try-lock the owner (a transaction advisory lock: a worker finding
        it held moves on to the next owner instead of waiting), count its running jobs, take its oldest queued
        job with ``FOR UPDATE SKIP LOCKED`` (a job being cancelled is skipped, not waited for) and mark it."""
        with self.Session.begin() as session:
            if not session.scalar(select(func.pg_try_advisory_xact_lock(CLAIM_LOCK_SPACE, func.hashtext(owner_id)))):
                return None
            if (
                tenant_running is not None
                and session.scalar(
                    select(func.count()).select_from(Job).where(Job.owner_id == owner_id, Job.state == "running")
                )
                >= tenant_running
            ):
                return None
            job_id = session.scalar(
                select(Job.id)
                .where(Job.owner_id == owner_id, Job.state == "queued")
                .order_by(Job.created_at, Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if job_id is not None:
                session.execute(update(Job).where(Job.id == job_id).values(**_claimed_by(worker_id)))
        return job_id

    def _owners_in_turn(self, tenant_running: int | None) -> list[str]:
        with self.Session() as session:
            waiting = session.execute(
                select(Job.owner_id, func.min(Job.created_at)).where(Job.state == "queued").group_by(Job.owner_id)
            ).all()
            owners = [owner for owner, _ in waiting]
            running = dict(
                session.execute(
                    select(Job.owner_id, func.count())
                    .where(Job.state == "running", Job.owner_id.in_(owners))
                    .group_by(Job.owner_id)
                ).all()
            )
            started = dict(
                session.execute(
                    select(Job.owner_id, func.max(Job.started_at))
                    .where(Job.owner_id.in_(owners))
                    .group_by(Job.owner_id)
                ).all()
            )
        never = utcnow().replace(year=1970)
        turn = sorted((running.get(owner, 0), started.get(owner) or never, oldest, owner) for owner, oldest in waiting)
        return [owner for count, _, _, owner in turn if tenant_running is None or count < tenant_running]

    def heartbeat(self, job_id: str, worker_id: str, progress: dict[str, Any] | None) -> Beat:
        values: dict[str, Any] = {"heartbeat_at": utcnow()}
        if progress is not None:
            values["progress"] = progress
        with self.Session.begin() as session:
            owned = (
                session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.worker == worker_id, Job.state == "running")
                    .values(**values)
                ).rowcount
                == 1
            )
            row = session.execute(select(Job.cancel_requested, Job.reason).where(Job.id == job_id)).one_or_none()
        cancel = bool(row and row.cancel_requested)
        return Beat(owned=owned, cancel_requested=cancel, cancel_reason=row.reason if cancel and row else None)

    def finish(
        self,
        job_id: str,
        worker_id: str,
        state: str,
        *,
        reason: str | None = None,
        result: dict[str, Any] | None = None,
        model_path: str | None = None,
        model_bytes: int | None = None,
        progress: dict[str, Any] | None = None,
    ) -> str | None:
        """Record the outcome; the state recorded: ``state``, or "cancelled" for a job that succeeded after its
        cancel was asked for (a cancelled job stores no model: the caller deletes the one it saved); None when the
        job was taken from this worker meanwhile (then nothing changes)."""
        values: dict[str, Any] = {
            "state": state,
            "reason": reason,
            "result": result,
            "model_path": model_path,
            "model_bytes": model_bytes,
            "finished_at": utcnow(),
            "heartbeat_at": utcnow(),
        }
        if progress is not None:
            values["progress"] = progress
        owned = (Job.id == job_id, Job.worker == worker_id, Job.state == "running")
        with self.Session.begin() as session:
            if state == "succeeded":  # a cancel asked for meanwhile wins, whatever the run's own outcome
                if session.execute(
                    update(Job)
                    .where(*owned, Job.cancel_requested.is_(True))
                    .values(**_transition(*_cancelled("it finished")), **({"progress": progress} if progress else {}))
                ).rowcount:
                    return "cancelled"
            return state if session.execute(update(Job).where(*owned).values(**values)).rowcount == 1 else None

    def release(self, job_id: str, worker_id: str, why: str) -> str | None:
        """Give a running job back to the queue on a clean worker shutdown (the attempt does not count); the state
        it moved to (cancelled when its cancel was asked for), None when it was no longer this worker's."""
        return self._move(job_id, worker_id, ("queued", f"requeued: {why}"), why, attempts=Job.attempts - 1)

    def retry(self, job_id: str, worker_id: str, why: str, max_attempts: int) -> str | None:
        """Requeue a job whose attempt failed for a passing reason, or fail it after ``max_attempts``; the state it
        moved to (cancelled when its cancel was asked for), None when it was no longer this worker's."""
        with self.Session() as session:
            attempts = session.scalar(select(Job.attempts).where(Job.id == job_id)) or 0
        return self._move(job_id, worker_id, _retry_outcome(why, attempts, max_attempts), why)

    def _move(self, job_id: str, worker_id: str, outcome: tuple[str, str], why: str, **values: Any) -> str | None:
        """Move this worker's running job to ``outcome`` (state, reason), or to cancelled when the user asked to
        cancel it (as ``recover`` does): a requeued job would run again. The flag only goes from false to true,
        so the second statement takes exactly the job the first one left."""
        owned = (Job.id == job_id, Job.worker == worker_id, Job.state == "running")
        with self.Session.begin() as session:
            if session.execute(
                update(Job).where(*owned, Job.cancel_requested.is_(False)).values(**_transition(*outcome), **values)
            ).rowcount:
                return outcome[0]
            if session.execute(
                update(Job).where(*owned, Job.cancel_requested.is_(True)).values(**_transition(*_cancelled(why)))
            ).rowcount:
                return "cancelled"
        return None

    def recover(
        self, stale_after_s: float, max_attempts: int, *, caller: str | None = None, holding: Collection[str] = ()
    ) -> list[Recovery]:
        """Requeue (or fail after ``max_attempts``) every running job whose worker is gone.

        A worker is gone when its heartbeat is older than ``stale_after_s``, or at once when it ran on this
        host and its process no longer exists (a restart after a kill needs no waiting). The ``caller``
        worker's jobs in ``holding`` are never touched: it is alive, it is asking. Its other running jobs are
        recovered at once: it lost track of them (an error after the claim or while recording the end), and its
        live heartbeat would keep any other worker from recovering them.
        """
        cutoff = utcnow() - timedelta(seconds=stale_after_s)
        with self.Session() as session:
            rows = session.execute(
                select(Job.id, Job.worker, Job.heartbeat_at, Job.attempts, Job.cancel_requested).where(
                    Job.state == "running"
                )
            ).all()
        recovered = []
        for job_id, worker, beat, attempts, cancel in rows:
            dropped = caller is not None and worker == caller
            if dropped and job_id in holding:
                continue
            if not (dropped or beat is None or beat < cutoff or worker_process_gone(worker)):
                continue
            since = f"{beat:%Y-%m-%d %H:%M:%S} UTC" if beat else "never"
            ended = "lost track of it" if dropped else "stopped"
            why = f"worker {worker} {ended} during attempt {attempts} (last heartbeat {since})"
            state, reason = _cancelled(why) if cancel else _retry_outcome(why, attempts, max_attempts)
            with self.Session.begin() as session:
                done = session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.state == "running", Job.worker == worker, Job.heartbeat_at == beat)
                    .values(**_transition(state, reason))
                ).rowcount
            if done:
                recovered.append(Recovery(job_id, state, reason))
        return recovered


def _claimed_by(worker_id: str) -> dict[str, Any]:
    """Column values of a claim: running on ``worker_id``, a new attempt, a fresh heartbeat, and no reason (a requeued
    job's 'requeued: ...' no longer holds once it runs again); cancel_requested is kept, with the reason it was asked
    for: a job asked to stop is cancelled by its worker's first heartbeat."""
    now = utcnow()
    return {
        "state": "running",
        "worker": worker_id,
        "attempts": Job.attempts + 1,
        "heartbeat_at": now,
        "started_at": now,
        "progress": None,
        "reason": case((Job.cancel_requested.is_(True), Job.reason), else_=None),
    }


def _cancelled(why: str) -> tuple[str, str]:
    """A job whose run ended (``why``) after the user asked to cancel it, before its worker confirmed."""
    return "cancelled", f"cancelled by the user; {why} before confirming"


def _retry_outcome(why: str, attempts: int, max_attempts: int) -> tuple[str, str]:
    if attempts >= max_attempts:
        return "failed", (
            f"{why}; giving up after {attempts} of {max_attempts} attempts (TSHUB_MAX_ATTEMPTS). "
            "Check the worker logs, e.g. for running out of memory."
        )
    return "queued", f"requeued: {why}"


def _transition(state: str, reason: str) -> dict[str, Any]:
    """Column values of a move to ``state``: back to the queue (no worker), or finished."""
    if state == "queued":
        return {"state": state, "reason": reason, "worker": None, "progress": None}
    return {"state": state, "reason": reason, "finished_at": utcnow()}
