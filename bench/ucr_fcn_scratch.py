"""Evidence: FCN trained from scratch on UCR datasets, test accuracy next to the published 1-NN DTW accuracy.

The zoo's ``<Name>/fcn`` checkpoints are exactly these trainings (recipe "ucr", z-normalised series, validation
carved from train, official test split, a CPU time budget per model; see scripts/publish), so this report reads
their recorded test accuracy from the zoo index instead of training again. The 1-NN DTW accuracies (learned
window and full DTW) come from the archive's DataSummary_UCR.csv.

    python bench/ucr_fcn_scratch.py [--zoo zoo] [--out bench/results/ucr_fcn_scratch.md]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tshub.data.catalogue import ucr_summary


def published(row: dict) -> tuple[float, float]:
    """(1-NN DTW learned-window accuracy, 1-NN full-DTW accuracy) from the archive's error rates."""
    return 1 - float(row["DTW (learned_w)"].split()[0]), 1 - float(row["DTW (w=100)"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", default="zoo")
    parser.add_argument("--out", default="bench/results/ucr_fcn_scratch.md")
    args = parser.parse_args()

    models = json.loads((Path(args.zoo) / "index.json").read_text())["models"]
    summary = {r["Name"]: r for r in ucr_summary()}
    lines = ["# FCN from scratch (the zoo's UCR checkpoints) vs 1-NN DTW, test accuracy", "",
             "Command: `python bench/ucr_fcn_scratch.py` (reads zoo/index.json; recipe \"ucr\", one seed, a CPU "
             "time budget per model: the budget-stopped trainings are far from bigdata18's 2,000 epochs).", "",
             "| dataset | train | length | classes | FCN test acc | epochs (stop) | budget s | 1-NN DTW (learned w) "
             "| 1-NN DTW (full) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    pairs: list[tuple[float, float, str]] = []  # (FCN, 1-NN DTW learned window, stop reason)
    for m in sorted(models, key=lambda m: m["source"].casefold()):
        row = summary.get(m["source"])
        if m["arch"] != "fcn" or row is None or "accuracy" not in m.get("metrics", {}):
            continue
        acc, (dtw_w, dtw_full) = m["metrics"]["accuracy"], published(row)
        pairs.append((acc, dtw_w, str(m.get("stop_reason"))))
        lines.append(f"| {m['source']} | {row['Train']} | {row['Length']} | {row['Class']} | {acc:.3f} | "
                     f"{m.get('epochs')} ({m.get('stop_reason')}) | {m.get('time_budget_s')} | {dtw_w:.3f} | "
                     f"{dtw_full:.3f} |")
    lines += ["", "| trainings | datasets | FCN wins / ties / losses vs 1-NN DTW (learned w) | mean FCN acc "
              "| mean 1-NN DTW acc |", "|---|---:|---:|---:|---:|"]
    groups = {"all": pairs, "converged (early stopping)": [p for p in pairs if p[2] == "early_stopping"],
              "stopped by the time budget": [p for p in pairs if p[2] == "time_budget"]}
    for label, group in groups.items():
        if group:
            w, t = sum(a > d for a, d, _ in group), sum(a == d for a, d, _ in group)
            lines.append(f"| {label} | {len(group)} | {w} / {t} / {len(group) - w - t} | "
                         f"{sum(a for a, _, _ in group) / len(group):.3f} | {sum(d for _, d, _ in group) / len(group):.3f} |")
    text = "\n".join(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
