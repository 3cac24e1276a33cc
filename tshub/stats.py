"""Statistics of transfer-vs-referent comparisons (Otović et al. §8.6; Ismail Fawaz et al. 2018).

Paired tests (sign test, Wilcoxon signed-rank, Bowker symmetry), the two-stage Benjamini–Krieger–Yekutieli
false-discovery-rate procedure, and ``comparison_table``, which turns the run records of a grid
(``tshub.experiments``) into one row per comparison: mean fine-tuned vs from-scratch metric, relative gain,
wins/ties/losses, test p-values, the BKY decision and mean convergence rates. numpy and scipy only (no
statsmodels: the tests check against it).

Every test returns a ``PairedTest``; its ``effect`` is signed so that positive means "the first argument is
larger" (for ``comparison_table``: "transfer is better", whatever the metric's direction).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as _scipy

from tshub.training.monitor import DATA_LOSS, HIGHER_IS_BETTER, omega_selector

#: Per-task metric compared by default: weighted F1 and MAE, as in Otović et al. (and the convergence rate).
DEFAULT_METRICS = {"classification": "f1_weighted", "regression": "mae"}
ROW_KEYS = ("source", "target", "arch", "seed", "lr_multiplier")
#: Decimals paired differences are rounded to: metrics equal in exact arithmetic (accuracies k/n on one test set)
#: differ by floating-point noise (3/150 - 0 ≠ 147/150 - 144/150), which must not break ties or zeros.
DIFFERENCE_DECIMALS = 12


@dataclass(frozen=True)
class PairedTest:
    """The outcome of a paired test.

    ``n`` is the number of observations the test used (sign test and Wilcoxon: non-tied pairs; Bowker: the
    off-diagonal counts); ``effect`` a signed effect size in [-1, 1] (None for Bowker, which has no direction);
    ``df`` the chi-square degrees of freedom (Bowker only).
    """

    statistic: float
    pvalue: float
    n: int
    effect: float | None = None
    df: int | None = None


def sign_test(wins: int, losses: int) -> PairedTest:
    """Two-sided exact binomial sign test of ``wins`` against ``losses`` (H0: P(win) = 1/2).

    Ties carry no information about the direction and are excluded beforehand (the classical sign test, as in
    Demšar 2006 without tie splitting); no comparisons at all give p = 1. The effect is
    ``(wins - losses) / (wins + losses)``.
    """
    if wins < 0 or losses < 0 or int(wins) != wins or int(losses) != losses:
        raise ValueError(f"wins and losses must be non-negative integers, got {wins} and {losses}.")
    n = int(wins) + int(losses)
    if n == 0:
        return PairedTest(statistic=0.0, pvalue=1.0, n=0, effect=0.0)
    pvalue = _scipy.binomtest(int(wins), n, 0.5, alternative="two-sided").pvalue
    return PairedTest(statistic=float(wins), pvalue=float(pvalue), n=n, effect=(wins - losses) / n)


@dataclass(frozen=True)
class WinTieLoss:
    """Paired units won, tied and lost by a first sample against a second, and the sign test's p-value."""

    wins: int
    ties: int
    losses: int
    pvalue: float


def paired_differences(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``first - second`` rounded to ``DIFFERENCE_DECIMALS``, so that equal differences tie and equal values cancel."""
    return np.round(first - second, DIFFERENCE_DECIMALS)


def win_tie_loss(
    first: Sequence[float] | np.ndarray, second: Sequence[float] | np.ndarray, tolerance: float = 0.0
) -> WinTieLoss:
    """Units where ``first`` is larger than ``second`` by more than ``tolerance`` (wins), smaller by more (losses),
    else ties; with the two-sided sign test of wins against losses. Orient both samples so that larger is better."""
    x, y = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"win_tie_loss needs two 1-d samples of equal length, got {x.shape} and {y.shape}.")
    diff = paired_differences(x, y)
    wins, losses = int(np.sum(diff > tolerance)), int(np.sum(diff < -tolerance))
    return WinTieLoss(wins, len(diff) - wins - losses, losses, sign_test(wins, losses).pvalue)


def wilcoxon_signed_rank(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> PairedTest:
    """Two-sided Wilcoxon signed-rank test of paired samples ``a`` and ``b`` (``scipy.stats.wilcoxon``).

    The differences are ``paired_differences`` (ties not broken by floating-point noise); zero ones are dropped
    before ranking (``zero_method="wilcox"``, Wilcoxon's original rule, consistent with the sign test dropping
    ties); if every difference is zero, p = 1. The p-value is scipy's ``method="auto"`` (scipy 1.17) on the n
    non-zero differences: exact for n <= 50 without tied |differences|; with ties, exact over the 2^n sign flips
    for n <= 13; otherwise the normal approximation with tie-corrected variance and no continuity correction.
    ``statistic`` is scipy's (the smaller rank sum); ``effect`` is the matched-pairs rank-biserial correlation
    ``(R+ - R-) / (R+ + R-)`` of ``a - b``: positive when ``a`` tends to exceed ``b``.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"wilcoxon_signed_rank needs two 1-d samples of equal length, got {x.shape} and {y.shape}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("wilcoxon_signed_rank got NaN or infinite values; drop the incomplete pairs first.")
    d = paired_differences(x, y)
    d = d[d != 0]
    if not len(d):
        return PairedTest(statistic=0.0, pvalue=1.0, n=0, effect=0.0)
    ranks = _scipy.rankdata(np.abs(d))
    effect = float((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())
    result = _scipy.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return PairedTest(statistic=float(result.statistic), pvalue=float(result.pvalue), n=len(d), effect=effect)


def contingency_table(
    first: Sequence[Any] | np.ndarray, second: Sequence[Any] | np.ndarray, labels: Sequence[Any] | None = None
) -> np.ndarray:
    """K×K counts of paired labels: ``table[i, j]`` = #instances with ``first = labels[i]``, ``second = labels[j]``.

    ``labels`` defaults to the sorted union of both samples, so the table is square even when one classifier
    never predicts some class.
    """
    x, y = np.asarray(first), np.asarray(second)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"contingency_table needs two 1-d label arrays of equal length, got {x.shape} and {y.shape}.")
    values = np.unique(np.concatenate([x, y])) if labels is None else np.asarray(labels)
    index = {v: i for i, v in enumerate(values.tolist())}
    unknown = {v for v in np.concatenate([x, y]).tolist() if v not in index}
    if unknown:
        raise ValueError(f"labels {sorted(map(str, unknown))} are not in the given labels {values.tolist()}.")
    table = np.zeros((len(values), len(values)), dtype=np.int64)
    np.add.at(table, ([index[v] for v in x.tolist()], [index[v] for v in y.tolist()]), 1)
    return table


def bowker_symmetry_test(table: Sequence[Sequence[float]] | np.ndarray) -> PairedTest:
    """Bowker's (1948) test of symmetry of a K×K table of paired classifications (McNemar's test when K = 2).

    Otović et al. apply it to the classes predicted by the referent (rows) and the fine-tuned model (columns) on
    the same test instances: H0 is that disagreements i→j and j→i are equally likely. The statistic is
    ``sum_{i<j} (n_ij - n_ji)² / (n_ij + n_ji)``, chi-square distributed. Degenerate pairs with
    ``n_ij + n_ji = 0`` carry no information: they are left out of the sum *and* of the degrees of freedom
    (statsmodels keeps df = K(K-1)/2 instead); a table with no disagreement at all gives p = 1 with df = 0.
    Build the table from paired predictions with ``contingency_table(referent_pred, transfer_pred)``.
    """
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise ValueError(f"bowker_symmetry_test needs a square K×K table, got shape {t.shape}.")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("bowker_symmetry_test needs finite, non-negative counts.")
    upper, lower = t[np.triu_indices(len(t), 1)], t.T[np.triu_indices(len(t), 1)]
    informative = (upper + lower) > 0
    upper, lower = upper[informative], lower[informative]
    df = int(informative.sum())
    n = int(round(float((upper + lower).sum())))
    if df == 0:
        return PairedTest(statistic=0.0, pvalue=1.0, n=n, df=0)
    statistic = float(np.sum((upper - lower) ** 2 / (upper + lower)))
    return PairedTest(statistic=statistic, pvalue=float(_scipy.chi2.sf(statistic, df)), n=n, df=df)


def instance_test(
    task: str,
    y_true: Sequence[Any] | np.ndarray,
    transfer_pred: Sequence[Any] | np.ndarray,
    referent_pred: Sequence[Any] | np.ndarray,
) -> PairedTest:
    """Otović et al.'s test of one fine-tuned model against its referent on the same test instances.

    Classification: Bowker on ``contingency_table(referent_pred, transfer_pred)`` (no direction, ``effect`` None).
    Regression: Wilcoxon on the absolute errors ``(|referent - y|, |transfer - y|)`` (of a multi-output target,
    each series' mean absolute error over its outputs: one pair per test instance), so a positive ``effect``
    means the referent errs more, i.e. transfer is better.
    """
    if task == "classification":
        return bowker_symmetry_test(contingency_table(referent_pred, transfer_pred))
    y = np.asarray(y_true, dtype=np.float64)

    def errors(predicted: Sequence[Any] | np.ndarray) -> np.ndarray:
        error = np.abs(np.asarray(predicted, dtype=np.float64) - y)
        return error.reshape(len(error), -1).mean(axis=1) if error.ndim > 1 else error

    return wilcoxon_signed_rank(errors(referent_pred), errors(transfer_pred))


def benjamini_krieger_yekutieli(pvalues: Sequence[float], alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Two-stage adaptive FDR control of Benjamini, Krieger & Yekutieli (2006, Definition 6); returns ``(rejected, q)``.

    Stage 1: Benjamini–Hochberg at ``α' = α / (1 + α)`` rejects r1 hypotheses; r1 = 0 rejects none, r1 = m
    rejects all. Otherwise stage 2 estimates the number of true nulls ``m0 = m - r1`` and runs
    Benjamini–Hochberg again at ``α* = α' m / m0``. The adjusted values are statsmodels' (``fdr_tsbky``):
    BH-adjusted p-values × ``(1 + α) m0 / m`` (× ``(1 + α)`` when stage 1 decided), capped at 1, so that
    ``rejected == (q <= α)``; unlike BH q-values they depend on ``α``. NaN p-values (untestable comparisons) are
    left out of m and come back not rejected with q = NaN.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}.")
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"benjamini_krieger_yekutieli needs a 1-d sequence of p-values, got shape {p.shape}.")
    valid = ~np.isnan(p)
    if np.any((p[valid] < 0) | (p[valid] > 1)):
        raise ValueError("p-values must lie in [0, 1].")
    rejected, q = np.zeros(len(p), dtype=bool), np.full(len(p), np.nan)
    m = int(valid.sum())
    if m == 0:
        return rejected, q
    order = np.argsort(p[valid], kind="stable")
    sorted_p = p[valid][order]
    alpha_prime = alpha / (1 + alpha)
    reject_sorted, adjusted = _benjamini_hochberg(sorted_p, alpha_prime)
    r1 = int(reject_sorted.sum())
    if r1 in (0, m):
        scale = 1 + alpha
    else:
        m0 = m - r1
        reject_sorted, _ = _benjamini_hochberg(sorted_p, alpha_prime * m / m0)
        scale = (1 + alpha) * m0 / m
    positions = np.flatnonzero(valid)[order]
    rejected[positions] = reject_sorted
    q[positions] = np.minimum(adjusted * scale, 1.0)
    return rejected, q


def _benjamini_hochberg(sorted_p: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """BH step-up on ascending p-values: reject the i smallest for the largest i with p_(i) <= i α / m;
    adjusted p_(i) = min_{j >= i} min(1, m p_(j) / j)."""
    m = len(sorted_p)
    ranks = np.arange(1, m + 1)
    below = np.flatnonzero(sorted_p <= ranks / m * alpha)
    reject = np.zeros(m, dtype=bool)
    if len(below):
        reject[: below[-1] + 1] = True
    adjusted = np.minimum(np.minimum.accumulate((sorted_p * m / ranks)[::-1])[::-1], 1.0)
    return reject, adjusted


# ---------------------------------------------------------------------------------------------------- tables
class ComparisonTable(list):
    """Rows (dicts) that print as a Markdown table; ``columns`` are ``(key, title)`` pairs, absent keys skipped."""

    COLUMNS = (
        ("source", "source"),
        ("target", "target"),
        ("arch", "arch"),
        ("seed", "seed"),
        ("lr_multiplier", "ω"),
        ("metric", "metric"),
        ("test", "test"),
        ("n", "n"),
        ("transfer", "transfer"),
        ("referent", "referent"),
        ("gain_pct", "gain %"),
        ("wtl", "W/T/L"),
        ("sign_p", "sign p"),
        ("wilcoxon_p", "Wilcoxon p"),
        ("statistic", "statistic"),
        ("p", "p"),
        ("effect", "effect"),
        ("q", "BKY q"),
        ("decision", "decision"),
        ("rejected", "rejected"),
        ("convergence_transfer", "conv. transfer"),
        ("convergence_referent", "conv. referent"),
    )

    def __init__(self, rows: Iterable[dict[str, Any]] = (), columns: Sequence[tuple[str, str]] | None = None):
        super().__init__(rows)
        self.columns = tuple(columns or self.COLUMNS)

    def to_markdown(self) -> str:
        keys = {key for row in self for key in row} | ({"wtl"} if any("wins" in row for row in self) else set())
        columns = [(key, title) for key, title in self.columns if key in keys]
        left = {key for key, _ in columns if any(isinstance(row.get(key), str) for row in self)}
        lines = [
            "| " + " | ".join(title for _, title in columns) + " |",
            "|" + "|".join("---" if key in left else "---:" for key, _ in columns) + "|",
        ]
        lines += ["| " + " | ".join(_cell(key, row) for key, _ in columns) + " |" for row in self]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()


def comparison_table(
    records: Iterable[Mapping[str, Any]],
    *,
    by: Sequence[str] = ("source", "target", "arch"),
    metric: str | None = None,
    alpha: float = 0.05,
    test: str = "wilcoxon",
    tie_tolerance: float = 0.0,
) -> ComparisonTable:
    """Fine-tuned vs from-scratch results, one row per distinct ``by`` key, with tests corrected across rows.

    ``records`` are the run records of ``tshub.experiments.run`` (dicts): a from-scratch referent has
    ``kind="referent"`` and a ``run_id``; a fine-tune has ``kind="finetune"``, ``source``, ``referent_id`` (the
    ``run_id`` of its referent: same target, architecture, seed and training data) and ``lr_multiplier``; both
    have ``target``, ``arch``, ``seed``, ``task``, test ``metrics``, ``val_metrics``, ``val_loss`` and
    ``convergence_rate``. Unless ``by`` contains ``"lr_multiplier"``, the ω of each (source, target, arch, seed)
    is chosen on **validation** (accuracy then loss for classification, loss for regression), never on test.

    Each row pairs every selected fine-tune with its referent; the pairs within a row (the seeds, and the
    targets/sources/archs not in ``by``) are the units of the wins/ties/losses (a tie: |difference| <=
    ``tie_tolerance``), the sign test and the Wilcoxon test. Pairs pooled across targets are not independent (the
    seeds of one target share its data and test set): for a claim over targets, test the per-target means
    (bench/finetune_vs_scratch.py does). ``metric`` defaults to weighted F1 / MAE by task;
    ``improvement`` is the mean difference and ``gain_pct`` the relative one, both signed so that positive means
    transfer is better (also for errors, where it is referent minus transfer). The p-values of ``test``
    ("wilcoxon" or "sign") are corrected with ``benjamini_krieger_yekutieli`` across rows; ``decision`` is
    "better" / "worse" when rejected, in the direction that test found (wins − losses for the sign test, the
    rank-biserial ``wilcoxon_effect`` for Wilcoxon; the mean can point the other way), else "n.s.".
    """
    if test not in ("wilcoxon", "sign"):
        raise ValueError(f"test must be 'wilcoxon' or 'sign', got {test!r}.")
    unknown = [key for key in by if key not in ROW_KEYS]
    if unknown:
        raise ValueError(f"comparison_table can group by {list(ROW_KEYS)}, not {unknown}.")
    records = list(records)
    referents = {r["run_id"]: r for r in records if r.get("kind") == "referent"}
    finetunes = refuse_two_runs_of_one_setting([r for r in records if r.get("kind") == "finetune"])
    if "lr_multiplier" not in by:
        finetunes = select_lr_multiplier(finetunes)
    groups: dict[tuple, list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = {}
    for record in finetunes:
        referent = referents.get(record["referent_id"])
        if referent is not None:
            groups.setdefault(tuple(record[key] for key in by), []).append((record, referent))
    rows = ComparisonTable(
        _row(dict(zip(by, key)), pairs, metric, tie_tolerance)
        for key, pairs in sorted(groups.items(), key=lambda item: item[0])
    )
    rejected, q = benjamini_krieger_yekutieli([row[f"{test}_p"] for row in rows], alpha)
    for row, reject, q_value in zip(rows, rejected, q):
        direction = row["wins"] - row["losses"] if test == "sign" else row["wilcoxon_effect"]
        row["q"] = float(q_value)
        row["decision"] = "n.s." if not reject else "better" if direction > 0 else "worse"
    return rows


def refuse_two_runs_of_one_setting(finetunes: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``finetunes``, refused (``ValueError`` naming the runs) where one (source, target, arch, seed, ω) has two runs:
    a folder's stale records (a source rebuilt, other settings) would count one seed twice, or be chosen between as
    if they were ω."""
    runs: dict[tuple, list[str]] = defaultdict(list)
    for record in finetunes:
        runs[tuple(record[k] for k in ("source", "target", "arch", "seed", "lr_multiplier"))].append(record["run_id"])
    twice = {key: ids for key, ids in runs.items() if len(ids) > 1}
    if twice:
        (source, target, arch, seed, omega), ids = next(iter(twice.items()))
        raise ValueError(
            f"two runs of one setting: {source} → {target} ({arch}, seed {seed}, ω {omega:g}): {', '.join(ids)}"
            f"{f' and {len(twice) - 1} more settings' if len(twice) > 1 else ''}; tabulate the records of one grid "
            "(a source rebuilt or other settings left the older runs in the folder)."
        )
    return finetunes


def select_lr_multiplier(finetunes: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Keep, per (source, target, arch, seed, referent), the fine-tune whose ω did best on validation.

    As ``finetune`` chooses (``omega_selector``): accuracy with the loss breaking ties for classification, the loss
    for regression, without a weight penalty. Otović et al. picked ω on the test set; tshub never does.
    """
    best: dict[tuple, Mapping[str, Any]] = {}
    for record in finetunes:
        key = (record["source"], record["target"], record["arch"], record["seed"], record["referent_id"])
        monitor = omega_selector(record["task"])
        if key not in best or monitor.improved(_val_scores(record), _val_scores(best[key])):
            best[key] = record
    return list(best.values())


def _val_scores(record: Mapping[str, Any]) -> dict[str, float]:
    losses = {k: record[k] for k in ("val_loss", f"val_{DATA_LOSS}") if record.get(k) is not None}
    return {**losses, **{f"val_{k}": v for k, v in record["val_metrics"].items()}}


def _row(
    keys: dict[str, Any],
    pairs: list[tuple[Mapping[str, Any], Mapping[str, Any]]],
    metric: str | None,
    tie_tolerance: float,
) -> dict[str, Any]:
    tasks = {f["task"] for f, _ in pairs}
    if metric is None and len(tasks) > 1:
        raise ValueError(
            f"the row {keys} mixes {sorted(tasks)} targets, whose default metrics differ: add 'target' "
            "to by=, or pass metric=."
        )
    name = metric or DEFAULT_METRICS[tasks.pop()]
    missing = [r["run_id"] for pair in pairs for r in pair if name not in r["metrics"]]
    if missing:
        raise ValueError(
            f"metric {name!r} is missing from the test metrics of runs {missing}; "
            f"choose one of {sorted(pairs[0][0]['metrics'])}."
        )
    sign = 1.0 if name.endswith(HIGHER_IS_BETTER) else -1.0  # orient so that larger = better
    transfer = np.array([f["metrics"][name] for f, _ in pairs], dtype=np.float64)
    referent = np.array([r["metrics"][name] for _, r in pairs], dtype=np.float64)
    outcome = win_tie_loss(sign * transfer, sign * referent, tie_tolerance)
    wilcoxon = wilcoxon_signed_rank(sign * transfer, sign * referent)
    mean_t, mean_r = float(transfer.mean()), float(referent.mean())
    improvement = sign * (mean_t - mean_r)
    return {
        **keys,
        "metric": name,
        "n": len(pairs),
        "transfer": mean_t,
        "referent": mean_r,
        "improvement": improvement,
        "gain_pct": improvement / abs(mean_r) * 100 if mean_r != 0 else math.nan,
        "wins": outcome.wins,
        "ties": outcome.ties,
        "losses": outcome.losses,
        "sign_p": outcome.pvalue,
        "wilcoxon_p": wilcoxon.pvalue,
        "wilcoxon_effect": wilcoxon.effect,
        "convergence_transfer": _mean(f.get("convergence_rate") for f, _ in pairs),
        "convergence_referent": _mean(r.get("convergence_rate") for _, r in pairs),
    }


def _mean(values: Iterable[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else math.nan


def _cell(key: str, row: Mapping[str, Any]) -> str:
    if key == "wtl":
        return f"{row['wins']}/{row['ties']}/{row['losses']}"
    value = row.get(key)
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if key in ("sign_p", "wilcoxon_p", "p", "q"):
            return f"{value:.3g}"
        if key == "gain_pct":
            return f"{value:+.2f}"
        return f"{value:.4g}"
    return str(value)
