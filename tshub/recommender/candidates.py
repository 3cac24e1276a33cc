"""The checkpoints a recommendation ranks, and which of them must be left out as trained on the target itself."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from tshub.data.catalogue import dataset_key, load, ucr_summary
from tshub.data.dataset import Dataset, DatasetError
from tshub.data.fingerprint import NEAR_DIGITS, OVERLAP_THRESHOLD, near_copies, overlap, series_hashes
from tshub.hub.checkpoint import load_checkpoint, read_config
from tshub.hub.errors import HubError, ModelNotFoundError
from tshub.hub.ids import as_model_id
from tshub.hub.resolution import load_pretrained, resolve
from tshub.hub.store import HUB_ONLY, list_pretrained, training_status, unusable_reason
from tshub.models.base import TimeSeriesModel
from tshub.models.registry import get_architecture
from tshub.recommender.errors import RecommendError
from tshub.recommender.results import SELF_TRANSFER

#: What ranks a candidate left out by its name alone, when the data are other than its source's.
ANOTHER_DATA_HINT = "allow_self_transfer=True ranks it"
#: Why a named candidate that nothing resolves is skipped.
NOT_FOUND = "not found: no local store holds it and the Hub did not provide it"
#: The reason a named candidate is skipped when its checkpoint is found but cannot be read (followed by the error).
UNREADABLE = "cannot be read"


@dataclass(frozen=True)
class Candidate:
    """A source checkpoint to rank: its id, source dataset, architecture and where to load it from."""

    id: str
    source: str
    arch: str
    location: str  # a checkpoint folder, or HUB_ONLY (as in the listing rows) for an index-only entry
    unusable: str | None = None  # why it should not be a source (tshub.hub.store.unusable_reason), or None
    training: str | None = None  # how its training ended (tshub.hub.store.training_status), None when unrecorded

    @property
    def hub_only(self) -> bool:
        """Whether only a store's index names it: no local folder, downloaded when loaded."""
        return self.location == HUB_ONLY

    def load(self) -> TimeSeriesModel:
        return load_pretrained(self.id) if self.hub_only else load_checkpoint(self.location)


def candidate_pool(candidates: Sequence[str | Path] | None = None, arch: str | None = None) -> list[Candidate]:
    """The checkpoints to rank: the given ids/folders (each checkpoint once, ``distinct``), or every checkpoint the
    local stores and zoo index list."""
    if candidates is None:
        pool = [
            Candidate(r["id"], r["source"], r["arch"], r["location"], r.get("unusable"), r.get("training"))
            for r in list_pretrained()
        ]
    else:
        pool = distinct([named_candidate(name) for name in dict.fromkeys(map(str, candidates))])
    return of_arch(pool, arch)


def found_candidates(
    candidates: Sequence[str | Path], arch: str | None = None
) -> tuple[list[Candidate], dict[str, str]]:
    """``candidate_pool`` of named candidates that may not all exist or be readable (e.g. a service's configured
    sources): those nothing resolves, or whose checkpoint tshub cannot read (a newer format, a broken config), of
    ``arch`` as far as their ids tell, are returned apart with the reason (``NOT_FOUND``, or ``UNREADABLE`` and the
    error) instead of raising."""
    pool, lost = [], {}
    for name in dict.fromkeys(map(str, candidates)):
        try:
            pool.append(named_candidate(name))
        except HubError as err:
            model_id = as_model_id(name)
            if arch is None or model_id is None or model_id.arch == get_architecture(arch).arch:
                lost[name] = NOT_FOUND if isinstance(err, ModelNotFoundError) else f"{UNREADABLE}: {err}"
    return of_arch(distinct(pool), arch), lost


def distinct(pool: list[Candidate]) -> list[Candidate]:
    """``pool`` with each checkpoint once, as first named: a name given twice, or one checkpoint folder named two
    ways (its id and its path, a relative and an absolute path, ids differing in case), would be ranked twice."""
    seen: dict[str, Candidate] = {}
    for candidate in pool:
        seen.setdefault(candidate.id if candidate.hub_only else os.path.realpath(candidate.location), candidate)
    return list(seen.values())


def named_candidate(name: str | Path) -> Candidate:
    """The candidate of a model id or checkpoint folder; ``ModelNotFoundError`` when nothing resolves it."""
    folder = resolve(name)
    config = read_config(folder)
    source = str(config.get("source_dataset") or Path(folder).parent.name)
    named = not Path(name).expanduser().is_dir()
    # a folder without an id is named by its path: "<source>/<arch>" would name a zoo checkpoint, or another folder
    model_id = str(name) if named else str(config.get("id") or name)
    return Candidate(
        model_id, source, config["arch"], str(folder), unusable_reason(config), training=training_status(config)
    )


def of_arch(pool: list[Candidate], arch: str | None) -> list[Candidate]:
    if arch is None:
        return pool
    try:
        wanted = get_architecture(arch).arch
    except KeyError as err:  # a user's word: said as the recommender's other refusals are, not a traceback
        raise RecommendError(err.args[0]) from None
    return [c for c in pool if c.arch == wanted]


def self_transfer(pool: list[Candidate], target: Dataset) -> dict[Candidate, str]:
    """The candidates trained on ``target``'s own data, each with the evidence: the fingerprint of its training
    series overlaps the target's series (checkpoints since tshub records one), or a dataset it was trained on
    has the target's name as the catalogue matches names (any checkpoint, a multi-head one's datasets included: a
    re-exported copy of a source's data, rounded otherwise, escapes its fingerprint, so a name match leaves a
    fingerprinted checkpoint out too, its reason saying that the series themselves did not match)."""
    return {candidate: why for candidate, why in self_transfers(pool, target) if why is not None}


def self_transfer_reason(source: str | Path, target: Dataset) -> str | None:
    """Why fine-tuning ``source`` on ``target`` is no transfer (``SELF_TRANSFER``: it was trained on the target's own
    data, with the evidence), or None: its scores against training from scratch then measure nothing."""
    why = next(iter(self_transfer(candidate_pool([source]), target).values()), None)  # one source: one reason
    return None if why is None else f"{SELF_TRANSFER}: {why}"


def self_transfers(pool: list[Candidate], target: Dataset) -> Iterator[tuple[Candidate, str | None]]:
    """``self_transfer`` one candidate at a time, in ``pool``'s order: each with its evidence, or None when it was
    not trained on ``target``'s data (a caller may stop between two, as ``recommend`` does at its time limit)."""
    key = dataset_key(target.name)
    hashes = cache(lambda: series_hashes(target.X))  # once, and only for a candidate that holds a fingerprint
    for candidate in pool:
        yield candidate, _own_data_evidence(candidate, target, key, hashes)


def _own_data_evidence(
    candidate: Candidate, target: Dataset, key: str | None, hashes: Callable[[], np.ndarray]
) -> str | None:
    """Why ``candidate`` counts as trained on ``target``'s data (``self_transfer``), or None."""
    config = read_config(candidate.location) if not candidate.hub_only else {}
    meta = config.get("meta") or {}
    stored, share = meta.get("train_fingerprint"), None
    if stored is not None:
        share = overlap(stored, hashes())
        if share is not None and share >= OVERLAP_THRESHOLD:
            return f"{share:.0%} of the series compared are identical to its training series"
    for inherited in meta.get("ancestor_fingerprints") or []:  # a fine-tune's backbone learned its parents' data
        found = overlap(inherited, hashes())
        if found is not None and found >= OVERLAP_THRESHOLD:
            return f"{found:.0%} of the series compared are identical to the training series of a checkpoint it was fine-tuned from"
    ancestors = meta.get("ancestor_datasets") or []
    names = [config.get("source_dataset") or candidate.source, *(meta.get("source_datasets") or []), *ancestors]
    # no fingerprint, one too sparse to tell, or a copy re-exported with fewer digits: the catalogue's copies
    match = catalogue_overlap(names, target.X)
    if match is not None:
        return (
            f"{match[1]:.0%} of the series compared equal the training series of {match[0]}, which it was "
            f"trained on, to {NEAR_DIGITS} significant digits (the local catalogue's copy)"
        )
    same = next((n for n in names if key is not None and dataset_key(n) == key), None)
    if same is None:
        return None
    return (
        f"its source dataset is {same}"
        if len(names) == 1
        else f"it was fine-tuned from a checkpoint trained on {same}"
        if same in ancestors and same not in names[: len(names) - len(ancestors)]
        else f"{same} is among the {len(names) - 1} datasets it was pretrained on"
    ) + (
        ""  # the name is the only evidence there is: the checkpoint holds no fingerprint to check it with
        if share is None
        else f", by name only: {share:.0%} of the series compared are among its training series, so if this "
        f"is other data, {ANOTHER_DATA_HINT}"
    )


def catalogue_overlap(names: list[str], target: np.ndarray) -> tuple[str, float] | None:
    """The first of ``names`` (datasets a checkpoint was trained on) whose training series in the local catalogue
    and the ``target`` series are ``near_copies`` at OVERLAP_THRESHOLD or more, either way, with that share; None
    when none is or none is here. What a fingerprint cannot tell (none, too sparse, a rounded copy); only sets whose
    series have the target's length are loaded (other series cannot be copies)."""
    length = target.shape[-1]
    for name in names:
        stated = _catalogue_lengths().get(name.casefold())
        if stated is not None and stated.isdigit() and int(stated) != length:
            continue
        if _TRAINING_SHAPES.get(name, target.shape[1:]) != target.shape[1:]:  # seen before, of another shape
            continue
        source = _training_series(name)
        if source is None or not len(source) or not len(target) or source.shape[1:] != target.shape[1:]:
            continue
        in_target, in_source = near_copies(target, source)
        share = max(in_target / len(target), in_source / len(source))
        if share >= OVERLAP_THRESHOLD:
            return name, share
    return None


@cache
def _catalogue_lengths() -> dict[str, str]:
    """UCR series lengths by case-folded name, as the archive's summary states them ("Vary" for ragged sets)."""
    try:
        return {row["Name"].casefold(): row["Length"] for row in ucr_summary()}
    except (DatasetError, OSError):  # no data folder here: nothing to compare with
        return {}


#: The (channels, length) of every catalogue training split loaded, so that one of another shape than a target (a
#: ragged UCR set, EMG, SP500: no length stated to skip it by) is loaded once per process, not once per target.
_TRAINING_SHAPES: dict[str, tuple[int, ...]] = {}


@lru_cache(maxsize=16)
def _training_series(name: str) -> np.ndarray | None:
    """A catalogue dataset's training series (its shape kept in ``_TRAINING_SHAPES``); None when it is not here."""
    try:
        series = load(name).split("train")[0]
    except (DatasetError, KeyError, OSError):
        return None
    _TRAINING_SHAPES[name] = series.shape[1:]
    return series


__all__ = [
    "HUB_ONLY",
    "NOT_FOUND",
    "UNREADABLE",
    "SELF_TRANSFER",
    "Candidate",
    "candidate_pool",
    "found_candidates",
    "self_transfer",
    "self_transfer_reason",
    "self_transfers",
]
