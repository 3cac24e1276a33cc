"""Would the zoo's FCNs score higher with "precise" BatchNorm statistics? Each UCR FCN of the zoo evaluated on its
test split with the running statistics it was stored with (a momentum-0.1 running average over its last training
batches) and with statistics re-estimated on its whole training split under its final weights (batches of 16, the
recipe's, one pass: ``tshub.training.batchnorm.estimate_statistics``; Wu & Johnson 2021, "Rethinking 'batch' in
BatchNorm"). Development sets only: the UCR FCNs outside bigdata18's 85 of UCR 2015, so the 76 sets the zoo is
judged on stay unseen by the decision; paired wins/ties/losses and a sign test.

    python bench/precise_batchnorm.py     # → bench/results/precise_batchnorm.{md,json}
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts/publish"))
from zoo_train import load_source  # noqa: E402

from tshub.data.preprocess import make_preprocessor  # noqa: E402
from tshub.hub import load_pretrained  # noqa: E402
from tshub.stats import win_tie_loss  # noqa: E402
from tshub.training.batchnorm import estimate_statistics  # noqa: E402

UCR2015 = REPO.parent / "shared" / "reference" / "ucr2015_85.txt"
BATCH = 16  # recipe "ucr"'s batch size


def development_checkpoints() -> list[str]:
    """The zoo's UCR FCN sources outside UCR 2015, sorted by name."""
    ucr2015 = set(UCR2015.read_text().split())
    index = json.loads((REPO / "zoo" / "index.json").read_text())["models"]
    return sorted(
        (
            m["source"]
            for m in index
            if m["arch"] == "fcn" and str(m["domain"]).startswith("UCR") and m["source"] not in ucr2015
        ),
        key=str.casefold,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=REPO / "bench/results/precise_batchnorm")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name in development_checkpoints():
        ds = load_source(name)
        model = load_pretrained(REPO / "zoo" / name / "fcn")
        X_test, y_test = ds.split("test", labels=True)[:2]
        stored = float(np.mean(model.predict(X_test) == y_test))
        precise = copy.deepcopy(model)
        X, stream_max = make_preprocessor(precise.preprocessor).transform(ds.split("train")[0])
        order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
        inputs = torch.as_tensor(X, dtype=torch.float32)[order]
        extra = None if stream_max is None else torch.as_tensor(stream_max, dtype=torch.float32)[order]
        estimate_statistics(precise, inputs, extra, batch_size=BATCH)
        row = {"dataset": name, "n_train": len(X), "stored": stored}
        row["precise"] = float(np.mean(precise.predict(X_test) == y_test))
        rows.append(row)
        print(f"{name}: {stored:.3f} → {row['precise']:.3f}", flush=True)
    stored, precise = (np.array([r[k] for r in rows]) for k in ("stored", "precise"))
    paired = win_tie_loss(precise, stored)
    summary = {
        "n": len(rows),
        "stored": float(stored.mean()),
        "precise": float(precise.mean()),
        "wins": paired.wins,
        "ties": paired.ties,
        "losses": paired.losses,
        "sign_p": paired.pvalue,
    }
    args.results.with_suffix(".json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    lines = [
        "# Stored vs precise BatchNorm statistics, zoo FCNs on development sets",
        "",
        f"`python bench/precise_batchnorm.py` — the {len(rows)} UCR FCNs of the zoo outside UCR 2015; test accuracy "
        "with the running statistics stored in the checkpoint and with statistics re-estimated on the whole training "
        f"split (batches of {BATCH}, one pass). Train-only sets: the test split carved from train, as their cards.",
        "",
        f"Mean test accuracy stored **{summary['stored']:.4f}**, precise **{summary['precise']:.4f}**; precise "
        f"better / same / worse {paired.wins} / {paired.ties} / {paired.losses}, sign test p = {summary['sign_p']:.2g}.",
        "",
        "| dataset | training series | stored | precise |",
        "|---|---:|---:|---:|",
        *(f"| {r['dataset']} | {r['n_train']} | {r['stored']:.4f} | {r['precise']:.4f} |" for r in rows),
    ]
    args.results.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
