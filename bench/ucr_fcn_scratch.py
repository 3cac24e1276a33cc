"""Evidence: the zoo's UCR FCNs (trained from scratch) next to 1-NN DTW, MiniRocket and the paper's FCN mean.

The zoo's ``<Name>/fcn`` checkpoints are exactly these trainings (recipe "ucr", z-normalised series, validation
carved from train, official test split; see scripts/publish), so this report reads their recorded test accuracy
from the zoo index instead of training again. References: the archive's 1-NN DTW accuracies (DataSummary_UCR.csv);
MiniRocket (aeon 1.6.0, ../shared/reference/minirocket_ucr.tsv), what a user would otherwise run; and over the 76
UCR 2015 sets with a test split here (../shared/reference/ucr2015_85.txt), bigdata18's FCN mean, 0.813. Each row
says how its training ended: "converged" (early stopping) for the converged build, "time budget, not converged"
for a 90-second checkpoint the build has not replaced yet, and "all series" when the FCN trained on every training
series and selected its weights on them (the zoo's rule for sets of at most 200, as bigdata18 trained) rather than
on a held-out fifth. Train-only sets (marked *) are tested on a split carved from their training data, so their
numbers are not comparable with the references.

    python bench/ucr_fcn_scratch.py [--zoo zoo] [--out bench/results/ucr_fcn_scratch.md] [--before 51e12bf ...]

``--before REV`` (repeatable) adds, for the checkpoints rebuilt since the zoo index of git revision REV, their
accuracy then and now (51e12bf: the last zoo trained under a 90-second budget per model; 35f1d01: the zoo before
the FCNs of at most 200 training series were rebuilt on every training series).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
from pathlib import Path

from tshub.data.catalogue import TRAIN_ONLY, list_datasets, ucr_summary
from tshub.hub.checkpoint import read_config
from tshub.hub.store import TRAINING_STATUS

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
PAPER_FCN_MEAN_76 = 0.813  # ucr2015_85.txt: bigdata18's from-scratch FCN mean over the 76 'T' sets


def published(row: dict) -> tuple[float, float]:
    """(1-NN DTW learned-window accuracy, 1-NN full-DTW accuracy) from the archive's error rates."""
    return 1 - float(row["DTW (learned_w)"].split()[0]), 1 - float(row["DTW (w=100)"])


def minirocket() -> dict[str, float]:
    path = REFERENCE / "minirocket_ucr.tsv"
    if not path.is_file():
        return {}
    rows = csv.DictReader((line for line in path.read_text().splitlines() if not line.startswith("#")), delimiter="\t")
    return {r["dataset"]: float(r["accuracy"]) for r in rows}


def ucr2015_with_test() -> set[str]:
    path = REFERENCE / "ucr2015_85.txt"
    return (
        {line.split()[1] for line in path.read_text().splitlines() if line.startswith("T ")}
        if path.is_file()
        else set()
    )


def summary_row(label: str, group: list[dict]) -> str:
    def mean(key: str) -> str:
        values = [g[key] for g in group if g[key] is not None]
        return f"{sum(values) / len(values):.3f} ({len(values)})" if values else "—"

    wins_dtw = sum(g["fcn"] > g["dtw"] for g in group)
    ties_dtw = sum(g["fcn"] == g["dtw"] for g in group)
    rocket = [g for g in group if g["minirocket"] is not None]
    wins_mr = sum(g["fcn"] > g["minirocket"] for g in rocket)
    ties_mr = sum(g["fcn"] == g["minirocket"] for g in rocket)
    return (
        f"| {label} | {len(group)} | {mean('fcn')} | {mean('dtw')} | {mean('minirocket')} | "
        f"{wins_dtw} / {ties_dtw} / {len(group) - wins_dtw - ties_dtw} | "
        f"{wins_mr} / {ties_mr} / {len(rocket) - wins_mr - ties_mr} |"
    )


def rebuilt_since(rev: str, zoo: str, models: list[dict], all_series: set[str]) -> list[str]:
    """Mean accuracy then and now of the FCNs whose weights changed since the zoo index of ``rev``: all of them,
    those that had stopped at their time budget, and those that had converged then and now trained on every
    training series (``all_series``: their ids), the effect of that change alone."""
    index = subprocess.run(["git", "show", f"{rev}:{zoo}/index.json"], capture_output=True, text=True, check=True)
    before = {r["id"]: r for r in json.loads(index.stdout)["models"]}
    pairs = [
        (before[m["id"]], m)
        for m in models
        if m["arch"] == "fcn"
        and m["id"] in before
        and before[m["id"]].get("weights_sha256") != m.get("weights_sha256")
        and "accuracy" in (before[m["id"]].get("metrics") or {})
    ]
    if not pairs:
        return [f"No FCN was rebuilt since {rev}."]
    budget = [(b, m) for b, m in pairs if b.get("stop_reason") == "time_budget"]
    full = [(b, m) for b, m in pairs if b.get("stop_reason") != "time_budget" and m["id"] in all_series]
    line = f"Rebuilt since {rev}: {len(pairs)} FCNs, mean test accuracy {_then_now(pairs)}"
    if budget:
        line += f"; the {len(budget)} that had stopped at their time budget: {_then_now(budget)}"
    if full:
        line += f"; the {len(full)} that had converged and now trained on every training series: {_then_now(full)}"
    return [line + "."]


def _then_now(pairs: list[tuple[dict, dict]]) -> str:
    then = [b["metrics"]["accuracy"] for b, _ in pairs]
    now = [m["metrics"]["accuracy"] for _, m in pairs]
    wins, ties = sum(n > t for t, n in zip(then, now)), sum(n == t for t, n in zip(then, now))
    return (
        f"{sum(then) / len(then):.3f} then → {sum(now) / len(now):.3f} now "
        f"(better / same / worse {wins} / {ties} / {len(pairs) - wins - ties})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", default="zoo")
    parser.add_argument("--out", default="bench/results/ucr_fcn_scratch.md")
    parser.add_argument(
        "--before", metavar="REV", action="append", default=[], help="compare with the zoo index of this git revision"
    )
    args = parser.parse_args()

    models = json.loads((Path(args.zoo) / "index.json").read_text())["models"]
    summary, rocket, paper_sets = {r["Name"]: r for r in ucr_summary()}, minirocket(), ucr2015_with_test()
    train_only_sets = {d["name"] for d in list_datasets() if d["collection"] == TRAIN_ONLY}
    rows = []
    for m in sorted(models, key=lambda m: m["source"].casefold()):
        row = summary.get(m["source"])
        if m["arch"] != "fcn" or row is None or "accuracy" not in (m.get("metrics") or {}):
            continue
        dtw_w, dtw_full = published(row)
        train_only = m["source"] in train_only_sets
        rows.append(
            {
                "name": m["source"],
                "train": row["Train"],
                "length": row["Length"],
                "classes": row["Class"],
                "fcn": m["metrics"]["accuracy"],
                "dtw": dtw_w,
                "dtw_full": dtw_full,
                "minirocket": rocket.get(m["source"]),
                "epochs": m.get("epochs"),
                "status": TRAINING_STATUS.get(m.get("stop_reason"), m.get("stop_reason")),
                "all_series": bool(read_config(Path(args.zoo) / m["id"])["meta"].get("validation_is_train")),
                "train_only": train_only,
                "paper_set": m["source"] in paper_sets,
            }
        )

    lines = [
        "# The zoo's UCR FCNs (from scratch) vs 1-NN DTW, MiniRocket and the paper's FCN mean, test accuracy",
        "",
        'Command: `python bench/ucr_fcn_scratch.py` (reads zoo/index.json). Recipe "ucr", one seed. Means are '
        "over the rows of each group that have the reference (count in brackets); W/T/L is the FCN's.",
        "",
        "| group | FCNs | mean FCN | mean 1-NN DTW (learned w) | mean MiniRocket | W/T/L vs DTW | W/T/L vs MiniRocket |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    tested = [r for r in rows if not r["train_only"]]
    groups = {
        "all with an official test split": tested,
        f"the 76 UCR 2015 sets (paper's FCN mean {PAPER_FCN_MEAN_76})": [r for r in tested if r["paper_set"]],
    }
    for status in dict.fromkeys(r["status"] for r in tested):
        groups[f"training: {status}"] = [r for r in tested if r["status"] == status]
    groups["selected on every training series"] = [r for r in tested if r["all_series"]]
    groups["selected on a held-out fifth"] = [r for r in tested if not r["all_series"]]
    lines += [summary_row(label, group) for label, group in groups.items() if group]
    all_series = {f"{r['name']}/fcn" for r in rows if r["all_series"]}
    for rev in args.before:
        lines += ["", *rebuilt_since(rev, args.zoo, models, all_series)]
    lines += [
        "",
        "| dataset | train | length | classes | FCN | training (epochs) | 1-NN DTW (learned w) | "
        "1-NN DTW (full) | MiniRocket |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        mr = "—" if r["minirocket"] is None else f"{r['minirocket']:.3f}"
        lines.append(
            f"| {r['name']}{' *' if r['train_only'] else ''} | {r['train']} | {r['length']} | "
            f"{r['classes']} | {r['fcn']:.3f} | {r['status']} ({r['epochs']}{'; all series' if r['all_series'] else ''})"
            f" | {r['dtw']:.3f} | "
            f"{r['dtw_full']:.3f} | {mr} |"
        )
    text = "\n".join(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
