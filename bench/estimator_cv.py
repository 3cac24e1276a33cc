"""tshub's scikit-learn estimator beside aeon's MiniRocket in one `cross_val_score` (the README's example).

aeon is not a tshub dependency (it pins an older numpy); put it beside the venv without its dependencies:

    pip install --target /tmp/aeonlib --no-deps aeon==1.6.0 deprecated
    PYTHONPATH=.:/tmp/aeonlib python bench/estimator_cv.py [--dataset GunPoint] [--source MoteStrain/fcn]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from aeon.classification.convolution_based import MiniRocketClassifier
from sklearn.model_selection import cross_val_score

import tshub

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="GunPoint")
    parser.add_argument("--source", default="MoteStrain/fcn")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/estimator_cv.md")
    args = parser.parse_args()
    X, y = tshub.datasets.load(args.dataset).split("train")
    rows = []
    for name, estimator in (
        ("MiniRocket (aeon)", MiniRocketClassifier(random_state=0)),
        (
            f"TSHubClassifier({args.source!r}, lr_multiplier=1.0)",
            tshub.TSHubClassifier(args.source, lr_multiplier=1.0, progress=False),
        ),
    ):
        t0 = time.perf_counter()
        scores = cross_val_score(estimator, X, y, cv=args.folds)
        rows.append(
            f"| {name} | {scores.mean():.3f} | {' '.join(f'{s:.2f}' for s in scores)} | "
            f"{time.perf_counter() - t0:.0f} |"
        )
    text = (
        "\n".join(
            [
                f"# cross_val_score on {args.dataset}'s training split ({len(X)} series, {args.folds} folds)",
                "",
                "`PYTHONPATH=.:/tmp/aeonlib python bench/estimator_cv.py` (one run)",
                "",
                "| estimator | mean accuracy | folds | seconds |",
                "|---|---:|---|---:|",
                *rows,
            ]
        )
        + "\n"
    )
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
