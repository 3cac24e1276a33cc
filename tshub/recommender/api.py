"""``tshub.recommend``: rank source checkpoints for a target dataset by one of the registered methods."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import torch

from tshub.data.catalogue import dataset_from
from tshub.data.dataset import Dataset, refuse_incomplete_dataset, refuse_unlabelled_training
from tshub.data.splits import as_training_data, check_classes
from tshub.hub.checkpoint import read_config
from tshub.recommender.advice import TransferAdvice, advise
from tshub.recommender.cache import FeatureCache
from tshub.recommender.candidates import (
    NOT_FOUND,
    SELF_TRANSFER,
    UNREADABLE,
    Candidate,
    candidate_pool,
    found_candidates,
    of_arch,
    self_transfers,
)
from tshub.recommender.dtw import load_index
from tshub.recommender.errors import RankedOtherwise, RecommendError
from tshub.recommender.methods import (
    DEFAULT_METHOD,
    DEFAULT_PROBE_EPOCHS,
    METHODS,
    NEEDS_INDEX,
    SAME_SCORE_RTOL,
    Context,
    Scored,
    check_deadline,
    check_time_limit,
    list_methods,
    same_score,
)
from tshub.recommender.results import RankedSource, Recommendation, SkippedSource
from tshub.recommender.sampling import ScoringPlan, as_plan
from tshub.training.loop import keeps_callers_rng, resolve_device
from tshub.training.recipes import is_count


@keeps_callers_rng  # adapting a candidate to the target seeds its fresh layers
def recommend(
    target: str | Dataset,
    k: int | None = 5,
    arch: str | None = None,
    method: str = DEFAULT_METHOD,
    candidates: Sequence[str | Path] | None = None,
    index: Any = None,
    *,
    device: str | torch.device | None = None,
    probe_epochs: int = DEFAULT_PROBE_EPOCHS,
    progress: bool = False,
    allow_self_transfer: bool = False,
    plan: ScoringPlan | str = "fast",
    time_limit_s: float | None = None,
    cache: bool | FeatureCache = True,
    strict_candidates: bool = True,
) -> Recommendation:
    """The ``k`` best source checkpoints for ``target`` (all with ``k=None``) by ``method``.

    ``target``: a Dataset (one without splits is all training data), a catalogue name or a data file; sources are
    scored on its "train" split. ``candidates``: model ids or checkpoint folders (default: every checkpoint
    ``tshub.list_pretrained()`` knows), restricted to ``arch`` when given. ``index``: a ``SimilarityIndex`` or its
    folder for the methods that read it, ``"dtw"`` and ``"dtw+logme"`` (default: the repository's
    ``zoo/similarity``). ``probe_epochs`` is the fine-tune length of ``method="probe"``. Candidates trained on the
    target's own data are skipped unless ``allow_self_transfer``. ``plan`` ("fast", "full" or a ``ScoringPlan``)
    bounds how much of the target the feature scores look at; ``time_limit_s`` bounds the whole call (loading the
    target, finding the candidates, the self-transfer check, the index, the scores): it is checked after each of
    those stages and between candidates, and the first check past it raises ``RecommendTimeout`` (a stage under
    way, such as one candidate's score, is not interrupted); ``cache`` reuses features computed before for the same
    checkpoint and series (``tshub.recommender.cache``; a ``FeatureCache`` of its own scope keeps one user's rankings
    from another's). Named ``candidates`` are ranked whatever their quality (each checkpoint once, however often or
    however differently named), and one that cannot be found raises ``ModelNotFoundError``; with
    ``strict_candidates=False`` they are treated as the whole zoo is (e.g. a service's configured sources): those
    that learned nothing, or that cannot be found, are skipped with the reason. When every candidate scores the same
    (``all_tied``) the note says so and no advice is given: the first pick was not made on evidence.
    """
    start = time.perf_counter()
    deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
    if method not in METHODS:
        raise RecommendError(f"unknown recommendation method {method!r}; choose one of {list_methods()}.")
    if k is not None and (not is_count(k) or k < 0):
        raise RecommendError(f"k must be a count >= 0 or None (every candidate), got {k!r}.")
    if not is_count(probe_epochs) or probe_epochs < 1:  # else every candidate's probe fails alike, after loading
        raise RecommendError(f"probe_epochs must be a whole number >= 1, got {probe_epochs!r}.")
    if isinstance(candidates, (str, Path)):  # else read letter by letter, as ids 'M', 'o', ...
        raise RecommendError(f"candidates is a list of model ids or folders: write candidates=[{str(candidates)!r}].")
    check_time_limit(time_limit_s)
    try:
        scoring = as_plan(plan).for_device(resolve_device(device))
    except ValueError as err:
        raise RecommendError(str(err)) from None
    dataset, name = load_target(target)
    dataset = as_training_data(dataset)
    if "train" not in dataset.splits or not len(dataset.splits["train"]):
        raise RecommendError(
            f"target {dataset.name!r} has no 'train' split (it has {sorted(dataset.splits)}): "
            "sources are scored on the training series; add one (tshub.data.splits.random_split)."
        )
    refuse_incomplete_dataset(dataset)  # once, not as every candidate's failure to score
    refuse_unlabelled_training(dataset)
    check_classes(dataset)

    def on_time(stage: str) -> None:
        check_deadline(deadline, time_limit_s, dataset.name, f"stopped after {stage}, before scoring any candidate")

    on_time("loading the target")
    if candidates is None or strict_candidates:
        pool, skipped = candidate_pool(candidates, arch), []
    else:
        pool, lost = found_candidates(candidates, arch)
        skipped = [SkippedSource(name, reason) for name, reason in lost.items()]
    if candidates is None or not strict_candidates:  # leave out checkpoints that learned nothing
        skipped += [SkippedSource(c.id, f"not a usable source: {c.unusable}") for c in pool if c.unusable]
        pool = [c for c in pool if not c.unusable]
    on_time(f"finding the {len(pool)} candidates")
    if not allow_self_transfer:
        own: dict[Candidate, str] = {}
        for checked, (candidate, why) in enumerate(self_transfers(pool, dataset), 1):
            if why is not None:
                own[candidate] = why
            on_time(f"checking {checked} of {len(pool)} candidates for training on the target's own data")
        skipped = [SkippedSource(c.id, f"{SELF_TRANSFER}: {why}") for c, why in own.items()] + skipped
        pool = [c for c in pool if c not in own]
    if not pool:
        raise RecommendError(_no_candidate_message(arch, skipped, candidates))
    features = cache if isinstance(cache, FeatureCache) else FeatureCache() if cache else None
    context = Context(dataset, name, index, device, probe_epochs, progress, scoring, features, deadline, time_limit_s)
    note = None
    if method in NEEDS_INDEX:
        context.index, note = load_index(index, method, dataset.n_channels)
        if context.index is None:
            note = f"{note}; ranked by {DEFAULT_METHOD!r} instead"  # load_index says why it has no index
            warnings.warn(f"{note}.", RankedOtherwise, stacklevel=2)
            method = DEFAULT_METHOD
        on_time("loading the similarity index")
    rank, score_name = METHODS[method]
    n_candidates, scored = len(pool) + len(skipped), []
    for verdict in rank(pool, context):
        if verdict.score is None:
            skipped.append(SkippedSource(verdict.candidate.id, str(verdict.details)))
        else:
            scored.append(verdict)
    scored.sort(key=Scored.sort_key)
    rows = [
        RankedSource(
            i,
            s.candidate.id,
            float(cast(float, s.score)),
            s.candidate.source,
            s.candidate.arch,
            s.details,
            s.candidate.training,
        )
        for i, s in enumerate(scored, 1)
    ]
    tied = all_tied(scored)
    top = sum(s.tier == scored[0].tier for s in scored) if scored else 0
    which = f"all {top}" if top == len(scored) else f"the {top} re-scored"
    tie = (
        f"{which} candidates scored the same (to {SAME_SCORE_RTOL:g} of the score's size): the ranking carries no "
        "information, its order is arbitrary, and no advice is given on the first; a target whose series are "
        "constant, or whose labels have nothing to do with its series, scores so"
        if tied
        else None
    )
    note = "; ".join(n for n in (tie, note, *context.notes) if n) or None
    return Recommendation(
        target=dataset.name,
        method=method,
        score_name=score_name,
        ranking=rows if k is None else rows[:k],
        skipped=skipped,
        n_candidates=n_candidates,
        elapsed_s=time.perf_counter() - start,
        note=note,
        advice=_advice(dataset, scored[0], method) if scored and not tied else None,
    )


def all_tied(scored: list[Scored]) -> bool:
    """Whether nothing told the first pick (``scored[0]``, best first) from the others scored on its footing: its
    tier (a cascade's screen-only rows are on another footing than the re-scored ones) holds two or more rows, and
    their scores and tie-breaks are each one value, up to ``SAME_SCORE_RTOL`` of its size."""
    tier = [s for s in scored if scored and s.tier == scored[0].tier]
    scores = [float(cast(float, s.score)) for s in tier]
    return len(tier) > 1 and same_score(scores) and same_score([s.tie_break for s in tier])


def _advice(dataset: Dataset, pick: Scored, method: str) -> TransferAdvice:
    """The advice on fine-tuning the first pick (its checkpoint's config gives its domain and own accuracy)."""
    assert pick.score is not None  # only scored verdicts are picked
    candidate: Candidate = pick.candidate
    config = {} if candidate.hub_only else read_config(candidate.location)
    return advise(dataset, candidate.id, config, float(pick.score), method)


def load_target(target: str | Dataset) -> tuple[Dataset, str | None]:
    """The target dataset (``dataset_from``), and its catalogue name when it was given by name."""
    dataset = dataset_from(target)
    by_name = isinstance(target, (str, Path)) and not Path(target).expanduser().is_file()
    return dataset, dataset.name if by_name else None


def _no_candidate_message(
    arch: str | None, skipped: list[SkippedSource], candidates: Sequence[str | Path] | None
) -> str:
    where = f"with arch {arch!r} " if arch else ""
    named = [] if candidates is None else found_candidates(candidates)[0]
    other = len(named) - len(of_arch(named, arch)) if arch else 0
    if other:  # named candidates that arch left out: building the zoo is no answer
        where += (
            f"({other} of the {len(named)} candidates found {'is' if other == 1 else 'are'} of another architecture) "
        )
    own = [s.id for s in skipped if s.reason.startswith(SELF_TRANSFER)]
    also = (
        (f" (left out, as trained on the target's own data: {', '.join(own)}; allow_self_transfer=True ranks them)")
        if own
        else ""
    )
    missing = [s.id for s in skipped if s.reason == NOT_FOUND]
    also += f" (not found: {', '.join(missing)})" if missing else ""
    unreadable = [s.id for s in skipped if s.reason.startswith(UNREADABLE)]
    also += f" ({UNREADABLE}: {', '.join(unreadable)}; `tshub info ID` says why)" if unreadable else ""
    unusable = len(skipped) - len(own) - len(missing) - len(unreadable)
    also += f" ({unusable} not usable as sources: see `tshub list`)" if unusable else ""
    todo = (
        "drop arch= or pass candidates=[ids or folders] of that architecture"
        if other
        else "build the zoo (scripts/publish), `tshub pull ID` some, or pass candidates=[ids or folders]"
    )
    return f"no candidate checkpoint {where}to rank{also}: {todo}."
