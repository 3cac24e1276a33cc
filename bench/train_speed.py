"""Training speed on the CPU: tshub's loop against aeon's Keras FCN and against the machine's roofline, one run.

Same data (FordA[:1024] from ../shared/data when present, else random series of its shape: 1 × 500, 2 classes),
same batch size (16), one epoch of training without validation, seconds per epoch (the mean of ``--repeats``
epochs after a warm-up epoch; this machine is shared and noisy, so aeon and tshub are measured in turn for
``--rounds`` rounds and each ratio is the median of its rounds' ratios; compare figures of one run only):

- tshub ``fit`` (the zoo's loop) in float32 and in bfloat16 autocast;
- aeon's ``FCNClassifier`` (Keras on tensorflow-cpu), run by a separate Python (``--peer-python``) that has
  bench/peer-requirements.txt installed: (time of 1 + 2·k epochs − time of 1 epoch) / (2·k) cancels its set-up;
- the roofline: the epoch's convolution and dense-layer FLOPs (forward + both backward products) divided by the machine's
  measured matrix-multiply rate in the same dtype (``torch.mm`` 2048², best of 5): the time the arithmetic
  alone needs.

An Otović architecture (ConvNetQuake on LEN-DB-shaped data: 3 × 540, regression with stream_max, batch 32) is
measured against its roofline in each dtype asked (``--dtypes``). Results go to bench/results/train_speed.{md,json}.

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install -r bench/peer-requirements.txt
    python bench/train_speed.py --peer-python /tmp/peer/bin/python
    python bench/train_speed.py --render bench/results/train_speed*.json   # tables again, rooflines recomputed
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tshub.models import build_model
from tshub.training import TrainConfig, fit
from tshub.training.precision import onednn_isa_cap

REPO = Path(__file__).resolve().parents[1]
N, LENGTH, BATCH = 1024, 500, 16
PEER_SCRIPT = """
import json, sys, time
import numpy as np
from aeon.classification.deep_learning import FCNClassifier
X = np.load(sys.argv[1]); y = np.load(sys.argv[2]); k = int(sys.argv[3])
times = {}
for epochs in (1, 1 + 2 * k):
    clf = FCNClassifier(n_epochs=epochs, batch_size=int(sys.argv[4]), verbose=False, random_state=0)
    t0 = time.perf_counter(); clf.fit(X, y); times[epochs] = time.perf_counter() - t0
import aeon, tensorflow
print(json.dumps({"epoch_s": (times[1 + 2 * k] - times[1]) / (2 * k), "aeon": aeon.__version__,
                  "tensorflow": tensorflow.__version__}))
"""


def forda() -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from tshub.datasets import load

        ds = load("FordA")
        X, y = ds.split("train")
        return X[:N].astype(np.float32), y[:N].astype(np.int64), "FordA[:1024] (../shared/data)"
    except Exception as err:  # no archive here: the same shapes, random values
        rng = np.random.default_rng(0)
        return (
            rng.standard_normal((N, 1, LENGTH)).astype(np.float32),
            rng.integers(0, 2, N),
            f"random series of FordA's shape ({type(err).__name__}: archive not found)",
        )


def epoch_seconds(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    stream_max: np.ndarray | None,
    batch: int,
    bf16: bool,
    repeats: int,
    task: str,
) -> float:
    """Mean epoch time of ``repeats`` epochs after one warm-up, with tshub's loop (``fit``), no validation."""
    config = TrainConfig(
        batch_size=batch,
        batch_fraction=None,
        max_epochs=1 + repeats,
        monitor="loss",
        lr_patience=None,
        early_stopping_patience=None,
        restore_best=False,
        bf16=bf16,
    )
    result = fit(model, (X, y, stream_max), None, config, progress=False, task=task)
    return float(np.mean([r["time_s"] for r in result.history[1:]]))


def conv_flops(model: nn.Module, X: np.ndarray) -> float:
    """Conv and dense multiply-adds × 2 of one epoch, forward and backward (grad weight, and grad input after the
    first layer)."""
    flops, first = [0.0], []

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        fan_in = (
            module.in_features
            if isinstance(module, nn.Linear)
            else module.in_channels * module.kernel_size[0] / module.groups
        )
        forward = 2 * fan_in * output.numel()
        flops[0] += forward * (3 if first else 2)  # forward + grad weight (+ grad input after the first layer)
        first.append(module)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Linear))]
    stream_max = torch.ones(1, 1) if getattr(model, "use_stream_max", False) else None
    with torch.no_grad():
        model.eval()(torch.as_tensor(X[:1]), stream_max)
    for h in handles:
        h.remove()
    return flops[0] * len(X)


def gemm_rate(dtype: torch.dtype) -> float:
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(5))
    return 2 * 2048**3 / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def aeon_epoch(python: str, X: np.ndarray, y: np.ndarray, k: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/X.npy", X), np.save(f"{tmp}/y.npy", y)
        out = subprocess.run(
            [python, "-c", PEER_SCRIPT, f"{tmp}/X.npy", f"{tmp}/y.npy", str(k), str(BATCH)],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def benchmarked(X: np.ndarray, y: np.ndarray) -> dict[str, tuple]:
    """Each model measured: (make, X, y, stream_max, batch, task); the FCN on FordA's series, ConvNetQuake on
    random LEN-DB-shaped ones."""
    g = np.random.default_rng(0)
    Xs = g.standard_normal((N, 3, 540)).astype(np.float32)
    ys, sm = g.random(N).astype(np.float32) * 4, np.abs(Xs).max(axis=(1, 2))[:, None].astype(np.float32)
    return {
        "tshub FCN": (lambda: build_model("fcn", 1, 2), X, y, None, BATCH, "classification"),
        "tshub ConvNetQuake (3 × 540, Otović)": (
            lambda: build_model("convnetquake", 3, 1, use_stream_max=True, input_length=540),
            Xs,
            ys,
            sm,
            32,
            "regression",
        ),
    }


def add_roofline(rows: list[dict], meta: dict) -> None:
    """Each row's roofline from its model's FLOPs per epoch and the run's measured matrix-multiply rate; derived,
    not measured, so ``--render`` can correct it on a stored run."""
    models = benchmarked(np.zeros((N, 1, LENGTH), dtype=np.float32), np.zeros(N, dtype=np.int64))
    for row in rows:
        make, Xm, *_rest = models[row["model"]]
        row["epoch_gflop"] = conv_flops(make(), Xm) / 1e9
        row["roofline_s"] = row["epoch_gflop"] / meta["gemm_gflops"][row["dtype"]]
        row["vs_roofline"] = row["roofline_s"] / row["epoch_s"]


def report(meta: dict, rows: list[dict]) -> list[str]:
    lines = [
        "# Training speed on the CPU (one run, same machine)",
        "",
        f"`python bench/train_speed.py --peer-python …` — {meta['cpu']}, {meta['threads']} threads, torch "
        f"{meta['torch']}; data {meta['data']}; FCN batch {BATCH}, ConvNetQuake batch 32; each figure the median of "
        f"{meta['rounds']} rounds (aeon and tshub measured in turn), each round the mean of {meta['repeats']} epochs "
        "after a warm-up. Measured matrix-multiply rate: "
        + ", ".join(f"{rate:.0f} GFLOP/s {dtype}" for dtype, rate in meta["gemm_gflops"].items())
        + " (the roofline divides each epoch's conv + dense FLOPs, forward and both backward products, by it).",
        "",
    ]
    if meta["aeon"]:
        peer = meta["aeon"]
        lines += [
            f"aeon {peer['aeon']} `FCNClassifier` (tensorflow-cpu {peer['tensorflow']}, float32): "
            f"**{peer['epoch_s']:.2f} s per epoch** ({N / peer['epoch_s']:.0f} samples/s; rounds "
            f"{', '.join(f'{s:.2f}' for s in meta['aeon_epoch_s_rounds'])} s).",
            "",
        ]
    lines += [
        "| model | dtype | s / epoch | samples / s | × aeon's speed (rounds) | GFLOP / epoch | roofline s "
        "| share of roofline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        vs = "—"
        if r["vs_aeon"] is not None:
            vs = f"{r['vs_aeon']:.2f}× ({', '.join(f'{v:.2f}' for v in r['vs_aeon_rounds'])})"
        lines.append(
            f"| {r['model']} | {r['dtype']} | {r['epoch_s']:.2f} | {r['samples_per_s']:.0f} | {vs} | "
            f"{r['epoch_gflop']:.0f} | {r['roofline_s']:.2f} | {r['vs_roofline']:.0%} |"
        )
    return lines


def write(results: Path, meta: dict, rows: list[dict], rounds: list[dict]) -> None:
    lines = report(meta, rows)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.with_suffix(".md").write_text("\n".join(lines) + "\n")
    results.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows, "rounds": rounds}, indent=1))
    print("\n".join(lines))


def render(record: Path) -> None:
    """Rewrite a stored run's .md and .json with its roofline computed again (the measurements unchanged)."""
    stored = json.loads(record.read_text())
    meta = {"repeats": 3, **stored["meta"]}  # runs stored before "repeats" was recorded used the default 3
    add_roofline(stored["rows"], meta)
    write(record.with_suffix(""), meta, stored["rows"], stored["rounds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer-python", help="a Python with bench/peer-requirements.txt (aeon + tensorflow-cpu)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="aeon and tshub measured in turn, this many times")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice, one per core)")
    parser.add_argument(
        "--dtypes",
        default="float32,bf16",
        help="comma-separated; 'float32' alone where oneDNN emulates bf16 (13x slower: minutes per epoch)",
    )
    parser.add_argument("--results", type=Path, default=REPO / "bench/results/train_speed")
    parser.add_argument(
        "--render",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="measure nothing: rewrite these stored runs' tables with their rooflines computed again",
    )
    args = parser.parse_args()
    if args.render:
        for record in args.render:
            render(record)
        return
    dtypes = [d for d in args.dtypes.split(",") if d]
    if not dtypes or set(dtypes) - {"float32", "bf16"}:
        parser.error(f"--dtypes {args.dtypes!r}: name float32, bf16 or both, comma-separated")
    if args.threads:
        torch.set_num_threads(args.threads)

    X, y, data = forda()
    rates = {dtype: gemm_rate(torch.bfloat16 if dtype == "bf16" else torch.float32) for dtype in dtypes}
    models = benchmarked(X, y)
    rounds = []
    for index in range(args.rounds):  # in turn, so a change in the machine's load hits both sides of a ratio
        peer = aeon_epoch(args.peer_python, X, y, args.repeats) if args.peer_python else None
        seconds = {}
        for name, (make, Xm, ym, smm, batch, task) in models.items():
            for dtype in dtypes:
                torch.manual_seed(0)
                seconds[f"{name}|{dtype}"] = epoch_seconds(
                    make(), Xm, ym, smm, batch, dtype == "bf16", args.repeats, task
                )
        rounds.append({"aeon": peer, "epoch_s": seconds})
        print(json.dumps({"round": index, **rounds[-1]}), flush=True)

    rows = []
    for name, (_make, Xm, *_rest) in models.items():
        for dtype in dtypes:
            per_round = [r["epoch_s"][f"{name}|{dtype}"] for r in rounds]
            ratios = [r["aeon"]["epoch_s"] / s for r, s in zip(rounds, per_round) if r["aeon"] and name == "tshub FCN"]
            seconds = float(np.median(per_round))
            rows.append(
                {
                    "model": name,
                    "dtype": dtype,
                    "epoch_s": seconds,
                    "epoch_s_rounds": per_round,
                    "samples_per_s": len(Xm) / seconds,
                    "vs_aeon": float(np.median(ratios)) if ratios else None,
                    "vs_aeon_rounds": ratios,
                }
            )
    aeon_rounds = [r["aeon"]["epoch_s"] for r in rounds if r["aeon"]]
    meta = {
        "data": data,
        "batch": BATCH,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": cpu_name(),
        "gemm_gflops": {k: v / 1e9 for k, v in rates.items()},
        "aeon": rounds[0]["aeon"] and {**rounds[0]["aeon"], "epoch_s": float(np.median(aeon_rounds))},
        "aeon_epoch_s_rounds": aeon_rounds,
        "rounds": args.rounds,
        "repeats": args.repeats,
    }
    add_roofline(rows, meta)
    write(args.results, meta, rows, rounds)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                flags = Path("/proc/cpuinfo").read_text()
                extras = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
                cap = onednn_isa_cap()  # stands in for a CPU without the newer units (AVX512_CORE_BF16: no AMX)
                extras += [f"oneDNN capped at {cap}"] if cap else []
                return f"{name} ({', '.join(extras) or 'no bf16 instructions'})"
    except OSError:
        pass
    return platform.processor() or sys.platform


if __name__ == "__main__":
    main()
