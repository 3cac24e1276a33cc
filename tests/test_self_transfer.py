"""Self-transfer: a checkpoint trained on the target's own data is no transfer source. Every recommend method, the
service's "model": "auto" and the demo leave it out and say why (by content fingerprint or by dataset name)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tshub
from tshub.data import Dataset
from tshub.datasets import load
from tshub.recommender import RecommendError, recommend
from tshub.training import train_from_scratch
from tshub.training.multihead import pretrain_multihead

SMALL = {"filters": (8, 16, 8)}


@pytest.fixture(scope="module")
def gunpoint(shared_data: Path) -> Dataset:
    return load("GunPoint", root=shared_data)


@pytest.fixture(scope="module")
def coffee(shared_data: Path) -> Dataset:
    return load("Coffee", root=shared_data)


@pytest.fixture(scope="module")
def store(gunpoint: Dataset, coffee: Dataset, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A store of narrow FCNs: GunPoint/fcn (with the training fingerprint tshub now records), a copy of it as a
    zoo checkpoint saved before fingerprints (name only), Coffee/fcn, and a multi-head UCR/fcn on both sets."""
    root = tmp_path_factory.mktemp("zoo")
    folders = {}
    for ds in (gunpoint, coffee):
        model = train_from_scratch("fcn", ds, max_epochs=20, arch_kwargs=SMALL, progress=False).model  # above chance
        folders[f"{ds.name}/fcn"] = model.save_pretrained(root / ds.name / "fcn", id=f"{ds.name}/fcn")
    legacy = tshub.load_pretrained(folders["GunPoint/fcn"])
    legacy.meta = {k: v for k, v in legacy.meta.items() if k != "train_fingerprint"}
    folders["legacy"] = legacy.save_pretrained(root.parent / "legacy" / "GunPoint" / "fcn", id="GunPoint/fcn")
    multi = pretrain_multihead(
        "fcn", [gunpoint, coffee], name="UCR", max_epochs=1, arch_kwargs=SMALL, progress=False
    ).model
    folders["UCR/fcn"] = multi.save_pretrained(root.parent / "multi" / "UCR" / "fcn", id="UCR/fcn")
    return folders


def test_the_fingerprint_sees_overlap_either_way_and_nothing_else(gunpoint: Dataset, coffee: Dataset):
    from tshub.data.fingerprint import fingerprint, overlap, series_hashes

    train = gunpoint.split("train")[0]
    stored = fingerprint(train)
    assert stored["n"] == 50 and len(stored["hashes"]) == 50  # fewer series than the sketch holds: all kept
    assert overlap(stored, series_hashes(gunpoint.X)) == 1.0  # train + test holds every training series
    assert overlap(stored, series_hashes(train[:20])) == 1.0  # a subset of the training series
    assert overlap(stored, series_hashes(gunpoint.split("test")[0])) == 0.0
    assert overlap(stored, series_hashes(coffee.X)) == 0.0
    big = fingerprint(np.random.default_rng(0).normal(size=(1000, 1, 16)), k=64)
    assert len(big["hashes"]) == 64 and big["n"] == 1000
    rows = np.random.default_rng(0).normal(size=(1000, 1, 16)).astype(np.float32)
    assert overlap(big, series_hashes(rows[:300])) == 1.0  # a 30% subset: compared on the sketch's hash range
    assert overlap(big, series_hashes(rows[:300] + 1)) == 0.0
    # regression: a sketch whose hash range holds none of a small target's series said 0.0 ("compared, no match"),
    # so a 200-series subset of one of UCR/convtimenet's 91 sets (sketch: 128 of 46 k series) was ranked first
    hashes = series_hashes(rows)
    outside = rows[hashes > max(int(h, 16) for h in big["hashes"])][:5]
    assert overlap(big, series_hashes(outside)) is None


def written_with(X: np.ndarray, digits: int) -> np.ndarray:
    """``X`` as a text file written with '%.{digits}g' reads back."""
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"))(X.astype(np.float64))


def test_near_copies_match_copies_written_with_fewer_digits_and_nothing_else(gunpoint: Dataset, coffee: Dataset):
    from tshub.data.fingerprint import near_copies

    train, test = gunpoint.split("train")[0], gunpoint.split("test")[0]
    assert near_copies(train, train) == (50, 50)
    assert near_copies(np.array([[[0.12549]]]), np.array([[[float(f"{0.12549:.4g}")]]])) == (1, 1)  # 0.1255 → 0.126
    for digits in (6, 4, 3):
        assert near_copies(written_with(train, digits)[:20], train) == (20, 20), (
            digits
        )  # a subset: all of it, 20 of the 50
    assert near_copies(test, train) == (0, 0)  # other recordings of the same classes
    assert near_copies(written_with(train, 2), train)[0] < 25  # 2 digits: not a copy
    assert near_copies(train * 1.02, train) == (0, 0)  # 2% off everywhere
    assert near_copies(coffee.split("train")[0], train) == (0, 0)  # another length: nothing compared
    gaps = train[:10].copy()
    gaps[0, 0, -5:] = np.nan  # a NaN-padded series is no value-copy (the projections' tree refused the whole target)
    assert near_copies(gaps, train) == (9, 9) and near_copies(train, gaps) == (9, 9)
    assert near_copies(np.full_like(gaps, np.nan), train) == (0, 0)


@pytest.mark.parametrize("method", ["logme", "hscore", "probe", "dtw"])
def test_every_method_leaves_out_the_targets_own_checkpoint_and_says_why(
    method: str, gunpoint: Dataset, coffee: Dataset, store, tmp_path: Path
):
    from tshub.similarity import SimilarityIndex

    index = SimilarityIndex()
    for ds in (gunpoint, coffee):  # one class mean per class keeps the index fast
        X, y = ds.split("train")
        index.add(ds.name, prototypes=[X[y == c].mean(axis=0) for c in np.unique(y)])
    index.save(tmp_path / "index")
    candidates = [str(store["GunPoint/fcn"]), str(store["Coffee/fcn"])]
    rec = recommend("GunPoint", k=None, method=method, candidates=candidates, index=tmp_path / "index", probe_epochs=1)
    assert rec.ids == ["Coffee/fcn"] and rec.n_candidates == 2
    (skipped,) = rec.skipped
    assert skipped["id"] == "GunPoint/fcn" and skipped["reason"].startswith("trained on the target's own data")
    assert "left out as trained on the target's own data" in str(rec) and "allow_self_transfer" in str(rec)
    kept = recommend(
        "GunPoint",
        k=None,
        method=method,
        candidates=candidates,
        index=tmp_path / "index",
        probe_epochs=1,
        allow_self_transfer=True,
    )
    assert sorted(kept.ids) == ["Coffee/fcn", "GunPoint/fcn"] and not kept.skipped


def test_content_name_and_multi_head_evidence(gunpoint: Dataset, coffee: Dataset, store):
    X, y = gunpoint.split("train")
    unnamed = Dataset.from_arrays(X[:30], np.asarray(gunpoint.classes)[y[:30]])  # "arrays": no name to go by
    rec = recommend(unnamed, k=None, candidates=[str(store["GunPoint/fcn"]), str(store["Coffee/fcn"])])
    assert rec.ids == ["Coffee/fcn"] and "identical to its training series" in rec.skipped[0]["reason"]
    # no fingerprint and no name: the local catalogue's copy of the set it was trained on tells (it let a user's own
    # SyntheticControl file, renamed, through to a fine-tune scoring 1.000 on series its source had trained on)
    legacy = recommend(unnamed, k=None, candidates=[str(store["legacy"]), str(store["Coffee/fcn"])])
    assert legacy.ids == ["Coffee/fcn"]
    assert legacy.skipped[0]["reason"].endswith(
        "100% of the series compared equal the training series of GunPoint, which it was trained on, to 3 significant "
        "digits (the local catalogue's copy)"
    )
    # a copy written with fewer digits escapes the exact fingerprint; the catalogue's copy still tells ('%.4g' got
    # through: rounded again to 3 digits, one value in twenty of it crossed a rounding boundary)
    for digits in (6, 4, 3):
        rounded = Dataset.from_arrays(written_with(X, digits), y, name="me")
        rec = recommend(rounded, k=None, candidates=[str(store["GunPoint/fcn"]), str(store["Coffee/fcn"])])
        assert rec.ids == ["Coffee/fcn"], digits
    other = np.random.default_rng(1).normal(size=X.shape)  # other series under the UCR 2015 name: the name tells
    renamed = Dataset.from_arrays(other, np.asarray(gunpoint.classes)[y], name="Gun_Point")
    by_name = recommend(renamed, k=None, candidates=[str(store["legacy"]), str(store["Coffee/fcn"])])
    assert by_name.skipped[0]["reason"].endswith("its source dataset is GunPoint")
    multi = recommend(coffee, k=None, candidates=[str(store["UCR/fcn"]), str(store["GunPoint/fcn"])])
    assert multi.ids == ["GunPoint/fcn"]
    assert (
        "Coffee is among the 2 datasets it was pretrained on" in multi.skipped[0]["reason"]
        or "identical to its training series" in multi.skipped[0]["reason"]
    )
    with pytest.raises(RecommendError, match=r"trained on the target's own data: GunPoint/fcn"):
        recommend(gunpoint, candidates=[str(store["GunPoint/fcn"])])


def test_a_name_match_the_fingerprint_contradicts_is_left_out_saying_so(store):
    """A file named like a source (wine.csv holding other data) leaves that source out by its name, the careful side
    (a re-exported copy of the source's data would not match its fingerprint); the reason said only "its source
    dataset is Wine", as if the data were the same, where the fingerprint found none of the series among its own."""
    rng = np.random.default_rng(0)
    named = Dataset.from_arrays(rng.normal(size=(40, 1, 150)), np.arange(40) % 2, name="GunPoint")
    rec = recommend(named, k=None, candidates=[str(store["GunPoint/fcn"]), str(store["Coffee/fcn"])])
    (skipped,) = [s for s in rec.skipped if s["id"] == "GunPoint/fcn"]
    assert skipped["reason"].endswith(
        "its source dataset is GunPoint, by name only: 0% of the series compared are among its training series, "
        "so if this is other data, allow_self_transfer=True ranks it"
    )


def test_the_service_auto_pick_and_the_demo_skip_it_too(gunpoint: Dataset, store, monkeypatch):
    from server.runner import JobFailed, recommend_source, self_transfer_note
    from tshub.demo import pick_source

    upload = Dataset.from_arrays(gunpoint.X, np.asarray(gunpoint.classes)[gunpoint.y], name="GunPoint")
    spec = {"arch": "fcn", "candidates": [str(store["GunPoint/fcn"])]}
    with pytest.raises(JobFailed, match="trained on the target's own data"):
        recommend_source(upload, spec, report=lambda event: None)
    assert (
        recommend_source(upload, {**spec, "allow_self_transfer": True}, report=lambda event: None)[0] == "GunPoint/fcn"
    )
    assert "self_transfer" in self_transfer_note(str(store["GunPoint/fcn"]), upload)
    assert self_transfer_note(str(store["Coffee/fcn"]), upload) == {}

    monkeypatch.setenv("TSHUB_ZOO", str(store["UCR/fcn"].parents[1]))  # only the multi-head UCR/fcn
    with pytest.raises(RecommendError, match=r"left out, as trained on the target's own data: UCR/fcn"):
        pick_source(gunpoint, "fcn")  # the demo's source: never a checkpoint pretrained on the target


def test_catalogue_sets_of_another_shape_are_loaded_once_per_process(shared_data: Path, monkeypatch, private_zoo):
    """Regression: the catalogue's ragged sets and sources without a stated length (AllGestureWiimoteX, EMG, ...)
    were loaded again for every target, 13 of them twice within one check of the zoo."""
    import importlib

    repo = Path(__file__).resolve().parents[1] / "zoo"
    ragged = [repo / name / "fcn" for name in ("AllGestureWiimoteX", "PLAID", "GestureMidAirD1")]
    private_zoo([folder for folder in ragged if folder.is_dir()] + [repo / "GunPoint" / "fcn"])
    candidates = importlib.import_module("tshub.recommender.candidates")
    candidates._training_series.cache_clear()
    monkeypatch.setattr(candidates, "_TRAINING_SHAPES", {}, raising=False)
    loaded: list[str] = []
    real = candidates.load
    monkeypatch.setattr(candidates, "load", lambda name, *a, **k: loaded.append(name) or real(name, *a, **k))
    target = Dataset.from_arrays(np.random.default_rng(0).normal(size=(20, 1, 151)), np.arange(20) % 2, name="x")
    pool = candidates.candidate_pool()
    candidates.self_transfer(pool, target)
    assert len(loaded) == len(set(loaded)) >= 3
    first = len(loaded)
    candidates._training_series.cache_clear()  # as when a zoo's worth of sets has pushed them out of it
    candidates.self_transfer(pool, target)
    assert len(loaded) == first  # every set of another shape is skipped by its shape now
