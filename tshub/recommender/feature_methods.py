"""``logme`` and ``hscore``: each candidate's frozen features on the target, scored, as a cascade.

Every candidate is screened on a small sample (``sampling.screen_sample``); the ``shortlist`` best are scored again
on the final sample (``sampling.final_sample``) and rank first; the rest keep their screen order after them. On a
target so small that a smaller screen sample would not halve the work, the screen runs on the final sample itself,
in bfloat16, so that only the shortlist pays for the final score's float32 (``ScoringPlan.screens_by_precision``).
Features come from the on-disk cache when this checkpoint has seen these very series before.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch

from tshub.data.dataset import Dataset
from tshub.recommender.cache import FeatureCache, checkpoint_digest, sample_digest
from tshub.recommender.candidates import Candidate
from tshub.recommender.errors import RecommendError
from tshub.recommender.methods import Context, Scored, each_candidate, failure_reason, register
from tshub.recommender.sampling import final_sample, screen_sample
from tshub.recommender.transferability import score_features, target_features, transfer_summary

SCREENED, SHORTLISTED = "screen", "shortlist"


@register("logme", "LogME evidence per sample, higher is better")
def rank_by_logme(pool: list[Candidate], ctx: Context) -> Iterable[Scored]:
    return rank_by_features(pool, ctx, "logme")


@register("hscore", "regularised H-score, higher is better")
def rank_by_hscore(pool: list[Candidate], ctx: Context) -> Iterable[Scored]:
    if ctx.target.task != "classification":
        raise RecommendError(
            f"the H-score needs class labels; {ctx.target.name!r} is a {ctx.target.task} "
            "dataset: method='logme' ranks it."
        )
    return rank_by_features(pool, ctx, "hscore")


def rank_by_features(pool: list[Candidate], ctx: Context, metric: str) -> Iterator[Scored]:
    with torch_threads(ctx.plan.threads):
        yield from _cascade(pool, ctx, metric)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``n`` (None: unchanged) for the block."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cascade(pool: list[Candidate], ctx: Context, metric: str) -> Iterator[Scored]:
    plan, cache = ctx.plan, ctx.cache
    final = final_sample(ctx.target, plan)
    screen = screen_sample(final, plan)
    if not plan.screens(len(pool), final, screen):
        screen = final  # too small for a smaller sample to pay; a cheaper precision still may
    if screen is final and not plan.screens_by_precision(len(pool)):
        ctx.notes.append(f"scored on {final.meta['scored_on']}")
        yield from score_each(pool, final, ctx, metric, cache, stage=None)
    else:
        ctx.notes.append(
            f"every candidate screened on {screen.meta['scored_on']}{' in bfloat16' if plan.screen_bf16 else ''}, "
            f"the best {plan.shortlist} re-scored on {final.meta['scored_on']}"
            f"{' in bfloat16' if plan.bf16 else ''} and ranked first"
        )
        screened = list(score_each(pool, screen, ctx, metric, cache, stage=SCREENED))
        ranked = sorted((s for s in screened if s.score is not None), key=Scored.sort_key)
        yield from (s for s in screened if s.score is None)
        yield from score_each(
            [s.candidate for s in ranked[: plan.shortlist]], final, ctx, metric, cache, stage=SHORTLISTED
        )
        for s in ranked[plan.shortlist :]:
            s.tier = 1
            yield s
    if cache is not None:
        cache.prune()


def score_each(
    pool: list[Candidate], sample: Dataset, ctx: Context, metric: str, cache: FeatureCache | None, stage: str | None
) -> Iterator[Scored]:
    """Each candidate's score on ``sample``'s training series, its features cached by content."""
    bf16 = bool(ctx.plan.screen_bf16) if stage == SCREENED else ctx.plan.bf16  # recommend() decided None
    digest = sample_digest(sample, bf16=bf16, statistics=ctx.plan.statistics)
    y = sample.y[sample.splits["train"]]
    for candidate in each_candidate(pool, ctx, f"{metric}, {stage}" if stage else metric):
        start = time.perf_counter()
        key = checkpoint_digest(candidate) if cache is not None else None
        features = cache.get(key, digest) if cache is not None else None
        details = {"n": len(y), "scored_on": sample.meta["scored_on"], "cached": features is not None}
        try:
            if features is None:
                features, _, report = target_features(
                    candidate.load(), sample, device=ctx.device, bf16=bf16, consume=True, statistics=ctx.plan.statistics
                )
                details["transfer"] = transfer_summary(report)
                if cache is not None:
                    cache.put(key, digest, features)
            score = score_features(features, y, metric, sample.task)
        except (ValueError, RuntimeError, OSError) as err:  # cannot load, or cannot run on this target
            yield Scored(candidate, None, failure_reason(err))
            continue
        details.update(
            feature_dim=int(features.shape[1]),
            seconds=time.perf_counter() - start,
            **({"stage": stage} if stage else {}),
        )
        yield Scored(candidate, score, details)
