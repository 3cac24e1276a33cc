"""The recommender's feature cache: entries appear whole or not at all, without an fsync each, and whatever a crash
or a full disk leaves behind is a miss, never an error or wrong features."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tshub.atomic import atomic_write
from tshub.recommender import cache as cache_module
from tshub.recommender.cache import FeatureCache

CHECKPOINT, SAMPLE = "c" * 64, "s" * 64


@pytest.fixture
def features() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(40, 128)).astype(np.float32)


def entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_an_entry_is_renamed_into_place_without_being_flushed(
    tmp_path: Path, features: np.ndarray, monkeypatch: pytest.MonkeyPatch
):
    synced = []
    monkeypatch.setattr(os, "fsync", synced.append)
    cache = FeatureCache(tmp_path)
    cache.put(CHECKPOINT, SAMPLE, features)
    assert synced == []  # a cache entry is recomputed when lost: no flush per candidate
    assert np.array_equal(cache.get(CHECKPOINT, SAMPLE), features.astype(np.float64))
    assert [p.suffix for p in entries(tmp_path)] == [".npy"]  # no temporary left beside it
    atomic_write(tmp_path / "record.json", lambda tmp: tmp.write_text("{}"))
    assert len(synced) == 1  # what is not recomputed is still flushed before its rename


def test_a_write_cut_short_leaves_the_previous_entry_whole(
    tmp_path: Path, features: np.ndarray, monkeypatch: pytest.MonkeyPatch
):
    cache = FeatureCache(tmp_path)
    cache.put(CHECKPOINT, SAMPLE, features)

    def full_disk(path: Path, array: np.ndarray) -> None:
        with open(path, "wb") as f:
            f.write(b"\x93NUMPY half an entry")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module, "_save", full_disk)
    cache.put(CHECKPOINT, SAMPLE, features * 2)  # a full disk costs speed, not the answer
    assert np.array_equal(cache.get(CHECKPOINT, SAMPLE), features.astype(np.float64))
    assert len(entries(tmp_path)) == 1


@pytest.mark.parametrize("left", ["empty", "cut short", "header only"])
def test_an_entry_a_crash_left_empty_or_cut_short_is_a_miss_then_rewritten(
    tmp_path: Path, features: np.ndarray, left: str
):
    """Without the flush, a machine crash may leave the renamed file empty or short; the empty one raised EOFError."""
    cache = FeatureCache(tmp_path)
    cache.put(CHECKPOINT, SAMPLE, features)
    (path,) = entries(tmp_path)
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "cut short": data[: len(data) // 2], "header only": data[:128]}[left])
    assert cache.get(CHECKPOINT, SAMPLE) is None
    cache.put(CHECKPOINT, SAMPLE, features)
    assert np.array_equal(cache.get(CHECKPOINT, SAMPLE), features.astype(np.float64))


def test_an_entry_pruned_by_another_process_while_read_is_still_served(
    tmp_path: Path, features: np.ndarray, monkeypatch: pytest.MonkeyPatch
):
    cache = FeatureCache(tmp_path)
    cache.put(CHECKPOINT, SAMPLE, features)
    load = np.load

    def load_then_pruned(path: Path, **kwargs: bool) -> np.ndarray:
        array = load(path, **kwargs)
        Path(path).unlink()
        return array

    monkeypatch.setattr(np, "load", load_then_pruned)
    assert np.array_equal(cache.get(CHECKPOINT, SAMPLE), features.astype(np.float64))  # what was read is right
    assert cache.get(CHECKPOINT, SAMPLE) is None
