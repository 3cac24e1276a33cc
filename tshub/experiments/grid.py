"""What a transfer experiment is: sources × targets × ω × seeds, expanded into runs with stable, readable ids.

A run is one training: a fine-tune of a source checkpoint on a target with one ω and one seed, the from-scratch
referent of a (target, architecture, seed), or the on-the-fly training of a source. Ids are derived from the
full run spec, so a grid re-expanded after a restart maps every run to the same record file.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tshub.data.dataset import Dataset
from tshub.training.finetuning import lr_multipliers
from tshub.training.recipes import AUTO, AUTO_UCR_MAX_TRAIN, RECIPES, TrainConfig, is_count, resolve_recipe

#: A source: a model id / Hub repo id / checkpoint folder, a bare dataset name (combined with ``archs``), or a
#: ``(dataset name, arch)`` pair trained from scratch on the fly and cached in the output folder.
Source = str | Path | tuple[str, str]


@dataclass(frozen=True)
class ExperimentGrid:
    """The experiment: every source fine-tuned on every target, per ω and seed, against from-scratch referents.

    ``archs`` expands bare dataset names among ``sources`` into model ids ``"<name>/<arch>"`` and restricts the
    grid to those architectures. ``lr_multipliers`` ("grid" = Otović's ten ω) are one run each, so every ω is
    recorded; ``comparison_table`` then picks ω per seed on validation. ``reduce_train`` keeps n training series
    of each target, a different stratified draw per seed (Otović's 1k5/9k sets), shared by the referent and the
    fine-tunes of that seed; validation and test stay complete. ``preprocessing`` defaults to each source's own
    kind, and the referent always uses the fine-tune's. ``max_epochs``, ``recipe`` and ``time_budget_s`` (per
    run) apply to every training, on-the-fly sources included. A source is never fine-tuned on data it was trained
    on (its own dataset, a multi-head's datasets, the same series under another name: ``runner.left_out_pairs``,
    which ``run`` logs). Every target needs a test split: runs are compared on test.
    """

    sources: Sequence[Source]
    targets: Sequence[str | Dataset]
    archs: Sequence[str] | None = None
    lr_multipliers: str | Sequence[float] = "grid"
    seeds: Sequence[int] = (0, 1, 2)
    reduce_train: int | None = None
    max_epochs: int | None = None
    recipe: str | TrainConfig = "default"
    time_budget_s: float | None = None
    preprocessing: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.sources, (str, Path)) or isinstance(self.targets, (str, Path, Dataset)):
            raise ValueError("sources and targets are lists: write sources=['LEN-DB/magnet'], targets=['GunPoint'].")
        if isinstance(self.archs, str):  # else expanded letter by letter: 'Coffee/f', 'Coffee/c', ...
            raise ValueError(f"archs is a list: write archs=[{self.archs!r}].")
        if is_count(self.seeds):
            raise ValueError(f"seeds is a list: write seeds=[{self.seeds}].")
        if not len(self.sources) or not len(self.targets) or not len(self.seeds):  # len: numpy arrays too
            raise ValueError("an ExperimentGrid needs at least one source, one target and one seed.")
        if not all(is_count(seed) and seed >= 0 for seed in self.seeds):
            raise ValueError(f"seeds are whole numbers >= 0, got {list(self.seeds)!r}.")
        object.__setattr__(self, "seeds", tuple(int(seed) for seed in self.seeds))  # numpy's ints: JSON records
        if self.recipe == AUTO:
            raise ValueError(
                f"recipe 'auto' picks a preset per training split, and a grid names one for all its runs: name it "
                f"(recipe='ucr' for targets of up to {AUTO_UCR_MAX_TRAIN} training series, as 'auto' would, else "
                "'default')."
            )
        if isinstance(self.recipe, str) and self.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {self.recipe!r}; choose one of {sorted(RECIPES)} or pass a TrainConfig.")
        if self.reduce_train is not None and not (is_count(self.reduce_train) and self.reduce_train >= 1):
            raise ValueError(f"reduce_train must be a positive number of series or None, got {self.reduce_train}.")
        for name in ("reduce_train", "max_epochs"):  # numpy's ints: JSON records (a non-count is refused below)
            if is_count(getattr(self, name)):
                object.__setattr__(self, name, int(getattr(self, name)))
        if isinstance(self.time_budget_s, (int, float, np.number)) and not isinstance(self.time_budget_s, bool):
            object.__setattr__(self, "time_budget_s", float(self.time_budget_s))  # 60 and 60.0: one run id
        self.training()  # validates max_epochs and time_budget_s before any run
        self.multipliers()  # validates
        self.named_sources()  # validates

    def named_sources(self) -> list[str]:
        """The sources given by id or folder; bare dataset names become '<name>/<arch>' for every arch of ``archs``."""
        names: list[str] = []
        for entry in self.sources:
            text = str(entry)
            if isinstance(entry, tuple):
                if len(entry) != 2:
                    raise ValueError(f"a source to train on the fly is (dataset name, arch), got {entry!r}.")
            elif isinstance(entry, Path) or "/" in text or Path(text).expanduser().is_dir():
                names.append(text)
            elif not self.archs:
                raise ValueError(
                    f"source {text!r} is a bare dataset name: pass archs=[...] to use the model ids "
                    f"'{text}/<arch>', or give a model id such as '{text}/fcn'."
                )
            else:
                names += [f"{text}/{arch}" for arch in self.archs]
        return names

    def multipliers(self) -> list[float]:
        """The ω values, one fine-tune run each."""
        return lr_multipliers(self.lr_multipliers)

    def training(self) -> dict[str, Any]:
        """The training settings shared by every run, JSON-ready (part of every run id).

        ``train_config`` is the resolved recipe, so a preset whose values change yields new run ids instead of
        reusing records trained with its old values.
        """
        recipe = self.recipe.to_dict() if isinstance(self.recipe, TrainConfig) else self.recipe
        _, config = resolve_recipe(self.recipe, max_epochs=self.max_epochs, time_budget_s=self.time_budget_s)
        return {
            "recipe": recipe,
            "train_config": config.to_dict(),
            "max_epochs": self.max_epochs,
            "time_budget_s": self.time_budget_s,
        }


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs, JSON-ready; ``run_id`` is a readable prefix plus a hash of all of it.

    ``kind`` is "source" (train ``arch`` on ``target`` and save it to ``checkpoint``), "referent" (from scratch)
    or "finetune" (``checkpoint`` → ``target`` with ``lr_multiplier``, compared with ``referent_id``).
    """

    kind: str
    target: str
    arch: str
    seed: int
    training: dict[str, Any]
    preprocessing: str
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    use_stream_max: bool = False
    reduce_train: int | None = None
    source: str | None = None
    source_sha256: str | None = None  # the weights of the source checkpoint: a changed source is a new run
    checkpoint: str | None = None  # where the source checkpoint is (not part of the id: out_dir may move)
    lr_multiplier: float | None = None
    referent_id: str | None = None

    @property
    def run_id(self) -> str:
        identity = {k: v for k, v in asdict(self).items() if k != "checkpoint"}
        digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
        if self.kind == "finetune":
            parts = [self.source or "", self.target, f"w{self.lr_multiplier:g}", f"s{self.seed}"]
        else:
            parts = [self.target, self.arch] + ([f"s{self.seed}"] if self.kind == "referent" else [])
        return "-".join([self.kind, *(_slug(p) for p in parts), digest])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The longest part of a run id (its tail kept: a folder's last components say most), so an id stays a file name.
MAX_SLUG = 60


def _slug(text: str) -> str:
    """A file-name-safe version of a source or dataset name ("LEN-DB/magnet" → "LEN-DB_magnet"), at most MAX_SLUG
    characters (the run id's digest keeps runs apart)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_")[-MAX_SLUG:].strip("_") or "x"
