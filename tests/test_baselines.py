"""tshub.baselines: MiniRocket as the authors and aeon define it, on real UCR data and on generated edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tshub.baselines import KERNEL_LENGTH, MiniRocket, minirocket, minirocket_if_possible
from tshub.data.catalogue import load
from tshub.data.dataset import Dataset
from tshub.data.splits import training_splits
from tshub.recommender.advice import minirocket_references


@pytest.mark.parametrize("name", ["GunPoint", "Beef", "ECG200"])
def test_it_scores_as_aeons_minirocket_on_the_official_splits(name: str, shared_data: Path):
    """Within two points of aeon's MiniRocketClassifier (the vendored table; both draw random biases), on sets
    where a broken transform or classifier falls far below (GunPoint 0.99, Beef 0.83, ECG200 0.91)."""
    result = minirocket(load(name), seed=0)
    assert result.metrics["accuracy"] == pytest.approx(minirocket_references()[name], abs=0.02)
    assert result.val_metrics == {} and result.name == "MiniRocket"  # official splits: no validation split


def test_the_transform_follows_the_reference_algorithm():
    """84 kernels × ~119 features = 9,996 PPV features in [0, 1], dilations up to (length − 1) / 8 spread over at most
    32 values, biases increasing with their quantile for every kernel, and a seed that fixes everything."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 1, 300)).astype(np.float32)
    transform = MiniRocket(seed=3).fit(X)
    features = transform.transform(X)
    assert features.shape == (30, 9996) and features.min() >= 0 and features.max() <= 1
    assert transform.dilations_[0] == 1 and transform.dilations_.max() <= (300 - 1) / (KERNEL_LENGTH - 1)
    assert len(transform.dilations_) <= 32 and transform.features_per_dilation_.sum() == 119
    np.testing.assert_array_equal(features, MiniRocket(seed=3).fit(X).transform(X))
    assert not np.array_equal(features, MiniRocket(seed=4).fit(X).transform(X))


def test_multivariate_series_are_seen_through_random_channel_combinations():
    """A class told apart only by the second of three channels is learnt: every (dilation, kernel) sums 1 to 3
    channels, and some of them include the informative one."""
    rng = np.random.default_rng(1)
    n, length = 80, 100
    y = np.repeat([0, 1], n // 2)
    X = rng.normal(size=(n, 3, length)).astype(np.float32)
    t = np.arange(length)
    X[:, 1] += np.where(y[:, None] == 1, np.sin(t / 2), np.sin(t / 9)).astype(np.float32)
    ds = Dataset.from_arrays(X, y.astype(str), name="channels")
    ds = ds.with_splits({"train": np.arange(0, n, 2), "test": np.arange(1, n, 2)})
    assert minirocket(ds).metrics["accuracy"] >= 0.95
    masks = MiniRocket().fit(X).channel_masks_
    sizes = np.concatenate([m.sum(1).numpy() for m in masks])
    assert sizes.min() >= 1 and sizes.max() <= 3 and (sizes > 1).any()


def test_a_fine_tunes_splits_give_it_validation_and_test_figures_and_short_series_are_padded():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 1, 5)).astype(np.float32)  # shorter than a kernel
    y = (X[:, 0, 2] > 0).astype(int)
    X[:, 0, 2] += np.where(y == 1, 2.0, -2.0)
    ds, _ = training_splits(Dataset.from_arrays(X, y.astype(str), name="short"), test_fraction=0.25)
    result = minirocket(ds)
    assert set(result.metrics) == set(result.val_metrics) == {"accuracy", "f1_weighted"}
    assert result.metrics["accuracy"] >= 0.9 and result.elapsed_s > 0


def test_a_regression_gets_a_ridge_regressor_on_the_same_features():
    """Regression: the baseline refused every regression, so a regression fine-tune's --baseline showed no
    non-pretrained method beside it (a fine-tune 100× worse than predicting the mean looked like any loss)."""
    rng = np.random.default_rng(0)
    frequency = rng.uniform(1, 5, 120)
    t = np.linspace(0, 2 * np.pi, 64)
    X = np.sin(frequency[:, None] * t + rng.uniform(0, 6, (120, 1)))[:, None, :] + rng.normal(0, 0.05, (120, 1, 64))
    ds, _ = training_splits(Dataset.from_arrays(X, frequency, name="tones", task="regression"), test_fraction=0.25)
    result = minirocket(ds)
    assert set(result.metrics) == set(result.val_metrics) == {"mae", "mse"}
    y_train, y_test = ds.split("train")[1], ds.split("test")[1]
    assert result.metrics["mae"] < 0.3 * np.mean(np.abs(y_test - y_train.mean()))


def test_what_it_cannot_take_is_said_plainly(without_scikit_learn: None):
    X = np.zeros((4, 1, 20), dtype=np.float32)
    X[0, 0, 3] = np.nan
    with pytest.raises(ValueError, match="MiniRocket needs finite values"):
        MiniRocket().fit(X)
    with pytest.raises(ImportError, match=r"needs scikit-learn for its ridge model: pip install 'tshub\[sklearn\]'"):
        minirocket(Dataset.from_arrays(np.ones((4, 1, 20)), ["a", "b"] * 2, splits={"train": np.arange(4)}))


def test_reports_learn_why_minirocket_could_not_run(without_scikit_learn: None):
    """``minirocket_if_possible``: what the CLI, the demo and the service print instead of failing."""
    labelled = Dataset.from_arrays(np.ones((4, 1, 20)), ["a", "b"] * 2, splits={"train": np.arange(4)})
    result, why_not = minirocket_if_possible(labelled)
    assert result is None and "pip install 'tshub[sklearn]'" in (why_not or "")


def test_reports_learn_that_series_with_gaps_need_filling_first():
    gaps = Dataset.from_arrays(np.where(np.eye(4, 20)[:, None] > 0, np.nan, 1.0), ["a", "b"] * 2, name="gaps")
    result, why_not = minirocket_if_possible(gaps.with_splits({"train": np.arange(4)}))
    assert result is None and "MiniRocket needs finite values: fill or drop missing values first" in (why_not or "")


def test_a_fault_inside_minirocket_is_not_reported_as_a_refusal(monkeypatch: pytest.MonkeyPatch):
    """Only data MiniRocket does not handle becomes a "not run" line; a ValueError from a bug must surface."""
    pytest.importorskip("sklearn")

    def broken(self: MiniRocket, X: np.ndarray) -> np.ndarray:
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(MiniRocket, "transform", broken)
    labelled = Dataset.from_arrays(np.random.default_rng(0).normal(size=(8, 1, 20)), ["a", "b"] * 4)
    with pytest.raises(ValueError, match="operands could not be broadcast"):
        minirocket_if_possible(labelled.with_splits({"train": np.arange(8)}))


def test_reports_learn_that_one_training_class_is_not_a_classification():
    pytest.importorskip("sklearn")
    one_class = Dataset.from_arrays(np.random.default_rng(0).normal(size=(6, 1, 20)), ["a"] * 4 + ["b"] * 2)
    result, why_not = minirocket_if_possible(one_class.with_splits({"train": np.arange(4), "test": np.arange(4, 6)}))
    assert result is None and "has 1 class in its training split: a classifier needs two" in (why_not or "")


def test_data_without_splits_is_split_as_a_fine_tune_splits_it():
    """Dataset.from_arrays(X, y) once raised a KeyError (no split 'train'): it is training data, and MiniRocket fits
    on the training split a fine-tune of it would train on and scores the validation split it would select on."""
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(3)
    y = np.arange(40) % 2
    X = rng.normal(size=(40, 1, 30)).astype(np.float32) + 3 * y[:, None, None]
    result = minirocket(Dataset.from_arrays(X, y))
    split = minirocket(training_splits(Dataset.from_arrays(X, y))[0])
    assert result.metrics == {} and result.val_metrics == split.val_metrics and result.val_metrics["accuracy"] == 1.0


def test_with_validation_train_it_fits_on_every_training_series_as_the_fine_tune_then_trains(shared_data: Path):
    """A fine-tune with ``validation="train"`` trains on the held-out fifth too; MiniRocket beside it must fit on the
    same series: the whole official training split, whatever validation split the data carried."""
    coffee = load("Coffee", root=shared_data)
    carved, _ = training_splits(coffee)
    every = minirocket(carved, validation="train")
    assert every.metrics == minirocket(coffee).metrics and every.val_metrics["accuracy"] == 1.0
    assert minirocket(carved).val_metrics != {}  # "split": the carved fifth is held out and scored


def test_it_takes_what_finetune_takes_as_data_and_refuses_arrays_saying_how(tmp_path: Path):
    """Regression: ``minirocket("Coffee")``, beside ``tshub.finetune(model, "Coffee")``, and ``minirocket(X)`` failed
    with an AttributeError ('str' object has no attribute 'splits'); a name or a data file is read as finetune reads
    it, and arrays are refused with how to make a Dataset."""
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(4)
    y = np.arange(30) % 2
    X = rng.normal(size=(30, 24)) + 3 * y[:, None]
    path = tmp_path / "mine.csv"
    path.write_text("".join(f"{label}," + ",".join(f"{v:.6f}" for v in row) + "\n" for label, row in zip(y, X)))
    from_file = minirocket(Dataset.from_file(str(path))).val_metrics
    assert minirocket(path).val_metrics == minirocket(str(path)).val_metrics == from_file != {}
    with pytest.raises(TypeError, match=r"expected a tshub Dataset, got ndarray.*Dataset.from_arrays\(X, y\)"):
        minirocket(X)


def test_long_or_many_channel_series_are_transformed_a_few_at_a_time_with_the_same_features(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression (review): transform convolved 64 series a pass whatever their size, its outputs × 84 kernels and
    PPV comparisons reaching GBs for EigenWorms-sized series (6 × 17,984). A pass now holds at most CHUNK_VALUES
    values, and the features do not depend on how the series are grouped."""
    import tshub.baselines as baselines

    X = np.random.default_rng(0).normal(size=(5, 6, 6000)).astype(np.float32)
    rocket = baselines.MiniRocket(seed=0).fit(X)
    passes: list[int] = []
    convolve = baselines.MiniRocket._convolve
    monkeypatch.setattr(
        baselines.MiniRocket,
        "_convolve",
        staticmethod(lambda chunk, *a: passes.append(len(chunk)) or convolve(chunk, *a)),
    )
    features = rocket.transform(X)
    assert set(passes) == {1}  # 6 × 6000 values a series: one a pass
    monkeypatch.setattr(baselines, "CHUNK_VALUES", 1 << 40)
    assert np.array_equal(rocket.transform(X), features)


def test_series_of_another_shape_than_fitted_are_refused() -> None:
    """Regression (review): series shorter than those fitted came out with NaN features (the fitted dilations leave
    no window unaffected by the padding), without an error."""
    X = np.random.default_rng(0).normal(size=(6, 1, 300)).astype(np.float32)
    rocket = MiniRocket(seed=0).fit(X)
    assert np.isfinite(rocket.transform(X)).all()
    for other in (X[:, :, :40], np.concatenate([X, X], axis=1)):
        with pytest.raises(ValueError, match=r"fitted on series of 1 channel\(s\) × 300 steps"):
            rocket.transform(other)
