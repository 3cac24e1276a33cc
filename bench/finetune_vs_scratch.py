"""Evidence: FCN fine-tuned from a zoo checkpoint vs FCN trained from scratch vs MiniRocket (issue 2, item 2;
issue 10, item 5).

Protocol (fixed before any result was seen): the 14 small UCR targets of ``TARGETS``, each paired with the dataset
of the same UCR "Type" with the largest training set (the obvious in-domain source a user would try); its zoo FCN
``<source>/fcn`` is fine-tuned on the target with ω = 1.0 (bigdata18: everything fine-tuned at the base learning
rate) and FCN is trained from scratch, both with recipe "ucr" and seeds 0, 1, 2, every training stopped by its
recipe. Accuracy on the official test split. MiniRocket is the vendored reference accuracy of the target
(tshub/recommender/minirocket_ucr.tsv: aeon's MiniRocketClassifier, random_state 0): one number per target, so the
fine-tuned and from-scratch accuracies (means over seeds) meet it target by target, ties within its rounding.

Sources come from the local stores (the zoo) only, never trained here: a source that no store has, or whose
training did not run its recipe to its end (``tshub.hub.store.unconverged_reason``: the zoo's old 90-s
checkpoints), stops its pair with a line naming the checkpoint; the other pairs run (cached in ``--out``) and the
results are written only once every pair has run. ``--allow-unconverged`` runs such pairs and marks their rows
with the source's training status. Every row records the source checkpoint's weights sha256 and status.

Results and the zoo they were made on:

- bench/results/finetune_vs_scratch.{md,json}: the rerun on the complete zoo (commit 8bd8dc7, every UCR FCN
  trained on every training series to its recipe's end; run from a worktree at that commit with
  ``--out``/``--results`` pointing at the main checkout): fine-tuned vs scratch 4/2/8 targets. The one before it
  (commit 072e80c, every UCR FCN converged on a held-out fifth) was 6/2/6; the one before that (commit 6279107,
  before issue 10) used sources trained by this bench on the fly under a 90-s budget, which also capped every
  fine-tune and referent: 16/10/16 (target × seed pairs). Each is in git history.

Resumable: rerun the same command to continue.

    PYTHONPATH=$PWD python bench/finetune_vs_scratch.py                # the protocol
    PYTHONPATH=$PWD python bench/finetune_vs_scratch.py --table-only   # re-render the tables from the JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tshub.data.catalogue import list_datasets, ucr_summary
from tshub.experiments import ExperimentGrid, run
from tshub.hub.checkpoint import read_config
from tshub.hub.ids import as_model_id
from tshub.hub.store import find_local, stores, training_status, unconverged_reason
from tshub.recommender.advice import minirocket_references
from tshub.recommender.advice_rules import MINIROCKET_TIE
from tshub.stats import ComparisonTable, comparison_table, wilcoxon_signed_rank, win_tie_loss

RESULTS = Path(__file__).resolve().parent / "results" / "finetune_vs_scratch.md"
TARGETS = [
    "ECGFiveDays",
    "TwoLeadECG",
    "BeetleFly",
    "FaceFour",
    "ArrowHead",
    "ToeSegmentation1",
    "GunPoint",
    "MoteStrain",
    "SonyAIBORobotSurface1",
    "Lightning7",
    "CBF",
    "Coffee",
    "Beef",
    "OliveOil",
]
ARCH = "fcn"
#: The per-pair table: the comparison of ``tshub.stats.comparison_table`` with the source's provenance and MiniRocket.
PAIR_COLUMNS = (
    ("source", "source"),
    ("source_status", "source training"),
    ("source_digest", "source sha256"),
    ("target", "target"),
    ("n", "n"),
    ("transfer", "fine-tuned"),
    ("referent", "scratch"),
    ("minirocket", "MiniRocket"),
    ("gain_pct", "gain % vs scratch"),
    ("wtl", "W/T/L vs scratch"),
    ("sign_p", "sign p"),
    ("wilcoxon_p", "Wilcoxon p"),
    ("q", "BKY q"),
    ("decision", "decision"),
    ("convergence_transfer", "conv. fine-tuned"),
    ("convergence_referent", "conv. scratch"),
)
#: Fine-tuned vs scratch over all targets: the target is the unit (the mean over its seeds), since the seeds of one
#: target share its data, source and test set and are no independent pairs.
TARGET_COLUMNS = (
    ("n", "targets"),
    *PAIR_COLUMNS[5:7],
    *PAIR_COLUMNS[8:12],
    *PAIR_COLUMNS[14:],
)


@dataclass(frozen=True)
class Pair:
    """A target, its source's model id and what the local stores hold of it (folder None: no store has it)."""

    target: str
    source: str
    folder: Path | None = None
    sha256: str | None = None
    status: str | None = None  # how its training ended, as `tshub list` shows it
    unconverged: str | None = None  # why its training did not run its recipe to its end (None: it did)

    def refusal(self, allow_unconverged: bool) -> str | None:
        """Why this pair must not run now (None: it may): the bench never trains a source itself."""
        if self.folder is None:
            where = "; ".join(map(str, stores()))
            return (
                f"{self.target}: no checkpoint {self.source} in the local stores ({where}): the zoo build must "
                "produce it first (scripts/publish/build_zoo.py); this bench never trains a source itself"
            )
        if self.unconverged and not allow_unconverged:
            return (
                f"{self.target}: source {self.source} ({self.folder}, sha256 {self.sha256}) is not converged: "
                f"{self.unconverged}; the zoo build must finish it first (--allow-unconverged runs it, its rows marked)"
            )
        return None


def same_type_largest_source(target: str, summary: list[dict]) -> str:
    """The dataset of the target's UCR Type with the most training series (never the target itself)."""
    kind = next(r["Type"] for r in summary if r["Name"] == target)
    peers = [r for r in summary if r["Type"] == kind and r["Name"] != target]
    return max(peers, key=lambda r: int(r["Train"]))["Name"]


def plan_pairs(targets: Sequence[str]) -> list[Pair]:
    """Each target with its source checkpoint as the local stores hold it now (the UCR sets present here only)."""
    present = {d["name"] for d in list_datasets()}  # DataSummary lists sets this archive copy lacks
    summary = [r for r in ucr_summary() if r["Name"] in present]
    pairs = []
    for target in targets:
        source = f"{same_type_largest_source(target, summary)}/{ARCH}"
        model_id = as_model_id(source)
        folder = find_local(model_id) if model_id is not None else None
        if folder is None:
            pairs.append(Pair(target, source))
            continue
        config = read_config(folder)
        pairs.append(
            Pair(
                target,
                source,
                folder,
                config["weights_sha256"],
                training_status(config) or "stop reason not recorded",
                unconverged_reason(config),
            )
        )
    return pairs


def run_pair(pair: Pair, seeds: Sequence[int], recipe: str, out: Path) -> list[dict[str, Any]]:
    """Fine-tune the zoo checkpoint and train the referents (resumable); checks the weights fine-tuned are the ones
    whose status was checked."""
    grid = ExperimentGrid(
        sources=[pair.source], targets=[pair.target], lr_multipliers=[1.0], seeds=seeds, recipe=recipe
    )
    records = run(grid, out_dir=out)
    used = {r["spec"]["source_sha256"] for r in records if r["kind"] == "finetune"}
    if used != {pair.sha256}:
        raise SystemExit(
            f"{pair.source} changed while the bench ran (fine-tuned sha256 {sorted(used)}, checked {pair.sha256}): "
            "rerun once the zoo build has written it."
        )
    return records


# ---------------------------------------------------------------------------------------------------- results
def with_target_tests(report: dict[str, Any]) -> dict[str, Any]:
    """The report with each pair's MiniRocket reference (None where the table has none), and tests with targets as
    units (each the mean over its seeds): the fine-tuned against the from-scratch means, and both against
    MiniRocket's reference."""
    references = minirocket_references()
    pairs = [{**row, "minirocket": references.get(row["target"])} for row in report["pairs"]]
    transfer, referent = np.array([row["transfer"] for row in pairs]), np.array([row["referent"] for row in pairs])
    outcome = win_tie_loss(transfer, referent)
    vs_scratch = {
        "n": len(pairs),
        "transfer": float(transfer.mean()),
        "referent": float(referent.mean()),
        "gain_pct": float((transfer.mean() - referent.mean()) / referent.mean() * 100),
        "wins": outcome.wins,
        "ties": outcome.ties,
        "losses": outcome.losses,
        "sign_p": outcome.pvalue,
        "wilcoxon_p": wilcoxon_signed_rank(transfer, referent).pvalue,
        **{
            key: float(np.mean([row[key] for row in pairs])) for key in ("convergence_transfer", "convergence_referent")
        },
    }
    compared = [row for row in pairs if row["minirocket"] is not None]
    versus = {}
    for key, name in (("transfer", "fine-tuned"), ("referent", "scratch")):
        ours, theirs = [row[key] for row in compared], [row["minirocket"] for row in compared]
        outcome = win_tie_loss(ours, theirs, MINIROCKET_TIE)
        versus[name] = {
            "targets": len(compared),
            "accuracy": float(np.mean(ours)) if compared else None,
            "minirocket": float(np.mean(theirs)) if compared else None,
            "wins": outcome.wins,
            "ties": outcome.ties,
            "losses": outcome.losses,
            "sign_p": outcome.pvalue,
        }
    return {**report, "pairs": pairs, "vs_scratch": vs_scratch, "vs_minirocket": versus}


def markdown(report: dict[str, Any]) -> str:
    """The tables of a report (``with_target_tests``'s)."""
    p = report["protocol"]
    pairs = ComparisonTable(
        [{**row, "source_digest": (row.get("source_sha256") or "")[:12] or None} for row in report["pairs"]],
        PAIR_COLUMNS,
    )
    unconverged = [row for row in report["pairs"] if row.get("source_converged") is False]
    lines = [
        "# FCN fine-tuned vs from scratch vs MiniRocket (accuracy on the official test split)",
        "",
        f"Seeds {p['seeds']}; ω = {p['lr_multiplier']}; recipe {p['recipe']!r}; source = {p['source_rule']}.  ",
        f"Sources: {p['sources']}.  ",
        f"MiniRocket: {p['minirocket']}; '–' where it has none.  ",
        f"Command: `{p['command']}`",
        "",
        *(f"{note}\n" for note in p.get("notes", [])),
    ]
    if unconverged:
        lines += [
            f"**{len(unconverged)} of {len(report['pairs'])} pairs fine-tune a source that is not converged** "
            "(run with --allow-unconverged; see 'source training'): they measure undertrained checkpoints.",
            "",
        ]
    lines += [
        pairs.to_markdown(),
        "",
        "## All targets together (units: targets; mean over seeds, since seeds of one target are no independent pairs)",
        "",
        ComparisonTable([report["vs_scratch"]], TARGET_COLUMNS).to_markdown(),
        "",
        "## Against MiniRocket (units: targets; mean over seeds vs the reference accuracy)",
        "",
        "| model | targets | mean accuracy | MiniRocket | W/T/L vs MiniRocket | sign p |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in report["vs_minirocket"].items():
        if row["targets"]:
            lines.append(
                f"| {name} | {row['targets']} | {row['accuracy']:.4f} | {row['minirocket']:.4f} | "
                f"{row['wins']}/{row['ties']}/{row['losses']} | {row['sign_p']:.3g} |"
            )
    return "\n".join(lines) + "\n"


def write_results(report: dict[str, Any], path: Path) -> str:
    """Write ``path`` (.md) and its .json; the Markdown."""
    report = with_target_tests(report)
    text = markdown(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    path.with_suffix(".md").write_text(text)
    return text


def log(message: str) -> None:
    print(f"[finetune-vs-scratch] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", nargs="+", default=TARGETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--recipe", default="ucr", help="training recipe of the fine-tunes and referents")
    parser.add_argument(
        "--allow-unconverged",
        action="store_true",
        help="fine-tune sources whose training did not run its recipe to its end, their rows marked",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/runs/finetune_vs_scratch"), help="run cache")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the .md to write (and its .json)")
    parser.add_argument("--table-only", action="store_true", help="re-render the tables from the results' JSON")
    args = parser.parse_args(argv)
    if args.table_only:
        print(write_results(json.loads(args.results.with_suffix(".json").read_text()), args.results))
        return 0

    pairs = plan_pairs(args.targets)
    refused = [why for pair in pairs if (why := pair.refusal(args.allow_unconverged))]
    for why in refused:
        log(why)
    records = []
    for pair in pairs:
        if pair.refusal(args.allow_unconverged) is None:
            records += run_pair(pair, args.seeds, args.recipe, args.out)
    if refused:
        log(
            f"results not written: {len(refused)} of {len(pairs)} pairs wait for the zoo build (lines above); the "
            f"runs of the others are cached in {args.out}"
        )
        return 1
    command = "python bench/finetune_vs_scratch.py " + " ".join(argv if argv is not None else sys.argv[1:])
    protocol = {
        "command": command.strip(),
        "targets": args.targets,
        "seeds": args.seeds,
        "lr_multiplier": 1.0,
        "recipe": args.recipe,
        "source_rule": "largest-train dataset of the target's UCR Type",
        "sources": "zoo checkpoints (local stores: "
        + "; ".join(map(str, stores()))
        + ("), unconverged ones allowed" if args.allow_unconverged else "), converged ones only"),
        "minirocket": "aeon MiniRocketClassifier (random_state 0), tshub/recommender/minirocket_ucr.tsv",
    }
    print(write_results(report_of(records, pairs, protocol), args.results))
    return 0


def report_of(records: list[dict[str, Any]], pairs: list[Pair], protocol: dict[str, Any]) -> dict[str, Any]:
    """The run records compared per pair (units: seeds), each pair's row with its source's digest and status."""
    by_target = {pair.target: pair for pair in pairs}
    rows = [
        {
            **row,
            "source_sha256": by_target[row["target"]].sha256,
            "source_status": by_target[row["target"]].status,
            "source_converged": by_target[row["target"]].unconverged is None,
        }
        for row in comparison_table(records, by=("source", "target"), metric="accuracy")
    ]
    return {"protocol": protocol, "pairs": rows}


if __name__ == "__main__":
    sys.exit(main())
