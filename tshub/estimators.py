"""scikit-learn / aeon estimators: a tshub fine-tune (or a training from scratch) behind ``fit`` / ``predict``.

``TSHubClassifier`` and ``TSHubRegressor`` take numpy arrays (n, t) or (n, c, t), aeon's equal-length collections
(3-D numpy, or a list of (c, t) arrays) and labels of any type (``classes_`` as in scikit-learn), and work with
``clone``, pipelines, ``cross_val_score`` and ``GridSearchCV``. ``fit`` carves its validation split (stratified,
seeded, or in time order: ``split_order``) out of the data it is given, so the test folds of a cross-validation stay
untouched. They pass scikit-learn's ``check_estimator`` (tests/test_estimators.py).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from tshub.data.dataset import (
    Dataset,
    Task,
    label_text,
    refuse_incomplete_series,
    series_as_float32,
    typed_class_values,
    warn_if_channels_last,
)
from tshub.training.recipes import AUTO, TrainConfig, is_count


class _TSHubEstimator(BaseEstimator):
    """What both estimators share; ``_task`` says which one.

    Parameters
    ----------
    source : "auto", a model id / Hub repo id / checkpoint folder, or None
        "auto": the first pick of ``tshub.recommend`` (of ``arch``, among ``candidates`` or the whole zoo) on the
        training data; an id: that checkpoint; None: train ``arch`` from scratch.
    arch : architecture to train from scratch, and the one "auto" recommends (None: any, for "auto").
    lr_multiplier : ω of the transferred layers: a number, a list, or "grid" (Otović's ten), chosen on validation.
    search : how several ω are compared: "halving" (successive halving) or "full".
    recipe : "auto" (the preset for the training size), a preset name, or a ``TrainConfig``.
    max_epochs : cap on the recipe's epochs (per ω).
    preprocessing : None (the source's kind, "znorm" from scratch), "znorm", "minmax_mask" or "identity".
    relative_target : regression: learn each target in its series' normalised space (True) or standardised (False);
        None: relative exactly when the training targets follow their series' level (a forecast of the next value),
        as ``tshub.finetune`` decides it.
    use_stream_max : whether the model takes Otović's raw per-series maximum as an input (None: as the source does;
        from scratch, where the preprocessing produces it, "minmax_mask"; not beside a relative target); False for
        data in other units.
    arch_kwargs : architecture keyword arguments for training from scratch (e.g. ``{"filters": (16, 32, 16)}``).
    validation : "split" (a stratified fifth of the series held out to choose the weights, ω and the stop) or
        "train" (every series trains and chooses), as ``tshub.finetune`` takes it.
    split_order : how the validation split is carved (``tshub.data.splits.SPLIT_ORDERS``): "auto" (chronological
        blocks after a purged gap when the rows are sliding windows of a series, of each of several, else at
        random), "time" (rows in time order: the last ones are held out, windows detected or not) or "random" (even
        for windows), as
        ``tshub.finetune`` takes it. A forecaster fitted on rows in time order wants "time".
    candidates : model ids or folders "auto" ranks (None: every checkpoint the stores list).
    random_state : int seed (None: a fresh one per fit), as in scikit-learn.
    device : "cpu", "cuda", ... (None: CUDA when available).
    progress : True (tqdm, or lines when not in a terminal), "lines" or False.

    Attributes after fit: ``model_`` (the trained ``TimeSeriesModel``), ``result_`` (its ``FitResult``),
    ``source_`` (the checkpoint fine-tuned, None from scratch), ``lr_multiplier_`` (the ω kept),
    ``n_channels_``, ``n_timepoints_`` and scikit-learn's ``n_features_in_``.
    """

    _task = ""
    n_channels_: int
    n_timepoints_: int
    _fitted_ndim: int

    def __init__(
        self,
        source: str | None = AUTO,
        *,
        arch: str | None = "fcn",
        lr_multiplier: float | str | Sequence[float] = "grid",
        search: str = "halving",
        recipe: str | TrainConfig = AUTO,
        max_epochs: int | None = None,
        preprocessing: str | None = None,
        relative_target: bool | None = None,
        use_stream_max: bool | None = None,
        arch_kwargs: dict[str, Any] | None = None,
        validation: str = "split",
        split_order: str = "auto",
        candidates: Sequence[str] | None = None,
        random_state: int | None = 0,
        device: str | None = None,
        progress: bool | str = True,
    ):
        self.source = source
        self.arch = arch
        self.lr_multiplier = lr_multiplier
        self.search = search
        self.recipe = recipe
        self.max_epochs = max_epochs
        self.preprocessing = preprocessing
        self.relative_target = relative_target
        self.use_stream_max = use_stream_max
        self.arch_kwargs = arch_kwargs
        self.validation = validation
        self.split_order = split_order
        self.candidates = candidates
        self.random_state = random_state
        self.device = device
        self.progress = progress

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # ------------------------------------------------------------------ fitting
    def _fit(
        self, series: np.ndarray, y: np.ndarray, classes: list[str] | None, class_values: list[int] | None = None
    ) -> _TSHubEstimator:
        import tshub

        self._check_params()
        data = Dataset(
            name=type(self).__name__,
            X=series,
            y=y,
            task=cast(Task, self._task),  # set by TSHubClassifier and TSHubRegressor
            classes=classes,
            splits={"train": np.arange(len(series))},
            class_values=class_values,
        )
        warn_if_channels_last(data)  # as Dataset.from_arrays does: the same array, the same advice
        seed = self._seed()
        common: dict[str, Any] = {
            "seed": seed,
            "recipe": self.recipe,
            "max_epochs": self.max_epochs,
            "validation": self.validation,
            "split_order": self.split_order,
            "device": self.device,
            "progress": self.progress,
            "relative_target": self.relative_target,
            "use_stream_max": self.use_stream_max,
        }
        self.source_ = self._source_for(data, tshub)
        if self.source_ is None:
            if self.arch is None:
                raise ValueError("source=None trains from scratch: give arch (e.g. arch='fcn').")
            self.result_ = tshub.train_from_scratch(
                self.arch, data, preprocessing=self.preprocessing or "znorm", arch_kwargs=self.arch_kwargs, **common
            )
        else:
            self.result_ = tshub.load_pretrained(self.source_).finetune(
                data, lr_multiplier=self.lr_multiplier, search=self.search, preprocessing=self.preprocessing, **common
            )
        self.model_ = self.result_.model
        self.lr_multiplier_ = self.result_.lr_multiplier
        return self

    def _check_params(self) -> None:
        """Refuse values that fit would otherwise ignore (ω and the search when training from scratch) or misread
        (a fractional epoch count, a negative seed), as scikit-learn estimators validate in fit."""
        from tshub.data.splits import SPLIT_ORDERS
        from tshub.training.finetuning import lr_multipliers
        from tshub.training.search import SEARCHES

        lr_multipliers(self.lr_multiplier)
        if self.search not in SEARCHES:
            raise ValueError(f"search must be one of {SEARCHES}, got {self.search!r}.")
        if self.split_order not in SPLIT_ORDERS:
            raise ValueError(f"split_order must be one of {SPLIT_ORDERS}, got {self.split_order!r}.")
        if self.max_epochs is not None and (not is_count(self.max_epochs) or self.max_epochs < 1):
            raise ValueError(f"max_epochs must be a positive integer or None, got {self.max_epochs!r}.")
        if isinstance(self.random_state, numbers.Integral) and self.random_state < 0:
            raise ValueError(f"random_state must be None or an integer >= 0, got {self.random_state!r}.")

    def _source_for(self, data: Dataset, tshub: Any) -> str | None:
        """The checkpoint to fine-tune: ``source``, or for "auto" the recommender's first pick (its folder when
        the candidates were given as folders)."""
        if self.source != AUTO:
            return self.source
        ranking = tshub.recommend(data, k=1, arch=self.arch, candidates=self.candidates)
        if not len(ranking):
            raise ValueError(
                "source='auto': the recommender scored no checkpoint"
                + (f" of arch {self.arch}" if self.arch else "")
                + " (skipped: "
                + "; ".join(f"{s['id']}: {s['reason']}" for s in ranking.skipped[:3])
                + "); name a source, or pass source=None to train from scratch."
            )
        if ranking.note is not None:  # e.g. every candidate scored the same: the pick is arbitrary
            warnings.warn(f"source='auto': {ranking.note}", stacklevel=3)
        if self.candidates is None:
            return str(ranking[0]["id"])
        from tshub.recommender import candidate_pool

        return next(c.location for c in candidate_pool(self.candidates, self.arch) if c.id == ranking[0]["id"])

    def _seed(self) -> int:
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _forget_fit(self) -> None:
        """Drop what a previous fit set, first thing in ``fit``: a refit that fails, on its input's checks or in
        training, leaves an unfitted estimator, not the old model under new labels."""
        for name in FITTED:
            if name in self.__dict__:
                delattr(self, name)

    # ------------------------------------------------------------------ input
    def _series(self, X: Any, y: Any = None, *, reset: bool) -> Any:
        """float32 (n, c, t) from (n, t), (n, c, t) or a list of equal-shape (c, t) arrays, shape-checked; with
        ``reset`` (fit) also the checked targets: ``(X, y)``.

        Univariate series may come as (n, t) or (n, 1, t) at fit and predict alike; scikit-learn's feature count
        and names are those of the layout seen at fit."""
        X = _stack_collection(X)
        _refuse_nested_frame(X)
        _refuse_non_series_shape(X)
        if reset:
            regression = self._task == "regression"
            X, y = validate_data(
                self,
                X,
                y,
                reset=True,
                allow_nd=True,
                dtype=[np.float64, np.float32],  # float32 kept; ints and float64 reach series_as_float32 whole
                ensure_all_finite=False,  # _refuse_missing says what to do, in time-series terms
                ensure_min_samples=2,
                y_numeric=regression,
                multi_output=regression,
            )
        else:
            check_is_fitted(self, "model_")
            if isinstance(X, (list, tuple)):  # nested lists: the layout check below reads an array's shape
                X = np.asarray(X)
            if getattr(X, "ndim", 0) in (2, 3) and self.n_channels_ == 1:
                X = _univariate_as(X, self._fitted_ndim)
            shape = getattr(X, "shape", None)
            if shape is not None and 3 in (len(shape), self._fitted_ndim):
                self._check_fitted_layout(shape)  # scikit-learn's own check would count channels as features
            X = validate_data(
                self, X, reset=False, allow_nd=True, dtype=[np.float64, np.float32], ensure_all_finite=False
            )
        X = series_as_float32(X)  # warns where float32 flattens a series
        _refuse_missing(X)
        if not reset:
            self._check_fitted_layout(X.shape)
            return X[:, None, :] if X.ndim == 2 else X
        self._fitted_ndim = X.ndim
        X = X[:, None, :] if X.ndim == 2 else X
        self.n_channels_, self.n_timepoints_ = X.shape[1], X.shape[2]
        return X, y

    def _check_fitted_layout(self, shape: tuple[int, ...]) -> None:
        """Refuse series whose channels × timepoints differ from those seen at fit, naming both."""
        channels, timepoints = (1, shape[1]) if len(shape) == 2 else shape[1:]
        if (channels, timepoints) != (self.n_channels_, self.n_timepoints_):
            raise ValueError(
                f"X has series of {channels} channel(s) × {timepoints} timepoints, but "
                f"{type(self).__name__} was fitted on {self.n_channels_} × {self.n_timepoints_}; "
                "resample or pad them to the training shape."
            )

    def _outputs(self, X: Any) -> np.ndarray:
        return self._series(X, reset=False)


#: What ``fit`` sets (scikit-learn's and tshub's): cleared when a fit starts.
FITTED = (
    "model_",
    "result_",
    "source_",
    "lr_multiplier_",
    "classes_",
    "n_channels_",
    "n_timepoints_",
    "_fitted_ndim",
    "n_features_in_",
    "feature_names_in_",
)


class TSHubClassifier(ClassifierMixin, _TSHubEstimator):
    __doc__ = (
        "Time-series classifier: a tshub checkpoint fine-tuned (or an architecture trained) by ``fit``.\n"
        + (_TSHubEstimator.__doc__ or "").split("\n", 2)[2]
    )
    _task = "classification"

    def fit(self, X: Any, y: Any) -> TSHubClassifier:
        """Fine-tune (or train) on series ``X`` and labels ``y`` of any type; sets ``classes_``."""
        self._forget_fit()
        X, y = self._series(X, y, reset=True)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"a classifier needs at least two classes, got one class ({self.classes_[0]!r}) in y.")
        classes = [label_text(c) for c in self.classes_]  # as a Dataset names them: 7.0 is the class '7'
        # the model keeps numeric labels' values, so its own predict (and a saved checkpoint's) returns them too
        return self._fit(X, codes.reshape(-1), classes, typed_class_values(self.classes_, classes))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        series = self._outputs(X)
        return self.model_.predict_proba(series)

    def predict(self, X: Any) -> np.ndarray:
        """Labels of ``classes_`` (the type ``y`` had)."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]


class TSHubRegressor(RegressorMixin, _TSHubEstimator):
    __doc__ = (
        "Time-series regressor: a tshub checkpoint fine-tuned (or an architecture trained) by ``fit``.\n"
        + (_TSHubEstimator.__doc__ or "").split("\n", 2)[2]
    )
    _task = "regression"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X: Any, y: Any) -> TSHubRegressor:
        """Fine-tune (or train) on series ``X`` and float targets ``y`` of shape (n,) or (n, k)."""
        self._forget_fit()
        _refuse_text_targets(y, type(self).__name__)
        X, y = self._series(X, y, reset=True)
        return self._fit(X, np.asarray(y, dtype=np.float64), None)

    def predict(self, X: Any) -> np.ndarray:
        """Values, (n,) for one target."""
        series = self._outputs(X)
        return self.model_.predict(series).astype(np.float64)


def _refuse_missing(X: np.ndarray) -> None:
    """Refuse NaN or infinite values (a DatasetError, a ValueError as scikit-learn expects), saying what
    time-series data usually means by them."""
    refuse_incomplete_series(
        X,
        "these estimators need finite series of one length. NaN padding of shorter series: pad or resample them "
        "first (aeon's Padder, or tshub.datasets.read_file(..., variable_length='pad'|'resample')); gaps inside "
        "series: interpolate them (missing='interpolate').",
    )


def _refuse_nested_frame(X: Any) -> None:
    """Refuse a DataFrame whose cells are series (sktime's nested layout): pandas' "setting an array element with a
    sequence" said nothing of it. A DataFrame of numbers is (n, timepoints), and is taken."""
    if hasattr(X, "iloc") and getattr(X, "ndim", 0) == 2 and X.size and np.ndim(X.iloc[0, 0]) > 0:
        raise ValueError(
            "X is a DataFrame whose cells are series (sktime's nested layout); these estimators take arrays (n, "
            "timepoints) or (n, channels, timepoints): pass np.stack([np.stack([np.asarray(cell) for cell in row]) "
            "for row in X.to_numpy()])."
        )


def _refuse_non_series_shape(X: Any) -> None:
    """Refuse what is no collection of series, before scikit-learn's check: its advice for a 1-D array, "reshape(-1,
    1) if your data has a single feature", would make series of one timepoint each."""
    shape = X.shape if hasattr(X, "shape") else np.asarray(X).shape  # np.shape would refuse array-likes
    if len(shape) == 1:
        raise ValueError(
            f"X of shape {shape} is one series: Reshape your data with X.reshape(1, -1) (these estimators take "
            "collections of series, (n, timepoints) or (n, channels, timepoints))."
        )
    if len(shape) not in (2, 3):
        raise ValueError(f"expected series of shape (n, timepoints) or (n, channels, timepoints), got {shape}.")


def _refuse_text_targets(y: Any, estimator: str) -> None:
    """Send text targets to the classifier: numpy's "could not convert string to float" says neither that a
    regressor needs numbers nor what takes labels."""
    if y is None:
        return  # scikit-learn's validate_data says y is required
    targets = np.asarray(y)
    if targets.dtype.kind not in "OUS":
        return
    try:
        targets.astype(object).astype(np.float64)  # through Python's float: the error quotes 'dog', not np.str_
    except ValueError as error:
        raise ValueError(
            f"{estimator} needs numeric targets, got text ({error}); to predict class labels, use TSHubClassifier."
        ) from None


def _univariate_as(X: Any, ndim: int) -> Any:
    """(n, 1, t) as (n, t) or back, to match the layout a univariate estimator was fitted on (a DataFrame that must
    change layout becomes an array: it has no third axis)."""
    if ndim == 2 and X.ndim == 3 and X.shape[1] == 1:
        return np.asarray(X)[:, 0, :]
    return np.asarray(X)[:, None, :] if ndim == 3 and X.ndim == 2 else X


def _stack_collection(X: Any) -> Any:
    """aeon's "np-list" (a list of (c, t) arrays), or a list of univariate (t,) arrays, as one (n, c, t) or (n, t)
    array; anything else unchanged."""
    if (
        not isinstance(X, (list, tuple))
        or not X
        or not all(isinstance(x, np.ndarray) and x.ndim in (1, 2) for x in X)
        or len({x.ndim for x in X}) > 1
    ):
        return X
    shapes = {x.shape for x in X}
    if len(shapes) > 1:
        raise ValueError(
            f"the series have different shapes {sorted(shapes)[:4]}: these estimators need equal "
            "channels and lengths; pad, truncate or resample them first (e.g. aeon's "
            "collection transformers, or tshub's readers' variable_length option)."
        )
    return np.stack(X)
