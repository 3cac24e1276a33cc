"""The relative-target option (``relative_target``): regression targets learned in each series' normalised space and
mapped back by ``predict``; stored with the preprocessing, absent from every older checkpoint; chosen (None) where
the targets follow their series' level, so fine-tuning keeps a source's only for such targets. And the stream_max
input a fine-tune can drop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from tshub.data import Dataset
from tshub.data.dataset import DatasetError
from tshub.data.preprocess import Identity, MinMaxMask, Preprocessor, ZNormalize, level_correlation
from tshub.hub.checkpoint import CONFIG_NAME, load_checkpoint
from tshub.hub.store import unusable_reason
from tshub.models.base import TimeSeriesModel
from tshub.training import FitResult, finetune, train_from_scratch, train_referent
from tshub.training.finetuning import preprocessing_of
from tshub.training.loop import predict_outputs

SMALL = {"filters": (4, 8, 4), "kernel_sizes": (3, 3, 3)}


class LastScaledValue(TimeSeriesModel):
    """Outputs the last value of its series in the min–max space, undoing the mask: persistence, relatively."""

    arch = "last_scaled_value"

    def __init__(self, mask_last: float):
        super().__init__(1, 1)
        self.feature_dim = 1
        self.mask_last = nn.Parameter(torch.tensor(mask_last))

    def backbone_features(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, -1:] + self.mask_last


def prices(n: int, level: float, seed: int, length: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Random-walk windows around ``level`` and their next value: a price level the other splits may never see."""
    rng = np.random.default_rng(seed)
    walk = level * np.exp(np.cumsum(rng.normal(0, 0.01, (n, length + 1)), axis=1))
    return walk[:, None, :length].astype(np.float32), walk[:, length].astype(np.float32)


def price_dataset(name: str = "prices", level: float = 100.0) -> Dataset:
    """Train at ``level``, validation 3× and test 10× higher (as SP500's test prices lie above its training ones)."""
    parts = [prices(64, level, 0), prices(16, 3 * level, 1), prices(16, 10 * level, 2)]
    X, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    splits = {"train": np.arange(64), "val": np.arange(64, 80), "test": np.arange(80, 96)}
    return Dataset.from_arrays(X, y, name=name, task="regression", splits=splits)


def train_relative(**options: Any) -> FitResult:
    """A small FCN trained on relative targets of ``price_dataset``, without stream_max (whose raw price would put
    the network's outputs on the price scale)."""
    return train_from_scratch(
        "fcn",
        price_dataset(),
        preprocessing="minmax_mask",
        use_stream_max=False,
        relative_target=True,
        arch_kwargs=SMALL,
        progress=False,
        **options,
    )


@pytest.fixture(scope="module")
def relative_model() -> TimeSeriesModel:
    return train_relative(max_epochs=1).model


def test_validation_curves_of_a_relative_target_are_on_the_raw_scale_of_the_final_metrics() -> None:
    """Regression: the validation curves (and so every progress line: "val_mae 0.13") stayed in each window's
    normalised space while the final validation metrics were raw ("MAE 1.66"); both are now on the raw scale."""
    # float32: under bf16 autocast the curve's validation passes differ from the float32 final metrics (3rd digit)
    result = train_relative(max_epochs=3, bf16=False)
    kept = result.history[result.best_epoch - 1]
    assert kept["val_mae"] == pytest.approx(result.val_metrics["mae"], rel=1e-4)
    assert kept["val_mse"] == pytest.approx(result.val_metrics["mse"], rel=1e-4)
    assert "validation metrics on the targets' raw scale" in result.model.training_history.note


def test_a_network_outputting_the_last_scaled_value_forecasts_persistence_on_raw_windows() -> None:
    X, _ = prices(40, 2000.0, 3)
    X[0] = 1234.5  # a constant window: no division by zero, the forecast is its value
    preprocessor = MinMaxMask(relative_target=True).fit(prices(40, 50.0, 4)[0])
    model = LastScaledValue(float(preprocessor.mask[0, -1])).eval()
    model.task, model.preprocessor = "regression", preprocessor
    with np.errstate(all="raise"):
        forecast = model.predict(X)
    np.testing.assert_allclose(forecast, X[:, 0, -1], rtol=1e-6)
    assert forecast[0] == 1234.5


def test_relative_targets_are_the_series_min_max_space_and_map_back_exactly() -> None:
    X = np.array([[[2.0, 4.0, 3.0]], [[5.0, 5.0, 5.0]]], dtype=np.float32)
    preprocessor = MinMaxMask(relative_target=True).fit(X)
    with np.errstate(all="raise"):  # the constant series is scaled by 1: its target relative to its value
        relative = preprocessor.training_targets(X, np.array([5.0, 7.0]))
    np.testing.assert_array_equal(relative, [1.5, 2.0])
    np.testing.assert_array_equal(preprocessor.raw_targets(X, relative), [5.0, 7.0])
    np.testing.assert_array_equal(preprocessor.raw_targets(X, relative[:, None]), [[5.0], [7.0]])  # (n, outputs)
    z = ZNormalize(relative_target=True)
    np.testing.assert_allclose(z.training_targets(X[:1], np.array([5.0])), [(5.0 - 3.0) / np.std([2.0, 4.0, 3.0])])


def test_a_relative_target_model_trains_on_the_relative_scale_and_reports_and_predicts_the_raw_one(
    relative_model: TimeSeriesModel, tmp_path: Path
) -> None:
    ds = price_dataset()
    X_test, y_test = ds.split("test")
    predicted = relative_model.predict(X_test)
    assert relative_model.meta["metrics"]["mae"] == pytest.approx(np.mean(np.abs(predicted - y_test)), rel=1e-6)
    assert relative_model.meta["val_metrics"]["mae"] == pytest.approx(
        np.mean(np.abs(relative_model.predict(ds.split("val")[0]) - ds.split("val")[1])), rel=1e-6
    )
    X, _ = relative_model.preprocessor.transform(X_test)
    network = predict_outputs(relative_model, X)[:, 0].numpy()
    assert np.abs(network).max() < 50  # the network's own outputs are on the windows' scale, not the prices' (~1000)
    assert relative_model.training_history.curve("loss")[0] < 100  # trained on targets ~1, not on prices ~100
    assert "relative targets" in relative_model.training_history.note

    folder = relative_model.save_pretrained(tmp_path / "rel")
    config = json.loads((folder / CONFIG_NAME).read_text())
    assert config["preprocessing"] == {"kind": "minmax_mask", "relative_target": True}
    assert "Relative target" in (folder / "README.md").read_text()
    loaded = load_checkpoint(folder)
    assert loaded.preprocessor.relative_target
    np.testing.assert_array_equal(loaded.predict(X_test), predicted)


def test_a_checkpoint_without_the_field_predicts_bit_identically_to_the_plain_path(tmp_path: Path) -> None:
    """A checkpoint written before the option (its preprocessing config has no ``relative_target``) loads as it
    always did. (This test read the repository zoo's SP500/fcn, until the build rebuilt it with the option.)"""
    plain = train_from_scratch(
        "fcn",
        price_dataset(),
        preprocessing="minmax_mask",
        relative_target=False,
        max_epochs=1,
        arch_kwargs=SMALL,
        progress=False,
    ).model
    folder = plain.save_pretrained(tmp_path / "old")
    config = json.loads((folder / CONFIG_NAME).read_text())
    assert "relative_target" not in config["preprocessing"]
    for field in ("target_mean", "target_std"):  # standardised targets came later too (tests/test_target_scale.py)
        del config["preprocessing"][field]
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    model = load_checkpoint(folder)
    assert not model.preprocessor.relative_target and model.use_stream_max
    X, _ = prices(20, 2500.0, 5)
    scaled, stream_max = model.preprocessor.transform(X)
    assert np.array_equal(model.predict(X), predict_outputs(model, scaled, stream_max)[:, 0].numpy())
    assert MinMaxMask().to_config() == {"kind": "minmax_mask"} and ZNormalize().to_config() == {"kind": "znorm"}


def test_fine_tuning_and_its_referent_keep_the_mapping_for_a_regression_and_drop_it_for_classes(
    relative_model: TimeSeriesModel, tmp_path: Path
) -> None:
    source = load_checkpoint(relative_model.save_pretrained(tmp_path / "source"))
    target = price_dataset("other prices", level=7.0)
    tuned = finetune(source, target, max_epochs=1, recipe="otovic", progress=False).model
    assert tuned.preprocessor.relative_target and tuned.preprocessor.mask is not source.preprocessor.mask
    X_test, y_test = target.split("test")
    assert tuned.meta["metrics"]["mae"] == pytest.approx(np.mean(np.abs(tuned.predict(X_test) - y_test)), rel=1e-6)
    loaded = load_checkpoint(tuned.save_pretrained(tmp_path / "tuned"))
    np.testing.assert_array_equal(loaded.predict(X_test), tuned.predict(X_test))
    referent = train_referent(source, target, max_epochs=1, recipe="otovic", progress=False).model
    assert referent.preprocessor.relative_target  # the from-scratch referent learns the same target

    X, y = prices(96, 100.0, 6)
    classes = Dataset.from_arrays(X, (y > X[:, 0, -1]).astype(int), name="up or down", task="classification")
    tuned = finetune(source, classes, max_epochs=1, recipe="otovic", progress=False).model
    assert tuned.task == "classification" and not tuned.preprocessor.relative_target


def test_classification_or_a_preprocessing_without_a_series_scale_is_refused_clearly() -> None:
    X, y = prices(96, 100.0, 7)
    classes = Dataset.from_arrays(X, (y > X[:, 0, -1]).astype(int), name="up or down", task="classification")
    with pytest.raises(ValueError, match="relative_target maps regression targets.*classification dataset"):
        train_from_scratch("fcn", classes, preprocessing="minmax_mask", relative_target=True, progress=False)
    with pytest.raises(DatasetError, match="'identity' does not scale each series as one"):
        Identity().with_relative_target()
    with pytest.raises(DatasetError, match="relative_target must be true or false"):
        Preprocessor.from_config({"kind": "minmax_mask", "relative_target": "yes"})
    three = np.repeat(X[:4], 3, axis=1)
    with pytest.raises(DatasetError, match="needs series of one channel"):
        ZNormalize(relative_target=True).training_targets(three, y[:4])


def magnitudes(n: int = 96, seed: int = 8, scale: float = 1.0) -> Dataset:
    """Noise bursts in counts and a magnitude read off their amplitude (as SEISMIC-CX's): a target in other units
    than its series, unrelated to their last values."""
    rng = np.random.default_rng(seed)
    magnitude = rng.uniform(1.0, 3.0, n)
    X = (rng.normal(0, 1, (n, 1, 40)) * 10 ** magnitude[:, None, None] * scale).astype(np.float32)
    splits = {"train": np.arange(64), "val": np.arange(64, 80), "test": np.arange(80, n)}
    return Dataset.from_arrays(X, magnitude.astype(np.float32), name="bursts", task="regression", splits=splits)


def test_level_correlation_tells_a_forecast_from_a_quantity_read_off_the_series() -> None:
    X, y = prices(64, 100.0, 9)
    assert level_correlation(X, y) > 0.95
    bursts = magnitudes()
    assert abs(level_correlation(*bursts.split("train"))) < 0.5
    assert level_correlation(np.repeat(X, 2, axis=1), y) is None  # several channels: no one level
    assert level_correlation(X[:2], y[:2]) is None


def test_fine_tuning_keeps_a_sources_relative_target_only_for_targets_that_follow_their_series_level(
    relative_model: TimeSeriesModel, tmp_path: Path
) -> None:
    """Regression: SP500/fcn's relative target was kept for any regression target, so magnitudes were learned in
    each seismogram's frame (test MAE 12,715 on SEISMIC-CX where the training mean scores 0.51)."""
    source = load_checkpoint(relative_model.save_pretrained(tmp_path / "source"))
    bursts = magnitudes()
    with pytest.warns(UserWarning, match="do not follow their series' level.*relative_target=True"):
        tuned = finetune(source, bursts, max_epochs=1, recipe="otovic", progress=False).model
    assert not tuned.preprocessor.relative_target and tuned.preprocessor.target_scale is not None
    with pytest.warns(UserWarning, match="do not follow"):
        referent = train_referent(source, bursts, max_epochs=1, recipe="otovic", progress=False).model
    assert not referent.preprocessor.relative_target
    kept = finetune(source, bursts, relative_target=True, max_epochs=1, recipe="otovic", progress=False).model
    assert kept.preprocessor.relative_target


def test_the_warning_on_a_dropped_relative_target_names_why_the_correlation_is_undefined(
    relative_model: TimeSeriesModel,
) -> None:
    """Regression: two training series (the correlation needs three) were said to lack "one channel and one
    output", which they had."""
    X, y = prices(3, 100.0, 5)
    few = Dataset.from_arrays(X, y, name="few", task="regression", splits={"train": [0, 1], "val": [2]})
    with pytest.warns(UserWarning, match="not defined here: it needs one channel and three training"):
        assert not preprocessing_of(relative_model, few).relative_target


def test_training_from_scratch_learns_a_relative_target_where_the_targets_follow_the_level_unless_told() -> None:
    options: dict[str, Any] = {"max_epochs": 1, "arch_kwargs": SMALL, "progress": False}
    assert train_from_scratch("fcn", price_dataset(), **options).model.preprocessor.relative_target  # znorm, 1 channel
    assert not train_from_scratch(
        "fcn", price_dataset(), relative_target=False, **options
    ).model.preprocessor.relative_target
    assert not train_from_scratch("fcn", magnitudes(), **options).model.preprocessor.relative_target
    given = MinMaxMask(relative_target=True)  # a preprocessing that chose keeps its choice
    assert train_from_scratch("fcn", magnitudes(), preprocessing=given, **options).model.preprocessor.relative_target


def test_targets_given_as_a_column_train_as_one_output() -> None:
    """Regression: targets of shape (n, 1), as scikit-learn users hold them, crashed the first validation pass: each
    series' relative frame (n, 1) met the (n,) predictions as an (n, n) outer sum ("targets (16, 1) and predictions
    (16, 16) do not match")."""
    ds = price_dataset()
    column = Dataset.from_arrays(ds.X, ds.y[:, None], name="prices", task="regression", splits=ds.splits)
    assert column.y.shape == (96,) and column.n_outputs == 1
    result = train_from_scratch("fcn", column, max_epochs=1, arch_kwargs=SMALL, progress=False)
    assert result.model.preprocessor.relative_target and np.isfinite(result.metrics["mae"])


def test_a_regression_records_the_naive_forecasts_it_must_beat_and_is_flagged_when_no_better_than_the_mean(
    tmp_path: Path,
) -> None:
    """Regression: a regression's result, card and listing gave its error beside no naive forecast (a forecaster
    worse than repeating the last value read like any other), and one no better than predicting the training mean
    went unflagged where a classifier at chance is flagged (``learned_nothing``, ``unusable_reason``)."""
    options: dict[str, Any] = {"max_epochs": 1, "arch_kwargs": SMALL, "progress": False}
    ds = price_dataset()
    result = train_from_scratch("fcn", ds, **options)
    naive = result.model.meta["naive"]
    (X_test, y_test), y_train = ds.split("test"), ds.split("train")[1]
    assert naive["training_mean"]["metrics"]["mae"] == pytest.approx(np.mean(np.abs(y_test - y_train.mean())))
    assert naive["persistence"]["metrics"]["mae"] == pytest.approx(np.mean(np.abs(y_test - X_test[:, 0, -1])))
    assert set(naive["persistence"]["val_metrics"]) == {"mae", "mse"}
    assert result.learned_nothing is None  # test prices 10x the training ones: far better than their mean
    assert "persistence" not in train_from_scratch("fcn", magnitudes(), **options).model.meta["naive"]

    folder = result.model.save_pretrained(tmp_path / "prices")
    card = (folder / "README.md").read_text()
    assert (
        "### Naive forecasts on the same test split" in card and "| This model | Training mean | Persistence |" in card
    )
    config = json.loads((folder / CONFIG_NAME).read_text())
    assert unusable_reason(config) is None
    mean_mse = naive["training_mean"]["metrics"]["mse"]
    result.metrics = config["metrics"] = {"mae": 1.0, "mse": mean_mse}
    said = f"its test MSE {mean_mse:.4g} is no lower than predicting the training mean for every series"
    assert result.learned_nothing is not None and result.learned_nothing.startswith(said)
    assert unusable_reason(config) is not None and unusable_reason(config).startswith(said)


def test_a_forecast_of_the_next_values_learns_them_relative_and_must_beat_persistence_at_each() -> None:
    """Regression: targets of several outputs (the next 3 prices) had no level correlation ("one output" needed), so
    a forecast of several steps neither learned them in each series' frame, extrapolating to test prices 10x the
    training ones, nor recorded persistence, the forecast it must beat."""
    ahead = 3
    parts = []
    for n, level, seed in ((64, 100.0, 0), (16, 300.0, 1), (16, 1000.0, 2)):
        walk = level * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, (n, 30 + ahead)), axis=1))
        parts.append((walk[:, None, :30], walk[:, 30:]))
    X, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    splits = {"train": np.arange(64), "val": np.arange(64, 80), "test": np.arange(80, 96)}
    ds = Dataset.from_arrays(X, y, name="next three", task="regression", splits=splits)
    assert level_correlation(*ds.split("train")) > 0.95
    read_off = np.column_stack([y[:, 0], magnitudes().y])  # one output follows the level, the other does not
    assert abs(level_correlation(X, read_off)) < 0.5

    result = train_from_scratch("fcn", ds, max_epochs=1, arch_kwargs=SMALL, progress=False)
    assert result.model.preprocessor.relative_target
    (X_test, y_test) = ds.split("test")
    persistence = result.model.meta["naive"]["persistence"]["metrics"]
    assert persistence["mae"] == pytest.approx(np.mean(np.abs(y_test - X_test[:, 0, -1:])))
    assert result.metrics["mae"] < result.model.meta["naive"]["training_mean"]["metrics"]["mae"]


def test_a_fine_tune_can_drop_the_stream_max_input_and_large_values_of_it_are_named() -> None:
    options: dict[str, Any] = {"max_epochs": 1, "recipe": "otovic", "progress": False}
    source = train_from_scratch("fcn", magnitudes(), preprocessing="minmax_mask", arch_kwargs=SMALL, **options).model
    assert source.use_stream_max
    with pytest.warns(UserWarning, match=r"median is [\d,]+.*use_stream_max=False"):
        finetune(source, magnitudes(scale=100.0), **options)
    result = finetune(source, magnitudes(scale=100.0), use_stream_max=False, **options)
    assert not result.model.use_stream_max
    assert any("head" in row["name"] for row in result.transfer_report.reinitialised)
    X_test, y_test = magnitudes(scale=100.0).split("test")
    assert result.model.meta["metrics"]["mae"] == pytest.approx(
        np.mean(np.abs(result.model.predict(X_test) - y_test)), rel=1e-5
    )
    referent = train_referent(source, magnitudes(scale=100.0), use_stream_max=False, **options).model
    assert not referent.use_stream_max


def test_a_relative_target_drops_the_raw_stream_max_unless_asked(tmp_path: Path) -> None:
    """A relative target makes the model blind to the series' level; the raw stream_max would give it back (EMG/fcn
    fine-tuned on S&P 500 windows: test MAE 2,435 with it, 14.4 without; bench/results/target_frame.md)."""
    options: dict[str, Any] = {"max_epochs": 1, "recipe": "otovic", "progress": False}
    source = train_from_scratch("fcn", magnitudes(), preprocessing="minmax_mask", arch_kwargs=SMALL, **options).model
    assert source.use_stream_max and not source.preprocessor.relative_target
    tuned = finetune(source, price_dataset(), **options).model
    assert tuned.preprocessor.relative_target and not tuned.use_stream_max
    kept = finetune(source, price_dataset(), use_stream_max=True, **options).model
    assert kept.preprocessor.relative_target and kept.use_stream_max
    assert not train_referent(source, price_dataset(), **options).model.use_stream_max
    assert not train_from_scratch(
        "fcn", price_dataset(), preprocessing="minmax_mask", arch_kwargs=SMALL, **options
    ).model.use_stream_max


def test_which_preprocessing_carries_a_relative_target_for_how_many_channels() -> None:
    """One predicate, asked by the library's transform and by the service before it queues a job (the service
    probed ``instance_frame`` on zeros and caught its error)."""
    from tshub.data.preprocess import make_preprocessor

    assert make_preprocessor("znorm").carries_relative_target(1)
    assert not make_preprocessor("znorm").carries_relative_target(3)  # each channel its own scale
    assert make_preprocessor("minmax_mask").carries_relative_target(3)  # the channels scaled as one
    assert not make_preprocessor("identity").carries_relative_target(1)
