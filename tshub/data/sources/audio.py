"""Google Speech Commands as Otović et al. used it: keyword classification on 1 s clips resampled to 8 kHz.

Differences from the tstl script, by design: resampling is scipy's polyphase filter (tstl: librosa), and short
clips are padded with trailing zeros (tstl: rotating background noise). Amplitudes are PCM scaled to [-1, 1]
(librosa's convention), otherwise raw.

The official lists put each speaker in one split. Without them, Otović's per-class random split puts clips of one
speaker (the file name's part before ``_nohash_``) in several splits, which flatters test scores;
``by_speaker=True`` splits whole speakers instead.
"""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from tshub.data.dataset import Dataset, DatasetError
from tshub.data.sources.base import OTOVIC_CITATION, OTOVIC_FRACTIONS, source_folder
from tshub.data.splits import group_split, random_split

SPEECH_RATE = 8000
SPEECH_LENGTH = 8000
OFFICIAL_LISTS = {"test": "testing_list.txt", "val": "validation_list.txt"}

SPEECH_META = {
    "domain": "audio",
    "sampling_rate": float(SPEECH_RATE),
    "units": "PCM amplitude scaled to [-1, 1]",
    "citation": "Warden, P. (2018). Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition. "
    "arXiv:1804.03209.",
    "license": "CC BY 4.0",
    "protocol": OTOVIC_CITATION,
}


def load_speech_commands(path: str | Path | None = None, *, seed: int = 0, by_speaker: bool = False) -> Dataset:
    """Every ``<word>/*.wav`` clip (folders starting with '_', e.g. ``_background_noise_``, are skipped), resampled
    to 8 kHz and padded with zeros or cut to 8000 samples, labelled by its folder.

    Splits: the official ``testing_list.txt`` / ``validation_list.txt`` when both are present (clips in neither are
    train), else Otović's per-class random 70/15/15 with ``seed`` (with ``by_speaker``: 70/15/15 of the speakers,
    each whole in one split). ``path``: the dataset folder or the data root (folder ``SPEECH/`` or
    ``SPEECH-sample/``).
    """
    folder = source_folder(path, ("SPEECH", "SPEECH-sample"))
    clips = sorted(
        wav
        for word in folder.iterdir()
        if word.is_dir() and not word.name.startswith("_")
        for wav in word.glob("*.wav")
    )
    if not clips:
        raise DatasetError(f"{folder}: no <word>/*.wav clips; pass the Speech Commands folder.")
    X = np.stack([_read_clip(wav) for wav in clips])[:, None, :]
    labels = np.array([wav.parent.name for wav in clips])
    ds = Dataset.from_arrays(
        X, labels, name="SPEECH", task="classification", meta={**SPEECH_META, "files": [str(folder)]}
    )
    official = _official_splits(folder, [f"{wav.parent.name}/{wav.name}" for wav in clips])
    if official is None and by_speaker:
        return group_split(ds, np.array([wav.name.split("_nohash_")[0] for wav in clips]), OTOVIC_FRACTIONS, seed=seed)
    if official is None:
        return random_split(ds, OTOVIC_FRACTIONS, seed=seed, stratify=True)
    return ds.with_splits(
        official,
        split_protocol={
            "rule": "official_lists",
            "test": OFFICIAL_LISTS["test"],
            "val": OFFICIAL_LISTS["val"],
            "train": "all other clips",
        },
    )


def _read_clip(wav: Path) -> np.ndarray:
    """One clip as float32 [-1, 1] at 8 kHz, exactly 8000 samples."""
    try:
        rate, pcm = wavfile.read(wav)
    except (ValueError, OSError) as exc:
        raise DatasetError(f"{wav}: not a readable WAV file ({exc}).") from exc
    if pcm.ndim != 1:
        raise DatasetError(f"{wav}: {pcm.shape[1]} audio channels, expected a mono clip.")
    if not pcm.size:
        raise DatasetError(f"{wav}: the clip has no samples; remove it or replace it with the complete recording.")
    audio = _to_unit_range(pcm, wav)
    if not np.isfinite(audio).all():
        raise DatasetError(f"{wav}: the clip holds NaN or infinite samples; remove it or replace it.")
    if rate != SPEECH_RATE:
        g = gcd(int(rate), SPEECH_RATE)
        from scipy.signal import resample_poly  # lazy: importing scipy.signal costs ~2 s

        audio = resample_poly(audio, SPEECH_RATE // g, int(rate) // g)
    out = np.zeros(SPEECH_LENGTH, dtype=np.float32)
    n = min(len(audio), SPEECH_LENGTH)
    out[:n] = audio[:n]
    return out


def _to_unit_range(pcm: np.ndarray, wav: Path) -> np.ndarray:
    if pcm.dtype.kind == "f":
        return pcm.astype(np.float64)
    if pcm.dtype == np.uint8:
        return (pcm.astype(np.float64) - 128.0) / 128.0
    if pcm.dtype.kind == "i":
        return pcm.astype(np.float64) / float(2 ** (8 * pcm.dtype.itemsize - 1))
    raise DatasetError(f"{wav}: unsupported sample type {pcm.dtype}.")


def _official_splits(folder: Path, relative: list[str]) -> dict[str, np.ndarray] | None:
    """Split indices from the official lists (None when the folder has neither list)."""
    present = {name: folder / file for name, file in OFFICIAL_LISTS.items() if (folder / file).is_file()}
    if not present:
        return None
    if len(present) != len(OFFICIAL_LISTS):
        missing = sorted(set(OFFICIAL_LISTS.values()) - {p.name for p in present.values()})
        raise DatasetError(
            f"{folder}: has {[p.name for p in present.values()]} but not {missing}; "
            "provide both official lists or neither (then a random 70/15/15 split is made)."
        )
    member = {name: set(path.read_text().split()) for name, path in present.items()}
    both = member["test"] & member["val"]
    if both:
        raise DatasetError(
            f"{folder}: {sorted(both)[:3]} listed in both {OFFICIAL_LISTS['test']} and "
            f"{OFFICIAL_LISTS['val']}; an official clip belongs to one split."
        )
    for name, listed in member.items():
        if listed and not listed.intersection(relative):
            raise DatasetError(
                f"{folder}: none of the {len(relative)} clips is listed in {OFFICIAL_LISTS[name]} (it lists "
                f"{len(listed)}, e.g. {sorted(listed)[0]!r}); the lists name clips as <word>/<file>.wav relative "
                "to the folder, and must be this copy's own (or remove both lists for a random 70/15/15 split)."
            )
    where = np.array(["test" if r in member["test"] else "val" if r in member["val"] else "train" for r in relative])
    return {name: np.flatnonzero(where == name) for name in ("train", "val", "test")}
