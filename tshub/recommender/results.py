"""What ``tshub.recommend`` returns: ranked sources, skipped ones, and the recommendation that holds them.

Rows are dataclasses (``server.schemas.RecommendOut`` mirrors them) that also read like the dicts they used to be
(``row["id"]``), so code written against either keeps working.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tshub.recommender.advice import TransferAdvice
from tshub.tables import MAX_WIDTH, format_table

SELF_TRANSFER = "trained on the target's own data"


class _ReadsLikeADict:
    """``row["name"]`` for a dataclass field, as rows were read when they were dicts."""

    def __getitem__(self, key: str) -> Any:
        if key not in {f.name for f in fields(self)}:  # type: ignore[arg-type]
            raise KeyError(key)
        return getattr(self, key)


@dataclass(frozen=True)
class RankedSource(_ReadsLikeADict):
    """One ranked candidate: its rank (1 = best), model id, the method's score (higher is better), details, and
    how its training ended ("converged", "time budget, not converged", ...: a pick that never converged is a weaker
    start than its score suggests; None when the checkpoint does not record it)."""

    rank: int
    id: str
    score: float
    source: str
    arch: str
    details: Any = None
    training: str | None = None


def _screen_only(row: RankedSource) -> bool:
    """Whether a cascade's screen alone scored this row (``feature_methods``: its score is on another footing)."""
    return isinstance(row.details, dict) and row.details.get("stage") == "screen"


@dataclass(frozen=True)
class SkippedSource(_ReadsLikeADict):
    """A candidate left out (trained on the target's own data, not a usable source) or that could not be scored."""

    id: str
    reason: str


@dataclass
class Recommendation:
    """Ranked candidates (best first) for a target, the ones skipped with why, how the ranking was made, and the
    advice on fine-tuning the first pick (``tshub.recommender.advice``; None when nothing was scored, or when every
    candidate scored the same: then no pick was made on evidence, and the note says so)."""

    target: str
    method: str
    score_name: str
    ranking: list[RankedSource]
    skipped: list[SkippedSource] = field(default_factory=list)
    n_candidates: int = 0
    elapsed_s: float = 0.0
    note: str | None = None
    advice: TransferAdvice | None = None

    @property
    def ids(self) -> list[str]:
        return [row.id for row in self.ranking]

    def __iter__(self) -> Iterator[RankedSource]:
        return iter(self.ranking)

    def __len__(self) -> int:
        return len(self.ranking)

    def __getitem__(self, i: int) -> RankedSource:
        return self.ranking[i]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "advice": None if self.advice is None else self.advice.to_dict()}

    def __str__(self) -> str:
        def wrap(text: str) -> str:
            return textwrap.fill(text, MAX_WIDTH, subsequent_indent="  ", break_on_hyphens=False)

        screened = [_screen_only(r) for r in self.ranking]
        rows = [
            [str(r.rank), r.id, f"{r.score:.4g}" + ("*" if only else ""), r.source, r.arch, r.training or "-"]
            for r, only in zip(self.ranking, screened)
        ]
        lines = [
            wrap(
                f"sources for {self.target} by {self.method} ({self.score_name}); "
                f"{len(self.ranking)} shown of {self.n_candidates - len(self.skipped)} scored, "
                f"{self.elapsed_s:.1f} s"
            )
        ]
        lines += [wrap(f"note: {self.note}")] if self.note else []
        lines += (
            [format_table(rows, ("rank", "id", "score", "source", "arch", "training"))]
            if rows
            else ["(none shown: k=0)" if self.n_candidates > len(self.skipped) else "(no candidate scored)"]
        )
        if any(screened) and not all(screened):
            lines.append(
                wrap(
                    "* scored by the screen alone (a smaller sample or lower precision): ranked after every re-scored "
                    "candidate, whatever its value, since the two scores are not on one footing"
                )
            )
        own = [s for s in self.skipped if s.reason.startswith(SELF_TRANSFER)]
        others = [s for s in self.skipped if s not in own]
        if own:
            lines.append(
                wrap(
                    f"left out as {SELF_TRANSFER} (no transfer; allow_self_transfer=True ranks them): "
                    + "; ".join(f"{s.id} ({s.reason.removeprefix(SELF_TRANSFER + ': ')})" for s in own)
                )
            )
        if others:
            lines.append(
                wrap(
                    f"skipped {len(others)}: "
                    + "; ".join(f"{s.id} ({s.reason})" for s in others[:5])
                    + (" ..." if len(others) > 5 else "")
                )
            )
        if self.advice is not None:
            lines += [wrap(line) for line in str(self.advice).splitlines()]
        return "\n".join(lines)
