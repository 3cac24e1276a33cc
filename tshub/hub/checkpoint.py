"""The checkpoint folder: ``model.safetensors`` + ``config.json`` + ``README.md``, identical locally and on the Hub.

``model.safetensors`` holds the network's state dict and, under the ``preprocessing.`` prefix, the fitted
preprocessing statistics, so a loaded model predicts on raw data. ``config.json`` holds everything needed to
rebuild the network (registry name, kwargs, channels, outputs, heads), what the outputs mean (task, classes),
the preprocessing config, provenance (source dataset, recipe, metrics, parent checkpoint), the format version
and the sha256 of the weights file. Weights may be stored in float16/bfloat16 to shrink a committed zoo; they
load back as float32. Loading checks the format version, the hash and every key strictly; nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

import tshub
from tshub.data.preprocess import Preprocessor
from tshub.hub.card import build_model_card
from tshub.hub.errors import CheckpointError
from tshub.models.base import TimeSeriesModel
from tshub.models.registry import build_model

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
CHECKPOINT_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME)
PREPROCESSING_PREFIX = "preprocessing."
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Keys of ``model.meta`` (as set by tshub.training, or passed to save_pretrained) promoted to top-level config
# fields; the rest of ``model.meta`` (seed, epochs, splits, ...) is kept under "meta". "source" is a dataset
# record (name, domain, citation, url, license, hf_dataset, ...), "reference" a published result
# ({"name", "metrics", "citation", "url"}), "parent" the id of the checkpoint a fine-tune started from.
PROVENANCE_KEYS = ("id", "repo_id", "source_dataset", "source", "recipe", "train_config", "metrics", "val_metrics",
                   "reference", "parent", "license", "limitations")
_MODEL_KEYS = ("arch", "in_channels", "n_outputs", "use_stream_max", "input_length", "arch_kwargs", "heads")


def save_checkpoint(model: TimeSeriesModel, folder: str | Path, *, dtype: str = "float32",
                    **fields: Any) -> Path:
    """Write ``model`` as a checkpoint folder; ``fields`` add to or override ``model.meta`` (see PROVENANCE_KEYS)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = model.preprocessor.arrays() if model.preprocessor is not None else {}
    tensors = _state_tensors(model, DTYPES[dtype])
    tensors.update({PREPROCESSING_PREFIX + name: torch.from_numpy(np.ascontiguousarray(a))
                    for name, a in arrays.items()})
    weights = folder / WEIGHTS_NAME
    # safetensors' save_file creates the file 0600; written like its neighbours, it gets the umask's mode (0644)
    weights.write_bytes(save(tensors, metadata={"format": "pt", "tshub_format_version": str(FORMAT_VERSION)}))
    config = build_config(model, {**model.meta, **fields}, dtype=dtype, weights=weights)
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    build_model_card(config).save(folder / CARD_NAME)
    return folder


def build_config(model: TimeSeriesModel, meta: dict[str, Any], *, dtype: str, weights: Path) -> dict[str, Any]:
    """The config.json content of ``model`` whose weights were written to ``weights``."""
    preprocessor = model.preprocessor
    config: dict[str, Any] = {
        "format_version": FORMAT_VERSION, "library": "tshub", "tshub_version": tshub.__version__,
        **model.config(),
        "task": model.task, "classes": model.classes,
        "preprocessing": preprocessor.to_config() if preprocessor is not None else None,
        "preprocessing_arrays": ({name: list(a.shape) for name, a in preprocessor.arrays().items()}
                                 if preprocessor is not None else {}),
    }
    config.update({key: meta[key] for key in PROVENANCE_KEYS if key in meta})
    config["meta"] = {key: value for key, value in meta.items() if key not in PROVENANCE_KEYS}
    config.update({
        "dtype": dtype,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "size_bytes": weights.stat().st_size,
        "weights_sha256": sha256_file(weights),
    })
    return _jsonable(config, "config")


def load_checkpoint(folder: str | Path) -> TimeSeriesModel:
    """Rebuild the model of a checkpoint folder in eval mode, float32, with task, classes, preprocessor and meta."""
    folder = Path(folder)
    config = read_config(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(f"{folder} has no {WEIGHTS_NAME}: the checkpoint is incomplete, re-pull or re-save it.")
    digest = sha256_file(weights)
    if digest != config.get("weights_sha256"):
        raise CheckpointError(
            f"checkpoint corrupted, re-pull: the sha256 of {weights} is {digest}, config.json expects "
            f"{config.get('weights_sha256')} (`tshub pull ID` fetches a fresh copy)."
        )
    try:
        tensors = load_file(weights)
    except SafetensorError as err:
        raise CheckpointError(
            f"checkpoint corrupted, re-pull: {weights} is not a valid safetensors file ({err})."
        ) from None
    state = {k: v for k, v in tensors.items() if not k.startswith(PREPROCESSING_PREFIX)}
    arrays = {k[len(PREPROCESSING_PREFIX):]: v.float().numpy()
              for k, v in tensors.items() if k.startswith(PREPROCESSING_PREFIX)}
    model = _build(config, folder)
    _load_state_strict(model, state, weights)
    model.task = config.get("task")
    model.classes = config.get("classes")
    model.preprocessor = _restore_preprocessor(config, arrays, weights)
    model.meta = {**config.get("meta", {}), **{k: config[k] for k in PROVENANCE_KEYS if k in config}}
    return model.eval()


def read_config(folder: str | Path) -> dict[str, Any]:
    """The config.json of a checkpoint folder, after checking that tshub can read its format version."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{folder} is not a tshub checkpoint: it has no {CONFIG_NAME}.")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is not valid JSON ({err}); re-pull or re-save the checkpoint.") from None
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is not supported by tshub {tshub.__version__}, "
            f"which reads format {FORMAT_VERSION}; upgrade tshub (pip install -U tshub) or re-save the checkpoint."
        )
    missing = [key for key in (*_MODEL_KEYS, "weights_sha256") if key not in config]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}; re-save the checkpoint with save_pretrained.")
    return config


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _state_tensors(model: TimeSeriesModel, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The state dict as independent contiguous CPU tensors, floating ones cast to ``dtype``."""
    return {name: (t.to(dtype) if t.is_floating_point() else t).detach().cpu().contiguous().clone()
            for name, t in model.state_dict().items()}


def _build(config: dict[str, Any], folder: Path) -> TimeSeriesModel:
    try:
        model = build_model(config["arch"], config["in_channels"], config["n_outputs"],
                            use_stream_max=config["use_stream_max"], input_length=config["input_length"],
                            **config["arch_kwargs"])
    except KeyError as err:
        raise CheckpointError(f"{folder}: {err.args[0]} Upgrade tshub to load this checkpoint.") from None
    if config["heads"]:
        model.set_heads(config["heads"])
    return model


def _load_state_strict(model: TimeSeriesModel, state: dict[str, torch.Tensor], weights: Path) -> None:
    """Load every tensor, refusing missing, unexpected or mis-shaped keys with the full list."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mis_shaped = sorted(f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
                        for k, v in expected.items() if k in state and state[k].shape != v.shape)
    if missing or unexpected or mis_shaped:
        problems = [f"{label}: {', '.join(keys)}" for label, keys in
                    (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", mis_shaped)) if keys]
        raise CheckpointError(
            f"{weights} does not match the {model.arch} described by config.json ({'; '.join(problems)}); "
            "the folder mixes files of different checkpoints: re-pull or re-save it."
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)


def _restore_preprocessor(config: dict[str, Any], arrays: dict[str, np.ndarray],
                          weights: Path) -> Preprocessor | None:
    expected = set(config.get("preprocessing_arrays", {}))
    if expected != set(arrays):
        raise CheckpointError(
            f"{weights}: preprocessing statistics {sorted(arrays)} do not match config.json {sorted(expected)}; "
            "re-pull or re-save the checkpoint."
        )
    if config.get("preprocessing") is None:
        return None
    return Preprocessor.from_config(config["preprocessing"], arrays)


def _jsonable(value: Any, where: str) -> Any:
    """``value`` with numpy scalars/arrays, tuples and paths turned into JSON types; anything else is refused."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise CheckpointError(
        f"{where} is a {type(value).__name__}, which config.json cannot hold; store plain numbers, strings, "
        "lists or dicts in model.meta."
    )
