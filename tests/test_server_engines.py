"""The local engine's job processes share the machine's cores instead of each taking all of them.

torch gives every process one thread per core; two jobs at once on one machine then put two threads on every core,
and each step of each job waits at its barriers for a thread the other job holds off its core (one thread per core
ran at 0.59× one thread's speed with a core busy: bench/results/train_threads.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch

from server import engines


class Events:
    """What a job process writes to its worker, kept."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def put(self, item: Any) -> None:
        self.items.append(item)

    def close(self) -> None:
        pass

    def join_thread(self) -> None:
        pass


@pytest.mark.parametrize("jobs_at_once", [1, 2, 64])
def test_a_job_process_trains_with_its_share_of_the_cores(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, jobs_at_once: int
) -> None:
    cores = torch.get_num_threads()
    seen = []

    def execute(spec: dict, dataset: Path, report: Any, state_dir: Path | None) -> tuple[None, Any]:
        seen.append(torch.get_num_threads())
        return None, engines.Outcome(engines.SUCCEEDED, result={})

    monkeypatch.setattr(engines, "execute", execute)
    monkeypatch.setattr(engines, "_exit_with", lambda worker_pid: None)  # no watcher thread left behind
    try:
        events = Events()
        engines._local_child(
            {}, str(tmp_path / "d.npz"), str(tmp_path / "m.zip"), events, os.getpid(), None, jobs_at_once
        )
    finally:
        torch.set_num_threads(cores)
    assert seen == [max(1, cores // jobs_at_once)]
    assert events.items[-1][0] == "outcome"


def test_the_local_engine_gives_its_jobs_the_workers_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """TSHUB_WORKERS jobs at once: each job process is told so."""
    started = []

    class Process:
        def __init__(self, target: Any, args: tuple, name: str, daemon: bool) -> None:
            started.append(args)

        def start(self) -> None:
            pass

    settings = engines.Settings.from_env()
    engine = engines.make_engine(type(settings)(**{**settings.__dict__, "engine": "local", "workers": 3}))
    monkeypatch.setattr(engine.ctx, "Process", Process)
    engine.submit("job", {}, Path("d.npz"), Path("m.zip"))
    assert started[0][-1] == 3
