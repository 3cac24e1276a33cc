"""Preprocessing fitted on the train split and stored with the checkpoint, so predict on raw data reproduces it.

Every preprocessor maps raw float32 (n, c, t) series to ``(X, stream_max)`` where ``stream_max`` is a float32
(n, 1) array of raw per-series amplitudes (Otović et al.) or None. Its state is split into a JSON config and
named arrays, which the hub stores in config.json and model.safetensors.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from tshub.data.dataset import DatasetError


class Preprocessor:
    """Base class: ``fit`` on training series, ``transform`` any series, round-trip through config + arrays."""

    kind: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[Preprocessor]]] = {}

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

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def arrays(self) -> dict[str, np.ndarray]:
        """Fitted statistics to store as tensors (empty for stateless preprocessors)."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> Preprocessor:
        kind = config.get("kind")
        if kind not in cls.registry:
            raise DatasetError(f"unknown preprocessing kind {kind!r}; known: {sorted(cls.registry)}.")
        return cls.registry[kind]._restore(config, arrays or {})

    @classmethod
    def _restore(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Preprocessor:
        return cls()


class Identity(Preprocessor):
    """Leave the series as they are (data already normalised, e.g. the UCR 2015 archive)."""

    kind = "identity"

    def transform(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return _as_series(X), None


class ZNormalize(Preprocessor):
    """Per-series, per-channel z-normalisation, the UCR convention (a constant series becomes zeros)."""

    kind = "znorm"

    def transform(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        X = _as_series(X)
        mean = X.mean(axis=2, keepdims=True)
        std = X.std(axis=2, keepdims=True)
        std[std == 0] = 1.0
        return ((X - mean) / std).astype(np.float32), None


class MinMaxMask(Preprocessor):
    """The Otović et al. pipeline: raw ``stream_max``, per-instance min–max to [0, 1], minus the train mean ("mask").

    ``stream_max`` = max |x| over all channels of the raw instance; the mask is the element-wise mean of the scaled
    training instances, shape (c, t), subtracted from every split. Series of another length than the fitted mask
    cannot be transformed: refit on the new data (fine-tuning does).
    """

    kind = "minmax_mask"

    def __init__(self, mask: np.ndarray | None = None):
        self.mask = None if mask is None else np.asarray(mask, dtype=np.float32)

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
                f"MinMaxMask was fitted on series of shape (channels, length) = {self.mask.shape}, "
                f"got {X.shape[1:]}; refit it on data of the new shape."
            )
        stream_max = np.abs(X).reshape(len(X), -1).max(axis=1, keepdims=True).astype(np.float32)
        return (_minmax(X) - self.mask).astype(np.float32), stream_max

    def arrays(self) -> dict[str, np.ndarray]:
        return {} if self.mask is None else {"mask": self.mask}

    @classmethod
    def _restore(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> MinMaxMask:
        return cls(arrays.get("mask"))


def _minmax(X: np.ndarray) -> np.ndarray:
    flat = X.reshape(len(X), -1)
    lo = flat.min(axis=1)[:, None, None]
    span = flat.max(axis=1)[:, None, None] - lo
    safe = np.where(span == 0, 1.0, span)
    return np.where(span == 0, 0.0, (X - lo) / safe).astype(np.float32)


def _as_series(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 2:
        X = X[:, None, :]
    if X.ndim != 3:
        raise DatasetError(f"series must have shape (n, channels, length), got {X.shape}.")
    if not np.all(np.isfinite(X)):
        raise DatasetError(
            "series contain NaN or infinite values; handle variable lengths when reading "
            "(variable_length='truncate'|'pad'|'resample') or clean the data first."
        )
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
