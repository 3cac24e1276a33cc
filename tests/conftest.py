"""Shared fixtures: the real data folder beside the project (tests skip cleanly without it), fast torch settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # OpenMP threads stall on shared, busy cores; one thread is faster here

SHARED_DATA = Path(os.environ.get("TSHUB_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or $TSHUB_SHARED_DATA); skips the test when the real data is absent."""
    if not (SHARED_DATA / "UCRArchive_2018").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set TSHUB_SHARED_DATA to the shared/data folder)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ucr_root(shared_data: Path) -> Path:
    return shared_data / "UCRArchive_2018"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's cache, the repository's zoo or the network from a test."""
    monkeypatch.setenv("TSHUB_HOME", str(tmp_path_factory.mktemp("tshub_home")))
    monkeypatch.setenv("TSHUB_REPO_ZOO", "")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
