"""Benchmark: CPU time of a cold ``tshub.recommend(target)`` over the whole zoo, with the code before and after the
loading changes of issue 14 (meta-device loads, no second network per candidate, no fsync per cache entry, one
BLAS controller), in one process, alternating, so that both meet the same machine load.

"Old" runs the five modules the change touched as they were at ``--old-rev`` (read with ``git show`` and executed
as private modules; everything else is shared): ``tshub/hub/checkpoint.py`` (load_checkpoint),
``tshub/training/transfer.py``, ``tshub/recommender/transferability.py`` (adapted_model, score_features),
``tshub/recommender/cache.py`` and ``tshub/atomic.py``. Each ranking is cold: a fresh ``TSHUB_HOME``, so an empty
feature cache. Both paths are warmed up first (the old one imported ``torch._dynamo`` on its first call, ~1.7 s, not
counted here). Old and new must give the same ranking with the same scores, bit for bit; the bench stops otherwise.
It also loads every zoo checkpoint with both loaders, checks that the models are bit-identical and times them.

    PYTHONPATH=$PWD .venv/bin/python bench/recommend_cold_cpu.py                      # ~6 min on a busy 2-core machine
    PYTHONPATH=$PWD .venv/bin/python bench/recommend_cold_cpu.py --targets ECG200 --repeats 1
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import torch

from tshub.data.catalogue import load
from tshub.data.splits import as_training_data
from tshub.hub.checkpoint import load_checkpoint
from tshub.recommender import candidate_pool, recommend

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TARGETS = ("ECG200", "Car", "FordA")  # small, long series, many series
OLD_REV = "0e576b2"  # the commit before the change
WARM_UP = "ItalyPowerDemand"


def old_module(rev: str, path: str, **overrides: Any) -> types.ModuleType:
    """The module at ``path`` as it was at ``rev``, executed as a private module, ``overrides`` replacing globals
    (the old versions of the other modules it calls)."""
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True)
    name = f"_old_{rev}_{path.replace('/', '_').removesuffix('.py')}"
    module = types.ModuleType(name)
    module.__file__ = f"{rev}:{path}"
    sys.modules[name] = module  # dataclasses look their module up
    exec(compile(source.stdout, module.__file__, "exec"), module.__dict__)
    module.__dict__.update(overrides)
    return module


class OldCode:
    """The touched modules at ``rev``, and a context in which a ranking runs them."""

    def __init__(self, rev: str):
        atomic = old_module(rev, "tshub/atomic.py")
        transfer = old_module(rev, "tshub/training/transfer.py")
        self.cache = old_module(rev, "tshub/recommender/cache.py", atomic_write=atomic.atomic_write)
        self.transferability = old_module(
            rev,
            "tshub/recommender/transferability.py",
            transfer_weights=transfer.transfer_weights,
            TransferReport=transfer.TransferReport,
        )
        self.checkpoint = old_module(rev, "tshub/hub/checkpoint.py")

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        methods = importlib.import_module("tshub.recommender.feature_methods")  # tshub.recommend is also a function
        candidates = importlib.import_module("tshub.recommender.candidates")
        with (
            mock.patch.object(candidates, "load_checkpoint", self.checkpoint.load_checkpoint),
            mock.patch.object(methods, "target_features", self.transferability.target_features),
            mock.patch.object(methods, "score_features", self.transferability.score_features),
            mock.patch.object(methods, "transfer_summary", self.transferability.transfer_summary),
            mock.patch.object(methods, "FeatureCache", self.cache.FeatureCache),
        ):
            yield


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def cold_ranking(target: Any) -> tuple[list[tuple[str, float]], float, float]:
    """A ranking of the whole zoo with an empty feature cache: (ids and scores, wall s, CPU s)."""
    with tempfile.TemporaryDirectory() as home, mock.patch.dict(os.environ, {"TSHUB_HOME": home}):
        rec, wall, cpu = timed(lambda: recommend(target, k=None))
    return [(r.id, r.score) for r in rec.ranking], wall, cpu


def bench_target(name: str, old: OldCode, repeats: int) -> dict[str, Any]:
    target = as_training_data(load(name))
    runs: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
    rankings = {}
    for _ in range(repeats):
        for path in ("old", "new"):
            with old.active() if path == "old" else contextlib.nullcontext():
                ranking, wall, cpu = cold_ranking(target)
            runs[path].append((wall, cpu))
            rankings[path] = ranking
    old_ids = {i for i, _ in rankings["old"]}
    if rankings["old"] != [(i, s) for i, s in rankings["new"] if i in old_ids]:
        raise SystemExit(f"{name}: the rankings differ:\nold {rankings['old']}\nnew {rankings['new']}")
    row = {
        "target": name,
        "n_train": len(target.splits["train"]),
        "length": target.length,
        "candidates": len(rankings["new"]),
        "runs": runs,
        "first_pick": rankings["new"][0],
        "only_new": [(i, s, rank) for rank, (i, s) in enumerate(rankings["new"], 1) if i not in old_ids],
    }
    for path in ("old", "new"):
        row[f"{path}_cpu_s"] = statistics.median(cpu for _, cpu in runs[path])
        row[f"{path}_min_cpu_s"] = min(cpu for _, cpu in runs[path])
        row[f"{path}_wall_s"] = statistics.median(wall for wall, _ in runs[path])
    print(json.dumps({k: v for k, v in row.items() if k != "runs"}), flush=True)
    return row


def bench_loads(old: OldCode, repeats: int) -> dict[str, Any]:
    """Every zoo checkpoint loaded by both loaders: bit-identical models, and the CPU time of all the loads."""
    folders = [c.location for c in candidate_pool() if not c.hub_only]
    for folder in folders:
        ours, theirs = load_checkpoint(folder).state_dict(), old.checkpoint.load_checkpoint(folder).state_dict()
        if list(ours) != list(theirs) or not all(
            v.dtype == theirs[k].dtype and torch.equal(v, theirs[k]) for k, v in ours.items()
        ):
            raise SystemExit(f"{folder}: the new loader gives another model")
    cpu: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(repeats):
        for path, loader in (("old", old.checkpoint.load_checkpoint), ("new", load_checkpoint)):
            cpu[path].append(timed(lambda loader=loader: [loader(f) for f in folders])[2])
    row = {
        "n_loads": len(folders),
        "cpu": cpu,
        **{f"{p}_cpu_s": statistics.median(v) for p, v in cpu.items()},
        **{f"{p}_min_cpu_s": min(v) for p, v in cpu.items()},
    }
    print(json.dumps(row), flush=True)
    return row


def first_call(path: str, name: str, rev: str) -> dict[str, float]:
    """The first cold ranking of a fresh process (lazy imports included, tshub's own imports not), run in one."""
    command = [sys.executable, __file__, "--first-call", path, "--targets", name, "--old-rev", rev]
    out = subprocess.run(
        command, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    return json.loads(out.stdout.splitlines()[-1])


def write_markdown(result: dict[str, Any], path: Path, command: str) -> None:
    loads = result["loads"]
    only_new = ", ".join(sorted({i for r in result["targets"] for i, _, _ in r["only_new"]}))
    refused = f" ({only_new}: a length-bound checkpoint the old code refused for its input length)" if only_new else ""
    lines = [
        "# Cold recommendation CPU time: loading before and after issue 14's fast loading",
        "",
        f"`{command}` on {platform.machine()}, torch {torch.__version__}; "
        f"old = the touched modules at {result['old_rev']}, new = this tree, in one process, alternating, "
        f"{result['repeats']} runs each. Each ranking is `tshub.recommend(target, k=None)` over the whole "
        "zoo with an empty feature cache (fresh TSHUB_HOME on the local disk), method logme, the default fast plan "
        "(one torch thread), after a warm-up of both paths. The machine was shared with a zoo build and other jobs "
        f"(load average {result['load_average']}), which makes even CPU times vary from run to run: "
        "the table gives the median and the least of the runs (each run is in the JSON). Old and new gave the same ranking with the same "
        "scores, bit for bit, except for the candidates only the new code ranks"
        f"{refused}.",
        "",
        "| target | train × length | candidates | old CPU s median (least) | new CPU s median (least) | "
        "new / old (medians) | old wall s | new wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["targets"]:
        lines.append(
            f"| {r['target']} | {r['n_train']} × {r['length']} | {r['candidates']} | {r['old_cpu_s']:.1f} "
            f"({r['old_min_cpu_s']:.1f}) | {r['new_cpu_s']:.1f} ({r['new_min_cpu_s']:.1f}) | "
            f"{r['new_cpu_s'] / r['old_cpu_s']:.2f} | {r['old_wall_s']:.1f} | {r['new_wall_s']:.1f} |"
        )
    first = result["first_call"]
    cpu = {path: ", ".join(f"{run['cpu_s']:.1f}" for run in first[path]) for path in ("old", "new")}
    lines += [
        "",
        f"The first ranking of a fresh process ({first['target']}, the library imported, the rest of the lazy "
        "imports included; the old code imported torch._dynamo there), CPU s per run: old "
        f"{cpu['old']}, new {cpu['new']}.",
        "The ranking runs on one thread: the old path's wall time above its CPU time is I/O wait, its cache's "
        "fsync per candidate.",
        f"Loading alone: {loads['n_loads']} zoo checkpoints, old {loads['old_cpu_s']:.2f} s CPU "
        f"(least {loads['old_min_cpu_s']:.2f}), new {loads['new_cpu_s']:.2f} s ({loads['new_min_cpu_s']:.2f}), "
        f"new / old {loads['new_cpu_s'] / loads['old_cpu_s']:.2f}; every model bit-identical (parameters, buffers, "
        "dtypes).",
    ]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=list(TARGETS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--old-rev", default=OLD_REV)
    parser.add_argument("--out", type=Path, default=RESULTS / "recommend_cold_cpu")
    parser.add_argument("--first-call", choices=["old", "new"], help=argparse.SUPPRESS)  # see first_call()
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    old = OldCode(args.old_rev)
    if args.first_call:
        target = as_training_data(load(args.targets[0]))
        with old.active() if args.first_call == "old" else contextlib.nullcontext():
            _, wall, cpu = cold_ranking(target)
        print(json.dumps({"cpu_s": cpu, "wall_s": wall}))
        return
    first: dict[str, Any] = {"target": args.targets[0], "old": [], "new": []}
    for _ in range(2):
        for path in ("old", "new"):
            first[path].append(first_call(path, args.targets[0], args.old_rev))
    warm = as_training_data(load(WARM_UP))
    for path in ("old", "new"):
        with old.active() if path == "old" else contextlib.nullcontext():
            cold_ranking(warm)
    load_before = os.getloadavg()[1]
    result = {
        "old_rev": args.old_rev,
        "repeats": args.repeats,
        "loads": bench_loads(old, args.repeats),
        "targets": [bench_target(name, old, args.repeats) for name in args.targets],
        "first_call": first,
    }
    result["load_average"] = f"{load_before:.1f} before, {os.getloadavg()[1]:.1f} after (5-minute)"
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    command = "PYTHONPATH=$PWD .venv/bin/python bench/recommend_cold_cpu.py " + " ".join(sys.argv[1:])
    write_markdown(result, args.out.with_suffix(".md"), command.strip())


if __name__ == "__main__":
    main()
