"""Evaluation metrics without a scikit-learn dependency, and the Otović et al. convergence rate (eq. 7–8)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def f1_weighted(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Per-class F1 averaged with the true class counts as weights (scikit-learn's ``average="weighted"``).

    A class that is never predicted and never present has weight 0; an F1 with a 0/0 denominator counts as 0.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if not len(y_true):
        return float("nan")
    labels, true_idx = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    t, p = true_idx[: len(y_true)], true_idx[len(y_true) :]
    k = len(labels)
    tp = np.bincount(t[t == p], minlength=k).astype(np.float64)
    support = np.bincount(t, minlength=k).astype(np.float64)
    predicted = np.bincount(p, minlength=k).astype(np.float64)
    denom = support + predicted  # 2tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    return float(np.sum(f1 * support) / support.sum())


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred))) if y_true.size else float("nan")


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean((y_true - y_pred) ** 2)) if y_true.size else float("nan")


METRICS = {"accuracy": accuracy, "f1_weighted": f1_weighted, "mae": mae, "mse": mse}


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics tshub reports: accuracy + weighted F1 (classification) or MAE + MSE (regression); training
    records each on validation as ``val_<name>``."""
    return ("accuracy", "f1_weighted") if task == "classification" else ("mae", "mse")


def task_metrics(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Every metric of ``metric_names(task)``."""
    return {name: METRICS[name](y_true, y_pred) for name in metric_names(task)}


def curve_metric(task: str) -> str:
    """The per-epoch metric the convergence rate and learning-curve plots use (Otović et al. §8.6)."""
    return "f1_weighted" if task == "classification" else "mae"


def convergence_rate(values: Sequence[float], higher_is_better: bool) -> float:
    """How early a learning curve gets close to its best value, in [0, 1] (1 = best from the first epoch).

    Otović et al. eq. 7–8 with W = #epochs − 1 and trapezoid integration over unit-spaced epochs:
    higher-is-better (F1) ``(∫v − W·min) / (W·(max − min))``; lower-is-better (MAE) ``1 − (∫v − W·min) / (W·(max − min))``.
    Degenerate curves count as converged from the start: one epoch (W = 0) or a flat curve (max = min) give 1.0.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or not len(v):
        raise ValueError(f"convergence_rate needs a non-empty 1-d sequence of per-epoch values, got shape {v.shape}.")
    if not np.all(np.isfinite(v)):
        raise ValueError("convergence_rate got NaN or infinite values; the learning curve must be finite.")
    width, lo, hi = len(v) - 1, v.min(), v.max()
    if width == 0 or hi == lo:
        return 1.0
    area = float(np.sum((v[1:] + v[:-1]) / 2.0))
    fraction = (area - width * lo) / (width * (hi - lo))
    return float(fraction if higher_is_better else 1.0 - fraction)


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        if y_true.size == y_pred.size:
            y_pred = y_pred.reshape(y_true.shape)
        else:
            raise ValueError(f"targets {y_true.shape} and predictions {y_pred.shape} do not match.")
    return y_true, y_pred
