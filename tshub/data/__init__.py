"""Datasets, readers, the catalogue, preprocessing and splits (``tshub.datasets`` is the public facade)."""

from tshub.data.dataset import Dataset, DatasetError
from tshub.data.preprocess import Identity, MinMaxMask, Preprocessor, ZNormalize, make_preprocessor

__all__ = ["Dataset", "DatasetError", "Preprocessor", "Identity", "ZNormalize", "MinMaxMask", "make_preprocessor"]
