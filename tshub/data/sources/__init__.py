"""Readers of the seed papers' source datasets (Otović et al. 2022 protocol), by name for the catalogue.

Each loader takes the data root, the dataset's own folder or file, or None (``tshub.data.root.data_root()``:
$TSHUB_DATA, else ``shared/data`` beside the repository), and returns raw values with train/val/test splits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tshub.data.dataset import Dataset
from tshub.data.sources.audio import load_speech_commands
from tshub.data.sources.emg import load_emg
from tshub.data.sources.finance import load_sp500
from tshub.data.sources.seismic import load_lendb, load_lomax, load_seisbench, load_seismic_cx, load_stead

SOURCE_LOADERS: dict[str, Callable[[Path | None], Dataset]] = {
    "LOMAX": load_lomax,
    "LEN-DB": load_lendb,
    "STEAD": load_stead,
    "SPEECH": load_speech_commands,
    "EMG": load_emg,
    "SP500": load_sp500,
    "SEISMIC-CX": load_seismic_cx,
}

__all__ = [
    "SOURCE_LOADERS",
    "load_emg",
    "load_lendb",
    "load_lomax",
    "load_seisbench",
    "load_seismic_cx",
    "load_sp500",
    "load_speech_commands",
    "load_stead",
]
