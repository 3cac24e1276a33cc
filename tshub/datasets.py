"""Public dataset API: ``tshub.datasets.load("GunPoint")``, ``list_datasets()``, ``read_file(path)``."""

from tshub.data.catalogue import UCR_2015_ALIASES, data_root, list_datasets, load, ucr_summary
from tshub.data.readers import read_file, read_split_files
from tshub.data.splits import (
    chronological_split,
    ensure_validation,
    group_split,
    official_with_validation,
    random_split,
    reduce_train,
)

__all__ = [
    "load",
    "list_datasets",
    "ucr_summary",
    "data_root",
    "UCR_2015_ALIASES",
    "read_file",
    "read_split_files",
    "official_with_validation",
    "ensure_validation",
    "random_split",
    "group_split",
    "chronological_split",
    "reduce_train",
]
