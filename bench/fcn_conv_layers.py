"""Where the FCN's epoch goes, layer by layer: each convolution's forward + backward time against the time its
arithmetic needs at the machine's measured matrix-multiply rate in the same dtype: oneDNN on plain (N, C, T) tensors (what tshub
ran before), oneDNN channels-last (``SameConv1d(channels_last=True)``, fed a channels-last input as the FCN's blocks
feed it; what tshub runs), and the same convolution written as im2col + one matrix multiply.

It answers whether tshub's training loop can still get much faster on a CPU without AMX: when the convolutions
already run near the GEMM rate and take most of the epoch (bench/train_speed.py gives the epoch), little is left.
Shapes of bench/train_speed.py (FordA: 1 × 500, batch 16), the FCN of bigdata18 (128-8, 256-5, 128-3, 'same'
padding), bfloat16 autocast as in ``fit(bf16=True)`` or float32 (``--dtype``); times are medians of ``--repeats``
calls after a warm-up.

    python bench/fcn_conv_layers.py     # → bench/results/fcn_conv_layers.{md,json}
    python bench/fcn_conv_layers.py --dtype float32 --results bench/results/fcn_conv_layers_float32
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from train_speed import BATCH, LENGTH, cpu_name, gemm_rate  # bench/ is on the path of a script run from it

from tshub.models.base import SameConv1d

REPO = Path(__file__).resolve().parents[1]
LAYERS = [(1, 128, 8), (128, 256, 5), (256, 128, 3)]  # in channels, out channels, kernel (FCN, bigdata18)


def same_padding(kernel: int) -> tuple[int, int]:
    """Keras' 'same' padding: the extra sample of an even kernel goes on the right."""
    return (kernel - 1) // 2, kernel // 2


def direct(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return F.conv1d(F.pad(x, same_padding(w.shape[2])), w)


def im2col(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    batch, channels, length = x.shape
    out_channels, _, kernel = w.shape
    cols = F.pad(x, same_padding(kernel)).unfold(2, kernel, 1).permute(0, 2, 1, 3).reshape(-1, channels * kernel)
    return (cols @ w.reshape(out_channels, -1).t()).reshape(batch, length, out_channels).permute(0, 2, 1)


def step_ms(conv: Callable, x: torch.Tensor, w: torch.Tensor, repeats: int, bf16: bool) -> float:
    """Median ms of one forward + backward, under bf16 autocast or in float32 (grad of the input only after the
    first layer)."""

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = conv(x, w)
        out.float().sum().backward()

    return median_ms(step, repeats)


def median_ms(
    step: Callable[[], None], repeats: int, warmup: int = 3, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Median ms of ``repeats`` calls of ``step`` after ``warmup`` calls, on ``clock`` (wall time by default)."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = clock()
        step()
        times.append(clock() - t0)
    return 1e3 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--dtype", choices=("bf16", "float32"), default="bf16")
    parser.add_argument("--results", type=Path, default=REPO / "bench/results/fcn_conv_layers")
    args = parser.parse_args()
    bf16 = args.dtype == "bf16"
    rate = gemm_rate(torch.bfloat16 if bf16 else torch.float32)
    generator = torch.Generator().manual_seed(0)
    rows = []
    for first, (c_in, c_out, kernel) in enumerate(LAYERS):
        x = torch.randn(BATCH, c_in, LENGTH, generator=generator).requires_grad_(first > 0)
        w = (0.05 * torch.randn(c_out, c_in, kernel, generator=generator)).requires_grad_()
        forward_flops = 2 * BATCH * LENGTH * c_out * c_in * kernel
        ideal_ms = 1e3 * forward_flops * (3 if first > 0 else 2) / rate
        row = {"layer": f"{c_in}→{c_out}, kernel {kernel}", "ideal_ms": ideal_ms}
        for name, conv in (("direct", direct), ("im2col", im2col)):
            row[f"{name}_ms"] = step_ms(conv, x, w, args.repeats, bf16)
        # tshub's path: the block's convolution, fed channels-last input as the FCN's blocks feed it
        block_conv = SameConv1d(c_in, c_out, kernel, bias=False, channels_last=True)
        with torch.no_grad():
            block_conv.weight.copy_(w)
        x_last = x.detach().transpose(1, 2).contiguous().transpose(1, 2).requires_grad_(first > 0)
        row["channels_last_ms"] = step_ms(lambda given, _, conv=block_conv: conv(given), x_last, w, args.repeats, bf16)
        rows.append(row)
        print(json.dumps(row), flush=True)
    total = {k: sum(r[k] for r in rows) for k in ("ideal_ms", "direct_ms", "channels_last_ms", "im2col_ms")}
    lines = [
        f"# FCN convolutions, {args.dtype}, forward + backward per batch",
        "",
        f"`python bench/fcn_conv_layers.py` — {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"batch {BATCH} × length {LENGTH}; median of {args.repeats} steps. Measured {args.dtype} matrix-multiply rate "
        f"{rate / 1e9:.0f} GFLOP/s; ideal = the layer's forward + backward FLOPs at that rate.",
        "",
        "| layer | ideal ms | oneDNN (N, C, T) ms | share of ideal | oneDNN channels-last ms | share of ideal "
        "| im2col + GEMM ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [*rows, {"layer": "**all three**", **total}]:
        lines.append(
            f"| {r['layer']} | {r['ideal_ms']:.2f} | {r['direct_ms']:.2f} | {r['ideal_ms'] / r['direct_ms']:.0%} | "
            f"{r['channels_last_ms']:.2f} | {r['ideal_ms'] / r['channels_last_ms']:.0%} | {r['im2col_ms']:.2f} |"
        )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".md").write_text("\n".join(lines) + "\n")
    meta = {
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "dtype": args.dtype,
        f"gemm_{args.dtype}_gflops": rate / 1e9,
    }
    args.results.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
