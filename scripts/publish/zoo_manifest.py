"""The zoo manifest: which checkpoints build_zoo.py builds, in which order, and the hash that decides a rebuild.

The default manifest is derived from the data folder (every UCR dataset found, the Otović sources) so it lists
exactly what can be built here; ``--manifest FILE`` replaces it with a JSON list of entries. An entry's recipe
hash covers everything that changes its weights (entry fields, the resolved TrainConfig, the build logic
version): a checkpoint whose stored hash matches is up to date and never rebuilt, so the repository history holds
each checkpoint once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tshub.data.catalogue import FULL, TRAIN_ONLY, list_datasets, load, ucr_summary
from tshub.data.preprocess import make_preprocessor
from tshub.data.splits import VALIDATIONS
from tshub.hub.checkpoint import DTYPES
from tshub.models.registry import list_architectures
from tshub.training.recipes import resolve_recipe

#: Bump when the build logic changes what an entry produces (splits, evaluation, target handling).
#: 2: every entry trains until its recipe stops it (no wall-clock budget), resumably; UCR entries in bfloat16.
BUILD_VERSION = 2
OTOVIC_SOURCES = ("EMG", "SP500")
MULTIHEAD_MAX_LENGTH = 512
#: Entry fields added after checkpoints were built, with their defaults: a field at its default stays out of the
#: recipe hash, so adding one leaves every existing checkpoint (and every saved training state) up to date.
LATER_FIELDS = {"validation": "split"}
#: UCR FCNs train on every series of their official training split (validation "train", as bigdata18 did): it beat
#: holding a fifth out on the development sets outside UCR 2015, two rules fixed before their runs, 3 seeds each: the
#: 13 with ≤ 200 training series (bench/results/ucr_full_train.md) and the 8 with more (ucr_full_train_large.md).
UCR_VALIDATION = "train"
#: The multi-head's recipe: what recipe="auto" gives a training split its size (91 sets, 47 k series, far above
#: AUTO_UCR_MAX_TRAIN). Its epoch passes over every set: ~2,500 of "ucr"'s batches, whose patience of 100 epochs
#: (made for one small set's few batches) would train 250 k updates past the best before stopping, at least 10 h
#: of one core at the ~380 s epoch the previous build measured; "default" waits 10 epochs of ~1,400 batches of 32.
MULTIHEAD_RECIPE = "default"
#: Training series × length × channels of the Otović sources (their train splits), to order them among the UCR sets.
OTOVIC_EPOCH_COST = {"EMG": 10_074 * 80 * 3, "SP500": 15_932 * 50}
# Regression sources trained on relative targets (the next value in its window's min–max space, mapped back by the
# checkpoint: tshub.data.preprocess, relative_target) and without the raw stream_max input, whose price level the
# models would still have to extrapolate. Otović et al. trained SP500 on the raw price with stream_max; standardised
# raw targets (the zoo's previous recipe) left every SP500 model 4–6× worse than persistence, the test prices lying
# far above every training price (bench/results/sp500_relative_target.md: 15 epochs, test MAE ÷ persistence's,
# standardised → relative → relative without stream_max: FCN 5.2 → 1.08 → 1.04, ConvNetQuake 4.9 → 4.4 → 1.01).
RELATIVE_TARGETS = ("SP500",)
#: Otović et al. fed stream_max to every model "for every dataset except STEAD" (baseline, referent and transfer
#: runs alike; tstl's --use-max-stream): a STEAD source, if the zoo gains one, follows them.
WITHOUT_STREAM_MAX = ("STEAD",)
#: Otović et al. pre-trained their source (baseline) ConvNetQuakes with dataset-specific variants (tstl Models.py;
#: their referents and targets use the plain one: glorot_uniform, l2 1e-3). EMG's, glorot_normal without l2, is used
#: here: the plain variant left EMG/convnetquake at 0.42 test accuracy (4 classes; the other five EMG architectures
#: 0.77-0.98), its loss flat near 1.09 from the second epoch; the variant reached 0.76. S&P 500's, he_normal with
#: l2 0.7, is not (see SP500_PLAIN_CONVNETQUAKE_NOTE): it was made for the raw-price target.
BASELINE_VARIANTS = {("EMG", "convnetquake"): {"init": "glorot_normal", "l2": 0.0}}
#: Said on SP500/convnetquake's card: why it departs from tstl's S&P 500 source variant (decided on validation MAE).
SP500_PLAIN_CONVNETQUAKE_NOTE = (
    "Departure from Otović et al.'s protocol: this is the plain ConvNetQuake (glorot_uniform, l2 1e-3), not their "
    "S&P 500 source variant (he_normal, l2 0.7), which was made for the raw-price target: with this checkpoint's "
    "relative target it reached a validation MAE of 25.4 against the plain model's 7.19 (same recipe and seed)."
)


@dataclass(frozen=True)
class Entry:
    """One checkpoint to build: ``<source>/<arch>`` trained with ``recipe`` on the source's train split.

    ``datasets`` (multi-head entries only) names the source datasets, one head each; ``target_scaling``
    "relative" trains a regression on targets in each series' normalised space, mapped back by the checkpoint
    (None: on targets standardised by the training split's mean and std, the library's default);
    ``bf16`` trains under bfloat16 autocast (weights, optimiser and evaluation of the stored model stay float32);
    ``validation`` "split" holds 20 % of the training split out to select the weights and stop (the library's
    default), "train" trains on every training series and selects on the training split itself (bigdata18's way).
    There is no time budget: an entry trains until its recipe stops it (early stopping or max epochs).
    """

    source: str
    arch: str
    recipe: str = "default"
    preprocessing: str = "znorm"
    use_stream_max: bool = False
    bf16: bool = False
    dtype: str = "float32"
    max_epochs: int | None = None
    seed: int = 0
    target_scaling: str | None = None
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    datasets: tuple[str, ...] = ()
    validation: str = "split"

    def __post_init__(self) -> None:
        """Refuse what the build would fail on only after training (hours), or ignore."""
        if self.validation not in VALIDATIONS:
            raise ValueError(f"{self.id}: validation must be one of {VALIDATIONS}, got {self.validation!r}.")
        if self.dtype not in DTYPES:
            raise ValueError(f"{self.id}: dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}.")
        if self.target_scaling not in (None, "relative"):
            raise ValueError(f"{self.id}: target_scaling must be None or 'relative', got {self.target_scaling!r}.")
        try:
            make_preprocessor(self.preprocessing)
            resolve_recipe(self.recipe, max_epochs=self.max_epochs, bf16=self.bf16)
        except ValueError as e:
            raise ValueError(f"{self.id}: {e}") from None
        if isinstance(self.datasets, list):
            object.__setattr__(self, "datasets", tuple(self.datasets))  # frozen: hashable, as to_dict lists it
        if not isinstance(self.datasets, tuple) or not all(isinstance(name, str) for name in self.datasets):
            raise ValueError(f"{self.id}: datasets must be a list of dataset names, got {self.datasets!r}.")
        ignored = {"validation": "split", "use_stream_max": False, "target_scaling": None}
        set_here = [f"{k}={getattr(self, k)!r}" for k, default in ignored.items() if getattr(self, k) != default]
        if self.datasets and set_here:
            raise ValueError(
                f"{self.id}: a multi-head entry trains every head as pretrain_multihead does, without "
                f"{', '.join(set_here)}: drop {'it' if len(set_here) == 1 else 'them'}."
            )

    @property
    def id(self) -> str:
        return f"{self.source}/{self.arch}"

    @property
    def multihead(self) -> bool:
        return bool(self.datasets)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["datasets"] = list(self.datasets)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown or not {"source", "arch"} <= set(data):
            raise ValueError(
                f"manifest entry {data}: needs 'source' and 'arch', may have {sorted(known)}; "
                f"unknown keys {sorted(unknown)}."
            )
        if data["arch"] not in list_architectures():
            raise ValueError(f"manifest entry {data}: unknown arch; registered: {list_architectures()}.")
        return cls(**data)

    def recipe_hash(self) -> str:
        """16 hex digits of the sha256 of everything that determines the trained weights."""
        _, config = resolve_recipe(self.recipe, max_epochs=self.max_epochs, bf16=self.bf16)
        entry = {k: v for k, v in self.to_dict().items() if k not in LATER_FIELDS or v != LATER_FIELDS[k]}
        payload = {"build_version": BUILD_VERSION, "entry": entry, "train_config": config.to_dict()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def read_manifest(path: str | Path) -> list[Entry]:
    """Entries of a JSON manifest: a list of entry objects, or ``{"entries": [...]}``."""
    data = json.loads(Path(path).read_text())
    items = data["entries"] if isinstance(data, dict) else data
    return [Entry.from_dict(item) for item in items]


def default_manifest(root: str | Path | None = None) -> list[Entry]:
    """The published zoo, cheapest first (training series × length per epoch, so the most checkpoints finish
    early in a build that takes days on a CPU): FCN per UCR set (on every training series, UCR_VALIDATION) and
    the Otović sources (every arch) interleaved by that cost, then the multi-head
    ConvTimeNet on the UCR sets of length ≤ 512."""
    ucr = ucr_datasets(root)
    costed = [
        (
            info["train"] * info["length"],
            Entry(
                name,
                "fcn",
                recipe="ucr",
                preprocessing="znorm",
                bf16=True,
                dtype="float16",
                validation=UCR_VALIDATION,
            ),
        )
        for name, info in ucr.items()
    ]
    costed += [
        (OTOVIC_EPOCH_COST[source], otovic_entry(source, arch))
        for source in OTOVIC_SOURCES
        for arch in list_architectures()
    ]
    entries = [entry for _, entry in sorted(costed, key=lambda item: (item[0], item[1].id.casefold()))]
    short = sorted((n for n, info in ucr.items() if info["length"] <= MULTIHEAD_MAX_LENGTH), key=str.casefold)
    if short:
        entries.append(
            Entry(
                "UCR",
                "convtimenet",
                recipe=MULTIHEAD_RECIPE,
                preprocessing="znorm",
                bf16=True,
                dtype="float16",
                datasets=tuple(short),
            )
        )
    return entries


def otovic_entry(source: str, arch: str) -> Entry:
    """Otović et al.'s protocol: their recipe, min–max + train mask, stream_max input, their source variant of
    ConvNetQuake (BASELINE_VARIANTS); float32 weights (small models, and float16 would cost SP500 predictions ~1
    index point); no stream_max for STEAD, as theirs (WITHOUT_STREAM_MAX). SP500 alone deviates: relative target,
    no stream_max (see RELATIVE_TARGETS)."""
    relative = source in RELATIVE_TARGETS
    return Entry(
        source,
        arch,
        recipe="otovic",
        preprocessing="minmax_mask",
        use_stream_max=not relative and source not in WITHOUT_STREAM_MAX,
        dtype="float32",
        target_scaling="relative" if relative else None,
        arch_kwargs=dict(BASELINE_VARIANTS.get((source, arch), {})),
    )


def ucr_datasets(root: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every UCR dataset of both folders with its train size and series length (as loaded: variable-length sets
    are resampled to their longest series, so their length is read from the data)."""
    summary = {row["Name"]: row for row in ucr_summary(root)}
    found = {}
    for item in list_datasets(root):
        if item["collection"] not in (FULL, TRAIN_ONLY):
            continue
        name, row = item["name"], summary.get(item["name"], {})
        length = row.get("Length", "")
        train = row.get("Train", "")
        if not (length.isdigit() and train.isdigit()):
            ds = load(name, root)
            length, train = str(ds.length), str(len(ds.splits["train"]))
        found[name] = {"train": int(train), "length": int(length), "collection": item["collection"]}
    return found
