"""Where runs execute: in this process one after the other ("local"), or as Ray tasks on a cluster ("ray").

An engine takes jobs ``(spec, dataset)`` and a worker function ``work(spec, dataset, out_dir) -> record`` and
yields ``(spec, Outcome)`` as runs finish (``tshub.cluster.Outcome``: the record as ``result``, or the exception
of a failed run); a failed run does not stop the others. The worker writes its own record, so whatever finished
survives an interrupted grid. With Ray on several machines, ``out_dir`` and the source checkpoint folders must
be on a file system every node sees. On a CPU a local run trains with torch's threads and a Ray task with one
(Ray's ``OMP_NUM_THREADS=1``): same seeds, not bit-identical records (``OMP_NUM_THREADS=1`` locally makes them so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tshub.cluster import FAILED, LOST, SUCCEEDED, Outcome, connect, import_ray, outcome_of, task_resources
from tshub.data.dataset import Dataset
from tshub.experiments.grid import RunSpec

Job = tuple[RunSpec, Dataset]
Worker = Callable[[RunSpec, Dataset, str], dict[str, Any]]
#: How often a run whose Ray node or process died is started again before it counts as failed.
MAX_ATTEMPTS = 3


def local_engine(
    jobs: Sequence[Job], work: Worker, out_dir: Path, address: str | None = None
) -> Iterator[tuple[RunSpec, Outcome]]:
    """Run every job in this process, in order (training uses CUDA when this process sees it)."""
    for spec, dataset in jobs:
        try:
            yield spec, Outcome(SUCCEEDED, result=work(spec, dataset, str(out_dir)))
        except Exception as err:  # one failed run must not lose the others; the caller reports it
            yield spec, Outcome(FAILED, reason=f"{type(err).__name__}: {err}", result=err)


def ray_engine(
    jobs: Sequence[Job], work: Worker, out_dir: Path, address: str | None = None
) -> Iterator[tuple[RunSpec, Outcome]]:
    """One Ray task per run on the cluster at ``address`` (else ``$RAY_ADDRESS``, an already initialised one, or a
    local Ray started and shut down here); a run lost with its node is started again, up to ``MAX_ATTEMPTS``.
    Each dataset goes into the object store once, whatever the number of runs using it. A relative ``out_dir`` is
    made absolute here: a task runs in its node's working directory, not in this process's. With no jobs (a finished
    grid resumed) nothing connects: Ray's start takes seconds; its absence is still said. Interrupted, it cancels
    the tasks still pending (their runs resume from their saved state), so none writes after the grid let go of
    its folder."""
    import_ray()
    if not jobs:
        return
    started = connect(address)
    ray = import_ray()
    where = str(Path(out_dir).absolute())
    pending: dict[Any, tuple[RunSpec, Any, int]] = {}
    try:
        task = ray.remote(work).options(**task_resources(), max_retries=0)
        stored: dict[int, Any] = {}

        def submit(spec: RunSpec, data: Any, attempt: int) -> None:
            pending[task.remote(spec, data, where)] = (spec, data, attempt)

        for spec, dataset in jobs:
            if id(dataset) not in stored:
                stored[id(dataset)] = ray.put(dataset)
            submit(spec, stored[id(dataset)], 1)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            spec, data, attempt = pending.pop(done[0])
            outcome = outcome_of(done[0])
            if outcome.state == LOST and attempt < MAX_ATTEMPTS:
                submit(spec, data, attempt + 1)
                continue
            yield spec, outcome
    finally:  # interrupted (Ctrl-C, an exception, the caller gone): no task goes on writing in the folder it leaves
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


ENGINES: dict[str, Callable[..., Iterator[tuple[RunSpec, Outcome]]]] = {"local": local_engine, "ray": ray_engine}
