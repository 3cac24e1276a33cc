"""Why a multi-head model keeps BatchNorm statistics per head: the same pretrained weights scored with the running
statistics every head shared (what UCR/convtimenet was trained and early-stopped on before 994faad) and with each
dataset's own, estimated on its training split (``tshub.training.multihead.estimate_head_statistics``: the mean
batch statistics over one pass, no weight changes).

Every batch of a multi-head pretraining holds one dataset's series, normalised in training by that dataset's batch
statistics; a single set of running statistics is an average over the datasets that no batch ever saw. The weights
are those of the shared-statistics run parked at c1a193d (UCR/convtimenet, 91 heads, the best epoch so far: 23 of
29), read from git, so the figures repeat from a clone.

    python bench/multihead_statistics.py     # → bench/results/multihead_statistics.{md,json}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts/publish"))
from zoo_manifest import default_manifest  # noqa: E402
from zoo_train import load_source  # noqa: E402

from tshub.data.preprocess import make_preprocessor  # noqa: E402
from tshub.models.registry import build_model  # noqa: E402
from tshub.stats import win_tie_loss  # noqa: E402
from tshub.training.finetuning import prepare_data  # noqa: E402
from tshub.training.loop import evaluate  # noqa: E402
from tshub.training.multihead import HeadView, estimate_head_statistics  # noqa: E402

PARKED = "c1a193d:zoo-progress/UCR__convtimenet.state.safetensors"
CPU = torch.device("cpu")


def parked_models(spec: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The parked run's best weights twice: as trained (one set of statistics shared by every head) and with heads
    that keep statistics of their own (to be estimated)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.safetensors"
        path.write_bytes(subprocess.run(["git", "show", spec], cwd=REPO, capture_output=True, check=True).stdout)
        state = load_file(path)
    best = {k.removeprefix("best."): v for k, v in state.items() if k.startswith("best.")}
    heads = {k.split(".")[2]: len(v) for k, v in best.items() if k.startswith("head.heads.") and k.endswith(".bias")}
    entry = next(e for e in default_manifest() if e.id == "UCR/convtimenet")
    models = []
    for statistics in (False, True):
        model = build_model(entry.arch, 1, 2, **entry.arch_kwargs)
        model.set_heads(heads, statistics=statistics)
        missing, unexpected = model.load_state_dict(best, strict=False)
        assert not unexpected and all(k.startswith("head.statistics.") for k in missing), (missing, unexpected)
        models.append(model.eval())
    return models[0], models[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", default=PARKED, help="git object of the parked training state")
    parser.add_argument("--results", type=Path, default=REPO / "bench/results/multihead_statistics")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, adapted = parked_models(args.state)
    n_heads, rows = len(model.head.heads), []
    for head in sorted(model.head.heads, key=str.casefold):
        prepared = prepare_data(load_source(head), make_preprocessor("znorm"), False)
        X = torch.as_tensor(prepared.train[0], dtype=torch.float32)
        estimate_head_statistics(adapted, head, X, batch_size=64)  # every training series
        row = {"dataset": head, "n_train": len(prepared.train[0])}
        for split in ("val", "test"):
            data = getattr(prepared, split)
            for name, network in (("shared", model), ("own", adapted)):
                row[f"{split}_{name}"] = evaluate(HeadView(network, head), data, "classification", device=CPU)[
                    "accuracy"
                ]
        rows.append(row)
        print(f"{head}: test {row['test_shared']:.3f} → {row['test_own']:.3f}", flush=True)
    summary = {}
    for split in ("val", "test"):
        shared, own = (np.array([r[f"{split}_{k}"] for r in rows]) for k in ("shared", "own"))
        paired = win_tie_loss(own, shared)
        summary[split] = {
            "shared": float(shared.mean()),
            "own": float(own.mean()),
            "wins": paired.wins,
            "ties": paired.ties,
            "losses": paired.losses,
            "sign_p": paired.pvalue,
        }
    args.results.with_suffix(".json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    lines = [
        "# Multi-head BatchNorm statistics: shared by every head vs each dataset's own",
        "",
        f"`python bench/multihead_statistics.py` — the weights of UCR/convtimenet's shared-statistics run parked at "
        f"`{args.state.split(':')[0]}` (best epoch), {n_heads} heads; the same weights scored with the running statistics "
        "the heads shared and with each dataset's own (re-estimated from its training split in one pass). Test: "
        "the official test split (train-only sets: the split carved from train); validation: the split the run "
        "early-stopped on.",
        "",
        "| split | shared statistics | own statistics | own better / same / worse | sign test p |",
        "|---|---:|---:|---|---:|",
    ]
    for split, s in summary.items():
        lines.append(
            f"| {split} | {s['shared']:.3f} | {s['own']:.3f} | {s['wins']} / {s['ties']} / {s['losses']} | "
            f"{s['sign_p']:.2g} |"
        )
    lines += [
        "",
        "| dataset | training series | val shared | val own | test shared | test own |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['dataset']} | {r['n_train']} | {r['val_shared']:.3f} | {r['val_own']:.3f} | {r['test_shared']:.3f} | "
        f"{r['test_own']:.3f} |"
        for r in rows
    ]
    args.results.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
