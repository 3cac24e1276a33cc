"""Source recommender index: per-class DBA prototypes of every source and the bigdata18 inter-dataset distance.

bigdata18 (Ismail Fawaz et al. 2018, Algorithm 1): each source's training split is reduced to one prototype per class, the
DBA average of the class (medoid start, 10 iterations), and the distance between two datasets is the **minimum**
DTW over pairs (prototype of one, prototype of the other). Sources are ranked for a target by that distance.

Before averaging, every series is z-normalised per channel (the UCR convention, ``tshub.data.preprocess.
ZNormalize``: a constant series becomes zeros), so amplitude and offset do not decide similarity. Variable-length
series keep their own lengths (trailing NaN padding dropped, interior gaps interpolated; see ``dtw.as_series``).
DTW is unconstrained by default (bigdata18's code sets a window constant ``w=0`` that would degenerate to the
Euclidean distance; the published ranking was clearly computed without a band).

The index is built once (incrementally: ``add`` one source at a time computes its prototypes and its distances to
the sources already in) and stored as ``index.json`` (parameters, sources, class labels, distance matrix) and
``prototypes.safetensors`` (float32 (c, t) prototypes under ``"<source>/<k>"``); no pickle.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save

from tshub.atomic import write_bytes_atomic, write_text_atomic
from tshub.data.dataset import Dataset
from tshub.data.preprocess import ZNormalize
from tshub.similarity.averaging import dba, parse_medoid_method
from tshub.similarity.warping import Band, SeriesSet, as_series, min_cost_groups

FORMAT_VERSION = 1
DEFAULT_FOLDER = (
    Path(__file__).resolve().parents[2] / "zoo" / "similarity"
)  # built by scripts/build_similarity_index.py
INDEX_FILE = "index.json"
PROTOTYPES_FILE = "prototypes.safetensors"


class SimilarityIndex:
    """Per-class prototypes of source datasets and the pairwise dataset distances between them.

    ``window``: Sakoe–Chiba radius of every DTW (None = unconstrained); ``n_iterations``: DBA iterations;
    ``medoid``: "exact" or "top:N" (see ``dba.medoid_index``); ``znormalize``: per-series z-normalisation.
    """

    def __init__(
        self,
        *,
        window: int | float | None = None,
        n_iterations: int = 10,
        medoid: str = "exact",
        znormalize: bool = True,
    ):
        Band.of(window)  # validate now, not at the first distance
        parse_medoid_method(medoid)
        self.params: dict[str, Any] = {
            "window": window.item() if isinstance(window, np.generic) else window,  # JSON holds Python numbers
            "n_iterations": int(n_iterations),
            "medoid": medoid,
            "znormalize": bool(znormalize),
        }
        self._sources: list[dict[str, Any]] = []  # name, classes, n_series, n_channels
        self._prototypes: list[list[np.ndarray]] = []  # per source: float32 (c, t) per class
        self._distances = np.zeros((0, 0))

    # ----------------------------------------------------------------- contents
    @property
    def names(self) -> list[str]:
        return [s["name"] for s in self._sources]

    @property
    def channel_counts(self) -> set[int]:
        """The channel counts of the indexed sources (a target is compared only with sources of its own)."""
        return {int(s["n_channels"]) for s in self._sources}

    def __len__(self) -> int:
        return len(self._sources)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __repr__(self) -> str:
        n_protos = sum(len(p) for p in self._prototypes)
        return f"SimilarityIndex({len(self)} sources, {n_protos} prototypes, {self.params})"

    def _position(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(
                f"{name!r} is not in the similarity index; add it first (known: {len(self)} sources)."
            ) from None

    def prototypes(self, name: str) -> list[tuple[str, np.ndarray]]:
        """(class label, prototype (c, t) float32) for every class of a source."""
        i = self._position(name)
        return list(zip(self._sources[i]["classes"], self._prototypes[i]))

    @property
    def distances(self) -> np.ndarray:
        """(n_sources, n_sources) dataset distances in ``names`` order (inf between different channel counts)."""
        return self._distances.copy()

    # ----------------------------------------------------------------- building
    def make_prototypes(
        self,
        X: np.ndarray | Sequence[np.ndarray],
        y: np.ndarray | Sequence | None = None,
        *,
        check: Callable[[], None] | None = None,
    ) -> tuple[list[str], list[np.ndarray]]:
        """One DBA prototype per class of ``(X, y)`` (all series one group when ``y`` is None): (labels, (c, t)).

        ``check`` (a caller's deadline, raising once it has passed) is called before each class's average and
        between its steps (see ``dba``): a class of long series is minutes of work."""
        series = self.preprocess(X)
        labels = np.zeros(len(series), dtype=np.int64) if y is None else np.asarray(y)
        if len(labels) != len(series):
            raise ValueError(f"{len(series)} series but {len(labels)} labels.")
        if not series:
            raise ValueError("no series to average: pass the source's training series.")
        if labels.dtype.kind == "f" and np.isnan(labels).any():
            raise ValueError("the labels hold NaN: give every series its class, or leave the unlabelled ones out.")
        classes, prototypes = [], []
        for label in sorted(set(labels.tolist()), key=_label_key):
            if check is not None:
                check()
            members = [s for s, lab in zip(series, labels.tolist()) if lab == label]
            group = SeriesSet.from_list(members, members[0].shape[1])
            avg = dba(
                group, self.params["n_iterations"], self.params["window"], medoid=self.params["medoid"], check=check
            )
            classes.append(str(label))
            prototypes.append(avg.astype(np.float32))
        return classes, prototypes

    def preprocess(self, X: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
        """The series as averaged: time-major (t, c) float64, NaN handled, z-normalised per channel if set."""
        out = []
        for x in X:
            s = as_series(x)
            if self.params["znormalize"]:
                s = ZNormalize().transform(s.T[None])[0][0].T.astype(np.float64)
            out.append(np.ascontiguousarray(s))
        return out

    def add(
        self,
        name: str,
        X: np.ndarray | Sequence[np.ndarray] | None = None,
        y: np.ndarray | Sequence | None = None,
        *,
        prototypes: Sequence[np.ndarray] | None = None,
        classes: Sequence[str] | None = None,
        n_series: int | None = None,
    ) -> None:
        """Add a source from its training series ``(X, y)`` or from ready ``prototypes`` (with ``classes``).

        Computes the new source's distances to every source already in the index.
        """
        if name in self:
            raise ValueError(f"{name!r} is already in the similarity index.")
        if (X is None) == (prototypes is None):
            raise ValueError("pass either the training series X (and labels y) or prototypes, not both.")
        if prototypes is None:
            assert X is not None  # checked above: X or prototypes
            classes, prototypes = self.make_prototypes(X, y)
            n_series = len(X)
        prototypes = [np.asarray(as_series(p).T, dtype=np.float32) for p in prototypes]
        classes = [str(c) for c in (classes if classes is not None else range(len(prototypes)))]
        if len(classes) != len(prototypes):
            raise ValueError(f"{len(prototypes)} prototypes but {len(classes)} class labels.")
        row = self._distances_to(prototypes)
        n = len(self)
        grown = np.zeros((n + 1, n + 1))
        grown[:n, :n] = self._distances
        grown[n, :n] = grown[:n, n] = row
        self._distances = grown
        self._sources.append(
            {"name": name, "classes": classes, "n_series": n_series, "n_channels": int(prototypes[0].shape[0])}
        )
        self._prototypes.append(prototypes)

    def add_dataset(self, dataset: Dataset, name: str | None = None, split: str = "train") -> None:
        """Add a Dataset from its ``split`` (bigdata18 uses the training split).

        When the catalogue equalised unequal lengths on reading, the raw file is read again so every series
        keeps its own length (DTW needs no equal lengths).
        """
        self.add(name or dataset.name, *split_series(dataset, split))

    @classmethod
    def build(
        cls,
        sources: Iterable[Dataset | str],
        folder: str | Path | None = None,
        *,
        root: str | Path | None = None,
        progress: bool = False,
        **params: Any,
    ) -> SimilarityIndex:
        """An index over Datasets or catalogue names (``tshub.datasets.load(name, root)``), saved to ``folder``
        after every source. Resumable: an index already in ``folder`` (same parameters) is loaded and the sources
        it holds are skipped.
        """
        from tshub.data.catalogue import load

        index = cls(**params)
        if folder is not None and (Path(folder) / INDEX_FILE).is_file():
            saved = cls.load(folder)
            if saved.params != index.params:
                raise ValueError(
                    f"{folder} holds an index built with {saved.params}, not {index.params}; "
                    "pass the same parameters or another folder."
                )
            index = saved
        start = time.perf_counter()
        for source in sources:
            if isinstance(source, str) and source in index:
                continue
            wall, cpu = time.perf_counter(), time.process_time()
            ds = load(source, root) if isinstance(source, str) else source
            if ds.name in index:
                continue
            index.add_dataset(ds)
            if folder is not None:
                index.save(folder)
            if progress:
                print(
                    f"[similarity] {len(index)} {ds.name}: {len(ds.splits.get('train', ds.X))} series, "
                    f"{len(index.prototypes(ds.name))} prototypes, {time.perf_counter() - wall:.1f} s wall "
                    f"{time.process_time() - cpu:.1f} s cpu (total {time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
        return index

    def _distances_to(self, prototypes: Sequence[np.ndarray]) -> np.ndarray:
        """Dataset distance (min DTW over prototype pairs) from a prototype set to every source."""
        out = np.full(len(self), np.inf)
        channels = prototypes[0].shape[0]
        same = [i for i, s in enumerate(self._sources) if s["n_channels"] == channels]
        if not same:
            return out
        tgt = [(p.shape[1], i, p) for i in same for p in self._prototypes[i]]
        tgt.sort(key=lambda t: t[0])  # lanes of a block are padded to the longest: keep lengths together
        series = [np.asarray(p.T, np.float64) for p in prototypes] + [np.asarray(p.T, np.float64) for _, _, p in tgt]
        group_of = {i: g for g, i in enumerate(same)}
        groups = np.array([group_of[i] for _, i, _ in tgt], dtype=np.int64)
        best = min_cost_groups(
            SeriesSet.from_list(series, channels),
            np.arange(len(prototypes)),
            np.arange(len(prototypes), len(series)),
            groups,
            len(same),
            Band.of(self.params["window"]),
        )
        out[same] = np.sqrt(best)
        return out

    # ----------------------------------------------------------------- queries
    def distance(self, a: str, b: str) -> float:
        """bigdata18 dataset distance: minimum DTW over (prototype of a, prototype of b)."""
        return float(self._distances[self._position(a), self._position(b)])

    def neighbors(self, name: str, k: int | None = 5, exclude: str | Iterable[str] = ()) -> list[tuple[str, float]]:
        """The k sources nearest to an indexed source (itself excluded), nearest first."""
        i = self._position(name)
        return self._ranked(self._distances[i], k, {name, *_names(exclude)})

    def rank(
        self, target: str | Dataset | Sequence[np.ndarray], k: int | None = 5, exclude: str | Iterable[str] = ()
    ) -> list[tuple[str, float]]:
        """Sources ranked for a target: an indexed name, a Dataset (its train split is reduced to prototypes) or
        a sequence of prototype series ``(t,)``/``(c, t)``. Sources of another channel count are left out.
        """
        if isinstance(target, str):
            return self.neighbors(target, k, exclude)
        if isinstance(target, Dataset):
            _, prototypes = self.make_prototypes(*split_series(target))
        else:
            prototypes = [np.asarray(as_series(p).T, dtype=np.float32) for p in target]
        return self._ranked(self._distances_to(prototypes), k, set(_names(exclude)))

    def _ranked(self, row: np.ndarray, k: int | None, exclude: set[str]) -> list[tuple[str, float]]:
        pairs = [(n, float(d)) for n, d in zip(self.names, row) if n not in exclude and np.isfinite(d)]
        pairs.sort(key=lambda p: (p[1], p[0]))
        return pairs if k is None else pairs[:k]

    # ----------------------------------------------------------------- storage
    def save(self, folder: str | Path) -> Path:
        """Write ``prototypes.safetensors`` then ``index.json`` (each replaced atomically) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {
            f"{s['name']}/{k}": np.ascontiguousarray(p)
            for s, protos in zip(self._sources, self._prototypes)
            for k, p in enumerate(protos)
        }
        write_bytes_atomic(folder / PROTOTYPES_FILE, save(tensors))  # save_file would create it 0600
        meta = {
            "format_version": FORMAT_VERSION,
            "method": "bigdata18: per-class DBA prototypes of the train split, dataset distance = min DTW over "
            "prototype pairs",
            "params": self.params,
            "sources": self._sources,
            "distances": [[_json_float(d) for d in row] for row in self._distances],
        }
        write_text_atomic(folder / INDEX_FILE, json.dumps(meta, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path | None = None) -> SimilarityIndex:
        """An index saved by :meth:`save` (default: the repository's ``zoo/similarity``); tensors of sources that
        index.json does not list (an interrupted save) are ignored."""
        folder = Path(folder) if folder is not None else DEFAULT_FOLDER
        path = folder / INDEX_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"no {INDEX_FILE} in {folder}; build the index first "
                "(scripts/build_similarity_index.py or SimilarityIndex.build)."
            )
        meta = json.loads(path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: format_version {meta.get('format_version')} is not {FORMAT_VERSION}; rebuild it."
            )
        index = cls(**meta["params"])
        tensors = load_file(str(folder / PROTOTYPES_FILE))
        for s in meta["sources"]:
            keys = [f"{s['name']}/{k}" for k in range(len(s["classes"]))]
            missing = [key for key in keys if key not in tensors]
            if missing:
                raise ValueError(f"{folder / PROTOTYPES_FILE} lacks {missing[:3]}; the index is damaged, rebuild it.")
            index._sources.append(s)
            index._prototypes.append([tensors[key] for key in keys])
        index._distances = np.array([[float(d) for d in row] for row in meta["distances"]], dtype=np.float64)
        index._distances = index._distances.reshape(len(index._sources), len(index._sources))
        return index


def _names(exclude: str | Iterable[str]) -> Iterable[str]:
    """Source names to leave out: one name given as a string is that name, not its letters."""
    return [exclude] if isinstance(exclude, str) else exclude


def split_series(dataset: Dataset, split: str = "train") -> tuple[np.ndarray | list[np.ndarray], np.ndarray | None]:
    """A split's series and class names (None for regression: one group), as the index reduces them.

    The catalogue stretches unequal UCR series to one length for the networks; DTW wants the originals, so when
    the Dataset records that it equalised lengths, the split's file (``source_files``, in split order) is parsed
    again with its NaN padding, which ``as_series`` drops per series.
    """
    X, y = dataset.split(split)
    labels = np.asarray(dataset.classes)[y] if dataset.task == "classification" else None
    files = dataset.meta.get("source_files") or []
    names = list(dataset.splits)
    if "variable_length" in dataset.meta and split in names and len(files) == len(names):
        from tshub.data.readers import parse_file

        raw = parse_file(files[names.index(split)]).X
        if len(raw) == len(X):
            return list(raw), labels
    return X, labels


def _label_key(label: Any) -> tuple[int, float, str]:
    """Numbers in numeric order before other labels."""
    try:
        return 0, float(label), ""
    except (TypeError, ValueError):
        return 1, 0.0, str(label)


def _json_float(x: float) -> float | str:
    return float(x) if np.isfinite(x) else "inf"
