"""Evidence: fine-tuning across channel counts (issue 2, item 3), FCN, fine-tune vs from scratch.

1 → 3: an FCN pretrained on a univariate UCR set fine-tuned on EMG-Roshambo (channels 0, 2, 5; rock/paper/
scissor windows, train reduced to --emg-train windows). 3 → 1: an FCN pretrained on EMG fine-tuned on univariate
UCR targets. The input layer is adapted by ``tshub.models.adapt_channel_kernel``; the transfer report of each
fine-tune says so. Resumable (records in --out).

    python bench/cross_channel.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tshub.experiments import ExperimentGrid, run
from tshub.stats import comparison_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--univariate-source", default="ECG5000")
    parser.add_argument("--univariate-targets", nargs="+", default=["GunPoint", "ECG200", "Coffee"])
    parser.add_argument("--emg-train", type=int, default=300)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per training")
    parser.add_argument("--recipe", default="ucr", help="training recipe of sources, fine-tunes and referents")
    parser.add_argument("--out", default="bench/runs/cross_channel")
    parser.add_argument("--results", default="bench/results/cross_channel.md")
    args = parser.parse_args()

    one_to_three = run(
        ExperimentGrid(
            sources=[(args.univariate_source, "fcn")],
            targets=["EMG"],
            lr_multipliers=[1.0],
            seeds=args.seeds,
            reduce_train=args.emg_train,
            recipe=args.recipe,
            time_budget_s=args.budget,
        ),
        out_dir=args.out,
    )
    three_to_one = run(
        ExperimentGrid(
            sources=[("EMG", "fcn")],
            targets=args.univariate_targets,
            lr_multipliers=[1.0],
            seeds=args.seeds,
            recipe=args.recipe,
            time_budget_s=args.budget,
        ),
        out_dir=args.out,
    )
    adapted = sorted(
        {
            f"{item['name']} {item['source_shape']} → {item['target_shape']}"
            for r in one_to_three + three_to_one
            if r.get("kind") == "finetune"
            for item in (r["fit"].get("transfer_report") or {}).get("adapted", [])
        }
    )
    text = (
        "# Fine-tuning across channel counts (FCN, accuracy on the test split)\n\n"
        f"Seeds {args.seeds}; ω = 1.0; EMG train reduced to {args.emg_train} windows (val/test complete).\n"
        f"Command: `python bench/cross_channel.py --seeds {' '.join(map(str, args.seeds))}`\n\n"
        f"## 1 channel → 3 channels\n\n"
        f"{comparison_table(one_to_three, by=('source', 'target'), metric='accuracy').to_markdown()}\n\n"
        f"## 3 channels → 1 channel\n\n"
        f"{comparison_table(three_to_one, by=('source', 'target'), metric='accuracy').to_markdown()}\n\n"
        f"Input tensors adapted (transfer reports): {', '.join(adapted) or 'none'}\n"
    )
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
