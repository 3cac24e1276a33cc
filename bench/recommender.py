"""Benchmark: is the source a recommender ranks first as good, once fine-tuned, as the best source?

Protocol (fixed before any result was seen, except the recipe: a first run with "default" left the from-scratch
referents untrained on these small sets, see results/recommender_*_default_recipe.md; change it only with a flag,
and report that you did):

- Targets: every UCR 2018 dataset found here with a test split, at most 100 training series and a fixed length of at
  most 500, sorted by name (case-insensitive), keeping positions i with i mod ``--stride`` = ``--offset`` (3 and 0:
  10 of 29 sets). ``--targets`` names them instead (e.g. for a quick check).
- Pool: every local checkpoint of ``--arch`` (default fcn, the bigdata18 setting) except the target's own and
  multi-head checkpoints with a head for the target (both were trained on the target's training data), those that
  learned nothing (``tshub.hub.store.unusable_reason``) and those whose training did not run its recipe to its end
  (``tshub.hub.store.unconverged_reason``: the zoo's old 90-s checkpoints; ``--allow-unconverged`` keeps them). The
  ones left out are logged and listed in the JSON with the reason.
- Every method ranks the whole pool with ``tshub.recommend`` (training split only). The candidate set of a target
  is the union of each method's top ``--top`` (3), padded with pool members drawn at random (seeded by the target's
  name) to ``--candidates`` (12), so every method's first pick is fine-tuned, and so are sources no method liked.
- Every candidate is fine-tuned on the target with ``tshub.experiments`` (equal budget: ω = 1.0 for budget reasons
  rather than Otović's grid; recipe ``--recipe`` "ucr", the zoo's FCN recipe, as "default" stops early on small
  sets before FCN has learned, capped at ``--max-epochs`` 300; seeds ``--seeds`` 0 and 1), and the same
  architecture is trained from scratch with the same recipe and seeds (the referent reported is the UCR-style one:
  z-normalised input, no stream_max). Accuracy = test accuracy, mean over seeds.
- Scores (tshub.recommender.evaluation, as bench/rank_methods.py): per method and target the accuracy of its first
  pick (a tie at its top score: the mean over the tied), its regret (best candidate − pick), the rank of the pick
  among the candidates (1 = best, ties share their mean rank), and Kendall's τ and Spearman's ρ between its scores
  and the fine-tuned accuracies over the candidates. Baselines in the same terms: "oracle" the best candidate,
  "random" the expectation of a uniform pick, "scratch" the from-scratch model, "minirocket" the target's MiniRocket
  reference accuracy (tshub/recommender/minirocket_ucr.tsv: aeon's MiniRocketClassifier, random_state 0; none for
  sets with missing values or unequal lengths; ties within its rounding). Over the targets: means, top-1 hits, and
  wins/ties/losses with sign tests against the random pick, scratch and MiniRocket.

Results and the zoo they were made on: bench/results/recommender.{md,json} ran on the complete zoo of commit 8bd8dc7
(every UCR FCN trained on every training series to its recipe's end; no checkpoint left out of the pool); the runs
before it, on the zoo of 072e80c (every UCR FCN converged, the larger sets trained on four fifths of their training
series) and on the old zoo of 90-s checkpoints (commit 3e2901f), are in git history.

Resumable: rankings and fine-tunes are cached under ``--work`` (default runs/recommender), keyed by the weights'
sha256 of the checkpoints, so a checkpoint the zoo build replaced is ranked and fine-tuned anew; re-running the same
command skips what is done. Results: bench/results/recommender.{md,json}.

    .venv/bin/python bench/recommender.py                                   # the full protocol
    .venv/bin/python bench/recommender.py --targets Coffee Wine --seeds 0 1 --max-epochs 50   # a quick check
    .venv/bin/python bench/recommender.py --engine ray                      # fine-tunes on every core
    .venv/bin/python bench/recommender.py --table-only                      # re-render the tables from the JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from tshub.data.catalogue import FULL, list_datasets, ucr_summary
from tshub.experiments import ExperimentError, ExperimentGrid, load_records, run
from tshub.hub.checkpoint import read_config
from tshub.hub.store import stores, unconverged_reason
from tshub.recommender import Candidate, candidate_pool, recommend
from tshub.recommender.advice import minirocket_references
from tshub.recommender.evaluation import BASELINES, TargetTruth, baselines, judge, summarise

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("logme", "hscore", "dtw", "probe")


def select_targets(stride: int, offset: int, max_train: int = 100, max_length: int = 500) -> list[str]:
    """The protocol's targets: small fixed-length UCR sets with a test split, every stride-th by name."""
    rows = {r["Name"]: r for r in ucr_summary()}
    names = sorted((d["name"] for d in list_datasets() if d["collection"] == FULL), key=str.casefold)
    eligible = [
        n
        for n in names
        if n in rows
        and rows[n]["Length"] != "Vary"
        and int(rows[n]["Train"]) <= max_train
        and int(rows[n]["Length"]) <= max_length
    ]
    return [n for i, n in enumerate(eligible) if i % stride == offset]


def zoo_pool(arch: str | None, allow_unconverged: bool) -> tuple[dict[Candidate, dict[str, Any]], dict[str, str]]:
    """Local checkpoints of ``arch`` fit to be sources, with their configs; and the ones left out, with the reason:
    those that learned nothing and (unless ``allow_unconverged``) those whose training did not run its recipe."""
    pool, left_out = {}, {}
    for c in candidate_pool(None, arch):
        if c.hub_only:
            continue
        config = read_config(c.location)
        why = f"not a usable source: {c.unusable}" if c.unusable else None
        why = why or (None if allow_unconverged else unconverged_reason(config))
        if why:
            left_out[c.id] = why
        else:
            pool[c] = config
    return pool, left_out


def target_pool(target: str, pool: dict[Candidate, dict[str, Any]]) -> list[Candidate]:
    """The members of ``pool`` that never saw the target's data."""
    return [
        c
        for c, config in pool.items()
        if c.source.casefold() != target.casefold()
        and not any(h.casefold() == target.casefold() for h in config.get("heads") or {})
    ]


def rank_pool(
    target: str, pool: list[Candidate], digests: dict[str, str], method: str, work: Path, args: argparse.Namespace
) -> dict[str, Any] | None:
    """The method's full ranking of the pool (cached for these weights), or None when it cannot run (e.g. dtw
    without an index)."""
    path = work / "rankings" / f"{target}__{method}.json"
    ids = sorted(c.id for c in pool)
    settings = {"pool": {i: digests[i] for i in ids}, "probe_epochs": args.probe_epochs if method == "probe" else None}
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached["settings"] == settings:
            return cached
    rec = recommend(
        target,
        k=None,
        method=method,
        candidates=ids,
        index=args.index,
        probe_epochs=args.probe_epochs,
        progress=not args.quiet,
    )
    if rec.method != method:
        log(f"{target}: {method} unavailable ({rec.note}); left out")
        return None
    out = {"settings": settings, "recommendation": rec.to_dict()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    return out


def candidate_set(target: str, pool: list[Candidate], rankings: dict[str, dict], top: int, size: int) -> list[str]:
    """Union of every method's top picks, padded at random (seeded by the target name) to ``size``."""
    chosen: list[str] = []
    for ranking in rankings.values():
        for row in ranking["recommendation"]["ranking"][:top]:
            if row["id"] not in chosen:
                chosen.append(row["id"])
    rest = sorted(c.id for c in pool if c.id not in chosen)
    rng = np.random.default_rng(zlib.crc32(target.encode()))
    return chosen + [rest[i] for i in rng.permutation(len(rest))[: max(0, size - len(chosen))]]


def finetune_all(
    target: str, candidates: list[str], digests: dict[str, str], work: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Fine-tune every candidate and train the referent (resumable); the finished records of this target."""
    grid = ExperimentGrid(
        sources=candidates,
        targets=[target],
        lr_multipliers=[1.0],
        seeds=args.seeds,
        max_epochs=args.max_epochs,
        recipe=args.recipe,
    )
    try:
        run(grid, engine=args.engine, out_dir=work / "runs", progress=not args.quiet)
    except ExperimentError as err:  # the others finished: score what exists, report the failures
        log(f"{target}: {err}")
    return target_records(load_records(work / "runs"), target, {c: digests[c] for c in candidates}, grid, args.seeds)


def target_records(
    records: list[dict[str, Any]], target: str, digests: dict[str, str], grid: ExperimentGrid, seeds: list[int]
) -> list[dict[str, Any]]:
    """This target's referents and its candidates' fine-tunes among ``records``: same training settings and seeds,
    and for a fine-tune the candidate's current weights (``digests``: a record of weights the zoo build has replaced
    since is not this checkpoint's result)."""
    return [
        r
        for r in records
        if r["target"] == target
        and r["seed"] in seeds
        and r["spec"]["training"] == grid.training()
        and (
            r["kind"] == "referent"
            or (
                r["lr_multiplier"] == 1.0
                and r["source"] in digests
                and digests[r["source"]] == r["spec"]["source_sha256"]
            )
        )
    ]


def evaluate_target(
    target: str, pool_size: int, candidates: list[str], rankings: dict[str, dict], records: list[dict], n_seeds: int
) -> dict[str, Any]:
    """One target's ground truth (each candidate's test accuracy, mean over seeds, where every seed finished; the
    from-scratch referent's) and every method's first pick judged against it (``tshub.recommender.evaluation``:
    a candidate without a finished fine-tune is never a pick)."""
    per_seed: dict[str, list[float]] = {}
    for r in records:
        if r["kind"] == "finetune":
            per_seed.setdefault(r["source"], []).append(r["metrics"]["accuracy"])
    acc = {c: float(np.mean(per_seed[c])) for c in candidates if len(per_seed.get(c, [])) == n_seeds}
    scratch = [
        r["metrics"]["accuracy"]
        for r in records
        if r["kind"] == "referent" and r["spec"]["preprocessing"] == "znorm" and not r["spec"]["use_stream_max"]
    ]
    missing = [c for c in candidates if c not in acc]
    if not acc:
        return {"target": target, "error": "no finished fine-tune", "missing": missing}
    out: dict[str, Any] = {
        "target": target,
        "pool": pool_size,
        "n_candidates": len(acc),
        "missing": missing,
        "accuracy": acc,
        "seed_spread": float(np.mean([np.ptp(per_seed[c]) for c in acc])),
        "compute_s": sum(r["elapsed_s"] for r in records)
        + sum(ranking["recommendation"]["elapsed_s"] for ranking in rankings.values()),
    }
    if len(scratch) == n_seeds:
        out["scratch"] = {"accuracy": float(np.mean(scratch))}
    truth = target_truth(out)
    out["methods"] = {}
    for method, ranking in rankings.items():
        rows = ranking["recommendation"]["ranking"]
        outcome = judge({row["id"]: row["score"] for row in rows}, truth)
        out["methods"][method] = {
            **outcome,  # its pick: the candidates with a finished fine-tune tied at the top score, the first ranked
            "pick": next(row["id"] for row in rows if row["id"] in outcome["pick"]),
            "seconds": ranking["recommendation"]["elapsed_s"],
        }
    return out


def target_truth(result: dict[str, Any]) -> TargetTruth:
    """The ground truth a target's result stores, with its MiniRocket reference accuracy where the vendored table
    has the target."""
    scratch = (result.get("scratch") or {}).get("accuracy")
    return TargetTruth(result["target"], result["accuracy"], scratch, minirocket_references().get(result["target"]))


def with_baselines(result: dict[str, Any]) -> dict[str, Any]:
    """A target's result with the baselines judged against its truth (oracle = the best candidate, random, scratch,
    MiniRocket) and its methods in name order."""
    if "error" in result:
        return result
    truth = target_truth(result)
    methods = {m: judged(row, truth) for m, row in sorted(result["methods"].items())}
    kept = {k: v for k, v in result.items() if k not in ("best", "best_sources")}  # the old format's oracle
    return {**kept, **baselines(truth), "methods": methods}


def judged(row: dict[str, Any], truth: TargetTruth) -> dict[str, Any]:
    """A method's row as ``evaluate_target`` stores it. A row stored before this bench judged through
    ``tshub.recommender.evaluation`` (bench/results/recommender.json of commit 3e2901f) kept the pick and ρ, not the
    scores: it is judged from its pick alone (a tie at its top score unknown), with τ unknown and ρ as stored."""
    if "scored" in row:
        return row
    return {**judge({row["pick"]: 1.0}, truth), **{k: row[k] for k in ("pick", "spearman", "seconds")}, "scored": None}


def summary_of(targets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``tshub.recommender.evaluation.summarise`` over the targets, with each method's mean ranking time."""
    done = [r for r in targets if "error" not in r]
    rows = summarise({r["target"]: {**r["methods"], **{b: r[b] for b in BASELINES if b in r}} for r in done})
    for name, row in rows.items():
        seconds = [r["methods"][name]["seconds"] for r in done if name in r["methods"]]
        if seconds:
            row["seconds"] = float(np.mean(seconds))
    return rows


def markdown(report: dict[str, Any]) -> str:
    p = report["protocol"]
    left_out = p.get("left_out")
    if left_out is None:
        pool = "every checkpoint was in the pool, converged or not (this run predates the convergence check)"
    else:
        kept = "kept" if p["allow_unconverged"] else "left out"
        unusable = sum(why.startswith("not a usable source") for why in left_out.values())
        pool = (
            f"left out of the pool: {len(left_out) - unusable} checkpoints whose training did not run its recipe to "
            f"its end and {unusable} that learned nothing (ids and reasons in the JSON); unconverged ones {kept}"
        )
    lines = [
        "# Recommender benchmark: fine-tuned accuracy of each method's first pick",
        "",
        f"Command: `{p['command']}`  ",
        f"Targets ({len(p['targets'])}): {', '.join(p['targets'])} (rule: {p['rule']}).  ",
        f"Pool: local `{p['arch']}` checkpoints minus the target's own (stores: {'; '.join(p['stores'])}); "
        f"candidates per target: union of each method's top {p['top']} padded at random to {p['candidates']}; "
        f"fine-tunes: ω = 1.0, recipe {p['recipe']}, max {p['max_epochs']} epochs, seeds {p['seeds']}; accuracy = "
        f"test accuracy, mean over seeds. Regret = best candidate − pick (accuracy points, lower is better); rank "
        f"among the candidates (1 = best); random = expectation of a uniform pick among the candidates. Device: "
        f"{p['device']}; {sum(r.get('compute_s', 0) for r in report['targets']) / 60:.0f} min of rankings and "
        f"trainings in all (this invocation: {p['elapsed_s'] / 60:.0f} min, cached results are reused).  ",
        f"Convergence: {pool}.  ",
        "MiniRocket: the target's reference test accuracy (aeon MiniRocketClassifier, random_state 0, "
        "tshub/recommender/minirocket_ucr.tsv; '-' where it has none); W/T/L against it over the targets it has, ties "
        "within its rounding (4 decimals).  ",
        "Scores: tshub.recommender.evaluation; oracle = the best candidate. Accuracies within 1e-9 are equal (means "
        "over seeds) and share their mean rank, a referent tied with candidates too; a method whose top score is "
        "tied picks one of the tied candidates at random, so its pick is worth their mean accuracy and rank.",
        "",
        "| method | targets | accuracy of pick | mean regret | median regret | max regret | mean rank "
        "| top-1 hits | ρ (scores vs accuracy) | pick vs random (W/T/L, sign-test p) | pick vs scratch (W/T/L, p) "
        "| pick vs MiniRocket (W/T/L, p) | s per target |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in report["summary"].items():
        rho = f"{row['spearman']:.3f}" if row.get("spearman") is not None else "-"
        seconds = f"{row['seconds']:.0f}" if "seconds" in row else "-"
        top1 = f"{row['top1']:.3g}" if "top1" in row else "-"  # expected hits: a tie at the top counts its share
        vs_random, vs_scratch, vs_minirocket = (
            "/".join(map(str, row[key]["wtl"])) + f", p = {row[key]['p']:.3f}" if key in row else "-"
            for key in ("vs_random", "vs_scratch", "vs_minirocket")
        )
        lines.append(
            f"| {name} | {row['targets']} | {row['accuracy']:.4f} | {row['regret']:.4f} | "
            f"{row['median_regret']:.4f} | {row['max_regret']:.4f} | {row['rank']:.2f} | "
            f"{top1} | {rho} | {vs_random} | {vs_scratch} | {vs_minirocket} | {seconds} |"
        )
    methods = sorted({m for r in report["targets"] for m in r.get("methods", {})})
    lines += [
        "",
        "Per target (pick: accuracy, rank among the candidates):",
        "",
        "| target | pool | C | best candidate | scratch | MiniRocket | random | "
        + " | ".join(methods)
        + " | seed spread |",
        "|---|---|---|---|---|---|---|" + "---|" * len(methods) + "---|",
    ]
    for r in report["targets"]:
        if "error" in r:
            lines.append(f"| {r['target']} | {r['error']} |")
            continue
        cells = [
            f"{m['pick']}: {m['accuracy']:.3f} (#{m['rank']:g})" if (m := r["methods"].get(x)) else "-" for x in methods
        ]
        scratch, minirocket = (f"{r[k]['accuracy']:.3f}" if k in r else "-" for k in ("scratch", "minirocket"))
        best = r["oracle"]["accuracy"]
        lines.append(
            f"| {r['target']} | {r['pool']} | {r['n_candidates']} | "
            f"{', '.join([c for c, a in r['accuracy'].items() if a == best][:2])}: {best:.3f} "
            f"| {scratch} | {minirocket} | {r['random']['accuracy']:.3f} | "
            + " | ".join(cells)
            + f" | {r['seed_spread']:.3f} |"
        )
    lines += [
        "",
        "Seed spread: mean over candidates of max − min test accuracy across seeds (the noise level "
        "against which regrets should be read).",
    ]
    return "\n".join(lines) + "\n"


def log(message: str) -> None:
    print(f"[recommender-bench] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", nargs="+", help="these targets instead of the protocol's rule")
    p.add_argument("--stride", type=int, default=3)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--arch", default="fcn", help="architecture of the pool ('all': every one)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--top", type=int, default=3, help="each method's top picks that enter the candidate set")
    p.add_argument("--candidates", type=int, default=12, help="candidate set size per target")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--max-epochs", type=int, default=300)
    p.add_argument(
        "--recipe",
        default="ucr",
        help="training recipe of every fine-tune and referent (default: "
        "'ucr', the small-UCR recipe the zoo's FCNs were trained with)",
    )
    p.add_argument("--probe-epochs", type=int, default=5)
    p.add_argument("--index", type=Path, help="similarity index folder (default zoo/similarity)")
    p.add_argument("--work", type=Path, default=Path("runs/recommender"))
    p.add_argument("--out", type=Path, default=RESULTS / "recommender")
    p.add_argument("--plan-only", action="store_true", help="rank and print the candidate sets, fine-tune nothing")
    p.add_argument("--table-only", action="store_true", help="re-render the tables from the results' JSON (--out)")
    p.add_argument(
        "--allow-unconverged",
        action="store_true",
        help="keep in the pool checkpoints whose training did not run its recipe to its end (e.g. a time budget)",
    )
    p.add_argument(
        "--engine",
        default="local",
        choices=["local", "ray"],
        help="where fine-tunes run: this process, or one Ray task per run (every core, or a cluster)",
    )
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.table_only:
        write_results(json.loads(args.out.with_suffix(".json").read_text()), args.out)
        return 0
    start = time.perf_counter()
    arch = None if args.arch == "all" else args.arch
    targets = args.targets or select_targets(args.stride, args.offset)
    rule = (
        "given by --targets"
        if args.targets
        else f"UCR 2018 sets with a test split, <= 100 train series, fixed "
        f"length <= 500, sorted by name, positions i mod {args.stride} == {args.offset}"
    )
    log(f"{len(targets)} targets: {', '.join(targets)}")
    zoo, left_out = zoo_pool(arch, args.allow_unconverged)
    for why in sorted(set(left_out.values())):
        ids = sorted(i for i, reason in left_out.items() if reason == why)
        log(f"left out of the pool, {len(ids)} checkpoints ({why}): {', '.join(ids)}")
    digests = {c.id: config["weights_sha256"] for c, config in zoo.items()}
    results = []
    for target in targets:
        pool = target_pool(target, zoo)
        if len(pool) < 2:
            log(f"{target}: only {len(pool)} candidate checkpoint(s) in the pool; skipped")
            continue
        rankings = {
            m: r for m in args.methods if (r := rank_pool(target, pool, digests, m, args.work, args)) is not None
        }
        candidates = candidate_set(target, pool, rankings, args.top, args.candidates)
        log(f"{target}: pool {len(pool)}, candidates {len(candidates)}: {', '.join(candidates)}")
        if args.plan_only:
            continue
        records = finetune_all(target, candidates, digests, args.work, args)
        result = evaluate_target(target, len(pool), candidates, rankings, records, len(args.seeds))
        results.append({**result, "source_sha256": {c: digests[c] for c in candidates}})
    if args.plan_only:
        return 0
    import torch

    report = {
        "protocol": {
            "command": "python bench/recommender.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "targets": targets,
            "rule": rule,
            "arch": args.arch,
            "methods": args.methods,
            "top": args.top,
            "candidates": args.candidates,
            "seeds": args.seeds,
            "max_epochs": args.max_epochs,
            "recipe": args.recipe,
            "stores": [str(s) for s in stores()],
            "allow_unconverged": args.allow_unconverged,
            "left_out": left_out,
            "probe_epochs": args.probe_epochs,
            "lr_multiplier": 1.0,
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
            "elapsed_s": time.perf_counter() - start,
        },
        "targets": results,
    }
    write_results(report, args.out)
    return 0


def write_results(report: dict[str, Any], out: Path) -> None:
    """Judge the baselines of every target, summarise, and write ``out``.json and .md (printing the Markdown)."""
    targets = [with_baselines(r) for r in report["targets"]]
    report = {"protocol": report["protocol"], "summary": summary_of(targets), "targets": targets}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    sys.exit(main())
