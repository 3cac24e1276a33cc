"""Splits: stratification, determinism, disjointness, reduced train sets, chronological order."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import tshub
from tshub.data import Dataset, DatasetError
from tshub.data.catalogue import load
from tshub.data.splits import (
    chronological_split,
    ensure_validation,
    group_split,
    official_with_validation,
    random_split,
    reduce_train,
    train_as_validation,
    training_splits,
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
    with pytest.raises(DatasetError, match=r"single training series: check that the label column .*label_column="):
        ensure_validation(stamps)
    years = Dataset.from_arrays(np.ones((3, 1)), np.array([1947, 1948, 1949]), task="classification")
    with pytest.raises(DatasetError, match=r"single training series: are the labels numeric targets\? .*regression"):
        ensure_validation(years)


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
    assert "--validation train" in notes[-1]
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
