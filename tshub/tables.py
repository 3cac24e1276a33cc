"""Plain-text tables for terminal output (``tshub list``, ``info``, ``recommend``), kept to one line width."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

#: Widest line `list`, `info` and `recommend` print: tables keep to it (long cells are wrapped or shortened).
MAX_WIDTH = 120


def format_table(rows: list[list[str]], header: Sequence[str], max_width: int = MAX_WIDTH) -> str:
    """Plain-text columns, left-aligned, widths fitted to the content; the last column wraps onto continuation
    lines so that no line passes ``max_width``. A line break inside a cell (an error message) becomes a space."""
    rows = [[" ".join(str(c).splitlines()) for c in row] for row in rows]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    indent = sum(w + 2 for w in widths[:-1])
    widths[-1] = min(widths[-1], max(max_width - indent, 20))
    lines = []
    for line in [list(header), ["-" * w for w in widths], *rows]:
        wrapped = textwrap.wrap(str(line[-1]), widths[-1], break_on_hyphens=False) or [""]
        lines.append("  ".join([*(str(c).ljust(w) for c, w in zip(line[:-1], widths)), wrapped[0]]))
        lines += [" " * indent + more for more in wrapped[1:]]
    return "\n".join(line.rstrip() for line in lines)
