"""Where the FCN's epoch goes, layer by layer: each convolution's forward + backward time against the time its
arithmetic needs at the machine's measured matrix-multiply rate in the same dtype: oneDNN on plain (N, C, T) tensors (what tshub
ran before), oneDNN channels-last (``SameConv1d(channels_last=True)``, fed a channels-last input as the FCN's blocks
feed it; what tshub runs with AVX-512), the same convolution written as im2col + one matrix multiply, and (wide
layers) as Winograd's F(m, k) (``tshub.models.winograd``; what tshub runs on AVX2 in float32; under bf16 autocast, to
tell whether it would pay there). Beside the times, each layer's output error against float64 (max |error| /
max |output|) of direct float32, Winograd float32, direct bf16 and Winograd bf16: the evidence that Winograd's
transforms keep float32's precision, and whether they keep bf16's.

It answers whether tshub's training loop can still get much faster on a CPU without AMX: when the convolutions
already run near the GEMM rate and take most of the epoch (bench/train_speed.py gives the epoch), little is left.
Shapes of bench/train_speed.py (FordA: 1 × 500, batch 16), the FCN of bigdata18 (128-8, 256-5, 128-3, 'same'
padding), bfloat16 autocast as in ``fit(bf16=True)`` or float32 (``--dtype``); times are medians of ``--repeats``
calls after a warm-up.

    python bench/fcn_conv_layers.py     # → bench/results/fcn_conv_layers.{md,json}
    python bench/fcn_conv_layers.py --dtype float32 --results bench/results/fcn_conv_layers_float32
    python bench/fcn_conv_layers.py --dtype float32 --threads 1 --clock cpu --results \
        bench/results/fcn_conv_layers_zen3   # a machine other processes share
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from train_speed import BATCH, LENGTH, cpu_name, gemm_rate  # bench/ is on the path of a script run from it

from tshub.models.base import SameConv1d
from tshub.models.cpu import WINOGRAD_MIN_CHANNELS, feeds_winograd, winograd_tile_of
from tshub.models.winograd import conv1d_time_major

REPO = Path(__file__).resolve().parents[1]
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
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


def winograd(x: torch.Tensor, w: torch.Tensor, tile: int) -> torch.Tensor:
    """F(``tile``, k) of (N, C, T) ``x``; fastest fed channels-last, as a block feeds it. Under bf16 autocast it
    runs in bf16 throughout (its custom autograd Functions are not autocast's), transforms included."""
    if torch.is_autocast_enabled("cpu"):
        x, w = x.bfloat16(), w.bfloat16()
    return conv1d_time_major(x.transpose(1, 2), w, None, same_padding(w.shape[2])[0], tile).transpose(1, 2)


def relative_errors(x: torch.Tensor, w: torch.Tensor, tile: int | None) -> dict[str, float]:
    """Max |error| / max |output| against float64 of direct float32, direct bf16 and, with a ``tile``, Winograd's in
    float32 and in bf16."""
    x, w = x.detach(), w.detach()
    reference = direct(x.double(), w.double())

    def error(out: torch.Tensor) -> float:
        return float((out.double() - reference).abs().max() / reference.abs().max())

    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16_out = direct(x, w)
    errors = {"direct_float32_error": error(direct(x, w)), "bf16_error": error(bf16_out)}
    if tile is not None:
        errors["winograd_float32_error"] = error(winograd(x, w, tile))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            errors["winograd_bf16_error"] = error(winograd(x, w, tile))
    return errors


def step_ms(
    conv: Callable, x: torch.Tensor, w: torch.Tensor, repeats: int, bf16: bool, clock: Callable[[], float]
) -> float:
    """Median ms of one forward + backward, under bf16 autocast or in float32 (grad of the input only after the
    first layer)."""

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = conv(x, w)
        out.float().sum().backward()

    return median_ms(step, repeats, clock=clock)


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
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall", help="cpu: the process's CPU time")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice, one per core)")
    parser.add_argument("--results", type=Path, default=REPO / "bench/results/fcn_conv_layers")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = CLOCKS[args.clock]
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
            row[f"{name}_ms"] = step_ms(conv, x, w, args.repeats, bf16, clock)
        # tshub's path with AVX-512: the block's oneDNN convolution, fed channels-last input as the FCN's blocks feed
        # it (called directly: on AVX2 the block would run the wide layers as Winograd's)
        block_conv = SameConv1d(c_in, c_out, kernel, bias=False, channels_last=True)
        with torch.no_grad():
            block_conv.weight.copy_(w)
        tile = winograd_tile_of(block_conv)
        row["feeds_winograd"] = feeds_winograd(block_conv)  # then channels-last beside Winograd's
        x_last = x.detach().transpose(1, 2).contiguous().transpose(1, 2).requires_grad_(first > 0)
        if tile is not None:
            row["winograd_ms"] = step_ms(
                lambda given, kernels, tile=tile: winograd(given, kernels, tile),
                x_last,
                w,
                args.repeats,
                bf16,
                clock,
            )
        row.update(relative_errors(x, w, tile))
        row["channels_last_ms"] = step_ms(
            lambda given, _, conv=block_conv: conv._forward_channels_last(given), x_last, w, args.repeats, bf16, clock
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
    total = {k: sum(r[k] for r in rows) for k in ("ideal_ms", "direct_ms", "channels_last_ms", "im2col_ms")}
    if any("winograd_ms" in r for r in rows):  # the others as tshub runs them beside Winograd's
        total["winograd_ms"] = sum(
            r.get("winograd_ms", r["channels_last_ms" if r["feeds_winograd"] else "direct_ms"]) for r in rows
        )
    lines = [
        f"# FCN convolutions, {args.dtype}, forward + backward per batch",
        "",
        f"`python bench/fcn_conv_layers.py {' '.join(sys.argv[1:])}` — {cpu_name()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}; batch {BATCH} × length {LENGTH}; median of {args.repeats} steps "
        f"({'CPU time of the process' if args.clock == 'cpu' else 'wall time'}). Measured {args.dtype} matrix-multiply rate "
        f"{rate / 1e9:.0f} GFLOP/s; ideal = the layer's forward + backward FLOPs at that rate.",
        "",
        "| layer | ideal ms | oneDNN (N, C, T) ms | share of ideal | oneDNN channels-last ms | share of ideal "
        "| im2col + GEMM ms | Winograd ms | error direct float32 | error Winograd float32 | error bf16 "
        "| error Winograd bf16 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def cell(row: dict, key: str, fmt: str) -> str:
        return format(row[key], fmt) if key in row else "–"

    for r in [*rows, {"layer": "**all three**", **total}]:
        lines.append(
            f"| {r['layer']} | {r['ideal_ms']:.2f} | {r['direct_ms']:.2f} | {r['ideal_ms'] / r['direct_ms']:.0%} | "
            f"{r['channels_last_ms']:.2f} | {r['ideal_ms'] / r['channels_last_ms']:.0%} | {r['im2col_ms']:.2f} | "
            f"{cell(r, 'winograd_ms', '.2f')} | {cell(r, 'direct_float32_error', '.1e')} | "
            f"{cell(r, 'winograd_float32_error', '.1e')} | {cell(r, 'bf16_error', '.1e')} | "
            f"{cell(r, 'winograd_bf16_error', '.1e')} |"
        )
    lines += [
        "",
        "Winograd: F(m, k) of tshub.models.winograd for the layers tshub.models.cpu runs so (float32, "
        f"≥ {WINOGRAD_MIN_CHANNELS} channels; with bf16, which tshub does not run, in bf16 throughout); its total "
        "counts the others as tshub runs them beside it (channels-last the one of few input channels that feeds "
        "them, the rest direct). Errors: max |error| / max |output| against float64, forward, on these random inputs.",
    ]
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
