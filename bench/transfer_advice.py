"""When not to transfer (issue 14, item 4): fit and score the advice rules on benchmark evidence, and write the
evidence file the library's advice reads (tshub/recommender/advice_evidence.json).

Evidence rows are (target, source) pairs: the fine-tuned test accuracy (mean over seeds) against the referent's,
from-scratch or MiniRocket (the vendored reference table, tshub/recommender/minirocket_ucr.tsv); a row is a win when
fine-tuning is strictly better. Sources of evidence (``--evidence``):

- ``matrix``: bench/results/transfer_matrix.json (bench/transfer_matrix.py --table: per target ≥ 40 random sources ×
  2 seeds, each with its own from-scratch referent, MiniRocket; a target once every source of its draw has
  finished); the ground truth once it exists;
- ``finetune_vs_scratch``: bench/results/finetune_vs_scratch.json (14 targets, one same-domain source each, 3 seeds);
- ``recommender``: bench/results/recommender.json (10 targets × 12 candidate sources, 2 seeds, each against its
  target's scratch).

Features (tshub.recommender.advice.FEATURES) are computed now: the LogME score by the fast plan with every
candidate scored on the final sample, the source's domain and own test accuracy. The matrix's are computed on the
weights each pair fine-tuned (its rows carry their digest; a source rebuilt since is read from the git commit that
held them, as bench/rank_methods.py does); the older evidence records no digest and is featured on today's
checkpoints, which may have been retrained since its fine-tunes. Every rule family
(the majority answer, a threshold on one feature) is scored leave-one-target-out (each target weighs the same);
the best is kept when it beats the majority answer strictly and the nested leave-one-target-out accuracy of that
choice beats it too (tshub.recommender.advice_rules.select_rule), else the majority answer. The advice rests on the
evidence with the most targets, ties broken by the most rows.

    PYTHONPATH=$PWD .venv/bin/python bench/transfer_advice.py --write-evidence   # → results/transfer_advice.md
    PYTHONPATH=$PWD .venv/bin/python bench/transfer_advice.py --refit   # the stored rows refitted, nothing featured
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from rank_methods import fine_tuned_folders  # bench/ is on the path of a script run from it

from tshub.data.catalogue import load
from tshub.hub.checkpoint import read_config
from tshub.hub.resolution import resolve
from tshub.recommender import ScoringPlan, recommend
from tshub.recommender.advice import (
    EVIDENCE_FILE,
    FEATURES,
    FORMAT_VERSION,
    REFERENTS,
    SCORE_METHOD,
    minirocket_references,
    pick_features,
)
from tshub.recommender.advice_rules import EvidenceTable, beats, fit_evidence, fit_rule, select_rule, table_of

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SOURCES = {
    "matrix": (
        "bench/results/transfer_matrix.json",
        "the transfer matrix: random sources fine-tuned on each target, 2 seeds, ω = 1, recipe ucr",
    ),
    "finetune_vs_scratch": (
        "bench/results/finetune_vs_scratch.json",
        "one same-domain source fine-tuned per target, 3 seeds, ω = 1, recipe ucr",
    ),
    "recommender": (
        "bench/results/recommender.json",
        "12 candidate sources per target (the methods' top 3 padded at random), 2 seeds, ω = 1, recipe ucr",
    ),
}
#: Scored on the fast plan's final sample, every candidate (no screen), as the first pick of a ranking is.
SCORE_PLAN = ScoringPlan(shortlist=None)


def evidence_rows(name: str, path: Path | None = None) -> list[dict[str, Any]]:
    """(target, source, fine-tuned accuracy, scratch accuracy, MiniRocket accuracy) rows of one evidence file
    (default: the one ``SOURCES`` names)."""
    data = json.loads((path or ROOT / SOURCES[name][0]).read_text())
    minirocket = minirocket_references()
    if name == "finetune_vs_scratch":
        return [
            row(r["target"], r["source"], r["transfer"], r["referent"], minirocket.get(r["target"]))
            for r in data["pairs"]
            if r["metric"] == "accuracy"
        ]
    if name == "recommender":
        return [
            row(t["target"], source, accuracy, t["scratch"]["accuracy"], minirocket.get(t["target"]))
            for t in data["targets"]
            for source, accuracy in t["accuracy"].items()
        ]
    minirockets = {r["target"]: r.get("minirocket") for r in data if "source" not in r}
    left_out = incomplete_targets(name, path)
    return [  # each fine-tune against its own from-scratch referent (same architecture and settings)
        row(r["target"], r["source"], r["mean"], r["scratch"], minirockets.get(r["target"]), r.get("source_sha256"))
        for r in data
        if "source" in r and r["target"] not in left_out
    ]


def incomplete_targets(name: str, path: Path | None = None) -> dict[str, str]:
    """The matrix's targets with a source of their draw not yet finished, and how far they are: left out of the
    evidence until complete, as the sources that finish first are not a random subset of the draw."""
    if name != "matrix":
        return {}
    drawn: dict[str, int] = defaultdict(int)
    done: dict[str, int] = defaultdict(int)
    for r in json.loads((path or ROOT / SOURCES[name][0]).read_text()):
        if "source" in r:
            drawn[r["target"]] += 1
            done[r["target"]] += r["mean"] is not None
    return {t: f"{done[t]} of {n} sources finished" for t, n in drawn.items() if done[t] < n}


def row(
    target: str,
    source: str,
    accuracy: float,
    scratch: float | None,
    minirocket: float | None,
    weights: str | None = None,
) -> dict:
    """One pair of the evidence; ``weights``: the sha256 of the source weights fine-tuned, where recorded."""
    return {
        "target": target,
        "source": source,
        "accuracy": accuracy,
        "scratch": scratch,
        "minirocket": minirocket,
        "weights": weights,
    }


def checkpoint_locations(rows: list[dict[str, Any]], work: Path) -> dict[tuple[str, str], str | None]:
    """(target, source) → the checkpoint to feature the pair on: the weights it fine-tuned where its row records
    them (a folder of the zoo, or extracted under ``work`` from the commit that held them; None when no commit of
    this clone did), else the source's id, today's checkpoint."""
    digests = {r["source"]: r["weights"] for r in rows if r["weights"]}
    folders = fine_tuned_folders(digests, work)[0] if digests else {}
    return {(r["target"], r["source"]): folders.get(r["source"]) if r["weights"] else r["source"] for r in rows}


def pair_features(locations: dict[tuple[str, str], str | None]) -> dict[tuple[str, str], dict[str, float | None]]:
    """The advice features of every (target, source) pair, its source read from ``locations``: one LogME ranking
    per target over its sources."""
    by_target: dict[str, list[str]] = defaultdict(list)
    for target, source in sorted(locations):
        by_target[target].append(source)
    out = {}
    for target, sources in by_target.items():
        dataset = load(target)
        configs, folders = {}, []
        for source in sources:
            try:
                if (location := locations[(target, source)]) is None:
                    raise LookupError("no commit of this clone holds the weights it fine-tuned")
                folders.append(resolve(location))
                configs[source] = read_config(folders[-1])
            except Exception as err:  # a checkpoint retired since the benchmark: its own features stay unknown
                print(f"{target}: {source} not available ({err}); its source features are unknown", file=sys.stderr)
        scores = {}
        if configs:
            # the scores only: the advice a ranking carries reads the evidence file this run rewrites (perhaps
            # in an older format)
            with mock.patch("tshub.recommender.api._advice", return_value=None):
                ranking = recommend(
                    dataset,
                    k=None,
                    candidates=folders,
                    allow_self_transfer=True,
                    plan=SCORE_PLAN,
                    method=SCORE_METHOD,
                )
            scores = {r.id: r.score for r in ranking}
        for source in sources:
            out[(target, source)] = pick_features(
                dataset, configs.get(source, {}), scores.get(source), SCORE_METHOD if source in scores else None
            )
        print(f"{target}: {len(sources)} sources featured", file=sys.stderr)
    return out


def first_picks(table: EvidenceTable) -> dict[str, float]:
    """The advice on each target's first pick (its source with the highest LogME), given as the library would give
    it with that target unseen: the rule selected and fitted on the other targets alone. Counts of targets, picks
    that won, and answers that were right (an "unknown" counting half)."""
    counts: dict[str, float] = {"targets": 0, "pick_won": 0, "advice_right": 0}
    for target in np.unique(table.targets):
        held = table.targets == target
        scores = table.features["score"][held]
        if not np.isfinite(scores).any():
            continue
        pick = np.zeros(len(held), dtype=bool)
        pick[np.flatnonzero(held)[int(np.nanargmax(scores))]] = True
        rest = table.subset(~held)
        right = fit_rule(rest, select_rule(rest, list(FEATURES)).kept).right(table.subset(pick))[0]
        counts["targets"] += 1
        counts["pick_won"] += int(table.won[pick][0])
        counts["advice_right"] += float(right)
    return {k: int(v) if float(v).is_integer() else v for k, v in counts.items()}


def markdown(evidence: dict[str, Any]) -> str:
    lines = [
        "# When not to transfer: the advice rules, leave-one-target-out",
        "",
        f"Command: `{evidence['command']}` (writes tshub/recommender/advice_evidence.json, which "
        "`tshub.recommend` reads). A row is a (target, source) pair, a win when the fine-tuned test accuracy "
        "(mean over seeds) is strictly above the referent's (MiniRocket's by more than the rounding of its "
        "4-decimal table); every target weighs the same. A rule is scored on "
        "each target after being fitted on the others (LOTO); the interval is a 95 % bootstrap over targets; "
        "'nested' scores the choice of the rule itself. The features (LogME by the fast plan, no screen) are of the "
        "weights each pair fine-tuned where the evidence records them (the matrix), else of today's checkpoints, "
        "which may have been retrained since. "
        f"The advice rests on **{evidence['rests_on']}** ({evidence['selection']}).",
        "",
    ]
    for name, entry in evidence["evidence"].items():
        lines += [f"## {name}: {entry['description']} ({entry['file']})", ""]
        if entry.get("left_out"):
            lines += [
                "Left out until complete (the sources that finish first are not a random subset of the draw): "
                + "; ".join(f"{target} ({progress})" for target, progress in entry["left_out"].items()),
                "",
            ]
        for referent, fit in entry["against"].items():
            lines += [
                f"### fine-tuning beats {REFERENTS[referent].removeprefix('training from ')}: "
                f"{fit['wins']} of {fit['rows']} pairs, {fit['targets']} targets",
                "",
                "| rule | LOTO accuracy | 95 % interval | fitted on every target |",
                "|---|---|---|---|",
            ]
            for family, score in sorted(fit["rules"].items(), key=lambda kv: -kv[1]["loto_accuracy"]):
                rule = score["rule"]
                split = (
                    f"{rule['below']['when']}: {rule['below']['rate']:.2f}; {rule['above']['when']}: "
                    f"{rule['above']['rate']:.2f}"
                    if rule["below"]
                    else f"all: {rule['overall']['rate']:.2f}"
                )
                mark = " **(kept)**" if family == fit["chosen"] else " (best held-out)" if family == fit["best"] else ""
                low, high = score["interval"]
                lines.append(f"| {family}{mark} | {score['loto_accuracy']:.2f} | [{low:.2f}, {high:.2f}] | {split} |")
            picks = entry["first_pick"][referent]
            lines += [
                "",
                f"Nested LOTO accuracy of choosing the rule by LOTO: {fit['nested_loto_accuracy']:.2f} (a feature "
                "rule is kept only when this beats the majority rule's LOTO accuracy). On each target's first pick "
                "(its source with the highest LogME, the only one where it has one), the advice given with the target "
                f"unseen was right on {picks['advice_right']:g} of {picks['targets']} targets; the pick won on "
                f"{picks['pick_won']}.",
                "",
            ]
        per_target: dict[str, list[dict]] = defaultdict(list)
        for r in entry["rows"]:
            per_target[r["target"]].append(r)
        lines += [
            "| target | pairs | fine-tuned (median) | scratch (median) | MiniRocket | wins vs scratch | per class | "
            "median LogME |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for target, mine in per_target.items():
            # each pair against its own scratch (the matrix: its source's architecture and settings)
            scratches = [r["scratch"] for r in mine if r["scratch"] is not None]
            scratch = float(np.median(scratches)) if scratches else None
            minirocket = mine[0]["minirocket"]
            logme = [r["features"]["score"] for r in mine]
            logme = [v for v in logme if v is not None]
            lines.append(
                f"| {target} | {len(mine)} | {np.median([r['accuracy'] for r in mine]):.3f} | "
                f"{'-' if scratch is None else f'{scratch:.3f}'} | "
                f"{'-' if minirocket is None else f'{minirocket:.3f}'} | "
                f"{sum(r['scratch'] is not None and beats(r['accuracy'], r['scratch'], 'scratch') for r in mine)} | "
                f"{mine[0]['features']['per_class']:.1f} | "
                f"{'-' if not logme else f'{np.median(logme):.3f}'} |"
            )
        lines.append("")
    return "\n".join(lines)


def fitted_entry(name: str, featured: list[dict[str, Any]], left_out: Any) -> dict[str, Any]:
    """One evidence's entry of the evidence file: the rules fitted against each referent on its featured rows."""
    path, description = SOURCES[name]
    tables = {referent: table_of(featured, referent, FEATURES) for referent in REFERENTS}
    return {
        "file": path,
        "description": description,
        "against": {referent: fit_evidence(tables[referent], list(FEATURES)) for referent in REFERENTS},
        "first_pick": {referent: first_picks(tables[referent]) for referent in REFERENTS},
        "rows": featured,  # what the tables are made of: the advice refits on them without a user's target
        "left_out": left_out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    available = [name for name, (path, _) in SOURCES.items() if (ROOT / path).is_file()]
    parser.add_argument("--evidence", nargs="+", choices=list(SOURCES), default=available)
    parser.add_argument("--write-evidence", action="store_true", help=f"write {EVIDENCE_FILE.relative_to(ROOT)}")
    parser.add_argument("--out", type=Path, default=RESULTS / "transfer_advice.md")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("runs/rank_methods"),
        help="where rebuilt sources' weights are extracted: rank_methods' by default, whose checkpoints' features "
        "tshub's feature cache then holds already",
    )
    parser.add_argument(
        "--refit",
        action="store_true",
        help=f"refit the rules on the featured rows {EVIDENCE_FILE.relative_to(ROOT)} stores, every evidence it "
        "holds (--evidence is not read), after a change to how rules are fitted or scored; nothing is featured anew, "
        "the file's command stays the one that made them",
    )
    args = parser.parse_args()
    if args.refit:
        stored = json.loads(EVIDENCE_FILE.read_text())
        entries = {name: fitted_entry(name, e["rows"], e["left_out"]) for name, e in stored["evidence"].items()}
        command = stored["command"]
    else:
        rows = {name: evidence_rows(name) for name in args.evidence}
        features = {name: pair_features(checkpoint_locations(mine, args.work)) for name, mine in rows.items()}
        entries = {
            name: fitted_entry(
                name,
                [{**r, "features": features[name][(r["target"], r["source"])]} for r in mine],
                incomplete_targets(name),
            )
            for name, mine in rows.items()
        }
        command = "PYTHONPATH=$PWD python bench/transfer_advice.py --evidence " + " ".join(args.evidence)
        command += " --write-evidence" if args.write_evidence else ""
    rests_on = max(entries, key=lambda n: (entries[n]["against"]["scratch"]["targets"], len(entries[n]["rows"])))
    evidence = {
        "format_version": FORMAT_VERSION,
        "command": command,
        "label": "win: fine-tuned test accuracy (mean over seeds) strictly above the referent's "
        "(MiniRocket's by more than its table's rounding, MINIROCKET_TIE)",
        "weighting": "every target weighs 1 (its rows 1 / rows each)",
        "features": FEATURES,
        "score": {"method": SCORE_METHOD, "plan": "fast, every candidate on the final sample (no screen)"},
        "selection": "the evidence with the most targets, ties broken by the most rows",
        "rests_on": rests_on,
        "evidence": entries,
    }
    if args.write_evidence or args.refit:
        EVIDENCE_FILE.write_text(json.dumps(evidence, indent=1) + "\n")
    args.out.write_text(markdown(evidence))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
