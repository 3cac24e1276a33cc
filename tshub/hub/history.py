"""A training's per-epoch curves, kept with the model it produced (``model.training_history``).

The checkpoint stores them as an optional ``training_history.json`` beside ``config.json`` (as transformers keeps
``trainer_state.json``): the training loss, every validation metric, the learning rate and each epoch's time,
one list per quantity (columns, not rows: a 250-epoch history stays a few kB), with the epoch whose weights were
kept and why training stopped. Floats keep 6 significant digits; a non-finite value (a diverged loss) is null.

The file may come from a stranger, so ``from_dict`` checks every field and bounds its size.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

HISTORY_FORMAT = 1
MAX_EPOCHS = 1_000_000  # far above any recipe, far below what a page or a client cannot hold
SIGNIFICANT_DIGITS = 6


@dataclass
class TrainingHistory:
    """``curves`` maps a history key (``loss``, ``val_loss``, ``val_accuracy``, ``lr``, ``time_s``, ...) to one value
    per epoch (None where the epoch has none, or it was not finite); ``best_epoch`` is the 1-based epoch of the
    kept weights (None: the last); ``note`` says what a reader must know to read the curves (e.g. their scale)."""

    epochs: int
    curves: dict[str, list[float | None]]
    best_epoch: int | None = None
    stop_reason: str | None = None
    note: str | None = None

    @classmethod
    def from_records(
        cls, records: list[dict[str, Any]], best_epoch: int | None, stop_reason: str | None
    ) -> TrainingHistory:
        """From ``fit``'s history records. A learning rate per parameter group (``{"transferred": lr, ...}``)
        becomes ``lr_<group>``, a single group's just ``lr``."""
        flat = [_flatten(record) for record in records]
        keys = list(dict.fromkeys(key for record in flat for key in record if key != "epoch"))
        curves = {key: [_rounded(record.get(key)) for record in flat] for key in keys}
        return cls(epochs=len(records), curves=curves, best_epoch=best_epoch, stop_reason=stop_reason)

    @property
    def kept_epoch(self) -> int:
        """The epoch whose weights the model holds (the last one when training kept no best)."""
        return self.best_epoch or self.epochs

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": HISTORY_FORMAT,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "stop_reason": self.stop_reason,
            "note": self.note,
            "curves": self.curves,
        }

    def to_json(self) -> str:
        """The file's text: one line per field and per curve, so a committed history diffs readably."""
        head = {k: v for k, v in self.to_dict().items() if k != "curves"}
        lines = [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
        curves = [f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in self.curves.items()]
        return "{\n" + "\n".join(lines) + '\n  "curves": {\n' + ",\n".join(curves) + "\n  }\n}\n"

    @classmethod
    def from_dict(cls, data: Any) -> TrainingHistory:
        """Check a parsed file; ValueError says which field is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        if data.get("format") != HISTORY_FORMAT:
            raise ValueError(f"format {data.get('format')!r} is not {HISTORY_FORMAT}, the one this tshub reads")
        epochs: Any = data.get("epochs")  # checked just below
        best, curves = data.get("best_epoch"), data.get("curves")
        if not _whole(epochs, 0, MAX_EPOCHS):
            raise ValueError(f"epochs must be a whole number in [0, {MAX_EPOCHS:,}], got {epochs!r}")
        if best is not None and not _whole(best, 1, epochs):
            raise ValueError(f"best_epoch must be null or a whole number in [1, {epochs}], got {best!r}")
        for key in ("stop_reason", "note"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ValueError(f"{key} must be null or a string, got {type(data[key]).__name__}")
        if not isinstance(curves, dict):
            raise ValueError("curves must be an object of per-epoch lists")
        for key, values in curves.items():
            if (
                not isinstance(values, list)
                or len(values) != epochs
                or not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values)
            ):
                raise ValueError(f"curves[{key!r}] must be a list of {epochs} numbers or nulls")
        return cls(
            epochs=epochs,
            curves={k: [None if v is None else float(v) for v in vs] for k, vs in curves.items()},
            best_epoch=best,
            stop_reason=data.get("stop_reason"),
            note=data.get("note"),
        )

    @classmethod
    def from_json(cls, text: str) -> TrainingHistory:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"not valid JSON ({err})") from None
        return cls.from_dict(data)

    def curve(self, key: str) -> list[float]:
        """The values of ``key`` per epoch, NaN where absent (plots leave gaps there); [] when not recorded."""
        return [math.nan if v is None else v for v in self.curves.get(key, [])]

    def lr_changes(self) -> list[tuple[int, float]]:
        """``(epoch, new learning rate)`` wherever the (base group's) learning rate differs from the epoch before."""
        key = "lr" if "lr" in self.curves else "lr_new" if "lr_new" in self.curves else None
        values = self.curves.get(key, []) if key else []
        return [
            (i + 1, v)
            for i, (before, v) in enumerate(zip([None, *values], values))
            if before is not None and v is not None and v != before
        ]


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    lr = record.get("lr")
    if not isinstance(lr, dict):
        return record
    flat = {k: v for k, v in record.items() if k != "lr"}
    flat.update({"lr": next(iter(lr.values()))} if len(lr) == 1 else {f"lr_{name}": v for name, v in lr.items()})
    return flat


def _rounded(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
