"""What makes the FCN's CPU training step fast: its block layout, Winograd's convolutions and the allocator setting,
one at a time.

One training step (forward, cross-entropy, backward, fused Adam) of the FCN of bigdata18 (or MLSTM-FCN, ``--arch``)
on FordA's shape (1 × 500, or ``--in-channels``; batch 16), timed eight ways in one command: the blocks as plain
layers on (N, C, T) tensors (conv1d → BatchNorm → ReLU), channels-last (oneDNN's convolutions convert nothing,
BatchNorm and ReLU work on the (N·T, C) matrix; ``tshub.models.fcn.ConvBNReLU``), the wide float32 convolutions as
Winograd's and the first channels-last, so every output is channels-last (``tshub.models.winograd``; what tshub runs
on AVX2; in bf16 the same as plain), or so with the first convolution plain (the rule before
``tshub.models.cpu.computes_channels_last``) — tshub picks per CPU, ``tshub.models.cpu``, and this bench forces
each — each with glibc's default allocator and with freed memory kept mapped (``tshub.training.allocator``,
process-wide, hence a fresh process per setting). Layouts alternate within a process, so a change in the machine's
load hits both sides of a ratio; on a machine other processes share, ``--threads 1 --clock cpu`` times the process's
own CPU time, which their load barely moves (with more threads, CPU time would count threads spinning at barriers).
``--predict N`` times a forward pass of N series under inference mode instead (prediction, validation), where
Winograd's convolutions have no backward pass to gain in.

    python bench/fcn_step.py     # → bench/results/fcn_step.{md,json}
    python bench/fcn_step.py --threads 1 --clock cpu --results bench/results/fcn_step_zen3   # a shared machine
    python bench/fcn_step.py --threads 1 --clock cpu --dtypes float32 --arch mlstm_fcn --results …
    python bench/fcn_step.py --threads 1 --clock cpu --dtypes float32 --predict 256 --results …
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fcn_conv_layers import CLOCKS, median_ms  # bench/ is on the path of a script run from it
from train_speed import BATCH, LENGTH, cpu_name

from tshub.models import cpu
from tshub.models.registry import build_model
from tshub.training.allocator import OPT_OUT, keep_freed_memory

REPO = Path(__file__).resolve().parents[1]
LAYOUTS = ("plain", "channels-last", "winograd", "winograd-first-plain")
FEEDS_WINOGRAD = cpu.feeds_winograd


def use_layout(layout: str) -> None:
    """Run the blocks as plain layers, channels-last, as tshub does on AVX2 (the wide float32 convolutions as
    Winograd's and the first channels-last), or so with the first plain (tshub before that rule), whichever this CPU
    would choose (``tshub.models.cpu``)."""
    cpu.channels_last_pays = lambda device: layout == "channels-last"  # type: ignore[assignment]
    cpu.winograd_pays = lambda device: layout.startswith("winograd")  # type: ignore[assignment]
    cpu.feeds_winograd = (lambda conv: False) if layout == "winograd-first-plain" else FEEDS_WINOGRAD  # type: ignore[assignment]


def measure(
    rounds: int, dtypes: list[str], clock: Callable[[], float], arch: str, channels: int, predict: int | None
) -> dict:
    """Median ms per step of each layout and dtype, rounds alternating the layouts (this process's allocator); with
    ``predict``, per forward pass of that many series under inference mode instead."""
    kept = keep_freed_memory(torch.device("cpu"))  # as ``fit`` does; a no-op when the environment declines it
    torch.manual_seed(0)
    model = build_model(arch, channels, 2, input_length=LENGTH).train(predict is None)
    optimizer = torch.optim.Adam(model.parameters(), fused=True)
    x, y = torch.randn(predict or BATCH, channels, LENGTH), torch.randint(0, 2, (BATCH,))

    def step_ms(bf16: bool) -> float:
        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = model(x)
            F.cross_entropy(out.float(), y).backward()
            optimizer.step()

        def forward() -> None:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                model(x)

        return median_ms(step if predict is None else forward, repeats=10, clock=clock)

    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        for dtype in dtypes:
            for layout in LAYOUTS:
                use_layout(layout)
                times.setdefault(f"{layout}|{dtype}", []).append(step_ms(dtype == "bf16"))
    return {"kept": kept, "rounds": times, "median": {k: float(np.median(v)) for k, v in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--dtypes", default="bf16,float32", help="comma-separated; 'float32' alone where oneDNN emulates bf16"
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice, one per core)")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall", help="cpu: the process's CPU time")
    parser.add_argument("--arch", choices=("fcn", "mlstm_fcn"), default="fcn", help="the architecture stepped")
    parser.add_argument("--in-channels", type=int, default=1, help="channels of the input series")
    parser.add_argument("--predict", type=int, metavar="SERIES", help="time prediction of this many series instead")
    parser.add_argument("--results", type=Path, default=REPO / "bench/results/fcn_step")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    dtypes = [d for d in args.dtypes.split(",") if d]
    if not dtypes or set(dtypes) - {"float32", "bf16"}:
        parser.error(f"--dtypes {args.dtypes!r}: name float32, bf16 or both, comma-separated")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(measure(args.rounds, dtypes, CLOCKS[args.clock], args.arch, args.in_channels, args.predict)))
        return
    runs = {}
    for allocator, env in (("default", "0"), ("kept", "1")):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--rounds",
                str(args.rounds),
                "--dtypes",
                args.dtypes,
                "--clock",
                args.clock,
                "--arch",
                args.arch,
                "--in-channels",
                str(args.in_channels),
            ]
            + (["--threads", str(args.threads)] if args.threads else [])
            + (["--predict", str(args.predict)] if args.predict else []),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, OPT_OUT: env},
        )
        runs[allocator] = json.loads(done.stdout.strip().splitlines()[-1])
        print(allocator, json.dumps(runs[allocator]["median"]), flush=True)
    baseline = runs["default"]["median"]
    what = (
        f"batch {BATCH} × {args.in_channels} channels × length {LENGTH}, one training step (forward, loss, backward, "
        "fused Adam)"
        if args.predict is None
        else f"{args.predict} series × {args.in_channels} channels × length {LENGTH}, one forward pass under "
        "inference mode (prediction)"
    )
    lines = [
        f"# {args.arch} {'training step' if args.predict is None else 'prediction'} on the CPU: block layouts, "
        "Winograd's convolutions and kept memory, one at a time",
        "",
        f"`python bench/fcn_step.py {' '.join(sys.argv[1:])}` — {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"{args.arch}, {what}, "
        f"{'CPU time of the process' if args.clock == 'cpu' else 'wall time'}; median of 10 "
        f"steps per round, {args.rounds} rounds alternating the layouts, a fresh process per allocator setting. "
        f"Memory kept: {runs['kept']['kept']} (glibc).",
        "",
        "| blocks | allocator | " + " | ".join(f"{dtype} ms | × plain/default" for dtype in dtypes) + " |",
        "|---|---|" + "---:|---:|" * len(dtypes),
    ]
    for layout in LAYOUTS:
        for allocator, run in runs.items():
            m = run["median"]
            cells = [f"{m[f'{layout}|{d}']:.2f} | {baseline[f'plain|{d}'] / m[f'{layout}|{d}']:.2f}×" for d in dtypes]
            lines.append(f"| {layout} | {allocator} | " + " | ".join(cells) + " |")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".md").write_text("\n".join(lines) + "\n")
    meta = {
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "rounds": args.rounds,
        "clock": args.clock,
    }
    args.results.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
