"""What ``Dataset.from_arrays`` and training make of inputs that are easy to get wrong: channels of one series with
different lengths, arrays laid out channels-last, series too short for per-series z-normalisation, series with NaN,
dates as targets and no series at all."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tshub.baselines import minirocket
from tshub.data.dataset import Dataset, DatasetError, series_as_float32
from tshub.data.preprocess import ZNormalize
from tshub.estimators import TSHubClassifier
from tshub.models import build_model
from tshub.training import finetune, train_from_scratch


def test_channels_of_one_series_with_different_lengths_are_refused_saying_so() -> None:
    """Regression: a list of per-channel lists of unequal lengths raised numpy's 'inhomogeneous shape' ValueError."""
    rng = np.random.default_rng(0)
    series = [[rng.normal(size=50), rng.normal(size=45 if i == 3 else 50), rng.normal(size=50)] for i in range(6)]
    y = np.arange(6) % 2
    for variable_length in (None, "pad"):
        with pytest.raises(DatasetError, match=r"series 3: its 3 channels have different lengths \(50, 45, 50\)"):
            Dataset.from_arrays(series, y, variable_length=variable_length)


def test_series_of_equal_channels_still_read_from_nested_lists() -> None:
    rng = np.random.default_rng(0)
    series = [[rng.normal(size=50 + i), rng.normal(size=50 + i)] for i in range(4)]
    ds = Dataset.from_arrays(series, [0, 1, 0, 1], variable_length="truncate")
    assert ds.X.shape == (4, 2, 50)


def test_a_channels_last_array_is_warned_about() -> None:
    """Regression: X of shape (n, length=50, channels=3) silently became 50 channels of length 3."""
    X = np.random.default_rng(0).normal(size=(10, 50, 3))
    with pytest.warns(UserWarning, match=r"\(10, 50, 3\).*\(n, channels, length\).*X\.transpose\(0, 2, 1\)"):
        ds = Dataset.from_arrays(X, np.arange(10) % 2)
    assert ds.X.shape == (10, 50, 3)  # a warning only: a few real datasets have more channels than time steps


@pytest.mark.parametrize("shape", [(10, 3, 50), (10, 50), (10, 200, 144), (10, 2, 2)])
def test_arrays_laid_out_as_tshub_takes_them_are_not_warned_about(shape: tuple[int, ...]) -> None:
    X = np.random.default_rng(0).normal(size=shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Dataset.from_arrays(X, np.arange(10) % 2)


@pytest.mark.parametrize("length", [1, 2])
def test_training_on_series_too_short_to_z_normalise_is_warned_about(length: int) -> None:
    """Regression: series of 1 or 2 time steps became zeros or ±1 under the default per-series z-normalisation, so
    training learned nothing (validation accuracy 0.50, against 1.00 with preprocessing='identity'), silently."""
    y = np.arange(20) % 2
    data = Dataset.from_arrays(np.random.default_rng(0).normal(size=(20, 1, length)) + 3 * y[:, None, None], y)
    options = {"max_epochs": 1, "arch_kwargs": {"filters": (4, 4, 4)}, "progress": False}
    with pytest.warns(UserWarning, match=rf"{length} time step.*z-normalisation.*preprocessing='identity'"):
        train_from_scratch("fcn", data, **options)
    with warnings.catch_warnings():  # the advice taken: no warning
        warnings.simplefilter("error")
        train_from_scratch("fcn", data, preprocessing="identity", **options)


def test_series_of_three_time_steps_train_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ZNormalize().fit(np.random.default_rng(0).normal(size=(20, 1, 3)))


def offset_series(level: float) -> np.ndarray:
    """Two classes told apart by frequency, a variation of 0.01 on ``level`` (float64, as numpy users hold data)."""
    t = np.linspace(0, 6, 64)
    return level + 0.01 * np.stack([np.sin(t * (1 + i % 2)) for i in range(20)])[:, None, :]


def test_series_float32_would_flatten_are_warned_about_wherever_they_enter() -> None:
    """Regression: 1e6 + 0.01 sin t became one float32 value per series (float32 steps by 0.0625 there), which
    z-normalisation mapped to zeros: a fine-tune scored chance, with no word of why."""
    X, y = offset_series(1e6), np.arange(20) % 2
    said = r"20 of 20 series \(channels counted apart\) lose their variation when stored as float32.*"
    with pytest.warns(UserWarning, match=said + r"series 0, channel 0\) spans 0\.02 at a level of 1e\+06.*0\.0625"):
        flattened = Dataset.from_arrays(X, y)
    assert len(np.unique(flattened.X[0])) == 1  # what the warning is about
    with pytest.warns(UserWarning, match=said):  # model.predict on raw series goes through the preprocessor
        ZNormalize().transform(X)
    with pytest.warns(UserWarning, match=r"1 of 3 series .*the first \(series 1\) spans 4 at a level of 1e\+08"):
        Dataset.from_arrays(np.array([[0, 1, 2, 3], [10**8, 10**8 + 4, 10**8, 10**8 + 2], [5, 5, 5, 5]]), [0, 1, 0])


def test_series_float32_keeps_are_not_warned_about() -> None:
    X, y = offset_series(1e6), np.arange(20) % 2
    gaps = offset_series(0.0)
    gaps[0, 0, :10] = np.nan  # NaN gaps are another matter (missing=...)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = Dataset.from_arrays(X - X.mean(axis=-1, keepdims=True), y)  # what the warning says to do
        Dataset.from_arrays(offset_series(1e3), y)  # float32 steps by 6e-5 at 1e3: 300 steps over 0.02
        Dataset.from_arrays(np.full((4, 1, 8), 1e6), [0, 1, 0, 1])  # constant: nothing to lose
        Dataset.from_arrays(X.astype(np.float32), y)  # already float32: lost before tshub saw it
        series_as_float32(gaps)
    assert len(np.unique(kept.X[0])) > 30


def with_nan_series(splits: dict[str, range] | None = None) -> Dataset:
    """40 series of which 2, 17 and 30 hold a NaN (the user's own indices)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 60)), rng.integers(0, 2, 40)
    X[[2, 17, 30], 5] = np.nan
    return Dataset.from_arrays(X, y, splits=splits)


NAN_SAID = (
    r"^3 of 40 series contain NaN or infinite values \(the first: series 2, channel 0, step 5\);.*variable_length"
)


@pytest.mark.parametrize(
    "train",
    [
        lambda data: train_from_scratch("fcn", data, max_epochs=1, progress=False),
        lambda data: finetune(build_model("fcn", 1, 2), data, max_epochs=1, progress=False),
    ],
    ids=["train_from_scratch", "finetune"],
)
@pytest.mark.parametrize("splits", [None, {"train": range(10, 40), "val": range(10)}], ids=["no splits", "splits"])
def test_series_with_nan_are_counted_and_named_by_the_users_own_indices(train, splits) -> None:
    """Regression: the count and the first series were those of the training split after the validation split was
    carved out ("1 of 32 series ... series 12", "2 of 30 ..." with splits of one's own), not the data given."""
    with pytest.raises(DatasetError, match=NAN_SAID):
        train(with_nan_series(splits))


def test_series_with_nan_are_named_by_the_users_own_indices_by_minirocket_and_the_estimators() -> None:
    data = with_nan_series()
    with pytest.raises(DatasetError, match=NAN_SAID):  # data without splits, split as a fine-tune splits it
        minirocket(data)
    with pytest.raises(DatasetError, match=r"^3 of 40 series contain NaN .*series 2, step 5"):
        TSHubClassifier(source=None, max_epochs=1, progress=False).fit(data.X[:, 0], data.y)


@pytest.mark.parametrize(
    ("y", "kind"),
    [
        (np.array(["2020-01-01", "2020-01-02"] * 5, dtype="datetime64[D]"), r"dates \(datetime64\[D\]\)"),
        (np.array([1, 2] * 5, dtype="timedelta64[s]"), r"durations \(timedelta64\[s\]\)"),
    ],
)
def test_dates_as_targets_are_refused_saying_how_to_use_them(y: np.ndarray, kind: str) -> None:
    """Regression: datetime64 labels raised numpy's "UFuncTypeError: ufunc 'remainder'" from task inference."""
    X = np.random.default_rng(0).normal(size=(10, 1, 8))
    said = rf"dataset 'arrays': the targets are {kind}.*y\.astype\(str\).*y\.astype\('int64'\)"
    for task in (None, "regression", "classification"):
        with pytest.raises(DatasetError, match=said):
            Dataset.from_arrays(X, y, task=task)


def test_an_empty_dataset_is_refused_as_empty() -> None:
    """Regression: 0 series read as a dataset whose "'train' series hold no series; classification needs at least
    two classes"."""
    with pytest.raises(DatasetError, match=r"dataset 'arrays': X holds no series \(shape \(0, 60\)\).*at least one"):
        Dataset.from_arrays(np.zeros((0, 60)), np.zeros(0, dtype=int))
    built = Dataset(name="built", X=np.zeros((0, 1, 60)), y=np.zeros(0), task="classification", classes=["a", "b"])
    with pytest.raises(DatasetError, match=r"dataset 'built': its 'train' split holds no series \(the dataset has 0\)"):
        train_from_scratch("fcn", built, max_epochs=1, progress=False)


def test_whole_number_targets_read_as_many_classes_of_one_series_are_warned_about() -> None:
    """Regression: next closes rounded to whole dollars (150 series) read as 138 classes, most of one series, and
    fine-tuned as a classifier (validation accuracy 0) without a word about task='regression'."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 1, 20)).astype(np.float32)
    prices = np.round(2000 + 300 * rng.standard_normal(150))
    with pytest.warns(UserWarning, match=r"classes, \d+ of them with a single series.*task='regression'"):
        assert Dataset.from_arrays(X, prices).task == "classification"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Dataset.from_arrays(X, prices, task="regression").task == "regression"
        Dataset.from_arrays(X[:18], np.arange(18))  # one series per class, but few classes: a few-shot set
        Dataset.from_arrays(X, np.arange(150) % 3)


def test_float_labels_beyond_int64_stay_apart() -> None:
    """Regression: labels 1e20 and 2e20 were cast to int64, both to -9223372036854775808, one class of all the series
    ("its 'train' series hold only one class"); and targets of size 1e30, which every float is whole at, read as
    classes."""
    X, y = np.random.default_rng(0).normal(size=(20, 1, 16)), np.arange(20) % 2
    labelled = Dataset.from_arrays(X, np.array([1e20, 2e20])[y], task="classification")
    assert labelled.classes == ["100000000000000000000", "200000000000000000000"]
    assert labelled.y.tolist() == y.tolist()
    assert Dataset.from_arrays(X, np.random.default_rng(1).normal(size=20) * 1e30).task == "regression"
    assert Dataset.from_arrays(X, np.array([3.0, 7.0])[y]).class_values == [3, 7]  # as before


@pytest.mark.parametrize("task", [None, "regression", "classification"])
def test_targets_of_more_than_two_dimensions_are_refused(task: str | None) -> None:
    """Regression: regression targets of shape (n, 2, 2) made a dataset, and training failed in numpy's broadcasting
    ("operands could not be broadcast together with shapes (16,2,2) (4,)"); as labels, each row's text was a class."""
    X, rng = np.random.default_rng(0).normal(size=(20, 1, 16)), np.random.default_rng(1)
    with pytest.raises(DatasetError, match=r"targets of shape \(20, 2, 2\).*\(n,\).*\(n, k\).*reshape\(20, -1\)"):
        Dataset.from_arrays(X, rng.normal(size=(20, 2, 2)), task=task)
    with pytest.raises(DatasetError, match=r"targets of shape \(20, 2, 2\)"):
        Dataset(name="arrays", X=X, y=rng.normal(size=(20, 2, 2)), task="regression")


def test_several_labels_per_series_are_refused() -> None:
    """Regression: labels of shape (n, 2) became classes named after each row's text ("['a', 'b']")."""
    X = np.random.default_rng(0).normal(size=(20, 1, 16))
    labels = np.array([["a", "b"], ["c", "d"]])[np.arange(20) % 2]
    with pytest.raises(DatasetError, match=r"one class label per series, got labels of shape \(20, 2\)"):
        Dataset.from_arrays(X, labels)
    with pytest.raises(DatasetError, match=r"one class label per series"):
        Dataset.from_arrays(X, np.arange(40).reshape(20, 2), task="classification")
    assert Dataset.from_arrays(X, labels[:, :1]).classes == ["a", "c"]  # a column is one label per series


def test_values_beyond_float32_are_refused_saying_so() -> None:
    """Regression: from_arrays cast 1e39 to infinity (numpy's "overflow encountered in cast"), and training or
    predict then blamed "NaN or infinite values" and advised NaN padding options."""
    X = np.random.default_rng(0).normal(size=(4, 2, 16))
    X[2, 1, 5] = -1e39
    said = r"value -1e\+39 \(series 2, channel 1, step 5\) is beyond float32's range.*rescale"
    with pytest.raises(DatasetError, match=said):
        Dataset.from_arrays(X, [0, 1, 0, 1])
    with pytest.raises(DatasetError, match=said):
        build_model("fcn", 2, 2).predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert series_as_float32(np.array([[3e38, np.inf, np.nan]])).dtype == np.float32  # inf, NaN: refused later
