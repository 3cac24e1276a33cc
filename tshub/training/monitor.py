"""What training watches and when it reacts, with Keras semantics (the reference recipes are Keras callbacks).

Keras' ReduceLROnPlateau, EarlyStopping and ModelCheckpoint count an epoch as an improvement only when the
monitored value beats the best one by more than an *absolute* ``min_delta``, and fire once ``wait >= patience``
(PyTorch's ``ReduceLROnPlateau`` fires at ``> patience`` with a relative threshold by default).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from tshub.training.metrics import metric_names

if TYPE_CHECKING:
    from tshub.training.recipes import TrainConfig

Mode = Literal["min", "max"]

#: History keys whose larger values are better; every other monitored key (losses, errors) is minimised.
HIGHER_IS_BETTER = ("accuracy", "f1_weighted")
#: The loss without the weight penalty, which ``evaluate`` reports beside "loss" for a model with one.
DATA_LOSS = "data_loss"


@dataclass(frozen=True)
class Monitor:
    """A history key to watch, its direction, and an optional lower-is-better key that breaks exact ties.

    The tie-break matters for accuracy on small validation sets: many epochs share the same accuracy, and among
    them the one with the lower validation loss is the better model (and still counts as progress).
    """

    key: str
    mode: Mode
    tie_break: str | None = None
    #: Read the validation loss without the model's weight penalty (``DATA_LOSS``) where a record has it.
    unpenalised: bool = False

    @classmethod
    def resolve(cls, name: str, task: str, *, tie_break: bool = True) -> Monitor:
        """``"auto"`` is Otović's choice: ``val_accuracy`` for classification, ``val_loss`` for regression."""
        if name == "auto":
            name = "val_accuracy" if task == "classification" else "val_loss"
        recorded = ("loss", "val_loss", *(f"val_{metric}" for metric in metric_names(task)))
        if name not in recorded:
            raise ValueError(
                f"cannot monitor {name!r} when training for {task}: its history records {', '.join(recorded)}."
            )
        mode: Mode = "max" if name.endswith(HIGHER_IS_BETTER) else "min"
        secondary = "val_loss" if tie_break and mode == "max" and name.startswith("val_") else None
        return cls(name, mode, secondary)

    @property
    def needs_validation(self) -> bool:
        return self.key.startswith("val_")

    def improved(self, record: dict[str, Any], best: dict[str, Any] | None, min_delta: float = 0.0) -> bool:
        """True when ``record`` beats ``best`` by more than ``min_delta`` (or ties it and wins the tie-break).

        A diverged record (NaN or infinite key or tie-break) never improves and any finite one beats it: its
        accuracy can look finite (NaN logits argmax to class 0), and NaN compares false both ways.
        """
        if not self.finite(record):
            return False
        if best is None or not self.finite(best):
            return True
        sign = 1.0 if self.mode == "max" else -1.0
        gain = sign * (self.value(record, self.key) - self.value(best, self.key))
        if gain > min_delta:
            return True
        if self.tie_break is None or gain < 0:
            return False
        return self.value(best, self.tie_break) - self.value(record, self.tie_break) > min_delta

    def finite(self, record: dict[str, Any]) -> bool:
        """Whether the record's monitored value and tie-break are finite numbers."""
        return all(math.isfinite(self.value(record, k)) for k in (self.key, self.tie_break) if k is not None)

    def value(self, record: dict[str, Any], key: str) -> float:
        """``record[key]``; for an ``unpenalised`` monitor, the validation loss without the weight penalty where the
        record has it (a model with one, e.g. ConvNetQuake's L2)."""
        if self.unpenalised and key == "val_loss":
            return float(record.get(f"val_{DATA_LOSS}", record[key]))
        return float(record[key])


def omega_selector(task: str) -> Monitor:
    """What ω (and any choice among trainings) is chosen on: training's validation monitor ("auto", ties broken by
    the loss), the loss read without the weight penalty, which ω moves (smaller kernels are no better model)."""
    return replace(Monitor.resolve("auto", task, tie_break=True), unpenalised=True)


class Plateau:
    """Counts epochs without improvement of a monitor (Keras: reset on improvement, ``wait += 1`` otherwise)."""

    def __init__(self, monitor: Monitor, patience: int | None, min_delta: float = 0.0):
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.best: dict[str, Any] | None = None
        self.wait = 0

    def update(self, record: dict[str, Any]) -> bool:
        """Record one epoch; returns whether it improved on the best so far."""
        if self.monitor.improved(record, self.best, self.min_delta):
            self.best, self.wait = record, 0
            return True
        self.wait += 1
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.wait = state["best"], state["wait"]

    @property
    def exhausted(self) -> bool:
        """``wait >= patience`` after an epoch without improvement (``wait > 0``): the moment Keras reduces the
        learning rate or stops, which it checks only on such epochs, so patience 0 acts at the first one."""
        return self.patience is not None and self.wait >= max(self.patience, 1)


class ReduceLROnPlateau(Plateau):
    """Keras' ReduceLROnPlateau (cooldown 0): after ``patience`` epochs without improvement (beyond the absolute
    ``min_delta``) the base rate becomes ``max(lr · factor, min_lr)`` and the count restarts; at ``min_lr`` it stays."""

    def __init__(
        self, monitor: Monitor, lr: float, *, factor: float, patience: int, min_lr: float, min_delta: float = 1e-4
    ):
        super().__init__(monitor, patience, min_delta)
        self.lr, self.factor, self.min_lr = lr, factor, min_lr

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "lr": self.lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.lr = state["lr"]

    def step(self, record: dict[str, Any]) -> float:
        """Record one epoch; returns the base learning rate for the next one."""
        self.update(record)
        if self.exhausted and self.lr > self.min_lr:
            self.lr = max(self.lr * self.factor, self.min_lr)
            self.wait = 0
        return self.lr


@dataclass(frozen=True)
class RecipeMonitors:
    """A recipe's callbacks, as Keras' ModelCheckpoint, ReduceLROnPlateau and EarlyStopping: the best epoch to keep,
    the learning-rate plateau (None without ``lr_patience``) and early stopping (None without a patience)."""

    checkpoint: Plateau
    scheduler: ReduceLROnPlateau | None
    stopper: Plateau | None

    @classmethod
    def of(cls, config: TrainConfig, monitor: Callable[[str], Monitor]) -> RecipeMonitors:
        """The callbacks of ``config``, each watching ``monitor(key)`` of its key (``config.monitor`` where the
        recipe names none of its own): the one place both training loops build them."""
        checkpoint = Plateau(monitor(config.checkpoint_monitor or config.monitor), None)
        scheduler = (
            ReduceLROnPlateau(
                monitor(config.lr_monitor or config.monitor),
                config.lr,
                factor=config.lr_factor,
                patience=config.lr_patience,
                min_lr=config.min_lr,
                min_delta=config.lr_min_delta,
            )
            if config.lr_patience is not None
            else None
        )
        return cls(
            checkpoint,
            scheduler,
            Plateau(monitor(config.monitor), config.early_stopping_patience)
            if config.early_stopping_patience is not None
            else None,
        )

    def by_name(self) -> dict[str, Plateau | None]:
        """The callbacks by the names a saved training state keeps them under."""
        return {"checkpoint": self.checkpoint, "scheduler": self.scheduler, "stopper": self.stopper}
