"""A training's full state on disk, so a killed or interrupted run resumes where it was, bit for bit on the CPU.

One safetensors file holds the model, the weights kept as best so far, Adam's moments and the random generators'
states (the CUDA one too when training on a GPU, where dropout draws from it); its JSON metadata holds the epoch,
the history, the monitors (best record, wait counts, learning rate), the elapsed time and a fingerprint of what is
trained (architecture and its options, recipe, seed, data shapes, parameter names). A state whose
fingerprint differs from the run's is ignored with a warning (the run starts afresh), never half-applied. The file
is replaced atomically, so a kill during a save leaves the previous state intact. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from tshub.atomic import atomic_write

FORMAT = "tshub-training-state/1"
#: Save at most this often: small sets run dozens of epochs a second, where a save per epoch would cost more than
#: the training; a run killed between saves repeats at most this much work (or one epoch, when epochs are longer).
DEFAULT_INTERVAL_S = 20.0


@dataclass
class Restored:
    """What a resumed loop continues from."""

    epoch: int  # epochs completed
    history: list[dict[str, Any]]
    best_state: dict[str, torch.Tensor] | None
    best_epoch: int | None
    elapsed_s: float
    stop_reason: str | None = None  # set when the training had ended (its state kept until the result is stored)


def fingerprint(**parts: Any) -> str:
    """16 hex digits identifying a training (anything JSON-serialisable that determines it)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def training_state(path: str | Path | None, model: Any, config: Any, seed: int, **data: Any) -> TrainingState | None:
    """The saver of a training whose state lives at ``path`` (None: not saved), fingerprinted by what determines
    it: the architecture and its options (``model.config()``: the names alone let a state of other tensor shapes
    fail to load, or one of another dropout rate resume), its parameter names, the recipe (a TrainConfig), the seed,
    and ``data`` (the digests of its arrays and anything else the caller's training depends on)."""
    if path is None:
        return None
    parts = {
        "arch": model.arch,
        "model": model.config(),
        "parameters": sorted(model.state_dict()),
        "config": config.to_dict(),
        "seed": seed,
    }
    return TrainingState(path, fingerprint(**parts, **data))


class TrainingState:
    """Saves and restores one training's state at ``path`` (a ``.safetensors`` file)."""

    def __init__(self, path: str | Path, fingerprint: str, interval_s: float | None = None):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.interval_s = DEFAULT_INTERVAL_S if interval_s is None else interval_s
        self._last_save = time.perf_counter()

    def restore(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator, monitors: dict[str, Any]
    ) -> Restored | None:
        """Load the saved state into ``model``, ``optimizer``, the RNGs and the monitors (objects with
        ``state_dict``/``load_state_dict``, or None); returns what the loop continues from, None when nothing."""
        if not self.path.is_file():
            return None
        try:
            tensors = load_file(self.path)
            with safe_open(self.path, "pt") as f:
                meta = json.loads(f.metadata()["state"])
        except Exception as err:  # a foreign or damaged file: start afresh rather than fail the build
            warnings.warn(f"training state {self.path} is unreadable ({err}); starting afresh.", stacklevel=2)
            return None
        if meta.get("format") != FORMAT or meta.get("fingerprint") != self.fingerprint:
            warnings.warn(
                f"training state {self.path} belongs to another training (fingerprint "
                f"{meta.get('fingerprint')}, this run {self.fingerprint}); starting afresh.",
                stacklevel=2,
            )
            return None
        model.load_state_dict(_section(tensors, "model."), strict=True)
        optimizer.load_state_dict(_optimizer_state(tensors, meta["optimizer_groups"]))
        generator.set_state(tensors["rng.generator"])
        torch.set_rng_state(tensors["rng.torch"])
        cuda = _cuda_device(model)
        if cuda is not None and "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"], cuda)
        for name, monitor in monitors.items():
            if monitor is not None:
                monitor.load_state_dict(meta["monitors"][name])
        best = _section(tensors, "best.") or None
        return Restored(
            meta["epoch"], meta["history"], best, meta["best_epoch"], meta["elapsed_s"], meta.get("stop_reason")
        )

    def due(self) -> bool:
        return time.perf_counter() - self._last_save >= self.interval_s

    def save(
        self,
        *,
        epoch: int,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        history: list[dict[str, Any]],
        best_state: dict[str, torch.Tensor] | None,
        best_epoch: int | None,
        elapsed_s: float,
        monitors: dict[str, Any],
        stop_reason: str | None = None,
    ) -> None:
        """Write the state after ``epoch`` completed epochs (atomically); ``stop_reason``: the training has ended
        so (a run resuming it trains no further, so the optimizer's moments, as large as the model twice over for
        Adam, are not kept)."""
        optim = optimizer.state_dict()
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        tensors.update({f"best.{k}": v for k, v in (best_state or {}).items()})
        for pid, slots in optim["state"].items() if stop_reason is None else ():
            tensors.update({f"optim.{pid}.{key}": torch.as_tensor(value) for key, value in slots.items()})
        tensors["rng.generator"] = generator.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        cuda = _cuda_device(model)
        if cuda is not None:
            tensors["rng.cuda"] = torch.cuda.get_rng_state(cuda)
        meta = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "epoch": epoch,
            "history": history,
            "best_epoch": best_epoch,
            "elapsed_s": elapsed_s,
            "monitors": {k: m.state_dict() for k, m in monitors.items() if m is not None},
            "optimizer_groups": optim["param_groups"],
            **({"stop_reason": stop_reason} if stop_reason is not None else {}),
        }
        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        atomic_write(self.path, lambda tmp: save_file(tensors, tmp, metadata={"state": json.dumps(meta)}))
        self._last_save = time.perf_counter()

    def clear(self) -> None:
        """Remove the state (the training finished and its result is stored elsewhere)."""
        self.path.unlink(missing_ok=True)


def _cuda_device(model: nn.Module) -> torch.device | None:
    """The GPU ``model`` trains on (its dropout draws from that device's generator, not the CPU's); None on the CPU."""
    device = next(model.parameters()).device
    return device if device.type == "cuda" else None


def _section(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _optimizer_state(tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in _section(tensors, "optim.").items():
        pid, slot = key.split(".", 1)
        state.setdefault(int(pid), {})[slot] = value
    return {"state": state, "param_groups": groups}
