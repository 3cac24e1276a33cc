"""Benchmark: a ranking's screen in bfloat16 against float32, where oneDNN computes bfloat16 natively and where it
emulates it, on one machine: oneDNN capped by ``ONEDNN_MAX_CPU_ISA`` stands in for a CPU without the instructions
(AVX2: no AVX512-bf16, no AMX; AVX512_CORE_BF16: AVX512-bf16 without AMX). Why ``ScoringPlan.screen_bf16``
defaults to the device's native precision (``tshub.training.precision``).

Each ranking is ``tshub.recommend(target, k=3)`` over the whole zoo, method logme, the fast plan (one torch thread),
no feature cache, in a fresh process (oneDNN reads its cap once); CPU and wall seconds, and the first three picks.

    PYTHONPATH=$PWD .venv/bin/python bench/recommend_screen_precision.py           # ~6 min on an idle 2-core machine
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from train_speed import cpu_name  # noqa: E402  (bench/ is on the path of a script run from it)

CHILD = """
import dataclasses, json, os, sys, tempfile, time
os.environ["TSHUB_HOME"] = tempfile.mkdtemp()
import tshub
from tshub.recommender import FAST
target = tshub.datasets.load(sys.argv[1])
plan = dataclasses.replace(FAST, screen_bf16=sys.argv[2] == "bf16")
cpu, wall = time.process_time(), time.perf_counter()
ranking = tshub.recommend(target, k=3, plan=plan, cache=False)
print(json.dumps({"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall, "picks": ranking.ids}))
"""


def run(target: str, cap: str | None, screen: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")}
    env.update({"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **({"ONEDNN_MAX_CPU_ISA": cap} if cap else {})})
    done = subprocess.run([sys.executable, "-c", CHILD, target, screen], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{target} {cap} {screen} failed:\n{done.stderr[-3000:]}")
    return {"target": target, "cap": cap or "none", "screen": screen, **json.loads(done.stdout.splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", nargs="+", default=["ECG200", "Car", "HandOutlines"])
    parser.add_argument("--caps", nargs="+", default=["none", "AVX512_CORE_BF16", "AVX2"])
    parser.add_argument("--results", type=Path, default=REPO / "bench/results/recommend_screen_precision")
    args = parser.parse_args()
    rows = []
    for target in args.targets:
        for cap in args.caps:
            for screen in ("float32", "bf16"):
                rows.append(run(target, None if cap == "none" else cap, screen))
                print(json.dumps(rows[-1]), flush=True)
    lines = [
        "# A ranking's screen in bfloat16 vs float32, with oneDNN's instructions capped",
        "",
        f"`python bench/recommend_screen_precision.py` — {cpu_name()}; `tshub.recommend(target, k=3)`, whole zoo, "
        "logme, fast plan, one thread, no feature cache, a fresh process each. Cap: `ONEDNN_MAX_CPU_ISA` "
        "(none: all the CPU has).",
        "",
        "| target | oneDNN cap | screen | CPU s | wall s | first three picks |",
        "|---|---|---|---:|---:|---|",
    ]
    lines += [
        f"| {r['target']} | {r['cap']} | {r['screen']} | {r['cpu_s']:.1f} | {r['wall_s']:.1f} | {', '.join(r['picks'])} |"
        for r in rows
    ]
    args.results.with_suffix(".md").write_text("\n".join(lines) + "\n")
    args.results.with_suffix(".json").write_text(json.dumps({"cpu": cpu_name(), "rows": rows}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
