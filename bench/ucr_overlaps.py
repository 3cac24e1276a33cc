"""Evidence: how many test series of the UCR archive's published splits are exact copies of training series or
overlap one (``tshub.data.overlap``: a held-out series whose first or last half occurs, in order, in a training
series), as ``read_split_files`` says when a user gives these files as their own, and what the overlap check costs;
and how many training series repeat or overlap one another, as the random validation carve says
(``tshub.data.splits.split_order_for``).

Every set of UCRArchive_2018 under the data root, its TRAIN and TEST files read with ``read_split_files`` (padding
and gaps as the catalogue reads them; the checks see the series as read, before either is touched), and the
catalogue's set (``load``) resolved for its validation carve, their warnings recorded.

    PYTHONPATH=$PWD python bench/ucr_overlaps.py    # → bench/results/ucr_overlaps.md
"""

from __future__ import annotations

import argparse
import re
import time
import warnings
from pathlib import Path
from typing import Any

from tshub.data.catalogue import FULL, data_root, load
from tshub.data.readers import assemble, read_split_files
from tshub.data.splits import split_order_for

RESULTS = Path(__file__).resolve().parent / "results" / "ucr_overlaps.md"
SAID = {
    "copies": re.compile(r"(\d+) of the (\d+) series of the 'test' file .* are exact copies"),
    "overlapping": re.compile(r"(\d+) of the (\d+) series of the 'test' file .* share \d+ or more consecutive values"),
    "within_train": re.compile(r"(\d+) of the (\d+) series tshub carves held-out splits from repeat another"),
}


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    root = data_root()
    if root is None or not (root / FULL).is_dir():
        raise SystemExit("no UCRArchive_2018 under the data root: set TSHUB_DATA (../shared/data).")
    spent = [0.0]
    check = assemble.overlapping_training

    def timed(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return check(*args)
        finally:
            spent[0] += time.perf_counter() - started

    assemble.overlapping_training = timed
    rows, sets = [], 0
    for folder in sorted(p for p in (root / FULL).iterdir() if p.is_dir()):
        files = {split: next(folder.glob(f"{folder.name}_{split.upper()}.tsv*"), None) for split in ("train", "test")}
        if None in files.values():
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = read_split_files(files, variable_length="pad", missing="interpolate")
            split_order_for(load(folder.name), "auto")
        sets += 1
        counts = {key: 0 for key in SAID}
        for warning in caught:
            for key, pattern in SAID.items():
                if match := pattern.search(str(warning.message)):
                    counts[key] = int(match.group(1))
        if any(counts.values()):
            rows.append((folder.name, len(ds.splits["train"]), len(ds.splits["test"]), *counts.values()))
    lines = [
        "# UCR series that copy or overlap training series",
        "",
        "Command: `PYTHONPATH=$PWD python bench/ucr_overlaps.py`  ",
        f"{sets} sets read as a user's own files; the test files' overlap check took {spent[0]:.1f} s for all (one "
        "core). Sets with exact copies or overlaps only; an overlap: the first or last half of a test series occurs, "
        "in order, in a training series (beyond exact copies); within the training split (the catalogue's set, "
        "as the random validation carve sees it): series repeating another or whose first or last half occurs "
        "elsewhere among them, counted where the carve warns (at least 1 % and 2 of the rows).",
        "",
        "| set | training series | test series | test: exact copies | test: overlapping by half or more | "
        "training series repeating or overlapping another |",
        "|---|---|---|---|---|---|",
        *["| " + " | ".join(map(str, row)) + " |" for row in rows],
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
