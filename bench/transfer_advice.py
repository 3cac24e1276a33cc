"""Should this target be fine-tuned from the recommended source, or trained from scratch / with MiniRocket?
(issue 14, item 4). Simple advice rules, each fitted leave-one-target-out and scored on the held-out target.

Evidence rows: (target, source, fine-tuned test accuracy, from-scratch test accuracy), means over seeds. Until the
converged transfer matrix exists (bench/transfer_matrix.py), ``--evidence finetune_vs_scratch`` uses the older
bench/results/finetune_vs_scratch.json (14 targets, one same-domain source each, 3 seeds): a SMOKE TEST of the
protocol, not its result. Labels: "transfer" when fine-tuning beats the referent strictly (ties: no).

Rules (features known before any training; thresholds chosen on the other targets to maximise their accuracy,
ties to the smaller threshold):
- ``majority``: the more frequent label among the other targets;
- ``per_class``: transfer when the target has at most t training series per class (few series: transfer helps);
- ``logme``: transfer when the source's LogME on the target's training split (``tshub.recommend``, fast path) is at
  least t.

    PYTHONPATH=$PWD .venv/bin/python bench/transfer_advice.py          # → results/transfer_advice_smoke.md
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from tshub.data.catalogue import load, ucr_summary
from tshub.recommend import recommend

RESULTS = Path(__file__).resolve().parent / "results"
MINIROCKET = Path("/work/shared/reference/minirocket_ucr.tsv")


def evidence_rows(name: str) -> list[dict]:
    if name != "finetune_vs_scratch":
        raise SystemExit("only --evidence finetune_vs_scratch exists until the transfer matrix is run")
    rows = json.loads((RESULTS / "finetune_vs_scratch.json").read_text())
    return [
        {"target": r["target"], "source": r["source"], "transfer": r["transfer"], "scratch": r["referent"]}
        for r in rows
    ]


def features(row: dict, summary: dict[str, dict]) -> dict[str, float]:
    info = summary[row["target"]]
    ds = load(row["target"])
    rec = recommend(ds, k=1, candidates=[row["source"]], allow_self_transfer=True)
    return {"per_class": int(info["Train"]) / int(info["Class"]), "logme": rec[0].score}


def threshold_rule(values: np.ndarray, labels: np.ndarray, below: bool) -> float:
    """The threshold t (among the values) maximising accuracy of ``value ≤ t`` (or ≥ t) → transfer."""
    candidates = np.sort(values) if below else np.sort(values)[::-1]
    scores = [np.mean(((values <= t) if below else (values >= t)) == labels) for t in candidates]
    return float(candidates[int(np.argmax(scores))])


def leave_one_target_out(X: dict[str, np.ndarray], y: np.ndarray) -> dict[str, np.ndarray]:
    predictions = {name: np.zeros(len(y), dtype=bool) for name in ("majority", "per_class", "logme")}
    for i in range(len(y)):
        rest = np.arange(len(y)) != i
        predictions["majority"][i] = y[rest].mean() > 0.5
        t = threshold_rule(X["per_class"][rest], y[rest], below=True)
        predictions["per_class"][i] = X["per_class"][i] <= t
        t = threshold_rule(X["logme"][rest], y[rest], below=False)
        predictions["logme"][i] = X["logme"][i] >= t
    return predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evidence", default="finetune_vs_scratch")
    parser.add_argument("--out", type=Path, default=RESULTS / "transfer_advice_smoke.md")
    args = parser.parse_args()
    rows = evidence_rows(args.evidence)
    summary = {r["Name"]: r for r in ucr_summary()}
    with MINIROCKET.open() as f:
        minirocket = {
            r["dataset"]: float(r["accuracy"])
            for r in csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t")
        }
    feats = [features(r, summary) for r in rows]
    X = {k: np.array([f[k] for f in feats]) for k in feats[0]}
    lines = [
        f"# When not to transfer: advice rules, leave-one-target-out (SMOKE TEST on {args.evidence})",
        "",
        "Not the converged transfer matrix: the older bench/results/finetune_vs_scratch.json (14 targets, one "
        "same-domain source each, 3 seeds, ω = 1, recipe ucr). Command: `PYTHONPATH=$PWD .venv/bin/python "
        "bench/transfer_advice.py`. LogME is of the zoo's checkpoint today, which may have been retrained since "
        "those fine-tunes. With 14 targets a threshold fitted on 13 can anti-learn (a rule worse than chance "
        "here says that, not that its feature predicts the opposite).",
        "",
    ]
    for against, label in (("scratch", "fine-tune beats scratch"), ("minirocket", "fine-tune beats MiniRocket")):
        if against == "scratch":
            y = np.array([r["transfer"] > r["scratch"] for r in rows])
            keep = np.arange(len(rows))
        else:
            keep = np.array([i for i, r in enumerate(rows) if r["target"] in minirocket])
            y = np.array([rows[i]["transfer"] > minirocket[rows[i]["target"]] for i in keep])
        predictions = leave_one_target_out({k: v[keep] for k, v in X.items()}, y)
        lines += [
            f"## {label}: {int(y.sum())} of {len(y)} targets",
            "",
            "| rule | LOTO accuracy | correct | binomial p vs 0.5 |",
            "|---|---|---|---|",
        ]
        for name, pred in predictions.items():
            correct = int((pred == y).sum())
            lines.append(
                f"| {name} | {correct / len(y):.2f} | {correct}/{len(y)} | {binomtest(correct, len(y)).pvalue:.3f} |"
            )
        lines.append("")
    lines += [
        "Per target: "
        + "; ".join(
            f"{r['target']} ({r['source']}): {r['transfer']:.3f} vs scratch "
            f"{r['scratch']:.3f}, per class {f['per_class']:.0f}, LogME {f['logme']:.3f}"
            for r, f in zip(rows, feats, strict=True)
        ),
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
