"""The rules behind the transfer advice, fitted across benchmark targets and judged on targets they did not see.

An evidence table has one row per (target, source) pair: features known before any training (``advice.FEATURES``)
and a label, whether fine-tuning that source beat the referent (scratch or MiniRocket) on that target (``beats``);
``table_of`` builds it from the benchmark rows the evidence file stores, for the benchmark and for the advice,
which refits without the user's target when that target is one of the benchmark's. A rule
splits the rows into groups and answers each group's weighted majority; a group's *rate* (the weighted share of
wins in it) is the probability the advice quotes. Every target weighs the same whatever its number of rows, so a
benchmark with 40 sources per target is not dominated by its largest targets.

- ``majority``: one group, every row;
- a decision stump on one feature: rows with the feature ≤ t and > t (t half-way between two observed values,
  chosen to maximise the weighted accuracy of the two groups' majorities); rows missing the feature fall back to
  the rate of all rows.

``leave_one_target_out`` scores a rule family on targets it did not see; ``choose_rule`` takes the family with the
best such accuracy, the majority unless another beats it strictly; ``nested_accuracy`` scores that choice itself
by leave-one-target-out (choosing among rules on the same targets flatters the winner). ``select_rule`` keeps the
chosen feature rule only when the nested accuracy of choosing it also beats the majority rule's: on a handful of
targets a threshold often wins the first comparison by chance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tshub.stats import paired_differences

MAJORITY = "majority"
#: MiniRocket's reference table (``advice.MINIROCKET_FILE``) rounds accuracies to 4 decimals: an accuracy within
#: half a unit of the last one is a tie.
MINIROCKET_TIE = 0.5e-4
#: How much a fine-tune must exceed each referent to count as a win in the evidence.
WIN_MARGIN = {"scratch": 0.0, "minirocket": MINIROCKET_TIE}


def beats(accuracy: float, referent_accuracy: float, referent: str) -> bool:
    """Whether a fine-tuned accuracy wins over a referent's in the evidence: strictly above it, MiniRocket's by
    more than the rounding of its table; the difference rounded as paired tests round it, so that means of the same
    values summed in another order tie."""
    return float(paired_differences(np.asarray(accuracy), np.asarray(referent_accuracy))) > WIN_MARGIN[referent]


@dataclass(frozen=True)
class EvidenceTable:
    """Rows of (target, source) pairs: ``features[name]`` float arrays (NaN: unknown), ``won`` booleans."""

    targets: np.ndarray
    sources: np.ndarray
    features: dict[str, np.ndarray]
    won: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.targets)
        if len(self.sources) != n or len(self.won) != n or any(len(v) != n for v in self.features.values()):
            raise ValueError("an evidence table's targets, sources, labels and every feature need one value per row")

    @property
    def weights(self) -> np.ndarray:
        """1 / (rows of the row's target): each target weighs 1."""
        _, inverse, counts = np.unique(self.targets, return_inverse=True, return_counts=True)
        return 1.0 / counts[inverse]

    def subset(self, keep: np.ndarray) -> EvidenceTable:
        return EvidenceTable(
            self.targets[keep], self.sources[keep], {k: v[keep] for k, v in self.features.items()}, self.won[keep]
        )


def table_of(rows: Iterable[dict[str, Any]], referent: str, features: Iterable[str]) -> EvidenceTable:
    """The evidence table against ``referent`` of benchmark rows as the evidence file stores them (``target``,
    ``source``, the fine-tuned ``accuracy``, each referent's accuracy or None, ``features`` by name, None where
    unknown): a row without the referent's accuracy is left out."""
    kept = [r for r in rows if r[referent] is not None]
    return EvidenceTable(
        np.array([r["target"] for r in kept]),
        np.array([r["source"] for r in kept]),
        {
            name: np.array([np.nan if r["features"][name] is None else r["features"][name] for r in kept])
            for name in features
        },
        np.array([beats(r["accuracy"], r[referent], referent) for r in kept], dtype=bool),
    )


def answer_of(rate: float) -> str:
    """The answer a group's weighted rate of wins gives: "yes" above one half, "no" below, "unknown" at it (within
    ``EVEN_ODDS``: a rate summed from 1/n weights lands a rounding error off one half, 0.49999999999999994)."""
    return "unknown" if abs(rate - 0.5) <= EVEN_ODDS else "yes" if rate > 0.5 else "no"


#: Rates this close to one half are even odds (far below any difference the weights of a few hundred targets make).
EVEN_ODDS = 1e-9


_CHANCE = {"yes": 1.0, "no": 0.0, "unknown": 0.5}


@dataclass(frozen=True)
class Group:
    """A rule's group of evidence rows: which rows (``when``), how many, and the weighted share of wins.

    ``effective_targets`` is the number of independent targets the rate rests on, Kish's (Σ W)² / Σ W² over the
    weights W the group holds of each target: ``targets`` when each target's rows all fall in the group (a
    target-level feature), fewer when a source-level feature splits targets' rows unevenly across groups.
    """

    when: str
    rate: float
    rows: int
    targets: int
    wins: int
    effective_targets: float


@dataclass(frozen=True)
class FittedRule:
    """A rule fitted on an evidence table: ``feature`` None is the majority rule. ``below``/``above`` are the
    groups of a stump (feature ≤ ``threshold`` / > it), ``overall`` every row (the majority rule's only group, and
    the fallback for a row that misses the feature)."""

    family: str
    overall: Group
    feature: str | None = None
    threshold: float | None = None
    below: Group | None = None
    above: Group | None = None

    def group(self, value: float | None) -> Group:
        """The group a row with this feature value falls in (``overall`` without a usable value)."""
        if self.feature is None or value is None or not math.isfinite(value):
            return self.overall
        assert self.threshold is not None and self.below is not None and self.above is not None
        return self.below if value <= self.threshold else self.above

    def predict(self, table: EvidenceTable) -> np.ndarray:
        """The answer for every row of ``table`` as the chance of a win it gives: 1 "yes", 0 "no", 0.5 "unknown"
        (``answer_of`` its group's rate)."""
        answer = np.full(len(table.won), _CHANCE[answer_of(self.overall.rate)])
        if self.feature is None or self.threshold is None:
            return answer
        assert self.below is not None and self.above is not None
        values = table.features[self.feature]
        known = np.isfinite(values)
        below, above = (_CHANCE[answer_of(group.rate)] for group in (self.below, self.above))
        answer[known] = np.where(values[known] <= self.threshold, below, above)
        return answer

    def right(self, table: EvidenceTable) -> np.ndarray:
        """How right the answer is on each row of ``table``: 1 or 0, and one half for "unknown" (what a coin
        scores), so a rule that cannot tell is neither rewarded nor punished as if it had said "no"."""
        return 1.0 - np.abs(self.predict(table) - table.won)


def fit_rule(table: EvidenceTable, family: str) -> FittedRule:
    """``family`` ("majority" or a feature name) fitted on every row of ``table``."""
    weights = table.weights
    overall = _group("all", table, np.ones(len(table.won), dtype=bool), weights)
    if family == MAJORITY:
        return FittedRule(MAJORITY, overall)
    values = table.features[family]
    known = np.isfinite(values)
    threshold = _best_threshold(values[known], table.won[known], weights[known])
    if threshold is None:  # fewer than two distinct values: nothing to split on
        return FittedRule(family, overall)
    below, above = known & (values <= threshold), known & (values > threshold)
    return FittedRule(
        family,
        overall,
        family,
        threshold,
        _group(f"{family} <= {threshold:.4g}", table, below, weights),
        _group(f"{family} > {threshold:.4g}", table, above, weights),
    )


def _group(when: str, table: EvidenceTable, rows: np.ndarray, weights: np.ndarray) -> Group:
    total = float(weights[rows].sum())
    rate = float((weights[rows] * table.won[rows]).sum() / total) if total else 0.5
    names, which = np.unique(table.targets[rows], return_inverse=True)
    per_target = np.bincount(which, weights=weights[rows], minlength=len(names))
    effective = float(total**2 / np.square(per_target).sum()) if total else 0.0
    return Group(when, rate, int(rows.sum()), len(names), int(table.won[rows].sum()), effective)


def _best_threshold(values: np.ndarray, won: np.ndarray, weights: np.ndarray) -> float | None:
    """The split maximising the weighted accuracy of the two sides' majorities (ties: the smallest), half-way
    between the two distinct values it separates."""
    order = np.argsort(values, kind="stable")
    values, won, weights = values[order], won[order], weights[order]
    last = np.flatnonzero(np.diff(values) > 0)  # the last row of every distinct value but the largest
    if not len(last):
        return None
    wins, losses = np.cumsum(weights * won), np.cumsum(weights * ~won)
    left = np.maximum(wins[last], losses[last])
    right = np.maximum(wins[-1] - wins[last], losses[-1] - losses[last])
    best = last[int(np.argmax(left + right))]
    return float((values[best] + values[best + 1]) / 2)


@dataclass(frozen=True)
class LotoScore:
    """A rule family's leave-one-target-out result: the accuracy on each held-out target, and their mean."""

    family: str
    per_target: dict[str, float]

    @property
    def accuracy(self) -> float:
        return float(np.mean(list(self.per_target.values())))

    def interval(self, seed: int = 0, draws: int = 2000) -> tuple[float, float]:
        """95 % percentile bootstrap interval of the accuracy, targets resampled with replacement."""
        accuracy = np.array(list(self.per_target.values()))
        means = np.random.default_rng(seed).choice(accuracy, size=(draws, len(accuracy))).mean(axis=1)
        return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def leave_one_target_out(table: EvidenceTable, family: str) -> LotoScore:
    """Fit ``family`` on every target but one and score it on that one, for each target."""
    per_target = {}
    for target in np.unique(table.targets):
        held = table.targets == target
        rule = fit_rule(table.subset(~held), family)
        per_target[str(target)] = float(np.mean(rule.right(table.subset(held))))
    return LotoScore(family, per_target)


def choose_rule(table: EvidenceTable, families: Sequence[str]) -> tuple[str, dict[str, LotoScore]]:
    """The family with the best leave-one-target-out accuracy (ties: the earlier one), ``majority`` unless
    another beats it strictly; and every family's score."""
    scores = {family: leave_one_target_out(table, family) for family in (MAJORITY, *families)}
    best = max(scores.values(), key=lambda s: s.accuracy)  # max keeps the first of equals: majority first
    return best.family, scores


def nested_accuracy(table: EvidenceTable, families: Sequence[str]) -> float:
    """Leave-one-target-out accuracy of ``choose_rule`` itself: on each held-out target, the rule chosen (by an
    inner leave-one-target-out) and fitted on the other targets alone."""
    correct = []
    for target in np.unique(table.targets):
        held = table.targets == target
        rest = table.subset(~held)
        family, _ = choose_rule(rest, families)
        correct.append(np.mean(fit_rule(rest, family).right(table.subset(held))))
    return float(np.mean(correct))


@dataclass(frozen=True)
class Selection:
    """What ``select_rule`` found: the family kept, the best by leave-one-target-out, every family's score and the
    nested accuracy of choosing by leave-one-target-out."""

    kept: str
    best: str
    scores: dict[str, LotoScore]
    nested_accuracy: float


def select_rule(table: EvidenceTable, families: Sequence[str]) -> Selection:
    """The rule family the advice uses: the leave-one-target-out best, if choosing it beats the majority rule
    under nested leave-one-target-out too; else the majority rule."""
    best, scores = choose_rule(table, families)
    nested = nested_accuracy(table, families)
    kept = best if best != MAJORITY and nested > scores[MAJORITY].accuracy else MAJORITY
    return Selection(kept, best, scores, nested)


def fit_evidence(table: EvidenceTable, families: Sequence[str]) -> dict[str, Any]:
    """One referent's entry of the evidence file (``tshub.recommender.advice``): counts, every family's held-out
    accuracy with its interval and its fit on every target, the best, the one kept and its fit."""
    selection = select_rule(table, families)
    return {
        "targets": len(np.unique(table.targets)),
        "rows": len(table.won),
        "wins": int(table.won.sum()),
        "rules": {
            family: {"loto_accuracy": s.accuracy, "interval": s.interval(), "rule": asdict(fit_rule(table, family))}
            for family, s in selection.scores.items()
        },
        "best": selection.best,
        "chosen": selection.kept,
        "nested_loto_accuracy": selection.nested_accuracy,
        "rule": asdict(fit_rule(table, selection.kept)),
    }
