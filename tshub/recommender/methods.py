"""The registry of ranking methods, and what every method is given (``Context``) and yields (``Scored``).

A method is a generator over the candidates: it yields one ``Scored`` per candidate, with ``score=None`` and the
reason in ``details`` for one it cannot score. Higher scores rank first within a tier; a cascade puts what it
re-scored in tier 0 before what only its screen scored (tier 1), whose scores are on another footing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from tshub.data.dataset import Dataset
from tshub.recommender.cache import FeatureCache
from tshub.recommender.candidates import Candidate
from tshub.recommender.errors import RecommendError, RecommendTimeout
from tshub.recommender.sampling import ScoringPlan


@dataclass
class Context:
    """What a method needs besides the candidates."""

    target: Dataset
    target_name: str | None  # the catalogue name when the target was given by name (the index may know it)
    index: Any
    device: str | torch.device | None
    probe_epochs: int
    progress: bool
    plan: ScoringPlan
    cache: FeatureCache | None  # features computed before for the same checkpoint and target sample, or None
    deadline: float | None  # time.monotonic() past which the ranking stops, or None
    time_limit_s: float | None
    notes: list[str] = field(default_factory=list)  # what the method tells the user (Recommendation.note)
    compiling_s: Callable[[], float] = lambda: 0.0  # seconds numba has spent on kernels in this call (dtw.py sets it)

    def check_time(self, done: int, total: int) -> None:
        """Raise ``RecommendTimeout`` once the deadline has passed (called between candidates)."""
        check_deadline(
            self.deadline,
            self.time_limit_s,
            self.target.name,
            f"scored {done} of {total} candidates",
            self.compiling_s(),
        )


def check_time_limit(time_limit_s: float | None) -> None:
    """Refuse a limit no ranking can keep to: a negative one (the call loaded everything, then said "took longer
    than -1 s") or NaN (never reached). 0 stops at the first check."""
    if time_limit_s is not None and not time_limit_s >= 0:
        raise RecommendError(f"time_limit_s must be a number of seconds >= 0 or None (no limit), got {time_limit_s!r}.")


def check_deadline(
    deadline: float | None, time_limit_s: float | None, target: str, progress: str, compiling_s: float = 0.0
) -> None:
    """Raise ``RecommendTimeout`` once ``deadline`` (a ``time.monotonic()``) has passed; ``progress`` says how far
    the ranking of ``target`` got. ``compiling_s`` of the time went into numba's kernels, which a process compiles
    (or loads from numba's disk cache) once: named when it is a tenth of the limit or more, since fewer candidates
    would not have helped (with an empty cache, 67 of the 73 s a first dtw ranking of GunPoint ran)."""
    if deadline is None or time.monotonic() <= deadline:
        return
    assert time_limit_s is not None  # a deadline comes from a limit
    advice = "raise time_limit_s, rank fewer candidates (arch=, candidates=) or name a source checkpoint yourself"
    if compiling_s >= max(0.1 * time_limit_s, 0.05):
        progress += (
            f"; {compiling_s:.1f} s of it compiling numba's DTW kernels (or loading them from its cache), once per "
            "process"
        )
        if time.monotonic() - (deadline - time_limit_s) - compiling_s <= time_limit_s:
            advice = (
                "ask again (the kernels compiled so far stay compiled, in this process and in numba's disk cache "
                "for later ones, so each try gets further) or raise time_limit_s"
            )
    raise RecommendTimeout(f"ranking {target!r} took longer than {time_limit_s:g} s ({progress}): {advice}.")


#: Scores closer than this, relative to their size, are one score: float32 features resolve about 1.2e-7 of a
#: value, and a score sums many such roundings (a target of 40 constant series gave 134 candidates LogMEs that
#: differ in the 16th digit, so the first pick came from rounding).
SAME_SCORE_RTOL = 1e-6


def same_score(values: list[float]) -> bool:
    """Whether ``values`` are one score: equal, or within ``SAME_SCORE_RTOL`` of their size."""
    return len(set(values)) == 1 or max(values) - min(values) <= SAME_SCORE_RTOL * max(map(abs, values))


@dataclass
class Scored:
    """A method's verdict on one candidate."""

    candidate: Candidate
    score: float | None  # None: could not be scored, ``details`` says why
    details: Any = None
    tier: int = 0  # lower tiers rank first
    tie_break: float = 0.0  # among equal scores, the lower first

    def sort_key(self) -> tuple[int, float, float, str]:
        return (
            self.tier,
            -float(self.score if self.score is not None else float("-inf")),
            self.tie_break,
            self.candidate.id,
        )


Method = Callable[[list[Candidate], Context], Iterable[Scored]]
METHODS: dict[str, tuple[Method, str]] = {}  # name -> (method, what its score is)
NEEDS_INDEX: set[str] = set()  # methods that read the SimilarityIndex (api loads it, or falls back without one)
DEFAULT_METHOD = "logme"
DEFAULT_PROBE_EPOCHS = 5  # the fine-tune epochs per candidate of the probe method


def register(name: str, score_name: str, needs_index: bool = False) -> Callable[[Method], Method]:
    def add(fn: Method) -> Method:
        METHODS[name] = (fn, score_name)
        if needs_index:
            NEEDS_INDEX.add(name)
        return fn

    return add


def list_methods() -> list[str]:
    return sorted(METHODS)


def each_candidate(pool: list[Candidate], ctx: Context, what: str) -> Iterator[Candidate]:
    """The candidates with a progress bar (when asked), stopping at the deadline."""
    from tqdm.auto import tqdm

    for done, candidate in enumerate(
        tqdm(pool, desc=f"recommend ({what})", unit="ckpt", disable=True if not ctx.progress else None)
    ):
        ctx.check_time(done, len(pool))
        yield candidate


def failure_reason(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"
