"""Predictions of a trained model on raw series: its fitted preprocessor first, then batched forward passes.

``TimeSeriesModel.predict`` and ``predict_proba`` delegate here, so the models hold no inference logic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tshub.data.preprocess import make_preprocessor
from tshub.models.base import TimeSeriesModel
from tshub.training.loop import decode_outputs, predict_outputs


def predict(model: TimeSeriesModel, X_raw: Any, batch_size: int = 256, *, codes: bool = False) -> np.ndarray:
    """Class labels (from ``model.classes``; indices with ``codes=True``) or values ((n,) for one output)."""
    task = model.task or ("classification" if model.classes else "regression")
    predicted = decode_outputs(task, raw_outputs(model, X_raw, batch_size))
    if codes or task != "classification" or not model.classes:
        return predicted
    return np.asarray(model.classes)[predicted]


def predict_proba(model: TimeSeriesModel, X_raw: Any, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (n, n_classes), columns in the order of ``model.classes``."""
    if model.task == "regression":
        raise ValueError("predict_proba is for classification models; this one does regression: use predict.")
    return torch.softmax(raw_outputs(model, X_raw, batch_size), dim=1).numpy()


def raw_outputs(model: TimeSeriesModel, X_raw: Any, batch_size: int = 256) -> torch.Tensor:
    """Logits or values for raw series (n, c, t), after the model's own preprocessing; the values of a model
    trained on relative targets mapped back to the raw scale of each series (see ``tshub.data.preprocess``)."""
    preprocessor = make_preprocessor(model.preprocessor)
    X_raw = np.asarray(X_raw)
    X, stream_max = preprocessor.transform(X_raw)
    outputs = predict_outputs(model, X, stream_max if model.use_stream_max else None, batch_size=batch_size)
    if not preprocessor.transforms_targets:
        return outputs
    return torch.from_numpy(preprocessor.raw_targets(X_raw, outputs.numpy()))
