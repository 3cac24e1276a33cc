"""Datasets by name: the Otović sources (``tshub.data.sources``) and the UCR 2018 archive under a data root.

The data root is ``root=`` when given, else ``$TSHUB_DATA``, else the ``shared/data`` folder beside the
repository when present. UCR names match case-insensitively, and the UCR 2015 names used by bigdata18
(``50words``, ``Gun_Point``, ...) through ``UCR_2015_ALIASES``. UCR datasets come with "train" and "test"
splits (indices into one concatenated X), or "train" only for the folder of train-only sets.

Defaults for the few UCR sets with gaps or unequal lengths: ``variable_length="resample"`` (every series
stretched to the longest of train and test together by linear interpolation: deterministic, the whole series
still spans the network input; the archive's own adjusted copies pad with low-amplitude noise instead) and
``missing="interpolate"`` (linear, as the archive's adjusted copies do). For sets DataSummary_UCR.csv lists with
a fixed length (DodgerLoop*, MelbournePedestrian) NaNs at the end of a row are missing values, not padding.
"""

from __future__ import annotations

import csv
import functools
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tshub.data.dataset import Dataset, DatasetError, require_dataset
from tshub.data.fingerprint import series_hashes
from tshub.data.readers import read_split_files
from tshub.data.readers.lengths import ReadOptionError
from tshub.data.root import FULL, data_root
from tshub.data.sources import SOURCE_LOADERS
from tshub.naming import closest

TRAIN_ONLY = "UCRArchive_2018_trainonly"
UCR_CITATION = (
    "H. A. Dau, A. Bagnall, K. Kamgar, C.-C. M. Yeh, Y. Zhu, S. Gharghabi, C. A. Ratanamahatana and E. Keogh, "
    '"The UCR time series archive", IEEE/CAA Journal of Automatica Sinica 6(6):1293-1305, 2019.'
)
# UCR 2015 archive names (as used by Ismail Fawaz et al. 2018) -> UCR 2018 names; case is matched separately.
UCR_2015_ALIASES = {
    "50words": "FiftyWords",
    "CinC_ECG_torso": "CinCECGTorso",
    "Cricket_X": "CricketX",
    "Cricket_Y": "CricketY",
    "Cricket_Z": "CricketZ",
    "FISH": "Fish",
    "Gun_Point": "GunPoint",
    "Lighting2": "Lightning2",
    "Lighting7": "Lightning7",
    "MALLAT": "Mallat",
    "NonInvasiveFatalECG_Thorax1": "NonInvasiveFetalECGThorax1",
    "NonInvasiveFatalECG_Thorax2": "NonInvasiveFetalECGThorax2",
    "SonyAIBORobotSurface": "SonyAIBORobotSurface1",
    "SonyAIBORobotSurfaceII": "SonyAIBORobotSurface2",
    "synthetic_control": "SyntheticControl",
    "Two_Patterns": "TwoPatterns",
    "uWaveGestureLibrary_X": "UWaveGestureLibraryX",
    "uWaveGestureLibrary_Y": "UWaveGestureLibraryY",
    "uWaveGestureLibrary_Z": "UWaveGestureLibraryZ",
    "wafer": "Wafer",
    "yoga": "Yoga",
}
_ALIASES = {k.casefold(): v for k, v in UCR_2015_ALIASES.items()}
#: Names tshub gives data that came without one (Dataset.from_arrays, service uploads, multi-head pretraining).
PLACEHOLDER_NAMES = frozenset({"arrays", "upload", "multi"})


def load(
    name: str,
    root: str | Path | None = None,
    *,
    variable_length: str | None = None,
    missing: str | None = None,
    **kw: Any,
) -> Dataset:
    """A dataset by catalogue name: an Otović source (LEN-DB, STEAD, ...) or a UCR 2018 / 2015 name.

    ``variable_length`` (default "resample"), ``missing`` (default "interpolate"; see
    ``tshub.data.readers.read_file``) and other reader options apply to UCR files; a source takes its loader's own
    options (e.g. ``load("EMG", by_recording=True)``) and refuses any other rather than load something other than
    what was asked for.
    """
    folder = data_root(root)
    sources = source_loaders()
    if name.upper() in sources:
        loader = sources[name.upper()]
        given = {k: v for k, v in dict(kw, variable_length=variable_length, missing=missing).items() if v is not None}
        takes = sorted(
            p.name for p in inspect.signature(loader).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
        )
        unknown = sorted(set(given) - set(takes))
        if unknown:
            raise DatasetError(
                f"{name.upper()} is one of tshub's sources, and its loader takes "
                f"{'the options ' + ', '.join(takes) if takes else 'no options'} (given: {', '.join(unknown)}); "
                f"load it with those, or as tshub.datasets.load({name!r}), and subset or split the Dataset."
            )
        return loader(folder, **given)
    entry = _ucr_index(folder).get(_ALIASES.get(name.casefold(), name).casefold())
    if entry is None:
        raise DatasetError(_not_found(name, folder, sources))
    canonical, collection, files = entry
    row = {r["Name"]: r for r in ucr_summary(folder)}.get(canonical)
    if row is not None and row.get("Length") != "Vary":
        kw.setdefault("trailing_nan", "missing")
    ds = read_split_files(
        files,
        task="classification",
        variable_length=variable_length or "resample",
        missing=missing or "interpolate",
        name=canonical,
        benchmark_splits=True,
        **kw,
    )
    return ds.with_splits(ds.splits, **_ucr_meta(ds, name, collection, row))


def holds_official_split(dataset: Dataset) -> bool:
    """Whether ``dataset`` is a UCR 2018 set of the catalogue with its official TRAIN/TEST split, series for series
    (a validation split carved from training counted with it): what results published on that split were measured
    on. A set cut down (``reduce_train``), re-split or read otherwise is not, though it keeps the catalogue's meta."""
    if dataset.meta.get("archive") != "UCR 2018" or dataset.meta.get("collection") != FULL:
        return False
    if "test" not in dataset.splits or "train" not in dataset.splits:
        return False
    files = dataset.meta.get("source_files") or []  # <root>/<collection>/<set>/<file>: the root it was loaded from
    official = _official_split_hashes(dataset.name, str(Path(files[0]).parents[2] if files else data_root()))
    if official is None:
        return False
    train = np.concatenate([dataset.splits[name] for name in ("train", "val") if name in dataset.splits])
    ours = (np.sort(series_hashes(dataset.X[train])), np.sort(series_hashes(dataset.X[dataset.splits["test"]])))
    return all(np.array_equal(mine, theirs) for mine, theirs in zip(ours, official))


@functools.lru_cache(maxsize=8)
def _official_split_hashes(name: str, root: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The sorted series hashes of a UCR set's official training and test splits as ``load`` reads them."""
    try:
        official = load(name, root)
    except DatasetError:
        return None
    train, test = (np.sort(series_hashes(official.X[official.splits[split]])) for split in ("train", "test"))
    return train, test


def dataset_from(target: str | Path | Dataset) -> Dataset:
    """What a one-call API takes as data: a Dataset as it is, a path to a data file (``Dataset.from_file``, no
    splits: training data), or a catalogue name (``load``); anything else is refused saying how to make one."""
    if isinstance(target, (str, Path)):
        path = Path(target).expanduser()
        return _read_path(path) if path.is_file() else load(str(target))
    return require_dataset(target)


def _read_path(path: Path) -> Dataset:
    """``Dataset.from_file(path)``; a file that needs a reader option is refused saying how to read it first, since
    the one-call APIs (finetune, train_from_scratch, recommend) take a path without the readers' options."""
    try:
        return Dataset.from_file(str(path))
    except ReadOptionError as e:
        flag = f"--{e.option.replace('_', '-')} {e.value}"
        raise ReadOptionError(
            f"{e} Given a path, finetune, train_from_scratch and recommend read it without options: read it first, "
            f"ds = tshub.datasets.read_file({str(path)!r}, {e.option}={e.value!r}), and pass ds instead of the path "
            f"(on the command line: {flag}).",
            e.option,
            e.value,
        ) from None


def dataset_key(name: str) -> str | None:
    """The key under which the catalogue matches a dataset name: case-insensitive, UCR 2015 aliases resolved, a
    split suffix ("GunPoint[train]", "GunPoint_TRAIN") dropped; None for the placeholder names of unnamed data."""
    base = re.sub(r"(\[[^\]]*\]|_(train|test))$", "", str(name).strip(), flags=re.IGNORECASE)
    key = _ALIASES.get(base.casefold(), base).casefold()
    return None if not key or key in PLACEHOLDER_NAMES else key


def list_datasets(root: str | Path | None = None) -> list[dict[str, str]]:
    """Every loadable name with its collection ("sources", "UCRArchive_2018" or "UCRArchive_2018_trainonly")."""
    entries = [{"name": key, "collection": "sources"} for key in source_loaders()]
    ucr = _ucr_index(data_root(root)).values()
    entries += [{"name": name, "collection": collection} for name, collection, _ in ucr]
    return sorted(entries, key=lambda e: (e["name"].casefold(), e["collection"]))


def ucr_summary(root: str | Path | None = None) -> list[dict[str, str]]:
    """The rows of ``UCRArchive_2018/DataSummary_UCR.csv`` as dicts (stripped strings), or [] when absent."""
    folder = data_root(root)
    path = None if folder is None else folder / FULL / "DataSummary_UCR.csv"
    if path is None or not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8-sig") as f:
        return [{k.strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


def source_loaders() -> dict[str, Callable[[Path | None], Dataset]]:
    """The Otović sources' loaders (``tshub.data.sources.SOURCE_LOADERS``) by upper-case name."""
    return {key.upper(): loader for key, loader in SOURCE_LOADERS.items()}


def _ucr_index(folder: Path | None) -> dict[str, tuple[str, str, dict[str, Path]]]:
    """casefolded name -> (name, collection, {split: file}); the full archive wins over the train-only folder."""
    index: dict[str, tuple[str, str, dict[str, Path]]] = {}
    if folder is None:
        return index
    train_only = folder / TRAIN_ONLY
    if train_only.is_dir():
        for path in sorted(train_only.iterdir()):
            name = _split_file_name(path, "TRAIN")
            if name:
                index[name.casefold()] = (name, TRAIN_ONLY, {"train": path})
    full = folder / FULL
    if full.is_dir():
        for sub in sorted(p for p in full.iterdir() if p.is_dir()):
            files = {split.lower(): _find(sub, f"{sub.name}_{split}") for split in ("TRAIN", "TEST")}
            if files["train"] is not None:
                index[sub.name.casefold()] = (sub.name, FULL, {k: v for k, v in files.items() if v is not None})
    return index


def _find(folder: Path, stem: str) -> Path | None:
    return next((folder / f"{stem}{s}" for s in (".tsv.gz", ".tsv") if (folder / f"{stem}{s}").is_file()), None)


def _split_file_name(path: Path, split: str) -> str | None:
    for suffix in (f"_{split}.tsv.gz", f"_{split}.tsv"):
        if path.name.endswith(suffix):
            return path.name.removesuffix(suffix)
    return None


def _ucr_meta(ds: Dataset, requested: str, collection: str, row: dict[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "archive": "UCR 2018",
        "collection": collection,
        "citation": UCR_CITATION,
        "domain": f"UCR/{row['Type']}" if row else "UCR",
        "n_train": len(ds.splits.get("train", ())),
        "n_test": len(ds.splits.get("test", ())),
        "length": ds.length,
    }
    if requested != ds.name:
        meta["requested_name"] = requested
    if row:
        meta["published"] = _published(row)
    return meta


def _published(row: dict[str, str]) -> dict[str, Any]:
    """Published 1-NN error rates and facts of DataSummary_UCR.csv (learned DTW window in % of the length)."""
    dtw, _, window = row.get("DTW (learned_w)", "").partition(" (")
    return {
        "type": row.get("Type"),
        "train": _number(row.get("Train")),
        "test": _number(row.get("Test")),
        "classes": _number(row.get("Class")),
        "length": _number(row.get("Length")),
        "error_1nn_ed": _number(row.get("ED (w=0)")),
        "error_1nn_dtw_learned_w": _number(dtw),
        "dtw_learned_w": _number(window.rstrip(")")),
        "error_1nn_dtw_unconstrained": _number(row.get("DTW (w=100)")),
        "default_rate": _number(row.get("Default rate")),
        "donor": row.get("Data donor/editor"),
    }


def _number(text: str | None) -> int | float | str | None:
    if text is None or text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _not_found(name: str, folder: Path | None, sources: dict[str, Any]) -> str:
    file = Path(name).expanduser()
    if file.is_file():
        return (
            f"{name!r} is a file, and this takes catalogue dataset names: read the file with "
            f"tshub.Dataset.from_file({name!r}) and pass the Dataset (the experiments take it too: "
            "ExperimentGrid(targets=[dataset]))."
        )
    if file.suffix or len(file.parts) > 1:  # spelled as a path: no catalogue name has a dot or a folder
        return f"no such file: {name!r} ({file.absolute()} does not exist), and it is no catalogue dataset name."
    if folder is None:
        where = (
            "no data folder is configured (set $TSHUB_DATA or pass root= to the folder holding "
            f"{FULL}/ and {TRAIN_ONLY}/)"
        )
    else:
        where = f"UCR folders {folder / FULL} and {folder / TRAIN_ONLY}" + (
            "" if folder.is_dir() else " (that folder does not exist)"
        )
    names = [e["name"] for e in list_datasets(folder)]
    close = closest(name, names, n=5)
    hint = f" Closest matches: {', '.join(close)}." if close else ""
    source_keys = ", ".join(sorted(sources))
    return (
        f"no dataset named {name!r}: looked in the sources ({source_keys}) and in {where}; "
        f"{len(names)} datasets are available (tshub.datasets.list_datasets()).{hint}"
    )
