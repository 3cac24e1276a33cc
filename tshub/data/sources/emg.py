"""Donati et al. Myo-armband EMG as Otović et al. windowed it: 400 ms windows (80 samples at 200 Hz) every
50 ms (10 samples), channels 0, 2 and 5, only windows whose samples all carry one gesture other than 'none'.

A departure in the data, not the windowing: Otović et al. used the record's Pinch part (4 classes, Pinch1–4); the
data here is its Roshambo part (3 classes: rock, paper, scissor), the only one available, so EMG results are not
comparable with the paper's figures.

Windows are cut within each recording (``subjectXX_sessionYY``), never across two. By default overlapping windows
of one recording land in different splits (Otović's per-class random split), as in the paper: a test window then
shares most of its samples with training windows, which flatters test scores. ``by_recording=True`` splits whole
recordings instead, so no test window shares a sample with a training one; a subject's other sessions may still be
in training (with seed 0, subject05's sessions 01 and 02 train and 03 validates), so it measures generalisation to a new session,
not to a new person: for that, split by subject (the recording names, ``subjectXX``) yourself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tshub.data.dataset import Dataset, DatasetError
from tshub.data.sources.base import OTOVIC_CITATION, OTOVIC_FRACTIONS, source_folder
from tshub.data.splits import group_split, random_split

EMG_CHANNELS = (0, 2, 5)
EMG_WINDOW = 80
EMG_STEP = 10
EMG_NONE = "none"

EMG_META = {
    "domain": "emg",
    "sampling_rate": 200.0,
    "units": "Myo raw EMG (8-bit ADC counts)",
    "channels": list(EMG_CHANNELS),
    "window": EMG_WINDOW,
    "step": EMG_STEP,
    "citation": "Donati, E., Payvand, M., Risi, N., Krause, R., Indiveri, G. (2019). Discrimination of EMG Signals "
    "Using a Neuromorphic Implementation of a Spiking Neural Network. IEEE Transactions on Biomedical "
    "Circuits and Systems 13(5), 795-803. Data: Zenodo 10.5281/zenodo.3194792.",
    "license": "CC BY 4.0",
    "protocol": OTOVIC_CITATION,
}


def load_emg(path: str | Path | None = None, *, seed: int = 0, by_recording: bool = False) -> Dataset:
    """Single-gesture windows of every ``*_emg.npy`` (int (T, 8)) with its per-sample labels ``*_ann.npy`` (T,).

    ``path``: the recordings folder or the data root (folder ``EMG/`` or ``EMG-Roshambo/``). Classes are the
    labels found ('none' dropped): rock/paper/scissor for the Roshambo part. Splits: per-class random 70/15/15
    of the windows (Otović et al.), or with ``by_recording`` 70/15/15 of the recordings, each whole in one split.
    """
    folder = source_folder(path, ("EMG", "EMG-Roshambo"))
    recordings = sorted(folder.glob("*_emg.npy"))
    if not recordings:
        raise DatasetError(f"{folder}: no *_emg.npy recordings; pass the Donati et al. EMG folder.")
    windows, labels = zip(*(_windows(emg) for emg in recordings))
    X = np.concatenate(windows)
    if not len(X):
        raise DatasetError(
            f"{folder}: no {EMG_WINDOW}-sample window of its {len(recordings)} recording(s) carries a single gesture "
            f"other than {EMG_NONE!r}; check that the *_ann.npy files label the gestures sample by sample."
        )
    ds = Dataset.from_arrays(
        X,
        np.concatenate(labels),
        name="EMG",
        task="classification",
        meta={**EMG_META, "files": [str(folder)], "recordings": len(recordings)},
    )
    if by_recording:
        recording_of_window = np.repeat([r.name.removesuffix("_emg.npy") for r in recordings], list(map(len, windows)))
        return group_split(ds, recording_of_window, OTOVIC_FRACTIONS, seed=seed)
    return random_split(ds, OTOVIC_FRACTIONS, seed=seed, stratify=True)


def _windows(emg_file: Path) -> tuple[np.ndarray, np.ndarray]:
    """The kept windows of one recording, (n, 3, 80) float32, and their labels."""
    ann_file = emg_file.with_name(emg_file.name.replace("_emg.npy", "_ann.npy"))
    emg, ann = _load(emg_file), _load(ann_file)
    if emg.ndim != 2 or emg.shape[1] <= max(EMG_CHANNELS) or emg.dtype.kind not in "iuf":
        raise DatasetError(
            f"{emg_file}: {emg.dtype} of shape {emg.shape}, expected numbers of (samples, 8) Myo channels."
        )
    if not np.isfinite(emg[:, EMG_CHANNELS]).all():
        row = int(np.flatnonzero(~np.isfinite(emg[:, EMG_CHANNELS]).all(axis=1))[0])
        raise DatasetError(f"{emg_file}: sample {row} is NaN or infinite; Myo recordings hold finite ADC counts.")
    if ann.ndim != 1 or len(ann) != len(emg) or ann.dtype.kind not in "SU":
        raise DatasetError(
            f"{ann_file}: labels of shape {ann.shape} and type {ann.dtype}, expected {len(emg)} strings "
            f"(one per sample of {emg_file.name})."
        )
    ann = ann.astype(str)
    if len(ann) < EMG_WINDOW:
        return np.empty((0, len(EMG_CHANNELS), EMG_WINDOW), dtype=np.float32), ann[:0]
    label_windows = sliding_window_view(ann, EMG_WINDOW)[::EMG_STEP]
    keep = np.all(label_windows == label_windows[:, :1], axis=1) & (label_windows[:, 0] != EMG_NONE)
    series = sliding_window_view(emg[:, EMG_CHANNELS], EMG_WINDOW, axis=0)[::EMG_STEP]
    return series[keep].astype(np.float32), label_windows[keep, 0]


def _load(file: Path) -> np.ndarray:
    try:
        return np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{file}: cannot be read as a .npy array without pickle ({exc}).") from exc
