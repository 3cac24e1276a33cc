"""The non-pretrained baseline a hub model has to beat: MiniRocket (Dempster, Schmidt & Webb, KDD 2021), run on the
very splits of a fine-tune, so that ``tshub finetune --baseline`` can say on the user's own data whether fetching
a pretrained model paid.

Why not aeon's ``MiniRocketClassifier``, which the vendored reference accuracies (recommend/minirocket_ucr.tsv)
come from: aeon 1.6.0, the newest, pins numpy < 2.4, numba < 0.64 and pandas < 3.1, below what tshub installs, so it
cannot live in tshub's environment. This is the algorithm of the authors' reference code (minirocket.py and
minirocket_multivariate.py): the 84 length-9 kernels of weights −1 and 2, up to 32 dilations spread exponentially,
biases at low-discrepancy quantiles of one random training series' convolution per kernel and dilation, PPV
features (padding alternating), random channel combinations for multivariate data; then, as aeon does, a
StandardScaler without centring and a RidgeClassifierCV over 10 alphas from 1e-3 to 1e3 (scikit-learn); for a
regression a RidgeCV over the same alphas, as aeon's MiniRocketRegressor. The
convolutions run in torch. bench/minirocket_parity.py compares it with aeon's reference accuracies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tshub.data.catalogue import dataset_from
from tshub.data.dataset import Dataset
from tshub.data.splits import training_splits
from tshub.training.finetuning import VAL_FRACTION
from tshub.training.metrics import task_metrics

KERNEL_LENGTH = 9
#: The 84 kernels: weight 2 at three of the nine positions, −1 elsewhere.
KERNEL_INDICES = np.array(list(combinations(range(KERNEL_LENGTH), 3)), dtype=np.int64)
NUM_FEATURES = 10_000
MAX_DILATIONS_PER_KERNEL = 32
RIDGE_ALPHAS = np.logspace(-3, 3, 10)
CHUNK = 64  # series per convolution pass, at most
#: Values (series × channels × length) per convolution pass: long or many-channel series go a few at a time, so a
#: pass's outputs (× 84 kernels) and PPV comparisons stay in tens of MB (64 series of EigenWorms' 6 × 17,984 took GBs).
CHUNK_VALUES = 1 << 15


class BaselineNotApplicable(ValueError):
    """The data is outside what the baseline handles (gaps, one class): reports print why and go on; any other
    error is a fault and propagates."""


@dataclass(frozen=True)
class BaselineResult:
    """A baseline's metrics on a dataset's test and validation splits (empty where the split is absent)."""

    name: str
    metrics: dict[str, float]
    val_metrics: dict[str, float]
    elapsed_s: float

    def summary(self) -> dict[str, Any]:
        """What a report (the CLI's JSON, a service job's result) records of it."""
        return {"metrics": self.metrics, "val_metrics": self.val_metrics, "elapsed_s": self.elapsed_s}


@cache
def _kernels() -> torch.Tensor:
    """The 84 kernels as conv1d weights (84, 1, 9), made once."""
    weights = -torch.ones(len(KERNEL_INDICES), 1, KERNEL_LENGTH)
    for k, positions in enumerate(KERNEL_INDICES):
        weights[k, 0, positions] = 2.0
    return weights


def _dilations(length: int) -> tuple[np.ndarray, np.ndarray]:
    """Dilations spread exponentially up to (length − 1) / 8 and the number of features each gets (reference)."""
    per_kernel = NUM_FEATURES // len(KERNEL_INDICES)
    true_max = min(per_kernel, MAX_DILATIONS_PER_KERNEL)
    multiplier = per_kernel / true_max
    max_exponent = np.log2((length - 1) / (KERNEL_LENGTH - 1))
    dilations, counts = np.unique(np.logspace(0, max_exponent, true_max, base=2).astype(np.int32), return_counts=True)
    counts = (counts * multiplier).astype(np.int32)
    for i in range(per_kernel - int(counts.sum())):
        counts[i % len(counts)] += 1
    return dilations, counts


def _quantiles(n: int) -> np.ndarray:
    """The low-discrepancy sequence of the reference: fractional parts of multiples of the golden ratio."""
    return ((np.arange(1, n + 1) * ((np.sqrt(5) + 1) / 2)) % 1).astype(np.float32)


class MiniRocket:
    """The MiniRocket transform: ``fit`` on training series (n, channels, length), ``transform`` to PPV features."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, X: np.ndarray) -> MiniRocket:
        X = self._padded(X)
        n, channels, length = X.shape
        self.shape_ = (channels, length)
        rng = np.random.default_rng(self.seed)
        self.dilations_, self.features_per_dilation_ = _dilations(length)
        num_kernels = len(KERNEL_INDICES)
        # each (dilation, kernel) sums a random subset of the channels (one channel for univariate data)
        exponent = np.log2(min(channels, KERNEL_LENGTH) + 1)
        self.channel_masks_ = []
        for _ in self.dilations_:
            mask = np.zeros((num_kernels, channels), dtype=np.float32)
            for k, size in enumerate((2 ** rng.uniform(0, exponent, num_kernels)).astype(np.int64)):
                mask[k, rng.choice(channels, size, replace=False)] = 1.0
            self.channel_masks_.append(torch.from_numpy(mask))
        quantiles = _quantiles(num_kernels * int(self.features_per_dilation_.sum()))
        biases, start = [], 0
        for d, (dilation, count) in enumerate(zip(self.dilations_, self.features_per_dilation_, strict=True)):
            examples = rng.integers(n, size=num_kernels)  # kernel k's biases come from the output on series k
            per_kernel = self._convolve_pairs(X[examples], int(dilation), self.channel_masks_[d]).numpy()
            rows = []
            for k in range(num_kernels):
                rows.append(np.quantile(per_kernel[k], quantiles[start : start + count]))
                start += count
            biases.append(torch.from_numpy(np.asarray(rows, dtype=np.float32)))  # (84, count)
        self.biases_ = biases
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = self._padded(X)
        if X.shape[1:] != self.shape_:  # its dilations and biases are the fitted length's: another gives NaN features
            raise ValueError(
                f"MiniRocket was fitted on series of {self.shape_[0]} channel(s) × {self.shape_[1]} steps; got "
                f"{X.shape[1]} × {X.shape[2]}: give series of the fitted shape (resample or pad them), or fit anew."
            )
        parts = []
        rows = max(1, min(CHUNK, CHUNK_VALUES // (X.shape[1] * X.shape[2])))
        for first in range(0, len(X), rows):
            chunk = X[first : first + rows]
            features = []
            for d, dilation in enumerate(self.dilations_):
                outputs = self._convolve(chunk, int(dilation), self.channel_masks_[d])  # (n, 84, length)
                padding = (KERNEL_LENGTH - 1) * int(dilation) // 2
                # the reference alternates: a kernel of even (dilation index + kernel index) pools the whole padded
                # output, the others its part unaffected by the padding
                ppv = torch.empty(len(chunk), len(KERNEL_INDICES), self.biases_[d].shape[1])
                for parity, window in ((d % 2, slice(None)), (1 - d % 2, slice(padding, outputs.shape[-1] - padding))):
                    kernels = slice(parity, None, 2)
                    part = outputs[:, kernels, window]
                    above = part[:, :, None, :] > self.biases_[d][None, kernels, :, None]  # (n, 42, count, time)
                    ppv[:, kernels] = above.float().mean(-1)  # float: twice as fast as counting the booleans
                features.append(ppv.flatten(1))
            parts.append(torch.cat(features, 1).numpy())
        return np.concatenate(parts)

    @staticmethod
    def _padded(X: np.ndarray) -> np.ndarray:
        """Series shorter than a kernel are zero-padded to its length (as aeon does)."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3:
            raise BaselineNotApplicable(f"MiniRocket needs series of shape (n, channels, length), got {X.shape}.")
        if not np.all(np.isfinite(X)):
            raise BaselineNotApplicable("MiniRocket needs finite values: fill or drop missing values first.")
        short = KERNEL_LENGTH - X.shape[2]
        return np.pad(X, ((0, 0), (0, 0), (0, short))) if short > 0 else X

    @staticmethod
    def _convolve_pairs(X: np.ndarray, dilation: int, mask: torch.Tensor) -> torch.Tensor:
        """Kernel k on series k alone, summed over its channel combination (a grouped convolution): (84, length)."""
        kernels, channels, length = X.shape
        series = torch.from_numpy(np.ascontiguousarray(X)).reshape(1, kernels * channels, length)
        padding = (KERNEL_LENGTH - 1) * dilation // 2
        weights = _kernels().repeat_interleave(channels, dim=0)  # kernel k for each channel of series k
        out = F.conv1d(series, weights, dilation=dilation, padding=padding, groups=kernels * channels)
        return (out.reshape(kernels, channels, length) * mask[:, :, None]).sum(1)

    @staticmethod
    def _convolve(X: np.ndarray, dilation: int, mask: torch.Tensor) -> torch.Tensor:
        """Each kernel's zero-padded ('same') convolution summed over its channel combination: (n, 84, length)."""
        n, channels, length = X.shape
        series = torch.from_numpy(np.ascontiguousarray(X)).reshape(n * channels, 1, length)
        padding = (KERNEL_LENGTH - 1) * dilation // 2
        out = F.conv1d(series, _kernels(), dilation=dilation, padding=padding)  # (n·channels, 84, length)
        return torch.einsum("nckl,kc->nkl", out.reshape(n, channels, -1, length), mask)


def minirocket(
    dataset: Dataset | str | Path, *, seed: int = 0, validation: str = "split", split_order: str = "auto"
) -> BaselineResult:
    """MiniRocket fitted on ``dataset``'s training split (a Dataset, a catalogue name or a data file, as
    ``finetune`` takes it), scored on its test and validation splits: a ridge classifier, or for a regression a
    ridge regressor (RidgeCV, raw targets, one or several outputs).

    Given the splits a fine-tune trained on (``training_splits``, as ``tshub finetune --baseline`` passes them), it
    fits on the very same series (the validation split held out, as for the networks; with ``validation="train"``
    every training series), so the figures meet on the same data; it needs no validation split of its own. A
    dataset without splits is training data, split as ``finetune`` splits it; one with a training split but no
    validation split (a catalogue set's official splits) fits on all of its training split, as aeon's reference
    figures do, where a fine-tune holds a fifth of it out. ``split_order`` as ``finetune`` takes it."""
    try:
        from sklearn.linear_model import RidgeClassifierCV, RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as err:
        raise ImportError(
            "the MiniRocket baseline needs scikit-learn for its ridge model: pip install 'tshub[sklearn]'."
        ) from err

    start = time.perf_counter()
    dataset = dataset_from(dataset)
    if not dataset.splits or validation != "split":  # the splits a fine-tune of it trains and validates on
        dataset, _ = training_splits(
            dataset, val_fraction=VAL_FRACTION, seed=0, validation=validation, split_order=split_order
        )
    X, y = dataset.split("train")
    regression = dataset.task == "regression"
    n_classes = len(np.unique(y))
    if not regression and n_classes < 2:
        raise BaselineNotApplicable(
            f"dataset {dataset.name!r} has {n_classes} class in its training split: a classifier needs two."
        )
    with torch.no_grad():
        transform = MiniRocket(seed).fit(X)
        ridge = RidgeCV(alphas=RIDGE_ALPHAS) if regression else RidgeClassifierCV(alphas=RIDGE_ALPHAS)
        model: Any = make_pipeline(StandardScaler(with_mean=False), ridge)
        model.fit(transform.transform(X), y)
        scored = {}
        for split in ("test", "val"):
            if split in dataset.splits and len(dataset.splits[split]):
                X_split, y_split = dataset.split(split)
                scored[split] = task_metrics(dataset.task, y_split, model.predict(transform.transform(X_split)))
    return BaselineResult("MiniRocket", scored.get("test", {}), scored.get("val", {}), time.perf_counter() - start)


def minirocket_if_possible(
    dataset: Dataset, *, seed: int = 0, validation: str = "split"
) -> tuple[BaselineResult | None, str | None]:
    """``minirocket`` where it applies, else None and why not (``BaselineNotApplicable``, scikit-learn missing): for
    the reports that set a finished fine-tune beside MiniRocket whenever they can."""
    try:
        return minirocket(dataset, seed=seed, validation=validation), None
    except (ImportError, BaselineNotApplicable) as err:
        return None, str(err)
