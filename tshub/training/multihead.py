"""Multi-head pretraining (ConvTimeNet-style): one shared backbone, one output head per source dataset.

Series of different lengths cannot share a batch, so every batch comes from one dataset. An epoch passes once
over the training split of every dataset, its batches interleaved in a seeded random order: each dataset
contributes in proportion to its number of batches (the recipe's batch-size rule gives small sets ~10 per
epoch). The recipe is the ``TrainConfig`` of ``fit`` (Adam, Keras plateau LR, early stopping, best weights
restored, time budget) and the pieces of the single-dataset loop are reused through ``HeadView``; the monitored
validation score is the mean over datasets, so no source dominates model selection. Each head keeps its dataset's
BatchNorm running statistics (``MultiHead``), since every batch is normalised by one dataset's batch statistics,
re-estimated under the current weights before every validation pass (``estimate_head_statistics``); at the end the
shared statistics are set to every dataset's pooled, for forward passes without a head.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from tshub.data.dataset import Dataset
from tshub.data.preprocess import Preprocessor, make_preprocessor
from tshub.hub.history import TrainingHistory
from tshub.models.base import MultiHead, TimeSeriesModel
from tshub.models.registry import build_model
from tshub.training.batchnorm import estimate_statistics
from tshub.training.finetuning import PreparedData, prepare_data, training_fingerprint
from tshub.training.loop import (
    after_epoch,
    as_tensors,
    batches_per_epoch,
    build_optimizer,
    data_device,
    evaluate,
    keeps_callers_rng,
    resolve_device,
    tensor_digest,
    train_step,
)
from tshub.training.metrics import convergence_rate, curve_metric
from tshub.training.monitor import Monitor, RecipeMonitors
from tshub.training.recipes import TrainConfig, bf16_override, resolve_recipe
from tshub.training.results import FitResult
from tshub.training.state import training_state

TASK = "classification"
#: Training series per dataset (a fixed seeded draw) that its head's BatchNorm statistics are estimated on.
STATISTICS_SERIES = 512


class HeadView(nn.Module):
    """A multi-head model seen through one head, so ``train_step`` and ``evaluate`` apply unchanged."""

    def __init__(self, model: TimeSeriesModel, head: str):
        super().__init__()
        self.model = model
        self.head_name = head
        self.arch = model.arch
        self.n_outputs = model.config()["heads"][head]

    def forward(self, x: torch.Tensor, stream_max: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(x, stream_max, head=self.head_name)

    def regularization_loss(self) -> torch.Tensor | None:
        return self.model.regularization_loss()


@keeps_callers_rng
def pretrain_multihead(
    arch: str,
    datasets: Sequence[Dataset],
    *,
    name: str = "multi",
    seed: int = 0,
    recipe: str | TrainConfig = "default",
    max_epochs: int | None = None,
    preprocessing: str | Preprocessor | None = "znorm",
    arch_kwargs: dict[str, Any] | None = None,
    time_budget_s: float | None = None,
    bf16: bool | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    state_path: str | Path | None = None,
    keep_state: bool = False,
) -> FitResult:
    """Pretrain ``arch`` with one head per dataset (named by ``Dataset.name``); returns the model with all heads.

    ``metrics`` / ``val_metrics`` are means over the datasets that have the split; ``model.meta["head_metrics"]``
    holds every dataset's test and validation scores and ``model.meta["head_classes"]`` the labels of each head.
    ``preprocessing`` must be stateless (one preprocessor serves every head): "znorm" or "identity".
    ``state_path``: save the training state there as it goes and resume from it, ``keep_state``: keep its ended
    state for the caller to remove (as ``fit`` does).
    """
    start = time.perf_counter()
    recipe_name, config = resolve_recipe(
        recipe,
        max_epochs=max_epochs,
        time_budget_s=time_budget_s,
        bf16=bf16_override(bf16, recipe, resolve_device(device)),
    )
    kwargs: dict[str, Any] = dict(arch_kwargs or {})
    if (length := _refuse_what_cannot_pretrain(arch, datasets)) is not None:
        kwargs.setdefault("input_length", length)
    prepared = _prepare_all(datasets, preprocessing)
    first = next(iter(prepared.values())).dataset
    torch.manual_seed(seed)
    model = build_model(arch, first.n_channels, max(p.dataset.n_outputs for p in prepared.values()), **kwargs)
    model.set_heads({key: p.dataset.n_outputs for key, p in prepared.items()})
    device = resolve_device(device)
    model.to(device)
    views = {key: HeadView(model, key) for key in prepared}

    history, best_epoch, stop_reason, resumed_s = _train(
        model, views, prepared, config, seed, device, progress, state_path, keep_state
    )
    cast(MultiHead, model.head).pool_statistics(
        model.backbone, {key: float(np.prod(p.train[0].shape)) for key, p in prepared.items()}
    )
    for view in views.values():  # evaluation restores each view's mode, and through it the model's: eval
        view.eval()
    model.task, model.classes = TASK, None
    model.preprocessor = next(iter(prepared.values())).preprocessor
    head_metrics: dict[str, dict[str, Any]] = {
        key: {
            "val": _scores(views[key], p.val, config, device),
            "test": _scores(views[key], p.test, config, device) if p.test is not None else {},
            "splits": {k: int(len(v)) for k, v in p.dataset.splits.items()},
            "length": p.dataset.length,
            "domain": p.dataset.meta.get("domain"),
        }
        for key, p in prepared.items()
    }
    metrics = _mean_scores([h["test"] for h in head_metrics.values() if h["test"]])
    val_metrics = _mean_scores([h["val"] for h in head_metrics.values()])
    curve = [r[f"val_{curve_metric(TASK)}"] for r in history]
    rate = convergence_rate(curve, higher_is_better=True) if curve else None
    elapsed = time.perf_counter() - start + resumed_s  # the processes before a resume trained too
    model.meta = {
        "source_dataset": name,
        "source": {"name": name},
        "task": TASK,
        "source_datasets": list(prepared),
        "recipe": recipe_name,
        "train_config": config.to_dict(),
        "seed": seed,
        "metrics": metrics,
        "val_metrics": val_metrics,
        "epochs": len(history),
        "best_epoch": best_epoch,
        "stop_reason": stop_reason,
        "convergence_rate": rate,
        "elapsed_s": elapsed,
        "time_budget_s": config.time_budget_s,
        "device": str(device),
        "head_classes": {key: p.dataset.classes for key, p in prepared.items()},
        # the labels' values where they were numbers, as a single-head model's class_values: predict returns them
        "head_class_values": {key: p.dataset.class_values for key, p in prepared.items() if p.dataset.class_values},
        "train_fingerprint": training_fingerprint(*(p.dataset for p in prepared.values())),
        "head_metrics": head_metrics,
    }
    model.training_history = TrainingHistory.from_records(history, best_epoch, stop_reason)
    model.training_history.note = f"Validation metrics are means over the {len(prepared)} heads' datasets."
    return FitResult(
        model=model,
        metrics=metrics,
        val_metrics=val_metrics,
        history=history,
        convergence_rate=rate,
        seed=seed,
        recipe=recipe_name,
        elapsed_s=elapsed,
        best_epoch=best_epoch,
        stop_reason=stop_reason,
    )


def estimate_head_statistics(
    model: TimeSeriesModel, head: str, X: torch.Tensor, batch_size: int, *, bf16: bool = False
) -> None:
    """Set ``head``'s BatchNorm running statistics to the mean batch statistics of ``X`` (preprocessed series) under
    the current weights (``tshub.training.batchnorm.estimate_statistics``). A running average would mix weights of
    long ago for a small dataset, whose few batches an epoch are far apart among every other dataset's updates of
    the shared backbone."""
    if not isinstance(model.head, MultiHead) or model.head.statistics is None:
        raise ValueError("only a multi-head model whose heads keep BatchNorm statistics has a head's to estimate.")
    with model.head.statistics_of(model.head.check(head), model.backbone):
        estimate_statistics(model, X, batch_size=batch_size, bf16=bf16)


# ---------------------------------------------------------------------------------------------------- internals
def _refuse_what_cannot_pretrain(arch: str, datasets: Sequence[Dataset]) -> int | None:
    """Refuse, before any data is prepared, datasets whose names cannot name heads and an architecture this
    pretraining cannot train; returns the input length a length-bound architecture is built for (its datasets'
    one length), else None."""
    if not datasets:
        raise ValueError("multi-head pretraining needs at least one dataset.")
    taken = set(dir(nn.ModuleDict()))  # a ModuleDict's own attributes ("training", "keys") name no head
    unnamable = [ds.name for ds in datasets if not ds.name or "." in ds.name or ds.name in taken]
    if unnamable:
        raise ValueError(
            f"dataset {unnamable[0]!r}: its name names its head, which cannot be empty, hold '.' or be one of "
            "torch's ModuleDict attributes (training, keys, ...): rename it (Dataset.name, e.g. 'ECG_v2')."
        )
    probe = build_model(arch, 1, 2, input_length=1)  # the layers the architecture has, not their sizes
    beside = probe.batch_norms_beside_backbone()
    if beside:
        raise ValueError(
            f"{arch} keeps BatchNorms outside its backbone ({', '.join(beside)}), whose statistics one head per "
            "dataset would leave shared between the datasets: pretrain it one dataset at a time "
            "(tshub.train_from_scratch), or pick an architecture without them (fcn, convtimenet)."
        )
    if not probe.length_bound:
        return None
    lengths = sorted({ds.length for ds in datasets})
    if len(lengths) > 1:
        raise ValueError(
            f"{arch} is built for one series length, but the datasets have lengths {lengths}: pretrain it on "
            "datasets of one length, or pick an architecture that takes any length (fcn, convtimenet)."
        )
    return lengths[0]


def _prepare_all(datasets: Sequence[Dataset], preprocessing: str | Preprocessor | None) -> dict[str, PreparedData]:
    names = [ds.name for ds in datasets]
    if len(set(names)) != len(names):
        raise ValueError(f"dataset names must be unique (they name the heads), got duplicates in {names}.")
    wrong = [ds.name for ds in datasets if ds.task != TASK]
    if wrong:
        raise ValueError(f"multi-head pretraining trains one softmax per dataset; {wrong} are not classification.")
    channels = {ds.n_channels for ds in datasets}
    if len(channels) > 1:
        raise ValueError(f"every dataset must have the same channel count (one shared input layer), got {channels}.")
    prepared = {ds.name: prepare_data(ds, make_preprocessor(preprocessing), False) for ds in datasets}
    stateful = [key for key, p in prepared.items() if p.preprocessor.arrays()]
    if stateful:
        raise ValueError(
            f"preprocessing {preprocessing!r} keeps fitted statistics per dataset, but one preprocessor "
            "serves every head: use a per-series one ('znorm' or 'identity')."
        )
    return prepared


def _train(
    model: TimeSeriesModel,
    views: dict[str, HeadView],
    prepared: dict[str, PreparedData],
    config: TrainConfig,
    seed: int,
    device: torch.device,
    progress: bool,
    state_path: str | Path | None,
    keep_state: bool,
) -> tuple[list[dict[str, Any]], int | None, str, float]:
    """The epoch loop: interleaved single-dataset batches, then the recipe's monitors on the mean validation.
    Returns the history, the kept epoch, why it stopped and the training time of the processes before a resume."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    train = {key: as_tensors(p.train, TASK, data_device(p.train, device)) for key, p in prepared.items()}
    batch = {key: config.batch_size_for(len(t[0])) for key, t in train.items()}
    n_batches = {key: batches_per_epoch(len(t[0]), batch[key], config.drop_last) for key, t in train.items()}
    optimizer = build_optimizer(model, None, config)
    drawn = torch.Generator().manual_seed(seed)  # apart from ``generator``: the batches do not depend on it
    statistics_series = {
        key: t[0][torch.randperm(len(t[0]), generator=drawn)[:STATISTICS_SERIES].to(t[0].device)].to(device)
        for key, t in train.items()
    }

    monitors = RecipeMonitors.of(config, lambda key: Monitor.resolve(key, TASK, tie_break=config.tie_break))
    saver = training_state(
        state_path,
        model,
        config,
        seed,
        train={key: [list(t[0].shape), tensor_digest(t[0]), tensor_digest(t[1])] for key, t in train.items()},
        val={  # drives the monitors: its series and labels
            key: [tensor_digest(torch.as_tensor(p.val[0])), tensor_digest(torch.as_tensor(p.val[1]))]
            for key, p in prepared.items()
        },
    )
    history: list[dict[str, Any]] = []
    best_state, best_epoch, stop_reason, done, elapsed_before = None, None, "max_epochs", 0, 0.0
    restored = saver.restore(model, optimizer, generator, monitors.by_name()) if saver is not None else None
    if restored is not None:
        history, best_state, best_epoch = restored.history, restored.best_state, restored.best_epoch
        done, elapsed_before = restored.epoch, restored.elapsed_s
        stop_reason = restored.stop_reason or stop_reason  # set: it had ended, its result not stored yet
    ended = restored is not None and restored.stop_reason is not None
    start = time.perf_counter() - elapsed_before
    deadline = None if config.time_budget_s is None else start + config.time_budget_s

    def save(stop: str | None = None) -> None:
        assert saver is not None
        saver.save(
            epoch=len(history),
            model=model,
            optimizer=optimizer,
            generator=generator,
            history=history,
            best_state=best_state,
            best_epoch=best_epoch,
            elapsed_s=time.perf_counter() - start,
            monitors=monitors.by_name(),
            stop_reason=stop,
        )

    epochs = tqdm(
        range(done, done if ended else config.max_epochs),
        desc=f"{model.arch} multi-head",
        unit="epoch",
        initial=done,
        total=config.max_epochs,
        disable=True if not progress else None,
    )
    for epoch in epochs:
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        loss, out_of_time = _interleaved_epoch(
            views, optimizer, train, batch, n_batches, generator, device, config.bf16, deadline
        )
        record: dict[str, Any] = {"epoch": epoch + 1, "loss": loss}
        if model.head.statistics is not None:
            for key, X in statistics_series.items():
                estimate_head_statistics(model, key, X, batch[key], bf16=config.bf16)
        scores = [
            evaluate(views[key], p.val, TASK, batch_size=config.eval_batch_size, device=device, bf16=config.bf16)
            for key, p in prepared.items()
        ]
        record.update({f"val_{k}": v for k, v in _mean_scores(scores).items()})
        record.update({"lr": lr, "time_s": time.perf_counter() - t0})
        history.append(record)
        epochs.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k not in ("epoch", "lr", "time_s")})
        state, reason = after_epoch(
            record,
            model,
            optimizer,
            config,
            monitors,
            finite=math.isfinite(loss),
            out_of_time=out_of_time,
        )
        if state is not None:
            best_state, best_epoch = state, epoch + 1
        if reason:
            stop_reason = reason
            break
        if saver is not None and saver.due():
            save()
    epochs.close()
    if saver is not None:
        if keep_state:
            save(stop_reason)
        else:
            saver.clear()
    if best_state is not None:
        model.load_state_dict(best_state)
    return history, best_epoch, stop_reason, elapsed_before


def _interleaved_epoch(
    views: dict[str, HeadView],
    optimizer: torch.optim.Optimizer,
    train: dict[str, tuple],
    batch: dict[str, int],
    n_batches: dict[str, int],
    generator: torch.Generator,
    device: torch.device,
    bf16: bool,
    deadline: float | None,
) -> tuple[float, bool]:
    """Every dataset's batches once, in a random interleaving; returns the mean training loss and time-out flag."""
    keys = list(train)
    for view in views.values():
        view.train()
    shuffled = {}
    for key in keys:
        X, y, _ = train[key]
        perm = torch.randperm(len(X), generator=generator).to(X.device)
        shuffled[key] = (X[perm], y[perm])
    schedule = [(key, b) for key in keys for b in range(n_batches[key])]
    order = torch.randperm(len(schedule), generator=generator).tolist()
    total = torch.zeros((), device=device)
    seen, out_of_time = 0, False
    for i in order:
        key, b = schedule[i]
        X, y = shuffled[key]
        part = slice(b * batch[key], (b + 1) * batch[key])
        xb, yb = X[part].to(device, non_blocking=True), y[part].to(device, non_blocking=True)
        total += train_step(views[key], optimizer, xb, yb, None, TASK, bf16) * len(xb)
        seen += len(xb)
        if deadline is not None and time.perf_counter() > deadline:
            out_of_time = True
            break
    return float(total / seen), out_of_time


def _scores(view: HeadView, data: Any, config: TrainConfig, device: torch.device) -> dict[str, float]:
    scores = evaluate(view, data, TASK, batch_size=config.eval_batch_size, device=device)
    return {k: v for k, v in scores.items() if k != "loss"}


def _mean_scores(scores: list[dict[str, float]]) -> dict[str, float]:
    """Unweighted mean of each score over datasets (every source counts once)."""
    if not scores:
        return {}
    return {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
