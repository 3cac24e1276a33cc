"""Where the real data lives: the folder holding ``UCRArchive_2018`` and the Otović sources."""

from __future__ import annotations

import os
from pathlib import Path

#: The UCR 2018 archive's folder name (a path to it is accepted as the data root too).
FULL = "UCRArchive_2018"
_REPO_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def data_root(root: str | Path | None = None) -> Path | None:
    """The folder holding ``UCRArchive_2018`` (and the other sources): ``root``, ``$TSHUB_DATA`` or ../shared/data.

    A path to the ``UCRArchive_2018`` folder itself is accepted too. None when nothing is configured or found.
    """
    if root is None:
        root = os.environ.get("TSHUB_DATA") or (_REPO_DATA if _REPO_DATA.is_dir() else None)
    if root is None:
        return None
    root = Path(root).expanduser()
    return root.parent if root.name == FULL else root
