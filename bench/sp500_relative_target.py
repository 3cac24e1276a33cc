"""Evidence for the SP500 target: standardised raw price (the zoo's previous recipe) vs the relative target.

The zoo's SP500 entries (scripts/publish/zoo_manifest.py ``otovic_entry``: Otović et al.'s recipe, min–max + train
mask, float32, no bf16) trained by the zoo's own code (zoo_train.build_entry) in three variants: the previous recipe
(standardised targets, stream_max input: the builder's ``target_scaling="standardize"`` when the results were
made, folded into the output layer; since then the library's default for regression, mapped back by the
checkpoint, the same training targets), ``"relative"`` (the next Close in its window's min–max space,
mapped back by the checkpoint) with stream_max, and ``"relative"`` without stream_max; same seed, epochs capped (the zoo trains to its recipe's end, ≤ 250 epochs). Test MAE/MSE
on the raw scale (index points) of the weights as stored, next to the naive persistence forecast (next Close = last
Close) on the same chronological test split (2005–2018). Resumable (one JSON per run in --out).

    python bench/sp500_relative_target.py --max-epochs 15 --threads 1  # → bench/results/sp500_relative_target.{md,json}
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "publish"))

from zoo_manifest import otovic_entry  # noqa: E402
from zoo_train import build_entry, load_source  # noqa: E402

from tshub.experiments.records import read_record, write_record  # noqa: E402
from tshub.training.metrics import task_metrics  # noqa: E402

#: name → (Entry.target_scaling, Entry.use_stream_max).
VARIANTS = {
    "standardize": (None, True),
    "relative": ("relative", True),
    "relative, no stream_max": ("relative", False),
}


def run_one(arch: str, variant: str, max_epochs: int, seed: int, out: Path) -> dict[str, Any]:
    scaling, stream_max = VARIANTS[variant]
    label = scaling or "standardize"  # the run ids the results were made under
    run_id = f"SP500__{arch}__{label}{'' if stream_max else '_nosm'}__e{max_epochs}__seed{seed}"
    record = read_record(out, run_id)
    if record is not None:
        return record
    entry = dataclasses.replace(
        otovic_entry("SP500", arch),
        target_scaling=scaling,
        use_stream_max=stream_max,
        max_epochs=max_epochs,
        seed=seed,
    )
    t0 = time.perf_counter()
    built = build_entry(entry)
    meta = built.model.meta
    record = {
        "run_id": run_id,
        "arch": arch,
        "variant": variant,
        "target_scaling": scaling,
        "use_stream_max": stream_max,
        "seed": seed,
        "max_epochs": max_epochs,
        "bf16": entry.bf16,
        "dtype": entry.dtype,
        "test": built.fields["metrics"],
        "val": built.fields["val_metrics"],
        "persistence_test": built.fields["reference"]["metrics"],
        "epochs": meta["epochs"],
        "best_epoch": meta["best_epoch"],
        "stop_reason": meta["stop_reason"],
        "seconds": time.perf_counter() - t0,
        "threads": torch.get_num_threads(),
    }
    write_record(out, record)
    print(
        f"{run_id}: test MAE {record['test']['mae']:.2f} (persistence {record['persistence_test']['mae']:.2f}), "
        f"{record['epochs']} epochs, {record['seconds']:.0f} s",
        flush=True,
    )
    return record


def persistence(split: str) -> dict[str, float]:
    """The naive forecast's metrics on a split of SP500 as the zoo splits it: next Close = last Close."""
    X, y = load_source("SP500").split(split)
    return task_metrics("regression", y, X[:, 0, -1])


def report(records: list[dict[str, Any]], max_epochs: int, archs: list[str]) -> tuple[str, dict[str, Any]]:
    persistence_val = persistence("val")
    persistence_test = records[0]["persistence_test"]
    lines = [
        "# SP500: standardised raw-price target vs relative target (window min–max space)",
        "",
        f"`python bench/sp500_relative_target.py --max-epochs {max_epochs} --threads 1` — the zoo's SP500 recipe "
        f"(Otović et al.'s `otovic` recipe, `minmax_mask`, stream_max input unless the variant drops it, float32, no "
        f"bf16), seed "
        f"{records[0]['seed']}, at most {max_epochs} epochs (the zoo trains until early stopping, ≤ 250), one CPU "
        "thread. Test metrics on the raw scale (index points) of the weights as stored, chronological test split "
        "(2005–2018).",
        "",
        "| arch | variant | test MAE | test MSE | × persistence MAE | val MAE | epochs (best) | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['arch']} | {r['variant']} | {r['test']['mae']:.2f} | {r['test']['mse']:.1f} | "
            f"{r['test']['mae'] / persistence_test['mae']:.2f} | {r['val']['mae']:.2f} | "
            f"{r['epochs']} ({r['best_epoch']}) | {r['seconds']:.0f} |"
        )
    lines.append(
        f"| persistence (next Close = last Close) | — | {persistence_test['mae']:.2f} | {persistence_test['mse']:.1f} "
        f"| 1.00 | {persistence_val['mae']:.2f} | — | — |"
    )
    beats = {
        variant: [r["arch"] for r in records if r["variant"] == variant and r["test"]["mae"] < persistence_test["mae"]]
        for variant in VARIANTS
    }
    lines += [""] + [
        f"- {variant}: {len(beats[variant])} of {len(archs)} architectures beat persistence on test MAE"
        f"{' (' + ', '.join(beats[variant]) + ')' if beats[variant] else ''}."
        for variant in VARIANTS
    ]
    summary = {
        "persistence_test": persistence_test,
        "persistence_val": persistence_val,
        "beats_persistence": beats,
        "max_epochs": max_epochs,
    }
    return "\n".join(lines) + "\n", summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["fcn", "convnetquake", "tcn"])
    parser.add_argument("--max-epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "bench/runs/sp500_relative_target")
    parser.add_argument("--results", type=Path, default=REPO / "bench/results/sp500_relative_target")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = [
        run_one(arch, variant, args.max_epochs, args.seed, args.out) for arch in args.archs for variant in VARIANTS
    ]
    text, summary = report(records, args.max_epochs, args.archs)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".md").write_text(text)
    args.results.with_suffix(".json").write_text(json.dumps({"summary": summary, "runs": records}, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
