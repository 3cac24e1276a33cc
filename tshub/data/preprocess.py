"""Preprocessing fitted on the train split and stored with the checkpoint, so predict on raw data reproduces it.

Every preprocessor maps raw float32 (n, c, t) series to ``(X, stream_max)`` where ``stream_max`` is a float32
(n, 1) array of raw per-series amplitudes (Otović et al.) or None. Its state is split into a JSON config and
named arrays, which the hub stores in config.json and model.safetensors.

A preprocessor that scales each series as one (``minmax_mask``; ``znorm`` on one channel) can also carry a
regression target into that series' normalised space (``relative_target=True``, RevIN-style): the network learns
the target on the scale of its input, and ``raw_targets`` maps its outputs back, so a price series whose test
period lies far above every training price needs no extrapolation of the level. The option is stored in the
config only when set, so a config without it restores the preprocessor it always did.

Any other regression's targets are standardised by the training split's mean and std per output (``fit_targets``,
stored as ``target_mean``/``target_std``), and ``raw_targets`` maps outputs back the same way: a network learns
targets near unit scale. A config without the fields (every older checkpoint, every classifier) has none.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from tshub.data.dataset import INCOMPLETE_SERIES_OPTIONS, DatasetError, refuse_incomplete_series, series_as_float32


class Preprocessor:
    """Base class: ``fit`` on training series, ``transform`` any series, round-trip through config + arrays."""

    kind: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[Preprocessor]]] = {}
    #: Whether it scales each series as one (``instance_frame``), so that it can carry ``relative_target``.
    scales_each_series: ClassVar[bool] = False
    relative_target: bool = False
    #: Regression targets standardised by the training split's mean and std per output (``fit_targets``), unless
    #: ``relative_target``: a network learns targets near unit scale, and a user's may be prices or distances.
    target_mean: list[float] | None = None
    target_std: list[float] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Preprocessor.registry[cls.kind] = cls

    def fit(self, X: np.ndarray) -> Preprocessor:
        return self

    def transform(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def fit_transform(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return self.fit(X).transform(X)

    @property
    def uses_stream_max(self) -> bool:
        return False

    def carries_relative_target(self, channels: int) -> bool:
        """Whether it can put a regression target in the frame of each series of ``channels`` channels
        (``instance_frame``): what ``relative_target`` needs."""
        return self.scales_each_series

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"kind": self.kind, **({"relative_target": True} if self.relative_target else {})}
        if self.target_mean is not None:
            config |= {"target_mean": self.target_mean, "target_std": self.target_std}
        return config

    def arrays(self) -> dict[str, np.ndarray]:
        """Fitted statistics to store as tensors (empty for stateless preprocessors)."""
        return {}

    def unfitted(self) -> Preprocessor:
        """A new preprocessor of the same kind and options, to fit on other data (a fine-tune's target)."""
        return Preprocessor.from_config({k: v for k, v in self.to_config().items() if k not in _TARGET_FIELDS})

    def with_relative_target(self, relative: bool = True) -> Preprocessor:
        """This preprocessor, unfitted, learning regression targets in each series' normalised space or not."""
        config = {k: v for k, v in self.unfitted().to_config().items() if k != "relative_target"}
        return Preprocessor.from_config({**config, **({"relative_target": True} if relative else {})})

    @property
    def transforms_targets(self) -> bool:
        """Whether the network learns other targets than the raw ones (relative or standardised)."""
        return self.relative_target or self.target_mean is not None

    def fit_targets(self, y: np.ndarray) -> Preprocessor:
        """Standardise regression targets by the mean and std of each output over ``y`` (the training split's);
        a constant output keeps a scale of 1. Not with ``relative_target``, whose targets follow each series."""
        if not self.relative_target:
            y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
            std = y.std(axis=0)
            self.target_mean, self.target_std = y.mean(axis=0).tolist(), np.where(std > 0, std, 1.0).tolist()
        return self

    @property
    def target_scale(self) -> tuple[list[float], list[float]] | None:
        """The (mean, std) per output that standardised the regression targets, or None (not standardised)."""
        return None if self.target_mean is None or self.target_std is None else (self.target_mean, self.target_std)

    def training_targets(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Targets ``y`` (n,) or (n, k) of the raw series ``X`` as the network learns them (float32)."""
        offset, scale = self.target_frame(X, np.ndim(y))
        return ((np.asarray(y, dtype=np.float64) - offset) / scale).astype(np.float32)

    def raw_targets(self, X: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The inverse of ``training_targets``: a network's outputs for ``X`` on the targets' raw scale (float64,
        as the targets are kept: a large offset would swallow float32's seven digits)."""
        offset, scale = self.target_frame(X, np.ndim(values))
        return np.asarray(values, dtype=np.float64) * scale + offset

    def target_frame(self, X: np.ndarray, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        """``(offset, scale)`` of the targets the network learns: each series' (relative) or the training
        split's per output (standardised), shaped to broadcast against targets of ``ndim`` dimensions."""
        if self.relative_target:
            return self._series_frame(_as_series(X), ndim)
        if self.target_scale is None:
            return np.zeros(()), np.ones(())
        return standardised_frame(self.target_scale, ndim)

    def _series_frame(self, X: np.ndarray, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-series ``(offset, scale)`` of the input normalisation (x − offset) / scale, shaped to broadcast
        against targets of ``ndim`` dimensions; a scale of 0 (constant series) counts as 1."""
        offset, scale = self.instance_frame(X)
        scale = np.where(scale == 0, 1.0, scale)
        shape = (len(X),) + (1,) * (ndim - 1)
        return offset.reshape(shape), scale.reshape(shape)

    def instance_frame(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-series (n,) offset and scale, float64, of a preprocessor that scales each series as one (only
        those accept ``relative_target``)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> Preprocessor:
        kind = config.get("kind")
        if kind not in cls.registry:
            raise DatasetError(f"unknown preprocessing kind {kind!r}; known: {sorted(cls.registry)}.")
        restored = cls.registry[kind]._restore(config, arrays or {})
        restored.target_mean, restored.target_std = _target_scale(config)
        if _relative_option(config) and not restored.relative_target:
            raise DatasetError(
                f"preprocessing {kind!r} does not scale each series as one, so a target cannot follow the "
                "series' scale: use relative_target with preprocessing 'minmax_mask' (or 'znorm' on one channel)."
            )
        return restored

    @classmethod
    def _restore(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Preprocessor:
        return cls()


_TARGET_FIELDS = ("target_mean", "target_std")


def standardised_frame(
    target_scale: tuple[Sequence[float], Sequence[float]], ndim: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(offset, scale)`` of targets standardised by ``target_scale`` (mean, std per output), shaped to broadcast
    against targets of ``ndim`` dimensions ((n,) for one output)."""
    mean, std = (np.asarray(v, dtype=np.float64) for v in target_scale)
    return (mean[0], std[0]) if ndim == 1 else (mean, std)


def _target_scale(config: dict[str, Any]) -> tuple[list[float] | None, list[float] | None]:
    """The standardisation of a stored config's regression targets (absent: None, None), checked."""
    mean, std = (config.get(k) for k in _TARGET_FIELDS)
    if mean is None and std is None:
        return None, None
    if not (
        isinstance(mean, list)
        and isinstance(std, list)
        and 0 < len(mean) == len(std)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in mean + std)
        and all(v > 0 for v in std)
        and not _relative_option(config)
    ):
        raise DatasetError(
            "preprocessing config fields target_mean and target_std must be lists of finite numbers of one "
            "length (stds > 0), and not given with relative_target."
        )
    return [float(v) for v in mean], [float(v) for v in std]


def _relative_option(config: dict[str, Any]) -> bool:
    """The ``relative_target`` field of a stored config (absent: False), refused unless true or false."""
    value = config.get("relative_target", False)
    if not isinstance(value, bool):
        raise DatasetError(f"preprocessing config field relative_target must be true or false, got {value!r}.")
    return value


class Identity(Preprocessor):
    """Leave the series as they are (data already normalised, e.g. the UCR 2015 archive)."""

    kind = "identity"

    def transform(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return _as_series(X), None


#: The smallest std whose float32 variance is a normal number: series whose values vary less are normalised in
#: float64 (seismograms in m/s, ~1e-30 · spans, gave a variance of 0 and NaN).
_FLOAT32_VARIANCE_UNDERFLOW = float(np.sqrt(np.finfo(np.float32).tiny))


class ZNormalize(Preprocessor):
    """Per-series, per-channel z-normalisation, the UCR convention (a constant series becomes zeros)."""

    kind = "znorm"
    scales_each_series = True

    def __init__(self, *, relative_target: bool = False):
        self.relative_target = relative_target

    def fit(self, X: np.ndarray) -> ZNormalize:
        """Stateless; warns when the training series are too short to keep a shape (1 step becomes 0, 2 steps ±1),
        since training would then learn nothing, without an error."""
        length = np.shape(X)[-1]
        if length < 3:
            warnings.warn(
                f"the series have {length} time step(s); per-series z-normalisation maps every one of them to "
                f"{'[0]' if length == 1 else '[-1, 1], [1, -1] or [0, 0]'}, erasing their values, so the model "
                "learns little or nothing from them: pass preprocessing='identity' (and scale the data yourself if "
                "it needs it).",
                stacklevel=2,
            )
        return self

    def transform(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        X = _as_series(X)
        with np.errstate(over="ignore"):  # an overflow is refused just below, with what to do
            mean = X.mean(axis=2, keepdims=True)
            std = X.std(axis=2, keepdims=True)
        _refuse_overflow(X, mean, std)
        # A constant series is tested as max == min: its float32 std is rounding noise, not 0, and would map it to ±1.
        constant = X.max(axis=2, keepdims=True) == X.min(axis=2, keepdims=True)
        std[constant] = 1.0
        tiny = std < _FLOAT32_VARIANCE_UNDERFLOW  # its float32 variance underflowed (to 0 for values ~1e-30: NaN)
        z = np.where(constant, np.float32(0), (X - mean) / np.where(tiny, np.float32(1), std))
        if tiny.any():  # those series alone in float64, so that every other one normalises as it always did
            wide = X.astype(np.float64)
            deviation = wide.std(axis=2, keepdims=True)
            z = np.where(tiny, (wide - wide.mean(axis=2, keepdims=True)) / np.where(tiny, deviation, 1.0), z)
        return z.astype(np.float32), None

    def carries_relative_target(self, channels: int) -> bool:
        return channels == 1  # each channel has its own scale, and a target has no channel

    def instance_frame(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The series' mean and std: its target in its own z-space. Only for one channel, since each channel
        has its own scale and a target has no channel."""
        if not self.carries_relative_target(X.shape[1]):
            raise DatasetError(
                f"relative_target with 'znorm' needs series of one channel (each channel has its own scale), got "
                f"{X.shape[1]}; use preprocessing 'minmax_mask', which scales all channels of a series as one (only "
                "when the channels share the target's units: one price channel beside volumes would be flattened)."
            )
        flat = X[:, 0, :].astype(np.float64)
        return flat.mean(axis=1), flat.std(axis=1)

    @classmethod
    def _restore(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> ZNormalize:
        return cls(relative_target=_relative_option(config))


class MinMaxMask(Preprocessor):
    """The Otović et al. pipeline: raw ``stream_max``, per-instance min–max to [0, 1], minus the train mean ("mask").

    ``stream_max`` = max |x| over all channels of the raw instance; the mask is the element-wise mean of the scaled
    training instances, shape (c, t), subtracted from every split. Series of another length than the fitted mask
    cannot be transformed: refit on the new data (fine-tuning does).

    With ``relative_target`` a target y becomes (y − min) / (max − min) of its series (y − min for a constant
    series): the min–max step the inputs take, without the mask, which is a mean per time step and the target
    has none (the output layer's bias absorbs any constant offset). Persistence is then "the last scaled value".
    """

    kind = "minmax_mask"
    scales_each_series = True

    def __init__(self, mask: np.ndarray | None = None, *, relative_target: bool = False):
        self.mask = None if mask is None else np.asarray(mask, dtype=np.float32)
        self.relative_target = relative_target

    @property
    def uses_stream_max(self) -> bool:
        return True

    def fit(self, X: np.ndarray) -> MinMaxMask:
        self.mask = _minmax(_as_series(X)).mean(axis=0).astype(np.float32)
        return self

    def transform(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        X = _as_series(X)
        if self.mask is None:
            raise DatasetError("MinMaxMask is not fitted: call fit(X_train) first.")
        if X.shape[1:] != self.mask.shape:
            raise DatasetError(
                f"this min–max + mask preprocessing (Otović et al.'s) was fitted on series of (channels, length) = "
                f"{tuple(self.mask.shape)}, and its mask is per channel and time step, got {tuple(X.shape[1:])}: a "
                "model with it takes only series of that shape (resample or pad yours to it); for series of "
                "another shape, fine-tune it on them (tshub.finetune), which fits a new mask."
            )
        stream_max = np.abs(_per_series(X)).max(axis=1, keepdims=True).astype(np.float32)
        return (_minmax(X) - self.mask).astype(np.float32), stream_max

    def arrays(self) -> dict[str, np.ndarray]:
        return {} if self.mask is None else {"mask": self.mask}

    def instance_frame(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = _per_series(X).astype(np.float64)
        low = flat.min(axis=1)
        return low, flat.max(axis=1) - low

    @classmethod
    def _restore(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> MinMaxMask:
        return cls(arrays.get("mask"), relative_target=_relative_option(config))


def _per_series(X: np.ndarray) -> np.ndarray:
    """(n, channels · length): every value of a series in one row, for no series too (``reshape(n, -1)`` cannot
    tell the row's size from zero rows, and failed on them)."""
    return X.reshape(len(X), int(np.prod(X.shape[1:])))


def _minmax(X: np.ndarray) -> np.ndarray:
    flat = _per_series(X)
    lo = flat.min(axis=1)[:, None, None]
    with np.errstate(over="ignore"):  # an overflow is refused just below, with what to do
        span = flat.max(axis=1)[:, None, None] - lo
    _refuse_overflow(X, span)
    safe = np.where(span == 0, 1.0, span)
    return np.where(span == 0, 0.0, (X - lo) / safe).astype(np.float32)


def _refuse_overflow(X: np.ndarray, *stats: np.ndarray) -> None:
    """Per-series statistics overflow float32 for values past ~1e19 (a square) or ~1.7e38 (a range), and would
    normalise the series to zeros or NaN without a word."""
    if not all(np.isfinite(stat).all() for stat in stats):
        raise DatasetError(
            f"series values are too large to normalise in float32 (up to {np.abs(X).max():g}); rescale the data "
            "(e.g. divide by a power of ten) before training."
        )


def level_correlation(X: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation of regression targets with the last value of their one-channel series (finite, as every
    preprocessor takes them), the lowest over the outputs of a multi-output target (a forecast of the next h values
    follows the level at every step): near 1 when the target is in the series' units and follows its level (a
    forecast), near 0 for a quantity read off the series' shape (a magnitude from a seismogram). None where it is
    undefined: several channels, fewer than three series, a constant last value or output."""
    X = _as_series(X)
    y = np.asarray(y, dtype=np.float64)
    outputs = y[:, None] if y.ndim == 1 else y
    if X.shape[1] != 1 or outputs.ndim != 2 or len(outputs) != len(X):
        return None
    last = X[:, 0, -1].astype(np.float64)
    if len(outputs) < 3 or np.ptp(last) == 0 or (np.ptp(outputs, axis=0) == 0).any():
        return None
    return float(min(np.corrcoef(last, output)[0, 1] for output in outputs.T))


def _as_series(X: np.ndarray) -> np.ndarray:
    X = series_as_float32(X)
    if X.ndim == 2:
        X = X[:, None, :]
    if X.ndim != 3:
        raise DatasetError(f"series must have shape (n, channels, length), got {X.shape}.")
    refuse_incomplete_series(X, INCOMPLETE_SERIES_OPTIONS)
    return X


def make_preprocessor(kind: str | Preprocessor | None) -> Preprocessor:
    """A preprocessor from its kind name ("znorm", "minmax_mask", "identity"), an instance, or None (identity)."""
    if isinstance(kind, Preprocessor):
        return kind
    if kind is None:
        return Identity()
    if kind not in Preprocessor.registry:
        raise DatasetError(f"unknown preprocessing {kind!r}; choose one of {sorted(Preprocessor.registry)}.")
    return Preprocessor.registry[kind]()
