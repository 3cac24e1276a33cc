"""What every source reader shares: finding its files under the data root, HDF5 access and magnitudes with
errors naming the file and key, the Otović et al. split fractions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tshub.data.dataset import DatasetError
from tshub.data.root import data_root

OTOVIC_FRACTIONS: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train, val, test
OTOVIC_CITATION = (
    "Otović, E., Njirjak, M., Jozinović, D., Mauša, G., Michelini, A., Štajduhar, I. (2022). Intra-domain and "
    "cross-domain transfer learning for time series data - How transferable are the features? "
    "Knowledge-Based Systems 239, 107976."
)


def source_folder(path: str | Path | None, folder_names: tuple[str, ...]) -> Path:
    """The source's own folder from None (the catalogue's data root), the data root, or the source folder itself."""
    base = data_root() if path is None else Path(path).expanduser()
    if base is None:
        raise DatasetError(
            f"no data folder is configured for {folder_names[0]}: pass the dataset's folder or file, or set "
            f"TSHUB_DATA to a folder containing {' or '.join(folder_names)}/."
        )
    for name in folder_names:
        if (base / name).is_dir():
            return base / name
    if path is None or not base.is_dir():
        raise DatasetError(
            f"{folder_names[0]} data not found at {base}: pass the dataset's folder or file, or set TSHUB_DATA "
            f"to a folder containing {' or '.join(folder_names)}/."
        )
    return base


def find_file(path: str | Path | None, folder_names: tuple[str, ...], patterns: tuple[str, ...]) -> Path:
    """``path`` itself when it is a file, else the single file matching the first fruitful glob pattern."""
    if path is not None and Path(path).expanduser().is_file():
        return Path(path).expanduser()
    folder = source_folder(path, folder_names)
    for pattern in patterns:
        matches = sorted(folder.glob(pattern))
        if len(matches) > 1:
            raise DatasetError(
                f"{folder}: several files match {pattern!r} ({', '.join(m.name for m in matches[:5])}); "
                "pass the one to read explicitly."
            )
        if matches:
            return matches[0]
    raise DatasetError(_no_file(folder, folder_names, patterns))


def _no_file(folder: Path, folder_names: tuple[str, ...], patterns: tuple[str, ...]) -> str:
    """Where ``find_file`` looked, the file names it reads, and the call that reads the file from elsewhere."""
    names = ", ".join(patterns[:-1]) + " or " + patterns[-1] if len(patterns) > 1 else patterns[0]
    if not folder_names:
        return f"{folder}: no file named {names}; pass the file itself, or the folder that holds it."
    source = folder_names[0]
    looked = (
        str(folder)
        if folder.name in folder_names
        else f"{folder} (there is no {' or '.join(str(folder / n) for n in folder_names)} folder, so tshub looked "
        "in the folder itself)"
    )
    example = next((p for p in patterns if "*" not in p), patterns[0].replace("*", source))
    return (
        f"{source}: no file named {names} in {looked}. Pass the file, or the folder holding it: "
        f"tshub.datasets.load({source!r}, root='/path/to/{example}'); or put it in a {source}/ folder under the "
        "data root ($TSHUB_DATA, else shared/data beside the repository)."
    )


@contextmanager
def open_hdf5(file: Path) -> Iterator[h5py.File]:
    """Open an HDF5 file read-only, turning h5py's OSError into a DatasetError that names the file."""
    try:
        h5 = h5py.File(file, "r")
    except OSError as exc:
        raise DatasetError(
            f"{file}: cannot be read as HDF5 ({exc}); check the path and that the download is complete."
        ) from exc
    with h5:
        yield h5


def as_magnitude(value: Any, where: str) -> float:
    """A finite scalar magnitude, or a DatasetError saying where the bad value sits."""
    arr = np.asarray(value)
    try:
        if arr.size != 1:
            raise ValueError
        magnitude = float(arr.reshape(-1)[0])
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: magnitude {value!r} is not a single number.") from None
    if not np.isfinite(magnitude):
        raise DatasetError(f"{where}: magnitude is {magnitude}, expected a finite number.")
    return magnitude


def select_limit(n: int, limit: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded random subset of ``limit`` items (all when None), in their original order."""
    if limit is None or limit >= n:
        return np.arange(n)
    if limit < 1:
        raise DatasetError(f"limit must be a positive number of traces, got {limit}.")
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))
