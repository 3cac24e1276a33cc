"""When not to transfer: whether fine-tuning the recommender's first pick is expected to beat training from
scratch (and MiniRocket) on the target, and the evidence that answer rests on.

Every ``Recommendation`` carries a ``TransferAdvice``. Its answers come from ``advice_evidence.json`` beside this
module, written by ``bench/transfer_advice.py --write-evidence`` from benchmark results (never by hand): per
evidence source and referent, the rules scored leave-one-target-out (``advice_rules``) and the one kept (the
majority answer unless a feature rule beats it). The answer for a target is the rate of wins in the rule's group
the target falls in: "yes" above one half, "no" below, "unknown" at one half or where the evidence does not reach
(a regression target; MiniRocket on data without a reference accuracy). Weak evidence is said in words.

When the target is itself one of the evidence's targets (``evidence_target``: a UCR set loaded from the catalogue,
not a user's file of the same name), the rule is chosen and fitted again on the evidence rows without it, as the
benchmark scores the advice, and the advice says so and what was measured on that target: quoting a rule fitted on
the target's own outcome would pass that outcome off as a prediction.

The features are known before any training (``FEATURES``); the MiniRocket reference accuracies of the UCR 2018
sets (``minirocket_ucr.tsv``, aeon's MiniRocketClassifier) are vendored beside this module.
"""

from __future__ import annotations

import csv
import functools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tshub.data.catalogue import holds_official_split
from tshub.data.dataset import Dataset
from tshub.hub.card import METRIC_NAMES, PERSISTENCE
from tshub.hub.store import PRIMARY_METRIC
from tshub.recommender.advice_rules import (
    MAJORITY,
    WIN_MARGIN,
    EvidenceTable,
    FittedRule,
    Group,
    answer_of,
    beats,
    fit_evidence,
    fit_rule,
    table_of,
)

HERE = Path(__file__).resolve().parent
EVIDENCE_FILE = HERE / "advice_evidence.json"
MINIROCKET_FILE = HERE / "minirocket_ucr.tsv"
FORMAT_VERSION = 2  # 2: groups carry effective_targets
REFERENTS = {"scratch": "training from scratch", "minirocket": "MiniRocket"}
#: Features of a (target, source) pair known before any training; the evidence file fits rules on them.
FEATURES = {
    "n_train": "the target's training series (validation series included)",
    "per_class": "the target's training series per class",
    "length": "the target's series length",
    "n_classes": "the target's number of classes",
    "score": "the recommender's LogME of the source on the target (fast plan)",
    "same_domain": "1 when the source's dataset has the target's domain (e.g. UCR/Sensor), else 0",
    "source_accuracy": "the source checkpoint's own test accuracy on its dataset",
}
SCORE_METHOD = "logme"


@dataclass(frozen=True)
class Verdict:
    """Whether fine-tuning the pick is expected to beat one referent: ``answer`` "yes", "no" or "unknown";
    ``probability`` the rate of wins it rests on; the group of evidence rows and the rule's held-out accuracy.
    ``held_out``: the benchmark target the user's target is, left out of the evidence the rule was fitted on;
    ``measured_pairs``: that target's pairs in all the evidence, ``measured_wins`` of them won by fine-tuning."""

    referent: str
    answer: str
    probability: float | None
    explanation: str
    rule: str | None = None
    group: str | None = None
    targets: int | None = None
    rows: int | None = None
    wins: int | None = None
    interval: tuple[float, float] | None = None
    weak: bool = True
    loto_accuracy: float | None = None
    majority_loto_accuracy: float | None = None
    nested_loto_accuracy: float | None = None
    reference_accuracy: float | None = None
    held_out: str | None = None
    measured_wins: int | None = None
    measured_pairs: int | None = None


@dataclass(frozen=True)
class TransferAdvice:
    """The advice on the first pick: against scratch and against MiniRocket, the features it used, the evidence."""

    source: str
    scratch: Verdict
    minirocket: Verdict
    features: dict[str, float | None] = field(default_factory=dict)
    evidence: str = ""
    evidence_file: str = ""
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary()}

    def summary(self) -> str:
        """One line: the two answers with their probabilities, and what was measured on the target itself when it
        is a benchmark target."""
        verdicts = (self.scratch, self.minirocket)
        answers = "; ".join(f"{_short(v.referent)}: {v.answer}{_probability(v)}" for v in verdicts)
        held_out = next((v.held_out for v in verdicts if v.held_out), None)
        measured = [
            f"{_short(v.referent)} in {v.measured_wins} of {v.measured_pairs}" for v in verdicts if v.measured_pairs
        ]
        if held_out is None or not measured:
            return f"fine-tuning {self.source} beats {answers}"
        return (
            f"fine-tuning {self.source} beats {answers}; measured on {held_out} itself (held out of the evidence), "
            f"fine-tuning beat {', '.join(measured)} pairs"
        )

    def __str__(self) -> str:
        lines = [f"advice: {self.summary()}"]
        for verdict in (self.scratch, self.minirocket):
            lines.append(f"  vs {REFERENTS[verdict.referent]}: {verdict.explanation}")
        lines.append(f"  evidence: {self.evidence_file} ({self.evidence}); refit: {self.command}")
        return "\n".join(lines)


def _short(referent: str) -> str:
    return REFERENTS[referent].removeprefix("training from ")


def _probability(verdict: Verdict) -> str:
    return "" if verdict.probability is None else f" (win rate {verdict.probability:.2f})"


# ---------------------------------------------------------------------------------------------------- features
def pick_features(
    dataset: Dataset, source_config: dict[str, Any], score: float | None, method: str | None
) -> dict[str, float | None]:
    """``FEATURES`` of fine-tuning the source of ``source_config`` on ``dataset`` (None where unknown); ``score``
    counts only when ``method`` is the evidence's (LogME)."""
    # data without splits is training data (tshub.data.splits.training_splits), not zero training series
    n_train = sum(len(dataset.splits.get(name, ())) for name in ("train", "val")) if dataset.splits else len(dataset.X)
    n_classes = len(dataset.classes) if dataset.task == "classification" and dataset.classes else None
    source = s if isinstance(s := source_config.get("source"), dict) else {}
    source_domain, target_domain = source.get("domain"), dataset.meta.get("domain")
    accuracy = (source_config.get("metrics") or {}).get("accuracy")
    return {
        "n_train": float(n_train),
        "per_class": n_train / n_classes if n_classes else None,
        "length": float(dataset.length),
        "n_classes": None if n_classes is None else float(n_classes),
        "channels": float(dataset.n_channels),
        "score": float(score) if score is not None and method == SCORE_METHOD and math.isfinite(score) else None,
        "same_domain": float(source_domain == target_domain) if source_domain and target_domain else None,
        "source_accuracy": float(accuracy) if isinstance(accuracy, (int, float)) else None,
    }


# ---------------------------------------------------------------------------------------------------- MiniRocket
@functools.cache
def minirocket_references(path: Path = MINIROCKET_FILE) -> dict[str, float]:
    """MiniRocket's test accuracy on each UCR 2018 set's official split, by dataset name."""
    with path.open() as f:
        rows = csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t")
        return {row["dataset"]: float(row["accuracy"]) for row in rows}


def minirocket_reference(dataset: Dataset, official: bool | None = None) -> float | None:
    """The reference accuracy when ``dataset`` is a UCR 2018 set loaded from the catalogue with its official
    TRAIN/TEST split (what the reference was measured on); None for any other data, a catalogue set cut down or
    re-split included. ``official``: ``holds_official_split(dataset)``, where the caller has it (it hashes every
    series)."""
    references = minirocket_references()
    if dataset.name not in references:
        return None
    return references[dataset.name] if (holds_official_split(dataset) if official is None else official) else None


# ---------------------------------------------------------------------------------------------------- evidence
@functools.cache
def load_evidence(path: Path = EVIDENCE_FILE) -> dict[str, Any]:
    """The evidence file (see ``bench/transfer_advice.py --write-evidence``), checked for its format."""
    evidence = json.loads(path.read_text())
    if evidence.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: evidence format {evidence.get('format_version')!r}, this tshub reads {FORMAT_VERSION}; "
            "rewrite it with `python bench/transfer_advice.py --write-evidence`."
        )
    return evidence


def rule_from_dict(data: dict[str, Any]) -> FittedRule:
    groups = {k: None if data.get(k) is None else Group(**data[k]) for k in ("overall", "below", "above")}
    overall = groups.pop("overall")
    assert overall is not None
    return FittedRule(data["family"], overall, data.get("feature"), data.get("threshold"), **groups)


def advise(
    dataset: Dataset,
    source: str,
    source_config: dict[str, Any],
    score: float | None,
    method: str | None,
    evidence: dict[str, Any] | None = None,
) -> TransferAdvice:
    """The advice on fine-tuning ``source`` (its checkpoint config, its recommender score by ``method``) on
    ``dataset``, from ``evidence`` (default: the shipped file)."""
    evidence = load_evidence() if evidence is None else evidence
    name = evidence["rests_on"]
    entry = evidence["evidence"][name]
    features = pick_features(dataset, source_config, score, method)
    official = holds_official_split(dataset)
    target = evidence_target(dataset, features, evidence, official)
    reference = minirocket_reference(dataset, official)
    outside = outside_evidence(entry["rows"], features)
    verdicts = {}
    for referent in REFERENTS:
        tables = {n: table_of(e["rows"], referent, evidence["features"]) for n, e in evidence["evidence"].items()}
        held = target if target in tables[name].targets else None
        fit = entry["against"][referent] if held is None else _fit_without(tables[name], held)
        verdicts[referent] = _verdict(
            referent,
            fit,
            features,
            dataset,
            reference if referent == "minirocket" else None,
            method,
            _elsewhere(evidence, tables, target),
            target,
            held is not None,
            _measured(tables, target, source, referent),
            outside,
            entry.get("first_pick", {}).get(referent),
        )
    return TransferAdvice(
        source,
        verdicts["scratch"],
        verdicts["minirocket"],
        features,
        f"{name}: {entry['description']}",
        entry["file"],
        evidence["command"],
    )


#: The target's own features, which the evidence's targets span: a target beyond that span gets a rate extrapolated.
#: ``channels`` is recorded beside ``FEATURES`` (no rule splits on it: the evidence's targets are all univariate UCR
#: sets) and ignored where an evidence row lacks it.
TARGET_FEATURES = ("n_train", "per_class", "length", "n_classes", "channels")


def outside_evidence(rows: list[dict[str, Any]], features: dict[str, float | None]) -> str | None:
    """Which of the target's features lie outside the span of the evidence's targets, in words (None: none do): a
    rate measured on 20-70 training series of length 70-570 says little about 16 series of 20,000 steps."""
    parts = []
    for name in TARGET_FEATURES:
        value = features.get(name)
        seen = [r["features"][name] for r in rows if r["features"].get(name) is not None]
        if value is None or not seen:
            continue
        low, high = min(seen), max(seen)
        if not low <= value <= high:
            parts.append(f"{name} {value:.4g} where the evidence's targets span {low:.4g}-{high:.4g}")
    return ("outside its evidence: " + ", ".join(parts) + ", so that rate is an extrapolation") if parts else None


def evidence_target(
    dataset: Dataset, features: dict[str, float | None], evidence: dict[str, Any], official: bool | None = None
) -> str | None:
    """The evidence target ``dataset`` is, if any: a UCR set loaded from the catalogue under that target's name,
    with the training series (validation included) and length the evidence recorded for it. Data from elsewhere
    never matches, whatever its name (a user's file called GunPoint is not known to hold GunPoint's series), nor does
    a catalogue set cut down or resampled. ``official`` as ``minirocket_reference`` takes it."""
    official = holds_official_split(dataset) if official is None else official
    if not official:  # the evidence's targets were fine-tuned on their official splits
        return None
    recorded = {
        (r["target"], r["features"]["n_train"], r["features"]["length"])
        for entry in evidence["evidence"].values()
        for r in entry["rows"]
    }
    return dataset.name if (dataset.name, features["n_train"], features["length"]) in recorded else None


def _fit_without(table: EvidenceTable, target: str) -> dict[str, Any]:
    """The evidence's fit (its rule chosen and fitted, as in the evidence file) on every target but ``target``:
    what the benchmark's leave-one-target-out scores, and what a target outside the evidence gets."""
    return fit_evidence(table.subset(table.targets != target), list(table.features))


def _elsewhere(evidence: dict[str, Any], tables: dict[str, EvidenceTable], target: str | None) -> str:
    """The overall rate on the evidence the advice does not rest on, without ``target``, in words ("" when there
    is none)."""
    rates = []
    for name, table in tables.items():
        if name != evidence["rests_on"]:
            overall = fit_rule(table.subset(table.targets != target), MAJORITY).overall
            rates.append(f"{name}, {overall.rate:.0%} of {overall.rows} pairs of {overall.targets} targets")
    return f"other evidence: {'; '.join(rates)}" if rates else ""


def _measured(
    tables: dict[str, EvidenceTable], target: str | None, source: str, referent: str
) -> tuple[int, int, str] | None:
    """What every evidence measured on ``target`` itself against ``referent``: wins, pairs, and in words (with
    the outcome of ``source`` where it was one of them); None when ``target`` is None or has no such pairs."""
    parts, wins, pairs = [], 0, 0
    for name, table in tables.items():
        held = table.targets == target
        if held.any():
            won = table.won[held]
            wins, pairs = wins + int(won.sum()), pairs + len(won)
            mine = table.sources[held] == source
            pick = f" (this source {'won' if won[mine][0] else 'did not'})" if mine.any() else ""
            parts.append(f"{int(won.sum())} of {len(won)} pairs in {name}{pick}")
    if not pairs:
        return None
    return wins, pairs, f"measured on {target} itself, fine-tuning beat {_short(referent)} in {' and '.join(parts)}"


def _verdict(
    referent: str,
    fit: dict[str, Any],
    features: dict[str, float | None],
    dataset: Dataset,
    reference: float | None,
    method: str | None,
    elsewhere: str,
    held_out: str | None,
    refitted: bool,
    measured: tuple[int, int, str] | None,
    outside: str | None = None,
    first_picks: dict[str, float] | None = None,
) -> Verdict:
    """``refitted``: ``held_out`` is one of the targets of the evidence the advice rests on, whose rule was chosen
    and fitted again without it (else that evidence never held it). ``first_picks``: how the advice fared on the
    evidence's own first picks (``bench/transfer_advice.py``'s ``first_picks``), where recorded."""
    rule = rule_from_dict(fit["rule"])
    overall = _rate_words(rule.overall, referent)
    if dataset.task != "classification":
        return Verdict(
            referent, "unknown", None, f"the evidence covers classification targets only (test accuracy); {overall}."
        )
    value = features.get(rule.feature) if rule.feature else None
    group = rule.group(value)
    scores = fit["rules"]
    words = [_rate_words(group, referent) if group is not rule.overall else overall, _rule_words(fit, rule)]
    words += [_first_pick_words(first_picks, referent)] if first_picks and first_picks.get("targets") else []
    if rule.feature and group is rule.overall:
        words.append(f"the rule needs {rule.feature}, {_why_missing(rule.feature, method)}, so the overall rate")
    low, high = wilson_interval(group.rate, group.effective_targets)
    weak = low <= 0.5 <= high
    if weak:
        split = round(group.effective_targets, 1) < group.targets
        over = (
            f"{group.effective_targets:.1f} effective of {group.targets} targets"
            if split
            else f"{group.targets} targets"
        )
        words.append(
            f"weak evidence: the 95 % interval of that rate over {over}, [{low:.2f}, {high:.2f}], includes even odds"
        )
    words += [outside] if outside else []
    words += [elsewhere] if elsewhere else []
    if held_out is not None:
        fitted_on = (
            f"the other {fit['targets']} targets"
            if refitted
            else f"{fit['targets']} targets, {held_out} not among them"
        )
        words.insert(
            0,
            f"{held_out} is one of the benchmark targets, so it is held out of the evidence: the rule was chosen "
            f"and fitted on {fitted_on}",
        )
    words += [measured[2]] if measured else []
    answer = answer_of(group.rate)
    probability: float | None = group.rate
    if referent == "minirocket":
        if reference is None:  # the benchmark's rate is in the words, but no answer for this data
            answer, probability = "unknown", None
            words.insert(
                0,
                "no MiniRocket reference accuracy for this data (the vendored table covers the UCR 2018 sets "
                "loaded from the catalogue): MiniRocket is the baseline to try (tshub.baselines.minirocket, or "
                "`tshub finetune … --baseline`, fits it on your splits in seconds)",
            )
        else:
            words.insert(0, f"MiniRocket's reference test accuracy on {dataset.name} is {reference:.3f}")
    return Verdict(
        referent,
        answer,
        probability,
        "; ".join(words) + ".",
        rule.family,
        group.when,
        group.targets,
        group.rows,
        group.wins,
        (low, high),
        weak,
        scores[rule.family]["loto_accuracy"],
        scores[MAJORITY]["loto_accuracy"],
        fit["nested_loto_accuracy"],
        reference,
        held_out,
        *(measured[:2] if measured else (None, None)),
    )


def _rate_words(group: Group, referent: str) -> str:
    beat = f"fine-tuning beat {_short(referent)}"
    where = "" if group.when == "all" else f" with {group.when}"
    if group.rows == group.targets:
        return f"on {group.targets} benchmark targets{where}, {beat} on {group.wins} ({group.rate:.0%})"
    return (
        f"on {group.rows} target-source pairs of {group.targets} benchmark targets{where}, {beat} "
        f"in {group.rate:.0%} (each target weighs the same)"
    )


def _rule_words(fit: dict[str, Any], rule: FittedRule) -> str:
    scores, nested = fit["rules"], fit["nested_loto_accuracy"]
    majority = scores[MAJORITY]["loto_accuracy"]
    always = answer_of(rule.overall.rate)
    if rule.family != MAJORITY:
        return (
            f"the rule '{rule.feature} <= {rule.threshold:.4g}' was right on {scores[rule.family]['loto_accuracy']:.2f} "
            f"of held-out targets against {majority:.2f} for always answering {always} ({nested:.2f} counting the "
            "choice of the rule)"
        )
    words = f"no feature known before training predicted it better than always answering {always}"
    best = fit["best"]
    if best == MAJORITY:
        others = {k: v["loto_accuracy"] for k, v in scores.items() if k != MAJORITY}
        runner_up = max(others, key=lambda k: others[k]) if others else None
        tail = "" if runner_up is None else f"; the best feature rule, {runner_up}: {others[runner_up]:.2f}"
        return f"{words} (leave-one-target-out accuracy {majority:.2f}{tail})"
    return (
        f"{words} (leave-one-target-out accuracy {majority:.2f}; the best feature rule, {best}, scored "
        f"{scores[best]['loto_accuracy']:.2f} on held-out targets but {nested:.2f} once its choice is validated too)"
    )


def _first_pick_words(picks: dict[str, float], referent: str) -> str:
    """The advice's record on the evidence's first picks, what a user is advised on: the rule is fitted on every
    pair of a target, and a target's pick by LogME may win more (or less) often than its pairs do."""
    targets, won, right = int(picks["targets"]), int(picks["pick_won"]), float(picks["advice_right"])
    words = (
        f"on the evidence's own first picks (each target's source of highest LogME) the rule's answer, given with that "
        f"target unseen, was right on {right:g} of {targets} targets, the pick beating {_short(referent)} on {won}"
    )
    constant = max(won, targets - won)
    if right < constant:
        words += (
            f": always answering {'yes' if won >= targets - won else 'no'} would, in hindsight, have been right on "
            f"{constant}"
        )
    return words


def _why_missing(feature: str, method: str | None) -> str:
    if feature == "score" and method != SCORE_METHOD:
        return f"the {SCORE_METHOD} score, which a ranking by {method} does not give"
    return "unknown for this target or source"


def wilson_interval(rate: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a rate observed over ``n`` independent units (here: effective targets,
    ``Group.effective_targets``). The rate is a weighted mean of per-target shares in [0, 1], whose variance the
    binomial p(1 − p) bounds, so the interval is, if anything, conservative."""
    if n <= 0:
        return 0.0, 1.0
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def outcome(tuned: float, referent_value: float, referent: str, higher_is_better: bool = True) -> str:
    """ "won", "did not win" or "tied" (MiniRocket: "tied (within the table's rounding)"): a fine-tune's test metric
    against a referent's, as the evidence counts it (``beats``); ``higher_is_better=False`` for an error (MAE)."""
    result = _won_lost_tied(tuned, referent_value, referent, higher_is_better)
    if result == "tied" and WIN_MARGIN[referent]:
        return "tied (within the table's rounding)"
    return OUTCOME_WORDS[result]


def _won_lost_tied(tuned: float, referent_value: float, referent: str, higher_is_better: bool) -> str:
    sign = 1.0 if higher_is_better else -1.0
    if beats(sign * tuned, sign * referent_value, referent):
        return "won"
    if beats(sign * referent_value, sign * tuned, referent):
        return "lost"
    return "tied"


#: A fine-tune's outcome against a referent, as the CLI's lines and ``outcome`` say it.
OUTCOME_WORDS = {"won": "won", "lost": "did not win", "tied": "tied"}
#: Referents a fine-tune is compared with on its own splits: (the CLI's name, the name in a sentence).
COMPARED = {
    "scratch": ("from scratch", "training from scratch"),
    "minirocket": ("MiniRocket", "MiniRocket"),
    "persistence": ("persistence", "the persistence forecast"),
}
#: What one comparison cannot tell: it is one training per side, on one split.
ONE_RUN = "one seed, one split: another seed or split may order them otherwise"
NO_TEST_SPLIT = "no test split, so no verdict: compare the validation figures"


@dataclass(frozen=True)
class Comparison:
    """A fine-tune's test score against one referent trained or fitted on the same splits (``compare``):
    ``outcome`` "won", "lost" or "tied" for the fine-tune, None without a test split (then no values)."""

    referent: str
    metric: str
    tuned: float | None
    value: float | None
    outcome: str | None
    note: str = ONE_RUN

    @property
    def sentence(self) -> str:
        """In words for a page: "Fine-tuning beat training from scratch: test accuracy 0.9133 vs 0.8500 (one
        seed, one split)"."""
        name = COMPARED[self.referent][1]
        if self.outcome is None:
            return f"No verdict against {name}: there is no test split (compare the validation figures)."
        said = {"won": "beat", "lost": "did not beat", "tied": "tied with"}[self.outcome]
        lower = "" if self.metric == "accuracy" else ", lower is better"
        return (
            f"Fine-tuning {said} {name}: test {METRIC_NAMES[self.metric][1].replace('Acc', 'acc')} "
            f"{self.tuned:.4f} vs {self.value:.4f} "
            f"({self.note.partition(':')[0]}{lower})."
        )

    def line(self) -> str:
        """The CLI's line: "test Accuracy: fine-tuned 0.9133 vs from scratch 0.8500: fine-tuning won (one seed)"."""
        if self.outcome is None:
            return f"{NO_TEST_SPLIT}, or pass --test-file / --test-fraction"
        return (
            f"test {METRIC_NAMES[self.metric][1]}: fine-tuned {self.tuned:.4f} vs {COMPARED[self.referent][0]} "
            f"{self.value:.4f}: fine-tuning {OUTCOME_WORDS[self.outcome]} (one seed)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sentence": self.sentence}


def compare(
    tuned: dict[str, float],
    scratch: dict[str, float] | None = None,
    minirocket: dict[str, float] | None = None,
    naive: dict[str, Any] | None = None,
    *,
    task: str | None = None,
) -> list[Comparison]:
    """The verdict of a fine-tune (its test metrics ``tuned``) against each referent's test metrics: the
    from-scratch training's, MiniRocket's (None: not run, left out) and, for a regression, the persistence forecast's
    in the fine-tuned model's ``meta["naive"]``; by ``task``'s headline metric, accuracy or MAE (lower is better).
    Both sides were computed here on one test split, so no table rounding is allowed for (the scratch referent's
    margin). The one place the CLI, the service's job result and its pages get a verdict from."""
    persistence = (naive or {}).get(PERSISTENCE)
    referents = {
        "scratch": scratch,
        "minirocket": minirocket,
        "persistence": persistence.get("metrics") if isinstance(persistence, dict) else None,
    }
    # the task's metric; without a test split ``tuned`` is empty and only ``task`` tells
    metric = PRIMARY_METRIC.get(task or "") or ("accuracy" if "accuracy" in tuned else "mae")
    out = []
    for referent, other in referents.items():
        if other is None:
            continue
        if metric not in tuned or metric not in other:
            out.append(Comparison(referent, metric, None, None, None))
            continue
        a, b = float(tuned[metric]), float(other[metric])
        out.append(Comparison(referent, metric, a, b, _won_lost_tied(a, b, "scratch", metric == "accuracy")))
    return out
