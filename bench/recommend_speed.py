"""Benchmark: how long ``tshub.recommend`` takes on UCR targets of different sizes, and how closely the fast path
(``plan="fast"``: a bfloat16 screen + a float32 shortlist score on a stratified sample, feature cache) ranks like the full one
(``plan="full"``: every candidate on every training series in float32, what the recommender did before).

Per target, in one process and one run (so old and new meet the same machine load):

- ``full``: ``recommend(target, k=None, plan="full", cache=False)`` over the pool. On targets where that exceeds
  ``--full-steps`` series × length × candidates, the pool for *both* paths is a fixed random subset of
  ``--subset`` candidates (seeded by the target's name), so the full ranking stays affordable; the time of the
  full path over the whole zoo is then extrapolated linearly from it (marked "extrapolated").
- ``fast (cold)``: ``plan="fast"`` with an empty feature cache; ``fast (warm)``: the same call again (cache hits),
  each over the whole zoo and over the comparison pool.
- Agreement of fast with full over the comparison pool: Kendall's τ between the two rank orders, whether the
  first pick is the same, the full rank of fast's first pick, and the overlap of the top 5.

Wall time and the process's CPU time (all threads) are reported; the machine is shared with a training build, so
wall times are upper bounds of what an idle 2-core machine takes.

    PYTHONPATH=$PWD .venv/bin/python bench/recommend_speed.py            # default targets, ~45 min under load
    PYTHONPATH=$PWD .venv/bin/python bench/recommend_speed.py --targets Coffee --subset 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau

from tshub.data.catalogue import load
from tshub.data.splits import as_training_data
from tshub.recommender import candidate_pool, recommend, self_transfer

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = ("Coffee", "ECG200", "Car", "FordA", "HandOutlines")


def timed(fn: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def comparison_pool(name: str, pool: list[str], n_steps: int, args: argparse.Namespace) -> list[str]:
    if n_steps * len(pool) <= args.full_steps:
        return pool
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return sorted(rng.choice(pool, min(args.subset, len(pool)), replace=False).tolist())


def agreement(fast: list[str], full: list[str]) -> dict[str, Any]:
    position = {m: i for i, m in enumerate(full)}
    tau = kendalltau(range(len(fast)), [position[m] for m in fast]).statistic if len(fast) > 1 else float("nan")
    return {
        "kendall_tau": float(tau),
        "same_first": fast[0] == full[0],
        "full_rank_of_fast_pick": position[fast[0]] + 1,
        "top5_overlap": len(set(fast[:5]) & set(full[:5])),
    }


def bench_target(name: str, args: argparse.Namespace) -> dict[str, Any]:
    ds = as_training_data(load(name))
    n_train, length = len(ds.splits["train"]), ds.length
    zoo = [c for c in candidate_pool() if not c.unusable]
    own = self_transfer(zoo, ds)
    pool = [c.location for c in zoo if c not in own]
    compared = comparison_pool(name, pool, n_train * length, args)
    row: dict[str, Any] = {
        "target": name,
        "n_train": n_train,
        "length": length,
        "zoo": len(pool),
        "compared": len(compared),
    }
    with tempfile.TemporaryDirectory() as home:
        os.environ["TSHUB_HOME"] = home  # an empty feature cache
        for label, cands in (("zoo", pool), ("compared", compared)):
            if label == "compared" and cands is pool:
                row["fast_compared"] = row["fast_zoo"]
                break
            cold, wall, cpu = timed(
                lambda cands=cands: recommend(ds, k=None, candidates=cands, allow_self_transfer=True)
            )
            _, wall_warm, cpu_warm = timed(
                lambda cands=cands: recommend(ds, k=None, candidates=cands, allow_self_transfer=True)
            )
            row[f"fast_{label}"] = {
                "wall_s": wall,
                "cpu_s": cpu,
                "warm_wall_s": wall_warm,
                "warm_cpu_s": cpu_warm,
                "ids": cold.ids,
                "note": cold.note,
            }
        full, wall, cpu = timed(
            lambda: recommend(ds, k=None, candidates=compared, plan="full", cache=False, allow_self_transfer=True)
        )
    scale = len(pool) / len(compared)
    row["full"] = {
        "wall_s": wall,
        "cpu_s": cpu,
        "zoo_wall_s": wall * scale,
        "zoo_cpu_s": cpu * scale,
        "extrapolated": scale != 1,
        "ids": full.ids,
    }
    row["agreement"] = agreement(row["fast_compared"]["ids"], full.ids)
    print(
        json.dumps({k: v for k, v in row.items() if k not in ("full",)} | {"full_wall": wall}, default=str)[:600],
        flush=True,
    )
    return row


def write_markdown(rows: list[dict[str, Any]], path: Path, command: str) -> None:
    lines = [
        "# Recommender speed: fast path vs the full computation",
        "",
        f"`{command}` on {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads. The machine was shared with a running zoo build and other jobs "
        "(load average 3-9 on 2 cores), so wall times are upper bounds; CPU time counts every thread of this process.",
        'Old = `plan="full"` (every candidate, every training series, float32, no cache; it shares this '
        "change's one-thread BLAS and torch settings, so it is faster than the code before the change), new = the "
        "default "
        '`plan="fast"` (every candidate screened on ≤ 2^13 series×steps, ≥ 16 series, windows of ≤ 512 steps; '
        "the best 10 re-scored on ≤ 2^15 series×steps, ≥ 32 series; stratified seeded samples; the screen in bfloat16, the final score in float32), "
        "cold = empty feature cache, warm = the same call again. Method: logme.",
        "",
        "| target | train × length | zoo | old wall s (cpu s) | new cold wall s (cpu s) | new warm wall s | "
        "compared on | Kendall τ | same 1st pick | full rank of fast pick | top-5 overlap |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        full, fast, a = r["full"], r["fast_zoo"], r["agreement"]
        mark = " (extrapolated)" if full["extrapolated"] else ""
        lines.append(
            f"| {r['target']} | {r['n_train']} × {r['length']} | {r['zoo']} | {full['zoo_wall_s']:.0f} "
            f"({full['zoo_cpu_s']:.0f}){mark} | {fast['wall_s']:.1f} ({fast['cpu_s']:.1f}) | {fast['warm_wall_s']:.1f} | "
            f"{r['compared']} candidates | {a['kendall_tau']:.2f} | {'yes' if a['same_first'] else 'no'} | "
            f"{a['full_rank_of_fast_pick']} | {a['top5_overlap']}/{min(5, r['compared'])} |"
        )
    lines += [
        "",
        "Where 'compared on' is smaller than the zoo, the full ranking was affordable only on that fixed "
        "random subset (seeded by the target's name); the fast path then ranks the same subset (with ≤ 10 "
        "candidates it skips the screen, so the agreement measures the sample only), and the old "
        "time over the zoo is the subset's time scaled by zoo/subset.",
    ]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=list(TARGETS))
    parser.add_argument("--subset", type=int, default=8)
    parser.add_argument(
        "--full-steps",
        type=float,
        default=1.5e7,
        help="series×length×candidates the full ranking may cost before a subset is used",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "recommend_speed")
    args = parser.parse_args()
    done = json.loads(args.out.with_suffix(".json").read_text()) if args.out.with_suffix(".json").is_file() else []
    rows = [r for r in done if r["target"] in args.targets]
    for name in args.targets:
        if any(r["target"] == name for r in rows):
            continue  # resumable: a target measured before is kept
        rows.append(bench_target(name, args))
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
        write_markdown(
            rows,
            args.out.with_suffix(".md"),
            f"PYTHONPATH=$PWD .venv/bin/python bench/recommend_speed.py --subset {args.subset}",
        )


if __name__ == "__main__":
    main()
