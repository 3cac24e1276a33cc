"""The result of a fine-tune or a from-scratch training: the model, its scores, its learning curve, its provenance.

Test metrics are computed once, on the restored best-validation model. Everything chosen during training (best
epoch, ω) and the convergence rate use the validation split only, so the test split never influences a result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tshub.models.base import TimeSeriesModel
from tshub.training.metrics import curve_metric
from tshub.training.transfer import TransferReport

if TYPE_CHECKING:  # tshub.baselines imports tshub.training
    from tshub.baselines import BaselineResult


@dataclass
class FitResult:
    """``metrics`` are on the test split ({} when the dataset has none); ``val_metrics`` on validation.

    ``convergence_rate`` (Otović et al. eq. 7–8) is computed on the validation curve of ``curve_metric`` (weighted
    F1 or MAE) over the epochs trained up to a divergence (a non-finite loss; None when the first epoch diverged);
    ``grid`` lists every ω tried with its validation scores.
    """

    model: TimeSeriesModel
    metrics: dict[str, float]
    val_metrics: dict[str, float]
    history: list[dict[str, Any]]
    convergence_rate: float | None
    seed: int
    recipe: str
    elapsed_s: float
    best_epoch: int | None = None  # epoch number of the kept weights (history[best_epoch - 1])
    stop_reason: str = "max_epochs"
    lr_multiplier: float | None = None  # the chosen ω (None for a from-scratch training)
    transfer_report: TransferReport | None = None
    grid: list[dict[str, Any]] = field(default_factory=list)

    @property
    def task(self) -> str:
        return self.model.task or "classification"

    @property
    def learned_nothing(self) -> str | None:
        """Why the model learned nothing usable (diverged, or at chance on test, else on validation), or None:
        a training can end without error and still be worth nothing, which its metrics alone leave to the reader."""
        from tshub.hub.store import learned_nothing, mean_forecast  # the hub imports training: not at module level

        split, key = ("test", "metrics") if self.metrics else ("validation", "val_metrics")
        return learned_nothing(
            self.task,
            self.model.classes,
            getattr(self, key),
            self.stop_reason,
            split,
            training_mean=mean_forecast(self.model.meta, key),
        )

    def __repr__(self) -> str:
        """One line of what trained and how it scored; the network and the per-epoch records are fields of their
        own (printing them made thousands of lines)."""
        metrics = f", metrics={_rounded(self.metrics)}" if self.metrics else ""
        return (
            f"FitResult({self.model.arch} {self._label()}, recipe {self.recipe!r}, seed {self.seed}, "
            f"{len(self.history)} epochs (best {self.best_epoch}, {self.stop_reason}){metrics}, "
            f"val_metrics={_rounded(self.val_metrics)}, {self.elapsed_s:.1f} s)"
        )

    def curve(self) -> list[float]:
        """The validation learning curve: weighted F1 (classification) or MAE (regression) per epoch."""
        key = f"val_{curve_metric(self.task)}"
        return [record[key] for record in self.history if key in record]

    def record_comparison(self, scratch: FitResult | None, minirocket: BaselineResult | None) -> None:
        """Keep the test metrics of the from-scratch referent and MiniRocket, trained on the same splits, in the
        model's meta: its saved card shows what fine-tuning gained over them (None: not trained, not recorded)."""
        compared = {"from_scratch": scratch, "minirocket": minirocket}
        self.model.meta["compared"] = {
            name: {metric: float(value) for metric, value in other.metrics.items()}
            for name, other in compared.items()
            if other is not None
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything but the weights, JSON-ready (the model is described by its config)."""
        return {
            "model": self.model.config(),
            "task": self.task,
            "metrics": self.metrics,
            "val_metrics": self.val_metrics,
            "history": self.history,
            "convergence_rate": self.convergence_rate,
            "seed": self.seed,
            "recipe": self.recipe,
            # the values it trained with: a preset's resolved and overridden (bf16 where the device computes it)
            "train_config": self.model.meta.get("train_config"),
            "elapsed_s": self.elapsed_s,
            "best_epoch": self.best_epoch,
            "stop_reason": self.stop_reason,
            "lr_multiplier": self.lr_multiplier,
            "transfer_report": None if self.transfer_report is None else self.transfer_report.to_dict(),
            "grid": self.grid,
        }

    def plot(self, referent: FitResult | None = None, ax: Any = None, path: str | Path | None = None) -> Any:
        """Validation metric per epoch, beside a from-scratch ``referent`` (as in the bigdata18 figures).

        Returns the matplotlib Axes; saves the figure to ``path`` when given. Both must be of one task: their
        curves are different metrics otherwise (weighted F1, MAE).
        """
        if referent is not None and referent.task != self.task:
            raise ValueError(
                f"cannot plot a {self.task} result beside a {referent.task} referent: their validation curves are "
                "different metrics; plot each on its own."
            )
        try:
            import matplotlib.pyplot as plt
        except ImportError as err:
            raise ImportError("FitResult.plot needs matplotlib: pip install 'tshub[plot]'.") from err
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        ax.plot(range(1, len(self.curve()) + 1), self.curve(), label=self._label())
        if referent is not None:
            ax.plot(range(1, len(referent.curve()) + 1), referent.curve(), label=referent._label(), linestyle="--")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {curve_metric(self.task).replace('_', ' ')}")
        ax.set_title(self.model.meta.get("source_dataset", ""))
        ax.legend()
        if path is not None:
            ax.figure.savefig(path, bbox_inches="tight")
        return ax

    def _label(self) -> str:
        if self.lr_multiplier is None:
            return "from scratch"
        return f"fine-tuned from {self.model.meta.get('parent_dataset') or 'source'} (ω={self.lr_multiplier:g})"


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 4) for name, value in metrics.items()}
