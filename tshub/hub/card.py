"""The model card (README.md) of a checkpoint, generated from its config.json only, never handwritten.

The YAML header is Hub metadata (``huggingface_hub.ModelCardData``: library_name tshub, tags, datasets, metrics
and the model-index of evaluation results); the body documents the source dataset and its citation, the
architecture and its configuration, the preprocessing, the training recipe and budget, the test metrics next to
a published reference where one exists, how to load and fine-tune the model, and its limitations.
"""

from __future__ import annotations

import math
import re
import sys
from typing import Any, TypeGuard

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from tshub.data.preprocess import Preprocessor
from tshub.hub.ids import DEFAULT_NAMESPACE, as_model_id
from tshub.models.registry import get_architecture

# tshub metric key → (Hub metric type, display name); other keys are shown as they are.
METRIC_NAMES = {
    "accuracy": ("accuracy", "Accuracy"),
    "f1_weighted": ("f1", "F1 (weighted)"),
    "mae": ("mae", "MAE"),
    "mse": ("mse", "MSE"),
}
# Facts of the training run (kept in config["meta"] by tshub.training or the publish script) shown on the card.
RUN_KEYS = (
    "seed",
    "epochs",
    "best_epoch",
    "stop_reason",
    "convergence_rate",
    "lr_multiplier",
    "freeze_backbone",
    "parent_dataset",
    "elapsed_s",
    "time_budget_s",
    "device",
)
# config["meta"]["compared"] keys (written by FitResult.record_comparison) → the card's column name and description.
COMPARED_COLUMNS = {
    "from_scratch": ("From scratch", "the architecture from scratch (same recipe, seed and preprocessing)"),
    "minirocket": ("MiniRocket", "MiniRocket (`tshub.baselines`, fitted on the same training split)"),
}

#: ``config["meta"]["naive"]`` keys, a regression's naive forecasts (``tshub.training.naive`` scores them): the
#: training split's mean target, the same for every series (a model no better learned nothing), and each series'
#: last value (recorded only for a forecast of the next values).
TRAINING_MEAN, PERSISTENCE = "training_mean", "persistence"
#: Each naive forecast's column name and description on the card.
NAIVE_COLUMNS = {
    TRAINING_MEAN: ("Training mean", "the training split's mean target, the same forecast for every series"),
    PERSISTENCE: ("Persistence", "each series' last value, the naive forecast of the values that follow it"),
}


def build_model_card(config: dict[str, Any]) -> ModelCard:
    """The card of the checkpoint described by ``config`` (the dict written to config.json)."""
    data = card_data(config)
    body = "\n\n".join(
        section
        for section in (
            _title(config),
            _summary(config),
            _source_section(config),
            _architecture_section(config),
            _preprocessing_section(config),
            _training_section(config),
            _evaluation_section(config),
            _usage_section(config),
            _limitations_section(config),
        )
        if section
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")


def card_data(config: dict[str, Any]) -> ModelCardData:
    """Hub metadata: library, tags, datasets, metrics and one evaluation result per test metric."""
    source = source_info(config)
    task = config.get("task") or "unknown-task"
    metrics = config.get("metrics") or {}
    results = [
        EvalResult(
            task_type=f"time-series-{task}",
            task_name=f"Time series {task}",
            dataset_type=source.get("hf_dataset", source["name"]),
            dataset_name=source["name"],
            dataset_split="test",
            metric_type=METRIC_NAMES.get(k, (k, k))[0],
            metric_name=METRIC_NAMES.get(k, (k, k))[1],
            metric_value=v,
            metric_args={"average": "weighted"} if k == "f1_weighted" else None,
        )
        for k, v in metrics.items()
        if isinstance(v, (int, float))
    ]
    tags = ["tshub", "time-series", f"time-series-{task}", config["arch"], "pytorch", "safetensors"]
    if source.get("domain"):  # "UCR/Motion" → "ucr-motion": Hub tags are plain words
        tags.append(re.sub(r"[^a-z0-9]+", "-", str(source["domain"]).lower()).strip("-"))
    if parent_words(config):
        tags.append("transfer-learning")
    return ModelCardData(
        library_name="tshub",
        license=config.get("license"),
        tags=tags,
        datasets=[source.get("hf_dataset", source["name"])] if source["name"] != "unknown" else None,
        metrics=sorted({r.metric_type for r in results}) or None,
        model_name=model_name(config),
        eval_results=results or None,
        base_model=_base_model(config),
    )


def source_info(config: dict[str, Any]) -> dict[str, Any]:
    """The source dataset record, ``{"name": ...}`` at least, from "source" (a record or a name) or "source_dataset"."""
    source = config.get("source")
    record = dict(source) if isinstance(source, dict) else {"name": source} if source else {}
    return {**record, "name": record.get("name") or config.get("source_dataset") or "unknown"}


def model_name(config: dict[str, Any]) -> str:
    return loadable_name(config) or f"{source_info(config)['name']}-{config['arch']}"


def loadable_name(config: dict[str, Any]) -> str | None:
    """What ``load_pretrained`` and ``tshub pull`` take to fetch this checkpoint: its id, unless it lives in a repo
    other than its id's own in the tshub namespace (a copy pushed elsewhere: the id would fetch the original, for a
    reader whose ``$TSHUB_NAMESPACE`` is not the pusher's), then its repo; None for a checkpoint with neither."""
    model_id, repo = as_model_id(str(config.get("id") or "")), config.get("repo_id")
    if model_id is not None and isinstance(repo, str) and model_id.repo_id(DEFAULT_NAMESPACE) != repo:
        return repo
    return config.get("id") or repo


def _base_model(config: dict[str, Any]) -> str | None:
    """The Hub repo a fine-tune started from: the one it was loaded from, else its parent id's own repo."""
    parent = config.get("parent")
    if not isinstance(parent, str):
        return None
    repo = (config.get("meta") or {}).get("parent_repo")
    if isinstance(repo, str):
        return repo
    model_id = as_model_id(parent)
    return model_id.repo_id() if model_id else parent


def parent_words(config: dict[str, Any]) -> str | None:
    """The checkpoint a fine-tune started from, as the card names it: its id, or for one without (loaded from a
    folder, or held in memory) its architecture, source and weights digest; None for a model trained from scratch."""
    if config.get("parent"):
        return str(config["parent"])
    meta = config.get("meta") or {}
    if not meta.get("parent_weights"):
        return None
    on = f" pretrained on {meta['parent_dataset']}" if meta.get("parent_dataset") else ""
    return f"an unnamed `{config['arch']}` checkpoint{on} (weights digest `{meta['parent_weights']}`)"


def _title(config: dict[str, Any]) -> str:
    source, parent = source_info(config)["name"], parent_words(config)
    what = f"fine-tuned from {parent} on {source}" if parent else f"pretrained on {source}"
    task = config.get("task") or "time series"
    return f"# {model_name(config)}\n\nA {task} model with the `{config['arch']}` architecture, {what}, saved by tshub."


def _length_words(config: dict[str, Any]) -> str:
    """The series length the model takes: its own, its preprocessing's (a minmax_mask is a mean per time step of
    the training series), or any."""
    if config.get("input_length"):
        return f"{config['input_length']} samples (fixed)"
    if (config.get("preprocessing") or {}).get("kind") == "minmax_mask":
        return "the length of its training series (its minmax_mask preprocessing is a mean per time step)"
    return "any length"


def input_form(meta: dict[str, Any]) -> list[str]:
    """What a model trained on a file learned of its series' form, which files to predict on are given alike: the
    channels' names (a long table's), and how series of unequal lengths were equalised."""
    words = []
    if names := meta.get("channel_names"):
        words.append(f"channels {', '.join(map(str, names))}")
    if lengths := meta.get("variable_length"):
        words.append(f"training {equalised_words(lengths)}")
    return words


def equalised_words(lengths: dict[str, Any]) -> str:
    """``series of 7-29 steps, padded to 29``: how a reader equalised series of unequal lengths (its record,
    ``meta["variable_length"]``)."""
    done = {"truncate": "truncated", "pad": "padded", "resample": "resampled"}.get(str(lengths.get("method")), "made")
    return f"series of {lengths.get('min_length')}-{lengths.get('max_length')} steps, {done} to {lengths.get('length')}"


def _summary(config: dict[str, Any]) -> str:
    classes = config.get("classes")
    task = config.get("task") or "unknown"
    if classes:
        shown = ", ".join(map(str, classes[:10])) + (", …" if len(classes) > 10 else "")
        task = f"{task}, {len(classes)} classes: {shown}"
    rows = [
        ("Task", task),
        (
            "Input",
            f"{config['in_channels']} channel(s) × "
            + _length_words(config)
            + "".join(f"; {w}" for w in input_form(config.get("meta") or {})),
        ),
        (
            "Parameters",
            f"{config.get('n_parameters', 0):,} ({human_size(config.get('size_bytes', 0))}, "
            f"stored as {config.get('dtype', 'float32')})",
        ),
        (
            "Checkpoint",
            f"tshub format {config['format_version']}, tshub {config.get('tshub_version', '?')}, "
            f"weights sha256 `{config['weights_sha256'][:16]}…`",
        ),
    ]
    return _table(rows)


def _source_section(config: dict[str, Any]) -> str:
    source = source_info(config)
    lines = [
        "## Source dataset",
        "",
        f"**{source['name']}**"
        + (f" ({source['domain']})" if source.get("domain") else "")
        + (f" — {source['description']}" if source.get("description") else ""),
    ]
    splits = (config.get("meta") or {}).get("splits") or {}
    sizes = [(f"{k} series", v) for k, v in splits.items()]
    sizes += [(k, source[k]) for k in ("channels", "length", "sampling_rate") if k in source]
    if sizes:
        lines += ["", _table(sizes)]
    for key in ("url", "license"):
        if source.get(key):
            lines += ["", f"{key.upper() if key == 'url' else key.capitalize()}: {source[key]}"]
    citation = source.get("citation")
    if citation:
        block = f"```bibtex\n{citation}\n```" if str(citation).lstrip().startswith("@") else f"> {citation}"
        lines += ["", "Cite the dataset when you use this model:", "", block]
    return "\n".join(lines)


def _architecture_section(config: dict[str, Any]) -> str:
    rows = [
        ("arch", f"`{config['arch']}`"),
        ("in_channels", config["in_channels"]),
        ("n_outputs", config["n_outputs"]),
        ("input_length", config.get("input_length")),
        ("use_stream_max", config.get("use_stream_max")),
    ]
    if config.get("heads"):
        rows.append(("heads", f"{len(config['heads'])} (one per source dataset)"))
    rows += [(k, v) for k, v in (config.get("arch_kwargs") or {}).items()]
    doc = _first_line(_arch_module_doc(config["arch"]))
    return "\n".join(["## Architecture", ""] + ([doc, ""] if doc else []) + [_table([(k, _fmt(v)) for k, v in rows])])


def _preprocessing_section(config: dict[str, Any]) -> str:
    pre = config.get("preprocessing")
    if pre is None:
        return "## Preprocessing\n\nNone stored: the model takes series exactly as given."
    cls = Preprocessor.registry.get(pre.get("kind"))
    lines = ["## Preprocessing", "", f"`{pre.get('kind')}`: {_first_line(cls.__doc__ if cls else '')}"]
    if pre.get("relative_target"):
        lines += [
            "",
            "Relative target: the network learned each target in its series' normalised space (the scaling its "
            "input takes) and `predict` maps its outputs back to the raw scale, series by series.",
        ]
    if pre.get("target_mean") is not None:
        scale = ", ".join(f"{m:.6g} ± {s:.6g}" for m, s in zip(pre["target_mean"], pre["target_std"], strict=False))
        lines += [
            "",
            f"Standardised targets: the network learned (y − mean) / std of the training split's targets ({scale} "
            "per output) and `predict` maps its outputs back to the raw scale.",
        ]
    arrays = config.get("preprocessing_arrays") or {}
    if arrays:
        stats = ", ".join(f"`{name}` {tuple(shape)}" for name, shape in arrays.items())
        lines += ["", f"Fitted statistics stored in `model.safetensors` (prefix `preprocessing.`): {stats}."]
    lines += ["", "`model.predict(X_raw)` applies it for you: pass raw float32 series of shape (n, channels, length)."]
    return "\n".join(lines)


def _training_section(config: dict[str, Any]) -> str:
    lines = ["## Training"]
    if parent_words(config):
        meta = config.get("meta") or {}
        revision, repo = meta.get("parent_revision"), meta.get("parent_repo")
        named = f"`{config['parent']}`" if config.get("parent") else str(parent_words(config))
        if repo and repo != config.get("parent"):
            named += f" (Hub repo `{repo}`)"
        lines += ["", f"Fine-tuned from {named}" + (f" at Hub revision `{revision}`." if revision else ".")]
        omega = _omega_line(config.get("meta") or {})
        if omega:
            lines += ["", omega]
    if config.get("recipe"):
        lines += ["", f"Recipe `{config['recipe']}`" + (":" if config.get("train_config") else ".")]
    if config.get("train_config"):
        lines += ["", _table([(k, _fmt(v)) for k, v in config["train_config"].items()])]
    meta = config.get("meta") or {}
    run = [(k, _fmt(meta[k])) for k in RUN_KEYS if meta.get(k) is not None]
    if run:
        lines += ["", "Budget and run:", "", _table(run)]
    return "\n".join(lines) if len(lines) > 1 else ""


def _omega_line(meta: dict[str, Any]) -> str:
    """The ω a fine-tune kept and the grid it was chosen from ("" for a value that is no number: configs are
    untrusted; ω alone for checkpoints saved before the grid was recorded)."""
    chosen, tried = meta.get("lr_multiplier"), meta.get("lr_multipliers_tried")
    if not is_number(chosen):
        return ""
    tried = [v for v in tried if is_number(v)] if isinstance(tried, list) else []
    line = f"ω (the learning-rate multiplier of the transferred layers): {chosen:g}"
    if len(tried) > 1:
        return f"{line}, chosen on the validation split among the {len(tried)} tried: {', '.join(f'{v:g}' for v in tried)}."
    return f"{line}, the only value tried." if tried else f"{line}."


def _evaluation_section(config: dict[str, Any]) -> str:
    metrics = config.get("metrics") or {}
    if not metrics:
        return "## Evaluation\n\nNo test metrics were recorded for this checkpoint."
    reference = config.get("reference") or {}
    ref_metrics = reference.get("metrics", {}) if isinstance(reference, dict) else {}
    ref_name = reference.get("name", "published reference") if isinstance(reference, dict) else ""
    header = (_metric_header(config), "This model") + ((f"Reference: {ref_name}",) if ref_metrics else ())
    rows = [
        (METRIC_NAMES.get(k, (k, k))[1], _fmt(v)) + ((_fmt(ref_metrics.get(k, "—")),) if ref_metrics else ())
        for k, v in metrics.items()
    ]
    lines = ["## Evaluation", "", _table(rows, header)] + _comparison(config, metrics) + _naive(config, metrics)
    if config.get("val_metrics"):
        shown = ", ".join(f"{METRIC_NAMES.get(k, (k, k))[1]} {_fmt(v)}" for k, v in config["val_metrics"].items())
        if (config.get("meta") or {}).get("validation_is_train"):
            lines += ["", f"Training split (it doubled as validation split, so this is no held-out estimate): {shown}."]
        else:
            lines += ["", f"Validation split: {shown}."]
    if ref_metrics and (reference.get("citation") or reference.get("url")):
        lines += ["", f"Reference: {reference.get('citation', '')} {reference.get('url', '')}".rstrip()]
    elif not ref_metrics:
        lines += ["", "No published reference result exists for this source and architecture."]
    return "\n".join(lines)


def _metric_header(config: dict[str, Any]) -> str:
    """A fine-tune was tested on the test split of the dataset it was fine-tuned on: the header names it."""
    return (
        f"Metric ({source_info(config)['name']} test split)" if parent_words(config) else "Metric (source test split)"
    )


def _comparison(config: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    """The test metrics of the referents trained beside a fine-tune on its splits (``meta["compared"]``), if any."""
    compared = (config.get("meta") or {}).get("compared")
    columns = [
        (*COMPARED_COLUMNS[key], compared[key])
        for key in COMPARED_COLUMNS
        if isinstance(compared, dict) and isinstance(compared.get(key), dict)
    ]
    if not columns:
        return []
    trained = " and ".join(description for _, description, _ in columns)
    return [
        "",
        "### Compared on the same splits",
        "",
        f"Trained in the same call as this fine-tune, on its training, validation and test splits: {trained}.",
        "",
        _scores_table(config, metrics, columns),
    ]


def _naive(config: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    """The test metrics of a regression's naive forecasts (``meta["naive"]``), if any, and whether this model beats
    each: a regression's error means little beside nothing, and a model that does not beat the training mean
    learned nothing."""
    naive = naive_test_metrics(config)
    if not naive:
        return []
    columns = [(*NAIVE_COLUMNS[key], scores) for key, scores in naive.items()]
    said = "; ".join(f"{label}: {description}" for label, description, _ in columns)
    verdicts = naive_verdicts(metrics, naive)
    return [
        "",
        "### Naive forecasts on the same test split",
        "",
        f"{said}.",
        "",
        _scores_table(config, metrics, columns),
    ] + (["", " ".join(verdicts)] if verdicts else [])


def naive_test_metrics(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The test metrics of each naive forecast a regression checkpoint recorded (``meta["naive"]``, written by
    ``tshub.training.naive.naive_forecasts``), by its key; empty for a classifier."""
    naive = (config.get("meta") or {}).get("naive")
    return {
        key: forecast["metrics"]
        for key in NAIVE_COLUMNS
        if isinstance(naive, dict)
        and isinstance(forecast := naive.get(key), dict)
        and isinstance(forecast.get("metrics"), dict)
        and forecast["metrics"]
    }


def naive_verdicts(
    metrics: dict[str, Any], naive: dict[str, dict[str, Any]], scored_on: str = "the test split"
) -> list[str]:
    """A sentence per naive forecast (``naive``: its metrics by key, as ``naive_test_metrics`` gives them) saying
    whether the model, of ``metrics`` on the same series, beats it by MAE (lower is better), the headline metric of
    a regression, and by MSE where that verdict differs: the loss it minimises, by which a model no better than the
    training mean learned nothing (``tshub.hub.store.learned_nothing``: `tshub list`'s "!"). The card, `tshub info`
    and `tshub predict` say it alike."""
    sentences = []
    for key, scores in naive.items():
        ours, theirs = metrics.get("mae"), scores.get("mae")
        if key not in NAIVE_COLUMNS or not (is_number(ours) and is_number(theirs)):
            continue
        label, description = NAIVE_COLUMNS[key]
        verb = "beats" if ours < theirs else "does NOT beat"
        by_mse = ""
        if is_number(mse := metrics.get("mse")) and is_number(naive_mse := scores.get("mse")):
            if (mse < naive_mse) != (ours < theirs):
                by_mse = f"; by MSE, the loss it minimises, it {'beats' if mse < naive_mse else 'does NOT beat'} it"
                by_mse += f" ({mse:.4g} vs {naive_mse:.4g})"
        sentences.append(
            f"This model {verb} the {label.lower()} forecast ({description}): MAE {ours:.4g} vs {theirs:.4g} "
            f"on {scored_on}{by_mse}."
        )
    return sentences


def _scores_table(config: dict[str, Any], metrics: dict[str, Any], columns: list[tuple[str, str, Any]]) -> str:
    """This model's test metrics beside those of ``columns`` (label, description, their test metrics)."""
    header = (_metric_header(config), "This model") + tuple(label for label, _, _ in columns)
    rows = [
        (METRIC_NAMES.get(k, (k, k))[1], _fmt(v))
        + tuple(_fmt(scores[k]) if is_number(scores.get(k)) else "—" for _, _, scores in columns)
        for k, v in metrics.items()
    ]
    return _table(rows, header)


def _usage_section(config: dict[str, Any]) -> str:
    named = loadable_name(config)
    name = named or "path/to/checkpoint"  # a folder: `tshub pull` fetches only ids and Hub repos
    heads = config.get("heads") or {}
    # a multi-head model predicts with one source dataset's head, which it must be told
    on = f', head="{next(iter(heads))}"' if isinstance(heads, dict) and heads else ""
    predict = f"{'labels' if config.get('task') == 'classification' else 'values'} = model.predict(X_raw{on})"
    # a fine-tune is for new series of the dataset it was fine-tuned on
    series = f"new {source_info(config)['name']} series, raw float32" if parent_words(config) else "raw float32 series"
    return "\n".join(
        [
            "## How to use",
            "",
            "```python",
            "import tshub",
            "",
            f'model = tshub.load_pretrained("{name}")',
            f"{predict}          # {series} (n, channels, length); preprocessing is applied for you",
            "",
            *(_finetune_further() if parent_words(config) else _finetune_on_coffee()),
            'result = model.finetune(target, lr_multiplier="grid")  # new head, ω chosen on validation',
            "result.metrics, result.transfer_report",
            'result.model.save_pretrained("my-finetuned-model")',
            "```",
            "",
            "From the shell:",
            "",
            "```",
            *([f"tshub pull {name}"] if named else []),
            f"tshub info {name}",
            f"tshub finetune {name} {'my-data.csv' if parent_words(config) else 'Coffee'} --lr-multiplier grid "
            "--out my-finetuned-model",
            "```",
        ]
    )


def _finetune_on_coffee() -> list[str]:
    """A pretrained model's example target: any catalogue dataset."""
    return ['target = tshub.datasets.load("Coffee")   # any catalogue name, or tshub.Dataset.from_arrays(X, y)']


def _finetune_further() -> list[str]:
    """A fine-tuned model predicts on new series of its own dataset; fine-tuning it again is for another dataset,
    never named here (an example catalogue name could be its own dataset)."""
    return [
        "# optional: fine-tune it further on another dataset (this model becomes the parent)",
        "target = tshub.Dataset.from_arrays(X, y)   # your data, or tshub.datasets.load(<catalogue name>)",
    ]


def _limitations_section(config: dict[str, Any]) -> str:
    source = source_info(config)
    items = []
    if config.get("classes"):
        items.append(
            f"Outputs are the {len(config['classes'])} classes of {source['name']}; "
            "fine-tune (the head is replaced) for any other label set or task."
        )
    elif config.get("task") == "regression":
        items.append(f"Outputs are on the target scale of {source['name']}; fine-tune for another target.")
    if config.get("input_length"):
        items.append(
            f"Length-bound layers expect exactly {config['input_length']} samples; "
            "fine-tuning rebuilds them for another length."
        )
    if (config.get("preprocessing") or {}).get("kind") == "minmax_mask":
        items.append(
            "The train mask is fitted to one (channels, length) shape; series of another shape need "
            "fine-tuning, which refits it."
        )
    if config.get("use_stream_max"):
        items.append(
            "The model uses the raw amplitude (stream_max) of every series: give it raw, not pre-normalised, data."
        )
    if config.get("heads"):
        items.append("Multi-head: pick a source head with `head=<name>` or fine-tune, which gives it one head.")
        if not config.get("head_statistics"):
            items.append(
                "Its heads share one set of BatchNorm running statistics, averaged over datasets that training "
                "never mixed in a batch: each head's metrics understate what its weights learned."
            )
    if config.get("dtype", "float32") != "float32":
        items.append(
            f"Weights are stored in {config['dtype']} and load as float32: outputs can differ from the "
            "trained float32 model in the third decimal."
        )
    items.append("Metrics come from one split and one training run; expect run-to-run variation.")
    extra = config.get("limitations")
    items += extra if isinstance(extra, list) else [extra] if extra else []
    return "\n".join(["## Limitations", ""] + [f"- {item}" for item in items])


def _arch_module_doc(arch: str) -> str:
    try:
        return sys.modules[get_architecture(arch).__module__].__doc__ or ""
    except KeyError:
        return ""


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n\n")[0].replace("\n", " ")


def is_number(value: Any) -> TypeGuard[int | float]:
    """A JSON number of a config (a bool is none)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    """Metrics and hyper-parameters: 4 significant digits for floats (1e-3 stays 0.001), "—" for None."""
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def human_size(n_bytes: int) -> str:
    """Bytes in decimal units: 1234567 → "1.2 MB"."""
    if n_bytes < 1000:
        return f"{n_bytes} B"
    exponent = min(int(math.log10(n_bytes) // 3), 3)
    return f"{n_bytes / 1000**exponent:.1f} {('kB', 'MB', 'GB')[exponent - 1]}"


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...] = ("", "")) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)
