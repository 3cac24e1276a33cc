"""The output folder of a grid: one JSON record per finished run, its test predictions, and their analysis.

``<out>/runs/<run_id>.json`` is written atomically (temporary file + rename) when a run finishes, so a record
that exists is complete: a restarted grid skips it. ``<out>/predictions/<run_id>.npz`` holds the test labels
and predictions (``y_true``, ``y_pred``; no pickled objects) for instance-level tests. ``<out>/states/<run_id>/``
holds an unfinished run's training state (a killed run resumes from it), removed once its record is written; the
folder ignores itself in git, so an output folder can be committed while runs are going. ``<out>/states/grid.lock``
is held (an flock) by the grid that is running runs there, so that a second grid on the same folder stops at once
instead of training every unfinished run a second time.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import socket
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from tshub.atomic import write_bytes_atomic, write_text_atomic
from tshub.stats import (
    ComparisonTable,
    benjamini_krieger_yekutieli,
    instance_test,
    refuse_two_runs_of_one_setting,
    select_lr_multiplier,
)

RUNS_DIR = "runs"
PREDICTIONS_DIR = "predictions"
SOURCES_DIR = "sources"
STATES_DIR = "states"
LOCK_NAME = "grid.lock"


class OutDirInUseError(RuntimeError):
    """Another grid is running runs in the same output folder."""


def record_path(out_dir: str | Path, run_id: str) -> Path:
    return Path(out_dir) / RUNS_DIR / f"{run_id}.json"


def write_record(out_dir: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``record`` atomically to ``runs/<run_id>.json``."""
    path = record_path(out_dir, record["run_id"])
    write_text_atomic(path, json.dumps(record, indent=1))
    return path


def run_state_dir(out_dir: str | Path, run_id: str) -> Path:
    """The folder where the unfinished run ``run_id`` keeps its training state (its parent made, git-ignored)."""
    return _states(out_dir) / run_id


def _states(out_dir: str | Path) -> Path:
    """``<out>/states``, made and ignoring itself in git: what a running grid keeps there is never a result."""
    states = Path(out_dir) / STATES_DIR
    states.mkdir(parents=True, exist_ok=True)
    ignore = states / ".gitignore"
    if not ignore.exists():
        write_text_atomic(
            ignore, "# training states of unfinished runs, the lock of a running grid (tshub.experiments)\n*\n"
        )
    return states


class OutDirLock:
    """A grid's hold on its output folder while it runs runs there, taken on the first ``acquire``.

    Two grids on one folder would both train every unfinished run (each reads the same missing records), and one's
    finished run removes the training state the other is writing; so the second one stops with
    ``OutDirInUseError``. The lock is an flock: the kernel drops it when its process dies, so a killed grid never
    leaves the folder locked. Reading a finished grid's records takes no lock.
    """

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        if self._file is not None:
            return
        path = _states(self.out_dir) / LOCK_NAME
        file = open(path, "a+")  # "a": opening never clears the holder's line
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            file.close()
            raise OutDirInUseError(
                f"another grid is running runs in {self.out_dir} ({holder}; lock {path}): running both would train "
                "its unfinished runs twice. Wait for it to finish and run this grid again (finished runs are kept "
                "and only the missing ones run), or give this grid another output folder."
            ) from None
        file.truncate(0)
        file.write(
            f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        )
        file.flush()
        self._file = file

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None


def read_record(out_dir: str | Path, run_id: str) -> dict[str, Any] | None:
    """The finished record of ``run_id``, or None when it has not run (or its file is unreadable: run it again)."""
    path = record_path(out_dir, run_id)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if record.get("run_id") == run_id else None


def load_records(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every finished record of an output folder, in run-id order (e.g. to tabulate a grid run elsewhere)."""
    folder = Path(out_dir) / RUNS_DIR
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{out_dir} holds no experiment records (no {RUNS_DIR}/ folder); "
            "run a grid with tshub.experiments.run(grid, out_dir=...) first."
        )
    records = (read_record(out_dir, path.stem) for path in sorted(folder.glob("*.json")))
    return [r for r in records if r is not None]


def save_predictions(out_dir: str | Path, run_id: str, y_true: np.ndarray, y_pred: np.ndarray) -> str:
    """Store test labels and predictions; returns the path relative to ``out_dir`` (kept in the record)."""
    relative = Path(PREDICTIONS_DIR) / f"{run_id}.npz"
    buffer = io.BytesIO()
    np.savez_compressed(buffer, y_true=y_true, y_pred=y_pred)
    write_bytes_atomic(Path(out_dir) / relative, buffer.getvalue())
    return relative.as_posix()


def load_predictions(out_dir: str | Path, record: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_pred)`` of a record's test predictions."""
    if not record.get("predictions"):
        why = (
            "a source's training keeps no predictions, only its checkpoint"
            if record.get("kind") == "source"
            else "its target has no test split"
        )
        raise ValueError(f"run {record['run_id']} has no test predictions ({why}).")
    with np.load(Path(out_dir) / record["predictions"], allow_pickle=False) as data:
        return data["y_true"], data["y_pred"]


def instance_comparisons(
    records: Iterable[Mapping[str, Any]], out_dir: str | Path, alpha: float = 0.05
) -> ComparisonTable:
    """Otović et al.'s tests: each fine-tune (ω chosen on validation) against its referent on the test instances.

    Classification: Bowker symmetry test of the two models' predicted classes; regression: Wilcoxon on their
    absolute errors (see ``tshub.stats.instance_test``). One row per (source, target, arch, seed), p-values
    corrected across rows with Benjamini–Krieger–Yekutieli.
    """
    records = list(records)
    referents = {r["run_id"]: r for r in records if r.get("kind") == "referent"}
    rows = ComparisonTable()
    finetunes = refuse_two_runs_of_one_setting([r for r in records if r.get("kind") == "finetune"])
    for record in select_lr_multiplier(finetunes):
        referent = referents.get(record["referent_id"])
        if referent is None or not record.get("predictions") or not referent.get("predictions"):
            continue
        y_true, transfer = load_predictions(out_dir, record)
        _, scratch = load_predictions(out_dir, referent)
        result = instance_test(record["task"], y_true, transfer, scratch)
        rows.append(
            {key: record[key] for key in ("source", "target", "arch", "seed", "lr_multiplier")}
            | {
                "test": "bowker" if record["task"] == "classification" else "wilcoxon",
                "n": result.n,
                "statistic": result.statistic,
                "p": result.pvalue,
                "effect": result.effect,
            }
        )
    rejected, q = benjamini_krieger_yekutieli([row["p"] for row in rows], alpha)
    for row, reject, q_value in zip(rows, rejected, q):
        row["q"], row["rejected"] = float(q_value), bool(reject)
    return rows
