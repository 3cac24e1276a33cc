"""The in-memory dataset every part of tshub exchanges: float32 (n, c, t) series, targets, splits, provenance."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from tshub.naming import closest

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = ("classification", "regression")
#: The splits every part of tshub reads: "train" fits the model, "val" selects its weights and stops it, "test"
#: scores it. Another name would be kept and silently ignored, so it is refused.
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")


class DatasetError(ValueError):
    """Raised when data does not have the shape, type or content tshub expects."""


@dataclass
class Dataset:
    """Series ``X`` (float32, shape (n, channels, length)), targets ``y`` and named splits.

    For classification ``y`` holds int64 indices into ``classes`` (the original labels as strings);
    for regression ``y`` holds float64 values (shape (n,) or (n, k)) and ``classes`` is None.
    ``class_values`` keeps the original labels' values, in the order of ``classes``, when they were numbers (ints,
    integral floats as ints, or bools), so predictions compare equal with them; None when they were text.
    ``splits`` maps a split name (``SPLIT_NAMES``: "train", "val", "test") to an int64 index array into X (given as
    indices or as a boolean mask over the series).
    ``stream_max`` optionally carries a per-series raw amplitude (Otović et al.) computed by a reader.
    ``meta`` records provenance: source files, citation, domain, sampling rate, ...
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    task: Task
    classes: list[str] | None = None
    splits: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    class_values: list[int] | None = None

    def __post_init__(self) -> None:
        self.X = series_as_float32(self.X)
        if self.X.ndim == 2:
            self.X = self.X[:, None, :]
        if self.X.ndim != 3:
            raise DatasetError(
                f"dataset {self.name!r}: X must have shape (n, channels, length), got {self.X.shape}; "
                "reshape univariate data to (n, 1, length)."
            )
        if self.task not in TASKS:
            raise DatasetError(f"dataset {self.name!r}: task must be one of {TASKS}, got {self.task!r}.")
        if len(self.y) != len(self.X):
            raise DatasetError(
                f"dataset {self.name!r}: {len(self.X)} series but {len(self.y)} targets; they must match one to one."
            )
        _refuse_targets_of_many_dimensions(self.name, np.asarray(self.y))
        if self.task == "classification":
            y = np.asarray(self.y)
            if y.dtype.kind == "f" and len(y) and not np.all(np.mod(y, 1) == 0):
                raise DatasetError(
                    f"dataset {self.name!r}: class indices must be whole numbers, got {y[np.mod(y, 1) != 0][0]}; "
                    "use Dataset.from_arrays to encode raw labels (or task='regression' for values)."
                )
            self.y = y.astype(np.int64)
            if self.classes is None:
                raise DatasetError(f"dataset {self.name!r}: a classification dataset needs its class names.")
            self.classes = [str(c) for c in self.classes]
            if len(self.y) and (self.y.min() < 0 or self.y.max() >= len(self.classes)):
                raise DatasetError(
                    f"dataset {self.name!r}: class indices must lie in [0, {len(self.classes)}), "
                    f"got [{self.y.min()}, {self.y.max()}]; use Dataset.from_arrays to encode raw labels."
                )
            if self.class_values is not None:
                self.class_values = self._checked_class_values(self.class_values)
        else:
            y = np.asarray(self.y, dtype=np.float64)  # float32 keeps 7 digits: a price 1e8 would move in steps of 8
            # one output is (n,), as models predict it: a column (n, 1) met (n,) predictions as an (n, n) outer sum
            self.y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
            self.classes, self.class_values = None, None
        self.splits = dict(self.splits)  # the dataset's own: a caller's dict (or another dataset's) stays as it is
        self._refuse_unknown_split_names()
        for split_name, idx in list(self.splits.items()):
            idx = self._split_index_array(split_name, idx)
            if len(idx) and (idx.min() < 0 or idx.max() >= len(self.X)):
                raise DatasetError(
                    f"dataset {self.name!r}: split {split_name!r} indexes outside the {len(self.X)} series."
                )
            self.splits[split_name] = idx

    def _checked_class_values(self, values: Any) -> list[int]:
        """``values`` as Python ints or bools, refused unless they are ``classes`` as values, one for one."""
        values = _as_python_scalars(values)
        if (
            not isinstance(values, list)
            or not all(isinstance(v, int) for v in values)
            or [label_text(v) for v in values] != self.classes
        ):
            raise DatasetError(
                f"dataset {self.name!r}: class_values must be the classes {self.classes!r:.200} as ints or bools, "
                f"in the same order, got {values!r:.200}."
            )
        return values

    def _refuse_unknown_split_names(self) -> None:
        """Refuse split names outside ``SPLIT_NAMES`` (a "valid" split was kept but never read, and validation was
        carved out of "train" instead), naming the close one each was likely meant to be."""
        unknown = [str(name) for name in self.splits if name not in SPLIT_NAMES]
        if not unknown:
            return
        guesses = [closest(name, SPLIT_NAMES, n=1, cutoff=0.4) for name in unknown]
        described = ", ".join(
            f"{name!r}" + (f" (did you mean {guess[0]!r}?)" if guess else "") for name, guess in zip(unknown, guesses)
        )
        raise DatasetError(
            f"dataset {self.name!r}: unknown split{'s' if len(unknown) > 1 else ''} {described}; splits are named "
            "'train', 'val' and 'test' ('train' fits the model, 'val' selects its weights and when to stop, 'test' "
            "scores it): rename them."
        )

    def _split_index_array(self, split_name: str, idx: Any) -> np.ndarray:
        """A split's indices as int64; a boolean mask over the series selects those it marks (cast to int, it
        would be the indices 0 and 1)."""
        idx = np.asarray(idx)
        if idx.dtype != bool:
            return idx.astype(np.int64)
        if idx.shape != (len(self.X),):
            raise DatasetError(
                f"dataset {self.name!r}: split {split_name!r} is a boolean mask of {idx.size} values for "
                f"{len(self.X)} series; give one value per series, or the indices of the split's series."
            )
        return np.flatnonzero(idx)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_arrays(
        cls,
        X: np.ndarray,
        y: np.ndarray,
        *,
        name: str = "arrays",
        task: Task | None = None,
        classes: list[Any] | None = None,
        splits: dict[str, np.ndarray] | None = None,
        meta: dict[str, Any] | None = None,
        variable_length: str | None = None,
        missing: str | None = None,
    ) -> Dataset:
        """Build a dataset from raw arrays; labels of any type are encoded, the task is inferred when not given.

        The task is "regression" for float targets with a fractional part, "classification" otherwise. Missing
        targets (NaN, inf, None) are refused, unless ``meta["unlabeled"]`` says the regression's series are to be
        predicted (read with ``label_column=None``; training refuses them). Series of unequal lengths (a list of
        (t,) or (c, t) arrays, or NaN padding after a series' end) and gaps (NaN inside) take the readers'
        ``variable_length`` and ``missing`` options (``tshub.data.readers.lengths.regularize``).
        """
        if variable_length or missing or _ragged(X):
            from tshub.data.readers.lengths import nan_padded, regularize

            X, handled = regularize(
                nan_padded(X), variable_length=variable_length or "error", missing=missing or "error", source=name
            )
            meta = {**(meta or {}), **handled}
        _refuse_no_series(name, X)
        y = label_array(_as_python_scalars(y)) if isinstance(y, (list, tuple)) else np.asarray(y)
        _refuse_targets_of_other_types(name, y)
        if y.ndim == 0:
            raise DatasetError(
                f"dataset {name!r}: from_arrays needs y, one target per series ({len(X)} series), got {y.item()!r}: "
                "pass the class labels or regression values; series to predict go to model.predict(X) as they are."
            )
        _refuse_targets_of_many_dimensions(name, y)
        if task is None:
            _refuse_one_hot_targets(name, y)
        if not ((meta or {}).get("unlabeled") and task == "regression"):
            _refuse_missing_targets(name, y)
        inferred = task is None
        if task is None:
            task = infer_task(y)
        class_values = None
        if task == "classification":
            labels = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
            _refuse_several_labels(name, labels)
            y, classes = encode_labels(labels, classes)
            class_values = typed_class_values(labels, classes)
            if inferred and labels.dtype.kind in "iuf":
                _warn_if_quantities(name, y)
        elif y.dtype.kind in "OUS":
            _refuse_text_targets(name, y)
        ds = cls(
            name=name,
            X=np.asarray(X),
            y=y,
            task=task,
            classes=classes,
            splits=dict(splits or {}),
            meta=dict(meta or {}),
            class_values=class_values,
        )
        warn_if_channels_last(ds)
        return ds

    @classmethod
    def from_file(cls, path: str, **kwargs: Any) -> Dataset:
        """Read any supported file (.tsv[.gz], .txt, .ts, .arff, .csv, .npz); see ``tshub.data.readers``."""
        from tshub.data.readers import read_file

        return read_file(path, **kwargs)

    # ----------------------------------------------------------------- views
    @property
    def n_channels(self) -> int:
        return int(self.X.shape[1])

    @property
    def length(self) -> int:
        return int(self.X.shape[2])

    @property
    def n_outputs(self) -> int:
        """Width of a model head for this dataset: the class count, or the regression target width."""
        if self.task == "classification":
            return len(self.classes or [])
        return 1 if self.y.ndim == 1 else int(self.y.shape[1])

    def split(self, name: str, *, labels: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(X, y)`` of a named split; for classification ``y`` holds integer codes (indices into
        ``classes``), or with ``labels=True`` the original labels (``class_values`` when the labels were numbers,
        else the strings of ``classes``), as a classifier's ``predict`` returns them."""
        idx = self._split_indices(name)
        y = self.y[idx]
        if labels and self.task == "classification":
            y = np.asarray(self.classes if self.class_values is None else self.class_values)[y]
        return self.X[idx], y

    def subset(self, name: str) -> Dataset:
        """The named split as a dataset of its own (no splits), keeping classes and provenance."""
        idx = self._split_indices(name)
        return Dataset(
            name=f"{self.name}[{name}]",
            X=self.X[idx],
            y=self.y[idx],
            task=self.task,
            classes=self.classes,
            meta=meta_of_rows(self.meta, idx),
            class_values=self.class_values,
        )

    def with_splits(self, splits: dict[str, np.ndarray], **meta: Any) -> Dataset:
        """A copy sharing the arrays with new splits (and extra provenance)."""
        return Dataset(
            name=self.name,
            X=self.X,
            y=self.y,
            task=self.task,
            classes=self.classes,
            splits=splits,
            meta={**self.meta, **meta},
            class_values=self.class_values,
        )

    def ordered_like(self, channels: list[str] | None) -> Dataset:
        """This dataset with its named channels (``meta["channel_names"]``, a long table's) in the order of
        ``channels``, those a model learned on: a channel's place in a long table is the order its columns or kinds
        happen to come in, which another export changes. Unchanged where either names none; refused where they name
        others."""
        named = self.meta.get("channel_names")
        if not channels or not named:
            return self
        if sorted(named) != sorted(channels):
            raise DatasetError(
                f"dataset {self.name!r} names channels {', '.join(map(str, named))}, but the model learned on channels "
                f"{', '.join(map(str, channels))}: give the data the channels (column or kind names) the model learned."
            )
        order = [list(named).index(c) for c in channels]
        return replace(self, X=self.X[:, order], meta={**self.meta, "channel_names": list(channels)})

    def _split_indices(self, name: str) -> np.ndarray:
        if name not in self.splits:
            raise KeyError(
                f"dataset {self.name!r} has no split {name!r} (it has {sorted(self.splits) or 'none'}); "
                "create splits with tshub.data.splits (e.g. official_with_validation or random_split)."
            )
        return self.splits[name]

    @property
    def split_sizes(self) -> dict[str, int]:
        """Series per split, by name."""
        return {name: int(len(rows)) for name, rows in self.splits.items()}

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description: sizes, classes or target range, split sizes."""
        out: dict[str, Any] = {
            "name": self.name,
            "task": self.task,
            "n": len(self.X),
            "channels": self.n_channels,
            "length": self.length,
            "splits": self.split_sizes,
        }
        if self.task == "classification":
            out["classes"] = list(self.classes or [])
            out["class_counts"] = np.bincount(self.y, minlength=len(self.classes or [])).tolist()
        elif len(self.y):
            out["target_range"] = [float(np.min(self.y)), float(np.max(self.y))]
        return out

    def __repr__(self) -> str:
        s = self.summary()
        extra = f"classes={len(self.classes)}" if self.classes is not None else "regression"
        return (
            f"Dataset({self.name!r}, n={s['n']}, channels={s['channels']}, length={s['length']}, "
            f"{extra}, splits={s['splits']})"
        )


def meta_of_rows(meta: dict[str, Any], rows: np.ndarray | None) -> dict[str, Any]:
    """``meta`` for the series ``rows`` of its dataset: ``series_ids`` (the ids a table names its series by) of
    those rows; None: of series that are none of them (windows cut from them), so without ids."""
    kept = {key: value for key, value in meta.items() if key != "series_ids"}
    if rows is not None and (named := meta.get("series_ids")):
        kept["series_ids"] = {"column": named["column"], "ids": [named["ids"][i] for i in rows]}
    return kept


#: A series keeping fewer float32 steps than this across its range has lost more than 1% of its range to rounding.
_FLOAT32_STEPS = 100


def series_as_float32(X: Any) -> np.ndarray:
    """Series as float32, tshub's precision, warning where the cast flattens them: a small variation on a large
    level (a meter reading 1e6 + 0.01 sin t) keeps only a few float32 values, and per-series z-normalisation then
    maps it to zeros without an error."""
    X = np.asarray(X)
    if X.dtype.kind in "iuf" and X.dtype.itemsize >= 4 and X.dtype != np.float32 and X.size:
        wide = X.astype(np.float64, copy=False)
        _refuse_values_beyond_float32(wide)
        high, low = np.fmax.reduce(wide, axis=-1), np.fmin.reduce(wide, axis=-1)  # NaN gaps ignored
        step = np.spacing(np.maximum(np.abs(high), np.abs(low)).astype(np.float32)).astype(np.float64)
        with np.errstate(invalid="ignore"):
            flattened = (high > low) & (high - low < _FLOAT32_STEPS * step)
        if flattened.any():
            first = tuple(int(i) for i in np.argwhere(flattened)[0])
            level, span = max(abs(high[first]), abs(low[first])), high[first] - low[first]
            where = ", ".join(f"{axis} {i}" for axis, i in zip(("series", "channel"), first))
            warnings.warn(
                f"{int(flattened.sum())} of {flattened.size} series (channels counted apart) lose their variation "
                f"when stored as float32, tshub's precision: the first ({where or 'the series'}) spans {span:.3g} "
                f"at a level of {level:.3g}, where float32 steps by {step[first]:.3g}. Subtract each series' level first (X - X.mean(axis=-1, keepdims=True):"
                " per-series z-normalisation, the default, ignores it anyway) or rescale the data.",
                stacklevel=3,
            )
    return np.ascontiguousarray(X, dtype=np.float32)


def _refuse_values_beyond_float32(X: np.ndarray) -> None:
    """Refuse finite values float32 cannot hold: cast, they became infinite, and were then refused as "NaN or
    infinite values" with advice about NaN padding (the readers refuse them as this does)."""
    beyond = np.isfinite(X) & (np.abs(X) > np.finfo(np.float32).max)
    if beyond.any():
        first = np.argwhere(beyond)[0]
        raise DatasetError(
            f"value {X[tuple(first)]:g} ({_position(X, first)}) is beyond float32's range (±3.4e38), in which tshub "
            "keeps series; rescale the data (e.g. divide by a power of ten)."
        )


def _position(X: np.ndarray, index: np.ndarray) -> str:
    """Where ``index`` lies in series (n, t) or (n, c, t), in words."""
    axes = ("series", "channel", "step") if X.ndim == 3 else ("series", "step")
    return ", ".join(f"{axis} {int(i)}" for axis, i in zip(axes, index))


#: What a Dataset's own options do about series with NaN (padding of shorter series, gaps), for the errors refusing them.
INCOMPLETE_SERIES_OPTIONS = (
    "Dataset.from_arrays and from_file take variable_length='truncate'|'pad'|'resample' (NaN padding of shorter "
    "series) and missing='interpolate' (gaps), or drop those series."
)


def refuse_incomplete_dataset(ds: Dataset) -> None:
    """Refuse a dataset whose series hold NaN or infinite values, counted over all its series and named by their
    index in it: checked before any split is made, so the numbers are those of the data the user gave."""
    refuse_incomplete_series(ds.X, INCOMPLETE_SERIES_OPTIONS)


def refuse_incomplete_series(X: np.ndarray, what_to_do: str) -> None:
    """Refuse series (n, t) or (n, c, t) holding NaN or infinite values: how many, where the first one is, and
    ``what_to_do`` in the caller's own terms (a Dataset's options, predict's, the estimators')."""
    if X.dtype.kind not in "fc" or X.ndim < 2:
        return  # integers are finite; other types and shapes are refused by the callers' own checks
    finite = np.isfinite(X)
    if finite.all():
        return
    where = _position(X, np.argwhere(~finite)[0])
    incomplete = int((~finite).reshape(len(X), -1).any(axis=1).sum())
    raise DatasetError(
        f"{incomplete} of {len(X)} series contain NaN or infinite values (the first: {where}); {what_to_do}"
    )


#: Floats of this size or more are all whole numbers, so being whole tells class labels from quantities only below it.
_WHOLE_FLOATS = 2.0**53


#: The most channels an array laid out (n, length, channels) by mistake usually has on its last axis (xyz, an IMU,
#: EMG electrodes); beyond it, more channels than time steps is as likely to be real data (UEA's PEMS-SF: 963 × 144).
_CHANNELS_LAST_WIDTH = 16


#: More classes than this, most of a single series, read as quantities rather than classes (``_warn_if_quantities``).
_QUANTITY_CLASSES = 20


def warn_if_channels_last(ds: Dataset) -> None:
    """Warn when ``X`` looks laid out (n, length, channels): a few values per channel and more channels than that
    reads as one tiny series per time step, and training then learns nothing; real data may be so, hence no error."""
    _, channels, length = ds.X.shape
    if length < channels and length <= _CHANNELS_LAST_WIDTH:
        warnings.warn(
            f"dataset {ds.name!r}: X of shape {ds.X.shape} reads as {channels} channels of {length} values each; "
            "tshub takes (n, channels, length): if your array is (n, length, channels), pass X.transpose(0, 2, 1).",
            stacklevel=3,
        )


def _warn_if_quantities(name: str, codes: np.ndarray) -> None:
    """Warn when whole numbers read as classes look like quantities (prices, counts): more than
    ``_QUANTITY_CLASSES`` classes, most with a single series, which no classifier learns or validates."""
    counts = np.bincount(codes)
    single = int(np.sum(counts == 1))
    if len(counts) > _QUANTITY_CLASSES and single > len(counts) / 2:
        warnings.warn(
            f"dataset {name!r}: its whole-number targets read as {len(counts)} classes, {single} of them with a "
            "single series; if they are quantities (prices, counts, ages), pass task='regression'.",
            stacklevel=3,
        )


def _ragged(X: Any) -> bool:
    """Whether ``X`` is a sequence of series of unequal shapes, or of channels of unequal lengths (numpy cannot
    stack it; ``nan_padded`` pads the former and refuses the latter, saying which series)."""
    if not isinstance(X, (list, tuple)):
        return False
    try:
        return len({np.shape(series) for series in X}) > 1
    except ValueError:  # a series whose channels numpy cannot stack
        return True


def require_dataset(data: Any) -> Dataset:
    """``data`` itself when it is a Dataset; anything else (arrays, a tuple) is refused saying how to make one,
    before it fails deep inside training with an AttributeError."""
    if not isinstance(data, Dataset):
        raise TypeError(
            f"expected a tshub Dataset, got {type(data).__name__}: build one from arrays with "
            "tshub.Dataset.from_arrays(X, y), from a file with Dataset.from_file(path), or load one by name "
            "(tshub.datasets.load)."
        )
    return data


def infer_task(y: np.ndarray) -> Task:
    """Classification for strings, integers and integral floats; regression for anything fractional, and for
    several targets per series (shape (n, k)), whatever their type; a column vector (n, 1) is one target."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim > 1 and y.dtype.kind in "iuf":
        return "regression"
    if y.dtype.kind in "OUSb" or y.dtype.kind in "iu":
        return "classification"
    finite = y[np.isfinite(y)] if y.dtype.kind == "f" else y
    whole = np.all(np.mod(finite, 1) == 0) and np.all(np.abs(finite) < _WHOLE_FLOATS)
    return "classification" if y.ndim == 1 and whole else "regression"


def _refuse_one_hot_targets(name: str, y: np.ndarray) -> None:
    """Targets of several outputs that are all 0 or 1 with one 1 per series are class labels one-hot encoded (Keras'
    to_categorical): inferred as a regression of as many outputs, they would train a model that predicts numbers."""
    if y.ndim != 2 or y.shape[1] < 2 or y.dtype.kind not in "biuf" or not len(y):
        return
    values = np.asarray(y, dtype=np.float64)
    if np.isin(values, (0.0, 1.0)).all() and (values.sum(axis=1) == 1).all():
        raise DatasetError(
            f"dataset {name!r}: its targets are one-hot encoded ({y.shape[1]} columns of 0 and 1, one 1 per series): "
            "give the class of each series instead, y.argmax(axis=1) (or the labels themselves), or task='regression' "
            "if they are truly regression targets."
        )


def missing_targets(y: np.ndarray) -> np.ndarray:
    """Per series, whether its target (any output of it) is missing: NaN, infinite or None, not a class ("nan") nor
    a value to regress on."""
    y = np.asarray(y)
    if y.dtype.kind == "f":
        missing = ~np.isfinite(y)
    elif y.dtype.kind == "O":
        missing = np.array([v is None or (isinstance(v, float) and not np.isfinite(v)) for v in y.ravel()])
        missing = missing.reshape(y.shape)
    else:
        return np.zeros(len(y), dtype=bool)
    return missing.any(axis=tuple(range(1, missing.ndim))) if missing.ndim > 1 else missing


def _refuse_no_series(name: str, X: Any) -> None:
    """Refuse arrays without a single series, as the readers refuse an empty file (else the error comes at training,
    about a training split without classes)."""
    shape = np.shape(X)
    if not shape or shape[0] == 0:
        raise DatasetError(
            f"dataset {name!r}: X holds no series (shape {shape}); from_arrays needs at least one, with its target."
        )


def _refuse_targets_of_other_types(name: str, y: np.ndarray) -> None:
    """Refuse targets that are neither labels nor real numbers (dates, durations, complex numbers), saying how to
    make them one or the other (numpy's own error, from task inference, said nothing of the targets)."""
    if y.dtype.kind in "biufOUS":
        return
    said = f"dataset {name!r}: the targets are"
    advice = "tshub takes class labels or real numbers: pass y.astype(str) to make each value a class"
    if y.dtype.kind not in "Mm":
        raise DatasetError(f"{said} {y.dtype} values; {advice}, or real numbers for a regression.")
    unit, _ = np.datetime_data(y.dtype)
    what, since = ("dates", " from 1970-01-01") if y.dtype.kind == "M" else ("durations", "")
    raise DatasetError(
        f"{said} {what} ({y.dtype}); {advice}, or numbers for a regression (y.astype('int64') counts them in units of "
        f"{unit!r}{since})."
    )


def _refuse_targets_of_many_dimensions(name: str, y: np.ndarray) -> None:
    """Refuse targets of more than two dimensions (a regression's (n, 2, 2) failed in numpy's broadcasting, inside
    training), saying how to lay them out."""
    if y.ndim > 2:
        raise DatasetError(
            f"dataset {name!r}: targets of shape {y.shape}; tshub takes one target per series, (n,), or k regression "
            f"targets per series, (n, k): pass y.reshape({len(y)}, -1)."
        )


def _refuse_several_labels(name: str, labels: np.ndarray) -> None:
    """Refuse several class labels per series: each row's text became a class ("['a', 'b']"), and predict returned
    it as such."""
    if labels.ndim > 1:
        raise DatasetError(
            f"dataset {name!r}: classification takes one class label per series, got labels of shape {labels.shape}; "
            "for several numeric targets per series pass task='regression', for several labels join each series' "
            "labels into one (e.g. 'a|b')."
        )


def _refuse_text_targets(name: str, y: np.ndarray) -> None:
    """Name the first regression target that is no number (numpy's conversion error names no series)."""
    for position, value in enumerate(y.ravel()):
        try:
            float(value)
        except (TypeError, ValueError):
            series = np.unravel_index(position, y.shape)[0]
            raise DatasetError(
                f"dataset {name!r}: regression targets must be numbers, got '{value}' (series {series}); pass "
                "task='classification' for class labels."
            ) from None


def refuse_unlabelled_training(ds: Dataset) -> None:
    """Refuse a regression whose training series lack targets (read with label_column=None): such data can be
    predicted, not trained on, nor ranked sources for."""
    if ds.task != "regression":
        return
    y_train = ds.split("train")[1]
    missing = int(missing_targets(y_train).sum())
    if missing:
        raise DatasetError(
            f"{ds.name!r} has no targets for {missing} of its {len(y_train)} training series (unlabelled data, "
            "read with label_column=None, can be predicted, not trained on): read the file with its labels."
        )


def _refuse_missing_targets(name: str, y: np.ndarray) -> None:
    """Name the first series whose target is missing (``missing_targets``)."""
    missing = missing_targets(y)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise DatasetError(
            f"dataset {name!r}: the target of series {i} is {y[i]}; every series "
            "needs a finite target (drop the unlabelled series, and predict them once the model is trained)."
        )


def encode_labels(y: np.ndarray, classes: list[Any] | None = None) -> tuple[np.ndarray, list[str]]:
    """Map raw labels to indices 0..K-1; numeric labels sort numerically ("2" before "10")."""
    y = _integral_floats_as_ints(np.asarray(y))
    labels = [label_text(v) for v in y.tolist()]
    if classes is None:
        uniq = sorted(set(labels), key=_label_sort_key)
    else:
        uniq = [label_text(c) for c in classes]
        unknown = sorted(set(labels) - set(uniq), key=_label_sort_key)
        if unknown:
            raise DatasetError(f"labels {unknown[:5]} are not among the declared classes {uniq[:10]}.")
    index = {c: i for i, c in enumerate(uniq)}
    return np.fromiter((index[v] for v in labels), dtype=np.int64, count=len(labels)), uniq


def typed_class_values(labels: np.ndarray, classes: list[str]) -> list[int] | None:
    """The values of ``classes`` when the raw ``labels`` were numbers (ints, integral floats, bools, as
    ``encode_labels`` reads them), so a model predicts values equal to them; None for text or fractional labels."""
    labels = _integral_floats_as_ints(_numbers_as_numbers(np.asarray(labels)))
    if labels.dtype.kind == "b":
        values: list[Any] = [c == "True" for c in classes]
    elif labels.dtype.kind in "iu" or _python_ints(labels):
        values = [int(c) if c.removeprefix("-").isdecimal() else None for c in classes]
    else:
        return None
    return values if [label_text(v) for v in values] == classes else None  # declared classes may be other text


def _numbers_as_numbers(y: np.ndarray) -> np.ndarray:
    """An object array of numbers of one kind (all bools, or all ints/floats: a pandas object column) as a numeric
    array, so its labels keep their type; other arrays as they are."""
    if y.dtype != object or not len(y):
        return y
    values = y.tolist()
    bools = [isinstance(v, (bool, np.bool_)) for v in values]
    numbers = [isinstance(v, (int, float, np.number)) and not b for v, b in zip(values, bools)]
    return label_array(values) if all(bools) or all(numbers) else y


def _python_ints(y: np.ndarray) -> bool:
    """Whether an object array holds only ints (no bools): those no numpy integer type holds together, as
    ``label_array`` keeps them (-1 beside 2**64 - 1, or 2**70)."""
    return y.dtype == object and all(isinstance(v, int) and not isinstance(v, bool) for v in y.tolist())


def _integral_floats_as_ints(y: np.ndarray) -> np.ndarray:
    """Float labels without a fractional part as int64 (1.0 is the class "1"); other labels as they are, floats past
    int64's range too (cast, 1e20 and 2e20 were one value, one class)."""
    whole = y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0) and np.all(np.abs(y) < 2.0**63)
    return y.astype(np.int64) if whole else y


def _as_python_scalars(values: Any) -> Any:
    """A sequence of labels as a list of Python scalars, exactly (``np.asarray`` takes ints past int64's range,
    [5, 2**63 + 1], through float64); anything else as it is."""
    if isinstance(values, np.ndarray):
        return values.tolist()
    if isinstance(values, (list, tuple)):
        return [v.item() if isinstance(v, np.generic) else v for v in values]
    return values


def label_array(labels: list[Any]) -> np.ndarray:
    """Labels (Python ints, bools or text) in a numpy array that holds them exactly: uint64 for ints past int64's
    range, an object array where no integer type holds them all (``np.asarray`` passes those through float64)."""
    ints = [v for v in labels if isinstance(v, int) and not isinstance(v, bool)]
    if ints and len(ints) == len(labels) and not -(2**63) <= min(ints) <= max(ints) < 2**63:
        return np.array(labels, dtype=np.uint64 if 0 <= min(ints) and max(ints) < 2**64 else object)
    return np.asarray(labels)


def label_text(v: Any) -> str:
    """A label's class name: its text, an integral float's as an int's (7.0 is the class "7")."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _label_sort_key(s: str) -> tuple[int, float, str]:
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)
