"""Splits: stratification, determinism, disjointness, reduced train sets, chronological order."""

from __future__ import annotations

import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import tshub
from tshub.data import Dataset, DatasetError
from tshub.data.catalogue import load
from tshub.data.overlap import overlapping_rows
from tshub.data.splits import (
    WINDOW_PAIRS,
    as_training_data,
    chronological_split,
    ensure_validation,
    group_split,
    official_with_validation,
    random_split,
    reduce_train,
    sliding_window_stride,
    train_as_validation,
    training_splits,
    validation_is_train,
)


def labelled(counts: list[int], test: int = 10) -> Dataset:
    """Classes 0..K-1 with the given train counts (interleaved), plus ``test`` series of class 0."""
    y = np.concatenate([np.repeat(np.arange(len(counts)), counts), np.zeros(test, dtype=np.int64)])
    order = np.random.default_rng(1).permutation(sum(counts))
    y[: sum(counts)] = y[: sum(counts)][order]
    X = np.random.default_rng(0).normal(size=(len(y), 1, 8))
    n = sum(counts)
    return Dataset.from_arrays(X, y, name="toy", splits={"train": np.arange(n), "test": np.arange(n, n + test)})


def regression(n: int = 40) -> Dataset:
    return Dataset.from_arrays(np.zeros((n, 1, 4)), np.linspace(0, 1, n) + 0.001, name="reg", task="regression")


def assert_partition(ds: Dataset, names: list[str], universe: np.ndarray) -> None:
    parts = [ds.splits[n] for n in names]
    joined = np.concatenate(parts)
    assert len(np.unique(joined)) == len(joined), "splits overlap"
    np.testing.assert_array_equal(np.sort(joined), np.sort(universe))
    for p in parts:
        assert np.all(np.diff(p) > 0), "indices are kept in order"


def test_official_with_validation_is_stratified_and_keeps_small_classes() -> None:
    ds = labelled([40, 20, 5, 2, 1])
    out = official_with_validation(ds, val_fraction=0.2, seed=3)
    assert_partition(out, ["train", "val"], ds.splits["train"])
    np.testing.assert_array_equal(out.splits["test"], ds.splits["test"])
    val_counts = np.bincount(out.y[out.splits["val"]], minlength=5)
    train_counts = np.bincount(out.y[out.splits["train"]], minlength=5)
    assert val_counts.sum() == round(0.2 * 68) == 14
    np.testing.assert_array_equal(val_counts, [8, 4, 1, 1, 0])  # largest remainder on 8, 4, 1, 0.4, 0.2
    assert np.all(train_counts >= 1)  # every class keeps a training series; the singleton stays in train
    assert out.meta["split_protocol"] == {"rule": "official_with_validation", "val_fraction": 0.2, "seed": 3}


def test_validation_is_deterministic_given_the_seed() -> None:
    ds = labelled([30, 30])
    a, b = official_with_validation(ds, seed=0), official_with_validation(ds, seed=0)
    c = official_with_validation(ds, seed=1)
    np.testing.assert_array_equal(a.splits["val"], b.splits["val"])
    assert not np.array_equal(a.splits["val"], c.splits["val"])


def test_validation_of_one_series_per_label_says_to_check_the_label_column() -> None:
    """Regression: a forecasting CSV (aeon's solar.csv: datetime_gmt,solar_gen) reads its time stamps as labels, one
    class per series; fine-tuning it said only "every class has a single training series", not what to do."""
    stamps = Dataset.from_arrays(
        np.ones((3, 1)), np.array(["2021-05-01 00:00", "2021-05-01 00:30", "2021-05-01 01:00"])
    )
    with pytest.raises(DatasetError, match=r"single training series: .* check that the label column .*label_column="):
        ensure_validation(stamps)
    years = Dataset.from_arrays(np.ones((3, 1)), np.array([1947, 1948, 1949]), task="classification")
    with pytest.raises(DatasetError, match=r"single training series: .* are the labels numeric targets\? .*regression"):
        ensure_validation(years)


def test_one_series_per_class_is_told_it_can_train_and_select_on_all_of_them() -> None:
    """Regression: two series of two classes (or one per class) were refused with advice about the label column
    alone, though training on every series and selecting on them (validation='train') trains them."""
    two = Dataset.from_arrays(np.random.default_rng(0).normal(size=(2, 16)), np.array(["a", "b"]))
    with pytest.raises(
        DatasetError, match=r"train on all of them and select the weights on them \(validation='train'\)"
    ):
        ensure_validation(two)
    trained, _ = training_splits(two, validation="train")
    assert validation_is_train(trained)


def test_ensure_validation_keeps_an_existing_val() -> None:
    ds = official_with_validation(labelled([10, 10]), seed=0)
    assert ensure_validation(ds, seed=5) is ds
    with pytest.raises(DatasetError, match="already has a 'val' split"):
        official_with_validation(ds)
    assert "val" in ensure_validation(labelled([10, 10])).splits


def test_validation_needs_a_class_with_two_series() -> None:
    with pytest.raises(DatasetError, match="every class has a single training series"):
        official_with_validation(labelled([1, 1, 1]))
    single = Dataset.from_arrays(np.ones((1, 8)), np.array([0.5]), task="regression", splits={"train": np.array([0])})
    with pytest.raises(DatasetError, match="it has 1 training series; at least 2 are needed"):
        official_with_validation(single)
    with pytest.raises(DatasetError, match="val_fraction must lie strictly between 0 and 1"):
        official_with_validation(labelled([5, 5]), val_fraction=1.0)


def test_random_split_stratified_per_class() -> None:
    ds = labelled([60, 20], test=0)
    out = random_split(ds, (0.7, 0.15, 0.15), seed=0)
    assert_partition(out, ["train", "val", "test"], np.arange(80))
    for name, per_class in (("train", [42, 14]), ("val", [9, 3]), ("test", [9, 3])):
        np.testing.assert_array_equal(np.bincount(out.y[out.splits[name]], minlength=2), per_class)
    again = random_split(ds, (0.7, 0.15, 0.15), seed=0)
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(out.splits[name], again.splits[name])
    assert out.meta["split_protocol"]["stratified"] is True


def test_random_split_regression_is_a_plain_shuffle_and_accepts_mappings() -> None:
    ds = regression(40)
    out = random_split(ds, {"train": 0.75, "test": 0.25}, seed=2)
    assert_partition(out, ["train", "test"], np.arange(40))
    assert len(out.splits["train"]) == 30 and out.meta["split_protocol"]["stratified"] is False
    assert not np.array_equal(out.splits["test"], np.arange(30, 40))


def test_chronological_split_keeps_order() -> None:
    out = chronological_split(regression(20), (0.7, 0.15, 0.15))
    np.testing.assert_array_equal(out.splits["train"], np.arange(14))
    np.testing.assert_array_equal(out.splits["val"], np.arange(14, 17))
    np.testing.assert_array_equal(out.splits["test"], np.arange(17, 20))


@pytest.mark.parametrize(
    "fractions,pattern",
    [
        ((0.7, 0.2), "sum to 1"),
        ((0.5, 0.6, -0.1), "positive"),
        ((1.0,), "give 2"),
        ({"train": 0.0, "test": 1.0}, "positive"),
    ],
)
def test_bad_fractions_are_explained(fractions, pattern: str) -> None:
    with pytest.raises(DatasetError, match=pattern):
        random_split(regression(), fractions)


def test_reduce_train_counts_per_class() -> None:
    ds = official_with_validation(labelled([600, 300, 90, 10]), seed=0)
    train_before = np.bincount(ds.y[ds.splits["train"]], minlength=4)
    out = reduce_train(ds, 150, seed=0)
    counts = np.bincount(out.y[out.splits["train"]], minlength=4)
    assert counts.sum() == 150 and np.all(counts >= 1)
    np.testing.assert_allclose(counts, 150 * train_before / train_before.sum(), atol=1)
    assert np.isin(out.splits["train"], ds.splits["train"]).all()
    np.testing.assert_array_equal(out.splits["val"], ds.splits["val"])
    np.testing.assert_array_equal(out.splits["test"], ds.splits["test"])
    assert out.meta["train_reduction"] == {"n": 150, "from": int(train_before.sum()), "seed": 0, "stratified": True}
    np.testing.assert_array_equal(reduce_train(ds, 150, seed=0).splits["train"], out.splits["train"])
    assert np.all(np.bincount(out.y[reduce_train(ds, 4).splits["train"]], minlength=4) == 1)


def test_reduce_train_rejects_too_many() -> None:
    with pytest.raises(DatasetError, match="cannot reduce 'train' to 100 series, it has 30"):
        reduce_train(labelled([20, 10]), 100)


def test_splits_on_real_gunpoint(shared_data: Path) -> None:
    ds = official_with_validation(load("GunPoint", shared_data), seed=0)
    assert [len(ds.splits[s]) for s in ("train", "val", "test")] == [40, 10, 150]
    assert sorted(np.bincount(ds.y[ds.splits["val"]]).tolist()) == [5, 5]


def test_a_class_only_in_the_test_split_is_warned_about() -> None:
    """A test file with a class the training file lacks was scored silently (accuracy 0 on that class); then the
    warning said the model could not predict it, though the head gets an output for every class of the data."""
    X = np.zeros((12, 1, 8), np.float32)
    y = np.array(["a", "b"] * 4 + ["c", "c", "a", "b"])
    ds = Dataset.from_arrays(X, y, splits={"train": np.arange(8), "test": np.arange(8, 12)})
    with pytest.warns(UserWarning, match=r"class\(es\) \['c'\] of 2 test series have no training series") as said:
        training_splits(ds)
    assert "the model still gets an output for each" in str(said[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        training_splits(Dataset.from_arrays(X, y[[0, 1] * 6], splits={"train": np.arange(8), "test": np.arange(8, 12)}))


def test_group_split_keeps_each_group_whole_and_needs_a_group_per_split() -> None:
    ds = Dataset.from_arrays(np.zeros((12, 1, 4)), np.arange(12) % 2)
    groups = np.repeat(["a", "b", "c", "d", "e", "f"], 2)
    split = group_split(ds, groups, (0.5, 0.25, 0.25), seed=1)
    assert sorted(np.concatenate(list(split.splits.values())).tolist()) == list(range(12))
    for name, idx in split.splits.items():
        assert sorted(set(groups[idx])) == sorted(split.meta["split_protocol"]["groups"][name])
    assert [len(split.splits[s]) for s in ("train", "val", "test")] == [6, 4, 2]  # 3, 2, 1 groups of 2
    with pytest.raises(DatasetError, match=r"2 group\(s\) are too few to give each of \['train', 'val', 'test'\]"):
        group_split(ds, np.repeat(["a", "b"], 6))


def test_random_split_too_small_for_a_split_is_refused_not_left_empty() -> None:
    """Regression: a stratified split of a tiny dataset left a split empty (two series per class, 20 % test: no
    test series at all), and training_splits still noted "held out 20 % ... as a test split"."""
    tiny = Dataset.from_arrays(np.zeros((4, 1, 8)), np.array([0, 1, 0, 1]))
    with pytest.raises(DatasetError, match=r"4 series are too few.*'test': 0"):
        random_split(tiny, (0.8, 0.2))
    with pytest.raises(DatasetError, match="too few"):
        training_splits(tiny, test_fraction=0.2)
    with pytest.raises(DatasetError, match="too few"):
        random_split(regression(2), (0.7, 0.15, 0.15))


def test_training_splits_notes_say_how_many_series_were_held_out() -> None:
    ds = Dataset.from_arrays(np.zeros((30, 1, 8)), np.arange(30) % 3)
    split, notes = training_splits(ds, test_fraction=0.25)
    held_out = len(split.splits["test"])
    assert held_out == 6  # 10 per class, 2.5 ideal: the tied remainder goes to the first split, train
    assert notes[0].startswith(f"no splits: held out {held_out} of the 30 series (20%, 25% asked) as a test split")
    assert notes[1].startswith("carved 5 of the 24 training series (21%, 20% asked) as validation")


def test_boolean_masks_are_splits_of_the_series_they_select() -> None:
    """A boolean mask per split (how a researcher often holds splits) selects its series; it was read as the
    indices 0 and 1, so every split silently held only the first two series."""
    mask = np.arange(10) < 7
    ds = Dataset.from_arrays(np.zeros((10, 1, 4)), np.arange(10) % 2, splits={"train": mask, "test": ~mask})
    assert ds.splits["train"].tolist() == list(range(7)) and ds.splits["test"].tolist() == [7, 8, 9]
    with pytest.raises(DatasetError, match="mask of 9 values for 10 series"):
        Dataset.from_arrays(np.zeros((10, 1, 4)), np.arange(10) % 2, splits={"train": mask[:9]})


def test_test_series_that_are_also_training_series_are_warned_about() -> None:
    """Overlapping splits given by hand (an off-by-one slice) made test metrics of series the model trained on,
    without a word."""
    ds = Dataset.from_arrays(
        np.zeros((20, 1, 4)), np.arange(20) % 2, splits={"train": np.arange(12), "test": np.arange(10, 20)}
    )
    with pytest.warns(UserWarning, match="2 of the 10 test series are also training or validation series"):
        training_splits(ds)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        training_splits(ds.with_splits({"train": np.arange(10), "test": np.arange(10, 20)}))


def test_validation_train_trains_on_every_training_series_and_selects_on_them() -> None:
    """``validation="train"``: no series is held out for validation; a "val" split already carved (an uploaded
    dataset keeps the one made at upload) joins the training split, and the test split stays apart."""
    ds = labelled([10, 10])
    trained, notes = training_splits(ds, validation="train")
    assert trained.splits["train"].tolist() == trained.splits["val"].tolist() == list(range(20))
    assert trained.splits["test"].tolist() == ds.splits["test"].tolist()
    assert notes == [
        "validation='train': all 20 training series train the model and select its weights (none held out)"
    ]
    carved = official_with_validation(ds)
    assert len(carved.splits["train"]) == 16
    merged, _ = training_splits(carved, validation="train")
    assert merged.splits["train"].tolist() == merged.splits["val"].tolist() == list(range(20))
    unsplit, notes = training_splits(
        Dataset.from_arrays(np.zeros((30, 1, 8)), np.arange(30) % 3), test_fraction=0.2, validation="train"
    )
    assert len(unsplit.splits["test"]) == 6 and unsplit.splits["train"].tolist() == unsplit.splits["val"].tolist()
    assert len(unsplit.splits["train"]) == 24 and len(notes) == 2
    assert train_as_validation(carved, "why").meta["train_as_validation"] == "why"


def test_an_unknown_validation_is_refused_with_the_choices() -> None:
    with pytest.raises(DatasetError, match="validation must be 'split' .* or 'train' .*, got 'test'"):
        training_splits(labelled([5, 5]), validation="test")


def test_a_regression_read_as_classification_is_told_apart_from_too_few_series() -> None:
    """Regression: numeric targets forced to classification (60 classes of one series) failed to split with "60
    series are too few", which blamed the number of series."""
    ds = Dataset.from_arrays(np.zeros((60, 1, 8)), np.linspace(0.1, 6.0, 60), task="classification")
    with pytest.raises(DatasetError, match=r"60 classes for 60 series: .*\(task='regression'\)"):
        training_splits(ds, test_fraction=0.15)


def test_a_validation_split_of_a_few_series_is_said_to_choose_nearly_by_chance() -> None:
    """Regression: 2 series per class carved one validation series, which then chose ω from ten on its own, silently."""
    few, notes = training_splits(Dataset.from_arrays(np.random.default_rng(0).normal(size=(6, 1, 8)), [0, 1] * 3))
    assert len(few.splits["val"]) == 1
    assert "1 validation series choose the weights, the stop and ω nearly by chance" in notes[-1]
    assert "validation='train'" in notes[-1]  # the command line says --validation train (in_cli_terms)
    _, enough = training_splits(Dataset.from_arrays(np.zeros((30, 1, 8)), np.arange(30) % 3))
    assert "by chance" not in enough[-1]


def test_labels_that_are_not_numbers_are_never_told_to_be_read_as_a_regression() -> None:
    """Regression: 60 text labels of one series each were told "are the labels numeric targets? Read them as a
    regression", advice that fails next with "task='regression' needs numeric targets"."""
    ds = Dataset.from_arrays(np.zeros((60, 1, 8)), np.array([f"c{i}" for i in range(60)]), task="classification")
    with pytest.raises(DatasetError, match=r"60 of its 60 classes hold a single series.*label_column") as err:
        training_splits(ds, test_fraction=0.15)
    assert "regression" not in str(err.value)


def test_a_few_series_of_numeric_classes_are_told_they_are_too_few() -> None:
    """Regression: 3 series of classes -1 and 1 were asked whether the labels were numeric targets; the problem is
    that 3 series cannot fill three splits."""
    ds = Dataset.from_arrays(np.random.default_rng(0).normal(size=(3, 1, 8)), np.array([-1, 1, 1]))
    with pytest.raises(DatasetError, match=r"3 series are too few to give each split at least one") as err:
        training_splits(ds, test_fraction=0.15)
    assert "numeric targets" not in str(err.value)
    two = Dataset.from_arrays(np.zeros((2, 1, 8)), ["a", "b"])  # unstratified: the labels do not matter
    with pytest.raises(DatasetError, match=r"2 series are too few to give each split at least one") as err:
        random_split(two, (0.7, 0.15, 0.15), stratify=False)
    assert "label column" not in str(err.value)


def test_regression_targets_that_all_take_one_value_are_refused_before_training() -> None:
    """Regression: targets all equal (e.g. means written with too few decimals, all 0.00000) trained a model on
    nothing and every recommender score was undefined. The library, the CLI and the service all refuse them here,
    as they refuse a single class."""
    X = np.random.default_rng(0).normal(size=(20, 1, 8))
    constant = Dataset.from_arrays(X, np.zeros(20), name="flat", task="regression")
    with pytest.raises(DatasetError, match=r"'flat': all 20 targets of its 'train' series equal 0, so a regression"):
        training_splits(constant)
    from tshub.training import train_from_scratch

    with pytest.raises(DatasetError, match="so a regression has nothing to learn"):
        train_from_scratch("fcn", constant, max_epochs=1, progress=False)
    with pytest.raises(DatasetError, match="so a regression has nothing to learn"):  # not a ranking of null scores
        tshub.recommend(constant, k=1)
    outputs = Dataset.from_arrays(X, np.tile([1.5, -2.0], (20, 1)), task="regression")
    with pytest.raises(DatasetError, match=r"equal \[1.5, -2.0\]"):
        training_splits(outputs)
    y = np.zeros(20)
    y[3] = np.nan  # a missing target is no variation; one other value is
    with pytest.raises(DatasetError, match="all 19 targets"):
        training_splits(Dataset.from_arrays(X, y, task="regression", meta={"unlabeled": True}))
    y[5] = 1.0
    training_splits(Dataset.from_arrays(X, y, task="regression", meta={"unlabeled": True}))
    one_varies = np.zeros((20, 2))
    one_varies[:, 1] = np.arange(20)
    training_splits(Dataset.from_arrays(X, one_varies, task="regression"))


@pytest.mark.parametrize(
    ("splits", "said"),
    [
        ({"train": range(30), "valid": range(30, 40)}, r"unknown split 'valid' \(did you mean 'val'\?\)"),
        (
            {"training": range(30), "validation": range(30, 40)},
            r"unknown splits 'training' \(did you mean 'train'\?\), 'validation' \(did you mean 'val'\?\)",
        ),
        ({"train": range(30), "holdout": range(30, 40)}, r"unknown split 'holdout';"),
    ],
)
def test_splits_of_unknown_names_are_refused_with_the_names_taken(splits: dict[str, range], said: str) -> None:
    """Regression: "valid" was kept and ignored (the validation split was carved out of train instead), and
    "training"/"validation" ended in a bare KeyError: 'train'."""
    X, y = np.zeros((40, 1, 8)), np.arange(40) % 2
    with pytest.raises(DatasetError, match=rf"dataset 'arrays': {said}.*'train', 'val' and 'test'"):
        Dataset.from_arrays(X, y, splits=splits)
    with pytest.raises(DatasetError, match=said):  # however the dataset is made
        Dataset(name="d", X=X, y=y, task="classification", classes=["0", "1"], splits=splits)


@pytest.mark.parametrize("splits", [{"test": range(30, 40)}, {"val": range(10), "test": range(30, 40)}])
def test_splits_without_a_training_split_are_refused_before_training(splits: dict[str, range]) -> None:
    """Regression: a dataset with a test split only raised a bare KeyError: 'train' from training_splits."""
    ds = Dataset.from_arrays(np.zeros((40, 1, 8)), np.arange(40) % 2, splits=splits)
    said = rf"dataset 'arrays' has no 'train' split \(it has {sorted(splits)}\).*or give no splits"
    with pytest.raises(DatasetError, match=said.replace("[", r"\[")):
        training_splits(ds)
    from tshub.training import train_from_scratch

    with pytest.raises(DatasetError, match="has no 'train' split"):
        train_from_scratch("fcn", ds, max_epochs=1, progress=False)


# ------------------------------------------------------------------------------------ sliding windows of one series
def windows(series: np.ndarray, length: int = 50, stride: int = 1) -> Dataset:
    """A user's forecasting data: window t = series[t·stride : t·stride + length], target the value after it, one row
    per window in time order (row i covers time steps i·stride .. i·stride + length, its target included)."""
    starts = np.arange(0, len(series) - length, stride)
    X = np.stack([series[s : s + length] for s in starts])
    return Dataset.from_arrays(X, series[starts + length], name="windows", task="regression")


def random_walk(n: int = 400, seed: int = 0) -> np.ndarray:
    return 100 + np.cumsum(np.random.default_rng(seed).normal(size=n))


@pytest.fixture(scope="module")
def sp500_close(shared_data: Path) -> np.ndarray:
    path = shared_data / "SP500" / "GSPC_1927-12-30_2018-11-26.csv"
    if not path.is_file():
        pytest.skip(f"the S&P 500 file is not at {path}")
    import pandas as pd

    return pd.read_csv(path)["Close"].to_numpy()


def time_steps(ds: Dataset, split: str, length: int, stride: int = 1) -> set[int]:
    """Every time step the windows of ``split`` cover, their next-value targets included."""
    return {int(t) for i in ds.splits[split] for t in range(i * stride, i * stride + length + 1)}


def test_sliding_windows_of_real_series_are_detected_with_their_stride(sp500_close) -> None:
    X = windows(sp500_close).X
    assert sliding_window_stride(X) == (1, 1.0)
    assert sliding_window_stride(windows(sp500_close[:3000], stride=5).X) == (5, 1.0)
    assert sliding_window_stride(X[::-1]) == (-1, 1.0)  # newest first
    rounded = np.round(X.astype(np.float64) * (1 + 1e-7), 3)  # written to text and read back: rounding differs
    assert sliding_window_stride(rounded)[0] == 1
    gaps = np.delete(X, np.arange(0, len(X), 20), axis=0)  # one window in 20 missing: still windows
    assert sliding_window_stride(gaps)[0] == 1
    shuffled = X[np.random.default_rng(0).permutation(len(X))]
    assert sliding_window_stride(shuffled)[0] == 0
    assert sliding_window_stride(X[::60])[0] == 0  # 60 steps apart: 50-step windows share no step


def test_airline_windows_are_detected(shared_data: Path) -> None:
    path = Path("/tmp/aeonlib/aeon/datasets/data/Airline/Airline.csv")
    if not path.is_file():
        pytest.skip(f"aeon's Airline data is not at {path}")
    import pandas as pd

    passengers = pd.read_csv(path)["Passengers"].to_numpy(dtype=np.float64)
    assert sliding_window_stride(windows(passengers, length=12).X) == (1, 1.0)


def test_the_scale_of_the_data_does_not_make_windows() -> None:
    """Regression: "near zero" was absolute (1e-7), so random series at 1e-8 (seismograms in m/s) matched at any
    shift: taken for sliding windows and carved in time, or refused as too few windows for the gap."""
    rng = np.random.default_rng(0)
    assert sliding_window_stride(rng.normal(size=(100, 1, 50)) * 1e-8)[0] == 0
    walk = np.cumsum(rng.normal(size=700)) * 1e-9  # real windows at that scale are still windows
    assert sliding_window_stride(windows(walk).X) == (1, 1.0)


def test_rows_that_are_not_windows_are_not_detected(ucr_root: Path) -> None:
    gunpoint = Dataset.from_file(str(ucr_root / "GunPoint" / "GunPoint_TRAIN.tsv.gz"))
    assert sliding_window_stride(gunpoint.X)[0] == 0
    assert sliding_window_stride(np.random.default_rng(0).normal(size=(100, 1, 50)))[0] == 0
    assert sliding_window_stride(np.zeros((40, 1, 50)))[0] == 0  # constant rows match any shift: not windows
    assert sliding_window_stride(np.tile(np.arange(50.0), (40, 1)))[0] == 0  # one row repeated


@pytest.mark.parametrize("test_fraction", [0.0, 0.15])
def test_windows_are_carved_in_time_with_no_time_step_shared_across_splits(test_fraction: float) -> None:
    """Before: validation and test windows were drawn at random among overlapping windows of one series, so most
    shared time steps with training windows (validation chose the epoch and ω on leaked data)."""
    ds = windows(random_walk(600))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, notes = training_splits(ds, test_fraction=test_fraction)
    train = time_steps(out, "train", 50)
    held = ["val", "test"] if test_fraction else ["val"]
    for split in held:
        assert not train & time_steps(out, split, 50), f"{split} windows share time steps with training windows"
        assert out.splits[split].min() > out.splits["train"].max()  # the future is held out, not the past
    if test_fraction:
        assert out.splits["test"].max() == len(ds.X) - 1 and out.splits["test"].min() > out.splits["val"].max() + 50
    protocol = out.meta["split_protocol"]
    assert protocol["rule"] == "chronological_holdout" and protocol["split_order"] == "auto"
    assert protocol["sliding_windows"] == {"stride": 1, "length": 50, "pairs": 1.0}
    assert all(protocol["held_out"][split]["purged"] == 50 for split in held)
    assert "as validation (in time order after 50 purged windows" in notes[-1]
    said = [str(w.message) for w in caught]  # once, though two splits may be carved
    assert len(said) == 1 and "sliding windows of one series (100% of consecutive rows are 1 step apart)" in said[0]
    assert "chronological blocks, each after 50 purged windows" in said[0] and "split_order='random'" in said[0]


def panel(parts: list[np.ndarray], length: int = 50) -> tuple[Dataset, list[tuple[int, int]]]:
    """The windows of several series one after another (a user's panel: one row per window, series by series), and
    each row's (series, first time step)."""
    made = [windows(series, length) for series in parts]
    X, y = np.concatenate([m.X for m in made]), np.concatenate([m.y for m in made])
    rows = [(k, t) for k, m in enumerate(made) for t in range(len(m.X))]
    return Dataset.from_arrays(X, y, name="panel", task="regression"), rows


def panel_steps(ds: Dataset, rows: list[tuple[int, int]], split: str, length: int = 50) -> set[tuple[int, int]]:
    """Every (series, time step) the windows of ``split`` cover, their next-value targets included."""
    return {(rows[i][0], rows[i][1] + t) for i in ds.splits[split] for t in range(length + 1)}


def test_windows_of_several_series_hold_out_the_end_of_each(sp500_close) -> None:
    """Before: the windows of several series, one after another, were carved as if they were one series' (the last
    rows held out): the test split was the end of the last series alone, and the others' final periods trained the
    model. Now each series' last windows are held out after its purged gap, as a forecaster backtests a panel.
    Three stretches of the S&P 500 (the 1950s, the 1980s, the 2010s) stand for three series."""
    parts = [sp500_close[5500:6700], sp500_close[13000:13900], sp500_close[-1500:]]
    ds, rows = panel(parts)
    with pytest.warns(UserWarning, match=r"sliding windows of 3 series .* the last chronological block of each series"):
        out, notes = training_splits(ds, test_fraction=0.15)
    train = panel_steps(out, rows, "train")
    for split in ("val", "test"):
        assert not train & panel_steps(out, rows, split), f"{split} windows share time steps with training windows"
        by_series = [sorted(t for k, t in (rows[i] for i in out.splits[split]) if k == s) for s in range(3)]
        assert all(by_series), f"a series has no {split} windows: {[len(b) for b in by_series]}"
    for s, part in enumerate(parts):
        last = len(part) - 50 - 1  # its last window
        assert max(t for k, t in (rows[i] for i in out.splits["test"]) if k == s) == last
    protocol = out.meta["split_protocol"]
    assert protocol["sliding_windows"]["series"] == 3
    assert protocol["held_out"]["test"]["series"] == 3 and protocol["held_out"]["test"]["series_too_short"] == 0
    assert "the end of each of its 3 series" in notes[-1]


def test_the_windows_of_short_gestures_are_windows_and_whole_gestures_are_held_out(
    shared_data: Path,
) -> None:
    """Before: windows cut from short series (each EMG gesture of ~400 samples gives 7 windows of 100 every 50 steps)
    were 85% one stride apart, short of the 90% the detection asked, so they were carved at random: validation and
    test windows overlapped training windows of the same gesture. Real Myo recordings (EMG-Roshambo, subject 1)."""
    folder = shared_data / "EMG-Roshambo"
    if not (folder / "subject01_session01_emg.npy").is_file():
        pytest.skip(f"the EMG-Roshambo recordings are not in {folder}")
    X, y, steps = [], [], []
    for session in (1, 2, 3):
        emg = np.load(folder / f"subject01_session0{session}_emg.npy", allow_pickle=False).astype(np.float32)
        labels = np.load(folder / f"subject01_session0{session}_ann.npy", allow_pickle=False).astype(str)
        edges = np.flatnonzero(labels[1:] != labels[:-1]) + 1
        for segment in np.split(np.arange(len(labels)), edges):
            if labels[segment[0]] == "none":
                continue
            for start in range(segment[0], segment[-1] - 100 + 2, 50):
                X.append(emg[start : start + 100].T)
                y.append(labels[segment[0]])
                steps.append({(session, t) for t in range(start, start + 100)})
    ds = Dataset.from_arrays(np.stack(X), np.array(y), name="gestures")
    stride, pairs = sliding_window_stride(ds.X)
    assert stride == 50 and 0.8 < pairs < WINDOW_PAIRS
    with pytest.warns(UserWarning, match=r"sliding windows of 45 series .* \(or the last whole series"):
        out, notes = training_splits(ds, test_fraction=0.15)
    seen = set().union(*(steps[i] for i in out.splits["train"]))
    for split in ("val", "test"):
        assert not seen & set().union(*(steps[i] for i in out.splits[split])), split
        assert set(out.split(split, labels=True)[1]) == {"rock", "paper", "scissor"}
    # a gesture's 7 windows would purge 2 to hold 1 out: whole gestures are held out instead, and none is lost
    assert sum(map(len, out.splits.values())) == len(ds.X)
    assert out.meta["split_protocol"]["held_out"]["test"]["whole_series"] == 6  # 2 of each class: 14%, 15% asked
    assert "the last 6 whole series in time, of each class" in notes[0]
    by_class = np.argsort(np.array(y), kind="stable")  # one class after another: each still reaches every split
    with pytest.warns(UserWarning, match="sliding windows of 45 series"):
        sorted_out, _ = training_splits(Dataset.from_arrays(ds.X[by_class], np.array(y)[by_class]), test_fraction=0.15)
    for split in ("train", "val", "test"):
        assert set(sorted_out.split(split, labels=True)[1]) == {"rock", "paper", "scissor"}, split


def test_windows_forecasting_several_steps_purge_their_targets_too() -> None:
    """Before: the gap was one window length (length // stride windows), enough for a next-value target; with the
    next 5 values as targets, the last training windows' targets were the first held-out windows' inputs."""
    series, length, ahead = random_walk(700), 50, 5
    starts = np.arange(len(series) - length - ahead + 1)
    X = np.stack([series[s : s + length] for s in starts])
    y = np.stack([series[s + length : s + length + ahead] for s in starts])
    ds = Dataset.from_arrays(X, y, name="five ahead", task="regression")
    with pytest.warns(UserWarning, match="54 purged windows"):
        out, _ = training_splits(ds, test_fraction=0.15)
    seen = {int(t) for i in out.splits["train"] for t in range(i, i + length + ahead)}  # inputs and targets
    for split in ("val", "test"):
        assert not seen & {int(t) for i in out.splits[split] for t in range(i, i + length + ahead)}, split
    assert out.meta["split_protocol"]["sliding_windows"]["horizon"] == ahead


def test_a_series_too_short_to_carve_stays_in_training() -> None:
    ds, rows = panel([random_walk(400, seed=0), random_walk(80, seed=1), random_walk(400, seed=2)])
    with pytest.warns(UserWarning, match="3 series"):
        out, _ = training_splits(ds)
    short = {i for i, (k, _) in enumerate(rows) if k == 1}
    assert short <= set(out.splits["train"].tolist())  # 30 windows: 5 held out after 50 purged leave none
    assert out.meta["split_protocol"]["held_out"]["val"]["series_too_short"] == 1
    assert {rows[i][0] for i in out.splits["val"]} == {0, 2}
    all_short, _ = panel([random_walk(80, seed=1), random_walk(90, seed=2)])
    with pytest.raises(
        DatasetError, match=r"none of its 2 series has windows enough to hold its last 20% out as 'val'"
    ):
        with pytest.warns(UserWarning, match="2 series"):
            training_splits(all_short)


def test_windows_with_a_few_missing_are_one_series() -> None:
    ds = windows(random_walk(600))
    gaps = Dataset.from_arrays(
        np.delete(ds.X, [100, 300, 301], axis=0), np.delete(ds.y, [100, 300, 301]), name="gaps", task="regression"
    )
    with pytest.warns(UserWarning, match="sliding windows of one series"):
        out, _ = training_splits(gaps)
    assert "series" not in out.meta["split_protocol"]["sliding_windows"]
    assert out.splits["val"].max() == len(gaps.X) - 1 and out.splits["val"].min() > out.splits["train"].max() + 50


def test_sp500_windows_carved_by_tshub_share_no_time_step(sp500_close) -> None:
    ds = windows(sp500_close[-4000:], stride=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the detection's warning: tested above
        out, _ = training_splits(ds, test_fraction=0.15)
    train = time_steps(out, "train", 50, stride=2)
    assert not train & time_steps(out, "val", 50, stride=2) and not train & time_steps(out, "test", 50, stride=2)
    assert out.meta["split_protocol"]["held_out"]["test"]["purged"] == 25  # 50 steps // stride 2


def test_newest_first_windows_hold_out_their_first_rows() -> None:
    ds = windows(random_walk(300))
    reversed_rows = Dataset.from_arrays(ds.X[::-1], ds.y[::-1], name="newest first", task="regression")
    with pytest.warns(UserWarning, match="newest first"):
        out, _ = training_splits(reversed_rows, test_fraction=0.1)
    assert out.splits["test"].min() == 0 and out.splits["val"].max() < out.splits["train"].min()


def test_split_order_overrides_detection() -> None:
    ds = windows(random_walk(400))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # chosen, not detected: no warning
        shuffled, notes = training_splits(ds, split_order="random")
        timed, _ = training_splits(ds, split_order="time")
    expected = official_with_validation(as_training_data(ds), split_order="random")
    np.testing.assert_array_equal(shuffled.splits["val"], expected.splits["val"])
    assert shuffled.meta["split_protocol"]["split_order"] == "random"
    assert "share time steps with training ones and score optimistically" in notes[-1]
    assert timed.meta["split_protocol"]["split_order"] == "time"
    with pytest.raises(DatasetError, match=r"split_order must be 'auto' .*got 'chrono'"):
        training_splits(ds, split_order="chrono")


def test_split_order_time_on_rows_that_are_not_windows_holds_the_last_rows_out_without_a_gap() -> None:
    ds = regression(40)
    out, notes = training_splits(ds, split_order="time")
    assert out.splits["val"].tolist() == list(range(32, 40)) and out.splits["train"].tolist() == list(range(32))
    assert out.meta["split_protocol"]["sliding_windows"] is None and "split_order='time'" in notes[-1]


def test_too_few_windows_for_the_gap_are_refused_saying_what_to_do() -> None:
    with pytest.raises(DatasetError, match=r"after the 50 windows .* split_order='random'"):
        with pytest.warns(UserWarning, match="sliding windows"):
            training_splits(windows(random_walk(110)))


def test_rows_that_are_not_windows_split_exactly_as_before(ucr_root: Path) -> None:
    """GunPoint's rows are not windows: the carve is the stratified random one it always was (indices pinned from
    the code before split orders existed), protocol included, and nothing is warned."""
    ds = Dataset.from_file(str(ucr_root / "GunPoint" / "GunPoint_TRAIN.tsv.gz"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, _ = training_splits(ds, test_fraction=0.15, seed=0)
        val, _ = training_splits(ds, seed=3)
    assert out.splits["test"].tolist() == [0, 3, 16, 20, 25, 27, 29, 32]
    assert out.splits["val"].tolist() == [7, 10, 12, 15, 17, 36, 44, 48]
    assert val.splits["val"].tolist() == [2, 6, 23, 24, 26, 29, 34, 36, 39, 48]
    assert val.meta["split_protocol"] == {"rule": "official_with_validation", "val_fraction": 0.2, "seed": 3}


def test_given_test_splits_are_kept_and_validation_comes_from_the_end_of_train() -> None:
    ds = windows(random_walk(500))
    n = len(ds.X)
    given = ds.with_splits({"train": np.arange(n - 100), "test": np.arange(n - 100, n)})
    with pytest.warns(UserWarning, match="sliding windows"):
        out = ensure_validation(given)
    np.testing.assert_array_equal(out.splits["test"], given.splits["test"])
    assert out.splits["val"].max() == n - 101 and out.splits["train"].max() == out.splits["val"].min() - 51


def test_the_split_protocol_of_a_carved_test_split_names_that_carve_not_an_official_split() -> None:
    """Regression: a file without splits, its test split held out at random, then a validation split carved, was
    recorded as rule 'official_with_validation' (the uploads' split_protocol said so), implying an official test."""
    ds = Dataset.from_arrays(np.random.default_rng(0).normal(size=(28, 1, 16)), np.arange(28) % 2)
    carved, _ = training_splits(ds, test_fraction=0.15)
    protocol = carved.meta["split_protocol"]
    assert protocol["rule"] == "random_test_with_validation" and protocol["test"]["rule"] == "random_split"
    official, _ = training_splits(
        Dataset.from_arrays(ds.X, ds.y, splits={"train": np.arange(20), "test": np.arange(20, 28)})
    )
    assert official.meta["split_protocol"]["rule"] == "official_with_validation"


def test_splits_the_data_brings_whole_are_recorded_as_given() -> None:
    """Regression: a train + val (+ test) upload, nothing carved, recorded split_protocol null, which the service's
    schema reads as 'stored before it was recorded'."""
    rng = np.random.default_rng(0)
    ds = Dataset.from_arrays(
        rng.normal(size=(30, 1, 16)),
        np.arange(30) % 2,
        splits={"train": np.arange(20), "val": np.arange(20, 25), "test": np.arange(25, 30)},
    )
    out, notes = training_splits(ds)
    assert out.meta["split_protocol"] == {"rule": "given", "splits": {"train": 20, "val": 5, "test": 5}}
    assert notes == [] and all(np.array_equal(out.splits[k], ds.splits[k]) for k in ds.splits)


def test_an_empty_validation_or_test_split_is_left_out_not_trained_on() -> None:
    """Regression: a dataset whose official "val" split held no series (SEISMIC-CX loaded with limit=10: train 8, val
    0, test 2) kept it, and training validated on nothing: NaN validation metrics every epoch chose the weights."""
    rng = np.random.default_rng(0)
    ds = Dataset.from_arrays(
        rng.normal(size=(30, 1, 16)),
        np.arange(30) % 2,
        splits={"train": np.arange(25), "val": np.arange(0), "test": np.arange(25, 30)},
    )
    out, notes = training_splits(ds)
    assert len(out.splits["val"]) == 5 and len(out.splits["train"]) == 20 and len(out.splits["test"]) == 5
    assert any("'val' split holds no series" in note for note in notes)
    no_test, notes = training_splits(ds.with_splits({"train": np.arange(25), "test": np.arange(0)}))
    assert "test" not in no_test.splits and any("'test' split holds no series" in note for note in notes)


def _shares_a_step(ds: Dataset, a: str, b: str, stride: int = 1) -> int:
    """How many windows of split ``b`` share a time step (or the target after) with a window of split ``a``: rows are
    windows ``stride`` steps apart, of length ``ds.length``."""
    span = ds.length + 1
    starts = {name: ds.splits[name] * stride for name in (a, b)}
    return int(sum(np.any(np.abs(starts[a] - s) < span) for s in starts[b]))


def test_chronological_split_of_sliding_windows_purges_the_windows_between_its_blocks() -> None:
    """Regression: chronological_split, which its docstring recommends for windows, put adjacent windows on both
    sides of each boundary: 49 of 150 validation windows shared time steps with training ones (length 50, stride 1).
    Rows that are no windows are split as before."""
    ds = windows(random_walk(1051), length=50)
    out = chronological_split(ds, (0.7, 0.15, 0.15))
    assert _shares_a_step(out, "train", "val") == 0 and _shares_a_step(out, "val", "test") == 0
    assert out.meta["split_protocol"]["purged"] == 50 and len(out.splits["test"]) == 150 - 50
    with pytest.raises(DatasetError, match="too few"):
        chronological_split(windows(random_walk(160), length=50), (0.7, 0.15, 0.15))
    with pytest.raises(DatasetError, match="too few"):
        chronological_split(regression(3), (0.8, 0.1, 0.1))  # a split of no series


def test_a_train_split_given_in_another_order_is_carved_in_time_all_the_same() -> None:
    """Regression: the rows' indices are their time, but a train split given shuffled turned the window detection
    off: its validation windows were drawn at random, every one overlapping a training window."""
    ds = windows(random_walk(1050), length=50)
    shuffled = np.random.default_rng(0).permutation(800)
    given = ds.with_splits({"train": shuffled, "test": np.arange(850, 1000)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        carved, _ = training_splits(given, val_fraction=0.2)
    assert _shares_a_step(carved, "train", "val") == 0 and carved.splits["val"].min() > carved.splits["train"].max()


def test_group_split_refuses_series_without_a_group_label() -> None:
    """Regression: rows whose group label was NaN went to no split while the protocol listed nan under one."""
    ds = regression(12)
    groups = np.array([1, 1, 2, 2, 3, 3, np.nan, np.nan, 4, 4, 5, 5])
    with pytest.raises(DatasetError, match=r"2 series have no group label \(NaN, inf or None\)"):
        group_split(ds, groups, (0.6, 0.2, 0.2))


def test_windows_normalised_one_by_one_are_purged_when_split_in_time() -> None:
    """Regression: windows z-normalised one by one match no shift exactly, so split_order="time" carved them in time
    with no gap: 50 of the validation windows shared time steps with training ones. Under "time" (the caller says the
    rows are in time order) a stride that holds up to each window's scale gives the gap; rows that are no windows
    still split with none, and "auto" detects exact windows only, as before."""
    raw = windows(random_walk(1050), length=50)
    X = (raw.X - raw.X.mean(axis=2, keepdims=True)) / raw.X.std(axis=2, keepdims=True)
    ds = Dataset.from_arrays(X, raw.y, name="normalised", task="regression")
    assert sliding_window_stride(ds.X)[0] == 0  # "auto" does not take them for windows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        carved, notes = training_splits(ds, val_fraction=0.15, test_fraction=0.15, split_order="time")
    assert _shares_a_step(carved, "train", "val") == 0 and _shares_a_step(carved, "val", "test") == 0
    windows_said = carved.meta["split_protocol"]["sliding_windows"]
    assert windows_said["stride"] == 1 and windows_said["up_to_scale"] is True
    assert any("up to each window's scale" in note for note in notes)
    scrambled = chronological_split(ds, (0.7, 0.15, 0.15))
    assert _shares_a_step(scrambled, "train", "val") == 0 and scrambled.meta["split_protocol"]["purged"] == 50
    flagged = np.concatenate([X, np.zeros_like(X)], axis=1)  # an indicator channel, constant here, hides nothing
    flagged_ds = Dataset.from_arrays(flagged, raw.y, name="flagged", task="regression")
    assert chronological_split(flagged_ds, (0.7, 0.15, 0.15)).meta["split_protocol"]["purged"] == 50
    newest_first = Dataset.from_arrays(X[::-1].copy(), raw.y[::-1].copy(), name="newest", task="regression")
    backwards = chronological_split(newest_first, (0.7, 0.15, 0.15))  # rows going back in time: the oldest train
    assert backwards.splits["train"].min() > backwards.splits["val"].max() > backwards.splits["test"].max()
    rows = Dataset.from_arrays(np.random.default_rng(0).normal(size=(200, 1, 50)), np.arange(200.0) / 7, name="rows")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain, _ = training_splits(rows, val_fraction=0.2, split_order="time")
    assert len(plain.splits["train"]) + len(plain.splits["val"]) == 200  # nothing purged


def test_lag_feature_rows_are_said_to_read_time_backwards() -> None:
    """Regression: a table of lag features (row t = x[t-1], x[t-2], ..., as pandas' shift(1..L) builds it, target
    x[t]) read as windows newest first, so its carve held the oldest rows out as test and trained on the future,
    saying only "newest first"; the rows read time right to left, as no model of tshub does."""
    series = random_walk(700)
    lags = np.stack([series[t - 24 : t][::-1] for t in range(24, 624)])
    ds = Dataset.from_arrays(lags, series[24:624], name="lags", task="regression")
    with pytest.warns(UserWarning, match=r"lag features, most recent first.*X\[:, :, ::-1\]"):
        training_splits(ds, test_fraction=0.2)
    newest_first = windows(series, length=24).X[::-1]  # real windows, newest row first: no such warning
    targets = windows(series, length=24).y[::-1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        training_splits(Dataset.from_arrays(newest_first, targets, name="newest", task="regression"), test_fraction=0.2)
    assert not any("lag features" in str(w.message) for w in caught)


def _panel_by_date(stocks: int = 5, days: int = 120, length: int = 30) -> np.ndarray:
    """Windows of ``stocks`` random walks, one window per stock and day, ordered by date (all stocks on day t, then
    day t + 1): consecutive rows are other stocks, so no stride relates them."""
    walks = np.random.default_rng(3).normal(size=(stocks, days + length)).cumsum(axis=1)
    return np.stack([walks[s, t : t + length] for t in range(days) for s in range(stocks)])[:, None, :]


def test_rows_overlapping_one_another_without_a_stride_are_warned_about_before_a_random_carve() -> None:
    """Regression: windows of a panel ordered by date, or of recordings cut at irregular offsets (event-centred),
    escape the stride check; carved at random, their validation and test splits then held windows sharing most of
    their steps with training ones, without a word. Rows that overlap one another by half their length are now
    counted and warned about; unrelated rows, and a random carve asked for by name, are not."""
    X = _panel_by_date()
    y = np.arange(len(X)) % 2
    panel = Dataset.from_arrays(X, y, name="panel")
    assert sliding_window_stride(panel.X)[0] == 0  # the stride check does not see it
    with pytest.warns(UserWarning, match=r"'panel': 600 of the 600 series tshub carves held-out splits from repeat "
                      r"another or share 15 or more consecutive values .*split_order='time'"):  # fmt: skip
        training_splits(panel)
    recording = np.random.default_rng(4).normal(size=2000).cumsum()
    events = np.sort(np.random.default_rng(5).choice(1900, size=80, replace=False))  # irregular offsets
    centred = Dataset.from_arrays(np.stack([recording[e : e + 64] for e in events])[:, None, :], np.arange(80) % 2)
    with pytest.warns(UserWarning, match=r"of the 80 series tshub carves held-out splits from"):
        training_splits(centred)
    unrelated = Dataset.from_arrays(np.random.default_rng(6).normal(size=(80, 1, 64)), np.arange(80) % 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        training_splits(unrelated)
        training_splits(panel, split_order="random")


def test_the_overlap_check_before_a_random_carve_runs_once_per_content(monkeypatch) -> None:
    """Regression: a fine-tune with its baselines carves the same rows two or three times (fine-tune, from-scratch
    referent, MiniRocket), and each carve hashed every run of every row again (0.1 to 0.5 s per million values). The
    count is now kept by the rows' content: carving again warns alike without counting again; other values count."""
    from tshub.data import splits

    counted: list[int] = []

    def counting(X: np.ndarray, run: int) -> np.ndarray:
        counted.append(len(X))
        return overlapping_rows(X, run)

    monkeypatch.setattr(splits, "overlapping_rows", counting)
    monkeypatch.setattr(splits, "_overlap_counts", OrderedDict())  # nothing counted before, in this process
    panel = Dataset.from_arrays(_panel_by_date(days=121), np.arange(605) % 2, name="panel")
    for _ in range(3):
        with pytest.warns(UserWarning, match=r"'panel': 605 of the 605 series tshub carves"):
            training_splits(panel)
    assert counted == [605]
    other = Dataset.from_arrays(np.random.default_rng(7).normal(size=(605, 1, 30)), np.arange(605) % 2)
    training_splits(other)
    assert counted == [605, 605]
