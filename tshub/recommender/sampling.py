"""How much of a target the feature scores look at, so a ranking costs seconds on any UCR-sized target.

The cost of scoring one candidate is a forward pass over the series scored (series × length steps), times the
number of candidates. A ``ScoringPlan`` bounds both: the candidates are first *screened* on a few short windows
of a few series, the ``shortlist`` best of them are then scored on a stratified, seeded sample of the training
split whose size shrinks with the series length (``max_steps``). ``FULL`` scores every candidate on every
training series, as the recommender did before; bench/recommend_speed.py measures how closely ``FAST`` agrees.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from tshub.data.dataset import Dataset, meta_of_rows
from tshub.training.precision import native_bf16

#: Whose BatchNorm statistics the features use: the source checkpoint's, or the scored sample's own.
STATISTICS = ("source", "target")


@dataclass(frozen=True)
class ScoringPlan:
    """``max_series``/``max_steps``: the final score's sample (None: no bound); ``min_series``: the least it keeps
    however long the series; ``shortlist``: how many screened candidates are re-scored (None: no screen, every
    candidate gets the final score); ``screen_steps``, ``screen_min_series``: the screen's sample (series ×
    length, each series cut to a window of ``screen_length`` steps when longer); ``screen_bf16``, ``bf16``: run
    the networks of the screen, of the final score in bfloat16 (features are compared in float64 either way;
    ``screen_bf16=None``: where the device runs it faster than float32, ``for_device``);
    ``threads``: torch intra-op threads for them
    (None: torch's setting; 1 by default: on these small batches more threads mostly spin, the more so on a
    machine busy with training); ``statistics``: the BatchNorm statistics the features are computed with, the
    source checkpoint's ("source") or the scored sample's own ("target", estimated on it first: what fine-tuning's
    first training-mode steps normalise by; ``tshub.training.batchnorm``).

    Why whole series in the screen: LogME needs series more than their full length; in a one-off check while
    choosing these defaults (ECG200, 30 random candidates), short windows of every series ranked far worse
    against the full ranking than fewer whole series. Why bfloat16 only in the screen: in the final score it moved
    LogME's first pick on 3 of 10 targets (bench/results/rank_methods.md, logme vs logme_bf16), and the final
    score of the shortlist is a small share of the cost. bench/results/recommend_speed.md measures the defaults."""

    max_series: int | None = 256
    max_steps: int | None = 2**15
    min_series: int = 32
    shortlist: int | None = 10
    screen_steps: int = 2**13
    screen_min_series: int = 16
    screen_length: int = 512
    screen_bf16: bool | None = None
    bf16: bool = False
    threads: int | None = 1
    statistics: str = "source"

    def __post_init__(self) -> None:
        if self.statistics not in STATISTICS:
            raise ValueError(f"ScoringPlan.statistics must be one of {STATISTICS}, got {self.statistics!r}.")
        for name in ("max_series", "max_steps", "shortlist"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"ScoringPlan.{name} must be a positive integer or None, got {value!r}.")
        for name in ("min_series", "screen_steps", "screen_min_series", "screen_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"ScoringPlan.{name} must be a positive integer, got {getattr(self, name)!r}.")

    def for_device(self, device: torch.device) -> ScoringPlan:
        """This plan with ``screen_bf16`` decided for ``device``: where oneDNN emulates bfloat16 (a CPU without
        AVX512-bf16 or AMX) a bfloat16 screen took 4.2-4.9× as long as a float32 one, with AMX half to two thirds as long
        (bench/results/recommend_screen_precision.md; ``tshub.training.precision``)."""
        return self if self.screen_bf16 is not None else replace(self, screen_bf16=native_bf16(device))

    def final_size(self, n_train: int, length: int) -> int:
        """How many training series the final score uses."""
        n = n_train if self.max_series is None else min(n_train, self.max_series)
        if self.max_steps is not None:
            n = min(n, max(self.min_series, self.max_steps // max(length, 1)))
        return n

    def screens(self, n_candidates: int, final: Dataset, screen: Dataset) -> bool:
        """Whether screening pays: it must at least halve the steps of scoring every candidate in full."""
        if self.shortlist is None or n_candidates <= self.shortlist:
            return False
        full, screened = _steps(final), _steps(screen)
        return n_candidates * screened + self.shortlist * full <= n_candidates * full / 2

    def screens_by_precision(self, n_candidates: int) -> bool:
        """Whether to screen on the final sample itself, only in bfloat16, when a smaller sample would not pay:
        a bfloat16 pass over every candidate and a float32 one over the shortlist cost less than float32 for all."""
        return self.shortlist is not None and n_candidates > self.shortlist and bool(self.screen_bf16) and not self.bf16

    def screen_size(self, n_train: int, length: int) -> int:
        """How many series (windows) the screen uses."""
        return min(n_train, max(self.screen_min_series, self.screen_steps // min(length, self.screen_length)))


FAST = ScoringPlan()
FULL = ScoringPlan(max_series=None, max_steps=None, shortlist=None)
PLANS = {"fast": FAST, "full": FULL}


def as_plan(plan: ScoringPlan | str) -> ScoringPlan:
    if isinstance(plan, ScoringPlan):
        return plan
    if plan not in PLANS:
        raise ValueError(f"unknown scoring plan {plan!r}; choose one of {sorted(PLANS)} or pass a ScoringPlan.")
    return PLANS[plan]


def stratified_sample(y: np.ndarray, n: int, task: str, seed: int = 0) -> np.ndarray:
    """Sorted positions of min(n, len(y)) of the targets ``y``: for classification each class keeps its share
    (largest remainders), and at least one series when n allows one per class; for regression a plain seeded
    sample."""
    rng = np.random.default_rng(seed)
    if n >= len(y):
        return np.arange(len(y))
    if task != "classification":
        return np.sort(rng.choice(len(y), n, replace=False))
    classes, counts = np.unique(y, return_counts=True)
    picked = [
        rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, class_quotas(counts, n), strict=True)
    ]
    return np.sort(np.concatenate(picked))


def class_quotas(counts: np.ndarray, n: int) -> np.ndarray:
    """How many of each class's ``counts`` series a sample of n < counts.sum() takes: summing to n, each at most
    its class, at least one when n ≥ the number of classes, otherwise as near its share as those bounds allow."""
    share = counts * n / counts.sum()
    least = 1 if n >= len(counts) else 0
    quota = np.clip(np.floor(share).astype(int), least, counts)
    while quota.sum() < n:  # largest remainders first, among classes with series left
        quota[np.argmax(np.where(quota < counts, share - quota, -np.inf))] += 1
    while quota.sum() > n:  # raising small classes to one overshot: the most over-served give one back
        quota[np.argmin(np.where(quota > least, share - quota, np.inf))] -= 1
    return quota


def final_positions(train: Dataset, plan: ScoringPlan) -> np.ndarray:
    """Positions, in the training split, of the series the final score uses (and dtw averages): a stratified,
    seeded sample of ``plan.final_size`` of them."""
    y = train.y[train.splits["train"]]
    return stratified_sample(y, plan.final_size(len(y), train.length), train.task)


def final_sample(train: Dataset, plan: ScoringPlan) -> Dataset:
    """The training series the final score uses, as a dataset whose "train" split is all of them."""
    X, y = train.split("train")
    keep = final_positions(train, plan)
    return _as_training(train, X[keep], y[keep], f"{len(keep)} of {len(y)} training series")


def screen_sample(sample: Dataset, plan: ScoringPlan) -> Dataset:
    """The screen's data: ``plan.screen_size`` series of the final sample, each cut to a window of ``screen_length``
    steps when longer: a seeded one for a classification; a regression's last steps, which its targets follow (a
    forecast's next value continues them, and whether they do decides the relative target and stream_max input)."""
    X, y = sample.split("train")
    keep = stratified_sample(y, plan.screen_size(len(y), sample.length), sample.task, seed=1)
    X, y = X[keep], y[keep]
    if X.shape[2] > plan.screen_length:
        last = X.shape[2] - plan.screen_length
        starts = (
            np.random.default_rng(2).integers(0, last + 1, len(X))
            if sample.task != "regression"
            else np.full(len(X), last)
        )
        X = np.stack([x[:, s : s + plan.screen_length] for x, s in zip(X, starts, strict=True)])
    return _as_training(sample, X, y, f"{len(X)} windows of {X.shape[2]} steps")


def _steps(sample: Dataset) -> int:
    return len(sample.splits["train"]) * sample.length


def _as_training(like: Dataset, X: np.ndarray, y: np.ndarray, what: str) -> Dataset:
    return Dataset(
        name=like.name,
        X=X,
        y=y,
        task=like.task,
        classes=like.classes,
        splits={"train": np.arange(len(X))},
        meta={**meta_of_rows(like.meta, None), "scored_on": what},
        class_values=like.class_values,
    )
