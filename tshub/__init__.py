"""tshub: pretrained deep models for time series, fine-tuning, source recommendation."""

from tshub import datasets
from tshub.data import Dataset
from tshub.hub import list_models, load_pretrained
from tshub.models import build_model, list_architectures
from tshub.recommend import recommend
from tshub.training import finetune, train_from_scratch
from tshub.version import __version__


def __getattr__(name: str):
    """The scikit-learn estimators, imported on first use (scikit-learn is an optional dependency)."""
    if name in ("TSHubClassifier", "TSHubRegressor"):
        try:
            from tshub import estimators
        except ImportError as err:
            raise ImportError(f"tshub.{name} needs scikit-learn: pip install 'tshub[sklearn]'.") from err
        return getattr(estimators, name)
    raise AttributeError(f"module 'tshub' has no attribute {name!r}")


__all__ = ["Dataset", "datasets", "build_model", "list_architectures", "list_models", "load_pretrained", "finetune",
           "recommend", "train_from_scratch", "TSHubClassifier", "TSHubRegressor", "__version__"]
