"""How many torch threads a training should use: one per core against one, on an idle CPU and with a core busy.

torch's default is one intra-op thread per core. That is right on an idle machine, but every parallel region ends
at a barrier that waits for the slowest thread, so when another process holds one of the cores (a second training,
the service's other job, a user's other work), the thread that shares it stalls every step of the others. This
measures it, in one command: ``fit`` epochs (tshub's loop, tshub's precision rule: bf16 where the CPU computes it
natively) of the FCN on two shapes, a FordA-like set (256 × 1 × 500, batch 16) and a small one (32 × 1 × 128,
batch 8, what the recipes give a 40-series dataset), with 1 thread and with one per core, on the machine as it is
("idle") and with one core kept busy by a process this bench starts (a Python loop at the same priority:
``--busy-nice`` sets its niceness). Rounds alternate every setting, so a change in the machine's load hits all
of them; each figure is the median over rounds of the mean epoch (wall clock) after a warm-up epoch.

    python bench/train_threads.py --rounds 3     # → bench/results/train_threads.{md,json}
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import train_speed  # bench/ is on the path of a script run from it

from tshub.models import build_model
from tshub.training.precision import native_bf16

REPO = Path(__file__).resolve().parents[1]
#: name → (series, length, batch)
SHAPES = {"FordA-like 256 × 500, batch 16": (256, 500, 16), "small 32 × 128, batch 8": (32, 128, 8)}
BUSY_LOOP = "while True: pass"
LOADS = ("idle", "one core busy")


def epoch_seconds(n: int, length: int, batch: int, epochs: int, bf16: bool) -> float:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 1, length)).astype(np.float32)
    torch.manual_seed(0)
    return train_speed.epoch_seconds(
        build_model("fcn", 1, 2), X, rng.integers(0, 2, n), None, batch, bf16, epochs, "classification"
    )


def busy_core(nice: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", BUSY_LOOP], preexec_fn=lambda: os.nice(nice))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed per setting, after a warm-up epoch")
    parser.add_argument("--busy-nice", type=int, default=0, help="niceness of the process that keeps a core busy")
    parser.add_argument("--results", type=Path, default=REPO / "bench/results/train_threads")
    args = parser.parse_args()

    cores = torch.get_num_threads()
    if cores < 2:
        parser.error("one thread per core is one thread here: run it on a machine with several cores")
    bf16 = native_bf16(torch.device("cpu"))
    settings = [(shape, threads, load) for shape in SHAPES for load in LOADS for threads in (1, cores)]
    times: dict[str, list[float]] = {}
    for index in range(args.rounds):
        for shape, threads, load in settings:
            busy = busy_core(args.busy_nice) if load != LOADS[0] else None
            try:
                time.sleep(0.5 if busy else 0)  # the loop running before the first step
                torch.set_num_threads(threads)
                seconds = epoch_seconds(*SHAPES[shape], args.epochs, bf16)
            finally:
                if busy:
                    busy.kill()
                    busy.wait()
            times.setdefault(f"{shape}|{threads}|{load}", []).append(seconds)
        print(json.dumps({"round": index, **{k: v[-1] for k, v in times.items()}}), flush=True)
    torch.set_num_threads(cores)

    rows = []
    for shape in SHAPES:
        for load in LOADS:
            one = float(np.median(times[f"{shape}|1|{load}"]))
            every = float(np.median(times[f"{shape}|{cores}|{load}"]))
            rows.append(
                {"shape": shape, "load": load, "one_thread_s": one, "per_core_s": every, "speedup": one / every}
            )
    meta = {
        "cpu": train_speed.cpu_name(),
        "cores": cores,
        "torch": torch.__version__,
        "bf16": bf16,
        "rounds": args.rounds,
        "epochs": args.epochs,
        "busy_nice": args.busy_nice,
        "rounds_s": times,
    }
    lines = [
        "# Training threads: one per core against one, idle and with a core busy",
        "",
        f"`python bench/train_threads.py --rounds {args.rounds}` — {meta['cpu']}, {cores} cores, torch "
        f"{meta['torch']}, {'bf16' if bf16 else 'float32'} (tshub's rule); FCN `fit` epochs, wall clock, median over "
        f"{args.rounds} rounds of the mean of {args.epochs} epochs; busy core: a Python loop at nice "
        f"{args.busy_nice}.",
        "",
        f"| shape | load | 1 thread s / epoch | {cores} threads s / epoch | {cores} threads' speed-up |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['shape']} | {r['load']} | {r['one_thread_s']:.3f} | {r['per_core_s']:.3f} | {r['speedup']:.2f}× |"
        for r in rows
    ]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".md").write_text("\n".join(lines) + "\n")
    args.results.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
