"""``dtw``: bigdata18's dataset similarity (min DTW between per-class DBA prototypes) from the saved
``SimilarityIndex``. It ranks source *datasets*, so every architecture of a source gets the same score."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from tshub.hub.checkpoint import verified_weights
from tshub.hub.errors import CheckpointError
from tshub.hub.ids import source_key
from tshub.recommender.candidates import Candidate
from tshub.recommender.methods import Context, Scored, failure_reason, register
from tshub.recommender.sampling import final_positions


@register(
    "dtw",
    "bigdata18 DTW distance between class prototypes (a regression's: one of all its series), negated: higher (closer "
    "to 0) is better",
    needs_index=True,
)
def rank_by_dtw(pool: list[Candidate], ctx: Context) -> Iterator[Scored]:
    index = ctx.index
    with timing_kernels(ctx):
        if ctx.target_name is not None and ctx.target_name in index:
            ranked = index.rank(ctx.target_name, k=None)  # stored distances of the same training split
        else:
            ranked = index.rank(target_prototypes(ctx, len(pool)), k=None)
    distances = {source_key(name): d for name, d in ranked}
    known = {source_key(name) for name in index.names}
    for candidate in pool:
        key = source_key(candidate.source)
        if not candidate.hub_only:  # the score names the source only: a checkpoint that cannot load is no pick
            try:
                verified_weights(candidate.location)
            except CheckpointError as err:
                yield Scored(candidate, None, failure_reason(err))
                continue
        if key in distances:
            yield Scored(candidate, -distances[key], {"distance": distances[key]})
        elif key == source_key(ctx.target.name):  # ranked only with allow_self_transfer: the nearest there is
            yield Scored(candidate, -0.0, {"distance": 0.0, "note": "its source is the target itself"})
        elif key in known:
            yield Scored(candidate, None, "its source has another channel count than the target")
        else:
            yield Scored(candidate, None, f"source {candidate.source!r} is not in the similarity index")


@contextmanager
def timing_kernels(ctx: Context) -> Iterator[None]:
    """Measure in ``ctx.compiling_s`` the time numba spends on the DTW kernels inside the block: compiling them (67
    of the 73 s a first ranking of GunPoint took with an empty cache) or loading them from its disk cache, once per
    process. A time limit this exhausts names it, rather than blaming the number of candidates."""
    from numba.core import event

    clock = event.TimingListener()  # the global compiler lock is held while numba compiles or loads a kernel
    ctx.compiling_s = lambda: clock.duration if clock.done else 0.0
    with event.install_listener("numba:compiler_lock", clock):
        yield


def target_prototypes(ctx: Context, n_candidates: int) -> list[np.ndarray]:
    """The target's per-class DBA prototypes (c, t), averaged over the training series the feature methods' final
    score uses (a stratified, seeded sample of ``ctx.plan.final_size``: all of a small target's), the deadline
    checked before each class, between its medoid's rows and DBA's iterations, and after the last class."""
    from tshub.similarity.index import split_series

    series, labels = split_series(ctx.target)
    keep = final_positions(ctx.target, ctx.plan)
    if len(keep) < len(series):
        ctx.notes.append(f"target prototypes averaged over {len(keep)} of {len(series)} training series")
        series, labels = [series[i] for i in keep], None if labels is None else labels[keep]
    check = functools.partial(ctx.check_time, 0, n_candidates)
    _, prototypes = ctx.index.make_prototypes(series, labels, check=check)
    check()
    return prototypes


def load_index(index: Any, method: str = "dtw", channels: int | None = None) -> tuple[Any, str | None]:
    """The SimilarityIndex to use (given, or loaded from its folder, default the repository's), or None and why
    not, a clause without a full stop (``recommend`` adds what it did instead): there is none, or none of its
    sources has the target's ``channels`` (every candidate would be skipped)."""
    from tshub.similarity import SimilarityIndex
    from tshub.similarity.index import DEFAULT_FOLDER

    if isinstance(index, SimilarityIndex):
        loaded = index
    else:
        folder = Path(index) if index is not None else DEFAULT_FOLDER
        try:
            loaded = SimilarityIndex.load(folder)
        except FileNotFoundError:
            return None, (
                f"method {method!r} needs the similarity index, and {folder} has none (build it with "
                "scripts/build_similarity_index.py or pass index=)"
            )
    if channels is not None and channels not in loaded.channel_counts:
        return None, (
            f"none of the similarity index's {len(loaded)} sources has the target's {channels} channels, so method "
            f"{method!r} cannot compare it with them"
        )
    return loaded, None
