"""DTW, DBA and the similarity index against tslearn and brute force, on real UCR series."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from tshub.similarity import SimilarityIndex, cdist_dtw, dba, dtw, dtw_path, medoid_index
from tshub.similarity.warping import as_series

tslearn_metrics = pytest.importorskip("tslearn.metrics")
tslearn_dba = pytest.importorskip("tslearn.barycenters").dtw_barycenter_averaging


def _train(root: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(X float64 (n, t) with the file's NaN padding, labels) of a UCR training file."""
    path = next(
        p
        for p in (
            root / "UCRArchive_2018" / name / f"{name}_TRAIN.tsv.gz",
            root / "UCRArchive_2018_trainonly" / f"{name}_TRAIN.tsv.gz",
        )
        if p.is_file()
    )
    with gzip.open(path, "rt") as f:
        a = np.loadtxt(f, delimiter="\t")
    return a[:, 1:], a[:, 0]


def _znorm(X: np.ndarray) -> np.ndarray:
    return (X - np.nanmean(X, axis=-1, keepdims=True)) / np.nanstd(X, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def gunpoint(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    X, y = _train(shared_data, "GunPoint")
    return _znorm(X), y


@pytest.fixture(scope="module")
def uwave(shared_data: Path) -> np.ndarray:
    """Real 3-channel gestures: the X, Y, Z accelerations of the same recordings, (n, 3, 315)."""
    return np.stack([_train(shared_data, f"UWaveGestureLibrary{a}")[0][:12] for a in "XYZ"], axis=1)


def _rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b)))


def test_dtw_equals_tslearn_equal_unequal_windowed(gunpoint):
    X = gunpoint[0]
    cases = [(X[0], X[1]), (X[2], X[3][:117]), (X[4][:61], X[5])]
    for x, y in cases:
        assert dtw(x, y) == pytest.approx(tslearn_metrics.dtw(x, y), rel=1e-9)
        for radius in (0, 5, 30):
            assert dtw(x, y, window=radius) == pytest.approx(
                tslearn_metrics.dtw(x, y, sakoe_chiba_radius=radius), rel=1e-9
            )
        radius = int(round(0.1 * max(len(x), len(y))))
        assert dtw(x, y, window=0.1) == pytest.approx(tslearn_metrics.dtw(x, y, sakoe_chiba_radius=radius), rel=1e-9)
    assert dtw(X[0], X[0]) == 0.0
    assert dtw(X[0], X[1], window=3) >= dtw(X[0], X[1], window=10) >= dtw(X[0], X[1])


def test_dtw_multivariate_and_variable_length(uwave, shared_data):
    a, b = uwave[0], uwave[1][:, :280]
    assert dtw(a, b) == pytest.approx(tslearn_metrics.dtw(a.T, b.T), rel=1e-9)
    assert dtw(a, b, window=12) == pytest.approx(tslearn_metrics.dtw(a.T, b.T, sakoe_chiba_radius=12), rel=1e-9)
    X, _ = _train(shared_data, "GesturePebbleZ1")  # NaN-padded variable-length set
    lengths = (~np.isnan(X)).sum(axis=1)
    x, y = X[np.argmin(lengths)], X[np.argmax(lengths)]
    xs, ys = x[~np.isnan(x)], y[~np.isnan(y)]
    assert len(xs) < len(ys) < X.shape[1] + 1
    assert dtw(x, y) == pytest.approx(tslearn_metrics.dtw(xs, ys), rel=1e-9)


def test_dtw_path_and_cdist_equal_tslearn(gunpoint, uwave):
    X = gunpoint[0]
    for x, y, w in [(X[0], X[7], None), (X[1], X[2][:100], 9)]:
        dist, path = dtw_path(x, y, window=w)
        t_path, t_dist = tslearn_metrics.dtw_path(x, y, sakoe_chiba_radius=w)
        assert dist == pytest.approx(t_dist, rel=1e-9)
        np.testing.assert_array_equal(path, np.array(t_path))
    np.testing.assert_allclose(cdist_dtw(X[:9]), tslearn_metrics.cdist_dtw(X[:9]), rtol=1e-9)
    np.testing.assert_allclose(
        cdist_dtw(uwave[:4], uwave[4:9], window=0.05),
        tslearn_metrics.cdist_dtw(uwave[:4].transpose(0, 2, 1), uwave[4:9].transpose(0, 2, 1), sakoe_chiba_radius=16),
        rtol=1e-9,
    )


def test_nan_handling_drops_padding_and_fills_gaps():
    x = np.array([[1.0, np.nan, 3.0, 4.0, np.nan, np.nan]])
    np.testing.assert_array_equal(as_series(x)[:, 0], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="channels"):
        dtw(np.zeros((2, 5)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="fraction"):
        dtw(np.zeros(5), np.zeros(5), window=1.5)


def test_medoid_matches_brute_force(shared_data):
    X, y = _train(shared_data, "Strawberry")  # length 235 > the proxy's 64: the pruned search runs
    X = _znorm(X[y == y[0]][:45])
    brute = int(np.argmin((tslearn_metrics.cdist_dtw(X) ** 2).sum(axis=1)))
    assert medoid_index(X) == brute
    assert medoid_index(X, method=f"top:{len(X)}") == brute
    assert 0 <= medoid_index(X, method="top:3") < len(X)
    with pytest.raises(ValueError, match="top:N"):
        medoid_index(X, method="sample")


def test_dba_equals_tslearn(gunpoint, uwave):
    X, y = gunpoint
    members = X[y == 1][:16]
    m = medoid_index(members)
    ours = dba(members, n_iterations=10)
    ref = tslearn_dba(members[..., None], init_barycenter=members[m][:, None], max_iter=10, tol=0)
    assert ours.shape == (1, X.shape[1])
    assert _rel(ours[0], ref[:, 0]) < 1e-6
    ours_w = dba(members, n_iterations=5, window=10, init=members[m])
    ref_w = tslearn_dba(
        members[..., None],
        init_barycenter=members[m][:, None],
        max_iter=5,
        tol=0,
        metric_params={"sakoe_chiba_radius": 10},
    )
    assert _rel(ours_w[0], ref_w[:, 0]) < 1e-6
    mv = uwave[:8, :, :200]
    ref_mv = tslearn_dba(mv.transpose(0, 2, 1), init_barycenter=mv[medoid_index(mv)].T, max_iter=10, tol=0)
    assert _rel(dba(mv), ref_mv.T) < 1e-6


@pytest.fixture(scope="module")
def small_index(shared_data: Path) -> SimilarityIndex:
    import tshub.datasets

    names = [
        "GunPoint",
        "GunPointAgeSpan",
        "DistalPhalanxOutlineAgeGroup",
        "MiddlePhalanxOutlineAgeGroup",
        "ECG200",
        "Coffee",
        "DodgerLoopDay",
    ]
    index = SimilarityIndex()
    for name in names:
        index.add_dataset(tshub.datasets.load(name, root=shared_data))
    return index


def test_index_ranking_on_real_data(small_index, shared_data):
    assert small_index.neighbors("GunPoint", 1)[0][0] == "GunPointAgeSpan"
    assert small_index.neighbors("GunPointAgeSpan", 1)[0][0] == "GunPoint"
    assert small_index.neighbors("DistalPhalanxOutlineAgeGroup", 1)[0][0] == "MiddlePhalanxOutlineAgeGroup"
    assert small_index.neighbors("MiddlePhalanxOutlineAgeGroup", 1)[0][0] == "DistalPhalanxOutlineAgeGroup"
    # the dataset distance is the minimum DTW over prototype pairs (early abandoning keeps it exact)
    a, b = small_index.prototypes("Coffee"), small_index.prototypes("DodgerLoopDay")
    brute = cdist_dtw([p for _, p in a], [p for _, p in b]).min()
    assert small_index.distance("Coffee", "DodgerLoopDay") == pytest.approx(brute, rel=1e-12)
    assert [len(p[1][0]) for p in small_index.prototypes("Coffee")] == [286, 286]
    ranked = small_index.rank([p for _, p in small_index.prototypes("ECG200")], k=None, exclude=["ECG200"])
    assert ranked == small_index.neighbors("ECG200", k=None)
    assert len(ranked) == len(small_index) - 1 and ranked == sorted(ranked, key=lambda r: r[1])


def test_index_save_load_round_trip(small_index, tmp_path):
    folder = small_index.save(tmp_path / "similarity")
    loaded = SimilarityIndex.load(folder)
    assert loaded.names == small_index.names and loaded.params == small_index.params
    np.testing.assert_array_equal(loaded.distances, small_index.distances)
    for name in small_index.names:
        for (la, pa), (lb, pb) in zip(loaded.prototypes(name), small_index.prototypes(name)):
            assert la == lb
            np.testing.assert_array_equal(pa, pb)
    with pytest.raises(ValueError, match="already"):
        loaded.add("Coffee", prototypes=[np.zeros(5)])
    loaded.add("Noise", prototypes=[np.random.default_rng(0).normal(size=(1, 50))], classes=["0"])
    assert np.isfinite(loaded.distance("Noise", "Coffee"))
    with pytest.raises(FileNotFoundError, match="build"):
        SimilarityIndex.load(tmp_path / "missing")


def test_build_resumes_from_folder(small_index, tmp_path):
    folder = tmp_path / "built"
    assert SimilarityIndex.build(["Coffee"], folder).names == ["Coffee"]
    resumed = SimilarityIndex.build(["Coffee", "ECG200"], folder)
    assert resumed.names == ["Coffee", "ECG200"] == SimilarityIndex.load(folder).names
    assert resumed.distance("Coffee", "ECG200") == pytest.approx(small_index.distance("Coffee", "ECG200"), rel=1e-12)
    with pytest.raises(ValueError, match="parameters"):
        SimilarityIndex.build(["Coffee"], folder, n_iterations=3)


def test_a_window_becomes_a_typed_band_or_a_clear_error():
    from tshub.similarity.warping import UNCONSTRAINED, Band

    assert Band.of(None) == UNCONSTRAINED and Band.of(5) == Band(radius=5) and Band.of(0.1) == Band(fraction=0.1)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="window"):
            Band.of(bad)
    x, y = np.sin(np.linspace(0, 6, 40)), np.cos(np.linspace(0, 6, 50))
    assert dtw(x, y, window=Band(radius=3)) == dtw(x, y, window=3) > dtw(x, y)


def test_a_deadline_is_checked_inside_a_class_average_not_only_between_classes() -> None:
    """``recommend(method="dtw", time_limit_s=…)`` checks its deadline through ``make_prototypes``: one class of
    long series is minutes of medoid and DBA work, so the check runs between its steps (each medoid row, each
    iteration), and a deadline that passes stops the average there."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 60)).cumsum(axis=1)
    calls: list[int] = []

    def check() -> None:
        calls.append(1)
        if len(calls) == 5:
            raise TimeoutError("past the deadline")

    index = SimilarityIndex()
    with pytest.raises(TimeoutError):
        index.make_prototypes(X, np.zeros(12), check=check)  # one class: one call before it, then its steps
    assert len(calls) == 5
    calls.clear()
    labels, prototypes = index.make_prototypes(X, None, check=lambda: calls.append(1))
    assert labels == ["0"] and prototypes[0].shape == (1, 60) and len(calls) > index.params["n_iterations"]
    np.testing.assert_array_equal(prototypes[0], index.make_prototypes(X)[1][0])  # checking changes nothing


def test_exclude_given_as_one_name_excludes_that_name() -> None:
    """Regression: ``exclude="GunPoint"`` was read as its letters, so nothing was excluded."""
    index = SimilarityIndex(window=2)
    rng = np.random.default_rng(0)
    for name in ("A", "Bb", "Cc"):
        index.add(name, rng.normal(size=(6, 12)), np.arange(6) % 2)
    assert "Bb" not in [n for n, _ in index.neighbors("A", k=None, exclude="Bb")]
    prototypes = [p for _, p in index.prototypes("A")]
    assert [n for n, _ in index.rank(prototypes, k=None, exclude="A")] == [n for n, _ in index.neighbors("A", k=None)]


def test_a_numpy_window_is_saved_as_a_number(tmp_path: Path) -> None:
    """Regression: window=np.int64(3) was accepted, then saving (and building, after its first source's work)
    raised "int64 is not JSON serializable", leaving a half-written folder."""
    index = SimilarityIndex(window=np.int64(3))
    index.add("A", np.random.default_rng(0).normal(size=(6, 12)), np.arange(6) % 2)
    index.save(tmp_path / "ix")
    assert SimilarityIndex.load(tmp_path / "ix").params["window"] == 3


def test_a_nan_channel_a_nan_label_and_no_series_are_refused_saying_what() -> None:
    """Regression: a channel all NaN (np.interp: 'array of sample points is empty'), a NaN label and an empty set of
    series (IndexError) failed with numpy's and Python's words."""
    Z = np.random.default_rng(0).normal(size=(3, 2, 10))
    Z[0, 1] = np.nan
    with pytest.raises(ValueError, match="channel 1 of a series is entirely NaN"):
        dtw(Z[0], Z[1])
    with pytest.raises(ValueError, match="labels hold NaN"):
        SimilarityIndex().make_prototypes(np.ones((3, 10)), [0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="no series"):
        SimilarityIndex().add("E", np.zeros((0, 10)), np.zeros(0))
