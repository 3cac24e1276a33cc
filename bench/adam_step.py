"""What one Adam step costs on the CPU, per implementation: PyTorch's default per-tensor loop, ``foreach`` and
``fused``, on the parameters of the zoo's FCN (bigdata18, 266 k parameters) and of the largest Otović architecture
here, with random gradients; the share of a training step it is follows from bench/train_speed.py's epoch time.

It is the evidence for ``build_optimizer``'s ``fused=True``. Rounds alternate the implementations in one process
(so load on the machine hits all alike); each figure is the median over rounds of the mean of ``--steps`` steps.

    python bench/adam_step.py            # → bench/results/adam_step.{md,json}
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from train_speed import cpu_name  # bench/ is on the path of a script run from it

from tshub.models import build_model

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"default (per tensor)": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}
MODELS = {"fcn": {"arch": "fcn", "in_channels": 1, "n_outputs": 2}, "mlstm_fcn": {"arch": "mlstm_fcn",
          "in_channels": 3, "n_outputs": 4, "input_length": 80}}  # fmt: skip


def step_ms(optimizer: torch.optim.Optimizer, steps: int) -> float:
    for _ in range(5):  # warm-up: Adam's state is created on the first step
        optimizer.step()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return 1e3 * (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name, spec in MODELS.items():
        spec = dict(spec)
        model = build_model(spec.pop("arch"), spec.pop("in_channels"), spec.pop("n_outputs"), **spec)
        params = list(model.parameters())
        for p in params:
            p.grad = torch.randn_like(p)
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for _ in range(args.rounds):
            for variant, kwargs in VARIANTS.items():
                times[variant].append(step_ms(torch.optim.Adam(params, lr=1e-3, eps=1e-7, **kwargs), args.steps))
        n = sum(p.numel() for p in params)
        for variant, values in times.items():
            rows.append({"model": name, "parameters": n, "variant": variant, "ms": float(np.median(values)),
                         "rounds_ms": values})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    out = REPO / "bench" / "results" / "adam_step"
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = [
        "# One Adam step on the CPU",
        "",
        f"`python bench/adam_step.py` — {cpu_name()}, {args.threads} thread(s), "
        f"torch {torch.__version__}; random gradients; median of {args.rounds} alternating rounds of "
        f"{args.steps} steps.",
        "",
        "| model | parameters | implementation | ms per step | × default |",
        "|---|---:|---|---:|---:|",
    ]
    for row in rows:
        base = next(r["ms"] for r in rows if r["model"] == row["model"] and r["variant"] == "default (per tensor)")
        lines.append(f"| {row['model']} | {row['parameters']:,} | {row['variant']} | {row['ms']:.3f} | "
                     f"{base / row['ms']:.1f}× |")  # fmt: skip
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
