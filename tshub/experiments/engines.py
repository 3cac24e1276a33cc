"""Where runs execute: in this process one after the other ("local"), or as Ray tasks on a cluster ("ray").

An engine takes jobs ``(spec, dataset)`` and a worker function ``work(spec, dataset, out_dir) -> record`` and
yields ``(spec, record, error)`` as runs finish; a failed run yields its exception and the others go on. The
worker writes its own record, so whatever finished survives an interrupted grid. With Ray on several machines,
``out_dir`` and the source checkpoint folders must be on a file system every node sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tshub.data.dataset import Dataset
from tshub.experiments.grid import RunSpec

Job = tuple[RunSpec, Dataset]
Outcome = tuple[RunSpec, dict[str, Any] | None, Exception | None]
Worker = Callable[[RunSpec, Dataset, str], dict[str, Any]]


def local_engine(jobs: Sequence[Job], work: Worker, out_dir: Path) -> Iterator[Outcome]:
    """Run every job in this process, in order (training uses CUDA when this process sees it)."""
    for spec, dataset in jobs:
        try:
            yield spec, work(spec, dataset, str(out_dir)), None
        except Exception as err:  # one failed run must not lose the others; the caller reports it
            yield spec, None, err


def ray_engine(jobs: Sequence[Job], work: Worker, out_dir: Path) -> Iterator[Outcome]:
    """One Ray task per run: one GPU each when the cluster has GPUs, else one CPU each.

    Connects to the cluster of ``$RAY_ADDRESS`` (or an already initialised one), else starts a local Ray and shuts
    it down afterwards. Each dataset goes into the object store once, whatever the number of runs using it.
    """
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        resources = {"num_gpus": 1} if ray.cluster_resources().get("GPU", 0) > 0 else {"num_cpus": 1}
        task = ray.remote(work).options(**resources, max_retries=0)
        stored: dict[int, Any] = {}
        pending = {}
        for spec, dataset in jobs:
            if id(dataset) not in stored:
                stored[id(dataset)] = ray.put(dataset)
            pending[task.remote(spec, stored[id(dataset)], str(out_dir))] = spec
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(done[0])
            try:
                yield spec, ray.get(done[0]), None
            except Exception as err:  # ray.exceptions.RayTaskError wraps the worker's exception
                yield spec, None, getattr(err, "cause", None) or err
    finally:
        if started:
            ray.shutdown()


ENGINES: dict[str, Callable[[Sequence[Job], Worker, Path], Iterator[Outcome]]] = {
    "local": local_engine, "ray": ray_engine,
}


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise ImportError("engine='ray' needs Ray: pip install 'tshub[ray]' (or run with engine='local').") from err
    return ray
