"""``python -m tshub.experiments``: run a transfer grid and print its comparison table (Markdown).

Re-running the same command resumes an interrupted grid, or only prints the table of a finished one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tshub.data.dataset import DatasetError
from tshub.experiments.grid import ExperimentGrid
from tshub.experiments.records import OutDirInUseError, instance_comparisons
from tshub.experiments.runner import ExperimentError, run
from tshub.hub.errors import HubError
from tshub.stats import comparison_table


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tshub.experiments", description="Fine-tune sources on targets against from-scratch referents."
    )
    p.add_argument(
        "--sources",
        nargs="*",
        default=[],
        metavar="SOURCE",
        help="model ids (LEN-DB/magnet), Hub repo ids, checkpoint folders, or dataset names with --archs",
    )
    p.add_argument(
        "--train-sources",
        nargs="*",
        default=[],
        metavar="DATASET/ARCH",
        help="sources to train from scratch first (cached in OUT/sources), e.g. Coffee/fcn",
    )
    p.add_argument("--targets", nargs="+", required=True, metavar="DATASET", help="catalogue dataset names")
    p.add_argument("--archs", nargs="*", default=None, help="restrict to these architectures (expands dataset names)")
    p.add_argument(
        "--lr-multipliers",
        nargs="+",
        default=["grid"],
        type=_omega,
        metavar="OMEGA",
        help="'grid' (Otović's ten values) or numbers; one run per value, chosen on validation",
    )
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--reduce-train", type=int, default=None, metavar="N", help="keep N training series per seed")
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--recipe", default="default")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS", help="per run")
    p.add_argument("--preprocessing", default=None, help="default: each source's own")
    p.add_argument("--engine", choices=("local", "ray"), default="local")
    p.add_argument(
        "--address",
        default=None,
        metavar="HOST:PORT",
        help="the Ray cluster's head (ray start --head); default $RAY_ADDRESS, else a local Ray",
    )
    p.add_argument("--out", required=True, help="output folder (records, predictions, trained sources)")
    p.add_argument("--by", nargs="+", default=["source", "target", "arch"], help="row keys of the table")
    p.add_argument("--metric", default=None, help="default: f1_weighted (classification), mae (regression)")
    p.add_argument("--alpha", type=float, default=0.05, help="false discovery rate of the BKY correction")
    p.add_argument(
        "--instance-tests",
        action="store_true",
        help="also print Otović's per-run tests on test instances (Bowker / Wilcoxon)",
    )
    p.add_argument("--quiet", action="store_true", help="no per-run progress lines")
    return p


def _omega(text: str) -> str | float:
    """One value of --lr-multipliers: 'grid' or a number (argparse then names the option in its error)."""
    if text == "grid":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'grid' or a number, got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if "grid" in args.lr_multipliers and len(args.lr_multipliers) > 1:
        parser.error("argument --lr-multipliers: 'grid' alone or numbers, not both")
    train_sources = []
    for text in args.train_sources:
        dataset, _, arch = text.partition("/")
        if not dataset or not arch:
            print(f"tshub.experiments: error: --train-sources takes DATASET/ARCH, got {text!r}", file=sys.stderr)
            return 2
        train_sources.append((dataset, arch))
    multipliers = "grid" if args.lr_multipliers == ["grid"] else args.lr_multipliers
    try:
        grid = ExperimentGrid(
            sources=[*args.sources, *train_sources],
            targets=args.targets,
            archs=args.archs,
            lr_multipliers=multipliers,
            seeds=args.seeds,
            reduce_train=args.reduce_train,
            max_epochs=args.max_epochs,
            recipe=args.recipe,
            time_budget_s=args.time_budget,
            preprocessing=args.preprocessing,
        )
        records = run(grid, engine=args.engine, out_dir=args.out, progress=not args.quiet, address=args.address)
        print(comparison_table(records, by=args.by, metric=args.metric, alpha=args.alpha).to_markdown())
        if args.instance_tests:
            print()
            print(instance_comparisons(records, args.out, alpha=args.alpha).to_markdown())
    except (ExperimentError, OutDirInUseError, HubError, DatasetError, ValueError, ImportError) as err:
        print(f"tshub.experiments: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: what to do next, not a traceback through torch
        print(
            f"tshub.experiments: interrupted; the finished runs are saved in {args.out}: run the same command again "
            "to resume (a run cut short resumes from its saved training state).",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
