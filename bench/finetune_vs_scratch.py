"""Evidence: FCN fine-tuned from a UCR source vs FCN trained from scratch, same recipe and seeds (issue 2, item 2).

Targets are UCR datasets with small training sets; each is paired with a source by a fixed rule chosen before
any result was seen: the dataset of the same UCR "Type" with the largest training set (the obvious in-domain
source a user would try). Sources come from the zoo when it has them, else are trained here (cached in --out).
ω is fixed at 1.0 (bigdata18: everything fine-tuned at the base learning rate); recipe "ucr" by default.
Resumable: rerun to continue.

    python bench/finetune_vs_scratch.py --seeds 0 1 2 --out bench/runs/finetune_vs_scratch
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tshub.data.catalogue import list_datasets, ucr_summary
from tshub.experiments import ExperimentGrid, run
from tshub.hub import resolve
from tshub.hub.errors import HubError
from tshub.stats import comparison_table

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


def same_type_largest_source(target: str, summary: list[dict]) -> str:
    """The dataset of the target's UCR Type with the most training series (never the target itself)."""
    kind = next(r["Type"] for r in summary if r["Name"] == target)
    peers = [r for r in summary if r["Type"] == kind and r["Name"] != target]
    return max(peers, key=lambda r: int(r["Train"]))["Name"]


def source_entry(name: str) -> str | tuple[str, str]:
    """The zoo checkpoint ``<name>/fcn`` when it resolves locally, else train it on the fly."""
    try:
        resolve(f"{name}/fcn")
        return f"{name}/fcn"
    except HubError:
        return (name, "fcn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", nargs="+", default=TARGETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=90.0, help="seconds per training (sources trained here)")
    parser.add_argument("--recipe", default="ucr", help="training recipe of sources, fine-tunes and referents")
    parser.add_argument("--out", default="bench/runs/finetune_vs_scratch")
    parser.add_argument("--results", default="bench/results/finetune_vs_scratch.md")
    args = parser.parse_args()

    present = {d["name"] for d in list_datasets()}  # DataSummary lists sets this archive copy lacks
    summary = [r for r in ucr_summary() if r["Name"] in present]
    records = []
    for target in args.targets:
        source = same_type_largest_source(target, summary)
        # The budget caps every training of the grid; the small targets' runs finish well within it.
        grid = ExperimentGrid(
            sources=[source_entry(source)],
            targets=[target],
            lr_multipliers=[1.0],
            seeds=args.seeds,
            recipe=args.recipe,
            time_budget_s=args.budget,
        )
        records += run(grid, out_dir=args.out)
    table = comparison_table(records, by=("source", "target"), metric="accuracy")
    overall = comparison_table(records, by=("arch",), metric="accuracy")
    text = (
        "# FCN fine-tuned vs from scratch (accuracy on the official test split)\n\n"
        f"Seeds {args.seeds}; ω = 1.0; recipe {args.recipe!r}; source = largest-train dataset of the target's UCR Type.\n"
        f"Command: `python bench/finetune_vs_scratch.py --seeds {' '.join(map(str, args.seeds))}`\n\n"
        f"{table.to_markdown()}\n\n## All pairs together\n\n{overall.to_markdown()}\n"
    )
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(text)
    Path(args.results).with_suffix(".json").write_text(json.dumps([dict(r) for r in table], indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()
