"""Running an ``ExperimentGrid``: sources first (resolved, or trained on the fly), then referents and fine-tunes.

The from-scratch referent of a (target, architecture and its kwargs, preprocessing, seed, training data) runs
once and serves every source of that architecture. Every run writes its record when it finishes (see
``records``), and a restarted grid skips the runs whose record exists, so an interrupted grid resumes; a run
killed midway resumes from the training state it saved (``records.run_state_dir``), ending as it would have; a
record of another dataset under the target's name is refused (records keep ``target_sha256``).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tshub.data.catalogue import TRAIN_ONLY, load
from tshub.data.dataset import Dataset
from tshub.data.fingerprint import dataset_sha256
from tshub.data.preprocess import make_preprocessor
from tshub.data.splits import ensure_validation, reduce_train
from tshub.experiments.engines import ENGINES, Job
from tshub.experiments.grid import ExperimentGrid, RunSpec
from tshub.experiments.records import (
    SOURCES_DIR,
    OutDirLock,
    read_record,
    run_state_dir,
    save_predictions,
    write_record,
)
from tshub.hub.checkpoint import CONFIG_NAME, load_checkpoint, read_config
from tshub.hub.resolution import resolve
from tshub.models.base import TimeSeriesModel
from tshub.models.registry import get_architecture
from tshub.stats import DEFAULT_METRICS
from tshub.training.finetuning import VAL_FRACTION, finetune, relative_target_for, stream_max_for, train_from_scratch
from tshub.training.recipes import TrainConfig
from tshub.training.results import FitResult


class ExperimentError(RuntimeError):
    """Some runs of a grid failed; the finished ones are saved, so fixing the cause and re-running resumes."""


@dataclass(frozen=True)
class SourceCheckpoint:
    """A source ready for fine-tuning: its display name, its checkpoint folder and that folder's config.json."""

    name: str
    folder: Path
    config: dict[str, Any]


def run(
    grid: ExperimentGrid,
    engine: str = "local",
    out_dir: str | Path = "runs/experiment",
    *,
    progress: bool = True,
    address: str | None = None,
) -> list[dict[str, Any]]:
    """Execute every run of ``grid`` not yet recorded in ``out_dir``; returns the records of all its runs.

    ``engine`` is "local" (this process, one run after the other) or "ray" (one Ray task per run, on the cluster
    at ``address``, else ``$RAY_ADDRESS``, else a local Ray). Sources given
    as ``(dataset, arch)`` are trained first and cached under ``out_dir/sources/``. A target without a test split
    is refused before any training (runs are compared on test). The (source, target) pairs of ``left_out_pairs``
    are not run; ``ValueError`` when that leaves nothing. Raises ``ExperimentError`` after the other runs finished
    when some failed (a source whose training failed leaves out its fine-tunes, not the rest of the grid), and
    ``records.OutDirInUseError`` before running anything while another grid runs runs in ``out_dir``. ``progress``
    prints the left-out pairs and one line per finished run to stderr.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {sorted(ENGINES)}.")
    out = Path(out_dir)
    log = _logger(progress)
    targets = _load_targets(grid.targets)
    _refuse_untestable(targets)
    tally = _Tally(out, OutDirLock(out))
    try:
        sources = _sources(grid, out, engine, log, address, tally)
        left_out = left_out_pairs(sources, targets)
        jobs = plan_runs(grid, sources, targets, left_out=left_out)
        if not jobs:
            tally.raise_failures()  # a source that failed to train is the first thing to fix
            listed = "; ".join(f"{source} on {target} ({why})" for (source, target), why in left_out.items())
            raise ValueError(
                f"nothing to run: every (source, target) pair of the grid is left out: {listed}. Fine-tuning a "
                "source on data it was trained on is no transfer; give targets the sources were not trained on."
            )
        for (source, target), why in left_out.items():
            log(f"left out {source} on {target}, {why}")
        records = _run_jobs(jobs, engine, out, log, address, tally)
    finally:
        tally.lock.release()
    tally.raise_failures()
    return [records[spec.run_id] for spec, _ in jobs]


def left_out_pairs(sources: Sequence[SourceCheckpoint], targets: Mapping[str, Dataset]) -> dict[tuple[str, str], str]:
    """The (source name, target name) pairs a grid never runs, each with why: the source was trained on the target's
    own data (bigdata18, Otović et al. never fine-tune a source on its own dataset), by the recommender's evidence
    (``tshub.recommender.self_transfer``: its training series' fingerprint, the catalogue's copies of the datasets it
    was trained on, their names, a multi-head checkpoint's included)."""
    # imported here: the recommender's modules are slow to import, and a run's worker never needs them
    from tshub.recommender.candidates import ANOTHER_DATA_HINT, SELF_TRANSFER, named_candidate, self_transfer

    candidates = [named_candidate(str(source.folder)) for source in sources]
    pairs = {}
    for name, dataset in targets.items():
        own = self_transfer(candidates, dataset)
        for source, candidate in zip(sources, candidates, strict=True):
            if candidate in own:
                # a grid has no allow_self_transfer: another name for other data is what runs the pair
                why = own[candidate].replace(ANOTHER_DATA_HINT, "give the target Dataset another name to run it")
                pairs[(source.name, name)] = f"{SELF_TRANSFER}: {why}"
    return pairs


def plan_runs(
    grid: ExperimentGrid,
    sources: Sequence[SourceCheckpoint],
    targets: dict[str, Dataset],
    *,
    left_out: Mapping[tuple[str, str], str] | None = None,
) -> list[Job]:
    """The referent and fine-tune runs of the grid, each referent once, before the fine-tunes compared with it.

    ``left_out`` (default: ``left_out_pairs(sources, targets)``) names the (source, target) pairs not to run."""
    _refuse_untestable(targets)
    left_out = left_out_pairs(sources, targets) if left_out is None else left_out
    jobs: dict[str, Job] = {}
    for source in sources:
        config = source.config
        preprocessing = grid.preprocessing or (config.get("preprocessing") or {}).get("kind", "znorm")
        for name, dataset in targets.items():
            if (source.name, name) in left_out:
                continue
            for seed in grid.seeds:
                referent = RunSpec(
                    "referent",
                    name,
                    config["arch"],
                    int(seed),
                    grid.training(),
                    preprocessing,
                    arch_kwargs=config["arch_kwargs"],
                    use_stream_max=config["use_stream_max"],
                    reduce_train=grid.reduce_train,
                )
                jobs.setdefault(referent.run_id, (referent, dataset))
                for omega in grid.multipliers():
                    spec = replace(
                        referent,
                        kind="finetune",
                        source=source.name,
                        source_sha256=config["weights_sha256"],
                        checkpoint=str(source.folder),
                        lr_multiplier=omega,
                        referent_id=referent.run_id,
                    )
                    jobs[spec.run_id] = (spec, dataset)
    return list(jobs.values())


def execute_run(spec: RunSpec, dataset: Dataset, out_dir: str) -> dict[str, Any]:
    """Train one run, save its outputs and its record in ``out_dir``; returns the record (the engines' worker)."""
    training = spec.training
    recipe = training["recipe"] if isinstance(training["recipe"], str) else TrainConfig.from_dict(training["recipe"])
    common = {
        "seed": spec.seed,
        "recipe": recipe,
        "max_epochs": training["max_epochs"],
        "time_budget_s": training["time_budget_s"],
        "progress": False,
    }
    predictions = None
    state = run_state_dir(out_dir, spec.run_id)
    scratch_state = state / "scratch.safetensors"
    if spec.kind == "source":
        assert spec.checkpoint is not None  # a source run names the folder it saves to
        result = train_from_scratch(
            spec.arch, dataset, preprocessing=spec.preprocessing, state_path=scratch_state, **common
        )
        _save_checkpoint(result.model, Path(spec.checkpoint), model_id=spec.source)
    else:
        data = _target_data(dataset, spec)
        if spec.kind == "referent":
            # the source's stream_max input, as its fine-tune takes it: never beside a relative target
            preprocessor = relative_target_for(make_preprocessor(spec.preprocessing), data, None)
            result = train_from_scratch(
                spec.arch,
                data,
                preprocessing=spec.preprocessing,
                use_stream_max=stream_max_for(preprocessor, spec.use_stream_max, None),
                arch_kwargs=spec.arch_kwargs,
                state_path=scratch_state,
                **common,
            )
        else:
            assert spec.checkpoint is not None and spec.lr_multiplier is not None  # set by plan_runs
            result = finetune(
                _planned_source(spec),
                data,
                lr_multiplier=spec.lr_multiplier,
                preprocessing=spec.preprocessing,
                state_dir=state,
                **common,
            )
        predictions = _save_test_predictions(out_dir, spec.run_id, result.model, data)
    record = _record(spec, result, predictions, dataset_sha256(dataset))
    write_record(out_dir, record)
    shutil.rmtree(state, ignore_errors=True)
    return record


# ---------------------------------------------------------------------------------------------------- internals
def _load_targets(targets: Sequence[str | Dataset]) -> dict[str, Dataset]:
    loaded: dict[str, Dataset] = {}
    for target in targets:
        dataset = target if isinstance(target, Dataset) else load(str(target))
        if dataset.name in loaded:
            raise ValueError(
                f"target {dataset.name!r} is given twice; give every target once (datasets need distinct names)."
            )
        loaded[dataset.name] = dataset
    return loaded


def _refuse_untestable(targets: Mapping[str, Dataset]) -> None:
    """Refuse targets without a test split: every run of a grid is scored, and compared, on its target's test split
    (``comparison_table``), so such a target would train all its runs for a table that cannot be made."""
    untestable = [name for name, dataset in targets.items() if not len(dataset.splits.get("test", ()))]
    if untestable:
        train_only = [name for name in untestable if targets[name].meta.get("collection") == TRAIN_ONLY]
        why = (
            f" (the catalogue holds only a training file of {', '.join(train_only)}: {TRAIN_ONLY})"
            if train_only
            else ""
        )
        raise ValueError(
            f"{'target' if len(untestable) == 1 else 'targets'} {', '.join(untestable)} "
            f"{'has' if len(untestable) == 1 else 'have'} no test split{why}; a grid scores every run on its target's test "
            "split, so nothing was run. Pass the target as a Dataset with a test split: "
            "tshub.data.splits.random_split(ds, (0.8, 0.2)) holds one out (validation is still carved from the "
            "training split), or tshub.data.readers.read_split_files({'train': ..., 'test': ...}) reads a test file."
        )


def _sources(
    grid: ExperimentGrid, out: Path, engine: str, log: Callable[[str], None], address: str | None, tally: _Tally
) -> list[SourceCheckpoint]:
    """Resolve checkpoint sources and train (or reuse) the on-the-fly ones, restricted to ``grid.archs``; a source
    whose training failed is left out (in ``tally``), so that the rest of the grid still runs."""
    archs = None if grid.archs is None else [get_architecture(a).arch for a in grid.archs]
    named = [(name, resolve(name)) for name in grid.named_sources()]
    to_train: list[Job] = []
    trained: list[tuple[str, Path]] = []
    for entry in grid.sources:
        if isinstance(entry, tuple):
            dataset_name, arch = entry[0], get_architecture(entry[1]).arch
            if archs is None or arch in archs:
                dataset = load(dataset_name)
                source = f"{dataset.name}/{arch}"
                spec = RunSpec(
                    "source",
                    dataset.name,
                    arch,
                    0,
                    grid.training(),
                    grid.preprocessing or "znorm",
                    source=source,
                )
                checkpoint = (out / SOURCES_DIR / spec.run_id).resolve()
                to_train.append((replace(spec, checkpoint=str(checkpoint)), dataset))
                trained.append((source, checkpoint))
    done = _run_jobs(to_train, engine, out, log, address, tally) if to_train else {}
    failed = [spec.source for spec, _ in to_train if spec.run_id not in done]
    if failed:  # the grid goes on with the other sources; run() raises for these at the end
        tally.skipped.extend(str(name) for name in failed)
        log(f"the fine-tunes of {', '.join(map(str, failed))} are left out: training the source failed")
    sources: dict[str, SourceCheckpoint] = {}
    for name, folder in named + [(source, folder) for source, folder in trained if source not in failed]:
        config = read_config(folder)
        if archs is not None and config["arch"] not in archs:
            continue
        found = SourceCheckpoint(_display_name(name, config), folder, config)
        seen = sources.setdefault(found.name, found)
        if seen.config.get("weights_sha256") != config.get("weights_sha256"):  # one name, two models: refuse
            raise ValueError(
                f"two checkpoints named {found.name} hold other weights: {seen.folder} and {folder}; give them "
                "distinct ids (save_pretrained(folder, id=...)) or fine-tune one per grid."
            )
    if not sources:
        tally.raise_failures()
        raise ValueError(
            f"no source is left for archs={list(grid.archs or [])}: the sources are {[str(s) for s in grid.sources]}."
        )
    return list(sources.values())  # a checkpoint named twice (two spellings, its id and its folder) runs once


def _display_name(name: str, config: dict[str, Any]) -> str:
    """How records, run ids and tables name a source: its checkpoint's id however it was spelled or found (a model
    id in another case, its folder), or a folder without one by the folder as given (named after its source
    dataset, two folders trained on one set, or a folder and the zoo's checkpoint, became one source)."""
    return str(config["id"]) if config.get("id") else name


@dataclass
class _Tally:
    """What a grid's ``run`` has seen so far, across its stages (sources, then referents and fine-tunes): the runs
    planned, one line per failed run (every other planned run finished), the sources left out because their
    training failed, and the output folder's lock, taken before the first run starts."""

    out: Path
    lock: OutDirLock
    planned: int = 0
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def finished(self) -> int:
        return self.planned - len(self.failures)

    def raise_failures(self) -> None:
        """``ExperimentError`` listing the failed runs, if any."""
        if not self.failures:
            return
        skipped = (
            f"; the fine-tunes of {', '.join(self.skipped)} were not planned, their source's training failed"
            if self.skipped
            else ""
        )
        raise ExperimentError(
            f"{len(self.failures)} of {self.planned} runs failed{skipped}; the {self.finished} finished ones are "
            f"saved in {self.out}, fix the cause and run again to resume:\n" + "\n".join(self.failures)
        )


def _run_jobs(
    jobs: list[Job], engine: str, out: Path, log: Callable[[str], None], address: str | None, tally: _Tally
) -> dict[str, dict[str, Any]]:
    """Run the jobs without a record (in the engine) and log each; returns the records of the finished ones by run
    id, the failures going to ``tally``. The output folder is locked first (``records.OutDirLock``), then the
    records read again: another grid may have finished some of them meanwhile."""
    digests: dict[int, str] = {}
    records, todo = _recorded(jobs, out, digests)
    if todo:
        tally.lock.acquire()
        records, todo = _recorded(jobs, out, digests)
    tally.planned += len(jobs)
    if todo:
        log(f"{len(jobs) - len(todo)} of {len(jobs)} runs already done in {out}; running {len(todo)}")
    for i, (spec, outcome) in enumerate(ENGINES[engine](todo, execute_run, out, address), 1):
        if outcome.state != "succeeded":
            tally.failures.append(f"  - {spec.run_id}: {outcome.reason}")
            log(f"[{i}/{len(todo)}] {spec.run_id} FAILED: {outcome.reason}")
        else:
            records[spec.run_id] = outcome.result
            log(f"[{i}/{len(todo)}] {spec.run_id}: {_summary(outcome.result)}")
    return records


def _recorded(jobs: list[Job], out: Path, digests: dict[int, str]) -> tuple[dict[str, dict[str, Any]], list[Job]]:
    """The finished records of ``jobs`` by run id (a source's with its checkpoint saved), and the jobs to run."""
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for spec, dataset in jobs:
        record = read_record(out, spec.run_id)
        saved = spec.kind != "source" or (
            spec.checkpoint is not None and (Path(spec.checkpoint) / CONFIG_NAME).is_file()
        )
        if record is not None and saved:
            _check_same_data(record, dataset, digests)
            records[spec.run_id] = record
        else:
            todo.append((spec, dataset))
    return records, todo


def _check_same_data(record: dict[str, Any], dataset: Dataset, digests: dict[int, str]) -> None:
    """Refuse a record of another dataset with the same name: run ids know a target by its name only (ids stay as
    they are, so that finished grids resume); records written before they kept ``target_sha256`` are trusted."""
    recorded = record.get("target_sha256")
    if recorded is None:
        return
    if id(dataset) not in digests:
        digests[id(dataset)] = dataset_sha256(dataset)
    if recorded != digests[id(dataset)]:
        raise ValueError(
            f"the data of target {dataset.name!r} differs from the data run {record['run_id']} was recorded on; "
            "use another out_dir or name."
        )


def _target_data(dataset: Dataset, spec: RunSpec) -> Dataset:
    """The target as the run trains on it: the validation split carved from the full training split (as training
    would), then, with ``reduce_train``, a stratified draw of the remaining training series for this seed."""
    data = ensure_validation(dataset, val_fraction=VAL_FRACTION, seed=0)
    return reduce_train(data, spec.reduce_train, seed=spec.seed) if spec.reduce_train else data


def _planned_source(spec: RunSpec) -> TimeSeriesModel:
    """The source checkpoint of a fine-tune, refused unless its weights are still the planned ones (``source_sha256``,
    part of the run id): a checkpoint replaced while the run waited would be recorded as the old source."""
    assert spec.checkpoint is not None  # set by plan_runs
    model = load_checkpoint(spec.checkpoint)
    found = read_config(spec.checkpoint)["weights_sha256"]  # after loading: a swap during the load is caught too
    if found != spec.source_sha256:
        raise ValueError(
            f"the source checkpoint {spec.checkpoint} changed since the grid was planned (weights sha256 {found}, "
            f"planned {spec.source_sha256}); run the grid again to fine-tune the new weights under new run ids."
        )
    return model


def _save_checkpoint(model: TimeSeriesModel, folder: Path, model_id: str | None) -> None:
    """``save_pretrained`` into a temporary sibling, then rename: a checkpoint folder that exists is complete."""
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, id=model_id)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def _save_test_predictions(out_dir: str, run_id: str, model: TimeSeriesModel, data: Dataset) -> str | None:
    if not len(data.splits.get("test", ())):
        return None
    X, y_true = data.split("test", labels=True)  # the labels as predict returns them
    return save_predictions(out_dir, run_id, y_true, np.asarray(model.predict(X)))


def _record(spec: RunSpec, result: FitResult, predictions: str | None, target_sha256: str) -> dict[str, Any]:
    import tshub

    history = result.history
    kept = history[(result.best_epoch or len(history)) - 1] if history else {}
    return {
        "run_id": spec.run_id,
        "kind": spec.kind,
        "source": spec.source,
        "target": spec.target,
        "arch": spec.arch,
        "seed": spec.seed,
        "lr_multiplier": spec.lr_multiplier,
        "referent_id": spec.referent_id,
        "reduce_train": spec.reduce_train,
        "target_sha256": target_sha256,
        "task": result.task,
        "metrics": result.metrics,
        "val_metrics": result.val_metrics,
        "val_loss": kept.get("val_loss"),
        **({"val_data_loss": kept["val_data_loss"]} if "val_data_loss" in kept else {}),  # a weight penalty's model
        "convergence_rate": result.convergence_rate,
        "epochs": len(history),
        "best_epoch": result.best_epoch,
        "stop_reason": result.stop_reason,
        "elapsed_s": result.elapsed_s,
        "checkpoint": spec.checkpoint if spec.kind == "source" else None,
        "predictions": predictions,
        "spec": spec.to_dict(),
        "fit": result.to_dict(),
        "tshub_version": tshub.__version__,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _summary(record: dict[str, Any]) -> str:
    """The progress line of a finished run: its test score, else (a source trained without a test split) its
    validation score, so labelled."""
    metric = DEFAULT_METRICS[record["task"]]
    value, name = record["metrics"].get(metric), metric
    if value is None:
        value, name = record["val_metrics"].get(metric), f"val_{metric}"
    score = f"{name} {value:.4f}, " if value is not None else ""
    return f"{score}{record['epochs']} epochs, {record['elapsed_s']:.1f} s"


def _logger(progress: bool) -> Callable[[str], None]:
    def log(message: str) -> None:
        if progress:
            print(f"tshub.experiments: {message}", file=sys.stderr, flush=True)

    return log
