"""The checkpoint folder: ``model.safetensors`` + ``config.json`` + ``README.md``, identical locally and on the Hub,
and, for a model tshub trained, the optional ``training_history.json`` (``tshub.hub.history``).

``model.safetensors`` holds the network's state dict and, under the ``preprocessing.`` prefix, the fitted
preprocessing statistics, so a loaded model predicts on raw data. ``config.json`` holds everything needed to
rebuild the network (registry name, kwargs, channels, outputs, heads), what the outputs mean (task, classes),
the preprocessing config, provenance (source dataset, recipe, metrics, parent checkpoint), the format version
and the sha256 of the weights file. Weights may be stored in float16/bfloat16 to shrink a committed zoo; they
load back as float32. Loading checks the format version, the hash and every key strictly; nothing is pickled.

A checkpoint may come from a stranger, so nothing in config.json is trusted before it is checked: reading it checks
the types of the fields that listings, cards and ``tshub info`` show (one bad checkpoint must not break a listing),
loading its model fields against a schema (types, ranges, the architecture's own kwargs, classes one per output),
then the network it describes, built on the meta device (no memory), against the tensor names and shapes in the
safetensors header (read without loading). Only then are the tensors read, and that network takes them as its own
(never initialised at random only to be overwritten), so a forged config cannot make loading allocate more than the
weights file holds. The training history is not needed to load a model: a checkpoint without it (all those saved
before it existed) loads as before, and an unreadable one loads with a warning and no history.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from packaging.version import InvalidVersion, Version
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save
from torch.nn.modules.module import register_module_module_registration_hook

from tshub.atomic import replace_folder
from tshub.data.preprocess import Preprocessor
from tshub.hub.card import build_model_card
from tshub.hub.errors import CheckpointError
from tshub.hub.history import TrainingHistory
from tshub.models.registry import build_model, default_kwargs, get_architecture
from tshub.version import __version__

if TYPE_CHECKING:
    from tshub.models.base import TimeSeriesModel

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
HISTORY_NAME = "training_history.json"
# What the Hub push and download take; the history is optional (checkpoints saved before it have none).
CHECKPOINT_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME, HISTORY_NAME)
# A pulled copy's record of the Hub commit it is (``tshub.hub.resolution.pull``); never pushed, dropped on a re-save.
PULLED_NAME = ".tshub-pulled.json"
OWN_FILES = {*CHECKPOINT_FILES, PULLED_NAME}
MAX_HISTORY_BYTES = 64 << 20
MAX_CONFIG_BYTES = 16 << 20  # the zoo's largest config.json is under 100 KB
PREPROCESSING_PREFIX = "preprocessing."
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Keys of ``model.meta`` (as set by tshub.training, or passed to save_pretrained) promoted to top-level config
# fields; the rest of ``model.meta`` (seed, epochs, splits, ...) is kept under "meta". "source" is a dataset
# record (name, domain, citation, url, license, hf_dataset, ...), "reference" a published result
# ({"name", "metrics", "citation", "url"}, and "on_other_split": true where it was measured on another test split
# than the checkpoint's metrics, so the two do not compare), "parent" the id of the checkpoint a fine-tune started from.
PROVENANCE_KEYS = (
    "id",
    "repo_id",
    "source_dataset",
    "source",
    "recipe",
    "train_config",
    "metrics",
    "val_metrics",
    "reference",
    "parent",
    "license",
    "limitations",
)
_MODEL_KEYS = ("arch", "in_channels", "n_outputs", "use_stream_max", "input_length", "arch_kwargs", "heads")
TASKS = ("classification", "regression")
# Fields of config.json that listings, cards, `tshub info` and the recommender read as strings (when present).
_TEXT_FIELDS = ("tshub_version", "id", "repo_id", "source_dataset", "parent", "license", "dtype", "weights_sha256")
# Weights files tshub refuses to read: pickles, which can run any code when loaded.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# Bounds of the config schema: far above any real time-series checkpoint, far below what exhausts a machine.
MAX_CHANNELS = 100_000
MAX_OUTPUTS = 1_000_000
MAX_INPUT_LENGTH = 10_000_000
MAX_HEADS = 10_000
# Layers (submodules) the described network may have per tensor of the weights file, plus a constant: every
# architecture's layers hold tensors (ReLUs, pools and dropouts between them), so a network with more cannot match.
LAYERS_PER_TENSOR, SPARE_LAYERS = 2, 64
_SHOWN = 5  # problems listed in one message


def save_checkpoint(model: TimeSeriesModel, folder: str | Path, *, dtype: str = "float32", **fields: Any) -> Path:
    """Write ``model`` as a checkpoint folder; ``fields`` add to or override ``model.meta`` (see PROVENANCE_KEYS).

    Every file is built in memory before the folder is touched, and then written beside it and renamed in, so a
    failure (a ``meta`` value config.json cannot hold, a full disk) leaves the checkpoint that was there loadable.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}.")
    folder = Path(folder)
    check_checkpoint_folder(folder)
    arrays = model.preprocessor.arrays() if model.preprocessor is not None else {}
    tensors = stored_state(model, DTYPES[dtype])
    tensors.update(
        {PREPROCESSING_PREFIX + name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in arrays.items()}
    )
    metadata = {"format": "pt", "tshub_format_version": str(FORMAT_VERSION)}
    weights = _canonical_header(save(tensors, metadata=metadata))
    config = build_config(model, {**saved_meta(model), **fields}, dtype=dtype, weights=weights)
    files = {WEIGHTS_NAME: weights, CARD_NAME: str(build_model_card(config)).encode()}
    if model.training_history is not None:
        files[HISTORY_NAME] = model.training_history.to_json().encode()
    files[CONFIG_NAME] = config_text(config).encode()  # last: it names the weights' hash
    _write_checkpoint_files(folder.absolute(), files)
    return folder


def config_text(config: dict[str, Any]) -> str:
    """config.json's text as every writer of a checkpoint writes it (a push naming another repo rewrites it)."""
    return json.dumps(config, indent=2) + "\n"


def check_checkpoint_folder(folder: str | Path) -> None:
    """Refuse to write a checkpoint folder at ``folder`` when it, or a folder above it, is an existing file.

    A save swaps a checkpoint folder in whole, which would replace a file of that name (``save_pretrained
    ("results.csv")`` deleted the user's CSV). Every checkpoint write goes through ``save_checkpoint``, which calls
    this; callers that save only after long work (``tshub finetune --out``) call it first, to fail before it.
    """
    path = Path(folder).absolute()
    for place in (path, *path.parents):
        if place.is_dir():
            return
        if place.exists():
            raise CheckpointError(
                f"{place} is an existing file, not a checkpoint folder, so no checkpoint can be saved "
                f"{'there' if place == path else f'at {path}'}: choose a folder path or remove the file (it was "
                "left untouched)."
            )


def note_load(model: TimeSeriesModel, facts: dict[str, Any]) -> None:
    """Set in ``model.meta`` the ``facts`` of the load that made it (its ``id``, ``hub_repo`` and ``revision``), for
    fine-tunes to name their parent by; they describe where this copy came from, not the model, so ``saved_meta``
    gives back what they replaced (a model pushed back unchanged must be the same checkpoint: no new commit)."""
    model.load_facts = (dict(facts), {key: model.meta[key] for key in facts if key in model.meta})
    model.meta.update(facts)


def saved_meta(model: TimeSeriesModel) -> dict[str, Any]:
    """``model.meta`` as a save writes it: each fact of the load (``note_load``) still unchanged is replaced by the
    checkpoint's own value, or dropped where it had none; what the user set since is kept."""
    meta = dict(model.meta)
    facts, replaced = model.load_facts
    for key, value in facts.items():
        if key in meta and meta[key] == value:
            if key in replaced:
                meta[key] = replaced[key]
            else:
                del meta[key]
    return meta


def _write_checkpoint_files(folder: Path, files: dict[str, bytes]) -> None:
    """Make ``files`` the checkpoint files of ``folder``, none of another model left (a history, a pull record).

    A new folder or one holding only a checkpoint is swapped whole; one holding other files too (``save_pretrained``
    into a working folder) keeps them and gets the new files, all written first, renamed in one by one.
    """

    def fill(staging: Path) -> None:  # written like their neighbours, the files get the umask's mode (0644)
        for name, data in files.items():
            (staging / name).write_bytes(data)

    present = {p.name for p in folder.iterdir()} if folder.is_dir() else {CONFIG_NAME}
    if CONFIG_NAME in present and present <= OWN_FILES:
        replace_folder(folder, fill)
        return
    staging = replace_folder(folder / f".tshub-save.{os.getpid()}", fill)
    try:
        for name in files:
            os.replace(staging / name, folder / name)
        for name in OWN_FILES - set(files):
            (folder / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def build_config(model: TimeSeriesModel, meta: dict[str, Any], *, dtype: str, weights: bytes) -> dict[str, Any]:
    """The config.json content of ``model`` whose weights file holds ``weights``."""
    preprocessor = model.preprocessor
    config: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "library": "tshub",
        "tshub_version": __version__,
        **model.config(),
        "task": model.task,
        "classes": model.classes,
        **({"class_values": model.class_values} if model.class_values is not None else {}),
        "preprocessing": preprocessor.to_config() if preprocessor is not None else None,
        "preprocessing_arrays": (
            {name: list(a.shape) for name, a in preprocessor.arrays().items()} if preprocessor is not None else {}
        ),
    }
    config.update({key: meta[key] for key in PROVENANCE_KEYS if key in meta})
    config["meta"] = {key: value for key, value in meta.items() if key not in PROVENANCE_KEYS}
    config.update(
        {
            "dtype": dtype,
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "size_bytes": len(weights),
            "weights_sha256": hashlib.sha256(weights).hexdigest(),
        }
    )
    return _jsonable(config, "config")


def load_checkpoint(folder: str | Path) -> TimeSeriesModel:
    """Rebuild the model of a checkpoint folder in eval mode, float32, with task, classes, preprocessor and meta."""
    folder = Path(folder)
    config = read_config(folder)
    data = verified_weights(folder, config)  # read once: the bytes hashed are the bytes loaded, whatever happens next
    weights = folder / WEIGHTS_NAME
    check_model_config(config, folder / CONFIG_NAME)
    shapes = _shapes_in(data, weights)
    layers = LAYERS_PER_TENSOR * len(shapes) + SPARE_LAYERS
    with torch.device("meta"), _layer_budget(layers, folder / CONFIG_NAME, weights):  # no memory, no initialisation
        model = _build(config, folder)
    _check_shapes(model, shapes, weights)
    try:
        tensors = load_tensors(data)
    except SafetensorError as err:
        raise CheckpointError(
            f"checkpoint corrupted, re-pull: {weights} is not a valid safetensors file ({err})."
        ) from None
    state = {k: v for k, v in tensors.items() if not k.startswith(PREPROCESSING_PREFIX)}
    arrays = {
        k[len(PREPROCESSING_PREFIX) :]: v.float().numpy()
        for k, v in tensors.items()
        if k.startswith(PREPROCESSING_PREFIX)
    }
    _assign_state(model, state, weights)
    model.task = config.get("task")
    model.classes = config.get("classes")
    model.class_values = config.get("class_values")
    model.preprocessor = _restore_preprocessor(config, arrays, weights)
    model.meta = {**config.get("meta", {}), **{k: config[k] for k in PROVENANCE_KEYS if k in config}}
    try:
        model.training_history = read_history(folder)
    except CheckpointError as err:
        warnings.warn(f"{err} The model loads without its training history.", stacklevel=2)
    return model.eval()


def verified_weights(folder: str | Path, config: dict[str, Any] | None = None) -> bytes:
    """The bytes of a checkpoint folder's weights file, there and with the sha256 its config (``config``, read when
    None) records; ``CheckpointError`` saying what to do otherwise."""
    folder = Path(folder)
    config = read_config(folder) if config is None else config
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(_missing_weights(folder))
    data = weights.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != config.get("weights_sha256"):
        raise CheckpointError(
            f"checkpoint corrupted, re-pull: the sha256 of {weights} is {digest}, config.json expects "
            f"{config.get('weights_sha256')} (`tshub pull ID` fetches a fresh copy)."
        )
    return data


def _shapes_in(data: bytes, weights: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from the header of safetensors bytes (read from ``weights``)."""
    try:
        size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + size])
        return {key: tuple(entry["shape"]) for key, entry in header.items() if key != "__metadata__"}
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise CheckpointError(
            f"checkpoint corrupted, re-pull: {weights} is not a valid safetensors file ({err})."
        ) from None


def _missing_weights(folder: Path) -> str:
    """Why a checkpoint folder without its weights file cannot load, and what to do."""
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        return (
            f"{folder} has no {WEIGHTS_NAME} but {', '.join(pickles)}: tshub reads weights only from "
            f"{WEIGHTS_NAME} (safetensors) and never unpickles a file (unpickling can run any code); save the model "
            "with save_pretrained, or its state dict with safetensors, to load it."
        )
    return f"{folder} has no {WEIGHTS_NAME}: the checkpoint is incomplete, re-pull or re-save it."


def read_history(folder: str | Path) -> TrainingHistory | None:
    """The training history of a checkpoint folder, None when it has none; CheckpointError when it is unreadable."""
    path = Path(folder) / HISTORY_NAME
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_HISTORY_BYTES:
        raise CheckpointError(
            f"{path} is larger than {MAX_HISTORY_BYTES >> 20} MiB, far more than any training "
            "history; it is not one tshub wrote (delete it or re-save the checkpoint)."
        )
    try:
        return TrainingHistory.from_json(path.read_text())
    # RecursionError: JSON nested thousands deep; OverflowError: an integer no float holds (10**400)
    except (ValueError, UnicodeDecodeError, RecursionError, OverflowError) as err:
        raise CheckpointError(
            f"{path} is not a tshub training history: {err}; delete it or re-save the checkpoint."
        ) from None


def pull_record(folder: str | Path) -> dict[str, Any]:
    """What ``tshub pull`` recorded beside the copy it made: ``{"repo_id", "revision" (asked for, None for the
    default branch), "commit"}``; empty for any other folder, or an unreadable record (the commit is then unknown)."""
    try:
        record = json.loads((Path(folder) / PULLED_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def read_config(folder: str | Path) -> dict[str, Any]:
    """The config.json of a checkpoint folder, after checking that tshub can read its format version."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{folder} is not a tshub checkpoint: it has no {CONFIG_NAME}.")
    if path.stat().st_size > MAX_CONFIG_BYTES:  # read whole, parsed into many times its size: refuse it unread
        raise CheckpointError(
            f"{path} is larger than {MAX_CONFIG_BYTES >> 20} MiB, far more than any checkpoint's config; it is not one "
            "tshub wrote: re-pull or re-save the checkpoint."
        )
    try:
        config = json.loads(path.read_text())
    except (ValueError, RecursionError) as err:  # not JSON, not even text, or nested thousands deep
        raise CheckpointError(f"{path} is not valid JSON ({err}); re-pull or re-save the checkpoint.") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} holds no JSON object; re-pull or re-save the checkpoint.")
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):  # every config tshub wrote has a whole number
        raise CheckpointError(
            f"{path} is not a tshub checkpoint config (its format_version is {_short(version)}, not a number: a "
            "config.json of another library?); pass a folder written by save_pretrained, a model id or the Hub "
            "repo of a tshub checkpoint."
        )
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is not supported by tshub {__version__}, "
            f"which reads format {FORMAT_VERSION}; upgrade tshub (pip install -U tshub) or re-save the checkpoint."
        )
    missing = [key for key in (*_MODEL_KEYS, "weights_sha256") if key not in config]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}; {_remedy(config)}.")
    _refuse(_field_problems(config), path, config, "has fields tshub cannot read")
    return config


def check_model_config(config: dict[str, Any], path: Path) -> None:
    """Refuse model fields of config.json outside the schema, saying which field and what is expected; the outputs'
    meaning (task, classes) must fit them."""
    problems = []

    def whole(key: str, value: Any, high: int, optional: bool = False) -> None:
        if optional and value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            problems.append(f"{key} must be a whole number in [1, {high:,}], got {_short(value)}")

    arch = config["arch"]
    if not isinstance(arch, str):
        problems.append(f"arch must be an architecture name, got {_short(arch)}")
    whole("in_channels", config["in_channels"], MAX_CHANNELS)
    whole("n_outputs", config["n_outputs"], MAX_OUTPUTS)
    whole("input_length", config["input_length"], MAX_INPUT_LENGTH, optional=True)
    if not isinstance(config["use_stream_max"], bool):
        problems.append(f"use_stream_max must be true or false, got {_short(config['use_stream_max'])}")
    if not isinstance(config.get("head_statistics", False), bool):
        problems.append(f"head_statistics must be true or false, got {_short(config['head_statistics'])}")
    heads = config["heads"]
    if heads is not None:
        if not isinstance(heads, dict) or not 1 <= len(heads) <= MAX_HEADS:
            problems.append(
                f"heads must map at most {MAX_HEADS:,} head names to output counts, got "
                f"{len(heads) if isinstance(heads, dict) else _short(heads)} "
                f"{'heads' if isinstance(heads, dict) else ''}".rstrip()
            )
        else:
            for name, outputs in heads.items():  # every head: one bad one among many still breaks the build
                whole(f"heads[{_short(name)}]", outputs, MAX_OUTPUTS)
    if "class_values" in config:
        _check_class_values(config["class_values"], config.get("classes"), problems)
    _check_outputs(config, problems)
    kwargs = config["arch_kwargs"]
    if not isinstance(kwargs, dict):
        problems.append(f"arch_kwargs must be an object, got {_short(kwargs)}")
    elif isinstance(arch, str):
        try:
            allowed = default_kwargs(get_architecture(arch).arch)
        except KeyError as err:
            raise CheckpointError(f"{path}: {err.args[0]} Upgrade tshub to load this checkpoint.") from None
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            problems.append(f"arch_kwargs {_short(unknown)} are not parameters of {arch} (it takes {sorted(allowed)})")
        for key in sorted(set(kwargs) & set(allowed)):
            if (kind := _kwarg_problem(kwargs[key], allowed[key])) is not None:
                problems.append(f"arch_kwargs[{key!r}] must be {kind}, got {_short(kwargs[key])}")
    _refuse(problems, path, config, "describes no model tshub can load")


def _kwarg_problem(value: Any, default: Any) -> str | None:
    """What an architecture option read from a config must be, judged by its default (the architectures' options
    are switches, counts and sizes, non-negative rates, lists of sizes, names), or None when it is that: a wrong one
    builds a network that fails only when it predicts ("mc_dropout": "false", a dilation of 0)."""

    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if count(value) else "a whole number of at least 1"
    if isinstance(default, float):
        rate = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf  # 10**400 too
        return None if rate else "a non-negative number"
    if isinstance(default, tuple):
        sizes = isinstance(value, (list, tuple)) and len(value) > 0 and all(map(count, value))
        return None if sizes else "a list of whole numbers of at least 1"
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    return None


def _refuse(problems: list[str], path: Path, config: dict[str, Any], what: str) -> None:
    """Raise CheckpointError naming the first problems of ``config`` (read from ``path``), if it has any."""
    if problems:
        raise CheckpointError(
            f"{path} {what}: {'; '.join(problems[:_SHOWN])}"
            f"{f' (and {len(problems) - _SHOWN} more)' if len(problems) > _SHOWN else ''}; {_remedy(config)}."
        )


def _remedy(config: dict[str, Any]) -> str:
    """What to do about a config.json tshub cannot read: upgrade when a newer tshub wrote it (fields or kwargs this
    one does not know are then expected), else fetch or write a sound copy."""
    saved = config.get("tshub_version")
    if isinstance(saved, str) and _newer_than_this(saved):
        return (
            f"it was saved by tshub {saved}, newer than this tshub {__version__}: upgrade tshub (pip install -U tshub)"
        )
    return "re-pull or re-save the checkpoint"


def _newer_than_this(version: str) -> bool:
    """Whether ``version`` (PEP 440, as pip compares them) is a later tshub than this one; False when unreadable."""
    try:
        return Version(version) > Version(__version__)
    except InvalidVersion:
        return False


def _field_problems(config: dict[str, Any]) -> list[str]:
    """The fields of config.json that listings, cards, `tshub info` and the recommender read (not the model's, which
    ``check_model_config`` checks), of a type they cannot read: one such field must not break a listing."""
    problems = []

    def expect(key: str, value: Any, kind: type | tuple[type, ...], words: str) -> None:
        if value is not None and not isinstance(value, kind):
            problems.append(f"{key} must be {words}, got {_short(value)}")

    for key in _TEXT_FIELDS:
        expect(key, config.get(key), str, "a string")
    if "arch" in config and not isinstance(config["arch"], str):  # listings sort by it
        problems.append(f"arch must be a string (a registered architecture), got {_short(config['arch'])}")
    for key in ("n_parameters", "size_bytes"):
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            problems.append(f"{key} must be a whole number, got {_short(value)}")
    if config.get("task") not in (None, *TASKS):
        problems.append(f"task must be 'classification', 'regression' or null, got {_short(config['task'])}")
    classes = config.get("classes")
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        problems.append(f"classes must be a list of strings (the labels) or null, got {_short(classes)}")
    for key in ("meta", "preprocessing_arrays"):  # read as objects when the model is restored
        if not isinstance(config.get(key, {}), dict):
            problems.append(f"{key} must be an object, got {_short(config[key])}")
    for key in ("preprocessing", "train_config", "arch_kwargs"):
        expect(key, config.get(key), dict, "an object or null" if key != "arch_kwargs" else "an object")
    for key in ("metrics", "val_metrics"):
        _check_metrics(key, config.get(key), problems)
    reference = config.get("reference")
    expect("reference", reference, dict, "an object (name, metrics, citation, url)")
    if isinstance(reference, dict):
        _check_metrics("reference['metrics']", reference.get("metrics"), problems)
        expect("reference['on_other_split']", reference.get("on_other_split"), bool, "true or false")
    source = config.get("source")
    expect("source", source, (str, dict), "a dataset name or record")
    if isinstance(source, dict):
        for key in ("name", "domain", "hf_dataset"):
            expect(f"source[{key!r}]", source.get(key), str, "a string")
    meta = config.get("meta")
    if isinstance(meta, dict):
        expect("meta['stop_reason']", meta.get("stop_reason"), str, "a string")
        for key in ("splits", "head_classes", "variable_length"):
            expect(f"meta[{key!r}]", meta.get(key), dict, "an object")
        names = meta.get("channel_names")
        if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            problems.append(f"meta['channel_names'] must be a list of channel names, got {_short(names)}")
        expect("meta['source_datasets']", meta.get("source_datasets"), list, "a list of dataset names")
    return problems


def _check_metrics(key: str, metrics: Any, problems: list[str]) -> None:
    """``metrics`` (optional) must map metric names to numbers (or null: not measured)."""
    if metrics is None:
        return
    if not isinstance(metrics, dict):
        problems.append(f"{key} must map metric names to numbers, got {_short(metrics)}")
        return
    for name, value in metrics.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.append(f"{key}[{name!r}] must be a number, got {_short(value)}")


def _check_outputs(config: dict[str, Any], problems: list[str]) -> None:
    """What the outputs mean must fit them: a classifier's classes one per output (a multi-head model's, in
    ``meta["head_classes"]``, one per output of their head), a regression none (``predict`` returns labels for
    classes, values otherwise)."""
    classes, outputs, heads = config.get("classes"), config["n_outputs"], config["heads"]
    if isinstance(classes, list) and classes:
        if config.get("task") == "regression":
            problems.append(f"a regression has no classes, got {len(classes):,}")
        elif config.get("task") == "classification" and isinstance(outputs, int) and len(classes) != outputs:
            problems.append(
                f"classes must name one class per output: {len(classes):,} classes for its {outputs} outputs"
            )
    scaling = config.get("preprocessing") or {}
    for key in ("target_mean", "target_std"):  # a regression's standardisation: one per output, or outputs mis-scaled
        values = scaling.get(key)
        if (
            values is not None
            and isinstance(outputs, int)
            and not (isinstance(values, list) and len(values) == outputs)
        ):
            problems.append(f"preprocessing {key} must hold one value per output ({outputs}), got {_short(values)}")
    head_classes = (config.get("meta") or {}).get("head_classes")
    if isinstance(head_classes, dict) and isinstance(heads, dict):
        for name, labels in head_classes.items():
            count = heads.get(name)
            if isinstance(count, int) and not (
                isinstance(labels, list) and len(labels) == count and all(isinstance(c, str) for c in labels)
            ):
                problems.append(
                    f"meta['head_classes'][{_short(name)}] must list the head's {count} classes, got {_short(labels)}"
                )


def _check_class_values(values: Any, classes: Any, problems: list[str]) -> None:
    """``class_values`` (optional: the labels as numbers, which ``predict`` returns instead of ``classes``) must be
    a list of JSON whole numbers or booleans, the classes' values one for one."""
    if not isinstance(values, list) or not all(isinstance(v, int) for v in values):  # bool is an int
        problems.append(f"class_values must be a list of whole numbers or booleans, got {_short(values)}")
    elif not isinstance(classes, list) or len(values) != len(classes):
        count = len(classes) if isinstance(classes, list) else "no"
        problems.append(f"class_values must hold one value per class ({count} classes), got {len(values):,}")
    elif [str(v) for v in values] != classes:
        problems.append(f"class_values {_short(values)} are not the classes {_short(classes)} in their order")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def preprocessing_length(folder: str | Path) -> int | None:
    """The series length a checkpoint's fitted preprocessing fixes (minmax_mask subtracts a mean per time step of its
    training series), read from the weights' header; None when it fixes none or the weights are not here."""
    weights = Path(folder) / WEIGHTS_NAME
    if not weights.is_file():
        return None
    mask = _header_shapes(weights).get(PREPROCESSING_PREFIX + "mask")
    return None if mask is None else int(mask[-1])


def _header_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from the safetensors header of the file ``weights``, without reading the tensors."""
    with open(weights, "rb") as f:
        size = f.read(8)
        return _shapes_in(size + f.read(int.from_bytes(size, "little")), weights)


def _check_shapes(skeleton: TimeSeriesModel, shapes: dict[str, tuple[int, ...]], weights: Path) -> None:
    """The network described by config.json (on the meta device) against the weights' header, before any
    allocation: missing, unexpected and mis-shaped tensors, a few of each named."""
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    stored = {k: v for k, v in shapes.items() if not k.startswith(PREPROCESSING_PREFIX)}
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    mis_shaped = sorted(f"{k} {stored[k]} != {v}" for k, v in expected.items() if k in stored and stored[k] != v)
    problems = [
        f"{label}: {', '.join(keys[:_SHOWN])}{f' and {len(keys) - _SHOWN} more' if len(keys) > _SHOWN else ''}"
        for label, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("wrong shapes (weights != config)", mis_shaped),
        )
        if keys
    ]
    if problems:
        raise CheckpointError(
            f"{weights} does not match the {skeleton.arch} described by config.json ({'; '.join(problems)}); "
            "the folder mixes files of different checkpoints or its config.json was altered: re-pull or re-save it."
        )


def _canonical_header(data: bytes) -> bytes:
    """The safetensors bytes with their JSON header's keys sorted, so that equal weights give equal files (and an
    equal ``weights_sha256``): safetensors writes its ``__metadata__`` map in no fixed order. Same content, same
    length (the header's padding absorbs any difference), so every safetensors reader reads it unchanged."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    for key, value in header.items():
        if isinstance(value, dict):
            header[key] = dict(sorted(value.items()))
    canonical = json.dumps(dict(sorted(header.items())), separators=(",", ":")).encode()
    if len(canonical) > size:  # cannot happen for a reordering; keep the library's bytes rather than grow the header
        return data
    return data[:8] + canonical.ljust(size, b" ") + data[8 + size :]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stored_state(model: TimeSeriesModel, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The state dict as independent contiguous CPU tensors, floating ones cast to ``dtype``, but for a tensor the
    cast would overflow, kept in float32: float16 holds at most 65504, and a BatchNorm variance above it became inf,
    zeroing its channel once loaded (loading upcasts every tensor to the network's dtype, whatever it is stored in)."""
    tensors = {}
    for name, t in model.state_dict().items():
        t = t.detach().cpu()
        if t.is_floating_point():
            cast = t.to(dtype)
            t = cast if bool(torch.isfinite(cast).all()) or not bool(torch.isfinite(t).all()) else t.float()
        tensors[name] = t.contiguous().clone()
    return tensors


@contextmanager
def _layer_budget(limit: int, config: Path, weights: Path) -> Iterator[None]:
    """Stop building a network (in this thread) once it has more than ``limit`` layers.

    On the meta device a layer costs no tensor memory, but each is still a Python object made one by one: a forged
    config of a few bytes (``n_blocks``, a list of a million ``dilations``) would take minutes and gigabytes
    before the shapes check could refuse it. A network with more layers than the weights file could fill cannot
    match it anyway.
    """
    thread, count = threading.get_ident(), 0

    def count_layer(module: torch.nn.Module, name: str, layer: torch.nn.Module | None) -> None:
        nonlocal count
        if threading.get_ident() != thread:  # the hook is global: other threads' networks are theirs
            return
        count += 1
        if count > limit:
            raise CheckpointError(
                f"{config} describes a network of more than {limit:,} layers, more than the {weights.name} beside it "
                "could fill; its arch_kwargs were altered: re-pull or re-save the checkpoint."
            )

    handle = register_module_module_registration_hook(count_layer)
    try:
        yield
    finally:
        handle.remove()


def _build(config: dict[str, Any], folder: Path) -> TimeSeriesModel:
    try:
        model = build_model(
            config["arch"],
            config["in_channels"],
            config["n_outputs"],
            use_stream_max=config["use_stream_max"],
            input_length=config["input_length"],
            **config["arch_kwargs"],
        )
        if config["heads"]:
            model.set_heads(config["heads"], statistics=config.get("head_statistics", False))
    except KeyError as err:
        raise CheckpointError(f"{folder}: {err.args[0]} Upgrade tshub to load this checkpoint.") from None
    except CheckpointError:  # a ValueError, but already saying what is wrong (``_layer_budget``)
        raise
    except (TypeError, ValueError, RuntimeError) as err:  # kwargs of the right names but impossible values
        raise CheckpointError(
            f"{folder / CONFIG_NAME}: its arch_kwargs do not build a {config['arch']} "
            f"({_short(str(err), 200)}); {_remedy(config)}."
        ) from None
    return model


def _assign_state(model: TimeSeriesModel, state: dict[str, torch.Tensor], weights: Path) -> None:
    """Make the stored tensors the meta-device network's own, strictly (names and shapes were checked against the
    header by ``_check_shapes``), float16/bfloat16 ones upcast to the network's dtype as a copy into it would, on
    the device a network built here would have (the default device: the CPU unless the caller set another).

    Building the network for real would draw a random initialisation only to overwrite it: that was most of the
    cost of a load (one source after another is loaded to rank them). Each tensor from ``load_file`` owns its
    memory (not the file's), so the model is independent of the file, as one that copied them in.
    """
    expected, device = model.state_dict(), torch.get_default_device()
    model.load_state_dict({k: v.to(device, expected[k].dtype) for k, v in state.items()}, strict=True, assign=True)
    unfilled = [name for name, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if unfilled:  # a tensor outside the state dict (a non-persistent buffer): no checkpoint can give it values
        raise CheckpointError(
            f"{weights}: the {model.arch} network has tensors that checkpoints do not store ({', '.join(unfilled)}); "
            "this tshub version cannot load it: report it as a bug."
        )


def _restore_preprocessor(config: dict[str, Any], arrays: dict[str, np.ndarray], weights: Path) -> Preprocessor | None:
    expected = set(config.get("preprocessing_arrays", {}))
    if expected != set(arrays):
        raise CheckpointError(
            f"{weights}: preprocessing statistics {sorted(arrays)} do not match config.json {sorted(expected)}; "
            "re-pull or re-save the checkpoint."
        )
    if config.get("preprocessing") is None:
        return None
    try:
        return Preprocessor.from_config(config["preprocessing"], arrays)
    except (ValueError, TypeError, KeyError, AttributeError) as err:  # DatasetError is a ValueError
        raise CheckpointError(
            f"{weights.parent / CONFIG_NAME}: its preprocessing cannot be restored ({_short(str(err), 200)}); "
            "re-pull or re-save the checkpoint."
        ) from None


def _jsonable(value: Any, where: str) -> Any:
    """``value`` with numpy scalars/arrays, tuples and paths turned into JSON types; anything else is refused."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):  # np.datetime64 and the like give datetimes, refused below
        return _jsonable(value.item(), where)
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise CheckpointError(
        f"{where} is a {type(value).__name__}, which config.json cannot hold; store plain numbers, strings, "
        "lists or dicts in model.meta."
    )
