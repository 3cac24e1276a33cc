"""Preprocessors: what they map a series to, on small generated data."""

from __future__ import annotations

import numpy as np
import pytest

from tshub.data.dataset import DatasetError
from tshub.data.preprocess import MinMaxMask, Preprocessor, ZNormalize


def test_a_constant_series_becomes_zeros_whatever_its_level() -> None:
    """In float32 a constant series' std is rounding noise (0.1 → 3e-8), which mapped it to ±1, not 0."""
    levels = np.array([0.0, 0.1, 0.3, 7.7, -1e6], dtype=np.float32)
    X = np.broadcast_to(levels[:, None, None], (5, 1, 100)).copy()
    assert np.array_equal(ZNormalize().transform(X)[0], np.zeros_like(X))


def test_a_varying_series_is_z_normalised_per_channel() -> None:
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(4, 2, 64)).astype(np.float32)
    X[1, 1] = 5.0  # one constant channel next to a varying one
    Z = ZNormalize().transform(X)[0]
    varying = np.ones((4, 2), bool)
    varying[1, 1] = False
    np.testing.assert_allclose(Z.mean(axis=2)[varying], 0, atol=1e-6)
    np.testing.assert_allclose(Z.std(axis=2)[varying], 1, atol=1e-5)
    assert not Z[1, 1].any()


@pytest.mark.parametrize("preprocessor", [ZNormalize(), MinMaxMask()], ids=["znorm", "minmax_mask"])
def test_series_too_large_to_normalise_in_float32_are_refused(preprocessor: Preprocessor) -> None:
    """A series within float32 whose square (z-norm) or range (min–max) is not: z-normalisation silently made it
    zeros, min–max made it NaN."""
    X = np.random.default_rng(0).normal(size=(4, 1, 32)).astype(np.float32)
    X[1, 0, :2] = 3e38, -3e38
    with pytest.raises(DatasetError, match=r"too large to normalise in float32 \(up to 3e\+38\).*rescale"):
        preprocessor.fit_transform(X)
    X[1] /= np.float32(1e30)  # rescaled, the same series normalises
    assert np.isfinite(preprocessor.fit_transform(X)[0]).all()


def test_series_of_tiny_values_z_normalise_as_their_scaled_copies() -> None:
    """Regression: values ~1e-30 (a seismogram in SI units after a gain) have a float32 variance of 0, not a
    constant series: z-normalisation divided by it, NaN went into training (a loss of NaN at epoch 1) and ranking."""
    X = np.random.default_rng(0).normal(size=(4, 2, 32)).astype(np.float32)
    tiny = X.copy()
    tiny[1:3] *= np.float32(1e-30)
    tiny[3, 1] = np.float32(4e-31)  # a constant channel stays zeros
    expected = ZNormalize().transform(X)[0]
    expected[3, 1] = 0
    got = ZNormalize().transform(tiny)[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_array_equal(got[0], expected[0])  # a series of ordinary values normalises as it always did


def test_no_series_transform_to_no_series() -> None:
    """Regression: min–max preprocessing (EMG/*, SP500/*) reshaped zero series with reshape(0, -1), which fails, so
    predicting an empty batch crashed where z-normalised models returned nothing."""
    X = np.random.default_rng(0).normal(size=(8, 3, 40)).astype(np.float32)
    minmax = MinMaxMask().fit(X)
    scaled, stream_max = minmax.transform(X[:0])
    assert scaled.shape == (0, 3, 40) and stream_max is not None and stream_max.shape == (0, 1)
    assert minmax.instance_frame(X[:0])[0].shape == (0,)
    assert ZNormalize().transform(X[:0])[0].shape == (0, 3, 40)


def test_missing_values_name_the_series_and_say_what_to_do_with_arrays() -> None:
    """The message named no series and spoke only of the readers' options, which arrays never pass through."""
    X = np.zeros((6, 2, 10), dtype=np.float32)
    X[3, 1, 4] = np.nan
    X[5, 0, 0] = np.inf
    with pytest.raises(
        DatasetError,
        match=r"2 of \d+ series contain NaN or infinite values \(the first: series 3, channel 1, step 4\).*interpolate",
    ):
        ZNormalize().transform(X)


def test_a_min_max_model_given_series_of_another_shape_says_what_it_takes_and_how_to_adapt_it() -> None:
    """Regression: predicting 2-channel series with a 3-channel EMG model said "refit it on data of the new shape",
    which a user predicting cannot do."""
    mask = MinMaxMask().fit(np.random.default_rng(0).normal(size=(8, 3, 80)).astype(np.float32))
    with pytest.raises(
        DatasetError,
        match=r"fitted on series of \(channels, length\) = \(3, 80\).*got \(2, 80\).*"
        r"fine-tune it on them \(tshub.finetune\)",
    ):
        mask.transform(np.zeros((4, 2, 80), dtype=np.float32))
