"""Benchmark: which transferability signals, combinations of them and rankers learned across targets pick the
source that fine-tunes best? Every method re-ranks the fine-tuned candidates of each target of a ground truth and
is judged by the fine-tuned test accuracy of its first pick (issue 14, item 3).

Protocol (fixed before any result of this script was seen):

- Ground truth (``--truth``): ``recommender`` (bench/results/recommender.json: 10 small UCR targets × 12 FCN
  candidates × 2 seeds, fine-tuned on the zoo of commit ``--zoo-rev``, where every UCR FCN had converged; its
  candidates are each method's top 3 padded at random, so the set is biased towards what logme/hscore/dtw/probe
  liked) or ``matrix`` (bench/results/transfer_matrix.json, written by bench/transfer_matrix.py --table: 40 random
  sources per target on the converged zoo, a target only once every source of its draw has finished; a source
  rebuilt since is scored on the weights fine-tuned, read from the git commit that held them, and left out only when
  no commit of this clone's history has them, as its signals would describe other weights).
- Signals per (target, candidate), all known before any fine-tune, from the target's training split only:
  ``logme`` and ``hscore`` (tshub.recommend's fast sample, no screen, so every candidate gets the same footing, in
  float32, as ``tshub.recommend``'s final score computes them: ``logme`` is the default method as shipped, the
  referent of "vs the default"), ``logme_bf16`` and ``hscore_bf16`` (the same in bfloat16, as the final score
  computed them until this benchmark showed bfloat16 moving the first pick), ``logme_target`` and ``hscore_target``
  (features with BatchNorms normalising by the target sample's own statistics, as fine-tuning's first
  training-mode steps do: ``ScoringPlan(statistics="target")``; added, with ``dtw+logme_target``, after the
  results on the converged zoo were first seen, so judged on the matrix rather than here), ``dtw`` (minus bigdata18's dataset distance from zoo/similarity; missing when the source is not
  indexed), ``source_size`` (log of the source's training series), ``same_type`` (1 when the source's UCR type is
  the target's), ``source_quality`` (the checkpoint's test accuracy minus its reference's, 1-NN DTW for UCR),
  ``converged`` (1 when its training stopped early rather than on a budget) and the architecture (one-hot, used by
  the learned rankers only; constant on ``recommender``).
- Methods: each signal alone; the mean of per-target rank-normalised signals for the combinations in
  ``COMBINATIONS``; two rankers learned across targets on per-target standardised signals (missing → the
  target's mean): pairwise logistic regression (scikit-learn, C = 1, no tuning) and ridge regression on the
  per-target standardised accuracy (λ = 1). Learned rankers are fitted leave-one-target-out: the model that ranks
  a target never saw its signals or accuracies (tshub.recommender.ranker.leave_one_target_out). "best of the
  others (LOTO)" applies to each target the method with the lowest mean regret on the other targets (a learned
  ranker's regret there from fits that did not see the target either): what picking a method by this benchmark is
  worth on an unseen target, without the optimism of naming the best of many.
- Scores (tshub.recommender.evaluation): the first pick's accuracy (ties in a method's top score: the mean over the
  tied), regret = best − pick, the pick's rank among the candidates (ties share their mean rank), top-1 hits
  (expected: a tied pick counts the share of the tied that are the best), wins/ties/losses against a uniform
  random pick (the mean accuracy of the candidates), against training from scratch (the target's FCN, the zoo's
  referent architecture, whatever the pick's architecture: what a user would train instead; the advice's evidence
  pairs each source with its own architecture's scratch instead, the question there being the transfer's gain) and
  against the default method ``logme``, with two-sided sign-test p; mean Kendall τ-b and Spearman ρ of the scores
  vs the accuracies per target (over the targets where both vary and it scored three candidates or more, their
  number shown when not all); a 95 % bootstrap interval of the mean regret, and one of the mean
  regret gain over the random pick paired by target (targets resampled, 10,000 times, seed 0). The vs-random p
  values of all methods are corrected together (Benjamini–Krieger–Yekutieli, q = 0.05); a method passes when its
  test is rejected with more wins than losses (the test is two-sided: one reliably worse than random is marked
  **worse**, added after a review, before any method was scored on the matrix): with 10 targets the sign test's
  smallest p values are 0.002 (10/0/0), 0.004 (9/1/0) and 0.008 (8/2/0), so only a near-unbroken run of wins can
  pass.

Signals are cached per target under ``--work`` (default runs/rank_methods); re-running recomputes nothing.
``--signals-only`` computes them and stops, scoring nothing: they need no fine-tune, so a complete target's can be
cached while the matrix still runs.

    PYTHONPATH=$PWD .venv/bin/python bench/rank_methods.py                      # --truth recommender
    PYTHONPATH=$PWD .venv/bin/python bench/rank_methods.py --truth matrix       # once the matrix exists
    PYTHONPATH=$PWD .venv/bin/python bench/rank_methods.py --truth matrix --signals-only   # before: no score
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tshub.recommender.evaluation import (
    BASELINES,
    TargetTruth,
    baselines,
    chosen_on_other_targets,
    judge,
    summarise,
)
from tshub.recommender.ranker import (
    PairwiseLogisticRanker,
    RidgeRanker,
    leave_one_target_out,
    rank_mean,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ZOO_REV = "8bd8dc7"  # the zoo bench/results/recommender.json fine-tuned its candidates from (the complete zoo)
SIGNALS = ("logme", "hscore", "dtw", "source_size", "same_type", "source_quality", "converged")
SHIPPED = ("logme_bf16", "hscore_bf16")  # the bfloat16 variants (the final score ran in bfloat16 before this bench)
#: Features with the target's own BatchNorm statistics (ScoringPlan(statistics="target")), added after this
#: benchmark's results on the converged zoo were first seen: a labelled variant, judged by the transfer matrix.
TARGET_STATISTICS = ("logme_target", "hscore_target")
#: The feature signals: metric and ScoringPlan options (the fast sample, no screen, so every candidate gets the same
#: footing): float32 as shipped, bfloat16, and with the target's BatchNorm statistics.
FEATURE_SIGNALS = {
    metric + suffix: (metric, options)
    for metric in ("logme", "hscore")
    for suffix, options in (("", {}), ("_bf16", {"bf16": True}), ("_target", {"statistics": "target"}))
}
COMBINATIONS = {
    "dtw+logme": ("dtw", "logme"),
    "dtw+logme_bf16": ("dtw", "logme_bf16"),
    "dtw+hscore": ("dtw", "hscore"),
    "dtw+logme+hscore": ("dtw", "logme", "hscore"),
    "dtw+logme+quality": ("dtw", "logme", "source_quality"),
    "dtw+logme_target": ("dtw", "logme_target"),
    "logme+quality": ("logme", "source_quality"),
    "all signals": SIGNALS,
}
LEARNED = {"pairwise logistic (LOTO)": PairwiseLogisticRanker, "ridge (LOTO)": RidgeRanker}
PICKED_THERE = {"logme": "logme", "logme_bf16": "logme", "hscore": "hscore", "hscore_bf16": "hscore", "dtw": "dtw"}
DEFAULT = "logme"  # what tshub.recommend ranks by when asked nothing (its final score runs in float32)
CHOSEN = "best of the others (LOTO)"  # per target, the method with the lowest mean regret on the other targets


# ----------------------------------------------------------------------------------------------- ground truth
def load_truth(
    kind: str, path: Path | None, manifest: Path
) -> tuple[dict[str, TargetTruth], dict[str, str], list[str]]:
    """The targets' fine-tuned accuracies per candidate, each candidate's weights digest when the truth has them
    (the matrix: its rows, else its manifest), so signals are computed on the very checkpoints fine-tuned, and notes
    on the matrix's targets left out until every source of their draw has finished (the sources that finish first
    are not a random subset of it)."""
    if kind == "recommender":
        report = json.loads((path or RESULTS / "recommender.json").read_text())
        truth = {
            r["target"]: TargetTruth(r["target"], r["accuracy"], (r.get("scratch") or {}).get("accuracy"))
            for r in report["targets"]
            if "error" not in r
        }
        return truth, {}, []
    rows = json.loads((path or RESULTS / "transfer_matrix.json").read_text())
    accuracy: dict[str, dict[str, float]] = {}
    drawn: dict[str, int] = {}
    scratch: dict[str, tuple[float | None, float | None]] = {}
    for row in rows:
        if "source" in row:
            drawn[row["target"]] = drawn.get(row["target"], 0) + 1
            if row["mean"] is not None:
                accuracy.setdefault(row["target"], {})[row["source"]] = float(row["mean"])
        else:  # the target's referents: scratch per architecture (the zoo's FCN is the referent) and MiniRocket
            scratch[row["target"]] = (row["scratch"].get("fcn"), row.get("minirocket"))
    done = {t: len(accuracy.get(t, {})) for t in drawn}
    notes = [
        f"{t}: left out until complete ({done[t]} of {n} sources finished)" for t, n in drawn.items() if done[t] < n
    ]
    truth = {
        t: TargetTruth(t, acc, *scratch.get(t, (None, None))) for t, acc in accuracy.items() if done[t] == drawn[t]
    }
    if not manifest.is_file():
        raise SystemExit(
            f"no transfer-matrix manifest at {manifest}: pass --manifest (bench/transfer_matrix.py's OUT/manifest.json), "
            "which records the digests of the checkpoints the matrix fine-tuned."
        )
    digests = json.loads(manifest.read_text())["zoo_weights_sha256"]
    # the weights each source was fine-tuned from: the frozen ones, or the converged ones of a source still
    # converging at the draw (bench/transfer_matrix.py, "waiting")
    digests.update({row["source"]: row["source_sha256"] for row in rows if row.get("source_sha256")})
    return truth, digests, notes


def checkpoint_folders(kind: str, zoo_rev: str, work: Path, digests: dict[str, str]) -> tuple[dict[str, str], str]:
    """Model id → checkpoint folder of the fine-tuned weights, and where they come from."""
    if kind == "recommender":  # the zoo as it was when the truth was fine-tuned, from git
        zoo = work / f"zoo-{zoo_rev}"
        if not (zoo / "index.json").is_file():
            zoo.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", zoo_rev, "zoo"], check=True, capture_output=True
            )
            subprocess.run(["tar", "-x", "--strip-components=1", "-C", str(zoo)], input=archive.stdout, check=True)
        index = json.loads((zoo / "index.json").read_text())["models"]
        return {m["id"]: str(zoo / m["source"] / m["arch"]) for m in index}, f"zoo of commit {zoo_rev}"
    return fine_tuned_folders(digests, work)


def fine_tuned_folders(digests: dict[str, str], work: Path) -> tuple[dict[str, str], str]:
    """Model id → checkpoint folder holding the weights of digest ``digests[id]`` (the zoo's own when unchanged,
    else extracted from the git commit that held them; left out when none did), and where they come from."""
    from tshub.hub.checkpoint import read_config
    from tshub.recommender import candidate_pool

    folders, rebuilt = {}, []
    for c in candidate_pool():
        if c.hub_only or c.id not in digests:
            continue
        if digests[c.id] == read_config(c.location).get("weights_sha256", ""):
            folders[c.id] = c.location
        elif (old := from_history(Path(c.location), digests[c.id], work)) is not None:
            folders[c.id] = str(old)
            rebuilt.append(c.id)
    where = "the current zoo (checkpoints whose digest is that of the weights the matrix fine-tuned)"
    if rebuilt:
        where += (
            f"; {len(rebuilt)} rebuilt since, read from the git commit that held those weights: {', '.join(rebuilt)}"
        )
    return folders, where


def from_history(location: Path, digest: str, work: Path) -> Path | None:
    """The checkpoint at ``location`` (in this repository) as a commit held it with weights ``digest``, extracted
    under ``work``: a source rebuilt after the matrix fine-tuned it is scored on the weights fine-tuned, not left
    out. None when no commit of the history has them (a shallow clone has little history)."""
    folder = location.resolve().relative_to(ROOT).as_posix()
    revisions = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--format=%H", "--", f"{folder}/config.json"],
        capture_output=True,
        text=True,
    ).stdout.split()
    for revision in revisions:
        shown = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{revision}:{folder}/config.json"], capture_output=True, text=True
        )
        if shown.returncode or json.loads(shown.stdout).get("weights_sha256") != digest:
            continue
        root = work / "zoo-history" / revision[:12]
        if not (root / folder / "config.json").is_file():
            root.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", revision, folder], check=True, capture_output=True
            )
            subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
        return root / folder
    return None


# ---------------------------------------------------------------------------------------------------- signals
def feature_signals(target: str, folders: dict[str, str], names: list[str]) -> dict[str, dict[str, float | None]]:
    """signal → candidate → score, for the feature signals ``names`` (keys of FEATURE_SIGNALS)."""
    from tshub.recommender import ScoringPlan, recommend

    out = {}
    for name in names:
        metric, options = FEATURE_SIGNALS[name]
        plan = ScoringPlan(shortlist=None, **options)
        ranking = recommend(target, k=None, method=metric, candidates=list(folders.values()), plan=plan).ranking
        out[name] = {row.id: row.score for row in ranking}
    return out


def target_signals(target: str, folders: dict[str, str], index: Any) -> dict[str, dict[str, Any]]:
    """Every signal of every candidate (None where it does not exist), from the target's training split only."""
    from tshub.data.catalogue import ucr_summary
    from tshub.hub.checkpoint import read_config
    from tshub.hub.ids import source_key

    feature_scores = feature_signals(target, folders, list(FEATURE_SIGNALS))
    distances = {source_key(name): d for name, d in index.rank(target, k=None)} if target in index else {}
    types = {r["Name"]: r["Type"] for r in ucr_summary()}
    out = {}
    for model_id, folder in folders.items():
        config = read_config(folder)
        meta, source = config.get("meta") or {}, config.get("source") or {}
        splits = meta.get("splits") or {}
        reference = ((config.get("reference") or {}).get("metrics") or {}).get("accuracy")
        accuracy = (config.get("metrics") or {}).get("accuracy")
        distance = distances.get(source_key(config.get("source_dataset") or model_id.split("/")[0]))
        out[model_id] = {
            **{name: scores.get(model_id) for name, scores in feature_scores.items()},
            "dtw": None if distance is None else -distance,
            "source_size": math.log(splits["train"] + splits.get("val", 0)) if splits.get("train") else None,
            "same_type": float(source.get("domain") == f"UCR/{types.get(target)}"),
            "source_quality": None if accuracy is None or reference is None else accuracy - reference,
            "converged": float(meta.get("stop_reason") == "early_stopping"),
            "arch": config["arch"],
        }
    return out


def all_signals(
    truth: dict[str, TargetTruth], folders: dict[str, str], work: Path, label: str, index_folder: Path | None
) -> dict[str, dict[str, dict[str, Any]]]:
    """Signals of every target's candidates, cached per target (the same candidates → the cached file)."""
    from tshub.similarity import SimilarityIndex
    from tshub.similarity.index import DEFAULT_FOLDER

    index = SimilarityIndex.load(index_folder or DEFAULT_FOLDER)
    out = {}
    for target, table in truth.items():
        wanted = {c: folders[c] for c in sorted(table.accuracy) if c in folders}
        path = work / "signals" / label / f"{target}.json"
        cached = json.loads(path.read_text()) if path.is_file() else None
        missing = sorted({name for name in FEATURE_SIGNALS for v in (cached or {}).values() if name not in v})
        if cached is None or sorted(cached) != sorted(wanted):
            began = time.perf_counter()
            cached = target_signals(target, wanted, index)
            log(f"{target}: signals of {len(wanted)} candidates ({time.perf_counter() - began:.0f} s)")
        elif missing:  # signals added since the cache was written
            log(f"{target}: {', '.join(missing)} of {len(wanted)} candidates")
            for name, scores in feature_signals(target, wanted, missing).items():
                for candidate, signals in cached.items():
                    signals[name] = scores.get(candidate)
        else:
            out[target] = cached
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cached, indent=1))
        out[target] = cached
    return out


def signal_matrix(signals: dict[str, dict[str, Any]], names: tuple[str, ...], archs: list[str]) -> np.ndarray:
    """(candidates, features) of one target: the named signals (NaN where missing), then the arch one-hots."""
    rows = [
        [np.nan if s.get(n) is None else float(s[n]) for n in names] + [float(s["arch"] == a) for a in archs]
        for s in signals.values()
    ]
    return np.array(rows, dtype=float).reshape(len(signals), len(names) + len(archs))


# -------------------------------------------------------------------------------------------------- methods
def method_scores(
    truth: dict[str, TargetTruth], signals: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, dict[str, dict[str, float | None]]]:
    """method → target → candidate → score (higher first; None: the method cannot score that candidate)."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for name in (*SIGNALS, *SHIPPED, *TARGET_STATISTICS):
        out[name] = {t: {c: s[name] for c, s in signals[t].items()} for t in truth}
    for name, members in COMBINATIONS.items():
        out[name] = {t: dict(zip(signals[t], rank_mean(signal_matrix(signals[t], members, [])))) for t in truth}
    features, accuracies, _ = learning_data(truth, signals)
    for name, ranker in LEARNED.items():
        held_out = leave_one_target_out(ranker, features, accuracies)
        out[name] = {t: dict(zip(signals[t], held_out[t].tolist())) for t in truth}
    return out


def chosen_outcomes(
    truth: dict[str, TargetTruth],
    signals: dict[str, dict[str, dict[str, Any]]],
    outcomes: dict[str, dict[str, Any]],
    methods: list[str],
) -> dict[str, dict[str, Any]]:
    """Per target, the outcome of CHOSEN. A learned ranker's regret on another target is refitted without the target
    being chosen for (nested leave-one-target-out): its leave-one-target-out fits saw that target's accuracies."""
    out = {}
    for target in truth:
        rest = {t: truth[t] for t in truth if t != target}
        features, accuracies, _ = learning_data(rest, signals)
        seen = {t: dict(outcomes[t]) for t in rest}
        for name, ranker in LEARNED.items():
            for t, scores in leave_one_target_out(ranker, features, accuracies).items():
                seen[t][name] = judge(dict(zip(signals[t], scores.tolist())), truth[t])
        out[target] = chosen_on_other_targets({**seen, target: outcomes[target]}, methods)[target]
    return out


def learning_data(
    truth: dict[str, TargetTruth], signals: dict[str, dict[str, dict[str, Any]]]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    """Per target the learned rankers' features and the candidates' accuracies (same order), and feature names."""
    archs = sorted({s["arch"] for per_target in signals.values() for s in per_target.values()})
    features = {t: signal_matrix(signals[t], SIGNALS, archs) for t in truth}
    accuracies = {t: np.array([truth[t].accuracy[c] for c in signals[t]]) for t in truth}
    return features, accuracies, [*SIGNALS, *(f"arch={a}" for a in archs)]


def weights_on_all_targets(
    truth: dict[str, TargetTruth], signals: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, dict[str, float]]:
    """Each learned ranker's weights fitted on every target: descriptive only (which signals it leans on); every
    score in the tables comes from the leave-one-target-out fits."""
    features, accuracies, names = learning_data(truth, signals)
    out = {}
    for name, make in LEARNED.items():
        weights = make().fit(list(features.values()), list(accuracies.values())).weights
        out[name] = {n: float(w) for n, w in zip(names, weights)}  # type: ignore[arg-type]
    return out


# -------------------------------------------------------------------------------------------------- reporting
def markdown(report: dict[str, Any]) -> str:
    p = report["protocol"]
    minirocket = any("minirocket" in o for o in report["targets"].values())
    lines = [
        "# Transferability signals, combinations and learned rankers, judged by the fine-tuned first pick",
        "",
        f"Command: `{p['command']}`  ",
        f"Ground truth: {p['truth']} ({p['n_targets']} targets, {p['n_candidates']} candidates in all; checkpoints: "
        f"{p['checkpoints']}). Protocol: bench/rank_methods.py (docstring). Regret = best candidate − pick "
        "(accuracy points); rank among the candidates (1 = best); W/T/L = the pick's accuracy vs the other's, "
        "sign-test p two-sided; τ, ρ: means over the targets where the method scored three candidates or more and its scores vary (how many, when not all); BKY: whether the vs-random test survives Benjamini–Krieger–Yekutieli at q = 0.05 "
        f"over the {p['n_methods']} methods. {p['elapsed_s']:.0f} s (signals cached).",
        "",
        "| method | accuracy of pick | mean regret [95 % CI] | median regret | median rank | top-1 | τ | ρ "
        f"| vs random (W/T/L, p, BKY) | vs scratch (W/T/L, p) | vs the default, {DEFAULT} (W/T/L, p) "
        + ("| vs MiniRocket (W/T/L, p) |" if minirocket else "|"),
        "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if minirocket else ""),
    ]
    for name, row in report["summary"].items():
        lines.append(summary_row(name, row, minirocket))
    lines += ["", report["verdict"], ""]
    chosen = [o[CHOSEN]["chosen"] for o in report["targets"].values()]
    lines += [
        f"{CHOSEN}: the method applied to each target was, per target: {', '.join(chosen)}.",
        "",
        "Weights of the learned rankers fitted on every target (descriptive only; the tables use the "
        "leave-one-target-out fits), on per-target standardised signals:",
        "",
    ]
    for name, weights in report["weights_on_all_targets"].items():
        lines.append(f"- {name}: " + ", ".join(f"{k} {v:+.3f}" for k, v in weights.items()))
    lines.append("")
    lines += ["Per target (first pick: accuracy, rank among the candidates):", ""]
    methods = [m for m in report["summary"] if m not in BASELINES]
    lines += ["| target | best | random | scratch | " + " | ".join(methods) + " |"]
    lines += ["|---|---|---|---|" + "---|" * len(methods)]
    for target, outcome in report["targets"].items():
        cells = [f"{outcome[m]['accuracy']:.3f} (#{outcome[m]['rank']:g})" for m in methods]
        scratch = outcome["scratch"]["accuracy"] if outcome.get("scratch") else None
        lines.append(
            f"| {target} | {outcome['oracle']['accuracy']:.3f} | {outcome['random']['accuracy']:.3f} | "
            f"{'-' if scratch is None else f'{scratch:.3f}'} | " + " | ".join(cells) + " |"
        )
    if p["notes"]:
        lines += ["", *[f"- {n}" for n in p["notes"]]]
    return "\n".join(lines) + "\n"


def summary_row(name: str, row: dict[str, Any], minirocket: bool) -> str:
    def versus(key: str) -> str:
        if key not in row:
            return "-"
        w, t, lo = row[key]["wtl"]
        mark = (
            ""
            if "bky" not in row[key]
            else ", **yes**"
            if row[key]["beats"]
            else ", **worse**"
            if row[key]["bky"]
            else ", no"
        )
        return f"{w}/{t}/{lo}, p = {row[key]['p']:.3f}{mark}"

    def number(key: str, fmt: str = ".3f") -> str:
        return "-" if row.get(key) is None else format(row[key], fmt)

    def correlation(key: str) -> str:  # a mean over fewer targets than the row's says over how many
        counted = row.get(f"{key}_targets", row["targets"])  # a baseline has none: "-"
        return number(key) + ("" if counted == row["targets"] else f" ({counted} of {row['targets']})")

    ci = row.get("regret_ci")
    interval = f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
    return (
        f"| {name} | {row['accuracy']:.4f} | {row['regret']:.4f}{interval} | {row['median_regret']:.4f} | "
        f"{row['median_rank']:g} | {number('top1', '.3g')} | {correlation('kendall')} | {correlation('spearman')} | "
        f"{versus('vs_random')} | {versus('vs_scratch')} | {versus('vs_default')} |"
        + (f" {versus('vs_minirocket')} |" if minirocket else "")
    )


def verdict(summary: dict[str, dict[str, Any]]) -> str:
    """One plain sentence on what beats a random pick, significantly, after the correction (a rejection with more
    wins than losses: the test is two-sided); else the method (never a baseline or referent) with the lowest mean
    regret and those whose 95 % interval of the mean regret gain over the random pick, paired by target, is wholly
    above 0."""
    passed = [m for m, row in summary.items() if row.get("vs_random", {}).get("beats")]
    methods = [m for m in summary if m not in BASELINES]
    best = min(methods, key=lambda m: summary[m]["regret"])
    random = summary["random"]["regret"]
    gaining = [m for m in methods if summary[m]["regret_gain_ci"][0] > 0]
    if not passed:
        return (
            f"**No method beats a random pick significantly** (no vs-random sign test survives the correction in its "
            f"favour). Lowest mean regret: {best} ({summary[best]['regret']:.4f}, the random pick's {random:.4f}); "
            "methods whose 95 % interval of the mean regret gain over the random pick (paired by target) lies "
            f"wholly above 0: {', '.join(gaining) or 'none'}."
        )
    return f"Beat a random pick significantly after the correction: {', '.join(passed)}."


def recommender_notes(outcomes: dict[str, dict[str, Any]], path: Path | None) -> list[str]:
    """The seeds' noise, and where a method recomputed here picks otherwise than in bench/recommender.py's run."""
    report = json.loads((path or RESULTS / "recommender.json").read_text())
    spread = np.mean([r["seed_spread"] for r in report["targets"] if "seed_spread" in r])
    notes = [
        f"Noise: the two seeds of a fine-tune differ by {spread:.3f} accuracy on average (mean over targets of the "
        "mean over candidates of max − min), more than most differences in mean regret above."
    ]
    for ours, theirs in PICKED_THERE.items():
        moved = [
            f"{r['target']} ({r['methods'][theirs]['pick']} there, {' or '.join(outcomes[r['target']][ours]['pick'])} "
            "here)"
            for r in report["targets"]
            if theirs in r.get("methods", {})
            and r["methods"][theirs]["pick"] not in outcomes[r["target"]][ours]["pick"]
        ]
        notes.append(
            f"{ours} here picks as {theirs} did in recommender.json (the whole pool; LogME and H-score there in "
            "float32 on every training series) "
            + (f"except on {len(moved)} of the targets: {'; '.join(moved)}." if moved else "on every target.")
        )
    return notes


def log(message: str) -> None:
    print(f"[rank-methods] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--truth", choices=("recommender", "matrix"), default="recommender")
    p.add_argument("--truth-file", type=Path, help="the ground truth's JSON (default: bench/results/<truth>.json)")
    p.add_argument("--zoo-rev", default=ZOO_REV, help="git revision of the zoo the recommender truth fine-tuned")
    p.add_argument(
        "--manifest",
        type=Path,
        default=Path(__file__).resolve().parent / "results/transfer_matrix_runs/manifest.json",
        help="the matrix's manifest (--truth matrix): the digests of the checkpoints it fine-tuned",
    )
    p.add_argument("--index", type=Path, help="similarity index folder (default zoo/similarity)")
    p.add_argument("--work", type=Path, default=Path("runs/rank_methods"))
    p.add_argument("--out", type=Path, default=RESULTS / "rank_methods")
    p.add_argument(
        "--signals-only",
        action="store_true",
        help="compute and cache the signals of every complete target, then stop: no method is scored, no report "
        "written (the signals need no fine-tune, so they can be ready before the matrix is)",
    )
    args = p.parse_args(argv)
    start = time.perf_counter()
    truth, digests, notes = load_truth(args.truth, args.truth_file, args.manifest)
    folders, where = checkpoint_folders(args.truth, args.zoo_rev, args.work, digests)
    for target, table in truth.items():
        lost = sorted(c for c in table.accuracy if c not in folders)
        if lost:
            notes.append(f"{target}: left out (no checkpoint with the fine-tuned weights): {', '.join(lost)}")
        truth[target] = table.restricted(folders)
    signals = all_signals(truth, folders, args.work, args.truth, args.index)
    if args.signals_only:
        log(f"signals of {len(signals)} targets cached under {args.work} ({time.perf_counter() - start:.0f} s)")
        return 0
    scores = method_scores(truth, signals)
    outcomes = {t: {**baselines(truth[t]), **{m: judge(scores[m][t], truth[t]) for m in scores}} for t in truth}
    for target, outcome in chosen_outcomes(truth, signals, outcomes, list(scores)).items():
        outcomes[target][CHOSEN] = outcome
    summary = summarise(outcomes, default=DEFAULT)
    if args.truth == "recommender":
        notes += recommender_notes(outcomes, args.truth_file)
        notes.append(
            "The candidates of each target are the union of logme/hscore/dtw/probe's top 3 on the whole pool, "
            "padded at random to 12 (bench/recommender.py): the set is not a random sample, so every method here "
            "re-ranks a set that those four methods' favourites shaped."
        )
    report = {
        "protocol": {
            "command": " ".join(
                ["PYTHONPATH=$PWD python bench/rank_methods.py", *(argv if argv is not None else sys.argv[1:])]
            ),
            "truth": args.truth,
            "n_targets": len(truth),
            "n_candidates": sum(len(t.accuracy) for t in truth.values()),
            "n_methods": sum(m not in BASELINES for m in summary),  # what the correction counts, CHOSEN too
            "checkpoints": where,
            "signals": list(SIGNALS),
            "combinations": {k: list(v) for k, v in COMBINATIONS.items()},
            "notes": notes,
            "elapsed_s": time.perf_counter() - start,
        },
        "summary": summary,
        "verdict": verdict(summary),
        "weights_on_all_targets": weights_on_all_targets(truth, signals),
        "targets": outcomes,
        "signals": signals,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    text = markdown(report)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
