"""Evidence for bfloat16 autocast: FCN from scratch in float32 and in bf16, same recipe, data and seeds, paired.

Datasets by a rule fixed before any result: the UCR 2015 sets present with a test split
(../shared/reference/ucr2015_85.txt, 'T'), sorted by train size × length, every 4th of those with at most 60,000
training values (cheap enough to repeat 6 times on a CPU). Recipe "ucr" (the zoo's), seeds 0 1 2, test accuracy
of the weights kept on validation. Paired over dataset × seed: wins/ties/losses, sign test, Wilcoxon.
Resumable (one JSON per run in --out).

    python bench/bf16_accuracy.py --threads 1      # → bench/results/bf16_accuracy.{md,json}
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from tshub.data.catalogue import load, ucr_summary
from tshub.experiments.records import load_records, read_record, write_record
from tshub.stats import sign_test, wilcoxon_signed_rank
from tshub.training import train_from_scratch

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference" / "ucr2015_85.txt"
MAX_VALUES = 60_000
EVERY = 4


def chosen_datasets() -> list[str]:
    present = [line.split()[1] for line in REFERENCE.read_text().splitlines() if line.startswith("T ")]
    sizes = {
        r["Name"]: int(r["Train"]) * int(r["Length"])
        for r in ucr_summary()
        if r["Name"] in present and r["Length"].isdigit()
    }
    cheap = sorted((n for n, v in sizes.items() if v <= MAX_VALUES), key=lambda n: (sizes[n], n))
    return cheap[::EVERY]


def run_one(name: str, seed: int, bf16: bool, out: Path) -> dict:
    run_id = f"{name}__seed{seed}__{'bf16' if bf16 else 'fp32'}"
    record = read_record(out, run_id)
    if record is not None:
        return record
    t0 = time.perf_counter()
    result = train_from_scratch("fcn", load(name), seed=seed, recipe="ucr", bf16=bf16, progress=False)
    record = {
        "run_id": run_id,
        "dataset": name,
        "seed": seed,
        "bf16": bf16,
        "test": result.metrics,
        "val": result.val_metrics,
        "epochs": len(result.history),
        "stop_reason": result.stop_reason,
        "seconds": time.perf_counter() - t0,
        "threads": torch.get_num_threads(),
    }
    write_record(out, record)
    print(
        f"{run_id}: test accuracy {result.metrics['accuracy']:.4f}, {len(result.history)} epochs, "
        f"{record['seconds']:.0f} s",
        flush=True,
    )
    return record


def report(records: list[dict], names: list[str]) -> tuple[str, dict]:
    pairs = {}
    for r in records:
        pairs.setdefault((r["dataset"], r["seed"]), {})["bf16" if r["bf16"] else "fp32"] = r
    complete = [(k, v) for k, v in sorted(pairs.items()) if len(v) == 2]
    fp32 = np.array([v["fp32"]["test"]["accuracy"] for _, v in complete])
    bf16 = np.array([v["bf16"]["test"]["accuracy"] for _, v in complete])
    wins, losses = int((bf16 > fp32).sum()), int((bf16 < fp32).sum())
    sign, wilcoxon = sign_test(wins, losses), wilcoxon_signed_rank(bf16, fp32)
    speed = [v["fp32"]["seconds"] / v["bf16"]["seconds"] for _, v in complete]
    lines = [
        "# bfloat16 autocast vs float32: FCN from scratch, recipe `ucr`",
        "",
        f"`python bench/bf16_accuracy.py` — {len(names)} UCR sets by rule (see the script), seeds 0–2, "
        f"{len(complete)} complete pairs. Test accuracy of the weights kept on validation.",
        "",
        "| dataset | float32 (mean of seeds) | bf16 | difference | epochs fp32 / bf16 |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        rows = [v for k, v in complete if k[0] == name]
        if not rows:
            continue
        a = np.mean([v["fp32"]["test"]["accuracy"] for v in rows])
        b = np.mean([v["bf16"]["test"]["accuracy"] for v in rows])
        ea = np.mean([v["fp32"]["epochs"] for v in rows])
        eb = np.mean([v["bf16"]["epochs"] for v in rows])
        lines.append(f"| {name} | {a:.4f} | {b:.4f} | {b - a:+.4f} | {ea:.0f} / {eb:.0f} |")
    summary = {
        "pairs": len(complete),
        "mean_fp32": float(fp32.mean()) if len(fp32) else None,
        "mean_bf16": float(bf16.mean()) if len(bf16) else None,
        "wins": wins,
        "losses": losses,
        "ties": len(complete) - wins - losses,
        "sign_p": sign.pvalue,
        "wilcoxon_p": wilcoxon.pvalue,
        "median_time_ratio_fp32_over_bf16": float(np.median(speed)) if speed else None,
    }
    if complete:
        lines += [
            "",
            f"Mean test accuracy float32 {summary['mean_fp32']:.4f}, bf16 {summary['mean_bf16']:.4f}; "
            f"bf16 wins/ties/losses {wins}/{summary['ties']}/{losses}; sign test p = {sign.pvalue:.3g}, "
            f"Wilcoxon p = {wilcoxon.pvalue:.3g}. Median wall-time ratio float32 / bf16 per training: "
            f"{summary['median_time_ratio_fp32_over_bf16']:.2f} (whole trainings, early stopping "
            "included, so epochs differ; bench/train_speed.py measures per-epoch speed).",
        ]
    return "\n".join(lines) + "\n", summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="tabulate the finished runs (of a build still running elsewhere) without training",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench/runs/bf16_accuracy")
    parser.add_argument("--results", type=Path, default=REPO / "bench/results/bf16_accuracy")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = chosen_datasets()
    print("datasets:", ", ".join(names), flush=True)
    if args.report_only:
        records = [r for r in load_records(args.out) if r["dataset"] in names]
    else:
        records = [
            run_one(name, seed, bf16, args.out) for name in names for seed in args.seeds for bf16 in (False, True)
        ]
    text, summary = report(records, names)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".md").write_text(text)
    args.results.with_suffix(".json").write_text(json.dumps({"summary": summary, "runs": records}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
