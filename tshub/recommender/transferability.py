"""Transferability scores: how well a checkpoint's frozen features fit a target, without fine-tuning it.

A source is judged by its features on the target's **training split** only (never validation or test), computed
the way fine-tuning would start: a fresh model of the source architecture shaped for the target, the source's
weights transferred into it (``tshub.training.transfer_weights``: channel adaptation, length-bound layers
rebuilt), and the source's preprocessing kind refitted on the target's training series.

- ``logme`` (You et al., ICML 2021): the log marginal evidence, per sample, of a Bayesian linear model from the
  features to each target column (one-hot class indicators, or regression outputs), with the prior precision α
  and noise precision β at the evidence's maximum (the evidence profiled over β is scanned in t = α/β and
  refined by Brent, which stays finite where the authors' fixed point returns NaN; see ``_maximise_evidence``),
  all through one SVD of the feature matrix. The evidence is the exact one, log N(y; 0, α⁻¹FFᵀ + β⁻¹I), including the
  D − rank(F) zero eigenvalues of FᵀF that the authors' code leaves out when D > n (the case of small UCR sets).
- ``hscore`` (Bao et al., ICIP 2019): tr(cov(f)⁻¹ cov(E[f|y])), the share of feature variance that the class
  explains; with ``shrinkage="ledoit_wolf"`` (default) the feature covariance is Ledoit–Wolf shrunk as in
  Ibrahim, Ponomareva & Mazumder (ECML-PKDD 2022, "regularised H-score"), stable when n is not ≫ D.

Both are higher-is-better. LEEP/NCE are not offered: they need the source head's label space, and tshub's
sources mix classification, regression and multi-head checkpoints whose heads do not face the target.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from threadpoolctl import ThreadpoolController

from tshub.data.dataset import Dataset
from tshub.data.preprocess import make_preprocessor
from tshub.models.base import TimeSeriesModel
from tshub.recommender.sampling import STATISTICS
from tshub.training.allocator import keep_freed_memory
from tshub.training.batchnorm import estimate_statistics
from tshub.training.finetuning import fresh_model_like, preprocessing_of, stream_max_for
from tshub.training.loop import resolve_device
from tshub.training.transfer import HEAD_PREFIX, TransferReport, transfer_weights


# ---------------------------------------------------------------------------------------------------- features
@torch.no_grad()
def target_features(
    model: TimeSeriesModel,
    dataset: Dataset,
    split: str = "train",
    *,
    device: str | torch.device | None = None,
    batch_size: int = 256,
    bf16: bool = False,
    consume: bool = False,
    statistics: str = "source",
) -> tuple[np.ndarray, np.ndarray, TransferReport]:
    """``(features (n, D) float64, targets, transfer report)`` of ``model`` on ``dataset``'s ``split``.

    The model is adapted as fine-tuning adapts it and run in eval mode; with ``bf16`` in bfloat16 (about twice as
    fast on CPUs with AMX or AVX-512 BF16, and on GPUs; bench/recommend_speed.py measures how far the ranking
    moves); with ``statistics="target"`` its BatchNorms normalise by the split's own statistics, estimated on it
    first, rather than the source's. ``model`` is left as it was unless ``consume`` (a model loaded only for this:
    it may then be converted in place rather than copied).
    """
    if split in ("val", "test"):
        raise ValueError(
            f"transferability is scored on the training split, not {split!r}: the validation and test "
            "splits must stay unseen by source selection."
        )
    if statistics not in STATISTICS:
        raise ValueError(f"statistics must be one of {STATISTICS}, got {statistics!r}.")
    X, y = dataset.split(split)
    kind = model.preprocessor.kind if model.preprocessor is not None else "znorm"
    X, stream_max = make_preprocessor(kind).fit_transform(X)  # a fresh preprocessor: fitted on the target
    target, report = adapted_model(model, dataset, consume=consume)
    device = resolve_device(device)
    keep_freed_memory(device)  # as predict_outputs: batches reuse the last one's buffers without page faults
    dtype = torch.bfloat16 if bf16 else torch.float32
    target.to(device, dtype).eval()
    if statistics == "target":
        inputs = torch.from_numpy(X).to(device, dtype)
        extra = None if stream_max is None else torch.from_numpy(stream_max).to(device, dtype)
        estimate_statistics(target, inputs, extra, batch_size=batch_size)
    chunks = []
    for i in range(0, len(X), batch_size):
        xb = torch.from_numpy(X[i : i + batch_size]).to(device, dtype)
        sb = None if stream_max is None else torch.from_numpy(stream_max[i : i + batch_size]).to(device, dtype)
        chunks.append(target.forward_features(xb, sb).double().cpu())
    features = torch.cat(chunks).numpy() if chunks else np.zeros((0, target.head_input_dim))
    return _checked_features(features, len(y)), y, report


def adapted_model(
    model: TimeSeriesModel, dataset: Dataset, *, consume: bool = False
) -> tuple[TimeSeriesModel, TransferReport]:
    """The network fine-tuning on ``dataset`` would start from (for its features), and its transfer report.

    When that network is the source's but for its head and input channels (the transfer copies or channel-adapts
    every tensor, re-initialises only the head, and no length-bound layer is rebuilt: most candidates), its
    features are those of the source with ``adapt_input_channels``, which computes what the transfer does; the
    source then serves (itself if ``consume``, else a copy) instead of a freshly built and seeded network. A
    ``meta``-device skeleton, which costs no memory or initialisation, finds out.
    """
    # beside the relative target a forecast learns, the fine-tune drops the raw stream_max input (stream_max_for)
    use_stream_max = stream_max_for(preprocessing_of(model, dataset, warn=False), model.use_stream_max, None)
    with torch.device("meta"):
        skeleton = fresh_model_like(model, dataset, seed=None, use_stream_max=use_stream_max)
    report = transfer_weights(model, skeleton)
    if _differs_only_in_head(model, skeleton, report):
        served = model if consume else copy.deepcopy(model)
        if served.in_channels != skeleton.in_channels:
            served.adapt_input_channels(skeleton.in_channels)
        served.use_stream_max = use_stream_max  # stream_max only joins the features the (replaced) head reads
        return served, report
    target = fresh_model_like(model, dataset, seed=0, use_stream_max=use_stream_max)
    return target, transfer_weights(model, target)


def _differs_only_in_head(source: TimeSeriesModel, target: TimeSeriesModel, report: TransferReport) -> bool:
    """Whether ``target`` holds the tensors of ``source`` outside the head, all transferred, for the same length."""

    def body(model: TimeSeriesModel) -> set[str]:
        return {name for name in model.state_dict() if not name.startswith(HEAD_PREFIX)}

    return (
        all(r["reason"] == "head" for r in report.reinitialised)
        and source.input_length == target.input_length
        and body(source) == body(target)
    )


# ---------------------------------------------------------------------------------------------------- LogME
_GRID_POINTS = 161  # log-spaced values of t = α/β spanning 20 decades around the spectrum, before Brent refines
_GRID_DECADES = 10  # below the smallest and above the largest eigenvalue: both limits are reached to ~1e-10


def logme(features: np.ndarray, targets: np.ndarray, task: str = "classification") -> float:
    """LogME: mean over target columns of the maximised log evidence per sample (higher: better features).

    ``targets``: class indices (classification: one column per class present) or values (n,) / (n, k).
    """
    F = _checked_features(features, len(targets))
    Y = _target_columns(targets, task, len(F))
    n, D = F.shape
    sigma, x2, rest = _spectrum(F, Y)
    alpha, beta = _maximise_evidence(sigma, x2, rest, n)
    return float(np.mean(log_evidence(alpha, beta, sigma, x2, rest, n, D)))


def log_evidence(
    alpha: np.ndarray, beta: np.ndarray, sigma: np.ndarray, x2: np.ndarray, rest: np.ndarray, n: int, D: int
) -> np.ndarray:
    """Log evidence per sample of each target column at (α, β), from the spectrum of F (see ``_spectrum``).

    L = D/2 log α + n/2 log β − ½ log|αI + βFᵀF| − β/2 ‖y − Fm‖² − α/2 ‖m‖² − n/2 log 2π, where the
    log-determinant runs over all D eigenvalues (the zero ones give log α each).
    """
    t = alpha / beta
    m2, res2 = _posterior_terms(t, sigma, x2, rest)
    logdet_ratio = np.log1p(sigma[:, None] / t).sum(axis=0)  # log|αI + βFᵀF| − D log α
    evidence = n / 2 * np.log(beta) - logdet_ratio / 2 - beta / 2 * res2 - alpha / 2 * m2 - n / 2 * np.log(2 * np.pi)
    return evidence / n


def _checked_features(features: np.ndarray, n_targets: int) -> np.ndarray:
    """The features as float64 (n, D), refused with what is wrong when they cannot be scored (a NaN would only
    surface as the SVD's "did not converge")."""
    F = np.asarray(features, dtype=np.float64)
    if F.ndim != 2:
        raise ValueError(f"features must be a (series, features) matrix, got shape {F.shape}.")
    if len(F) != n_targets:
        raise ValueError(f"{len(F)} feature rows but {n_targets} targets; they must match one to one.")
    if not np.isfinite(F).all():
        raise ValueError(
            "the features are not finite (NaN or infinite: a source with diverged weights, or an overflow): "
            "they cannot be scored; drop or retrain the source."
        )
    return F


def _target_columns(targets: np.ndarray, task: str, n: int) -> np.ndarray:
    y = np.asarray(targets)
    if task == "classification":
        classes = np.unique(y)
        return (y[:, None] == classes[None, :]).astype(np.float64)
    if task == "regression":
        return y.reshape(n, -1).astype(np.float64)
    raise ValueError(f"task must be 'classification' or 'regression', got {task!r}.")


def _spectrum(F: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nonzero eigenvalues σ of FᵀF, squared projections x² of each column of Y on F's left singular vectors,
    and the squared norm of what lies outside F's column space (exactly 0 when F spans all n dimensions)."""
    u, s, _ = np.linalg.svd(F, full_matrices=False)
    keep = s > (s.max(initial=0.0) * max(F.shape) * np.finfo(np.float64).eps)
    u, sigma = u[:, keep], s[keep] ** 2
    x = u.T @ Y
    x2 = x**2
    if len(sigma) == len(F):
        return sigma, x2, np.zeros(Y.shape[1])
    rest = np.maximum((Y**2).sum(axis=0) - x2.sum(axis=0), 0.0)
    return sigma, x2, rest


def _posterior_terms(
    t: np.ndarray, sigma: np.ndarray, x2: np.ndarray, rest: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """‖m‖² and ‖y − Fm‖² of the posterior mean m at t = α/β."""
    s = sigma[:, None]
    m2 = (s * x2 / (t + s) ** 2).sum(axis=0)
    res2 = (x2 * (t / (t + s)) ** 2).sum(axis=0) + rest
    return m2, res2


def _quadratic_form(t: np.ndarray, sigma: np.ndarray, x2: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """R(t) = yᵀ(I + FFᵀ/t)⁻¹y = Σ x² t/(σ + t) + rest of each column; ``t``: (k,) → (k,), or (g, 1) → (g, k)."""
    t = np.asarray(t)[..., None, :]
    return np.maximum((t / (sigma[:, None] + t) * x2).sum(axis=-2) + rest, np.finfo(np.float64).tiny)


def _profiled_evidence(log_t: np.ndarray, sigma: np.ndarray, x2: np.ndarray, rest: np.ndarray, n: int) -> np.ndarray:
    """The evidence (times n, up to a constant) at t = α/β with β at its optimum n / R(t), for each column.

    With C = β⁻¹(I + FFᵀ/t): yᵀC⁻¹y = β R(t) and log|C| = −n log β + Σ log(1 + σ/t), so max over β gives
    −n/2 log R(t) − ½ Σ log(1 + σ/t) + const. ``log_t``: (g,) → (g, k).
    """
    t = np.exp(log_t)[:, None]  # (g, 1)
    logdet = np.log1p(sigma[None, :] / t).sum(axis=1, keepdims=True)  # (g, 1)
    return -n / 2 * np.log(_quadratic_form(t, sigma, x2, rest)) - logdet / 2


def _maximise_evidence(sigma: np.ndarray, x2: np.ndarray, rest: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(α, β) maximising the evidence of each column: a log-spaced scan of t = α/β, then Brent around the best.

    You et al. iterate MacKay's fixed point instead; when the features span the n samples (small UCR sets:
    n ≤ 128 features) and the labels lie in that span, the evidence rises towards the noise-free limit β → ∞,
    the iteration drives β to 0 in floating point and returns NaN. The profiled evidence is a smooth function
    of one variable whose limits at both ends are finite, so a scan finds the global maximum there too.
    """
    k = x2.shape[1]
    log_t = np.zeros(k)  # features that vanish: t plays no role, β = n / ‖y‖² (the noise-only model)
    if len(sigma):
        lo = np.log(sigma.min()) - _GRID_DECADES * np.log(10)
        hi = np.log(sigma.max()) + _GRID_DECADES * np.log(10)
        grid = np.linspace(lo, hi, _GRID_POINTS)
        values = _profiled_evidence(grid, sigma, x2, rest, n)  # (g, k)
        best = values.argmax(axis=0)
        step = grid[1] - grid[0]
        for j in range(k):
            fit = minimize_scalar(
                lambda u, j=j: -_profiled_evidence(np.array([u]), sigma, x2[:, j : j + 1], rest[j : j + 1], n)[0, 0],
                bounds=(max(lo, grid[best[j]] - step), min(hi, grid[best[j]] + step)),
                method="bounded",
                options={"xatol": 1e-10},
            )
            log_t[j] = fit.x if -fit.fun >= values[best[j], j] else grid[best[j]]
    t = np.exp(log_t)
    beta = n / _quadratic_form(t, sigma, x2, rest)
    return t * beta, beta


# ---------------------------------------------------------------------------------------------------- H-score
def hscore(features: np.ndarray, labels: np.ndarray, *, shrinkage: str | float | None = "ledoit_wolf") -> float:
    """H-score tr(Σ_f⁻¹ Σ_z), Σ_z the covariance of the class-conditional feature means (higher: better).

    ``shrinkage``: "ledoit_wolf" (regularised H-score: Σ_f → (1−a)Σ_f + a·μI with Ledoit–Wolf's a, and Σ_z
    scaled by (1−a)), a fixed a in [0, 1], or None (Bao et al.'s original, a = 0). The inverse is a pseudo-inverse
    (rcond 1e-15), as in both papers' code: Ledoit–Wolf's a is 0 when every centred row has the same outer product
    (always with 2 series), and with n ≤ D the unshrunk Σ_f is singular; Σ_z lies in Σ_f's range, so the
    pseudo-inverse gives the score's limit as a → 0 (with 2 series in 2 classes: 1, all variance explained).
    """
    labels = np.asarray(labels)
    F = _checked_features(features, len(labels))
    F = F - F.mean(axis=0)
    n, d = F.shape
    classes, inverse = np.unique(labels, return_inverse=True)
    means = np.zeros((len(classes), d))
    np.add.at(means, inverse, F)
    means /= np.bincount(inverse)[:, None]
    G = means[inverse]
    cov_z = G.T @ G / n
    cov_f = F.T @ F / n
    if shrinkage is None:
        a = 0.0
    elif shrinkage == "ledoit_wolf":
        a = ledoit_wolf_shrinkage(F)
    else:
        a = float(shrinkage)
        if not 0 <= a <= 1:
            raise ValueError(f"shrinkage must be 'ledoit_wolf', None or a number in [0, 1], got {shrinkage!r}.")
    shrunk = (1 - a) * cov_f + a * np.trace(cov_f) / d * np.eye(d)
    return float(np.trace(np.linalg.pinv(shrunk, rcond=1e-15, hermitian=True) @ ((1 - a) * cov_z)))


def ledoit_wolf_shrinkage(X: np.ndarray) -> float:
    """Ledoit & Wolf (2004)'s optimal weight a of μI in (1−a)S + aμI, for centred rows X (n, d), S = XᵀX/n.

    Their b̄² = Σ‖x xᵀ − S‖²_F / n² is never negative, but computed as a difference it can round below 0 (with
    2 series it is exactly 0), so it is clamped: a lies in [0, 1].
    """
    n, d = X.shape
    S = X.T @ X / n
    mu = np.trace(S) / d
    delta = ((S - mu * np.eye(d)) ** 2).sum() / d
    if delta == 0:
        return 0.0
    X2 = X**2
    beta_bar = ((X2.T @ X2).sum() / n - (S**2).sum()) / (n * d)  # mean ‖x xᵀ − S‖²_F / (n d)
    return float(np.clip(beta_bar, 0.0, delta) / delta)


# ---------------------------------------------------------------------------------------------------- scoring
SCORES = {"logme": "LogME evidence per sample", "hscore": "regularised H-score"}


def score_features(features: np.ndarray, targets: np.ndarray, metric: str, task: str) -> float:
    """The ``metric`` ("logme" or "hscore") of features for targets; a clear error for what it cannot score."""
    if metric not in SCORES:
        raise ValueError(f"unknown transferability metric {metric!r}; choose one of {sorted(SCORES)}.")
    if metric == "hscore" and task != "classification":
        raise ValueError(f"the H-score needs class labels, not {task} targets: use metric='logme'.")
    with _blas().limit(limits=1):  # small matrices: BLAS threads only spin (0.1 s CPU per SVD on a busy machine)
        return logme(features, targets, task) if metric == "logme" else hscore(features, targets)


@functools.cache
def _blas() -> ThreadpoolController:
    """The process's BLAS/OpenMP thread pools, found once (``threadpool_limits`` reads /proc/self/maps each time:
    ~3 ms, a tenth of scoring a candidate); every library the scores use is loaded by the time it is first called."""
    return ThreadpoolController()


def transfer_summary(report: TransferReport) -> dict[str, int]:
    """How many backbone tensors were copied, adapted, re-initialised (the head, always new, not counted)."""
    return {
        "copied": len(report.copied),
        "adapted": len(report.adapted),
        "reinitialised": len([r for r in report.reinitialised if r["reason"] != "head"]),
    }
