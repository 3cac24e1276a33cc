"""tshub: pretrained deep models for time series, fine-tuning, source recommendation."""

import warnings

from tshub import datasets
from tshub.data import Dataset
from tshub.hub import list_pretrained, load_pretrained
from tshub.models import build_model, list_architectures
from tshub.recommender import recommend
from tshub.training import finetune, train_from_scratch
from tshub.version import __version__


def __getattr__(name: str):
    """The scikit-learn estimators, imported on first use (scikit-learn is an optional dependency), and the
    deprecated ``list_models``."""
    if name == "list_models":
        warnings.warn(
            "tshub.list_models is deprecated: it lists checkpoints, which is tshub.list_pretrained "
            "(as in timm, where list_models lists architectures: tshub.list_architectures).",
            DeprecationWarning,
            stacklevel=2,
        )
        return list_pretrained
    if name in ("TSHubClassifier", "TSHubRegressor"):
        try:
            from tshub import estimators
        except ImportError as err:
            raise ImportError(f"tshub.{name} needs scikit-learn: pip install 'tshub[sklearn]'.") from err
        return getattr(estimators, name)
    raise AttributeError(f"module 'tshub' has no attribute {name!r}")


__all__ = [
    "Dataset",
    "datasets",
    "build_model",
    "list_architectures",
    "list_pretrained",
    "load_pretrained",
    "finetune",
    "recommend",
    "train_from_scratch",
    "TSHubClassifier",
    "TSHubRegressor",
    "__version__",
]
