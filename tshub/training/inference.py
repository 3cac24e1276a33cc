"""Predictions of a trained model on raw series: its fitted preprocessor first, then batched forward passes.

``TimeSeriesModel.predict`` and ``predict_proba`` delegate here, so the models hold no inference logic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tshub.data.dataset import Dataset, label_array, label_text, refuse_incomplete_series
from tshub.data.preprocess import make_preprocessor
from tshub.data.readers.lengths import nan_padded
from tshub.models.base import ModelInputError, MultiHead, TimeSeriesModel
from tshub.training.loop import decode_outputs, predict_outputs
from tshub.training.multihead import HeadView


def predict(
    model: TimeSeriesModel, X_raw: Any, batch_size: int = 256, *, codes: bool = False, head: str | None = None
) -> np.ndarray:
    """Class labels (``model.class_values`` when the labels were numbers, else ``model.classes``, or ``head``'s;
    indices with ``codes=True``) or values ((n,) for one output)."""
    classes = model.classes if head is None else (model.meta.get("head_classes") or {}).get(head)
    task = model.task or ("classification" if classes else "regression")
    predicted = decode_outputs(task, raw_outputs(model, X_raw, batch_size, head=head))
    if codes or task != "classification" or not classes:
        return predicted
    return label_array(_label_values(model, classes, head))[predicted]


def _label_values(model: TimeSeriesModel, classes: list[str], head: str | None) -> list[Any]:
    """The values a classifier predicts: its labels' own values where they were numbers (``class_values``, or a
    head's ``meta["head_class_values"]``, used only where they name that head's classes), else the class names."""
    if head is None:
        return list(model.class_values) if model.class_values is not None else classes
    values = (model.meta.get("head_class_values") or {}).get(head)
    if isinstance(values, list) and [label_text(v) for v in values] == classes:
        return values
    return classes


def predict_proba(model: TimeSeriesModel, X_raw: Any, batch_size: int = 256, *, head: str | None = None) -> np.ndarray:
    """Class probabilities (n, n_classes), columns in the order of ``model.classes``."""
    if model.task == "regression":
        raise ValueError("predict_proba is for classification models; this one does regression: use predict.")
    return torch.softmax(raw_outputs(model, X_raw, batch_size, head=head), dim=1).numpy()


def raw_outputs(model: TimeSeriesModel, X_raw: Any, batch_size: int = 256, *, head: str | None = None) -> torch.Tensor:
    """Logits or values for raw series (n, c, t), after the model's own preprocessing; a regression's values
    mapped back to its targets' raw scale (relative or standardised targets, see ``tshub.data.preprocess``).
    A list of series may hold series of unequal lengths (each (t,) or (c, t)), for a model that takes them."""
    if isinstance(X_raw, Dataset):
        raise TypeError(
            "predict takes series (n, channels, length), not a Dataset, whose splits it cannot choose between: "
            "pass its series, e.g. ds.split('test')[0] or ds.X."
        )
    if isinstance(X_raw, (list, tuple)) and len(X_raw) > 0:
        return _outputs_by_length(model, X_raw, batch_size, head)
    return _outputs(model, np.asarray(X_raw), batch_size, head)


def _outputs_by_length(
    model: TimeSeriesModel, series: list[Any] | tuple[Any, ...], batch_size: int, head: str | None
) -> torch.Tensor:
    """Outputs of a sequence of series, one group of equal lengths at a time, in the sequence's order: a model
    that takes any length predicts each series at its own length, with no padding to distort it. Incomplete
    series are refused before grouping, so that the message counts them in the sequence."""
    padded = nan_padded(series)  # refuses series of other channel counts, or of ragged channels, saying which
    lengths = np.array([np.shape(s)[-1] for s in series])
    _refuse_incomplete_series(np.where(np.arange(padded.shape[2]) < lengths[:, None, None], padded, 0.0))
    groups = [np.flatnonzero(lengths == length) for length in np.unique(lengths)]
    outputs = torch.cat([_outputs(model, padded[rows, :, : lengths[rows[0]]], batch_size, head) for rows in groups])
    return outputs[np.argsort(np.concatenate(groups))]


def _outputs(model: TimeSeriesModel, X_raw: np.ndarray, batch_size: int, head: str | None) -> torch.Tensor:
    """``raw_outputs`` of one array of series."""
    if X_raw.ndim == 3:
        model.check_channels(X_raw.shape)  # before preprocessing, whose own shape checks would not say why
    _refuse_incomplete_series(X_raw)
    preprocessor = make_preprocessor(model.preprocessor)
    X, stream_max = preprocessor.transform(X_raw)
    network: TimeSeriesModel | HeadView = model
    if head is not None:
        if not isinstance(model.head, MultiHead):
            raise ModelInputError(f"head={head!r}, but this model has a single head: predict without head=.")
        network = HeadView(model, model.head.check(head)).train(model.training)  # restored to this mode
    outputs = predict_outputs(network, X, stream_max if model.use_stream_max else None, batch_size=batch_size)
    if not preprocessor.transforms_targets:
        return outputs
    return torch.from_numpy(preprocessor.raw_targets(X_raw, outputs.numpy()))


def _refuse_incomplete_series(X: np.ndarray) -> None:
    """Refuse series with NaN or infinite values, saying what predict's caller can do (the preprocessor's own
    message names Dataset options, which predict does not take)."""
    refuse_incomplete_series(
        X,
        "predict takes complete series. NaN padding after shorter series, or gaps: equalise and fill them first, as "
        "Dataset.from_arrays does for training data, with X = tshub.data.readers.regularize(X, "
        "variable_length='truncate'|'pad'|'resample', missing='interpolate')[0] (X shaped (n, channels, length)), "
        "or, for a model that takes any length, pass a list of the series without their padding; infinite values: "
        "drop those series.",
    )
