"""Datasets, readers, the catalogue, preprocessing and splits."""

from tshub.data.dataset import Dataset, DatasetError
from tshub.data.preprocess import Identity, MinMaxMask, Preprocessor, ZNormalize, make_preprocessor
from tshub.data.readers import read_file, read_split_files

__all__ = ["Dataset", "DatasetError", "Preprocessor", "Identity", "ZNormalize", "MinMaxMask", "make_preprocessor",
           "read_file", "read_split_files"]
