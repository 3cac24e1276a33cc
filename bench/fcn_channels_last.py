"""Would a channels-last 2-D formulation make the FCN's bf16 training step faster on this CPU?

oneDNN's NHWC convolution kernels run the FCN's big convolutions much faster than the NCW path torch takes for
conv1d (bench/fcn_conv_layers.py measures that path), so the question is the whole step: the same FCN (same
parameters) computed as (N, C, 1, L) channels-last tensors end to end — conv2d with the 'same' padding inside the
convolution, BatchNorm and ReLU on the same layout, every gradient forced back to it (``KeepChannelsLast``: a
gradient arriving in the other layout made ReLU's backward ~40× slower) — against tshub's FCN, one training step
(forward, cross-entropy, backward) under bf16 autocast, FordA's shape (1 × 500, batch 16), alternating rounds.

    python bench/fcn_channels_last.py     # → bench/results/fcn_channels_last.md
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from fcn_conv_layers import median_ms  # bench/ is on the path of a script run from it
from train_speed import BATCH, LENGTH, cpu_name

from tshub.models.fcn import FCN
from tshub.models.registry import build_model

REPO = Path(__file__).resolve().parents[1]
CL = torch.channels_last


class KeepChannelsLast(torch.autograd.Function):
    """Identity that keeps a tensor, and its gradient, channels-last."""

    @staticmethod
    def forward(ctx: object, t: torch.Tensor) -> torch.Tensor:
        return t.contiguous(memory_format=CL)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous(memory_format=CL)


def channels_last_logits(model: FCN, x: torch.Tensor) -> torch.Tensor:
    """The FCN's logits computed on (N, C, 1, L) channels-last tensors (equal to ``model(x)`` up to rounding)."""
    h = x.unsqueeze(2)
    for block in model.backbone:
        conv, bn = block.conv, block.bn
        total = conv.kernel_size[0] - 1
        if total % 2:  # Keras 'same': the odd zero on the right
            h = F.pad(h, (0, 1))
        weight = conv.weight.unsqueeze(2).contiguous(memory_format=CL)
        h = KeepChannelsLast.apply(F.conv2d(h, weight, conv.bias, 1, (0, total // 2)))
        h = F.batch_norm(h, bn.running_mean, bn.running_var, bn.weight, bn.bias, model.training, bn.momentum, bn.eps)
        h = KeepChannelsLast.apply(F.relu(h))
    return model.head(h.mean(dim=(2, 3)))


def step_ms(logits: Callable[[torch.Tensor], torch.Tensor], model: FCN, x: torch.Tensor, y: torch.Tensor) -> float:
    """Median ms of one training step (10 after 3 warm-ups)."""

    def step() -> None:
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = logits(x)
        F.cross_entropy(out.float(), y).backward()

    return median_ms(step, repeats=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--results", type=Path, default=REPO / "bench/results/fcn_channels_last.md")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = build_model("fcn", 1, 2).train()
    assert isinstance(model, FCN)
    x, y = torch.randn(BATCH, 1, LENGTH), torch.randint(0, 2, (BATCH,))
    with torch.no_grad():
        difference = (model.eval()(x) - channels_last_logits(model, x)).abs().max().item()
    model.train()
    rounds = [
        (step_ms(model, model, x, y), step_ms(lambda t: channels_last_logits(model, t), model, x, y))
        for _ in range(args.rounds)
    ]
    ncw, nhwc = (float(np.median([r[i] for r in rounds])) for i in (0, 1))
    lines = [
        "# FCN training step: tshub's conv1d (NCW) vs a channels-last 2-D formulation, bf16",
        "",
        f"`python bench/fcn_channels_last.py` — {cpu_name()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}; batch {BATCH} × length {LENGTH}, one training step under bf16 autocast, median of 10 "
        f"steps per round, {args.rounds} alternating rounds. Largest logit difference in float32: {difference:.1e}.",
        "",
        f"Median ms per step: **NCW {ncw:.2f}**, channels-last {nhwc:.2f} (channels-last is {ncw / nhwc:.2f}× the "
        "speed). Rounds (NCW / channels-last): " + ", ".join(f"{a:.1f} / {b:.1f}" for a, b in rounds) + ".",
    ]
    args.results.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
