"""Fine-tuning a pretrained model on a target dataset, and the from-scratch referent with the same loop and recipe.

Fine-tuning builds a fresh model of the source architecture for the target (channels, length, outputs), copies
what fits (``transfer_weights``), trains the transferred parameters at ω × lr and the rest at lr, and picks ω on
the validation split when several are tried. The validation split does not depend on the seed, so fine-tunes and
referents of any seed are compared on the same data.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from tshub.data.catalogue import dataset_from
from tshub.data.dataset import Dataset, refuse_unlabelled_training
from tshub.data.fingerprint import fingerprint
from tshub.data.preprocess import Preprocessor, level_correlation, make_preprocessor
from tshub.data.splits import training_splits, validation_is_train
from tshub.hub.history import TrainingHistory
from tshub.models.base import TimeSeriesModel
from tshub.models.registry import build_model
from tshub.training.loop import (
    Arrays,
    EpochHook,
    LoopResult,
    ParamGroup,
    TargetFrame,
    Training,
    decode_outputs,
    evaluate,
    fit,
    keeps_callers_rng,
    predict_outputs,
    progress_status,
    resolve_device,
    weights_digest,
)
from tshub.training.metrics import convergence_rate, curve_metric, task_metrics
from tshub.training.monitor import DATA_LOSS, omega_selector
from tshub.training.naive import naive_forecasts
from tshub.training.progress import Progress, ProgressMode
from tshub.training.recipes import AUTO, TrainConfig, bf16_override, resolve_recipe
from tshub.training.results import FitResult
from tshub.training.search import HALVED, choose, rung_epochs
from tshub.training.transfer import BACKBONE_PREFIX, TransferReport, transfer_weights

#: Otović et al.'s learning-rate multipliers, tried by ``lr_multiplier="grid"``.
LR_MULTIPLIER_GRID: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
VAL_FRACTION = 0.2
#: With ``relative_target=None`` a regression learns a relative target exactly when its training targets follow their
#: series' level at least this closely (``level_correlation``): the S&P 500's next close does (1.00); a magnitude read
#: off a seismogram does not, and learning it in the seismogram's frame multiplies every error by the series' scale
#: (SP500/fcn's relative target kept on SEISMIC-CX magnitudes: test MAE 12,715, where the training mean scores 0.51).
LEVEL_CORRELATION_MIN = 0.9
#: A median training stream_max above this warns: Otović et al.'s models take the raw per-series maximum unscaled into
#: a head whose other inputs are near unit scale (EMG's int8 windows stay below 128; seismic counts and index points
#: reach thousands, where EMG/fcn fine-tuned on GunPoint × 10⁴ fell from 0.973 to 0.587 test accuracy).
STREAM_MAX_LARGE = 1000.0
_SOURCE_KEYS = ("domain", "description", "citation", "url", "license", "sampling_rate", "units")


@dataclass
class PreparedData:
    """A dataset with a validation split, its fitted preprocessor and the preprocessed splits."""

    dataset: Dataset
    preprocessor: Preprocessor
    train: Arrays
    val: Arrays
    test: Arrays | None
    use_stream_max: bool

    @property
    def val_frame(self) -> TargetFrame | None:
        """How the validation targets the network learns map back to their raw scale (None: they are raw)."""
        if not self.preprocessor.transforms_targets:
            return None
        return self.preprocessor.target_frame(self.dataset.split("val")[0], np.ndim(self.val[1]))


@keeps_callers_rng
def finetune(
    model: TimeSeriesModel | str,
    dataset: Dataset | str | Path,
    *,
    lr_multiplier: float | str | Sequence[float] = 1.0,
    search: str = "halving",
    freeze_backbone: bool = False,
    seed: int = 0,
    recipe: str | TrainConfig = AUTO,
    max_epochs: int | None = None,
    preprocessing: str | Preprocessor | None = None,
    relative_target: bool | None = None,
    use_stream_max: bool | None = None,
    validation: str = "split",
    split_order: str = "auto",
    time_budget_s: float | None = None,
    bf16: bool | None = None,
    device: str | torch.device | None = None,
    progress: ProgressMode = True,
    on_epoch_end: EpochHook | None = None,
    state_dir: str | Path | None = None,
    keep_state: bool = False,
) -> FitResult:
    """Fine-tune ``model`` (never modified; or a model id or folder, loaded with ``load_pretrained``) on ``dataset``
    (a Dataset, a catalogue name or a data file: ``dataset_from``); returns the best fine-tuned model and its scores.

    ``lr_multiplier`` is ω for the transferred parameters: a number, a list, or ``"grid"`` (Otović's ten values).
    With several, each starts from the same initial state and the best on validation is kept (not retrained):
    ``search="halving"`` (default) trains them all for a few epochs, keeps the best third on validation, trains
    those three times longer, and so on until one is left, which trains to the recipe's end (``tshub.training.
    search``); ``search="full"`` trains every ω to the end. ``freeze_backbone`` keeps the backbone's layers copied
    from the source as they were (BatchNorm statistics included) and trains the rest at the recipe's rate: the head,
    layers re-initialised, an input layer adapted to another channel count, and branches beside the backbone
    (MagNet's and MLSTM-FCN's LSTM). ``recipe="auto"`` picks the preset for the training
    split's size (``tshub.training.recipes.auto_recipe``). ``preprocessing`` defaults to the source model's kind,
    fitted anew on the target's training split ("znorm" when the source has none). ``relative_target`` (regression):
    learn each target in its series' normalised space (True), standardised (False), or None: the given
    ``preprocessing``'s own choice, else a relative target exactly when the training targets follow their series'
    level (``relative_target_for``; a source's relative target is not kept otherwise, with a warning).
    ``use_stream_max``: whether the target model takes Otović's raw stream_max input (None: as the source does,
    unless the target is learned relative, ``stream_max_for``; False drops it from a source that takes it, whose head
    is new anyway). ``validation``: "split" (default) holds a stratified fifth
    of the training series out to select the weights, ω and the stop; "train" trains on every training series and
    selects on them (``tshub.data.splits.VALIDATIONS`` says what each measured). ``split_order``: how a validation
    split is carved (``tshub.data.splits.SPLIT_ORDERS``): "auto" (default) carves the last training windows after a
    purged gap when the rows are sliding windows of a series, of each where several follow one another (a random
    carve would validate on windows overlapping training ones), else at random. ``time_budget_s`` bounds the whole call, search included.
    ``bf16``: bfloat16 autocast (None: where the device computes it natively, unless ``recipe`` is a TrainConfig,
    whose own is kept; ``tshub.training.recipes.bf16_override``). ``on_epoch_end`` gets every epoch's history record
    plus ``lr_multiplier``,
    ``run`` and ``runs`` (which ω of how many; epochs count per ω). With ``state_dir`` each ω's training saves its
    full state in that folder as it goes (``fit``'s ``state_path``), so the same call run again after a kill resumes
    where it was and ends where an uninterrupted one ends (the search's choices too: a run's best score only
    improves, so the runs kept at each rung are the same); the files are removed when the fine-tune ends, or with
    ``keep_state`` kept, each marked ended (a dropped ω as dropped), for the caller to remove once it has stored the
    result: the same call then trains nothing and returns the same result.
    """
    start = time.perf_counter()
    if isinstance(model, (str, Path)):
        from tshub.hub.resolution import load_pretrained  # the hub imports the training package: not at module level

        model = load_pretrained(model)
    if not isinstance(model, TimeSeriesModel):
        raise TypeError(
            f"finetune takes a model or its id, got {type(model).__name__}: load one with tshub.load_pretrained(id)."
        )
    dataset = dataset_from(dataset)
    learned = model.meta.get("channel_names")
    if learned and sorted(learned) == sorted(dataset.meta.get("channel_names") or []):  # its first layer reads them so
        dataset = dataset.ordered_like(learned)
    multipliers = lr_multipliers(lr_multiplier)
    if freeze_backbone and len(multipliers) > 1:
        raise ValueError(
            "with freeze_backbone=True the transferred (backbone) parameters do not train, so ω has "
            "no effect: pass a single lr_multiplier."
        )
    preprocessor = (
        preprocessing_of(model, dataset, relative_target)
        if preprocessing is None
        else relative_target_for(make_preprocessor(preprocessing), dataset, relative_target)
    )
    prep = prepare_data(
        dataset,
        preprocessor,
        stream_max_for(preprocessor, model.use_stream_max, use_stream_max),
        validation,
        split_order,
    )
    name, config = resolve_recipe(
        recipe,
        n_train=len(prep.train[0]),
        max_epochs=max_epochs,
        time_budget_s=time_budget_s,
        bf16=bf16_override(bf16, recipe, resolve_device(device)),
    )
    selector = omega_selector(prep.dataset.task)  # ω is chosen on validation only

    # a state's halved mark holds for this search only; one ω trains alike under either search
    search_plan = f"{search} over ω {multipliers}" if len(multipliers) > 1 else f"ω {multipliers}"
    runs = [
        _OmegaRun(omega, i, len(multipliers), keep_state, search_plan) for i, omega in enumerate(multipliers, start=1)
    ]
    display = Progress(
        f"fine-tune {model.meta.get('id') or model.arch} → {prep.dataset.name}", config.max_epochs * len(runs), progress
    )
    for run in runs:
        state_path = None if state_dir is None else Path(state_dir) / f"omega-{run.index}.safetensors"
        run.start(model, prep, freeze_backbone, config, seed, device, _reporter(run, display, on_epoch_end), state_path)
    if config.time_budget_s is not None:  # one budget for the call: what resumed ω trainings spent is spent
        deadline = start + config.time_budget_s - sum(run.training.elapsed_s for run in runs)
        for run in runs:
            run.training.end_by(deadline)
    chosen = cast(_OmegaRun, choose(runs, selector, search, display, rung_epochs=rung_epochs(config)))  # one of runs
    display.close()

    grid = [run.summary(prep) for run in runs if run.training.epoch > 0]
    extra_meta = {
        "parent": model.meta.get("id"),
        "parent_weights": weights_digest(
            model
        ),  # the parent's identity when it has no id (a folder, a model in memory)
        "parent_dataset": model.meta.get("source_dataset"),
        **lineage(model.meta),
        "lr_multiplier": chosen.omega,
        "lr_multipliers_tried": [row["lr_multiplier"] for row in grid],  # the card names the grid ω was chosen from
        "freeze_backbone": freeze_backbone,
    }
    if model.meta.get("revision"):  # the Hub commit the parent was loaded from, and its repo
        extra_meta["parent_revision"] = model.meta["revision"]
    if model.meta.get("hub_repo"):
        extra_meta["parent_repo"] = model.meta["hub_repo"]
    return _result(
        chosen.training.model,
        prep,
        chosen.loop,
        name,
        config,
        seed,
        start,
        extra_meta,
        lr_multiplier=chosen.omega,
        transfer_report=chosen.report,
        grid=grid,
    )


@keeps_callers_rng
def train_from_scratch(
    arch: str,
    dataset: Dataset | str | Path,
    *,
    seed: int = 0,
    recipe: str | TrainConfig = AUTO,
    max_epochs: int | None = None,
    preprocessing: str | Preprocessor | None = "znorm",
    use_stream_max: bool | None = None,
    relative_target: bool | None = None,
    arch_kwargs: dict[str, Any] | None = None,
    validation: str = "split",
    split_order: str = "auto",
    time_budget_s: float | None = None,
    bf16: bool | None = None,
    device: str | torch.device | None = None,
    progress: ProgressMode = True,
    on_epoch_end: EpochHook | None = None,
    state_path: str | Path | None = None,
    keep_state: bool = False,
) -> FitResult:
    """Train a fresh ``arch`` on ``dataset`` (a Dataset, a catalogue name or a data file: ``dataset_from``) with the
    fine-tuning loop and recipe: the referent of a fine-tune.

    ``recipe="auto"`` picks the preset for the training split's size (``tshub.training.recipes.auto_recipe``);
    ``use_stream_max`` defaults to whether the preprocessing produces stream_max ("minmax_mask" does; not with a
    relative target, ``stream_max_for``);
    ``relative_target`` (regression) trains on targets in each series' normalised space, mapped back by the
    model's ``predict`` (``tshub.data.preprocess``; a departure from Otović et al., who trained on raw targets);
    None: where the training targets follow their series' level (``relative_target_for``);
    ``validation``, ``split_order`` and ``bf16`` (bfloat16 autocast; None: where the device computes it natively) as
    ``finetune``;
    ``state_path`` makes the run resumable, ``keep_state`` keeps its ended state (see ``fit``).
    """
    start = time.perf_counter()
    dataset = dataset_from(dataset)
    preprocessor = relative_target_for(make_preprocessor(preprocessing), dataset, relative_target)
    use_stream_max = stream_max_for(preprocessor, preprocessor.uses_stream_max, use_stream_max)
    prep = prepare_data(dataset, preprocessor, use_stream_max, validation, split_order)
    name, config = resolve_recipe(
        recipe,
        n_train=len(prep.train[0]),
        max_epochs=max_epochs,
        time_budget_s=time_budget_s,
        bf16=bf16_override(bf16, recipe, resolve_device(device)),
    )
    ds = prep.dataset
    torch.manual_seed(seed)
    model = build_model(
        arch, ds.n_channels, ds.n_outputs, use_stream_max=use_stream_max, input_length=ds.length, **(arch_kwargs or {})
    )
    loop = fit(
        model,
        prep.train,
        prep.val,
        config,
        seed=seed,
        device=device,
        progress=progress,
        task=ds.task,
        on_epoch_end=on_epoch_end,
        state_path=state_path,
        target_frame=prep.val_frame,
        keep_state=keep_state,
    )
    return _result(model, prep, loop, name, config, seed, start, {})


def train_referent(
    source: TimeSeriesModel,
    dataset: Dataset,
    *,
    relative_target: bool | None = None,
    use_stream_max: bool | None = None,
    **kwargs: Any,
) -> FitResult:
    """The referent of fine-tuning ``source`` on ``dataset``: the same architecture, architecture options,
    stream_max input and preprocessing (fitted on the target, as ``finetune`` fits it) trained from scratch. Pass
    the fine-tune's ``relative_target``, ``use_stream_max``, seed, recipe and caps (``train_from_scratch``'s
    ``kwargs``), so that the two trainings differ only by the pretrained start."""
    preprocessor = preprocessing_of(source, dataset, relative_target)
    return train_from_scratch(
        source.arch,
        dataset,
        preprocessing=preprocessor,
        use_stream_max=stream_max_for(preprocessor, source.use_stream_max, use_stream_max),
        arch_kwargs=source.arch_kwargs,
        **kwargs,
    )


def preprocessing_of(
    model: TimeSeriesModel, dataset: Dataset, relative_target: bool | None = None, *, warn: bool = True
) -> Preprocessor:
    """The preprocessing a fine-tune of ``model`` (and its referent) fits on ``dataset``: the model's own kind and
    options, unfitted ("znorm" when it has none), with the relative target ``relative_target_for`` gives the
    target: the source's is kept with None only where the target's own data call for one, and said (``warn``)
    when not."""
    source = make_preprocessor("znorm") if model.preprocessor is None else model.preprocessor.unfitted()
    chosen = relative_target_for(source.with_relative_target(False), dataset, relative_target)
    if (
        warn
        and source.relative_target
        and not chosen.relative_target
        and relative_target is None
        and dataset.task == "regression"
    ):
        correlation = _training_level_correlation(dataset)
        found = (
            "not defined here: it needs one channel and three training series whose last values and targets vary"
            if correlation is None
            else f"{correlation:.2f}, {LEVEL_CORRELATION_MIN} needed"
        )
        warnings.warn(
            f"{model.meta.get('id') or 'the source'} learned a relative target (each target in its series' "
            f"normalised space), but the training targets of {dataset.name!r} do not follow their series' level "
            f"(correlation with the series' last values {found}), so this fine-tune learns them standardised: pass "
            "relative_target=True to keep the source's.",
            stacklevel=3,
        )
    return chosen


def relative_target_for(preprocessor: Preprocessor, dataset: Dataset, relative_target: bool | None) -> Preprocessor:
    """``preprocessor``, unfitted, with the target frame ``dataset`` gets: ``relative_target`` when given; with
    None, the preprocessor's own choice when it made one, else none for a classification and for a regression
    exactly when it scales each series as one and the training targets follow their series' level (correlation
    with the series' last values >= LEVEL_CORRELATION_MIN): a forecast of the next value, whose level may drift far
    beyond the training range (the S&P 500's test prices), learns it without extrapolating."""
    if relative_target is not None:
        relative = relative_target  # prepare_data refuses one for a classification, saying why
    elif preprocessor.relative_target:
        relative = True
    elif dataset.task != "regression":
        relative = False
    else:
        relative = preprocessor.scales_each_series and follows_level(dataset)
    return preprocessor.with_relative_target(relative)


def lineage(parent: dict[str, Any]) -> dict[str, list[Any]]:
    """What a fine-tune of a model with meta ``parent`` records of the data its weights learned before it: every
    dataset (the parent's source, a multi-head parent's datasets, their ancestors') and the training fingerprints
    (the parent's and its ancestors'), so that the recommender knows a descendant of a target's own source for
    no transfer either (``tshub.recommender.candidates.self_transfer``)."""
    named = [
        parent.get("source_dataset"),
        *(parent.get("source_datasets") or []),
        *(parent.get("ancestor_datasets") or []),
    ]
    prints = [parent.get("train_fingerprint"), *(parent.get("ancestor_fingerprints") or [])]
    return {
        "ancestor_datasets": list(dict.fromkeys(n for n in named if isinstance(n, str) and n)),
        "ancestor_fingerprints": [f for f in prints if isinstance(f, dict)],
    }


def stream_max_for(preprocessor: Preprocessor, takes_it: bool, use_stream_max: bool | None) -> bool:
    """Whether a model trained with ``preprocessor`` takes the raw stream_max input: ``use_stream_max`` when given;
    else ``takes_it`` (the source's choice, or the preprocessing's from scratch), but never beside a relative target,
    whose point is a model blind to the series' level, which the raw maximum gives back (EMG/fcn fine-tuned on S&P
    500 windows with a relative target: test MAE 2,435 with stream_max, 14.4 without, persistence 11.2;
    bench/results/target_frame.md)."""
    if use_stream_max is not None:
        return use_stream_max
    return takes_it and not preprocessor.relative_target


def follows_level(dataset: Dataset) -> bool:
    """Whether the training targets follow their series' level (``_training_level_correlation`` at least
    LEVEL_CORRELATION_MIN): a forecast of the next value."""
    correlation = _training_level_correlation(dataset)
    return correlation is not None and correlation >= LEVEL_CORRELATION_MIN


def _training_level_correlation(dataset: Dataset) -> float | None:
    """``level_correlation`` on the training split (every series where the data has no splits)."""
    X, y = dataset.split("train") if "train" in dataset.splits else (dataset.X, dataset.y)
    return level_correlation(X, y)


class _OmegaRun:
    """One ω of a fine-tune: its target model, transfer report and training (advanced by the search)."""

    def __init__(self, omega: float, index: int, of: int, keep_state: bool = False, search_plan: str = ""):
        self.omega, self.index, self.of = omega, index, of
        self.keep_state = keep_state  # whether ``finish`` keeps the ended training's state
        self.search_plan = search_plan  # the search and its ω: part of a saved state's fingerprint
        self.eliminated_after: int | None = None  # epochs trained when the search dropped it

    def start(
        self,
        source: TimeSeriesModel,
        prep: PreparedData,
        freeze_backbone: bool,
        config: TrainConfig,
        seed: int,
        device: str | torch.device | None,
        hook: EpochHook,
        state_path: Path | None,
    ) -> None:
        """A fresh, seeded target with the source's weights transferred, ready to train at this ω (resumed from
        ``state_path`` when it holds this training's state)."""
        target = fresh_model_like(source, prep.dataset, seed, use_stream_max=prep.use_stream_max)
        self.report = transfer_weights(source, target)
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            _freeze_copied_backbone(target, self.report)
        # the weights it starts from, and the search it is part of: a state the search marked dropped, or resumed
        # mid-search, holds for the same search over the same ω only
        origin = f"{weights_digest(target)} {self.search_plan}" if state_path is not None else None
        self.training = Training(
            target,
            prep.train,
            prep.val,
            config,
            seed=seed,
            device=device,
            progress=False,
            param_groups=_omega_groups(target, self.report, self.omega, freeze_backbone),
            task=prep.dataset.task,
            on_epoch_end=hook,
            target_frame=prep.val_frame,
            state_path=state_path,
            origin=origin,
        )
        if self.training.result.stop_reason == HALVED:  # dropped by the search before a kill: no candidate again
            self.eliminated_after = self.training.epoch

    @property
    def label(self) -> str:
        return f"ω {self.omega:g} ({self.index}/{self.of})"

    def finish(self) -> LoopResult:
        if self.eliminated_after is not None:
            self.training.result.stop_reason = HALVED
        self.loop = self.training.finish(self.keep_state)
        self.training.model.requires_grad_(True)  # frozen only while training
        return self.loop

    def summary(self, prep: PreparedData) -> dict[str, Any]:
        """The grid row of ``FitResult.grid``: validation scores of the kept weights, epochs, how it ended."""
        batch_size = self.training.config.eval_batch_size
        val = evaluate(self.training.model, prep.val, prep.dataset.task, batch_size=batch_size)
        return {
            "lr_multiplier": self.omega,
            "val_loss": val["loss"],
            **({"val_data_loss": val[DATA_LOSS]} if DATA_LOSS in val else {}),  # what ω was chosen on, with a penalty
            "val_metrics": split_scores(self.training.model, prep, "val", batch_size),
            "epochs": len(self.loop.history),
            "best_epoch": self.loop.best_epoch,
            "stop_reason": self.loop.stop_reason,
        }


def _reporter(run: _OmegaRun, display: Progress, hook: EpochHook | None) -> EpochHook:
    """Per epoch: the caller's hook (told which ω) and the progress display (total re-estimated by the search)."""

    def report(record: dict[str, Any]) -> None:
        if hook is not None:
            hook({**record, "lr_multiplier": run.omega, "run": run.index, "runs": run.of})
        display.update(
            **{
                "ω": f"{run.omega:g} ({run.index}/{run.of})",
                "epoch": record["epoch"],
                **progress_status(record, run.training.best_record, run.training.kept_by),
            }
        )

    return report


# ---------------------------------------------------------------------------------------------------- internals
def lr_multipliers(lr_multiplier: float | str | Sequence[float]) -> list[float]:
    """The ω values a fine-tune (or an experiment grid, or the CLI) was given: one number, a list, or "grid"
    (Otović's ten). The one place their rule lives: finite, >= 0, at least one."""
    if isinstance(lr_multiplier, str):
        if lr_multiplier != "grid":
            raise ValueError(f"lr_multiplier must be a number, a list of numbers or 'grid', got {lr_multiplier!r}.")
        values = list(LR_MULTIPLIER_GRID)
    elif isinstance(lr_multiplier, (int, float, np.number)):  # numpy scalars too, as scikit-learn grids pass
        values = [float(lr_multiplier)]
    else:
        values = [float(v) for v in lr_multiplier]
    if not values:
        raise ValueError("lr_multiplier needs at least one ω value, got none.")
    bad = next((v for v in values if not (math.isfinite(v) and v >= 0)), None)
    if bad is not None:
        raise ValueError(f"ω (lr_multiplier) must be finite and >= 0, got {bad:g}.")
    return values


def prepare_data(
    dataset: Dataset,
    preprocessing: str | Preprocessor | None,
    use_stream_max: bool,
    validation: str = "split",
    split_order: str = "auto",
) -> PreparedData:
    """Make the training splits (``training_splits``, with ``validation`` and ``split_order`` as it takes them: a
    dataset without splits is training data), fit the preprocessing on the training split and apply it to every
    split (to a regression's targets too: relative or standardised).
    A given ``Preprocessor`` is not refitted in place: a fresh copy is, since the object may be another model's."""
    ds, _ = training_splits(dataset, val_fraction=VAL_FRACTION, seed=0, validation=validation, split_order=split_order)
    preprocessor = make_preprocessor(preprocessing).unfitted()
    if use_stream_max and not preprocessor.uses_stream_max:
        raise ValueError(
            f"the model takes stream_max but preprocessing {preprocessor.kind!r} does not produce it: "
            "use preprocessing='minmax_mask', or train without the stream_max input (use_stream_max=False)."
        )
    if preprocessor.relative_target and ds.task != "regression":
        raise ValueError(
            f"relative_target maps regression targets into each series' scale, but {ds.name} is a "
            f"{ds.task} dataset: train it without relative_target."
        )
    X_train, y_train = ds.split("train")
    preprocessor.fit(X_train)
    if ds.task == "regression":
        refuse_unlabelled_training(ds)
        preprocessor.fit_targets(y_train)

    def arrays(split: str) -> Arrays:
        X_raw, y = ds.split(split)
        X, stream_max = preprocessor.transform(X_raw)
        if preprocessor.transforms_targets:
            y = preprocessor.training_targets(X_raw, y)
        return X, y, stream_max if use_stream_max else None

    train = arrays("train")
    if use_stream_max:
        _warn_large_stream_max(ds, train[2])
    test = arrays("test") if "test" in ds.splits and len(ds.splits["test"]) else None
    return PreparedData(ds, preprocessor, train, arrays("val"), test, use_stream_max)


def _warn_large_stream_max(ds: Dataset, stream_max: np.ndarray | None) -> None:
    """Say when the raw stream_max input is large enough to swamp the model's head (STREAM_MAX_LARGE)."""
    median = float(np.median(stream_max)) if stream_max is not None and len(stream_max) else 0.0
    if median > STREAM_MAX_LARGE:
        warnings.warn(
            f"{ds.name!r}: the model takes stream_max, each series' raw maximum |x|, unscaled into its head (Otović "
            f"et al.'s design); on these training series its median is {median:,.0f}, which swamps the head's other "
            "inputs (near unit scale) and ties the model to the data's units: pass use_stream_max=False to drop it.",
            stacklevel=3,
        )


def split_scores(model: TimeSeriesModel, prep: PreparedData, split: str, batch_size: int = 256) -> dict[str, float]:
    """Task metrics of ``model`` on a prepared split; for regression on the targets' raw scale (outputs mapped
    back), as ``predict`` gives them, not on the scale the network trained on."""
    data: Arrays = getattr(prep, split)
    if not prep.preprocessor.transforms_targets:
        return _without_loss(evaluate(model, data, prep.dataset.task, batch_size=batch_size))
    X_raw, y = prep.dataset.split(split)
    outputs = predict_outputs(model, data[0], data[2], batch_size=batch_size)
    values = prep.preprocessor.raw_targets(X_raw, outputs.numpy())
    return task_metrics("regression", y, decode_outputs("regression", torch.from_numpy(values)))


def fresh_model_like(
    source: TimeSeriesModel, ds: Dataset, seed: int | None, *, use_stream_max: bool | None = None
) -> TimeSeriesModel:
    """A freshly initialised model of the source's architecture and kwargs, shaped for ``ds`` (with the stream_max
    input when ``use_stream_max``; None: as the source); seeded unless ``seed`` is None (a meta-device skeleton has
    no values to seed, and reseeding costs ~1 ms)."""
    if seed is not None:
        torch.manual_seed(seed)
    return build_model(
        source.arch,
        ds.n_channels,
        ds.n_outputs,
        use_stream_max=source.use_stream_max if use_stream_max is None else use_stream_max,
        input_length=ds.length,
        **source.arch_kwargs,
    )


def _omega_groups(model: TimeSeriesModel, report: TransferReport, omega: float, frozen: bool) -> list[ParamGroup]:
    """Transferred parameters at ω × lr, the rest (head, re-initialised layers) at lr; with a ``frozen`` backbone the
    layers adapted to another channel count, which train while the copied ones do not, train at lr too (ω then sets
    no rate)."""
    transferred = set(report.transferred_parameters) - ({a["name"] for a in report.adapted} if frozen else set())
    params = dict(model.named_parameters())
    return [
        {"name": "transferred", "lr_multiplier": omega, "params": [p for n, p in params.items() if n in transferred]},
        {"name": "new", "lr_multiplier": 1.0, "params": [p for n, p in params.items() if n not in transferred]},
    ]


def _freeze_copied_backbone(model: TimeSeriesModel, report: TransferReport) -> None:
    """Freeze the backbone's parameters copied from the source as they were. An input layer adapted to another
    channel count holds one kernel for every channel (the source's, summed over its channels), and a layer
    re-initialised is random: frozen, the model would see only the sum of its channels, or noise; they train."""
    adapted = {a["name"] for a in report.adapted}
    copied = set(report.transferred_parameters) - adapted
    for name, param in model.named_parameters():
        if name.startswith(BACKBONE_PREFIX) and name in copied:
            param.requires_grad_(False)


def _without_loss(scores: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in scores.items() if k not in ("loss", DATA_LOSS)}


def _result(
    model: TimeSeriesModel,
    prep: PreparedData,
    loop: LoopResult,
    recipe: str,
    config: TrainConfig,
    seed: int,
    start: float,
    extra_meta: dict[str, Any],
    **fields: Any,
) -> FitResult:
    """Evaluate the trained model, attach task/classes/preprocessor/provenance to it, and wrap it all up."""
    ds = prep.dataset
    model.task, model.classes, model.class_values = ds.task, ds.classes, ds.class_values
    model.preprocessor = prep.preprocessor

    result = FitResult(
        model=model,
        metrics=split_scores(model, prep, "test", config.eval_batch_size) if prep.test is not None else {},
        val_metrics=split_scores(model, prep, "val", config.eval_batch_size),
        history=loop.history,
        convergence_rate=None,
        seed=seed,
        recipe=recipe,
        elapsed_s=time.perf_counter() - start + loop.resumed_s,
        best_epoch=loop.best_epoch,
        stop_reason=loop.stop_reason,
        **fields,
    )
    result.convergence_rate = _convergence_rate(loop.history, ds.task)
    naive = naive_forecasts(ds, persistence=ds.task == "regression" and follows_level(ds))
    model.meta = {
        "source_dataset": ds.name,
        "source": _source_record(ds),
        "task": ds.task,
        "splits": {k: int(len(v)) for k, v in ds.splits.items()},
        **({"validation_is_train": True} if validation_is_train(ds) else {}),
        **_held_out_in_time(ds),
        "recipe": recipe,
        "train_config": config.to_dict(),
        "seed": seed,
        "metrics": result.metrics,
        "val_metrics": result.val_metrics,
        "epochs": len(loop.history),
        "best_epoch": loop.best_epoch,
        "stop_reason": loop.stop_reason,
        "convergence_rate": result.convergence_rate,
        "elapsed_s": result.elapsed_s,
        "time_budget_s": config.time_budget_s,
        "device": str(next(model.parameters()).device),
        "train_fingerprint": training_fingerprint(ds),
        **({"naive": naive} if naive else {}),
        **{k: ds.meta[k] for k in ("channel_names", "variable_length") if ds.meta.get(k)},  # files to predict take
        **extra_meta,
    }
    model.training_history = TrainingHistory.from_records(loop.history, loop.best_epoch, loop.stop_reason)
    notes = []
    if result.lr_multiplier is not None and len(result.grid) > 1:
        notes.append(
            f"The curves of the chosen ω = {result.lr_multiplier:g}, one of the {len(result.grid)} the fine-tune tried."
        )
    if prep.preprocessor.relative_target:
        notes.append(
            "The loss curves are on relative targets (each series' normalised space, preprocessing "
            "relative_target); the validation metrics on the targets' raw scale."
        )
    elif prep.preprocessor.target_mean is not None:
        notes.append(
            "The loss curves are on standardised targets (the training split's mean and std per output, "
            "preprocessing target_mean and target_std); the validation metrics on the targets' raw scale."
        )
    if notes:
        model.training_history.note = " ".join(notes)
    return result


def _held_out_in_time(ds: Dataset) -> dict[str, Any]:
    """The protocol of splits tshub carved as purged chronological blocks (sliding windows, or split_order='time'),
    for the checkpoint's meta: its validation (and test) figures are then not those of a random carve. Nothing
    otherwise, so that other checkpoints' meta stays as it was."""
    protocol = ds.meta.get("split_protocol") or {}
    return {"split_protocol": protocol} if protocol.get("rule") == "chronological_holdout" else {}


def _convergence_rate(history: list[dict[str, Any]], task: str) -> float | None:
    """The convergence rate of the validation curve up to the last epoch before training diverged (a non-finite
    loss or curve value: what follows is no learning curve); None when the first epoch already diverged."""
    key = f"val_{curve_metric(task)}"
    curve = [r[key] for r in takewhile(lambda r: math.isfinite(r["loss"]) and math.isfinite(r[key]), history)]
    return convergence_rate(curve, higher_is_better=task == "classification") if curve else None


def training_fingerprint(*datasets: Dataset) -> dict[str, Any]:
    """The content fingerprint of the series a model learned from (train and validation splits), so that the
    recommender can tell a later target made of the same data (``tshub.data.fingerprint``)."""
    return fingerprint(*(ds.X[np.union1d(ds.splits["train"], ds.splits["val"])] for ds in datasets))


def _source_record(ds: Dataset) -> dict[str, Any]:
    """The dataset record model cards show: name, shape, and the provenance strings of ``ds.meta``."""
    record: dict[str, Any] = {"name": ds.name, "channels": ds.n_channels, "length": ds.length}
    record.update({k: ds.meta[k] for k in _SOURCE_KEYS if isinstance(ds.meta.get(k), (str, int, float))})
    return record
