"""tshub's main job end to end, on a small real target: recommend a source, fine-tune it, compare with scratch.

``tshub demo`` needs no server, network or GPU. The target is a UCR dataset from the catalogue when the data is
present, else the UCR "Trace" set bundled with tslearn (real data shipped in its wheel). The source is the
recommender's first pick among the checkpoints of the local stores and the repository's zoo. Fine-tuning and
the from-scratch referent use the same recipe, seeds and splits; ω is chosen on validation; MiniRocket
(``tshub.baselines``) is fitted on the same training split. The demo ends with what the recommender's advice said
(``tshub.recommender.advice``: should fine-tuning this source beat scratch?) beside what actually happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import numpy as np

import tshub
from tshub.baselines import minirocket_if_possible
from tshub.data.dataset import Dataset, DatasetError
from tshub.hub.store import PRIMARY_METRIC
from tshub.recommender import SELF_TRANSFER, candidate_pool, self_transfer
from tshub.recommender.advice import TransferAdvice, outcome
from tshub.training import train_referent
from tshub.training.results import FitResult

DEFAULT_TARGET = "GunPoint"
DEFAULT_ARCH = "fcn"


@dataclass
class DemoRow:
    method: str
    seed: int
    result: FitResult


def load_target(name: str) -> Dataset:
    """A catalogue dataset, or tslearn's bundled UCR Trace when the catalogue has no UCR data on this machine (a
    name the archive does not hold is an error there, not a reason to run on other data). One without a test split
    is refused before anything trains: the demo compares its runs on test."""
    try:
        data = tshub.datasets.load(name)
    except DatasetError as err:
        if any(entry["collection"] != "sources" for entry in tshub.datasets.list_datasets()):
            raise
        trace = _tslearn_trace()
        if trace is None:
            raise DatasetError(f"{err}\nNo fallback either: install tslearn (it ships the UCR Trace set).") from err
        print(
            f"tshub demo: {name} is not available here ({str(err).splitlines()[0]}); using the UCR Trace set "
            "bundled with tslearn instead."
        )
        return trace
    if "test" not in data.splits:
        raise DatasetError(
            f"{data.name!r} has no test split here (it has {', '.join(data.splits)}), and the demo compares "
            f"fine-tuning, training from scratch and MiniRocket on test: pick a target with one, e.g. {DEFAULT_TARGET}."
        )
    return data


def _tslearn_trace() -> Dataset | None:
    try:
        import tslearn
    except ImportError:
        return None
    path = Path(tslearn.__file__).parent / ".cached_datasets" / "Trace.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as npz:
        X = np.concatenate([npz["X_train"], npz["X_test"]]).transpose(0, 2, 1)
        y = np.concatenate([npz["y_train"], npz["y_test"]])
        n_train = len(npz["X_train"])
    return Dataset.from_arrays(
        X,
        y,
        name="Trace",
        task="classification",
        splits={"train": np.arange(n_train), "test": np.arange(n_train, len(X))},
        meta={
            "source_files": [str(path)],
            "citation": "Dau et al., The UCR time series archive, IEEE/CAA J. Autom. Sinica 6(6), 2019",
            "domain": "UCR/Sensor",
        },
    )


def pick_source(target: Dataset, arch: str) -> tuple[str, TransferAdvice | None]:
    """The recommender's first choice of ``arch`` checkpoint for the target and its advice; it leaves out, and
    names, checkpoints trained on the target's own data (no transfer to show)."""
    recommendation = tshub.recommend(target, k=5, arch=arch, progress=True)
    print(recommendation, flush=True)
    if not len(recommendation):
        raise DatasetError(f"no {arch} checkpoint could be scored for {target.name}: see the skipped ones above.")
    return str(recommendation[0]["id"]), recommendation.advice


def source_advice(target: Dataset, source: str) -> TransferAdvice | None:
    """The advice on a source the user named: the recommender scores that one alone. One trained on the target's
    own data is run as asked, but said to be no transfer: beating scratch then shows nothing a source brings."""
    recommendation = tshub.recommend(target, k=1, candidates=[source], allow_self_transfer=True)
    for why in self_transfer(candidate_pool([source]), target).values():
        print(f"note: {source} was {SELF_TRANSFER} ({why}): fine-tuning it on {target.name} is no transfer", flush=True)
    print(recommendation.advice, flush=True)
    return recommendation.advice


def run_demo(
    target: str = DEFAULT_TARGET,
    source: str | None = None,
    *,
    arch: str = DEFAULT_ARCH,
    seeds: Sequence[int] = (0,),
    lr_multipliers: Sequence[float] = (0.1, 1.0),
    recipe: str = "auto",
    max_epochs: int | None = None,
) -> list[DemoRow]:
    """Fine-tune a (recommended) source on the target and train the referent from scratch; print the table."""
    data = load_target(target)
    print(f"target: {data!r}", flush=True)
    source, advice = pick_source(data, arch) if source is None else (source, source_advice(data, source))
    model = tshub.load_pretrained(source)
    print(f"source: {source} ({model.arch}, pretrained on {model.meta.get('source_dataset', '?')})", flush=True)
    rows: list[DemoRow] = []
    for seed in seeds:
        print(
            f"seed {seed}: fine-tuning {source} on {data.name}, ω in {list(lr_multipliers)} chosen on validation",
            flush=True,
        )
        tuned = model.finetune(
            data, lr_multiplier=list(lr_multipliers), seed=seed, recipe=recipe, max_epochs=max_epochs
        )
        print(f"seed {seed}: training {model.arch} from scratch on {data.name} (the referent)", flush=True)
        scratch = train_referent(model, data, seed=seed, recipe=recipe, max_epochs=max_epochs)
        rows += [DemoRow(f"fine-tuned from {source}", seed, tuned), DemoRow("from scratch", seed, scratch)]
        if seed == seeds[0]:
            print(tuned.transfer_report, flush=True)
    print(format_table(rows))
    print(minirocket_line(data, rows, seeds[0]))
    if advice is not None:
        print(advice_outcome(advice, rows))
    return rows


def minirocket_line(data: Dataset, rows: list[DemoRow], seed: int) -> str:
    """MiniRocket fitted on the target's whole training split (seconds; its published references were fitted so):
    the non-pretrained method a user would try."""
    rocket, why_not = minirocket_if_possible(data, seed=seed)
    if rocket is None:
        return f"MiniRocket not run: {why_not}"
    metric = headline_metric(data.task)
    tuned = mean(row.result.metrics[metric] for row in rows if row.method == rows[0].method)
    value = rocket.metrics[metric]
    verdict = outcome(tuned, value, "minirocket", higher_is_better=metric == "accuracy")
    n_train = len(data.splits["train"]) if "train" in data.splits else len(data.X)
    return (
        f"MiniRocket (tshub.baselines, seed {seed}, {rocket.elapsed_s:.1f} s), fitted on all {n_train} training series "
        f"(it selects nothing on a validation split; {_how_the_networks_selected(data, rows[0].result)}) and tested "
        f"on the same test split: test {metric} {value:.4f}; fine-tuning {verdict} against it"
    )


def _how_the_networks_selected(data: Dataset, result: FitResult) -> str:
    """Where the fine-tune chose its weights: on the training series themselves (one per class), on the dataset's
    own validation split, or on one carved from the training series."""
    meta = result.model.meta
    if meta.get("validation_is_train"):
        return "the networks selected their weights on these same training series, having none to hold out"
    n_val = (meta.get("splits") or {}).get("val", "?")
    if "val" in data.splits:
        return f"the networks selected theirs on the dataset's own {n_val} validation series"
    return f"the networks selected theirs on {n_val} validation series carved from them"


def headline_metric(task: str) -> str:
    """The test metric the demo compares by: accuracy, or a regression's MAE (lower is better)."""
    return PRIMARY_METRIC.get(task, "mae")


def advice_outcome(advice: TransferAdvice, rows: list[DemoRow]) -> str:
    """What the advice said, then what happened: the fine-tuned mean against scratch (and MiniRocket's reference)."""
    metric = headline_metric(rows[0].result.task)
    classification = metric == "accuracy"
    tuned, scratch = (
        mean(row.result.metrics[metric] for row in rows if row.method == method)
        for method in (rows[0].method, rows[1].method)
    )

    seeds = len(rows) // 2
    happened = (
        f"what happened: fine-tuned {tuned:.4f} vs from scratch {scratch:.4f} (test {metric}, mean of {seeds} "
        f"seed{'s' if seeds > 1 else ''}): fine-tuning {outcome(tuned, scratch, 'scratch', classification)}"
    )
    reference = advice.minirocket.reference_accuracy
    if reference is not None and classification:
        happened += f"; against MiniRocket's reference {reference:.4f} it {outcome(tuned, reference, 'minirocket')}"
    return f"advice said: {advice.summary()}\n{happened}"


def format_table(rows: list[DemoRow]) -> str:
    """Per-run rows and the mean per method: test metrics, ω, epochs, convergence rate, time."""
    metric = headline_metric(rows[0].result.task)
    second = "f1_weighted" if metric == "accuracy" else "mse"
    header = f"| method | seed | ω | test {metric} | test {second} | epochs (best) | convergence rate | time s |"
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        r = row.result
        omega = "—" if r.lr_multiplier is None else f"{r.lr_multiplier:g}"
        lines.append(
            f"| {row.method} | {row.seed} | {omega} | {r.metrics[metric]:.4f} | {r.metrics[second]:.4f} | "
            f"{len(r.history)} ({r.best_epoch}) | {_fmt(r.convergence_rate)} | {r.elapsed_s:.1f} |"
        )
    for method in dict.fromkeys(row.method for row in rows):
        mine = [row.result for row in rows if row.method == method]
        lines.append(
            f"| **{method}, mean** | | | **{mean(r.metrics[metric] for r in mine):.4f}** | "
            f"{mean(r.metrics[second] for r in mine):.4f} | | "
            f"{_fmt(mean(r.convergence_rate or 0.0 for r in mine))} | |"
        )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
