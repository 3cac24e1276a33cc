"""Training recipes: every hyper-parameter of the training loop in one frozen, JSON-ready dataclass, plus presets.

``default`` is tshub's recipe (Otović et al. callbacks, with a batch size that shrinks on small datasets
so they still get ~10 updates per epoch); ``otovic`` is Otović et al.'s train.py exactly (batch 32, last partial
batch dropped, no tie-break); ``bigdata18`` is the FCN recipe of Ismail Fawaz et al. (monitors training loss);
``ucr`` is bigdata18's schedule with validation-based selection and stopping, for small UCR-sized datasets.
``auto`` (the default of every training entry point) is not a preset but a rule: ``ucr`` when the training split
has at most ``AUTO_UCR_MAX_TRAIN`` series, else ``default`` (see ``auto_recipe``).
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch

from tshub.training.metrics import metric_names
from tshub.training.precision import native_bf16

#: Every value a monitor setting accepts: "auto" and the history keys training records for some task
#: (``Monitor.resolve`` checks the task's).
MONITORS = (
    "auto",
    "loss",
    "val_loss",
    *(f"val_{m}" for task in ("classification", "regression") for m in metric_names(task)),
)


def is_count(value: Any) -> bool:
    """Whether ``value`` is a whole number: an int or a numpy integer, not a float (1.5 epochs) nor a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


#: The TrainConfig fields that count epochs or series.
COUNTS = ("batch_size", "min_batch_size", "max_epochs", "lr_patience", "early_stopping_patience", "eval_batch_size")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of ``tshub.training.loop.fit``.

    Monitors are history keys: ``"loss"`` (training), ``"val_loss"``, ``"val_accuracy"``, ``"val_f1_weighted"``,
    ``"val_mae"``, ``"val_mse"``, or ``"auto"`` (val_accuracy for classification, val_loss for regression).
    With ``tie_break`` an accuracy tie is won by the lower validation loss (see ``monitor.Monitor``).
    The LR scheduler and early stopping follow Keras semantics (``monitor.Plateau``); ``None`` patience disables.
    """

    lr: float = 1e-3
    # Keras K.epsilon(), not PyTorch's 1e-8. Keras adds it to √v before the bias correction, PyTorch after: PyTorch's
    # ε is Keras' divided by √(1 − β₂ᵗ) (3.2e-6 at step 1, about 1e-7 after ~5000 steps), negligible beside √v̂ (kept as is).
    adam_eps: float = 1e-7
    batch_size: int = 32
    batch_fraction: float | None = 0.1  # batch = int(min(n · fraction, batch_size)) (the FCN rule); None: fixed
    # Floor of that rule (up to n and batch_size). BatchNorm over batches of 1–2 series leaves the eval-mode model far from the
    # trained one: FCN from scratch, recipe "ucr", seed 0, test accuracy floor 1 → 8: SonyAIBORobotSurface1
    # 0.44 → 0.96, ECGFiveDays 0.55 → 0.96, BeetleFly 0.75 → 0.85 (the eval-mode model fitted only 70 % of train).
    min_batch_size: int = 8
    drop_last: bool = True  # Otović's DataGenerator: floor(n / batch) batches, reshuffled every epoch
    max_epochs: int = 250
    monitor: str = "auto"
    tie_break: bool = True
    lr_monitor: str | None = None  # None: same as monitor
    lr_factor: float = 0.2
    lr_patience: int | None = 4
    lr_min_delta: float = 1e-4  # Keras ReduceLROnPlateau default, absolute
    min_lr: float = 5e-7
    early_stopping_patience: int | None = 10  # Keras EarlyStopping, min_delta 0
    checkpoint_monitor: str | None = None  # weights restored at the end; None: same as monitor
    restore_best: bool = True
    eval_batch_size: int = 256
    time_budget_s: float | None = None  # stop (after the current batch) once training has run this long
    bf16: bool = False  # bfloat16 autocast; off in the presets (float32, as published): see bf16_override

    def __post_init__(self) -> None:
        for name in COUNTS:  # a fractional epoch count trained one epoch more; False patience stopped at once
            value = getattr(self, name)
            if value is not None and not is_count(value):
                none = " or None (no patience)" if name.endswith("patience") else ""
                raise ValueError(f"{name} must be a whole number{none}, got {value!r}.")
        if self.lr <= 0 or self.batch_size < 1 or self.max_epochs < 1:
            raise ValueError(
                f"lr, batch_size and max_epochs must be positive, got {self.lr}, {self.batch_size}, {self.max_epochs}."
            )
        if self.batch_fraction is not None and not 0 < self.batch_fraction <= 1:
            raise ValueError(f"batch_fraction must lie in (0, 1] or be None, got {self.batch_fraction}.")
        if not 0 < self.lr_factor < 1:
            raise ValueError(f"lr_factor must lie in (0, 1), got {self.lr_factor}.")
        for name in ("monitor", "lr_monitor", "checkpoint_monitor"):
            value = getattr(self, name)
            if value is not None and value not in MONITORS:
                raise ValueError(f"{name} must be one of {', '.join(MONITORS)}; got {value!r}.")
        for name in ("min_batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        for name in ("lr_patience", "early_stopping_patience", "min_lr", "lr_min_delta", "time_budget_s"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative (None disables what may be disabled), got {value}.")

    def batch_size_for(self, n: int) -> int:
        """The batch size used on ``n`` training series (at least 1, at most n); the floor never exceeds
        ``batch_size``, which a fixed size (``batch_fraction=None``) is exactly."""
        size = self.batch_size
        if self.batch_fraction is not None:
            size = max(int(min(n * self.batch_fraction, size)), min(self.min_batch_size, size))
        return max(1, min(size, n))

    def replace(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {sorted(unknown)}; known: {sorted(known)}.")
        return cls(**data)


RECIPES: dict[str, TrainConfig] = {
    "default": TrainConfig(),
    "otovic": TrainConfig(batch_size=32, batch_fraction=None, drop_last=True, tie_break=False),
    # bigdata18's FCN recipe made affordable and validation-based: its batch rule and LR schedule (×0.5 after 50
    # epochs without training-loss progress, floor 1e-4), best-validation weights, early stopping after 100
    # epochs, at most 1000. On small UCR sets "default" stops long before FCN has learned (FCN from scratch, seed
    # 0, test accuracy default → ucr: ArrowHead 0.53 → 0.73, Beef 0.33 → 0.53, ECG200 0.82 → 0.85).
    "ucr": TrainConfig(
        batch_size=16,
        batch_fraction=0.1,
        drop_last=False,
        max_epochs=1000,
        lr_monitor="loss",
        lr_factor=0.5,
        lr_patience=50,
        min_lr=1e-4,
        early_stopping_patience=100,
    ),
    "bigdata18": TrainConfig(
        batch_size=16,
        batch_fraction=0.1,
        min_batch_size=1,
        drop_last=False,
        max_epochs=2000,
        monitor="loss",
        tie_break=False,
        lr_factor=0.5,
        lr_patience=50,
        min_lr=1e-4,
        early_stopping_patience=None,
    ),
}


AUTO = "auto"
#: Largest training split that "auto" trains with "ucr". Below it, "default"'s patience of 10 epochs is a handful
#: of updates and stops FCN before it has learned (from scratch, seed 0, test accuracy default → ucr: GunPoint
#: 0.87 → 1.0, ArrowHead 0.53 → 0.73, Beef 0.33 → 0.53); above it an epoch holds ≥ 63 of ucr's ≤ 16-series
#: batches, and "default" (Otović's recipe for their 1k5/9k targets) stops within 250 epochs instead of 1000.
AUTO_UCR_MAX_TRAIN = 1000


def auto_recipe(n_train: int) -> str:
    """The preset ``recipe="auto"`` uses for a training split of ``n_train`` series."""
    return "ucr" if n_train <= AUTO_UCR_MAX_TRAIN else "default"


def recipe_names() -> list[str]:
    """Every name ``recipe=`` accepts: "auto" and the presets."""
    return [AUTO, *RECIPES]


def resolve_recipe(
    recipe: str | TrainConfig, *, n_train: int | None = None, **overrides: Any
) -> tuple[str, TrainConfig]:
    """``(name, config)`` of a preset name or a TrainConfig (named "custom"), with non-None overrides applied.

    ``"auto"`` becomes the preset ``auto_recipe(n_train)`` chosen for the training split's size.
    """
    if recipe == AUTO:
        if n_train is None:
            raise ValueError("recipe 'auto' depends on the training set's size: pass n_train (or name a preset).")
        recipe = auto_recipe(n_train)
    if isinstance(recipe, TrainConfig):
        name, config = "custom", recipe
    elif recipe in RECIPES:
        name, config = recipe, RECIPES[recipe]
    else:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {recipe_names()} or pass a TrainConfig.")
    changes = {k: v for k, v in overrides.items() if v is not None}
    return name, config.replace(**changes) if changes else config


def bf16_override(requested: bool | None, recipe: str | TrainConfig, device: torch.device) -> bool | None:
    """The ``bf16`` override a training passes to ``resolve_recipe``: what the caller asked; when it asked nothing,
    a TrainConfig keeps its own and a preset trains under bfloat16 autocast where it runs faster than float32
    (``tshub.training.precision``). The presets are float32 as published; bf16 lost no accuracy in a paired test
    (bench/bf16_accuracy.py: 11 UCR sets × 3 seeds, FCN)."""
    if requested is not None or isinstance(recipe, TrainConfig):
        return requested
    return native_bf16(device)
