"""Work on a Ray cluster, shared by the experiment grid and the fine-tune service: connecting, one task per unit
of work (one GPU each when the cluster has GPUs, else one CPU), and one ``Outcome`` for how a unit ended.

A unit whose node or process died is ``lost``, not ``failed``: the work itself did nothing wrong, so both callers
run it again elsewhere (a bounded number of times).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

SUCCEEDED, FAILED, CANCELLED, LOST = "succeeded", "failed", "cancelled", "lost"


@dataclass(frozen=True)
class Outcome:
    """How a unit of work ended: ``state`` is succeeded, failed, cancelled or lost (its node or process died);
    ``result`` is what the work returned, ``reason`` a one-line why for the others."""

    state: str
    reason: str | None = None
    result: Any = None


def import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise ImportError("the Ray engine needs Ray: pip install 'tshub[ray]' (or use the local engine).") from err
    return ray


def connect(address: str | None = None, **init: Any) -> bool:
    """Join the Ray cluster at ``address`` (else ``$RAY_ADDRESS``; neither: start a local one); True when this
    call started Ray (then the caller shuts it down). Already connected: nothing changes.

    "local" where neither is given: left to itself, Ray joins the cluster its address file names (written by any
    ``ray start`` on this machine, left behind when that head is killed), and fails to reach a dead one."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    local = {"include_dashboard": False} if address == "local" else {}
    ray.init(address=address, log_to_driver=False, logging_level="ERROR", **local, **init)
    return True


def task_resources() -> dict[str, int]:
    """One GPU per task when the cluster has GPUs, else one CPU."""
    ray = import_ray()
    return {"num_gpus": 1} if ray.cluster_resources().get("GPU", 0) > 0 else {"num_cpus": 1}


def lost(err: BaseException) -> bool:
    """True when ``err`` says the task's node, process or owner died rather than that the work failed."""
    ray = import_ray()
    kinds = tuple(
        getattr(ray.exceptions, name)
        for name in (
            "NodeDiedError",
            "WorkerCrashedError",
            "ActorDiedError",
            "ActorUnavailableError",
            "ObjectLostError",
            "OwnerDiedError",
            "ObjectReconstructionFailedError",
            "LocalRayletDiedError",
            "RaySystemError",
        )
        if hasattr(ray.exceptions, name)
    )
    return isinstance(err, kinds)


def outcome_of(ref: Any) -> Outcome:
    """The outcome of a finished task: its return value, the work's own exception (failed; ``result`` holds the
    exception), or lost when the cluster lost it."""
    ray = import_ray()
    try:
        return Outcome(SUCCEEDED, result=ray.get(ref))
    except ray.exceptions.RayTaskError as err:  # the work raised: its exception, not Ray's wrapper
        cause = getattr(err, "cause", None) or err
        return Outcome(FAILED, reason=f"{type(cause).__name__}: {cause}", result=cause)
    except ray.exceptions.RayError as err:
        return Outcome(LOST if lost(err) else FAILED, reason=f"{type(err).__name__}: {err}", result=err)
