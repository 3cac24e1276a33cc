"""What the hub's public pages show about checkpoints: the filtered, sorted list and one checkpoint's page.

The rows are those of GET /v1/models (``server.app.available_models``: the same listing, the same
TSHUB_SERVER_SOURCES); this module only filters, sorts and renders them.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from huggingface_hub import ModelCard
from markdown_it import MarkdownIt

from server.web.svg import line_plot
from tshub.hub.card import METRIC_NAMES
from tshub.hub.checkpoint import HISTORY_NAME, read_history
from tshub.hub.errors import CheckpointError
from tshub.hub.store import TRAINING_STATUS, training_status

SORTS = {
    "id": "name",
    "metric": "metric, best first (per task)",
    "gain": "gain over reference, best first",
    "size": "size, smallest first",
    "size-desc": "size, largest first",
}
TRAINING_FILTERS = {"converged": "converged (early stopping)", "not-converged": "not converged"}
MAX_PROTOTYPE_CLASSES = 8


@dataclass(frozen=True)
class Filters:
    """The list page's query: free text, exact domain / arch / task, training status, sort key."""

    q: str = ""
    domain: str = ""
    arch: str = ""
    task: str = ""
    training: str = ""
    sort: str = "id"

    def keep(self, row: dict[str, Any]) -> bool:
        text = self.q.strip().casefold()
        converged = row.get("training") == "converged"
        return (
            (not text or any(text in str(row.get(k) or "").casefold() for k in ("id", "source", "domain", "arch")))
            and (not self.domain or row.get("domain") == self.domain)
            and (not self.arch or row.get("arch") == self.arch)
            and (not self.task or row.get("task") == self.task)
            and (self.training != "converged" or converged)
            and (self.training != "not-converged" or not converged)
        )


def browse(rows: list[dict[str, Any]], filters: Filters) -> list[dict[str, Any]]:
    """The rows ``filters`` keeps, sorted as asked (rows without the sort key last), each with its ``gain``."""
    kept = [{**row, "gain": gain(row)} for row in rows if filters.keep(row)]
    key = {
        "metric": lambda r: _best_first(r, r.get("metric_value")),
        "gain": lambda r: (r["gain"] is None, -(r["gain"] or 0.0)),
        "size": lambda r: (r.get("size_bytes") is None, r.get("size_bytes") or 0),
        "size-desc": lambda r: (r.get("size_bytes") is None, -(r.get("size_bytes") or 0)),
    }.get(filters.sort)
    return sorted(kept, key=key) if key else kept


def facets(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The values each filter can take, from the rows themselves."""
    return {name: sorted({str(row[name]) for row in rows if row.get(name)}) for name in ("domain", "arch", "task")}


def gain(row: dict[str, Any]) -> float | None:
    """How much better than its reference the checkpoint scores (positive is better, for MAE too); None where it has
    none, or where the reference was measured on another test split (they do not compare)."""
    value, reference = row.get("metric_value"), row.get("reference_value")
    if value is None or reference is None or row.get("reference_on_other_split"):
        return None
    return value - reference if _higher_is_better(row) else reference - value


def _higher_is_better(row: dict[str, Any]) -> bool:
    return row.get("task") != "regression"


def _best_first(row: dict[str, Any], value: float | None) -> tuple[bool, str, float]:
    """Rows of one task together (accuracy and MAE do not compare), the best first within each."""
    if value is None:
        return True, "", 0.0
    return False, row.get("task") or "", -value if _higher_is_better(row) else value


# ------------------------------------------------------------------------------------------------ one checkpoint
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_card(text: str) -> str:
    """The model card's markdown as HTML, without its YAML metadata. Raw HTML in the card is escaped, not
    rendered (markdown-it with ``html`` off), and markdown-it refuses javascript:/vbscript:/file: links."""
    return _markdown.render(ModelCard(text, ignore_metadata_errors=True).text if text.strip() else "")


def metric_rows(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per metric: test, validation and the reference result's value (None where absent)."""
    test, val = config.get("metrics") or {}, config.get("val_metrics") or {}
    reference = (
        (config.get("reference") or {}).get("metrics") or {} if isinstance(config.get("reference"), dict) else {}
    )
    names = list(dict.fromkeys([*test, *val, *reference]))
    return [
        {
            "name": METRIC_NAMES.get(n, (n, n))[1],
            "key": n,
            "test": test.get(n),
            "val": val.get(n),
            "reference": reference.get(n),
        }
        for n in names
    ]


def training_facts(config: dict[str, Any]) -> list[tuple[str, str]]:
    """How the checkpoint was trained, from what its config records (the curves: ``training_curves``)."""
    meta = config.get("meta") or {}
    facts = [
        ("recipe", config.get("recipe")),
        ("epochs trained", meta.get("epochs")),
        ("weights of epoch", meta.get("best_epoch")),
        ("how it ended", training_status(config)),  # in words: early stopping is "converged"
        ("convergence rate", _fmt(meta.get("convergence_rate"))),
        ("training time", f"{meta['elapsed_s']:.0f} s on {meta.get('device', '?')}" if meta.get("elapsed_s") else None),
        ("seed", meta.get("seed")),
        ("stored as", config.get("dtype")),
    ]
    return [(name, str(value)) for name, value in facts if value is not None]


#: The validation metrics drawn per task (the loss has its own plot; MSE is on another scale than MAE).
CURVE_METRICS = {"classification": ("accuracy", "f1_weighted"), "regression": ("mae",)}


@dataclass(frozen=True)
class TrainingCurves:
    """What the model page shows of a checkpoint's training history: SVG plots and a caption, or why there are none."""

    plots: list[str]
    caption: str = ""
    missing: str = ""


def training_curves(folder: Path, config: dict[str, Any]) -> TrainingCurves:
    """The training and validation loss, and the validation metrics, per epoch (the kept epoch marked), from the
    checkpoint's optional training_history.json; ``missing`` says why there is no plot."""
    task = config.get("task")
    try:
        history = read_history(folder)
    except CheckpointError as err:
        return TrainingCurves([], missing=str(err))
    if history is None or not history.epochs:
        return TrainingCurves(
            [],
            missing=f"This checkpoint has no {HISTORY_NAME}: it was saved before tshub kept "
            "per-epoch curves, so only the final scores and the kept epoch are known.",
        )
    kept = history.kept_epoch
    mark = (kept, f"kept: epoch {kept}")
    losses = [
        (label, history.curve(key))
        for key, label in (("loss", "training loss"), ("val_loss", "validation loss"))
        if key in history.curves
    ]
    metrics = [
        (f"validation {METRIC_NAMES.get(name, (name, name))[1]}", history.curve(f"val_{name}"))
        for name in CURVE_METRICS.get(task or "", ())
        if f"val_{name}" in history.curves
    ]
    plots = [
        line_plot(series, title=title, x_label="epoch", y_label=y_label, mark=mark)
        for series, title, y_label in (
            (losses, "Loss per epoch", "loss"),
            (metrics, "Validation metrics per epoch", "metric"),
        )
        if series
    ]
    facts = [
        f"Weights of epoch {kept} of {history.epochs} kept"
        + (f" (training ended: {TRAINING_STATUS.get(r, r)})" if (r := history.stop_reason) else "")
        + "."
    ]
    changes = history.lr_changes()
    if changes:
        shown = ", ".join(f"epoch {epoch} ({lr:.2g})" for epoch, lr in changes[:8])
        facts.append(f"Learning rate reduced at {shown}{' and later' if len(changes) > 8 else ''}.")
    if (config.get("meta") or {}).get("validation_is_train"):
        facts.append(
            "Its validation split was the training split itself (it trained on every training series): the "
            "validation curves are training figures, not a held-out estimate."
        )
    if history.note:
        facts.append(history.note)
    return TrainingCurves(plots, caption=" ".join(facts))


def _fmt(value: Any) -> str | None:
    return None if value is None else f"{value:.3f}"


@functools.lru_cache(maxsize=1)
def _similarity_index(folder: str, mtime: float) -> Any:
    from tshub.similarity import SimilarityIndex

    return SimilarityIndex.load(folder)


def source_name(config: dict[str, Any]) -> str | None:
    return config.get("source_dataset") or (config.get("source") or {}).get("name")


def prototypes_plot(config: dict[str, Any]) -> tuple[str, str] | None:
    """The source dataset's per-class DBA prototypes (from the recommender's similarity index, which holds them
    for every UCR source) as an SVG plot, first channel, and its caption; None when the index lacks the source."""
    from tshub.similarity.index import DEFAULT_FOLDER, INDEX_FILE

    name = source_name(config)
    path = Path(DEFAULT_FOLDER) / INDEX_FILE
    if not name or not path.is_file():
        return None
    try:
        index = _similarity_index(str(DEFAULT_FOLDER), path.stat().st_mtime)
    except (OSError, ValueError, json.JSONDecodeError):
        return None
    if name not in index:
        return None
    protos = index.prototypes(name)
    shown = protos[:MAX_PROTOTYPE_CLASSES]
    more = f" (first {len(shown)} of {len(protos)} classes)" if len(protos) > len(shown) else ""
    plot = line_plot(
        [(f"class {label}", [float(v) for v in proto[0]]) for label, proto in shown],
        title=f"{name}: per-class DBA prototypes of the training split{more}",
        x_label="time step",
        y_label="z-normalised value",
    )
    return plot, (
        f"Per-class DBA prototypes of {name}'s training split{more}, first channel (the recommender's "
        "similarity index)."
    )


def example_series(name: str) -> list[tuple[str, list[float]]] | None:
    """A few training series of a catalogue dataset, first channel: the first of each class (at most
    ``MAX_PROTOTYPE_CLASSES``), or the first four of a regression set; None when it cannot be loaded here.
    Meant to run isolated (server.isolation): a source such as LEN-DB is large."""
    import tshub

    try:
        ds = tshub.datasets.load(name)
    except (ValueError, OSError):
        return None
    X, y = ds.split("train") if "train" in ds.splits else (ds.X, ds.y)
    if ds.task == "classification" and ds.classes is not None:
        picks = [(f"class {ds.classes[c]}", int(np.flatnonzero(y == c)[0])) for c in np.unique(y)]
    else:
        picks = [(f"target {float(y[i]):.4g}", i) for i in range(min(4, len(X)))]
    return [(label, X[i, 0].astype(float).tolist()) for label, i in picks[:MAX_PROTOTYPE_CLASSES]]


def examples_plot(name: str, series: list[tuple[str, list[float]]]) -> tuple[str, str]:
    plot = line_plot(series, title=f"{name}: example training series", x_label="time step", y_label="value")
    return plot, (
        f"Example training series of {name} (one per class, or the first ones of a regression set), "
        "first channel, as stored (before the model's preprocessing)."
    )


def snippets(model_id: str, base_url: str, task: str | None) -> dict[str, str]:
    """How to use the checkpoint: in Python, with the CLI, and through this service's API with curl."""
    repo = model_id.replace("/", "-")
    return {
        "Python": (
            f'import tshub\n\nmodel = tshub.load_pretrained("{model_id}")\n'
            f'target = tshub.Dataset.from_file("my_TRAIN.tsv")   # or tshub.datasets.load("GunPoint")\n'
            f'result = model.finetune(target, lr_multiplier="grid")\n'
            f"print(result.metrics)\nresult.model.predict(my_series)  # {'labels' if task != 'regression' else 'targets'}"
            f" of raw (n, channels, time) series\n"
        ),
        "CLI": (
            f"tshub info {model_id}\ntshub pull {model_id}\n"
            f"tshub finetune {model_id} my_TRAIN.tsv --test-file my_TEST.tsv --lr-multiplier grid --out my-model\n"
            f"HF_ENDPOINT={base_url} tshub pull {model_id}   # from this server's Hub API\n"
        ),
        "curl": (
            f"T=...   # your token: tshub token create --name NAME\n"
            f'D=$(curl -s -H "Authorization: Bearer $T" -F file=@my_TRAIN.tsv {base_url}/v1/datasets '
            f"| python -c 'import json,sys; print(json.load(sys.stdin)[\"id\"])')\n"
            f'curl -H "Authorization: Bearer $T" -H "Content-Type: application/json" \\\n'
            f'     -d "{{\\"dataset_id\\": \\"$D\\", \\"model\\": \\"{model_id}\\", \\"lr_multiplier\\": \\"grid\\"}}" '
            f"{base_url}/v1/jobs\n"
            f"curl -o {repo}.zip {base_url}/ui/models/{model_id}/checkpoint.zip   # this checkpoint\n"
        ),
    }
