"""Local stores of checkpoints, searched in order before the Hub: ``$TSHUB_HOME``, ``$TSHUB_ZOO``, the repo's zoo.

A store is a folder laid out as ``<store>/<SOURCE>/<arch>/`` checkpoint folders. The home store is
``$TSHUB_HOME/models`` (default ``~/.cache/tshub/models``; ``tshub pull`` writes there, and the ``models``
subfolder keeps other tshub caches apart); ``$TSHUB_ZOO`` adds read-only folders (``os.pathsep``-separated);
the repository's committed ``zoo/`` folder comes last. A store may hold an ``index.json`` listing published
checkpoints whose weights live only on the Hub, so ``tshub list`` shows them without a download.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tshub.atomic import write_text_atomic
from tshub.hub.card import METRIC_NAMES, TRAINING_MEAN, is_number, source_info
from tshub.hub.checkpoint import CONFIG_NAME, pull_record, read_config
from tshub.hub.errors import CheckpointError
from tshub.hub.ids import ModelId, as_model_id

HOME_ENV = "TSHUB_HOME"
ZOO_ENV = "TSHUB_ZOO"
INDEX_NAME = "index.json"
INDEX_VERSION = 1
PRIMARY_METRIC = {"classification": "accuracy", "regression": "mae"}


@dataclass(frozen=True)
class Store:
    """A folder of ``<SOURCE>/<arch>`` checkpoints and where its location came from (for messages)."""

    root: Path
    origin: str

    def __str__(self) -> str:
        return f"{self.root} ({self.origin})"

    def find(self, model_id: ModelId) -> Path | None:
        """The checkpoint folder of ``model_id`` here (source matched case-insensitively), or None."""
        return next((folder for found, folder in self.checkpoints() if found.key == model_id.key), None)

    def checkpoints(self) -> list[tuple[ModelId, Path]]:
        """Every ``<SOURCE>/<arch>`` folder holding a config.json, with the model id its place names."""
        if not self.root.is_dir():
            return []
        found = []
        for config in sorted(self.root.glob(f"*/*/{CONFIG_NAME}")):
            model_id = as_model_id(f"{config.parent.parent.name}/{config.parent.name}")
            if model_id is not None:
                found.append((model_id, config.parent))
        return found


def home_store() -> Store:
    """The writable store: ``$TSHUB_HOME/models``, default ``~/.cache/tshub/models``."""
    if os.environ.get(HOME_ENV):
        return Store(Path(os.environ[HOME_ENV]).expanduser() / "models", f"${HOME_ENV}/models")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return Store(cache / "tshub" / "models", "default home store")


REPO_ZOO_ENV = "TSHUB_REPO_ZOO"


def repo_zoo() -> Path | None:
    """The zoo committed with the repository (present in a source checkout, absent from a wheel).

    ``$TSHUB_REPO_ZOO`` overrides its location; set to an empty string it turns the repository zoo off (tests
    that need a store of their own do).
    """
    override = os.environ.get(REPO_ZOO_ENV)
    if override is not None:
        return Path(override).expanduser() if override else None
    return Path(__file__).resolve().parents[2] / "zoo"


def stores() -> list[Store]:
    """All local stores in resolution order."""
    found = [home_store()]
    found += [Store(Path(p).expanduser(), f"${ZOO_ENV}") for p in os.environ.get(ZOO_ENV, "").split(os.pathsep) if p]
    zoo = repo_zoo()
    if zoo is not None and zoo.is_dir():
        found.append(Store(zoo, "repository zoo"))
    return found


def find_local(model_id: ModelId) -> Path | None:
    """The first local checkpoint folder of ``model_id``, in store order."""
    for store in stores():
        folder = store.find(model_id)
        if folder is not None:
            return folder
    return None


def checkpoint_dir(store: Store, model_id: ModelId) -> Path:
    """Where ``model_id`` lives (or will live) in ``store``."""
    return store.root / model_id.source / model_id.arch


def summarize(model_id: ModelId, folder: Path) -> dict[str, Any]:
    """One listing row of a checkpoint folder: id, source, domain, arch, task, primary metric beside its
    reference, how training ended, whether it is usable as a source, size."""
    config = read_config(folder)
    source = source_info(config)
    pulled = pull_record(folder)
    row = {
        "id": str(model_id),
        "source": model_id.source,
        "domain": source.get("domain"),
        "arch": config["arch"],
        "task": config.get("task"),
        "n_parameters": config.get("n_parameters"),
        "size_bytes": config.get("size_bytes"),
        "dtype": config.get("dtype"),
        "repo_id": model_id.repo_id(),
        "location": str(folder),
        # a copy `tshub pull` made: the Hub commit it is, and the revision asked for (None: the default branch)
        "revision": pulled.get("commit"),
        "pulled_revision": pulled.get("revision"),
        "training": training_status(config),
        "unusable": unusable_reason(config),
    }
    return {**row, **primary_metric(config)}


def primary_metric(config: dict[str, Any]) -> dict[str, Any]:
    """``{"metric": name, "metric_value": v, "reference_value": r, "reference_on_other_split": b}``: the task's
    headline test metric (accuracy or MAE), the same metric of the checkpoint's reference result (None when it has
    none), and whether that reference was measured on another test split (a train-only UCR set's: the archive's
    official one, while the checkpoint's was held out of the training file), so the two do not compare."""
    name = PRIMARY_METRIC.get(config.get("task") or "", "")
    value = (config.get("metrics") or {}).get(name) if name else None
    reference = r if isinstance(r := config.get("reference"), dict) else {}
    return {
        "metric": METRIC_NAMES.get(name, (name, name))[1] if value is not None else None,
        "metric_value": value,
        "reference_value": (reference.get("metrics") or {}).get(name) if name else None,
        "reference_on_other_split": reference.get("on_other_split") is True,
    }


def training_status(config: dict[str, Any]) -> str | None:
    """How the checkpoint's training ended, as a reader needs it: only early stopping means converged."""
    reason = (config.get("meta") or {}).get("stop_reason")
    return None if reason is None else TRAINING_STATUS.get(reason, reason)


def unusable_reason(config: dict[str, Any]) -> str | None:
    """Why a checkpoint should not be offered as a transfer source (it learned nothing), or None."""
    meta = config.get("meta") or {}
    return learned_nothing(
        config.get("task"),
        config.get("classes"),
        config.get("metrics") or {},
        meta.get("stop_reason"),
        training_mean=mean_forecast(meta, "metrics"),
    )


def mean_forecast(meta: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The scores of predicting the training mean (``meta["naive"]["training_mean"][key]``, written by a
    regression's training, ``key`` "metrics" or "val_metrics"), or None where the checkpoint has none."""
    naive = meta.get("naive")
    mean = naive.get(TRAINING_MEAN) if isinstance(naive, dict) else None
    scores = mean.get(key) if isinstance(mean, dict) else None
    return scores if isinstance(scores, dict) else None


def learned_nothing(
    task: str | None,
    classes: list[str] | None,
    metrics: dict[str, Any],
    stop_reason: str | None,
    split: str = "test",
    training_mean: dict[str, Any] | None = None,
) -> str | None:
    """Why a model learned nothing usable: its training diverged, its ``split`` accuracy is within CHANCE_MARGIN of
    chance (1 / classes), or its ``split`` MSE, the loss a regression minimises, is no lower than that of predicting
    the training mean (``training_mean``, the same split's scores: R² ≤ 0); None otherwise (or where it cannot tell)."""
    if stop_reason == "non_finite_loss":
        return "its training diverged (non-finite loss)"
    n, accuracy = len(classes or []), metrics.get("accuracy")
    if task == "classification" and is_number(accuracy) and n > 1 and accuracy < 1 / n + CHANCE_MARGIN:
        return f"its {split} accuracy {accuracy:.3f} is less than {CHANCE_MARGIN * 100:g} points above chance (1/{n} classes)"
    mse, mean_mse = metrics.get("mse"), (training_mean or {}).get("mse")
    if task == "regression" and is_number(mse) and is_number(mean_mse) and not mse < mean_mse:
        return (
            f"its {split} MSE {mse:.4g} is no lower than predicting the training mean for every series ({mean_mse:.4g})"
        )
    return None


def unconverged_reason(config: dict[str, Any]) -> str | None:
    """Why a checkpoint's training did not run its recipe to its end, or None when it did (early stopping or the
    recipe's max epochs): a time budget cut it short, it diverged, or it recorded no stop reason. Evidence that
    claims to measure the zoo's checkpoints should not rest on these."""
    reason = (config.get("meta") or {}).get("stop_reason")
    if reason in RECIPE_ENDS:
        return None
    if reason is None:
        return "its training recorded no stop reason, so whether it converged is unknown"
    return f"its training ended by {reason!r} ({TRAINING_STATUS.get(reason, 'not converged')})"


#: Stop reasons of a training that ran its recipe to its end.
RECIPE_ENDS = ("early_stopping", "max_epochs")
#: Stop reasons (``meta.stop_reason``) as listings show them.
TRAINING_STATUS = {
    "early_stopping": "converged",
    "max_epochs": "max epochs",
    "time_budget": "time budget, not converged",
    "non_finite_loss": "diverged",
}
#: A classifier no more than this above chance accuracy (1 / classes) is not offered as a source.
CHANCE_MARGIN = 0.05
#: The ``location`` of a listing row that only a store's index names: the checkpoint is fetched from the Hub on
#: first use (other rows hold the checkpoint folder's path).
HUB_ONLY = "hub"
#: Listing fields about this machine's copy of a checkpoint, not the checkpoint: an index leaves them out.
COPY_FIELDS = ("location", "revision", "pulled_revision")


def write_index(root: str | Path) -> Path:
    """Write ``<root>/index.json`` listing the checkpoints of the store ``root`` (the publish script calls this)."""
    store = Store(Path(root), "index")
    rows = [{k: v for k, v in summarize(*found).items() if k not in COPY_FIELDS} for found in store.checkpoints()]
    path = store.root / INDEX_NAME
    write_text_atomic(path, json.dumps({"index_version": INDEX_VERSION, "models": rows}, indent=2) + "\n")
    return path


def read_index(store: Store) -> list[dict[str, Any]]:
    """The rows of ``store``'s index.json (empty when it has none)."""
    path = store.root / INDEX_NAME
    if not path.is_file():
        return []
    try:
        index = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is unreadable ({err}); rebuild it with write_index.") from None
    if not isinstance(index, dict) or index.get("index_version") != INDEX_VERSION:
        version = index.get("index_version") if isinstance(index, dict) else None
        raise CheckpointError(
            f"{path}: index version {version!r} is not {INDEX_VERSION}; "
            "upgrade tshub or rebuild the index with write_index."
        )
    rows = index.get("models")
    fields = ("id", "source", "arch")
    if not isinstance(rows, list) or not all(
        isinstance(r, dict) and all(isinstance(r.get(k), str) for k in fields) for r in rows
    ):
        raise CheckpointError(
            f"{path}: every row of 'models' needs its id, source and arch; rebuild it with write_index."
        )
    return [{**row, "location": HUB_ONLY} for row in rows]


def list_pretrained() -> list[dict[str, Any]]:
    """Every checkpoint the local stores know: local folders (the first store's of an id wins, as loading takes it),
    then index-only (Hub) entries of ids no store holds (an unreadable index is left out with a warning).

    timm's name: ``list_pretrained`` lists checkpoints, ``list_models`` (``tshub.list_architectures``) architectures.
    """
    rows: dict[tuple[str, str], dict[str, Any] | None] = {}
    for store in stores():  # every store's folders first, as loading looks for them
        for model_id, folder in store.checkpoints():
            if model_id.key not in rows:
                rows[model_id.key] = _summary_or_warning(model_id, folder)
    for store in stores():
        try:
            indexed_rows = read_index(store)
        except CheckpointError as err:  # one bad index must not hide every checkpoint, nor break id lookups
            warnings.warn(f"{err} Its Hub-only entries are left out.", stacklevel=2)
            continue
        for row in indexed_rows:
            indexed = as_model_id(row["id"])
            if indexed is not None:
                rows.setdefault(indexed.key, row)
    return sorted((r for r in rows.values() if r), key=lambda r: (r["source"].casefold(), r["arch"]))


def _summary_or_warning(model_id: ModelId, folder: Path) -> dict[str, Any] | None:
    """The listing row of a checkpoint folder, or None with a warning when it is unreadable: one broken folder must
    not hide every other checkpoint (nor, since the first store wins, let another store's copy stand in for it)."""
    try:
        return summarize(model_id, folder)
    except CheckpointError as err:
        warnings.warn(
            f"{model_id} is left out: {err} (or delete {folder}; `tshub pull {model_id}` fetches a fresh copy).",
            stacklevel=3,
        )
        return None
