"""The transfer matrix (issue 14, item 2): fine-tuned test accuracy of ≥ 40 random sources on each of ≥ 24 UCR
targets, 2 seeds, ω = 1, the library's default recipe, with from-scratch and MiniRocket per target. It is the
ground truth the recommender's methods are scored on; run it on the converged zoo only.

Protocol (fixed before any result; bench/results/transfer_matrix_protocol.md is its record):

- Targets: the UCR 2018 sets with a row in the MiniRocket table (tshub/recommender/minirocket_ucr.tsv, a copy of
  ../shared/reference/minirocket_ucr.tsv; so both splits are here, the
  length is fixed and nothing is missing), with at most ``MAX_TRAIN`` (1000) training series and a length of at most
  ``MAX_LENGTH`` (1000) (the cost of 2 × 40 fine-tunes each), sorted by name case-insensitively; of the n eligible,
  the ``N_TARGETS`` (24) at positions ⌊i·n / 24⌋, i = 0…23 (evenly spread; amended before any run from "every
  ⌊n / 24⌋-th", which gave 32 targets and ≈ 87 core-hours on this 2-core machine, to 24 and ≈ 68).
- Sources of a target: ``SOURCES_PER_TARGET`` (40) drawn uniformly without replacement (numpy default_rng seeded by
  the CRC-32 of the target's name) from every usable checkpoint of the zoo (``tshub.recommender.candidate_pool()``
  without the ``unusable`` ones; a checkpoint still converging counts as usable, see below) sorted by id, minus
  those trained on the target's own data (``tshub.recommender.self_transfer``). The draw is frozen in
  ``OUT/manifest.json`` by ``--plan`` and never redrawn (a later zoo change cannot move it); the manifest records the
  zoo's checkpoint digests. ``--plan`` refuses while an entry of the zoo build other than the multi-head is not up
  to date in zoo/ (``unfinished_builds``); a drawn checkpoint whose training has not run its recipe to its end
  (``tshub.hub.store.unconverged_reason``; at most the multi-head UCR/convtimenet, a source only for targets longer
  than its 512; the manifest lists it under "waiting") is never fine-tuned from: ``--run`` skips it, saying so,
  until the build has converged it. Any other drawn source whose weights are no longer the frozen ones is skipped
  by ``--run`` and its records are left out by ``--table``: the matrix never mixes checkpoints.
- Runs: ``tshub.experiments`` (resumable: a re-run skips every recorded run; ``--engine ray`` spreads them), one
  grid per target, least remaining work first (``work_order``; the order changes no result): each source
  fine-tuned with ω = 1 (``lr_multipliers=[1.0]``), seeds 0 and 1, recipe "ucr" (what the default
  ``recipe="auto"`` resolves to for ≤ 1000 training series, i.e. for every target here), the default epochs; the
  grid's referents are the from-scratch models of each source architecture, same recipe and seeds.
  Validation split: the library's default (20 % of TRAIN, stratified, seed 0); test: the official TEST file.
- MiniRocket: the reference accuracy of the TSV (aeon MiniRocketClassifier, random_state 0), not re-run.
- Reported (``--table``): per (target, source) the test accuracy of each seed, their mean and the mean of the
  fine-tunes' own from-scratch referents; per target scratch (per arch), MiniRocket, and how many sources beat their
  own scratch; once every target is complete, the overall figures (``overall``: the best, median and worst source
  against FCN's scratch and MiniRocket over the targets, sign tests). Nothing is dropped: a failed run leaves no
  record (``--run`` prints each failure and retries it when run again), so its target stays listed as incomplete,
  with its count of sources done, and is never scored;
  a record of other weights than the draw froze is named under "Not counted". A drawn pair found to be
  self-transfer since the draw (``--self-transfer``, OUT/self_transfer.json: the evidence of its day missed it) is
  no transfer: ``--table`` leaves it out of every figure and names it.

    PYTHONPATH=$PWD .venv/bin/python bench/transfer_matrix.py --plan            # freeze targets and source draws
    PYTHONPATH=$PWD .venv/bin/python bench/transfer_matrix.py --run --engine ray  # resumable; commit OUT as it goes
    # --run from a worktree at the commit the protocol names for the targets left (a target's runs stay at one
    #   commit): git worktree add --detach ../wt-matrix REV && cd ../wt-matrix && ... --run --out <main>/bench/results/...
    PYTHONPATH=$PWD .venv/bin/python bench/transfer_matrix.py --self-transfer   # OUT/self_transfer.json
    PYTHONPATH=$PWD .venv/bin/python bench/transfer_matrix.py --table           # bench/results/transfer_matrix.*
    PYTHONPATH=$PWD .venv/bin/python bench/transfer_matrix.py --cost Strawberry/fcn ECG200 Beef  # what it will cost

``--cost SOURCE TARGET...`` (no manifest needed, nothing frozen) times one fine-tune per target exactly as the
matrix runs it (ω = 1, recipe "ucr", seed 0, one thread) and extrapolates the whole matrix from the CPU seconds per
training value-epoch (training series × length × epochs) and the measured epochs: bench/results/transfer_matrix_cost.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from tshub.recommender.advice import minirocket_references
from tshub.recommender.advice_rules import beats

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SELF_TRANSFER = "self_transfer.json"  # in OUT, beside the manifest: drawn pairs found to be no transfer since
#: Where scripts/publish/build_zoo.py builds the zoo (its --zoo default): --plan waits for it to finish.
BUILD_ZOO = REPO / "zoo"
N_TARGETS, SOURCES_PER_TARGET, SEEDS, OMEGA, RECIPE = 24, 40, (0, 1), 1.0, "ucr"
#: Committed, so the matrix grows across machines and sessions: its manifest and every finished run's record.
OUT = RESULTS / "transfer_matrix_runs"
MAX_TRAIN, MAX_LENGTH = 1000, 1000


def select_targets(reference: dict[str, float], sizes: dict[str, tuple[int, str]] | None = None) -> list[str]:
    """The protocol's targets (see the module docstring); ``sizes``: name -> (training series, length) of the UCR
    summary table."""
    from tshub.data.catalogue import ucr_summary

    if sizes is None:
        sizes = {r["Name"]: (int(r["Train"]), r["Length"]) for r in ucr_summary()}
    eligible = sorted(
        (
            name
            for name in reference
            if name in sizes
            and sizes[name][1].isdigit()
            and sizes[name][0] <= MAX_TRAIN
            and int(sizes[name][1]) <= MAX_LENGTH
        ),
        key=str.casefold,
    )
    if len(eligible) < N_TARGETS:
        raise SystemExit(f"only {len(eligible)} eligible targets; the protocol needs {N_TARGETS}.")
    return [eligible[i * len(eligible) // N_TARGETS] for i in range(N_TARGETS)]


def draw_sources(target: str, candidates: list[Any], local: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The target's frozen random sources drawn from ``candidates`` (the usable ones sorted by id), and the digest
    (``local``: the zoo's, read once by ``plan``) of every checkpoint of the pool they come from."""
    from tshub.data.catalogue import load
    from tshub.recommender import self_transfer

    own = self_transfer(candidates, load(target))
    pool = [c for c in candidates if c not in own]
    rng = np.random.default_rng(zlib.crc32(target.encode()))
    picked = sorted(pool[i].id for i in rng.choice(len(pool), min(SOURCES_PER_TARGET, len(pool)), replace=False))
    return picked, {c.id: local.get(c.id, "") for c in pool}


def plan(out: Path, zoo: Path = BUILD_ZOO) -> dict[str, Any]:
    """Freeze the draw in ``out/manifest.json`` (once: an existing manifest is returned unchanged), refusing while the
    zoo build has single-dataset entries to (re)build, whose digests the draw would freeze before they change."""
    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        return json.loads(manifest_path.read_text())
    unfinished = unfinished_builds(zoo)
    if unfinished:
        listed = ", ".join(f"{entry_id} ({status})" for entry_id, status in sorted(unfinished.items()))
        raise SystemExit(
            f"the zoo build in {zoo} has {len(unfinished)} single-dataset entries to build: {listed}. The draw freezes "
            "the zoo's checkpoints, so it waits for them: finish the build (scripts/publish/build_zoo.py), then --plan."
        )
    from tshub.recommender import candidate_pool

    reference = minirocket_references()
    manifest: dict[str, Any] = {"protocol": __doc__, "targets": {}, "zoo_weights_sha256": {}}
    waiting, local = unconverged_sources(), current_digests()
    manifest["waiting"] = waiting  # drawn as any source; fine-tuned from once converged
    # a checkpoint still converging is usable: its "unusable" says nothing yet, it is judged once converged
    candidates = sorted((c for c in candidate_pool() if not c.unusable or c.id in waiting), key=lambda c: c.id)
    for target in select_targets(reference):
        sources, digests = draw_sources(target, candidates, local)
        manifest["targets"][target] = {"sources": sources, "minirocket": reference[target]}
        manifest["zoo_weights_sha256"].update(digests)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


def frozen_plan(out: Path) -> dict[str, Any]:
    """The manifest ``--plan`` froze; --run and --table never draw one themselves."""
    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        raise SystemExit(f"no transfer-matrix manifest in {out}: freeze the draw first (--plan).")
    return json.loads(manifest_path.read_text())


def unfinished_builds(zoo: Path) -> dict[str, str]:
    """The zoo build's single-dataset entries whose checkpoint in ``zoo`` is not up to date, with their state
    (missing, stale, unreadable). Multi-head entries may still train (protocol, amendment 2)."""
    publish = str(REPO / "scripts" / "publish")  # the build's own modules: the same rule as its --dry-run
    if publish not in sys.path:
        sys.path.insert(0, publish)
    from build_zoo import state
    from zoo_manifest import default_manifest

    states = {entry.id: state(entry, zoo) for entry in default_manifest() if not entry.multihead}
    return {entry_id: status for entry_id, status in states.items() if status != "up to date"}


def source_changed(manifest: dict[str, Any], source: str, digest: str) -> bool:
    """Whether ``digest`` is not the source the draw froze. A source still converging when it was frozen is the
    exception: its converged weights are the ones the protocol fine-tunes from."""
    return source not in manifest.get("waiting", {}) and digest != manifest["zoo_weights_sha256"].get(source)


def run_matrix(manifest: dict[str, Any], out: Path, engine: str, targets: list[str] | None) -> None:
    from tshub import datasets
    from tshub.experiments import ExperimentError, ExperimentGrid, run

    waiting, digests = unconverged_sources(), current_digests()
    chosen = [t for t in manifest["targets"] if not targets or t in targets]
    values = {target: training_values(datasets.load(target)) for target in chosen}
    for target in work_order(manifest, chosen, values, recorded_runs(out)):
        entry = manifest["targets"][target]
        ready = []
        for source in entry["sources"]:
            if source in waiting:
                print(f"{target}: {source} skipped until the zoo build converges it ({waiting[source]})", flush=True)
            elif source_changed(manifest, source, digests.get(source, "")):
                print(
                    f"{target}: {source} skipped: its weights (sha256 {digests.get(source) or 'none: not in the zoo'}) "
                    f"are not those the draw froze ({manifest['zoo_weights_sha256'].get(source)}); the matrix never "
                    "mixes checkpoints: restore the frozen one",
                    flush=True,
                )
            else:
                ready.append(source)
        grid = ExperimentGrid(sources=ready, targets=[target], lr_multipliers=[OMEGA], seeds=SEEDS, recipe=RECIPE)
        try:
            run(grid, engine=engine, out_dir=out)
        except ExperimentError as err:  # the others finished; failures stay listed in the table
            print(f"{target}: {err}")


def work_order(
    manifest: dict[str, Any], targets: list[str], values: dict[str, int], recorded: dict[str, int]
) -> list[str]:
    """``targets`` in the order ``--run`` trains them: least remaining work first (runs not yet recorded × training
    values per epoch), so that a matrix spread over many sessions completes as many targets as it can as early as it
    can (the analyses need complete targets). The order changes no run's result."""

    def remaining(target: str) -> int:
        planned = (len(manifest["targets"][target]["sources"]) + 1) * len(SEEDS)  # + the from-scratch referent
        return max(planned - recorded.get(target, 0), 0) * values[target]

    return sorted(targets, key=lambda target: (remaining(target), target.casefold()))


def recorded_runs(out: Path) -> dict[str, int]:
    """How many runs of each target ``out`` has recorded."""
    from tshub.experiments import load_records

    if not (out / "runs").is_dir():
        return {}
    counts: dict[str, int] = defaultdict(int)
    for record in load_records(out):
        counts[record["target"]] += 1
    return dict(counts)


def current_digests() -> dict[str, str]:
    """The weights sha256 of every local checkpoint of the pool, as the zoo holds it now."""
    from tshub.hub.checkpoint import read_config
    from tshub.recommender import candidate_pool

    return {c.id: read_config(c.location).get("weights_sha256", "") for c in candidate_pool() if not c.hub_only}


def unconverged_sources() -> dict[str, str]:
    """Zoo checkpoints whose training has not yet run its recipe to its end, and why."""
    from tshub.hub.checkpoint import read_config
    from tshub.hub.store import unconverged_reason
    from tshub.recommender import candidate_pool

    reasons = {c.id: unconverged_reason(read_config(c.location)) for c in candidate_pool() if not c.hub_only}
    return {model_id: reason for model_id, reason in reasons.items() if reason}


def find_self_transfer(manifest: dict[str, Any], out: Path) -> dict[str, dict[str, str]]:
    """``out``/self_transfer.json: the drawn (target, source) pairs that are self-transfer by today's evidence
    (``tshub.recommender.self_transfer`` on each target and its drawn sources: fingerprints, the catalogue's copies
    compared value by value, names), each with its reason. The draw left out what the evidence of its day found;
    a pair found since (a better near-copy check) is no transfer either, so ``--table`` leaves it out, naming it."""
    from tshub import datasets
    from tshub.recommender.candidates import named_candidate, self_transfer

    found: dict[str, dict[str, str]] = {}
    for target, entry in manifest["targets"].items():
        pool = [named_candidate(source) for source in entry["sources"]]
        for candidate, reason in self_transfer(pool, datasets.load(target)).items():
            found.setdefault(target, {})[candidate.id] = reason
    (out / SELF_TRANSFER).write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    return found


def table(manifest: dict[str, Any], out: Path, path: Path) -> None:
    """``path``.md and .json: per (target, source) the seeds' test accuracies, their mean and the mean of the
    fine-tunes' own from-scratch referents (sources of one architecture may differ in preprocessing or stream_max,
    so each fine-tune names its referent); per target the scratch of each architecture (the referent most of its
    sources of that architecture share: for FCN, the UCR recipe's) and MiniRocket. The pairs ``--self-transfer``
    found to be no transfer are left out of every figure and of the rows, and named."""
    from tshub.experiments import load_records

    excluded = json.loads((out / SELF_TRANSFER).read_text()) if (out / SELF_TRANSFER).is_file() else {}

    accuracy: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)  # (target, source) -> seed -> accuracy
    referent_of: dict[tuple[str, str], dict[int, str]] = defaultdict(dict)  # (target, source) -> seed -> run id
    run_of: dict[tuple[str, str], dict[int, str | None]] = defaultdict(dict)  # (target, source) -> seed -> its run
    scratch_accuracy: dict[str, float] = {}  # referent run id -> accuracy
    used: dict[tuple[str, str], str] = {}  # (target, source) -> the source digest its records used
    set_aside: list[str] = []  # records of other weights than the draw's, named in the table, never counted
    elapsed_s: list[float] = []  # every record's training time, counted or not: what the matrix cost
    for record in load_records(out):
        elapsed_s.append(record["elapsed_s"])
        if record["kind"] == "referent":
            scratch_accuracy[record["run_id"]] = record["metrics"].get("accuracy")
            continue
        key = (record["target"], record["source"])
        digest = record["spec"].get("source_sha256") or ""  # the run's identity holds the weights it started from
        if source_changed(manifest, record["source"], digest):  # another checkpoint than the draw's
            set_aside.append(f"{record['target']}: {record['source']} seed {record['seed']}")
            continue
        seen = used.setdefault(key, digest)
        if seen != digest:
            raise SystemExit(
                f"{record['target']}: {record['source']} was fine-tuned from two checkpoints ({seen}, {digest}) in "
                f"{out}; keep the records of one."
            )
        if record["seed"] in run_of[key]:  # two settings (a recipe changed, another grid): never averaged together
            raise SystemExit(
                f"{record['target']}: {record['source']} seed {record['seed']} has two records "
                f"({run_of[key][record['seed']]}, {record.get('run_id')}) in {out}; keep the records of one grid."
            )
        run_of[key][record["seed"]] = record.get("run_id")
        accuracy[key][record["seed"]] = record["metrics"].get("accuracy")
        referent_of[key][record["seed"]] = record["referent_id"]

    def mean_of(values: list[float | None]) -> float | None:
        return float(np.mean(values)) if len(values) == len(SEEDS) and None not in values else None

    rows: list[dict[str, Any]] = []
    lines = [
        "# Transfer matrix",
        "",
        "Protocol: bench/transfer_matrix.py (docstring) and "
        "bench/results/transfer_matrix_protocol.md. Test accuracy, mean of seeds " + str(SEEDS) + "; each "
        "fine-tune is compared with its own from-scratch referent (same architecture and settings).",
        "",
        "| target | sources done | best | median | worst | scratch (fcn) | MiniRocket | sources > their scratch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    complete, summaries = 0, []
    for target, entry in manifest["targets"].items():
        families: dict[str, Counter[tuple[str, ...]]] = defaultdict(Counter)  # arch -> referents per seed -> sources
        mine = []
        for source in entry["sources"]:
            if source in excluded.get(target, {}):
                continue
            seeds, referents = accuracy.get((target, source), {}), referent_of.get((target, source), {})
            mine.append(
                {
                    "target": target,
                    "source": source,
                    "seeds": seeds,
                    "mean": mean_of([seeds.get(seed) for seed in SEEDS]),
                    "scratch": mean_of([scratch_accuracy.get(referents.get(seed, "")) for seed in SEEDS]),
                    "source_sha256": used.get((target, source)),  # the weights fine-tuned (None: no run yet)
                }
            )
            if len(referents) == len(SEEDS):
                families[source.split("/")[-1]][tuple(referents[seed] for seed in SEEDS)] += 1
        scratch = {}
        for arch, family in families.items():
            shared = max(family.items(), key=lambda item: (item[1], item[0]))[0]
            value = mean_of([scratch_accuracy.get(run_id) for run_id in shared])
            if value is not None:
                scratch[arch] = value
        rows += [*mine, {"target": target, "scratch": scratch, "minirocket": entry["minirocket"]}]
        finished = [row for row in mine if row["mean"] is not None]
        complete += len(finished) == len(mine) and "fcn" in scratch
        if finished:
            values = np.array([row["mean"] for row in finished])
            fcn = scratch.get("fcn")
            beat = sum(row["scratch"] is not None and beats(row["mean"], row["scratch"], "scratch") for row in finished)
            lines.append(
                f"| {target} | {len(finished)}/{len(mine)} | {values.max():.3f} | "
                f"{np.median(values):.3f} | {values.min():.3f} | "
                f"{'-' if fcn is None else f'{fcn:.3f}'} | {entry['minirocket']:.3f} | {beat} |"
            )
            if len(finished) == len(mine) and fcn is not None:
                summaries.append(
                    {
                        "best": values.max(),
                        "median": float(np.median(values)),
                        "worst": values.min(),
                        "scratch": fcn,
                        "minirocket": entry["minirocket"],
                        "pairs": sum(row["scratch"] is not None for row in finished),
                        "beat": beat,
                    }
                )
    if summaries and complete == len(manifest["targets"]):
        lines += ["", *overall(summaries, elapsed_s)]
    else:
        lines += [
            "",
            f"In progress: {complete} of {len(manifest['targets'])} targets complete. `--run` trains the cheapest "
            "remaining target first, so partial figures lean towards small targets.",
        ]
    if excluded:
        pairs = [f"{source} on {target} ({why})" for target, found in excluded.items() for source, why in found.items()]
        lines += [
            "",
            f"Left out as self-transfer (`--self-transfer`, {SELF_TRANSFER}; drawn, and run where they ran, but no "
            f"transfer): {'; '.join(sorted(pairs))}.",
        ]
    if set_aside:
        lines += [
            "",
            f"Not counted: {len(set_aside)} record{'s' * (len(set_aside) > 1)} fine-tuned from other weights than "
            f"the draw froze: {'; '.join(sorted(set_aside))}.",
        ]
    path.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")


def overall(summaries: list[dict[str, Any]], elapsed_s: list[float]) -> list[str]:
    """The headline figures of a complete matrix (protocol, decision 4): per-target best, median and worst source
    against FCN's scratch and MiniRocket, with sign tests over the targets (ties: within ``beats``' margins), the
    pairs beating their own scratch, and what the recorded runs cost."""
    from tshub.recommender.advice_rules import WIN_MARGIN
    from tshub.stats import win_tie_loss

    def column(name: str) -> np.ndarray:
        return np.array([summary[name] for summary in summaries], dtype=np.float64)

    def against(name: str, referent: str) -> str:
        result = win_tie_loss(column(name), column(referent), WIN_MARGIN[referent])
        return f"{result.wins}/{result.ties}/{result.losses} (p = {result.pvalue:.3f})"

    pairs, beat = int(column("pairs").sum()), int(column("beat").sum())
    means = ", ".join(
        f"{name} {column(name).mean():.4f}" for name in ("best", "median", "worst", "scratch", "minirocket")
    )
    return [
        "## Overall",
        "",
        f"Means over the {len(summaries)} targets: {means} (scratch: FCN's). "
        f"{beat} of the {pairs} (target, source) pairs ({beat / pairs:.0%}) beat their own architecture's scratch.",
        "",
        "Per target, wins/ties/losses and two-sided sign test over the targets:",
        "",
        "| source | vs FCN from scratch | vs MiniRocket |",
        "|---|---|---|",
        *(
            f"| {name} | {against(name, 'scratch')} | {against(name, 'minirocket')} |"
            for name in ("best", "median", "worst")
        ),
        "",
        "The best source (an oracle: no recommender can pick better among these sources) is the ceiling of any "
        f"recommender on this zoo. {len(elapsed_s)} run records in the folder (fine-tunes and referents, counted or "
        f"not), {sum(elapsed_s) / 3600:.1f} hours of training by their wall-clock times (one thread per run under "
        "Ray: core-hours).",
    ]


def cost(source: str, targets: list[str], path: Path) -> None:
    """Time one fine-tune per target as the matrix runs it; extrapolate the matrix (module docstring)."""
    import platform
    import time

    import torch

    from tshub import datasets, finetune, load_pretrained

    torch.set_num_threads(1)
    measured = []
    for target in targets:
        ds = datasets.load(target)
        start = time.process_time()
        result = finetune(load_pretrained(source), ds, lr_multiplier=OMEGA, seed=0, recipe=RECIPE, progress=False)
        seconds = time.process_time() - start
        measured.append(
            {"target": target, "cpu_s": seconds, "epochs": len(result.history), "train_values": training_values(ds)}
        )
        print(json.dumps(measured[-1]), flush=True)
    rate = sum(m["cpu_s"] for m in measured) / sum(m["train_values"] * m["epochs"] for m in measured)
    epochs = float(np.median([m["epochs"] for m in measured]))
    runs_per_target = len(SEEDS) * (SOURCES_PER_TARGET + 1)  # the sources and the from-scratch referent
    chosen = select_targets(minirocket_references())
    core_hours = sum(training_values(datasets.load(t)) * epochs * rate * runs_per_target for t in chosen) / 3600
    lines = [
        "# What the transfer matrix costs on this machine",
        "",
        f"Command: `PYTHONPATH=$PWD python bench/transfer_matrix.py --cost {source} {' '.join(targets)}` "
        f"({platform.processor() or platform.machine()}, one thread, torch {torch.__version__}; CPU seconds, "
        "so a busy machine changes them little). One fine-tune per target as the matrix runs it (ω = 1, recipe "
        f"{RECIPE}, seed 0).",
        "",
        "| target | training values (series × length) | epochs | CPU s | µs per value-epoch |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {m['target']} | {m['train_values']} | {m['epochs']} | {m['cpu_s']:.1f} | "
            f"{1e6 * m['cpu_s'] / (m['train_values'] * m['epochs']):.1f} |"
            for m in measured
        ),
        "",
        f"Extrapolated: the protocol's {len(chosen)} targets × {runs_per_target} trainings each "
        f"({len(SEEDS)} seeds × ({SOURCES_PER_TARGET} sources + scratch)), at {1e6 * rate:.1f} µs per training "
        f"value-epoch and {epochs:.0f} epochs per training (the median measured here): **≈ {core_hours:.0f} "
        f"core-hours**, ≈ {core_hours / 2:.0f} h on 2 cores.",
    ]
    path.write_text("\n".join(lines) + "\n")


def training_values(ds: Any) -> int:
    """Series × length a fine-tune trains on: the training split less the library's default validation split."""
    from tshub.data.splits import ensure_validation

    return len(ensure_validation(ds).splits["train"]) * ds.length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--plan", action="store_true", help="freeze the targets and source draws (manifest.json)")
    action.add_argument("--run", action="store_true", help="run (or resume) every fine-tune and referent")
    action.add_argument("--table", action="store_true", help="write bench/results/transfer_matrix.{md,json}")
    action.add_argument(
        "--self-transfer", action="store_true", help=f"find drawn pairs that are no transfer (OUT/{SELF_TRANSFER})"
    )
    action.add_argument("--cost", nargs="+", metavar="SOURCE TARGET", help="time a fine-tune per target, extrapolate")
    parser.add_argument("--out", type=Path, default=OUT, help=f"manifest and records (default: {OUT}, committed)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local")
    parser.add_argument("--targets", nargs="*", help="only these targets of the manifest (--run)")
    args = parser.parse_args()
    if args.cost:
        if len(args.cost) < 2:
            parser.error("--cost takes a source checkpoint and at least one target")
        cost(args.cost[0], args.cost[1:], RESULTS / "transfer_matrix_cost.md")
        return
    if args.plan:
        manifest = plan(args.out)
        print(json.dumps({t: len(e["sources"]) for t, e in manifest["targets"].items()}, indent=1))
    elif args.run:
        run_matrix(frozen_plan(args.out), args.out, args.engine, args.targets)
    elif args.self_transfer:
        found = find_self_transfer(frozen_plan(args.out), args.out)
        print(json.dumps(found, indent=1))
    else:
        table(frozen_plan(args.out), args.out, RESULTS / "transfer_matrix")


if __name__ == "__main__":
    main()
