"""Seismogram sources for magnitude regression: LEN-DB, STEAD, LOMAX (ConvNetQuake_INGV) and SeisBench-layout sets.

Raw values are kept (m/s or counts): the Otović et al. normalisation (stream_max, min-max, mask) is the
``minmax_mask`` preprocessor fitted at training time. Traces are returned channels-first, (n, 3, T).
Without an official split, splits are Otović's: shuffled keys cut 70/15/15 into train/val/test with a fixed seed.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tshub.data.dataset import Dataset, DatasetError
from tshub.data.sources.base import OTOVIC_CITATION, OTOVIC_FRACTIONS, as_magnitude, find_file, open_hdf5, select_limit
from tshub.data.splits import group_split, random_split

LENDB_SHAPE = (3, 540)
STEAD_SHAPE = (6000, 3)
LOMAX_GROUPS: tuple[str, ...] = ("train", "validate", "test", "test2", "events")
SEISBENCH_SPLITS = {"train": "train", "dev": "val", "test": "test"}

LENDB_META: dict[str, Any] = {
    "domain": "seismology",
    "sampling_rate": 20.0,
    "units": "m/s",
    "target": "magnitude (attribute 'mag')",
    "citation": "Magrini, F., Jozinović, D., Cammarano, F., Michelini, A., Boschi, L. (2020). Local earthquakes "
    "detection: A benchmark dataset of 3-component seismograms built on a global scale. "
    "Artificial Intelligence in Geosciences 1, 1-10. Data: Zenodo 10.5281/zenodo.3648232.",
    "protocol": OTOVIC_CITATION,
}
STEAD_META: dict[str, Any] = {
    "domain": "seismology",
    "sampling_rate": 100.0,
    "units": "counts",
    "components": "ENZ",
    "channel_names": ["E", "N", "Z"],  # by name, so that a fine-tune lines them up with a source's (ordered_like)
    "target": "source_magnitude (earthquake_local traces)",
    "citation": "Mousavi, S. M., Sheng, Y., Zhu, W., Beroza, G. C. (2019). STanford EArthquake Dataset (STEAD): "
    "A Global Data Set of Seismic Signals for AI. IEEE Access 7, 179464-179476.",
    "license": "CC BY 4.0",
    "protocol": OTOVIC_CITATION,
}
LOMAX_META: dict[str, Any] = {
    "domain": "seismology",
    "sampling_rate": 20.0,
    "units": "m/s",
    "target": "magnitude (attribute 'magnitude')",
    "citation": "Lomax, A., Michelini, A., Jozinović, D. (2019). An Investigation of Rapid Earthquake "
    "Characterization Using Single-Station Waveforms and a Convolutional Neural Network. "
    "Seismological Research Letters 90(2A), 517-529. Data: Zenodo 10.5281/zenodo.5040865.",
    "protocol": OTOVIC_CITATION,
}
SEISMIC_CX_META: dict[str, Any] = {
    "domain": "seismology",
    "target": "source_magnitude",
    "citation": "Woollam, J. et al. (2022). SeisBench - A Toolbox for Machine Learning in Seismology. "
    "Seismological Research Letters 93(3), 1695-1709 (example dataset); CX network: GFZ German Research "
    "Centre for Geosciences & CNRS-INSU (2006), IPOC Seismic Network, doi:10.14470/PK615318.",
}


def load_lendb(path: str | Path | None = None, *, limit: int | None = None, seed: int = 0) -> Dataset:
    """LEN-DB earthquakes: every dataset of group ``EQ/`` (shape (3, 540), 20 Hz, m/s) in HDF5 key order, target
    attribute ``mag``.

    ``path``: the HDF5 file, its folder, or the data root (folder ``LEN-DB/``). ``limit`` keeps a seeded random
    subset of that many traces (the full file does not fit every memory); ``seed`` also fixes the split.
    """
    file = find_file(path, ("LEN-DB",), ("LEN-DB.hdf5", "*.hdf5", "*.h5"))
    with open_hdf5(file) as h5:
        group = _group(h5, "EQ", file, "LEN-DB keeps earthquakes in group 'EQ/' (noise in 'AN/')")
        traces = [(f"EQ/{key}", obj) for key, obj in group.items()]
        keep = select_limit(len(traces), limit, seed)
        X = np.empty((len(keep), *LENDB_SHAPE), dtype=np.float32)
        y = np.empty(len(keep), dtype=np.float64)
        for row, i in enumerate(keep):
            key, obj = traces[i]
            X[row] = _trace(obj, file, key, LENDB_SHAPE)
            y[row] = _attr_magnitude(obj, "mag", file, key)
    return _seismic_dataset("LEN-DB", X, y, seed, {**LENDB_META, "files": [str(file)]})


def load_stead(
    path: str | Path | None = None,
    *,
    csv_path: str | Path | None = None,
    limit: int | None = None,
    seed: int = 0,
    by_event: bool = False,
) -> Dataset:
    """STEAD local earthquakes: ``merge.csv`` rows with trace_category ``earthquake_local``, waveform
    ``data/<trace_name>`` (6000, 3) at 100 Hz in counts, target ``source_magnitude``.

    ``path``: the HDF5 file (``waveforms_11_13_19.hdf5``), its folder, or the data root (folder ``STEAD/``);
    ``csv_path`` defaults to the single CSV (preferably ``merge.csv``) beside the HDF5 file. Splits: Otović's
    random 70/15/15 of the traces, which puts one event's traces at several stations (one magnitude) in several
    splits; ``by_event`` splits whole events (column ``source_id``) instead.
    """
    file = find_file(path, ("STEAD",), ("waveforms_11_13_19.hdf5", "merge.hdf5", "*.hdf5", "*.h5"))
    table = Path(csv_path) if csv_path is not None else find_file(file.parent, (), ("merge.csv", "*.csv"))
    required = ("trace_name", "trace_category", "source_magnitude") + (("source_id",) if by_event else ())
    rows = [(line, row) for line, row in _csv_rows(table, required) if row["trace_category"] == "earthquake_local"]
    keep = select_limit(len(rows), limit, seed)
    X = np.empty((len(keep), STEAD_SHAPE[1], STEAD_SHAPE[0]), dtype=np.float32)
    y = np.empty(len(keep), dtype=np.float64)
    with open_hdf5(file) as h5:
        data = _group(h5, "data", file, "STEAD keeps one dataset per trace in group 'data/'")
        for row_out, i in enumerate(keep):
            line, row = rows[i]
            key = f"data/{row['trace_name']}"
            if row["trace_name"] not in data:
                raise DatasetError(
                    f"{table} line {line}: trace {row['trace_name']!r} has no dataset {key!r} in {file}."
                )
            X[row_out] = _trace(data[row["trace_name"]], file, key, STEAD_SHAPE).T
            y[row_out] = as_magnitude(row["source_magnitude"], f"{table} line {line} (source_magnitude)")
    meta = {**STEAD_META, "files": [str(file), str(table)]}
    if by_event:
        events = np.array([rows[i][1]["source_id"] for i in keep])
        return group_split(
            Dataset(name="STEAD", X=X, y=y, task="regression", meta=meta), events, OTOVIC_FRACTIONS, seed
        )
    return _seismic_dataset("STEAD", X, y, seed, meta)


def load_lomax(
    path: str | Path | None = None,
    *,
    groups: tuple[str, ...] = LOMAX_GROUPS,
    limit: int | None = None,
    seed: int = 0,
) -> Dataset:
    """LOMAX (ConvNetQuake_INGV, Zenodo 5040865): the traces of ``groups`` merged, duplicate keys removed.

    UNVERIFIED layout (read from Otović et al.'s preprocessing scripts; no LOMAX file was at hand): each group holds 3-component traces (3 × ~1001 samples at
    20 Hz, m/s; stored (3, T) or (T, 3), possibly nested in sub-groups) whose own attributes or whose enclosing
    groups carry ``magnitude``. A trace key seen in an earlier group is skipped (first occurrence wins, in
    ``groups`` order). Not reproduced: Otović's filtering of test/test2 to instances the original CNN classified
    correctly (its key list is not public data).
    """
    file = find_file(path, ("LOMAX",), ("*.hdf5", "*.h5"))
    with open_hdf5(file) as h5:
        traces: dict[str, str] = {}
        for name in groups:
            group = _group(h5, name, file, f"LOMAX merges groups {', '.join(groups)}")
            for rel in _datasets_under(group):
                traces.setdefault(rel, f"{name}/{rel}")
        keys = list(traces.values())
        if not keys:
            raise DatasetError(f"{file}: groups {', '.join(groups)} hold no trace datasets.")
        keep = select_limit(len(keys), limit, seed)
        first = h5[keys[keep[0]]]
        channels_last = _lomax_orientation(first, file, keys[keep[0]])
        shape = first.shape
        X = np.empty((len(keep), 3, shape[0] if channels_last else shape[1]), dtype=np.float32)
        y = np.empty(len(keep), dtype=np.float64)
        for row, i in enumerate(keep):
            obj = h5[keys[i]]
            trace = _trace(obj, file, keys[i], shape)
            X[row] = trace.T if channels_last else trace
            y[row] = _attr_magnitude(obj, "magnitude", file, keys[i], inherit=True)
    meta = {**LOMAX_META, "files": [str(file)], "groups": list(groups), "stored_channels_last": channels_last}
    return _seismic_dataset("LOMAX", X, y, seed, meta)


def load_seisbench(
    path: str | Path,
    *,
    name: str = "SEISBENCH",
    limit: int | None = None,
    seed: int = 0,
    meta: dict[str, Any] | None = None,
) -> Dataset:
    """A SeisBench-layout dataset (``waveforms.hdf5`` + ``metadata.csv``) for magnitude regression.

    ``trace_name`` is ``bucketK$i,:C,:T`` (row i of ``data/bucketK``, sliced) or a plain name (``data/<name>``);
    the target is ``source_magnitude``; the ``split`` column (train/dev/test → train/val/test) is used when
    present, else a seeded random 70/15/15 split. ``data_format/dimension_order`` "WC" traces are transposed.
    """
    file = find_file(path, (), ("waveforms.hdf5",))
    table = find_file(file.parent, (), ("metadata.csv",))
    rows = _csv_rows(table, ("trace_name", "source_magnitude"))
    rows = [rows[i] for i in select_limit(len(rows), limit, seed)]
    if not rows:
        raise DatasetError(f"{table}: no trace rows.")
    traces, y = [], np.empty(len(rows), dtype=np.float64)
    with open_hdf5(file) as h5:
        fmt = _data_format(h5)
        channels_last = fmt.get("dimension_order", "CW") == "WC"
        for k, (line, row) in enumerate(rows):
            trace = _seisbench_trace(h5, row["trace_name"], file, table, line)
            traces.append(trace.T if channels_last else trace)
            if traces[-1].shape != traces[0].shape:
                raise DatasetError(
                    f"{table} line {line}: trace {row['trace_name']!r} has shape {traces[-1].shape} "
                    f"(channels, samples), expected {traces[0].shape} like the first trace; tshub needs "
                    "equal-length traces."
                )
            y[k] = as_magnitude(row["source_magnitude"], f"{table} line {line} (source_magnitude)")
    X = np.stack(traces).astype(np.float32)
    info = {"domain": "seismology", "files": [str(file), str(table)], **fmt, **(meta or {})}
    if "split" not in rows[0][1]:
        return _seismic_dataset(name, X, y, seed, info)
    splits: dict[str, list[int]] = {v: [] for v in SEISBENCH_SPLITS.values()}
    for k, (line, row) in enumerate(rows):
        if row["split"] not in SEISBENCH_SPLITS:
            raise DatasetError(f"{table} line {line}: split {row['split']!r} is not one of {sorted(SEISBENCH_SPLITS)}.")
        splits[SEISBENCH_SPLITS[row["split"]]].append(k)
    return Dataset(
        name=name,
        X=X,
        y=y,
        task="regression",
        splits={k: np.asarray(v, dtype=np.int64) for k, v in splits.items()},
        meta={**info, "split_protocol": {"rule": "official", "column": "split", "dev": "val"}},
    )


def load_seismic_cx(path: str | Path | None = None) -> Dataset:
    """The 100 CX-network (northern Chile, 2007) seismograms of the SeisBench example set, folder ``SEISMIC-CX/``."""
    file = find_file(path, ("SEISMIC-CX",), ("waveforms.hdf5",))
    return load_seisbench(file, name="SEISMIC-CX", meta=SEISMIC_CX_META)


# ----------------------------------------------------------------------------- helpers
def _seismic_dataset(name: str, X: np.ndarray, y: np.ndarray, seed: int, meta: dict[str, Any]) -> Dataset:
    return random_split(Dataset(name=name, X=X, y=y, task="regression", meta=meta), OTOVIC_FRACTIONS, seed=seed)


def _group(h5: h5py.File, name: str, file: Path, why: str) -> h5py.Group:
    obj = h5.get(name)
    if not isinstance(obj, h5py.Group):
        raise DatasetError(f"{file}: missing HDF5 group {name!r} ({why}); top-level keys are {sorted(h5)[:10]}.")
    return obj


def _datasets_under(group: h5py.Group) -> list[str]:
    """Paths (relative to ``group``) of every dataset below it, at any depth, in HDF5 name order."""
    found: list[str] = []
    group.visititems(lambda rel, obj: found.append(rel) if isinstance(obj, h5py.Dataset) else None)
    return found


def _trace(obj: Any, file: Path, key: str, shape: tuple[int, ...]) -> np.ndarray:
    if not isinstance(obj, h5py.Dataset):
        raise DatasetError(f"{file}: {key!r} is a group, expected a trace dataset of shape {shape}.")
    if obj.shape != shape:
        raise DatasetError(f"{file}: trace {key!r} has shape {obj.shape}, expected {shape}.")
    return obj[()]


def _attr_magnitude(obj: h5py.Dataset, attr: str, file: Path, key: str, inherit: bool = False) -> float:
    """The magnitude attribute of a trace, or (``inherit``) of the nearest enclosing group that has one."""
    node: Any = obj
    while attr not in node.attrs:
        if not inherit or node.parent.name == "/":
            raise DatasetError(
                f"{file}: trace {key!r} has no attribute {attr!r} (its attributes: {sorted(obj.attrs)})."
            )
        node = node.parent
    return as_magnitude(node.attrs[attr], f"{file}: {node.name} attribute {attr!r}")


def _lomax_orientation(obj: Any, file: Path, key: str) -> bool:
    """True when traces are stored (T, 3), False for (3, T)."""
    shape = getattr(obj, "shape", None)
    if shape is None or len(shape) != 2 or 3 not in shape:
        raise DatasetError(f"{file}: trace {key!r} has shape {shape}, expected (3, T) or (T, 3) (3 components).")
    return shape[0] != 3


def _csv_rows(table: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a metadata CSV with their line numbers; a DatasetError when a required column is missing."""
    try:
        with open(table, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(f"{table}: missing column(s) {missing}; the header is {reader.fieldnames}.")
            return [(k + 2, row) for k, row in enumerate(reader)]
    except OSError as exc:
        raise DatasetError(f"{table}: cannot read the metadata CSV ({exc}).") from exc


def _data_format(h5: h5py.File) -> dict[str, Any]:
    """SeisBench ``data_format`` entries tshub records (sampling_rate, units, component and dimension order)."""
    fmt = h5.get("data_format")
    out: dict[str, Any] = {}
    for key, out_key in (
        ("sampling_rate", "sampling_rate"),
        ("unit", "units"),
        ("component_order", "components"),
        ("dimension_order", "dimension_order"),
        ("measurement", "measurement"),
    ):
        if isinstance(fmt, h5py.Group) and key in fmt:
            value = np.asarray(fmt[key][()]).item()
            out[out_key] = value.decode() if isinstance(value, bytes) else value
    if "sampling_rate" in out:
        out["sampling_rate"] = float(out["sampling_rate"])
    if "components" in out:  # by name, so that a fine-tune lines them up with a source's (Dataset.ordered_like)
        out["channel_names"] = list(out["components"])
    if out.get("dimension_order", "CW") not in ("CW", "WC"):
        raise DatasetError(
            f"{h5.filename}: data_format/dimension_order {out['dimension_order']!r}, expected 'CW' or 'WC'."
        )
    return out


_BUCKET = re.compile(r"^(?P<bucket>[^$]+)\$(?P<index>\d+)(?P<slices>(,[^,]*)*)$")


def _seisbench_trace(h5: h5py.File, trace_name: str, file: Path, table: Path, line: int) -> np.ndarray:
    where = f"{table} line {line}: trace_name {trace_name!r}"
    match = _BUCKET.match(trace_name)
    key = f"data/{match['bucket'] if match else trace_name}"
    obj = h5.get(key)
    if not isinstance(obj, h5py.Dataset):
        raise DatasetError(f"{where} points to {key!r}, which is not a dataset in {file}.")
    if match is None:
        return obj[()]
    index = int(match["index"])
    if index >= obj.shape[0]:
        raise DatasetError(f"{where} points to row {index} of {key!r}, which has {obj.shape[0]} rows.")
    try:
        cuts = tuple(slice(*(int(p) if p else None for p in s.split(":"))) for s in match["slices"].split(",")[1:])
        trace = obj[(index, *cuts)]
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{where}: cannot apply its slices to {key!r} of shape {obj.shape} ({exc}).") from exc
    if trace.ndim != 2:
        raise DatasetError(f"{where}: the trace has {trace.ndim} dimensions, expected 2 (channels, samples).")
    return trace
