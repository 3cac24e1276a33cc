"""Close matches for names people type (datasets, model ids, architectures), for "did you mean" in errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` of ``choices`` closest to ``name`` ignoring case, best first, spelled as in ``choices``."""
    spelled = {str(c).casefold(): str(c) for c in choices}
    return [spelled[m] for m in difflib.get_close_matches(name.casefold(), spelled, n=n, cutoff=cutoff)]
