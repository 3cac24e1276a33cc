"""Evidence: tshub's MiniRocket (tshub/baselines.py, written because aeon cannot be installed beside tshub's pins)
scores as aeon's MiniRocketClassifier does, on the UCR sets of the vendored reference table.

Rule (fixed before the run): every set of tshub/recommender/minirocket_ucr.tsv (aeon 1.6.0 MiniRocketClassifier,
random_state 0, official splits) with at most 1000 training series and a length of at most 1000 (the transfer
matrix's eligibility: the sizes tshub's users bring), sorted by name; tshub's MiniRocket with seed 0 fitted on the
official TRAIN split and scored on TEST. Both are randomised (biases from random training series), so the two
accuracies of a set differ by chance; the paired tests say whether they differ more than that.

    PYTHONPATH=$PWD python bench/minirocket_parity.py    # → bench/results/minirocket_parity.{md,json}
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from tshub.baselines import minirocket
from tshub.data.catalogue import load, ucr_summary
from tshub.recommender.advice import minirocket_references
from tshub.recommender.advice_rules import MINIROCKET_TIE
from tshub.stats import wilcoxon_signed_rank, win_tie_loss

RESULTS = Path(__file__).resolve().parent / "results" / "minirocket_parity"
MAX_TRAIN, MAX_LENGTH = 1000, 1000


def eligible() -> list[str]:
    sizes = {r["Name"]: (int(r["Train"]), r["Length"]) for r in ucr_summary()}
    return sorted(
        (
            name
            for name in minirocket_references()
            if name in sizes
            and sizes[name][1].isdigit()
            and sizes[name][0] <= MAX_TRAIN
            and int(sizes[name][1]) <= MAX_LENGTH
        ),
        key=str.casefold,
    )


def main() -> None:
    reference = minirocket_references()
    rows = []
    for name in eligible():
        start = time.perf_counter()
        ours = minirocket(load(name), seed=0).metrics["accuracy"]
        rows.append({"dataset": name, "tshub": ours, "aeon": reference[name], "seconds": time.perf_counter() - start})
        print(f"{name}: tshub {ours:.4f} aeon {reference[name]:.4f} ({rows[-1]['seconds']:.1f} s)", flush=True)
    ours, theirs = np.array([r["tshub"] for r in rows]), np.array([r["aeon"] for r in rows])
    outcome = win_tie_loss(list(ours), list(theirs), MINIROCKET_TIE)
    summary = {
        "datasets": len(rows),
        "mean_tshub": float(ours.mean()),
        "mean_aeon": float(theirs.mean()),
        "mean_abs_difference": float(np.abs(ours - theirs).mean()),
        "wins": outcome.wins,
        "ties": outcome.ties,
        "losses": outcome.losses,
        "sign_p": outcome.pvalue,
        "wilcoxon_p": wilcoxon_signed_rank(list(ours), list(theirs)).pvalue,
        "seconds_median": float(np.median([r["seconds"] for r in rows])),
    }
    RESULTS.with_suffix(".json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    lines = [
        "# tshub's MiniRocket vs aeon's (test accuracy, official UCR splits)",
        "",
        f"`PYTHONPATH=$PWD python bench/minirocket_parity.py` on {platform.machine()} (the machine shared with a "
        "zoo build). aeon: the vendored reference table (aeon 1.6.0 MiniRocketClassifier, random_state 0), not "
        "re-run; tshub: tshub.baselines.minirocket, seed 0. Rule: bench/minirocket_parity.py (docstring).",
        "",
        f"**{summary['datasets']} sets: mean accuracy tshub {summary['mean_tshub']:.4f}, aeon {summary['mean_aeon']:.4f}; "
        f"mean |difference| {summary['mean_abs_difference']:.4f}; tshub W/T/L {summary['wins']}/{summary['ties']}/"
        f"{summary['losses']} (sign p = {summary['sign_p']:.3g}, Wilcoxon p = {summary['wilcoxon_p']:.3g}); median "
        f"{summary['seconds_median']:.1f} s per set (transform, ridge and scoring).**",
        "",
        "| dataset | tshub | aeon | difference | seconds |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {r['dataset']} | {r['tshub']:.4f} | {r['aeon']:.4f} | {r['tshub'] - r['aeon']:+.4f} | {r['seconds']:.1f} |"
            for r in rows
        ),
    ]
    RESULTS.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:7]))


if __name__ == "__main__":
    main()
