"""Training throughput (samples/s) of every registered architecture with tshub's loop, and against a DataLoader.

Both sides run the same step (``tshub.training.loop.train_step``: forward, loss, regularisation, backward, Adam)
on the same random data; they differ only in how batches are made: tshub permutes the in-memory tensors once per
epoch and slices them, the baseline iterates ``DataLoader(TensorDataset(...), shuffle=True, drop_last=True)``.
A ratio above 1 means tshub's loop is faster. Shapes: FordA-like (1 × 500, 2 classes) and seismic-like
(3 × 540, magnitude regression with stream_max, as LEN-DB in Otović et al.).

    python bench/train_throughput.py --batches 20 --batch-size 32 --repeats 3

On a shared CPU the fastest of several epochs is the least disturbed measurement; expect noise there anyway.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from tshub.models import build_model, list_architectures
from tshub.training import TrainConfig, fit
from tshub.training.loop import resolve_device, train_step


@dataclass(frozen=True)
class Shape:
    name: str
    channels: int
    length: int
    task: str
    n_outputs: int
    stream_max: bool


SHAPES = {
    "forda": Shape("FordA-like", 1, 500, "classification", 2, False),
    "seismic": Shape("seismic 3x540", 3, 540, "regression", 1, True),
}


def make_data(shape: Shape, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, shape.channels, shape.length, generator=g)
    y = (
        torch.randint(0, shape.n_outputs, (n,), generator=g)
        if shape.task == "classification"
        else torch.rand(n, generator=g) * 4
    )
    return X, y, X.abs().amax(dim=(1, 2)).unsqueeze(1) if shape.stream_max else None


def build(arch: str, shape: Shape, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(
        arch, shape.channels, shape.n_outputs, use_stream_max=shape.stream_max, input_length=shape.length
    ).to(device)


def tshub_rate(arch: str, shape: Shape, data: tuple, batch: int, device: torch.device, repeats: int) -> float:
    """Samples/s of ``fit``'s fastest epoch after the first (which warms up kernels and allocators)."""
    config = TrainConfig(
        max_epochs=1 + repeats,
        batch_size=batch,
        batch_fraction=None,
        drop_last=True,
        monitor="loss",
        lr_patience=None,
        early_stopping_patience=None,
        restore_best=False,
    )
    run = fit(build(arch, shape, device), data, None, config, device=device, progress=False, task=shape.task)
    return len(data[0]) // batch * batch / min(r["time_s"] for r in run.history[1:])


def dataloader_rate(arch: str, shape: Shape, data: tuple, batch: int, device: torch.device, repeats: int) -> float:
    """Samples/s of the same step fed by a DataLoader, fastest epoch after the first."""
    model = build(arch, shape, device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    X, y, stream_max = data
    tensors = (X, y) if stream_max is None else (X, y, stream_max)
    loader = DataLoader(
        TensorDataset(*tensors),
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(0),
        pin_memory=device.type == "cuda",
    )
    times = []
    for _ in range(1 + repeats):
        start = time.perf_counter()
        total = torch.zeros((), device=device)
        for items in loader:
            xb, yb, *rest = (t.to(device, non_blocking=True) for t in items)
            total += train_step(model, optimizer, xb, yb, rest[0] if rest else None, shape.task)
        float(total)  # wait for the device, as fit does once per epoch
        times.append(time.perf_counter() - start)
    return len(loader) * batch / min(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20, help="batches per timed epoch (default 20)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs after a warm-up one; the fastest counts")
    parser.add_argument("--archs", nargs="*", default=list_architectures())
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "train_throughput.md")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    lines = [
        f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"batch {args.batch_size} x {args.batches} batches per epoch, fastest of {args.repeats} epochs",
        f"{'arch':<13} {'shape':<14} {'tshub samples/s':>16} {'DataLoader samples/s':>21} {'ratio':>6}",
    ]
    print("\n".join(lines), flush=True)
    for shape_key in args.shapes:
        shape = SHAPES[shape_key]
        data = make_data(shape, args.batches * args.batch_size)
        for arch in args.archs:
            ours = tshub_rate(arch, shape, data, args.batch_size, device, args.repeats)
            base = dataloader_rate(arch, shape, data, args.batch_size, device, args.repeats)
            lines.append(f"{arch:<13} {shape.name:<14} {ours:>16.1f} {base:>21.1f} {ours / base:>6.2f}")
            print(lines[-1], flush=True)
    command = "python bench/train_throughput.py " + " ".join(sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(f"# Training throughput\n\n`{command.strip()}`\n\n```\n" + "\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    main()
