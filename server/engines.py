"""Where jobs run: a pool of local child processes, or a Ray cluster (one GPU per job when it has GPUs).

The worker talks to both through the same non-blocking handle: ``poll()`` returns progress events, ``outcome``
(``tshub.cluster.Outcome``) is set once the job ended, ``kill()`` stops it at once (cancellation, lost ownership,
shutdown). Killing the job's process is safe at any point: a local job saves its training state as it goes (in
the ``state_dir`` the worker gives it), which is only ever resumed, never half-applied, so an attempt requeued
on this machine continues where the killed one was. A job whose Ray node or worker process died ends ``lost``,
and the worker puts it back in the queue (a Ray attempt starts afresh: its node's disk is not the next one's).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import queue
import re
import signal
import sys
import threading
import time
import traceback
from dataclasses import asdict
from multiprocessing import forkserver
from pathlib import Path
from typing import Any, Protocol

from server.config import Settings
from tshub.atomic import write_bytes_atomic
from tshub.cluster import FAILED, LOST, SUCCEEDED, Outcome, connect, outcome_of, task_resources

log = logging.getLogger(__name__)

#: Modules the local fork server imports once, so each job's process starts warm (torch._dynamo is what
#: torch.optim imports on first use: 2 s per job otherwise). Imports only: no threads before the fork.
PRELOAD = ["torch", "torch._dynamo", "server.runner"]
#: Environment forwarded to Ray tasks so they resolve models and data as the service does.
FORWARDED_ENV = ("TSHUB_HOME", "TSHUB_ZOO", "TSHUB_DATA", "TSHUB_NAMESPACE", "HF_HUB_OFFLINE", "HF_ENDPOINT", "HF_HOME")


class Handle(Protocol):
    outcome: Outcome | None

    def poll(self) -> list[dict[str, Any]]: ...

    def kill(self) -> None: ...


class Engine(Protocol):
    def submit(
        self, job_id: str, spec: dict[str, Any], dataset: Path, model_out: Path, state_dir: Path | None = None
    ) -> Handle: ...

    def close(self) -> None: ...


def make_engine(settings: Settings) -> Engine:
    return RayEngine(settings.ray_address) if settings.engine == "ray" else LocalEngine(settings.workers)


def execute(
    spec: dict[str, Any], dataset: Path | bytes, report: Any, state_dir: Path | None = None
) -> tuple[bytes | None, Outcome]:
    """Run a job: the checkpoint zip and the outcome; every exception becomes a failed outcome with a one-line
    reason (the traceback goes to the worker's log)."""
    from server.runner import JobFailed, run_job

    try:
        result, blob = run_job(spec, dataset, report, state_dir)
        return blob, Outcome(SUCCEEDED, result=result)
    except JobFailed as err:
        return None, Outcome(FAILED, reason=str(err))
    except Exception as err:  # the job failed; the worker must keep going and say why
        traceback.print_exc(file=sys.stderr)
        return None, Outcome(FAILED, reason=one_line(err))


def one_line(err: BaseException) -> str:
    """``Type: first line of the message``, for reasons shown to users (tracebacks stay in the logs; the
    server's absolute paths are cut to their last component)."""
    text = str(err).strip()
    return hide_server_paths(f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__)


_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s'\"/:,;()]+/)+([^\s'\"/:,;()]*)")


def hide_server_paths(text: str) -> str:
    """``text`` with absolute paths (``/srv/tshub/storage/x.npz``) reduced to their file name (``x.npz``):
    messages for users must not map the server's disk."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1) or "…", text)


# ------------------------------------------------------------------------------------------------------ local
class LocalEngine:
    """One child process per job, forked from a fork server that preloaded torch and tshub.

    A fork server (not plain fork) keeps CUDA safe and the worker's own state out of the children; a child
    exits when its worker is gone, so a killed worker leaves no orphan training. With ``jobs_at_once`` jobs
    (TSHUB_WORKERS), each trains with that share of torch's threads (``share_cores``).
    """

    def __init__(self, jobs_at_once: int = 1) -> None:
        self.jobs_at_once = jobs_at_once
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(PRELOAD)
        forkserver.ensure_running()  # pay the preload now, not in the first job

    def submit(
        self, job_id: str, spec: dict[str, Any], dataset: Path, model_out: Path, state_dir: Path | None = None
    ) -> LocalHandle:
        events = self.ctx.Queue()
        process = self.ctx.Process(
            target=_local_child,
            args=(spec, str(dataset), str(model_out), events, os.getpid(), state_dir, self.jobs_at_once),
            name=f"tshub-job-{job_id}",
            daemon=True,
        )
        process.start()
        return LocalHandle(process, events)

    def close(self) -> None:
        pass


class LocalHandle:
    def __init__(self, process: Any, events: Any):
        self.process, self.events = process, events
        self.outcome: Outcome | None = None

    def poll(self) -> list[dict[str, Any]]:
        progress = []
        while True:
            try:
                kind, payload = self.events.get_nowait()
            except queue.Empty:
                break
            if kind == "progress":
                progress.append(payload)
            else:
                self.outcome = Outcome(**payload)
        if self.outcome is None and not self.process.is_alive():
            self._drain_after_exit(progress)
        return progress

    def _drain_after_exit(self, progress: list[dict[str, Any]]) -> None:
        """The child exited: take its last messages (flushed before exit), else report how it died."""
        try:
            while self.outcome is None:
                kind, payload = self.events.get(timeout=1.0)
                if kind == "progress":
                    progress.append(payload)
                else:
                    self.outcome = Outcome(**payload)
        except queue.Empty:
            code = self.process.exitcode
            if code == -signal.SIGKILL:
                how = "it was killed (SIGKILL), e.g. by the kernel when out of memory"
            else:
                how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            self.outcome = Outcome(FAILED, reason=f"the training process died ({how}); see the worker log")

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)


def _local_child(
    spec: dict[str, Any],
    dataset: str,
    model_out: str,
    events: Any,
    worker_pid: int,
    state_dir: Path | None,
    jobs_at_once: int,
) -> None:
    _exit_with(worker_pid)
    share_cores(jobs_at_once)
    blob, outcome = execute(spec, Path(dataset), lambda event: events.put(("progress", event)), state_dir)
    if blob is not None:
        write_bytes_atomic(Path(model_out), blob)
    events.put(("outcome", asdict(outcome)))
    events.close()
    events.join_thread()


def share_cores(jobs_at_once: int) -> None:
    """This job's torch threads: its share of the cores (torch's one per core ÷ the jobs at once, at least one).
    Each job taking every core puts two threads on a core, and a thread held off its core stalls every step of its
    job at the barriers: one thread per core ran at 0.59× one thread's speed with a core busy
    (bench/results/train_threads.md)."""
    import torch  # preloaded by the fork server

    torch.set_num_threads(max(1, torch.get_num_threads() // jobs_at_once))


def _exit_with(worker_pid: int, every_s: float = 1.0) -> None:
    """End this job process soon after its worker dies (the fork server, its parent, outlives the worker while
    children exist); the dead worker's job is requeued, so its training must not go on."""

    def watch() -> None:
        while True:
            time.sleep(every_s)
            try:
                os.kill(worker_pid, 0)
            except ProcessLookupError:
                os._exit(1)

    threading.Thread(target=watch, name="tshub-worker-watch", daemon=True).start()


def set_parent_death_signal(sig: int) -> None:
    """Linux: receive ``sig`` when the parent process dies, so no orphan keeps running after a crash."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG


# ------------------------------------------------------------------------------------------------------ Ray
class RayEngine:
    """Jobs as Ray tasks (one GPU each when the cluster has GPUs); progress flows through a small actor."""

    def __init__(self, address: str | None):
        import ray

        self.ray = ray
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        # The service package travels with the job (tshub itself must be installed on the cluster's nodes).
        runtime_env = {"py_modules": [str(Path(__file__).resolve().parent)], "env_vars": env}
        self.started = connect(address, namespace="tshub", runtime_env=runtime_env)
        self.task = ray.remote(**task_resources(), max_retries=0)(_ray_task)  # type: ignore[call-overload]
        self.mailbox = ray.remote(num_cpus=0)(Mailbox)
        log.info(
            "Ray engine at %s: %s, one %s per job",
            address or "a local cluster",
            ray.cluster_resources(),
            "GPU" if "num_gpus" in task_resources() else "CPU",
        )

    def submit(
        self, job_id: str, spec: dict[str, Any], dataset: Path, model_out: Path, state_dir: Path | None = None
    ) -> RayHandle:
        """``state_dir`` is not used: the task may run on any node, whose disk the next attempt may not see."""
        mailbox = self.mailbox.remote()
        ref = self.task.options(name=f"tshub-job-{job_id}").remote(spec, dataset.read_bytes(), mailbox)
        return RayHandle(self.ray, ref, mailbox, model_out)

    def close(self) -> None:
        """Shut down only a Ray this engine started: one the process had joined before is the caller's."""
        if self.started:
            self.ray.shutdown()


class Mailbox:
    """A Ray actor holding the progress events of one job until the worker takes them."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def put(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def take(self) -> list[dict[str, Any]]:
        events, self.events = self.events, []
        return events


def _ray_task(spec: dict[str, Any], dataset: bytes, mailbox: Any) -> tuple[dict[str, Any], bytes | None]:
    blob, outcome = execute(spec, dataset, lambda event: mailbox.put.remote(event))
    return asdict(outcome), blob


#: How long one poll waits for the mailbox actor's answer: briefly, since the worker's loop (every job's heartbeat)
#: waits with it. A starved actor (a busy machine) is not a lost job: its answer is collected at a later poll, and
#: the job finishes once both the task and the mailbox have answered.
MAILBOX_WAIT_S = 0.05


class RayHandle:
    def __init__(self, ray: Any, ref: Any, mailbox: Any, model_out: Path):
        self.ray, self.ref, self.mailbox, self.model_out = ray, ref, mailbox, model_out
        self.outcome: Outcome | None = None
        self._take: Any = None  # the pending mailbox request, kept across polls until it answers

    def poll(self) -> list[dict[str, Any]]:
        ray = self.ray
        done, _ = ray.wait([self.ref], timeout=0)
        if self._take is None:
            self._take = self.mailbox.take.remote()
        answered, _ = ray.wait([self._take], timeout=MAILBOX_WAIT_S)
        if not answered:
            return []
        try:
            events = ray.get(self._take)
        except ray.exceptions.RayError:  # the mailbox died with its node: progress is lost, not the job
            events = []
        self._take = None
        if done:
            self.outcome = self._outcome()
            self._kill_mailbox()
        return events

    def _outcome(self) -> Outcome:
        ended = outcome_of(self.ref)
        if ended.state == LOST:
            return Outcome(LOST, reason=f"its Ray node or worker process died ({one_line(ended.result)})")
        if ended.state != SUCCEEDED:
            return Outcome(FAILED, reason=f"the Ray task failed: {one_line(ended.result)}")
        payload, blob = ended.result
        if blob is not None:
            write_bytes_atomic(self.model_out, blob)
        return Outcome(**payload)

    def _kill_mailbox(self) -> None:
        try:
            self.ray.kill(self.mailbox)
        except Exception:  # already gone with its node
            pass

    def kill(self) -> None:
        self.ray.cancel(self.ref, force=True)
        self._kill_mailbox()
