"""Benchmark: does successive halving over ω choose as well as the full grid, and how much sooner?

Protocol (fixed before any result was seen):

- Targets: the ``--n-targets`` (6) UCR 2018 datasets here with a test split and a fixed length, cheapest first
  (training series × length, ties by name); ``--targets`` names them instead.
- Source of target i: the zoo FCN of target i + 1 (cyclically), so no target is fine-tuned from its own data.
- Per target and seed (``--seeds`` 0 1): every ω of Otović's grid fine-tuned alone to the end of its recipe
  (``--recipe`` auto, i.e. "ucr" on these sets; ``tshub.finetune`` with one ω): the full grid's choice is the best
  on validation (accuracy, ties by validation loss: what ``search="full"`` picks), its time the sum of the ten.
  Then ``finetune(lr_multiplier="grid", search="halving")`` as a user runs it. ``--max-epochs`` caps every
  training when the machine is short of time; it shrinks halving's advantage (a capped run that early stopping
  would have carried on costs the full grid less, while halving's first rungs cost the same). Halving trains the ω it keeps
  exactly as the single run does, so its choice's test accuracy must equal that ω's single run's (checked:
  ``identical``). "oracle" is the best ω on *test*, for scale only (no method may pick it).
- Reported: test accuracy of each choice, wins/ties/losses of halving vs full with a sign test, wall time and
  epochs trained. Wall times come from one shared, loaded machine: read the ratios within a row.

Resumable (``--work``, default runs/omega_search: one JSON per run). Results: bench/results/omega_search.{md,json}.

    PYTHONPATH=. .venv/bin/python bench/omega_search.py
    PYTHONPATH=. .venv/bin/python bench/omega_search.py --targets Chinatown --seeds 0 --max-epochs 30   # quick
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean
from typing import Any

import torch

import tshub
from tshub.data.catalogue import FULL, list_datasets, ucr_summary
from tshub.stats import sign_test, win_tie_loss
from tshub.training import LR_MULTIPLIER_GRID
from tshub.training.monitor import Monitor

RESULTS = Path(__file__).resolve().parent / "results"


def select_targets(n: int) -> list[str]:
    rows = {r["Name"]: r for r in ucr_summary()}
    names = [
        d["name"]
        for d in list_datasets()
        if d["collection"] == FULL
        and d["name"] in rows
        and rows[d["name"]]["Length"].isdigit()
        and int(rows[d["name"]]["Test"]) > 0
    ]
    return sorted(names, key=lambda s: (int(rows[s]["Train"]) * int(rows[s]["Length"]), s.casefold()))[:n]


def cached(path: Path, compute) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text())
    record = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return record


def summary(result: Any) -> dict[str, Any]:
    return {
        "lr_multiplier": result.lr_multiplier,
        "test_accuracy": result.metrics["accuracy"],
        "val_accuracy": result.val_metrics["accuracy"],
        "val_loss": result.grid[0]["val_loss"] if len(result.grid) == 1 else None,
        "elapsed_s": result.elapsed_s,
        "epochs": sum(g["epochs"] for g in result.grid),
        "grid": result.grid,
    }


def full_grid_choice(singles: list[dict[str, Any]]) -> dict[str, Any]:
    """What search="full" picks: best validation accuracy, ties by validation loss, then grid order."""
    selector = Monitor.resolve("auto", "classification", tie_break=True)
    best = None
    for run in singles:
        scores = {"val_accuracy": run["val_accuracy"], "val_loss": run["val_loss"]}
        if best is None or selector.improved(scores, best[1]):
            best = (run, scores)
    return best[0]


def run_pair(target: str, source: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    data = tshub.datasets.load(target)
    model = tshub.load_pretrained(source)
    work = args.work / target / f"seed{seed}"
    common = {"seed": seed, "recipe": args.recipe, "max_epochs": args.max_epochs, "progress": args.progress}
    singles = [
        cached(
            work / f"omega{omega:g}.json",
            lambda omega=omega: summary(model.finetune(data, lr_multiplier=omega, **common)),
        )
        for omega in LR_MULTIPLIER_GRID
    ]
    halving = cached(
        work / "halving.json", lambda: summary(model.finetune(data, lr_multiplier="grid", search="halving", **common))
    )
    full = full_grid_choice(singles)
    same_omega = next(s for s in singles if s["lr_multiplier"] == halving["lr_multiplier"])
    return {
        "target": target,
        "source": source,
        "seed": seed,
        "full": {
            "lr_multiplier": full["lr_multiplier"],
            "test_accuracy": full["test_accuracy"],
            "elapsed_s": sum(s["elapsed_s"] for s in singles),
            "epochs": sum(s["epochs"] for s in singles),
        },
        "halving": {k: halving[k] for k in ("lr_multiplier", "test_accuracy", "elapsed_s", "epochs")},
        "identical": same_omega["test_accuracy"] == halving["test_accuracy"],
        "oracle": max(s["test_accuracy"] for s in singles),
    }


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    wins = sum(r["halving"]["test_accuracy"] > r["full"]["test_accuracy"] for r in rows)
    losses = sum(r["halving"]["test_accuracy"] < r["full"]["test_accuracy"] for r in rows)
    test = sign_test(wins, losses)
    same = sum(r["full"]["lr_multiplier"] == r["halving"]["lr_multiplier"] for r in rows)
    time_full, time_halving = sum(r["full"]["elapsed_s"] for r in rows), sum(r["halving"]["elapsed_s"] for r in rows)
    targets = list(dict.fromkeys(r["target"] for r in rows))
    per_target = win_tie_loss(
        *(
            [mean(r[method]["test_accuracy"] for r in rows if r["target"] == t) for t in targets]
            for method in ("halving", "full")
        )
    )
    lines = [
        "# ω search: successive halving vs the full grid",
        "",
        f"`{' '.join(['PYTHONPATH=. python bench/omega_search.py', *(a for a in sys.argv[1:] if a != '--report-only')])}`"
        f" — FCN, recipe `{args.recipe}`"
        f"{f' capped at {args.max_epochs} epochs' if args.max_epochs else ''}, Otović's ten ω, chosen on validation; "
        "protocol in the script's docstring.",
        "",
        "| target | source | seed | ω full | ω halving | test acc full | test acc halving | oracle (test) | "
        "time full s | time halving s | epochs full | epochs halving | identical |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        f, h = r["full"], r["halving"]
        lines.append(
            f"| {r['target']} | {r['source']} | {r['seed']} | {f['lr_multiplier']:g} | "
            f"{h['lr_multiplier']:g} | {f['test_accuracy']:.4f} | {h['test_accuracy']:.4f} | "
            f"{r['oracle']:.4f} | {f['elapsed_s']:.0f} | {h['elapsed_s']:.0f} | {f['epochs']} | "
            f"{h['epochs']} | {'yes' if r['identical'] else 'NO'} |"
        )
    lines += [
        "",
        f"- Mean test accuracy: full grid {mean(r['full']['test_accuracy'] for r in rows):.4f}, halving "
        f"{mean(r['halving']['test_accuracy'] for r in rows):.4f}, oracle {mean(r['oracle'] for r in rows):.4f}.",
        f"- Halving vs full: {wins} wins, {len(rows) - wins - losses} ties, {losses} losses (sign test p = "
        f"{test.pvalue:.3g}); same ω chosen in {same} of {len(rows)}.",
        f"- The same with each target as one unit (the mean of its seeds; its seeds share the data, so they are not "
        f"independent pairs): {per_target.wins} wins, {per_target.ties} ties, {per_target.losses} losses of "
        f"{len(targets)} (sign test p = {per_target.pvalue:.3g}).",
        f"- Wall time: full {time_full:.0f} s, halving {time_halving:.0f} s ({time_full / time_halving:.2f}× faster); "
        f"epochs trained: full {sum(r['full']['epochs'] for r in rows)}, halving "
        f"{sum(r['halving']['epochs'] for r in rows)}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", nargs="+")
    p.add_argument("--n-targets", type=int, default=6)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--recipe", default="auto")
    p.add_argument("--max-epochs", type=int)
    p.add_argument("--work", type=Path, default=Path("runs/omega_search"))
    p.add_argument("--out", type=Path, default=RESULTS / "omega_search")
    p.add_argument("--progress", default="lines", choices=["lines", "none"])
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: steadiest on a shared machine)")
    p.add_argument("--report-only", action="store_true", help="re-render the report from --out's .json, no training")
    args = p.parse_args(argv)
    if args.report_only:
        args.out.with_suffix(".md").write_text(report(json.loads(args.out.with_suffix(".json").read_text()), args))
        return 0
    torch.set_num_threads(args.threads)
    args.progress = False if args.progress == "none" else "lines"
    targets = args.targets or select_targets(args.n_targets)
    rows = []
    for i, target in enumerate(targets):
        source = f"{targets[(i + 1) % len(targets)]}/fcn"
        for seed in args.seeds:
            rows.append(run_pair(target, source, seed, args))
            print(json.dumps(rows[-1]), flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)  # after every pair: a stopped run still reports
            args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
            args.out.with_suffix(".md").write_text(report(rows, args))
    print(report(rows, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
