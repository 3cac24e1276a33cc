"""Evidence for the fine-tune's defaults on data in other units than the source's (README, "Which regression
learns a relative target", "The stream_max input can be dropped").

1. SP500/fcn (relative target) fine-tuned on SEISMIC-CX magnitudes, ω = 1, 2 epochs: the source's relative target
   kept (``relative_target=True``, what every fine-tune did before the default chose) against the default (the
   magnitudes do not follow their seismograms' level, so they are learned standardised), beside the training mean.
2. EMG/fcn (stream_max input) fine-tuned on GunPoint as it is and × 10⁴ (the same series in other units), 15
   epochs of the "default" recipe: with the source's raw stream_max input and without it (``use_stream_max=False``).
3. EMG/fcn fine-tuned on S&P 500 windows (every 8th training window, every 4th validation one, the whole test split;
   4 epochs of "default"), whose targets follow their level, so they are learned relative: with the raw stream_max
   (``use_stream_max=True``, what the source's input gave before the default dropped it beside a relative target)
   and by default, beside the persistence forecast and SP500/tcn (the zoo's, relative and without stream_max).

Test metrics of one seed each (seconds per run on a CPU core).

    python bench/target_frame.py --threads 1  # → bench/results/target_frame.md
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch

import tshub
from tshub.data import Dataset

RESULTS = Path(__file__).resolve().parent / "results" / "target_frame.md"


def magnitudes() -> list[str]:
    ds = tshub.datasets.load("SEISMIC-CX")
    (_, y_train), (_, y_test) = ds.split("train"), ds.split("test")
    rows = [f"| training mean | – | {np.mean(np.abs(y_test - y_train.mean())):.3f} |"]
    for label, relative in (("kept (relative_target=True)", True), ("default (None: standardised here)", None)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = tshub.finetune(
                "SP500/fcn", ds, lr_multiplier=1.0, max_epochs=2, relative_target=relative, progress=False
            )
        rows.append(f"| SP500/fcn, relative target {label} | 2 | {result.metrics['mae']:,.3f} |")
    return ["| SEISMIC-CX magnitudes | epochs | test MAE |", "|---|---:|---:|", *rows]


def units() -> list[str]:
    ds = tshub.datasets.load("GunPoint")
    (X, y), (X_test, y_test) = ds.split("train", labels=True), ds.split("test", labels=True)
    splits = {"train": np.arange(len(X)), "test": np.arange(len(X), len(X) + len(X_test))}
    rows = []
    for scale, stream_max in ((1.0, None), (1e4, None), (1e4, False)):
        data = Dataset.from_arrays(np.concatenate([X, X_test]) * scale, np.concatenate([y, y_test]), splits=splits)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = tshub.finetune(
                "EMG/fcn", data, max_epochs=15, recipe="default", use_stream_max=stream_max, progress=False
            )
        kept = "kept (the source's)" if stream_max is None else "dropped (use_stream_max=False)"
        rows.append(f"| GunPoint × {scale:g} | {kept} | {result.metrics['accuracy']:.3f} |")
    return ["| EMG/fcn fine-tuned on | stream_max input | test accuracy |", "|---|---|---:|", *rows]


def prices() -> list[str]:
    ds = tshub.datasets.load("SP500")
    every = {"train": ds.splits["train"][::8], "val": ds.splits["val"][::4], "test": ds.splits["test"]}
    data = ds.with_splits(every)
    X_test, y_test = data.split("test")
    rows = [f"| persistence (next close = last close) | – | {np.mean(np.abs(X_test[:, 0, -1] - y_test)):.2f} |"]
    for source, stream_max in (("EMG/fcn", True), ("EMG/fcn", None), ("SP500/tcn", None)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = tshub.finetune(
                source, data, max_epochs=4, recipe="default", use_stream_max=stream_max, progress=False
            )
        kept = (
            "given (use_stream_max=True)"
            if stream_max
            else "default: " + ("dropped" if not result.model.use_stream_max else "kept")
        )
        rows.append(f"| {source} | {kept} | {result.metrics['mae']:,.2f} |")
    return ["| S&P 500 windows, relative target | stream_max input | test MAE |", "|---|---|---:|", *rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = [
        "# Fine-tuning onto data in other units: the relative target and the stream_max input",
        "",
        f"`python bench/target_frame.py --threads {args.threads}`; torch {torch.__version__}, seed 0, ω = 1.",
        "",
        *magnitudes(),
        "",
        *units(),
        "",
        *prices(),
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
