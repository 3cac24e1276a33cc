"""``dtw+logme``: the mean of two per-target ranks, bigdata18's DTW dataset similarity and LogME.

Why this combination: in bench/results/rank_methods.md (10 small UCR targets × 12 fine-tuned FCN candidates,
bench/results/recommender.json) it had the lowest mean regret of the 18 methods first measured, on the zoo of
commit 072e80c (0.007 with LogME in float32); rerun on the complete zoo (commit 8bd8dc7) it has 0.016 [bootstrap
95 % interval 0.007-0.026] against 0.018 for ``logme`` and 0.029 for a random pick; and it costs what ``logme``
costs plus what ``dtw`` costs (nothing for a target the index holds; the target's DBA prototypes otherwise). Why it
is not the default: against ``logme`` it wins on 4 targets, ties on 4 and loses on 2 (sign test p = 0.69), no
method beats a random pick significantly there, and on the complete zoo choosing the best method on 9 targets and
applying it to the 10th gives 0.019, the default's 0.018.

The two signals are put on one scale by their order: each candidate's rank among the candidates, scaled to
[0, 1] (``ranker.rank_mean``); LogME's order is the cascade's (shortlisted first), and it also orders candidates
whose mean ranks tie (two signals tie often: first by one and last by the other). A candidate LogME cannot score
is skipped (it does not run on the target); one whose source the index does not hold gets the middle DTW rank.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tshub.recommender.candidates import Candidate
from tshub.recommender.dtw import rank_by_dtw
from tshub.recommender.feature_methods import rank_by_logme
from tshub.recommender.methods import Context, Scored, register, same_score
from tshub.recommender.ranker import rank_mean


@register(
    "dtw+logme",
    "mean of the candidate's ranks (scaled to 0-1) by DTW similarity and by LogME, higher is better",
    needs_index=True,
)
def rank_by_dtw_and_logme(pool: list[Candidate], ctx: Context) -> Iterator[Scored]:
    logme = list(rank_by_logme(pool, ctx))
    distances = {s.candidate: s.score for s in rank_by_dtw(pool, ctx)}
    yield from (s for s in logme if s.score is None)
    ordered = sorted((s for s in logme if s.score is not None), key=Scored.sort_key)
    signals = np.array(
        [
            [np.nan if distances.get(s.candidate) is None else distances[s.candidate], -rank]
            for s, rank in zip(ordered, _tied_ranks(ordered))
        ]
    ).reshape(len(ordered), 2)
    for position, (s, score) in enumerate(zip(ordered, rank_mean(signals))):
        distance = distances.get(s.candidate)
        yield Scored(
            s.candidate,
            float(score),
            {"logme": s.score, "dtw_distance": None if distance is None else -distance, "logme_details": s.details},
            tie_break=float(position),
        )


def _tied_ranks(ordered: list[Scored]) -> list[int]:
    """LogME's order as ranks (0 = best), candidates scored the same (within ``SAME_SCORE_RTOL`` of the score's
    size, in one cascade tier) sharing one: their order is arbitrary, which ``recommend`` says of a ranking of such
    scores alone, and must not decide the combination."""
    ranks: list[int] = []
    for i, s in enumerate(ordered):  # every one scored: the unscored are yielded apart
        first = ordered[ranks[-1]] if ranks else None
        tied = (
            first is not None
            and first.tier == s.tier
            and same_score([float(first.score or 0.0), float(s.score or 0.0)])
        )
        ranks.append(ranks[-1] if tied else i)
    return ranks
