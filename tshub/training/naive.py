"""A regression's naive forecasts, what any model of it must beat: the training split's mean target and, for a
forecast of the next value (or values), each series' last value (persistence).

They are scored when a model trains, into its checkpoint's ``meta["naive"]`` (which model cards, ``tshub info`` and
a service job's result show), and again on the labelled series ``tshub predict`` scores the model on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tshub.data.dataset import Dataset
from tshub.hub.card import PERSISTENCE, TRAINING_MEAN
from tshub.training.metrics import task_metrics


def naive_forecasts(ds: Dataset, persistence: bool) -> dict[str, dict[str, Any]]:
    """The naive forecasts of ``ds``'s regression (empty for a classification), each with its ``metrics`` on the
    test split and ``val_metrics`` on the validation split (empty where the split is); the training mean keeps its
    ``value``, so that ``naive_scores`` can score it on other series. ``persistence``: whether the training targets
    follow their series' level, where each series' last value is the forecast to beat."""
    if ds.task != "regression":
        return {}
    mean = np.mean(ds.split("train")[1], axis=0)
    recorded: dict[str, dict[str, Any]] = {TRAINING_MEAN: {"value": mean.tolist()}}
    if persistence:
        recorded[PERSISTENCE] = {}

    def scores(name: str, split: str) -> dict[str, float]:
        if not len(ds.splits.get(split, [])):
            return {}
        X, y = ds.split(split)
        return task_metrics("regression", y, _forecast(name, X, mean, np.shape(y)[1:]))

    return {
        name: {**record, "metrics": scores(name, "test"), "val_metrics": scores(name, "val")}
        for name, record in recorded.items()
    }


def naive_scores(naive: Any, X: np.ndarray, y: np.ndarray) -> dict[str, dict[str, float]]:
    """The metrics of the naive forecasts a checkpoint recorded (its ``meta["naive"]``) on other labelled series
    ``X`` (raw, (n, channels, length)) and ``y``: what the model's own scores on them are to be read beside.
    The training mean is left out where its value was not kept (checkpoints saved before it was) or does not fit
    ``y``."""
    recorded = naive if isinstance(naive, dict) else {}
    mean = _recorded_mean(recorded.get(TRAINING_MEAN), y)
    names = [TRAINING_MEAN] * (mean is not None) + [PERSISTENCE] * (PERSISTENCE in recorded)
    return {name: task_metrics("regression", y, _forecast(name, X, mean, np.shape(y)[1:])) for name in names}


def _forecast(name: str, X: np.ndarray, mean: Any, outputs: tuple[int, ...]) -> np.ndarray:
    """The forecast ``name`` makes for each series of ``X``, of targets shaped ``outputs`` each (persistence: the
    last value for every output, the naive forecast of each of the next values)."""
    if name == PERSISTENCE:
        last = X[:, 0, -1].astype(np.float64)
        return np.broadcast_to(last.reshape(-1, *(1,) * len(outputs)), (len(X), *outputs))
    return np.broadcast_to(np.asarray(mean, dtype=np.float64), (len(X), *np.shape(mean)))


def _recorded_mean(record: Any, y: np.ndarray) -> np.ndarray | None:
    """The training mean a checkpoint kept, if it has one of ``y``'s outputs (configs are untrusted)."""
    value = record.get("value") if isinstance(record, dict) else None
    try:
        mean = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return mean if value is not None and mean.shape == np.shape(y)[1:] and np.isfinite(mean).all() else None
