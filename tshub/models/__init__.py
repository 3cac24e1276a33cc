"""Architectures: one module each, all registered by name (see ``registry``) and sharing ``TimeSeriesModel``."""

from tshub.models import convnetquake, convtimenet, fcn, magnet, mlstm_fcn, tcn  # noqa: F401  (registers)
from tshub.models.base import ModelInputError, TimeSeriesModel, adapt_channel_kernel
from tshub.models.registry import build_model, default_kwargs, get_architecture, list_architectures

__all__ = [
    "TimeSeriesModel",
    "ModelInputError",
    "adapt_channel_kernel",
    "build_model",
    "default_kwargs",
    "get_architecture",
    "list_architectures",
]
