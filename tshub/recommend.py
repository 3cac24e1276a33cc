"""``tshub.recommend``: rank source checkpoints for a target dataset, by one of several methods.

A recommender is judged by the fine-tuned result of its first pick (``bench/recommender.py`` measures it). The
methods, all scored on the target's training split only:

- ``logme`` (default: the lowest mean regret and no pick worse than 0.08 below the best candidate in
  bench/results/recommender.md, and it scores any checkpoint, indexed or not): LogME of each candidate's frozen
  features, the candidate adapted to the target as fine-tuning adapts it (``tshub.similarity.transferability``);
- ``hscore``: the regularised H-score of the same features (classification targets);
- ``probe``: a short fine-tune of each candidate (``probe_epochs``, ω = 1) on the training split, scored by
  accuracy (ties: loss) or −MAE on a validation split carved from it; the most direct and by far the costliest;
- ``dtw``: bigdata18's dataset similarity (min DTW between per-class DBA prototypes) from the saved
  ``SimilarityIndex``; it ranks source *datasets*, so every architecture of a source gets the same score. Without
  an index it falls back to the default method and says so in ``Recommendation.note``.

Every method leaves out, under ``skipped``, a candidate trained on the target's own data (a fine-tune of it would
be no transfer): its training series' fingerprint overlaps the target's series, or its source dataset (or one of
a multi-head checkpoint's) has the target's name. ``allow_self_transfer=True`` ranks them too.
"""

from __future__ import annotations

import textwrap
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from tshub.data.dataset import Dataset
from tshub.data.splits import as_training_data, check_classes
from tshub.models.base import TimeSeriesModel

DEFAULT_METHOD = "logme"
PLOT_SERIES_PER_CLASS = 100  # DBA of a source without saved prototypes: a seeded sample per class bounds its cost


class RecommendError(ValueError):
    """A recommendation that cannot be made as asked (unknown method, no candidate, wrong task, ...)."""


@dataclass(frozen=True)
class Candidate:
    """A source checkpoint to rank: its id, source dataset, architecture and where to load it from."""

    id: str
    source: str
    arch: str
    location: str  # a checkpoint folder, or "hub" for an index-only entry (downloaded when loaded)
    unusable: str | None = None  # why it should not be a source (tshub.hub.store.unusable_reason), or None

    def load(self) -> TimeSeriesModel:
        from tshub.hub.checkpoint import load_checkpoint
        from tshub.hub.resolve import load_pretrained

        return load_pretrained(self.id) if self.location == "hub" else load_checkpoint(self.location)


@dataclass
class Recommendation:
    """Ranked candidates (best first) for a target: ``{rank, id, score, source, arch, details}`` each."""

    target: str
    method: str
    score_name: str
    ranking: list[dict[str, Any]]
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"id", "reason"}
    n_candidates: int = 0
    elapsed_s: float = 0.0
    note: str | None = None

    @property
    def ids(self) -> list[str]:
        return [row["id"] for row in self.ranking]

    def __iter__(self):
        return iter(self.ranking)

    def __len__(self) -> int:
        return len(self.ranking)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.ranking[i]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        from tshub.tables import MAX_WIDTH, format_table

        def wrap(text: str) -> str:
            return textwrap.fill(text, MAX_WIDTH, subsequent_indent="  ", break_on_hyphens=False)

        rows = [[str(r["rank"]), r["id"], f"{r['score']:.4g}", r["source"], r["arch"]] for r in self.ranking]
        lines = [f"sources for {self.target} by {self.method} ({self.score_name}); "
                 f"{len(self.ranking)} shown of {self.n_candidates - len(self.skipped)} scored, "
                 f"{self.elapsed_s:.1f} s"]
        lines += [f"note: {self.note}"] if self.note else []
        lines += [format_table(rows, ("rank", "id", "score", "source", "arch"))] if rows else ["(no candidate scored)"]
        own = [s for s in self.skipped if s["reason"].startswith(SELF_TRANSFER)]
        others = [s for s in self.skipped if s not in own]
        if own:
            lines.append(wrap(f"left out as {SELF_TRANSFER} (no transfer; allow_self_transfer=True or "
                              "--allow-self-transfer ranks them): "
                              + "; ".join(f"{s['id']} ({s['reason'].removeprefix(SELF_TRANSFER + ': ')})"
                                          for s in own)))
        if others:
            lines.append(wrap(f"skipped {len(others)}: " + "; ".join(f"{s['id']} ({s['reason']})" for s in others[:5])
                              + (" ..." if len(others) > 5 else "")))
        return "\n".join(lines)


@dataclass
class _Context:
    """What a method needs besides the candidates."""

    target: Dataset
    target_name: str | None  # the catalogue name when the target was given by name (the index may know it)
    index: Any
    device: str | torch.device | None
    probe_epochs: int
    progress: bool


#: name → (scorer, score description); a scorer yields (candidate, score, tie-break, details), or (candidate,
#: None, None, reason) for a candidate it cannot score. Higher scores are better; ties go to the lower tie-break.
Scored = tuple[Candidate, float | None, Any, Any]
METHODS: dict[str, tuple[Callable[[list[Candidate], _Context], Iterable[Scored]], str]] = {}


def _method(name: str, score_name: str):
    def register(fn):
        METHODS[name] = (fn, score_name)
        return fn
    return register


def list_methods() -> list[str]:
    return sorted(METHODS)


# ---------------------------------------------------------------------------------------------------- public API
def recommend(target: str | Dataset, k: int | None = 5, arch: str | None = None, method: str = DEFAULT_METHOD,
              candidates: Sequence[str | Path] | None = None, index: Any = None, *,
              device: str | torch.device | None = None, probe_epochs: int = 5,
              progress: bool = False, allow_self_transfer: bool = False) -> Recommendation:
    """The ``k`` best source checkpoints for ``target`` (all with ``k=None``) by ``method``.

    ``target``: a Dataset (one without splits is all training data), a catalogue name or a data file; sources are
    scored on its "train" split. ``candidates``: model ids or checkpoint folders (default: every checkpoint
    ``tshub.list_models()`` knows), restricted to ``arch`` when given. ``index``: a ``SimilarityIndex`` or its
    folder for ``method="dtw"`` (default: the repository's ``zoo/similarity``). ``probe_epochs`` is the fine-tune
    length of ``method="probe"``. Candidates trained on the target's own data are skipped unless
    ``allow_self_transfer``.
    """
    start = time.perf_counter()
    if method not in METHODS:
        raise RecommendError(f"unknown recommendation method {method!r}; choose one of {list_methods()}.")
    dataset, name = _load_target(target)
    dataset = as_training_data(dataset)
    if "train" not in dataset.splits or not len(dataset.splits["train"]):
        raise RecommendError(f"target {dataset.name!r} has no 'train' split (it has {sorted(dataset.splits)}): "
                             "sources are scored on the training series; add one (tshub.data.splits.random_split).")
    check_classes(dataset)
    pool, skipped = candidate_pool(candidates, arch), []
    if candidates is None:  # the whole zoo: leave out checkpoints that learned nothing (named ones are kept)
        skipped = [{"id": c.id, "reason": f"not a usable source: {c.unusable}"} for c in pool if c.unusable]
        pool = [c for c in pool if not c.unusable]
    if not allow_self_transfer:
        own = self_transfer(pool, dataset)
        skipped = [{"id": c.id, "reason": f"{SELF_TRANSFER}: {why}"} for c, why in own.items()] + skipped
        pool = [c for c in pool if c not in own]
    if not pool:
        where = f"with arch {arch!r} " if arch else ""
        own = [s["id"] for s in skipped if s["reason"].startswith(SELF_TRANSFER)]
        also = (f" (left out, as trained on the target's own data: {', '.join(own)}; allow_self_transfer=True "
                "ranks them)") if own else ""
        unusable = len(skipped) - len(own)
        also += f" ({unusable} not usable as sources: see `tshub list`)" if unusable else ""
        raise RecommendError(f"no candidate checkpoint {where}to rank{also}: build the zoo (scripts/publish), "
                             "`tshub pull ID` some, or pass candidates=[ids or folders].")
    context = _Context(dataset, name, index, device, probe_epochs, progress)
    note = None
    if method == "dtw":
        context.index, note = _index_or_note(index)
        if context.index is None:
            warnings.warn(note, stacklevel=2)
            method = DEFAULT_METHOD
    scorer, score_name = METHODS[method]
    n_candidates, ranked = len(pool) + len(skipped), []
    for candidate, score, tie, details in scorer(pool, context):
        if score is None:
            skipped.append({"id": candidate.id, "reason": str(details)})
        else:
            ranked.append((score, tie, candidate, details))
    ranked.sort(key=lambda r: (-r[0], r[1], r[2].id))
    rows = [{"rank": i, "id": c.id, "score": float(score), "source": c.source, "arch": c.arch, "details": details}
            for i, (score, _, c, details) in enumerate(ranked, 1)]
    return Recommendation(target=dataset.name, method=method, score_name=score_name,
                          ranking=rows if k is None else rows[:k], skipped=skipped, n_candidates=n_candidates,
                          elapsed_s=time.perf_counter() - start, note=note)


def candidate_pool(candidates: Sequence[str | Path] | None = None, arch: str | None = None) -> list[Candidate]:
    """The checkpoints to rank: the given ids/folders, or every checkpoint the local stores and zoo index list."""
    from tshub.hub.checkpoint import read_config
    from tshub.hub.resolve import resolve
    from tshub.hub.store import list_models
    from tshub.models.registry import get_architecture

    if candidates is None:
        pool = [Candidate(r["id"], r["source"], r["arch"], r["location"], r.get("unusable"))
                for r in list_models()]
    else:
        pool = []
        for name in candidates:
            folder = resolve(name)
            config = read_config(folder)
            source = str(config.get("source_dataset") or Path(folder).parent.name)
            named = not Path(name).expanduser().is_dir()
            model_id = str(name) if named else str(config.get("id") or f"{source}/{config['arch']}")
            pool.append(Candidate(model_id, source, config["arch"], str(folder)))
    if arch is not None:
        wanted = get_architecture(arch).arch
        pool = [c for c in pool if c.arch == wanted]
    return pool


SELF_TRANSFER = "trained on the target's own data"


def self_transfer(pool: list[Candidate], target: Dataset) -> dict[Candidate, str]:
    """The candidates trained on ``target``'s own data, each with the evidence: the fingerprint of its training
    series overlaps the target's series (checkpoints since tshub records one), or a dataset it was trained on
    has the target's name as the catalogue matches names (any checkpoint, a multi-head one's datasets included)."""
    from tshub.data.catalogue import dataset_key
    from tshub.data.fingerprint import OVERLAP_THRESHOLD, overlap, series_hashes
    from tshub.hub.checkpoint import read_config

    key, hashes, found = dataset_key(target.name), None, {}
    for candidate in pool:
        config = read_config(candidate.location) if candidate.location != "hub" else {}
        meta = config.get("meta") or {}
        stored = meta.get("train_fingerprint")
        if stored is not None:
            hashes = series_hashes(target.X) if hashes is None else hashes
            share = overlap(stored, hashes)
            if share is not None and share >= OVERLAP_THRESHOLD:
                found[candidate] = f"{share:.0%} of the series compared are identical to its training series"
                continue
        names = [config.get("source_dataset") or candidate.source, *(meta.get("source_datasets") or [])]
        same = next((n for n in names if key is not None and dataset_key(n) == key), None)
        if same is not None:
            found[candidate] = (f"its source dataset is {same}" if len(names) == 1
                                else f"{same} is among the {len(names) - 1} datasets it was pretrained on")
    return found


# ---------------------------------------------------------------------------------------------------- methods
@_method("logme", "LogME evidence per sample, higher is better")
def _rank_logme(pool: list[Candidate], ctx: _Context) -> Iterable[Scored]:
    return _rank_features(pool, ctx, "logme")


@_method("hscore", "regularised H-score, higher is better")
def _rank_hscore(pool: list[Candidate], ctx: _Context) -> Iterable[Scored]:
    if ctx.target.task != "classification":
        raise RecommendError(f"the H-score needs class labels; {ctx.target.name!r} is a {ctx.target.task} "
                             "dataset: use method='logme' or 'probe'.")
    return _rank_features(pool, ctx, "hscore")


def _rank_features(pool: list[Candidate], ctx: _Context, metric: str) -> Iterable[Scored]:
    from tshub.similarity.transferability import transferability

    for candidate in _progress(pool, ctx, metric):
        try:
            info = transferability(candidate.load(), ctx.target, metric, device=ctx.device)
        except (ValueError, RuntimeError, OSError) as err:  # cannot load, or cannot run on this target
            yield candidate, None, None, _reason(err)
            continue
        score = info.pop("score")
        yield candidate, score, 0, info


@_method("probe", "validation accuracy (regression: −MAE) after a short fine-tune, higher is better")
def _rank_probe(pool: list[Candidate], ctx: _Context) -> Iterable[Scored]:
    from tshub.training.finetune import finetune

    train_only = ctx.target.with_splits({"train": ctx.target.splits["train"]})  # val is carved from train
    for candidate in _progress(pool, ctx, "probe"):
        start = time.perf_counter()
        try:
            result = finetune(candidate.load(), train_only, lr_multiplier=1.0, max_epochs=ctx.probe_epochs,
                              seed=0, device=ctx.device, progress=False)
        except (ValueError, RuntimeError, OSError) as err:
            yield candidate, None, None, _reason(err)
            continue
        kept = result.history[(result.best_epoch or len(result.history)) - 1]
        val_loss = float(kept.get("val_loss", float("inf")))
        score = (result.val_metrics["accuracy"] if ctx.target.task == "classification"
                 else -result.val_metrics["mae"])
        yield candidate, score, val_loss, {**result.val_metrics, "val_loss": val_loss, "epochs": len(result.history),
                                           "seconds": time.perf_counter() - start}


@_method("dtw", "bigdata18 DTW distance between class prototypes, negated: higher (closer to 0) is better")
def _rank_dtw(pool: list[Candidate], ctx: _Context) -> Iterable[Scored]:
    index = ctx.index
    if ctx.target_name is not None and ctx.target_name in index:
        ranked = index.rank(ctx.target_name, k=None)  # stored distances of the same training split
    else:
        ranked = index.rank(ctx.target, k=None)
    distances = {name.casefold(): d for name, d in ranked}
    known = {name.casefold() for name in index.names}
    for candidate in pool:
        key = candidate.source.casefold()
        if key in distances:
            yield candidate, -distances[key], 0, {"distance": distances[key]}
        elif key == ctx.target.name.casefold():  # ranked only with allow_self_transfer: the nearest there is
            yield candidate, -0.0, 0, {"distance": 0.0, "note": "its source is the target itself"}
        elif key in known:
            yield candidate, None, None, "its source has another channel count than the target"
        else:
            yield candidate, None, None, f"source {candidate.source!r} is not in the similarity index"


def _index_or_note(index: Any) -> tuple[Any, str | None]:
    """The SimilarityIndex to use, or None and why not."""
    from tshub.similarity import SimilarityIndex
    from tshub.similarity.index import DEFAULT_FOLDER

    if isinstance(index, SimilarityIndex):
        return index, None
    folder = Path(index) if index is not None else DEFAULT_FOLDER
    try:
        return SimilarityIndex.load(folder), None
    except FileNotFoundError:
        return None, (f"method 'dtw' needs the similarity index, and {folder} has none (build it with "
                      f"scripts/build_similarity_index.py or pass index=); ranked by {DEFAULT_METHOD!r} instead.")


def _load_target(target: str | Dataset) -> tuple[Dataset, str | None]:
    if isinstance(target, Dataset):
        return target, None
    if Path(target).expanduser().is_file():
        return Dataset.from_file(str(Path(target).expanduser())), None
    from tshub.data.catalogue import load

    dataset = load(str(target))
    return dataset, dataset.name


def _progress(pool: list[Candidate], ctx: _Context, what: str) -> Iterable[Candidate]:
    from tqdm.auto import tqdm

    return tqdm(pool, desc=f"recommend ({what})", unit="ckpt", disable=True if not ctx.progress else None)


def _reason(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


# ---------------------------------------------------------------------------------------------------- plot
def plot_prototypes(recommendation: Recommendation, target: str | Dataset, path: str | Path | None = None, *,
                    n_sources: int = 3, index: Any = None) -> Any:
    """The target's class prototypes (DBA, as bigdata18 compares datasets) beside those of the best sources.

    Source prototypes come from the similarity index when it has them, else from the source's catalogue data
    (at most ``PLOT_SERIES_PER_CLASS`` series per class). Shows channel 0. Returns the figure; saves it to ``path``.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("the prototype plot needs matplotlib: pip install 'tshub[plot]'.") from err
    from tshub.similarity import SimilarityIndex

    dataset, _ = _load_target(target)
    loaded, _ = _index_or_note(index)
    maker = loaded if loaded is not None else SimilarityIndex()
    panels = [(f"target {dataset.name}", _prototypes_of(dataset, maker))]
    seen = set()
    for row in recommendation.ranking:
        if len(panels) > n_sources or row["source"].casefold() in seen:
            continue
        seen.add(row["source"].casefold())
        panels.append((f"#{row['rank']} {row['id']}\n{recommendation.method} {row['score']:.4g}",
                       _source_prototypes(row["source"], maker, loaded)))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    for ax, (title, protos) in zip(axes[0], panels):
        if protos is None:
            ax.text(0.5, 0.5, "source data unavailable", ha="center", va="center", transform=ax.transAxes)
        else:
            for label, proto in protos[:10]:
                ax.plot(proto[0], linewidth=1.2, label=str(label))
            ax.legend(fontsize=7, title="class", title_fontsize=7, loc="best")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time")
    axes[0][0].set_ylabel("z-normalised value (channel 0)")
    fig.suptitle("DBA class prototypes: target and recommended sources", fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def _prototypes_of(dataset: Dataset, maker: Any, cap: int | None = None) -> list[tuple[str, Any]]:
    import numpy as np

    from tshub.similarity.index import split_series

    X, y = split_series(dataset)
    labels = np.zeros(len(X), dtype=np.int64) if y is None else np.asarray(y)
    if cap is not None:
        rng = np.random.default_rng(0)
        keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:cap] for c in np.unique(labels)]))
        X, labels = [X[i] for i in keep], labels[keep]
    return list(zip(*maker.make_prototypes(X, labels)))


def _source_prototypes(source: str, maker: Any, index: Any) -> list[tuple[str, Any]] | None:
    if index is not None:
        match = next((n for n in index.names if n.casefold() == source.casefold()), None)
        if match is not None:
            return index.prototypes(match)
    from tshub.data.catalogue import load
    from tshub.data.dataset import DatasetError

    try:
        return _prototypes_of(load(source), maker, cap=PLOT_SERIES_PER_CLASS)
    except (DatasetError, KeyError, OSError):
        return None
