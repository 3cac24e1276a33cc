"""Does the zoo's FCN recipe lose accuracy by holding out a validation split? FCN from scratch with recipe "ucr"
trained two ways, paired: ``split`` (the zoo's: 20 % of TRAIN, stratified, seed 0, held out to select the weights
and stop) and ``full`` (every training series trained on, the training split doubling as validation, so weights and
stopping follow training accuracy, then training loss: bigdata18 kept the weights of least training loss).

Why: the zoo's FCNs trail the paper's mean on the 76 UCR 2015 sets (issue 10), and on the smallest sets the split
takes a fifth of very few series. The question is settled on *development* datasets, never on those 76: the UCR
2018 sets outside the 85 of UCR 2015 (../shared/reference/ucr2015_85.txt), with both splits here, a fixed length of
at most ``MAX_LENGTH``, at most ``MAX_TRAIN`` training series (cheap enough for 2 × 3 trainings each on a CPU)
and at least two per class (else no validation split exists: Fungi); the rule was fixed before any run. Seeds 0 1 2; test accuracy on the official test split; paired over dataset ×
seed: wins/ties/losses, sign test, Wilcoxon. Resumable (one record per run in --out, committed); the tables are
rewritten after every run.

``--rule large`` (fixed 2026-12-04, before any of its runs): the same question on the larger sets, which the zoo
kept on the held-out fifth from the small rule's trend alone (+0.047 on the 7 sets with ≤ 78 series, +0.003 on the
6 with 135-180). Its development sets: the UCR 2018 sets outside the 85, both splits here, more than ``MAX_TRAIN``
training series, every series at most ``MAX_LENGTH`` steps (fixed or variable length), at least two per class.
Decision: the zoo's UCR FCNs with more than ``MAX_TRAIN`` training series are rebuilt on every series, as the
smaller ones were, when ``full`` beats ``split`` over the set × seed pairs in the two-sided sign test at p < 0.05;
else they keep the held-out fifth, and the README says what was measured.

``--kind finetune`` (fixed 2026-12-04, before any of its runs): the same question for fine-tuning, which
``finetune`` and ``train_from_scratch`` still answer with a held-out fifth by default (the transfer matrix fine-tunes
that way; on OliveOil, 30 series, some runs stopped at epoch 8). Each set of the rule is fine-tuned from the
recommender's first pick for it (``tshub.recommend(set, k=1)``, written once to ``--sources`` before any fine-tune),
ω = 1, recipe "ucr", split vs full, seeds 0 1 2. Decision: when full wins the two-sided sign test at p < 0.05 over
the set × seed pairs, fine-tuning and training from scratch (its referent, which keeps the same protocol) train on
every series by default where the training split has at most ``MAX_TRAIN`` series; else the default stays, and the
README says what was measured.

    python bench/ucr_full_train.py --threads 1                   # → bench/results/ucr_full_train.{md,json}
    python bench/ucr_full_train.py --threads 1 --rule large      # → bench/results/ucr_full_train_large.{md,json}
    python bench/ucr_full_train.py --threads 1 --kind finetune   # → bench/results/ucr_full_train_finetune.{md,json}
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from tshub.data.catalogue import load, ucr_summary
from tshub.data.dataset import Dataset
from tshub.data.splits import train_as_validation
from tshub.experiments.records import read_record, run_state_dir, write_record
from tshub.recommender import recommend
from tshub.stats import wilcoxon_signed_rank, win_tie_loss
from tshub.training import finetune, train_from_scratch

REPO = Path(__file__).resolve().parents[1]
UCR2015 = REPO.parent / "shared" / "reference" / "ucr2015_85.txt"
MAX_LENGTH, MAX_TRAIN = 600, 200
VARIANTS = ("split", "full")


RULES = {  # the rules of the module docstring: the training split's size, and the protocol's wording of it
    "small": (lambda n_train: n_train <= MAX_TRAIN, f"≤ {MAX_TRAIN} training series, length ≤ {MAX_LENGTH}"),
    "large": (
        lambda n_train: n_train > MAX_TRAIN,
        f"> {MAX_TRAIN} training series, every series ≤ {MAX_LENGTH} steps",
    ),
}


def development_datasets(rule: str = "small") -> list[str]:
    """The sets of ``rule`` (module docstring), sorted by name. The small rule takes fixed lengths only, as it was
    fixed; the large one variable lengths too, their longest series at most MAX_LENGTH steps."""
    ucr2015 = {line.split()[1] for line in UCR2015.read_text().splitlines() if line[:2] in ("T ", "t ", "- ")}
    sized, _ = RULES[rule]
    candidates = [
        r["Name"]
        for r in ucr_summary()
        if r["Name"] not in ucr2015
        and sized(int(r["Train"]))
        and int(r["Test"]) > 0
        and (int(r["Length"]) <= MAX_LENGTH if r["Length"].isdigit() else rule == "large")
    ]
    datasets = {name: load(name) for name in candidates}
    return sorted(
        (
            name
            for name, ds in datasets.items()
            if ds.length <= MAX_LENGTH and np.bincount(ds.split("train")[1]).min() >= 2
        ),
        key=str.casefold,
    )


def with_variant(ds: Dataset, variant: str) -> Dataset:
    """``full``: the training split doubles as validation split (the loop then trains on every series)."""
    if variant == "split":
        return ds
    return train_as_validation(ds, "full")


def first_picks(names: list[str], path: Path) -> dict[str, str]:
    """The recommender's first pick for each set, as ``path`` fixed it before any fine-tune (written on first use)."""
    if path.is_file():
        return json.loads(path.read_text())["sources"]
    picks = {name: recommend(load(name), k=1).ids[0] for name in names}
    rule = "tshub.recommend(set, k=1): the default method and plan, the repository zoo, the set's own FCN left out"
    path.write_text(json.dumps({"rule": rule, "sources": picks}, indent=1) + "\n")
    return picks


def run_one(name: str, seed: int, variant: str, out: Path, source: str | None = None) -> dict:
    """One training: FCN from scratch, or fine-tuned from ``source`` (ω = 1)."""
    fine_tuned = "" if source is None else f"__from__{source.replace('/', '_')}"
    run_id = f"{name}{fine_tuned}__seed{seed}__{variant}"
    record = read_record(out, run_id)
    if record is not None:
        return record
    data = with_variant(load(name), variant)
    state = run_state_dir(out, run_id)  # a run killed midway resumes from its last saved epoch
    if source is None:
        result = train_from_scratch(
            "fcn", data, seed=seed, recipe="ucr", progress=False, state_path=state / "scratch.safetensors"
        )
    else:
        result = finetune(source, data, lr_multiplier=1.0, seed=seed, recipe="ucr", progress=False, state_dir=state)
    record = {
        "run_id": run_id,
        "source": source,
        "dataset": name,
        "seed": seed,
        "variant": variant,
        "test": result.metrics,
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "stop_reason": result.stop_reason,
        "seconds": result.elapsed_s,  # every process's share when resumed
    }
    write_record(out, record)
    shutil.rmtree(state, ignore_errors=True)
    print(f"{run_id}: test accuracy {result.metrics['accuracy']:.4f}, {record['epochs']} epochs", flush=True)
    return record


def report(records: list[dict], names: list[str], rule: str = "small", kind: str = "scratch") -> tuple[str, dict]:
    pairs: dict[tuple[str, int], dict[str, dict]] = {}
    for r in records:
        pairs.setdefault((r["dataset"], r["seed"]), {})[r["variant"]] = r
    complete = sorted((k, v) for k, v in pairs.items() if len(v) == len(VARIANTS))
    split = np.array([v["split"]["test"]["accuracy"] for _, v in complete])
    full = np.array([v["full"]["test"]["accuracy"] for _, v in complete])
    record = win_tie_loss(full, split)
    wins, losses = record.wins, record.losses
    summary = {
        "datasets": names,
        "pairs": len(complete),
        "mean_split": float(split.mean()) if complete else None,
        "mean_full": float(full.mean()) if complete else None,
        "wins_full": wins,
        "ties": record.ties,
        "losses_full": losses,
        "sign_p": record.pvalue if complete else None,
        "wilcoxon_p": wilcoxon_signed_rank(full, split).pvalue if complete else None,
        "seed_sd": {variant: seed_sd([v[variant] for _, v in complete]) for variant in VARIANTS},
    }
    what = "FCN" if kind == "scratch" else "Fine-tuning the recommender's first pick (ω = 1)"
    options = ("" if rule == "small" else f" --rule {rule}") + ("" if kind == "scratch" else f" --kind {kind}")
    lines = [
        f"# {what} on every training series vs with a held-out validation split (development sets)",
        "",
        f"`python bench/ucr_full_train.py{options}` — the {len(names)} "
        f"development sets of the rule (UCR 2018 sets outside UCR 2015, {RULES[rule][1]}), recipe `ucr`, seeds "
        f"0–2, {len(complete)} complete pairs. Test accuracy on the official test split.",
        "",
        "| dataset | train | split: 80 % trained, 20 % validation | full: all trained, selected on train | "
        "difference | epochs split / full |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name in names:
        rows = [v for k, v in complete if k[0] == name]
        if rows:
            a, b = (np.mean([v[x]["test"]["accuracy"] for v in rows]) for x in VARIANTS)
            ea, eb = (np.mean([v[x]["epochs"] for v in rows]) for x in VARIANTS)
            n_train = len(load(name).splits["train"])
            lines.append(f"| {name} | {n_train} | {a:.4f} | {b:.4f} | {b - a:+.4f} | {ea:.0f} / {eb:.0f} |")
    if complete:
        lines += [
            "",
            f"Mean test accuracy split {summary['mean_split']:.4f}, full {summary['mean_full']:.4f}; full "
            f"wins/ties/losses {wins}/{summary['ties']}/{losses}; sign test p = {summary['sign_p']:.3g}, "
            f"Wilcoxon p = {summary['wilcoxon_p']:.3g}.",
        ]
    if all(summary["seed_sd"].values()):
        sd = summary["seed_sd"]
        lines += [
            "",
            "Seed noise: between seeds a set's test accuracy moves by "
            + " and ".join(f"{sd[v]:.3f} ({v})" for v in VARIANTS)
            + " (standard deviation, root mean square over the sets); a mean over 76 sets of one seed each (as the zoo's"
            " FCN mean against the paper's) therefore by about "
            + " and ".join(f"{sd[v] / np.sqrt(76):.4f} ({v})" for v in VARIANTS)
            + ", if these sets are typical (they are easier than the 76, so the spread there is likely larger).",
        ]
    return "\n".join(lines) + "\n", summary


def seed_sd(records: list[dict]) -> float | None:
    """Root mean square over the datasets of the seeds' standard deviation of test accuracy (sets with ≥ 2 seeds)."""
    by_set: dict[str, list[float]] = {}
    for r in records:
        by_set.setdefault(r["dataset"], []).append(r["test"]["accuracy"])
    variances = [np.var(a, ddof=1) for a in by_set.values() if len(a) >= 2]
    return float(np.sqrt(np.mean(variances))) if variances else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int)
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench/results/ucr_full_train_runs",
        help="one record per finished run (committed: the 78 trainings outlast a session on 2 cores)",
    )
    parser.add_argument("--rule", choices=sorted(RULES), default="small", help="which development sets (docstring)")
    parser.add_argument(
        "--kind",
        choices=("scratch", "finetune"),
        default="scratch",
        help="FCN from scratch, or fine-tuned from the recommender's first pick (docstring)",
    )
    parser.add_argument(
        "--sources",
        type=Path,
        default=REPO / "bench/results/ucr_full_train_sources.json",
        help="--kind finetune: each set's source, written once before any fine-tune",
    )
    parser.add_argument("--results", type=Path, help="default: bench/results/ucr_full_train[_large][_finetune]")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    suffix = ("" if args.rule == "small" else f"_{args.rule}") + ("" if args.kind == "scratch" else f"_{args.kind}")
    results = args.results or REPO / f"bench/results/ucr_full_train{suffix}"
    names = development_datasets(args.rule)
    sources = first_picks(names, args.sources) if args.kind == "finetune" else {}
    print("development datasets:", ", ".join(names), flush=True)
    records = []
    for seed in args.seeds:  # every dataset at seed 0 first: an early reading covers all of them
        for name in names:
            for variant in VARIANTS:
                records.append(run_one(name, seed, variant, args.out, sources.get(name)))
                text, summary = report(records, names, args.rule, args.kind)
                results.with_suffix(".md").write_text(text)
                results.with_suffix(".json").write_text(json.dumps({"summary": summary, "runs": records}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
