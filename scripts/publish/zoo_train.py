"""Train one manifest entry and gather everything its card reports: source record, metrics of the *stored*
weights, the reference result, limitations and the build record.

Test metrics are measured on the weights as stored (float16 entries: after the float16 round trip), so the card
states what ``load_pretrained`` gives; the float32 metrics of the trained model are kept beside them in
``meta.float32_metrics``, which records the effect of the storage dtype for every checkpoint.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from zoo_manifest import BUILD_VERSION, SP500_PLAIN_CONVNETQUAKE_NOTE, Entry

from tshub.data.catalogue import TRAIN_ONLY, UCR_CITATION, load
from tshub.data.dataset import Dataset
from tshub.data.splits import random_split, train_as_validation
from tshub.hub.checkpoint import DTYPES, stored_state
from tshub.models.base import TimeSeriesModel
from tshub.training import train_from_scratch
from tshub.training.loop import evaluate, resolve_device
from tshub.training.metrics import task_metrics
from tshub.training.multihead import HeadView, pretrain_multihead
from tshub.training.precision import emulated_bf16

UCR_URL = "https://www.cs.ucr.edu/~eamonn/time_series_data_2018/"
TRAIN_ONLY_TEST_FRACTION = 0.2
ACCURACY_GAP = 0.10  # a classifier this far below its reference gets a limitation saying so and why
SOURCE_NOTES: dict[str, dict[str, Any]] = {
    "EMG": {
        "description": "Donati et al. Myo-armband forearm EMG, Roshambo part (rock / paper / scissors), as Otović "
        "et al. (2022) windowed it: 400 ms windows (80 samples at 200 Hz) every 50 ms, channels 0, 2 "
        "and 5, single-gesture windows only, per-class random 70/15/15 train/val/test split.",
        "url": "https://doi.org/10.5281/zenodo.3194792",
        "limitations": [
            "Overlapping windows of one recording fall into different splits (Otović et al.'s per-class random "
            "split), so the test accuracy is optimistic for new recordings or new subjects.",
            "Otović et al. (2022) report their source models in the paper only; no result file is available to "
            "tshub, so the card shows no reference.",
        ],
    },
    "SP500": {
        "description": "S&P 500 index (^GSPC) daily Close, 1927-12-30 to 2018-11-26: 50 consecutive Close prices → "
        "the next Close (raw index points, not scaled), split chronologically 70/15/15 before "
        "windowing as in Otović et al. (2022); the test split is the most recent period.",
        "url": "https://finance.yahoo.com/quote/%5EGSPC/history",
        "limitations": [
            "Test prices (2005–2018) lie far above every training price (1927–1991): a model fed the raw price "
            "level (a raw-price target, or Otović et al.'s stream_max input) has to extrapolate it. Compare its "
            "MAE with the naive persistence forecast shown as reference.",
        ],
    },
}
#: What each ``Entry.target_scaling`` changes from the source's protocol, said on the card (a departure from
#: Otović et al., who trained SP500 on the raw Close price).
TARGET_SCALING_NOTES = {
    "relative": "Departure from Otović et al.'s protocol (raw-price target): the network learned the next Close in "
    "its window's min–max space, (y − window min) / (window max − window min), and the checkpoint maps its output "
    "back (config.json `preprocessing.relative_target`), so `predict` returns raw index points; it no longer has to "
    "extrapolate the price level (bench/sp500_relative_target.py).",
}
#: Said on the card of a regression trained on its raw targets' scale, which the library standardises.
STANDARDISED_TARGET_NOTE = (
    "Departure from Otović et al.'s protocol (raw targets): the targets were standardised during training (the "
    "training split's mean and std, tshub's default for regression) and the checkpoint maps its output back "
    "(config.json `preprocessing.target_mean`, `target_std`), so `predict` returns the raw scale."
)
NO_STREAM_MAX_NOTE = (
    "Departure from Otović et al.'s protocol: no stream_max input (they feed the raw per-window max |x| to every "
    "model but STEAD's); its raw level is what a relative target spares the model (bench/sp500_relative_target.py). "
    "Models fine-tuned from this checkpoint take no stream_max either."
)


@dataclass
class Built:
    """A trained entry: the model (float32) and the fields and extra card sections of its checkpoint."""

    model: TimeSeriesModel
    fields: dict[str, Any]
    head_rows: list[dict[str, Any]] = field(default_factory=list)  # multi-head: one row per head for the card


def build_entry(
    entry: Entry, *, device: str | None = None, progress: bool = False, state_path: str | Path | None = None
) -> Built:
    """Train ``entry`` and measure it as it will be stored; ``state_path`` makes the training resumable, and keeps
    the ended training's state there for the caller to remove once the checkpoint is stored (a kill while the test
    split is scored or the card written then costs no training)."""
    build = _build_multihead if entry.multihead else _build_single
    built = build(entry, device, progress, state_path)
    meta = built.model.meta
    built.fields["build"] = {
        "recipe_hash": entry.recipe_hash(),
        "build_version": BUILD_VERSION,
        "entry": entry.to_dict(),
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "threads": torch.get_num_threads(),
    }
    if entry.dtype != "float32":
        stored, float32 = built.fields["metrics"], built.fields["float32_metrics"]
        shown = ", ".join(f"{k} {stored[k]:.4g} (float32: {float32[k]:.4g})" for k in stored)
        built.fields["limitations"].append(f"Test metrics are those of the {entry.dtype} weights as stored: {shown}.")
    if entry.bf16 and not meta["train_config"]["bf16"]:
        built.fields["limitations"].append(
            "Trained in float32: its recipe asks bfloat16 autocast, which the CPU that built it emulates (no AVX512-bf16 "
            "or AMX) at several times float32's cost; the two gave the same accuracy in a paired test (tshub's "
            "bench/results/bf16_accuracy.md)."
        )
    if meta.get("stop_reason") == "max_epochs":
        built.fields["limitations"].append(_max_epochs_sentence(meta))
    return built


def _max_epochs_sentence(meta: dict[str, Any]) -> str:
    """What a training stopped by its maximum epochs says of convergence: its best validation score came within
    the early-stopping patience of the end (or it has none), which is all the stop tells; "still improving" when it
    came in the last epochs."""
    epochs, best = meta["epochs"], meta.get("best_epoch")
    patience = (meta.get("train_config") or {}).get("early_stopping_patience")
    score = "loss" if meta.get("task") == "regression" else "score (accuracy, then loss at equal accuracy)"
    said = f"Training ran its recipe's maximum of {epochs} epochs without early stopping"
    if best is None or patience is None:
        return f"{said}, so it may not have converged."
    since = epochs - best
    if since <= max(1, patience // 10):
        return (
            f"{said}: its validation {score} was still improving, its best at "
            f"epoch {best}, so it may not have converged."
        )
    return (
        f"{said}: its best validation {score} came at epoch {best}, {since} "
        f"epochs before the end, within the {patience} epochs early stopping waits; it may not have converged."
    )


def load_source(name: str, validation: str = "split") -> Dataset:
    """The catalogue dataset with a test split (train-only UCR sets: a stratified one carved from train) and the
    training split doubling as validation split when the entry asks for it (``validation="train"``) or when every
    class has a single training series (Fungi); otherwise the training loop carves its validation split."""
    ds = load(name)
    if ds.meta.get("collection") == TRAIN_ONLY:
        fractions = {"train": 1 - TRAIN_ONLY_TEST_FRACTION, "test": TRAIN_ONLY_TEST_FRACTION}
        ds = random_split(ds, fractions, seed=0, stratify=True)
    if validation == "train":
        return train_as_validation(ds, "chosen")
    if ds.task == "classification" and np.bincount(ds.split("train")[1]).max() < 2:
        return train_as_validation(ds, "one series per class")
    return ds


def roundtrip(model: TimeSeriesModel, dtype: str) -> TimeSeriesModel:
    """A copy of ``model`` holding the tensors a checkpoint of ``dtype`` stores (``stored_state``: float16 where it
    holds a tensor, float32 where a value would overflow it) back in the model's dtypes: what loading will give."""
    if dtype == "float32":
        return model
    kept = stored_state(model, DTYPES[dtype])
    stored = copy.deepcopy(model)
    with torch.no_grad():
        for name, tensor in stored.state_dict().items():
            tensor.copy_(kept[name].to(tensor.dtype))
    return stored


def split_metrics(model: TimeSeriesModel, ds: Dataset, split: str = "test") -> dict[str, float]:
    """Metrics of ``model.predict`` on the raw series of ``split`` (the path every user takes)."""
    X, y = ds.split(split)
    truth = np.asarray(ds.classes)[y] if ds.task == "classification" else y
    return task_metrics(ds.task, truth, model.predict(X))


# ---------------------------------------------------------------------------------------------------- single
def trains_in_bf16(entry: Entry, device: str | None) -> bool:
    """The entry's bf16 where the device computes it: a CPU whose oneDNN emulates bf16 (an FCN step at 11x float32's
    time on a Zen 3 EPYC, bench/results/fcn_step_zen3.md) trains it in float32, which a paired test found as
    accurate (bf16_accuracy.md); the checkpoint's train_config records which. The recipe hash stays the entry's, so
    the zoo's build goes on, at each machine's best speed, on whatever CPU a session has."""
    return entry.bf16 and not emulated_bf16(resolve_device(device))


def _build_single(entry: Entry, device: str | None, progress: bool, state_path: str | Path | None) -> Built:
    ds = load_source(entry.source, entry.validation)
    if entry.target_scaling not in (None, *TARGET_SCALING_NOTES):
        raise ValueError(
            f"{entry.id}: target_scaling must be None or one of {sorted(TARGET_SCALING_NOTES)}, "
            f"got {entry.target_scaling!r}."
        )
    result = train_from_scratch(
        entry.arch,
        ds,
        seed=entry.seed,
        recipe=entry.recipe,
        max_epochs=entry.max_epochs,
        preprocessing=entry.preprocessing,
        use_stream_max=entry.use_stream_max,
        relative_target=entry.target_scaling == "relative",
        arch_kwargs=entry.arch_kwargs,
        bf16=trains_in_bf16(entry, device),
        device=device,
        progress=progress,
        state_path=state_path,
        keep_state=state_path is not None,
    )
    model = result.model
    float32_metrics, val_metrics = result.metrics, result.val_metrics
    stored = roundtrip(model, entry.dtype)
    fields: dict[str, Any] = {
        "id": entry.id,
        "source": _source_record(ds, model.meta["source"]),
        "metrics": float32_metrics if stored is model else split_metrics(stored, ds),
        "val_metrics": val_metrics,
        "float32_metrics": float32_metrics,
        "limitations": _limitations(ds, entry),
    }
    reference = _reference(ds)
    if reference:
        fields["reference"] = reference
        fields["limitations"] += _below_reference(fields["metrics"], fields["val_metrics"], reference, model.meta)
        fields["limitations"] += _beats_reference(fields["metrics"], reference)
    return Built(model, fields)


def _source_record(ds: Dataset, record: dict[str, Any]) -> dict[str, Any]:
    """The training package's source record, completed with what the card should say about this source."""
    record = dict(record)
    notes = SOURCE_NOTES.get(ds.name.upper(), {})
    record.update({k: v for k, v in notes.items() if k in ("description", "url")})
    if ds.meta.get("archive") == "UCR 2018":
        published = ds.meta.get("published") or {}
        record["url"] = UCR_URL
        val = {
            "chosen": "trained on every training series, the training split doubling as validation split",
            "one series per class": "the training split doubles as validation split (one training series per class)",
        }.get(
            ds.meta.get("train_as_validation"),
            "validation split carved from train (20 %, stratified, seed 0) for early stopping",
        )
        test = (
            "test split carved from train (the official TEST file is not available)"
            if ds.meta["collection"] == TRAIN_ONLY
            else "official test split"
        )
        record["description"] = (
            f"UCR 2018 archive ({ds.meta['collection']}), type {published.get('type', '?')}, "
            f"{len(ds.classes)} classes; {val}; {test}."
        )
    return record


def _reference(ds: Dataset) -> dict[str, Any] | None:
    """UCR: the archive's 1-NN DTW accuracy; SP500: the persistence forecast on the same test split."""
    published = ds.meta.get("published") or {}
    if published.get("error_1nn_dtw_learned_w") is not None:
        name = "1-NN DTW, learned window (UCR archive, DataSummary_UCR.csv)"
        elsewhere = ds.meta.get("collection") == TRAIN_ONLY
        if elsewhere:
            name += ", on the official test split (not this model's test split)"
        return {
            "name": name,
            "metrics": {"accuracy": 1 - float(published["error_1nn_dtw_learned_w"])},
            "citation": UCR_CITATION,
            "url": UCR_URL,
            **({"on_other_split": True} if elsewhere else {}),
        }
    if ds.name.upper() == "SP500":
        X, y = ds.split("test")
        return {
            "name": "naive persistence forecast (next Close = last Close), same test split; not a published result",
            "metrics": task_metrics("regression", y, X[:, 0, -1]),
        }
    return None


def _how_much_higher(ours: float, theirs: float) -> str:
    """A ratio for gross gaps ("4.3× worse"), a percentage for narrow ones ("0.4% higher", not "1.0× worse")."""
    return f"{ours / theirs:.1f}× worse" if ours >= 1.5 * theirs else f"{100 * (ours / theirs - 1):.1f}% higher"


def _below_reference(
    metrics: dict[str, float], val_metrics: dict[str, float], reference: dict[str, Any], meta: dict[str, Any]
) -> list[str]:
    """Plain sentences when the checkpoint does worse than its reference: any higher MAE (regression), or an
    accuracy more than ACCURACY_GAP below it, with the facts that explain it (split sizes, validation vs test)."""
    name = _reference_name(reference)
    ours, theirs = metrics.get("mae"), reference["metrics"].get("mae")
    if ours is not None and theirs is not None and ours > theirs:
        return [
            f"This model does NOT beat its reference, the {name}: test MAE {ours:.4g} vs {theirs:.4g} "
            f"({_how_much_higher(ours, theirs)}). Use it as a pretrained start, not as a forecaster."
        ]
    ours, theirs = metrics.get("accuracy"), reference["metrics"].get("accuracy")
    if ours is None or theirs is None or ours >= theirs - ACCURACY_GAP:
        return []
    splits, val = meta.get("splits") or {}, val_metrics.get("accuracy")
    chosen_on = (
        "those same series" if meta.get("validation_is_train") else f"{splits.get('val', '?')} validation series"
    )
    facts = [
        f"it trained on {splits.get('train', '?')} series and chose its weights (epoch {meta.get('best_epoch')} "
        f"of {meta.get('epochs')}, {meta.get('stop_reason')}) on {chosen_on}"
    ]
    if meta.get("validation_is_train"):
        facts.append("with no held-out series, the training figures could not tell when it began to overfit")
    elif val is not None and val - ours > ACCURACY_GAP:
        facts.append(
            f"where it scored {val:.3f}: the validation split is too small or unlike the test split to select well"
        )
    return [
        f"This model is {theirs - ours:.2f} below the {name} ({ours:.3f} vs {theirs:.3f} test accuracy): "
        + "; ".join(facts)
        + ". A nearest-neighbour method suits this dataset better than this checkpoint."
    ]


def _beats_reference(metrics: dict[str, float], reference: dict[str, Any]) -> list[str]:
    """The plain sentence when a regression checkpoint's test MAE is below its reference's (the converse of
    ``_below_reference``), so a regression card always says how it compares."""
    ours, theirs = metrics.get("mae"), reference["metrics"].get("mae")
    if ours is None or theirs is None or ours > theirs:
        return []
    name = _reference_name(reference)
    return [f"This model beats its reference, the {name}: test MAE {ours:.4g} vs {theirs:.4g}."]


def _reference_name(reference: dict[str, Any]) -> str:
    """The reference's name without its source (the first comma's clause), but saying when it was measured on
    another test split than the checkpoint's (a train-only UCR set's), so that no sentence compares the two bare."""
    name = reference["name"].split(",")[0]
    return name + (
        " (measured on the official test split, not this model's)" if reference.get("on_other_split") else ""
    )


def _limitations(ds: Dataset, entry: Entry) -> list[str]:
    items = list(SOURCE_NOTES.get(ds.name.upper(), {}).get("limitations", []))
    if entry.target_scaling is not None:
        items.append(TARGET_SCALING_NOTES[entry.target_scaling])
    elif ds.task == "regression":
        items.append(STANDARDISED_TARGET_NOTE)
    if entry.preprocessing == "minmax_mask" and not entry.use_stream_max:
        items.append(NO_STREAM_MAX_NOTE)
    if entry.id == "SP500/convnetquake":
        items.append(SP500_PLAIN_CONVNETQUAKE_NOTE)
    if ds.meta.get("collection") == TRAIN_ONLY:
        items.append(
            f"{ds.name} comes from UCRArchive_2018_trainonly: its official TEST file is not available, so "
            f"{TRAIN_ONLY_TEST_FRACTION:.0%} of the official TRAIN split (stratified, seed 0) was held out "
            "as the test split; the metrics are not comparable with results on the official test split."
        )
    if ds.meta.get("train_as_validation") == "chosen":
        items.append(
            f"Trained on every training series of {ds.name}, as bigdata18 did (no split held out): the training split "
            "served as validation, so early stopping and the kept weights follow training accuracy, then training "
            "loss, and the validation figures are training figures, not a held-out estimate. On development sets "
            "this beat holding a fifth out (bench/results/ucr_full_train.md)."
        )
    elif ds.meta.get("train_as_validation"):
        items.append(
            f"Every class of {ds.name} has a single training series, so no validation split could be "
            "carved: the training split served as validation (early stopping and the kept weights follow "
            "training accuracy)."
        )
    return items


# ---------------------------------------------------------------------------------------------------- multi-head
def _build_multihead(entry: Entry, device: str | None, progress: bool, state_path: str | Path | None) -> Built:
    datasets = {name: load_source(name) for name in entry.datasets}
    result = pretrain_multihead(
        entry.arch,
        list(datasets.values()),
        name=entry.source,
        seed=entry.seed,
        recipe=entry.recipe,
        max_epochs=entry.max_epochs,
        preprocessing=entry.preprocessing,
        arch_kwargs=entry.arch_kwargs,
        bf16=trains_in_bf16(entry, device),
        device=device,
        progress=progress,
        state_path=state_path,
        keep_state=state_path is not None,
    )
    model = result.model
    stored = roundtrip(model, entry.dtype)
    head_metrics = model.meta["head_metrics"]
    rows = []
    for name, ds in datasets.items():
        metrics = head_metrics[name]
        metrics["test_float32"], metrics["test"] = metrics["test"], _head_test_metrics(stored, name, ds)
        reference = _reference(ds)
        rows.append(
            {
                "dataset": name,
                "train_only": ds.meta.get("collection") == TRAIN_ONLY,
                "length": ds.length,
                "classes": len(ds.classes),
                **{k: v for k, v in metrics["splits"].items()},
                "accuracy": metrics["test"]["accuracy"],
                "reference": reference["metrics"]["accuracy"] if reference else None,
            }
        )
    metrics = {k: float(np.mean([r["test"][k] for r in head_metrics.values()])) for k in ("accuracy", "f1_weighted")}
    references = [r["reference"] for r in rows if r["reference"] is not None]
    n_train_only = sum(r["train_only"] for r in rows)
    fields: dict[str, Any] = {
        "id": entry.id,
        "metrics": metrics,
        "val_metrics": result.val_metrics,
        "float32_metrics": result.metrics,
        "head_metrics": head_metrics,
        "source": {
            "name": entry.source,
            "domain": "UCR",
            "description": f"{len(datasets)} datasets of the UCR 2018 archive (both folders) with series of "
            f"length ≤ 512, one softmax head each; metrics are means over the heads of each "
            f"head's test accuracy ({n_train_only} train-only sets tested on a split carved "
            "from train); per-dataset results below.",
            "citation": UCR_CITATION,
            "url": UCR_URL,
        },
        "reference": {
            "name": f"mean 1-NN DTW accuracy (learned window) over the same {len(references)} datasets, "
            "each on its official test split (DataSummary_UCR.csv)",
            "metrics": {"accuracy": float(np.mean(references))},
            "citation": UCR_CITATION,
            "url": UCR_URL,
        },
        "limitations": [
            "Kashiparekh et al. (2019) published only the principles used here (multi-length filters in every "
            "layer, one softmax per source); the configuration is tshub's own (see Architecture).",
            "Heads were trained on batches of one dataset at a time, drawn in proportion to each dataset's number "
            "of batches; "
            + (
                "each head normalises by BatchNorm statistics estimated on its own dataset."
                if model.config().get("head_statistics")
                else "the shared BatchNorm statistics mix every dataset."
            ),
        ],
    }
    return Built(model, fields, rows)


def _head_test_metrics(model: TimeSeriesModel, head: str, ds: Dataset) -> dict[str, float]:
    X, y = ds.split("test")
    X, _ = model.preprocessor.transform(X)
    scores = evaluate(HeadView(model, head), (X, y, None), "classification")
    return {k: v for k, v in scores.items() if k != "loss"}
