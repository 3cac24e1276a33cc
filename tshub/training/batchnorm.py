"""BatchNorm running statistics estimated on given series under a network's current weights.

A network's running statistics describe the data it last trained on. Two places need them for other data: a
multi-head pretraining, where each head's dataset has its own (``tshub.training.multihead``), and a
transferability score computed as fine-tuning would start, whose first steps normalise the target's batches by
their own statistics (``tshub.recommend``, ``ScoringPlan.statistics="target"``).
"""

from __future__ import annotations

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from tshub.models.base import TimeSeriesModel, batch_norms


def estimate_statistics(
    model: TimeSeriesModel,
    X: torch.Tensor,
    stream_max: torch.Tensor | None = None,
    *,
    batch_size: int,
    bf16: bool = False,
) -> None:
    """Set the running statistics of ``model``'s feature BatchNorms (those the features pass through, as their
    buffers point now: a multi-head model's backbone points at one head's) to the mean batch statistics of ``X``
    (preprocessed series, in batches of ``batch_size``): BatchNorms in training mode, every other layer in eval mode,
    no gradients; weights, counters and the model's mode are left as they were. Not only the backbone's: MLSTM-FCN
    keeps its BatchNorms beside it."""
    in_head = {id(norm) for norm in batch_norms(model.head)}
    norms = [norm for norm in batch_norms(model) if id(norm) not in in_head]
    kept = [(norm.momentum, _counter(norm).clone()) for norm in norms]
    was_training = model.training
    model.eval()
    try:
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average over the batches
            norm.train()
        with torch.no_grad(), torch.autocast(X.device.type, dtype=torch.bfloat16, enabled=bf16):
            for start in range(0, len(X), batch_size):
                part = slice(start, start + batch_size)
                model.forward_features(X[part], None if stream_max is None else stream_max[part])
    finally:
        for norm, (momentum, tracked) in zip(norms, kept, strict=True):
            norm.momentum = momentum
            _counter(norm).copy_(tracked)
        model.train(was_training)


def _counter(norm: _BatchNorm) -> torch.Tensor:
    """The batches-seen counter, which every BatchNorm that keeps running statistics has."""
    assert norm.num_batches_tracked is not None
    return norm.num_batches_tracked
