"""tshub: pretrained deep models for time series, fine-tuning, source recommendation."""

from tshub.data import Dataset
from tshub.models import build_model, list_architectures

__version__ = "0.1.0"

__all__ = ["Dataset", "build_model", "list_architectures", "__version__"]
