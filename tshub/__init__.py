"""tshub: pretrained deep models for time series, fine-tuning, source recommendation."""

from tshub import datasets
from tshub.data import Dataset
from tshub.hub import list_models, load_pretrained
from tshub.models import build_model, list_architectures
from tshub.recommend import recommend
from tshub.training import finetune, train_from_scratch

__version__ = "0.1.0"

__all__ = ["Dataset", "datasets", "build_model", "list_architectures", "list_models", "load_pretrained", "finetune",
           "recommend", "train_from_scratch", "__version__"]
