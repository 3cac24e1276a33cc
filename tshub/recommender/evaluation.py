"""Judging a ranking method against fine-tuned ground truth: the first pick's accuracy, regret and rank per target,
and, over targets, wins against a random pick, the referents (training from scratch, MiniRocket) and the default
method with sign tests.

A recommender is only as good as the fine-tuned result of the source it picks (tshub.recommend's docstring), so
the unit of evidence is the target: each target gives one paired observation, and the tests count targets.
Ties are treated as a user would meet them: a method whose top score is shared picks one of the tied candidates at
random, so its pick is worth the mean accuracy of the tied ones; a candidate it cannot score (None) is never picked
unless it can score none, in which case its pick is a random one. A referent within its tie (``REFERENT_TIE``) of
candidates shares their rank, as a pick does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.stats import kendalltau, spearmanr

from tshub.recommender.advice_rules import WIN_MARGIN
from tshub.stats import benjamini_krieger_yekutieli, win_tie_loss

REFERENTS = ("scratch", "minirocket")  # no transfer at all: the same network from scratch, and MiniRocket
BASELINES = ("oracle", "random", *REFERENTS)
TIE = 1e-9  # accuracies closer than this are equal (means of two seeds on the same test set)
#: Accuracies this close to a referent's tie with it: MiniRocket's come from a table rounded to 4 decimals.
REFERENT_TIE = {referent: max(TIE, WIN_MARGIN[referent]) for referent in REFERENTS}


@dataclass(frozen=True)
class TargetTruth:
    """The fine-tuned test accuracy (mean over seeds) of every candidate source of one target, and its referents."""

    target: str
    accuracy: dict[str, float]
    scratch: float | None = None
    minirocket: float | None = None

    def restricted(self, keep: Mapping[str, Any]) -> TargetTruth:
        """The same truth over the candidates named in ``keep`` only."""
        return replace(self, accuracy={c: a for c, a in self.accuracy.items() if c in keep})

    @property
    def best(self) -> float:
        return max(self.accuracy.values())

    def rank_of(self, accuracy: float, tie: float = TIE) -> float:
        """The rank an accuracy would take among the candidates: 1 + the number better by more than ``tie``, and
        with candidates within ``tie`` of it, their mean rank."""
        values = np.array(list(self.accuracy.values()))
        better = int((values > accuracy + tie).sum())
        tied = int((np.abs(values - accuracy) <= tie).sum())
        return better + (1 + tied) / 2 if tied else better + 1.0


def judge(scores: Mapping[str, float | None], truth: TargetTruth) -> dict[str, Any]:
    """One method on one target: its pick (the candidates tied at its top score), their mean accuracy, the regret
    (best − pick), the pick's rank among the candidates (1 = best), its chance of a top-1 hit (the share of the
    tied that are the best), and Kendall τ-b and Spearman ρ between its scores and the accuracies over the candidates
    it scored."""
    names = list(truth.accuracy)
    accuracy = np.array([truth.accuracy[c] for c in names])
    raw = np.array([_number(scores.get(c)) for c in names])
    scored = ~np.isnan(raw)
    key = np.where(scored, raw, -np.inf)
    picked = np.flatnonzero(key == key.max())
    pick_accuracy = float(accuracy[picked].mean())
    regret = truth.best - pick_accuracy
    return {
        "pick": [names[i] for i in picked],
        "accuracy": pick_accuracy,
        "regret": regret,
        "rank": float(np.mean([truth.rank_of(accuracy[i]) for i in picked])),
        "top1": float(np.mean(accuracy[picked] >= truth.best - TIE)),
        "kendall": _correlation(kendalltau, raw[scored], accuracy[scored]),
        "spearman": _correlation(spearmanr, raw[scored], accuracy[scored]),
        "scored": int(scored.sum()),
    }


def baselines(truth: TargetTruth) -> dict[str, dict[str, Any]]:
    """The oracle (the best candidate), a uniform random pick (its expectation) and the referents scratch and
    MiniRocket (when known), in the same terms as ``judge``."""
    mean = float(np.mean(list(truth.accuracy.values())))
    out = {
        "oracle": {"accuracy": truth.best, "regret": 0.0, "rank": truth.rank_of(truth.best)},
        "random": {"accuracy": mean, "regret": truth.best - mean, "rank": (len(truth.accuracy) + 1) / 2},
    }
    for referent in REFERENTS:
        accuracy = getattr(truth, referent)
        if accuracy is not None:
            rank = truth.rank_of(accuracy, REFERENT_TIE[referent])
            out[referent] = {"accuracy": accuracy, "regret": truth.best - accuracy, "rank": rank}
    return out


def chosen_on_other_targets(
    outcomes: Mapping[str, Mapping[str, Mapping[str, Any]]], methods: list[str]
) -> dict[str, dict[str, Any]]:
    """Per target, the outcome of the method with the lowest mean regret on the *other* targets (the first listed
    on a tie), under ``chosen``: what choosing a method by this very benchmark is worth on a target it did not see,
    free of the optimism of naming the best of many methods after looking at every target."""
    out = {}
    for target in outcomes:
        others = [t for t in outcomes if t != target]
        best = min(methods, key=lambda m: float(np.mean([outcomes[t][m]["regret"] for t in others])))
        out[target] = {**outcomes[target][best], "chosen": best}
    return out


def paired(first: list[float], second: list[float], tie: float = TIE) -> dict[str, Any]:
    """Wins/ties/losses of ``first`` against ``second`` (paired by target; within ``tie``: a tie) and the two-sided
    sign-test p."""
    outcome = win_tie_loss(first, second, tie)
    return {"wtl": [outcome.wins, outcome.ties, outcome.losses], "p": outcome.pvalue}


def bootstrap_interval(values: list[float], n: int = 10_000, seed: int = 0, level: float = 0.95) -> list[float]:
    """Percentile bootstrap interval of the mean, targets resampled with replacement."""
    data = np.asarray(values, dtype=float)
    means = data[np.random.default_rng(seed).integers(0, len(data), (n, len(data)))].mean(axis=1)
    return [float(np.quantile(means, (1 - level) / 2)), float(np.quantile(means, (1 + level) / 2))]


def summarise(outcomes: Mapping[str, Mapping[str, Mapping[str, Any]]], default: str | None = None) -> dict[str, Any]:
    """Per method (and baseline) over the targets: mean accuracy of the pick, mean regret with its bootstrap
    interval, median and max regret, mean and median rank; paired sign tests of every row against the referents
    scratch and MiniRocket where known (ties: ``REFERENT_TIE``); per method also top-1 hits (expected, ties at
    its top score counting their share of the best), mean τ and ρ over the targets where the method scored three
    candidates or more and both its scores and their accuracies vary (``kendall_targets``, ``spearman_targets``: how
    many), and sign tests against the
    random pick and ``default``, the vs-random p values of the methods corrected together
    (Benjamini–Krieger–Yekutieli, q = 0.05: ``bky``, the two-sided test rejected; ``beats``, rejected with more wins
    than losses: a method reliably worse than random rejects too), and the bootstrap interval of the mean of the
    per-target regret gains over the random pick (``regret_gain_ci``: its regret less the method's, paired by
    target). ``outcomes``: target → method or baseline name → ``judge``/``baselines`` row."""
    targets = list(outcomes)
    names = list(dict.fromkeys(n for per in outcomes.values() for n in per))
    rows: dict[str, Any] = {}
    for name in names:
        present = [t for t in targets if name in outcomes[t]]
        entries = [outcomes[t][name] for t in present]
        regret = [e["regret"] for e in entries]
        row: dict[str, Any] = {
            "targets": len(entries),
            "accuracy": float(np.mean([e["accuracy"] for e in entries])),
            "regret": float(np.mean(regret)),
            "regret_ci": bootstrap_interval(regret),
            "median_regret": float(np.median(regret)),
            "max_regret": float(np.max(regret)),
            "rank": float(np.mean([e["rank"] for e in entries])),
            "median_rank": float(np.median([e["rank"] for e in entries])),
        }
        if name not in BASELINES:
            row["top1"] = float(sum(e["top1"] for e in entries))
            for corr in ("kendall", "spearman"):
                values = [e[corr] for e in entries if e[corr] is not None]
                row[corr] = float(np.mean(values)) if values else None
                row[f"{corr}_targets"] = len(values)  # the targets whose scores (and accuracies) vary
            row["vs_random"] = paired(
                [e["accuracy"] for e in entries], [outcomes[t]["random"]["accuracy"] for t in present]
            )
            row["regret_gain_ci"] = bootstrap_interval(
                [outcomes[t]["random"]["regret"] - e["regret"] for t, e in zip(present, entries)]
            )
            if default is not None and name != default and all(default in outcomes[t] for t in present):
                row["vs_default"] = paired(
                    [e["accuracy"] for e in entries], [outcomes[t][default]["accuracy"] for t in present]
                )
        for referent in REFERENTS:
            known = [t for t in present if referent in outcomes[t]]
            if known and referent != name:
                row[f"vs_{referent}"] = paired(
                    [outcomes[t][name]["accuracy"] for t in known],
                    [outcomes[t][referent]["accuracy"] for t in known],
                    REFERENT_TIE[referent],
                )
        rows[name] = row
    methods = [n for n in names if n not in BASELINES]
    if methods:
        rejected, _ = benjamini_krieger_yekutieli([rows[m]["vs_random"]["p"] for m in methods])
        for m, r in zip(methods, rejected):
            wins, _, losses = rows[m]["vs_random"]["wtl"]
            rows[m]["vs_random"] |= {"bky": bool(r), "beats": bool(r) and wins > losses}
    return rows


def _number(value: float | None) -> float:
    return math.nan if value is None or not math.isfinite(value) else float(value)


def _correlation(fn: Any, a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    value = fn(a, b)[0]
    return None if np.isnan(value) else float(value)
