"""Combining transferability signals: rank means, and rankers learned across targets, fitted leave-one-target-out.

A target's signals (LogME, DTW similarity, source size, ...) live on scales that change from target to target, and
only their order within a target matters for a pick; so every combination here works on per-target normalised
signals: ranks scaled to [0, 1] (``rank_mean``) or z-scores over the target's candidates (``standardise``), a
missing signal taking the target's middle (rank 0.5, z = 0). A learned ranker is judged only on targets it did not
see: ``leave_one_target_out`` fits one model per held-out target on the others.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np
from scipy.stats import rankdata

from tshub.stats import DIFFERENCE_DECIMALS

TIE = 1e-9  # accuracies closer than this give no pair to learn from


def rank_mean(signals: np.ndarray) -> np.ndarray:
    """The mean over columns of each column's ranks scaled to [0, 1] (higher signal, higher rank; ties share their
    mean rank; a missing value, NaN, counts 0.5). ``signals``: (candidates, signals) of one target. Rounded to
    ``DIFFERENCE_DECIMALS``: equal means summed in another order differ by floating-point noise, which must not
    break a tie at the top (a pick) or between candidates (Kendall's τ-b)."""
    signals = np.asarray(signals, dtype=float)
    scaled = np.full(signals.shape, 0.5)
    for j in range(signals.shape[1]):
        present = ~np.isnan(signals[:, j])
        if present.sum() > 1:
            scaled[present, j] = (rankdata(signals[present, j], method="average") - 1) / (present.sum() - 1)
    return np.round(scaled.mean(axis=1), DIFFERENCE_DECIMALS)


def standardise(signals: np.ndarray) -> np.ndarray:
    """Per-column z-scores over one target's candidates; NaN and constant columns become 0 (no information)."""
    signals = np.asarray(signals, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column missing on every candidate
        mean, std = np.nanmean(signals, axis=0), np.nanstd(signals, axis=0)
    z = (signals - mean) / np.where(std > 0, std, np.inf)
    return np.nan_to_num(z, nan=0.0)


class Ranker(Protocol):
    """Learns, from several targets' (signals, accuracies), to score the candidates of another target."""

    def fit(self, signals: Sequence[np.ndarray], accuracies: Sequence[np.ndarray]) -> Ranker: ...

    def score(self, signals: np.ndarray) -> np.ndarray: ...


class PairwiseLogisticRanker:
    """Logistic regression on the differences of standardised signals between two candidates of the same target,
    predicting which fine-tunes better (RankNet's linear case); the score is the linear function it learns."""

    def __init__(self, c: float = 1.0):
        self.c = c
        self.weights: np.ndarray | None = None

    def fit(self, signals: Sequence[np.ndarray], accuracies: Sequence[np.ndarray]) -> PairwiseLogisticRanker:
        from sklearn.linear_model import LogisticRegression

        diffs, labels = [], []
        for x, y in zip(signals, accuracies):
            z, y = standardise(x), np.asarray(y, dtype=float)
            i, j = np.triu_indices(len(y), k=1)
            keep = np.abs(y[i] - y[j]) > TIE
            d = z[i[keep]] - z[j[keep]]
            diffs += [d, -d]  # both orders: the model needs no intercept and stays antisymmetric
            won = y[i[keep]] > y[j[keep]]
            labels += [won, ~won]
        x_pairs, y_pairs = np.concatenate(diffs), np.concatenate(labels)
        if len(np.unique(y_pairs)) < 2:
            raise ValueError("the training targets give no pair of candidates with different accuracies to learn from.")
        model = LogisticRegression(C=self.c, fit_intercept=False, max_iter=1000).fit(x_pairs, y_pairs)
        self.weights = model.coef_[0]
        return self

    def score(self, signals: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("fit the ranker before scoring.")
        return standardise(signals) @ self.weights


class RidgeRanker:
    """Ridge regression of the per-target standardised accuracy on the standardised signals (closed form)."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha
        self.weights: np.ndarray | None = None

    def fit(self, signals: Sequence[np.ndarray], accuracies: Sequence[np.ndarray]) -> RidgeRanker:
        x = np.concatenate([standardise(s) for s in signals])
        y = np.concatenate([standardise(np.asarray(a, dtype=float)[:, None])[:, 0] for a in accuracies])
        self.weights = np.linalg.solve(x.T @ x + self.alpha * np.eye(x.shape[1]), x.T @ y)
        return self

    def score(self, signals: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("fit the ranker before scoring.")
        return standardise(signals) @ self.weights


def leave_one_target_out(
    make: Callable[[], Ranker], signals: Mapping[str, np.ndarray], accuracies: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Each target's candidates scored by a ranker fitted on every *other* target only (``make()`` builds a fresh,
    unfitted one each time), so no target is ever scored by a model that saw its signals or accuracies."""
    if set(signals) != set(accuracies):
        raise ValueError("signals and accuracies must name the same targets.")
    if len(signals) < 2:
        raise ValueError("leave-one-target-out needs at least 2 targets.")
    scores = {}
    for held_out in signals:
        others = [t for t in signals if t != held_out]
        model = make().fit([signals[t] for t in others], [accuracies[t] for t in others])
        scores[held_out] = model.score(signals[held_out])
    return scores
