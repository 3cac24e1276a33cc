"""What makes the FCN's CPU training step fast: its channels-last blocks and the allocator setting, one at a time.

One training step (forward, cross-entropy, backward, fused Adam) of the FCN of bigdata18 on FordA's shape (1 × 500,
batch 16), timed four ways in one command: the blocks as plain layers on (N, C, T) tensors (conv1d → BatchNorm →
ReLU, what tshub ran before) or as tshub runs them (channels-last: oneDNN's convolutions convert nothing, BatchNorm
and ReLU work on the (N·T, C) matrix; ``tshub.models.fcn.ConvBNReLU``), each with glibc's default allocator and
with freed memory kept mapped (``tshub.training.allocator``, process-wide, hence a fresh process per setting).
Layouts alternate within a process, so a change in the machine's load hits both sides of a ratio.

    python bench/fcn_step.py     # → bench/results/fcn_step.{md,json}
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fcn_conv_layers import median_ms  # bench/ is on the path of a script run from it
from train_speed import BATCH, LENGTH, cpu_name

from tshub.models import fcn
from tshub.models.base import SameConv1d
from tshub.models.registry import build_model
from tshub.training.allocator import OPT_OUT, keep_freed_memory

REPO = Path(__file__).resolve().parents[1]
LAYOUTS = ("plain", "channels-last")
MATRIX = fcn.on_channels_last_matrix  # the blocks' own, restored after a plain round


def use_layout(model: torch.nn.Module, layout: str) -> None:
    """Run ``model``'s blocks as plain layers or channels-last (the same parameters either way)."""
    channels_last = layout == "channels-last"
    for module in model.modules():
        if isinstance(module, SameConv1d):
            module.channels_last = channels_last
    fcn.on_channels_last_matrix = MATRIX if channels_last else (lambda layer, x: layer(x))  # type: ignore[assignment]


def measure(rounds: int) -> dict:
    """Median ms per step of each layout and dtype, rounds alternating the layouts (this process's allocator)."""
    kept = keep_freed_memory()  # as ``fit`` does; a no-op when the environment declines it
    torch.manual_seed(0)
    model = build_model("fcn", 1, 2).train()
    optimizer = torch.optim.Adam(model.parameters(), fused=True)
    x, y = torch.randn(BATCH, 1, LENGTH), torch.randint(0, 2, (BATCH,))

    def step_ms(bf16: bool) -> float:
        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = model(x)
            F.cross_entropy(out.float(), y).backward()
            optimizer.step()

        return median_ms(step, repeats=10)

    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        for dtype in ("bf16", "float32"):
            for layout in LAYOUTS:
                use_layout(model, layout)
                times.setdefault(f"{layout}|{dtype}", []).append(step_ms(dtype == "bf16"))
    return {"kept": kept, "rounds": times, "median": {k: float(np.median(v)) for k, v in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--results", type=Path, default=REPO / "bench/results/fcn_step")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.rounds)))
        return
    runs = {}
    for allocator, env in (("default", "0"), ("kept", "1")):
        done = subprocess.run(
            [sys.executable, __file__, "--child", "--rounds", str(args.rounds)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, OPT_OUT: env},
        )
        runs[allocator] = json.loads(done.stdout.strip().splitlines()[-1])
        print(allocator, json.dumps(runs[allocator]["median"]), flush=True)
    base = runs["default"]["median"]
    lines = [
        "# FCN training step on the CPU: channels-last blocks and kept memory, one at a time",
        "",
        f"`python bench/fcn_step.py` — {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"batch {BATCH} × length {LENGTH}, one training step (forward, loss, backward, fused Adam); median of 10 "
        f"steps per round, {args.rounds} rounds alternating the layouts, a fresh process per allocator setting. "
        f"Memory kept: {runs['kept']['kept']} (glibc).",
        "",
        "| blocks | allocator | bf16 ms | × plain/default | float32 ms | × plain/default |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for layout in LAYOUTS:
        for allocator, run in runs.items():
            m = run["median"]
            lines.append(
                f"| {layout} | {allocator} | {m[f'{layout}|bf16']:.2f} | {base['plain|bf16'] / m[f'{layout}|bf16']:.2f}× "
                f"| {m[f'{layout}|float32']:.2f} | {base['plain|float32'] / m[f'{layout}|float32']:.2f}× |"
            )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".md").write_text("\n".join(lines) + "\n")
    meta = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__, "rounds": args.rounds}
    args.results.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
