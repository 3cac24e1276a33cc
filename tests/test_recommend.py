"""Source recommender: LogME / H-score numerics against their definitions, and recommend() end to end on real data."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.stats import multivariate_normal

import tshub
from tshub.cli import main
from tshub.data import Dataset, DatasetError
from tshub.data.splits import as_training_data
from tshub.datasets import load
from tshub.recommender import FAST, FULL, RecommendError, RecommendTimeout, ScoringPlan, recommend
from tshub.recommender.cache import FeatureCache
from tshub.recommender.candidates import NOT_FOUND
from tshub.recommender.sampling import final_sample, stratified_sample
from tshub.recommender.transferability import (
    _spectrum,
    hscore,
    ledoit_wolf_shrinkage,
    log_evidence,
    logme,
    score_features,
    target_features,
)
from tshub.similarity import SimilarityIndex
from tshub.training import TrainConfig, train_from_scratch

SOURCES = {"ItalyPowerDemand": 20, "Chinatown": 3, "SonyAIBORobotSurface1": 3}  # dataset -> training epochs
NO_EARLY_STOP = TrainConfig(early_stopping_patience=None)


# ---------------------------------------------------------------------------------------------------- numerics
def _gaussian_evidence(F: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """Per-sample log evidence straight from the model: y ~ N(0, FFᵀ/α + I/β) (w ~ N(0, I/α), noise 1/β)."""
    n = len(F)
    return multivariate_normal(np.zeros(n), F @ F.T / alpha + np.eye(n) / beta).logpdf(y) / n


def _max_evidence(F: np.ndarray, y: np.ndarray) -> float:
    """The evidence maximised over (log α, log β) by a generic optimiser, no fixed point involved."""
    fit = minimize(
        lambda p: -_gaussian_evidence(F, y, np.exp(p[0]), np.exp(p[1])),
        [0.0, 0.0],
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000},
    )
    return -fit.fun


@pytest.mark.parametrize("n, d", [(40, 10), (20, 64)])  # more samples than features, and fewer (small UCR sets)
def test_logme_is_the_maximised_gaussian_evidence(n: int, d: int):
    rng = np.random.default_rng(n + d)
    F = rng.normal(size=(n, d)) * np.linspace(0.1, 3, d)
    labels = (F[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(np.int64)
    Y = np.stack([labels == 0, labels == 1], axis=1).astype(np.float64)
    sigma, x2, rest = _spectrum(F, Y)
    alpha, beta = np.array([0.7, 2.0]), np.array([3.0, 0.5])
    ours = log_evidence(alpha, beta, sigma, x2, rest, n, d)
    assert ours == pytest.approx([_gaussian_evidence(F, Y[:, j], alpha[j], beta[j]) for j in range(2)], rel=1e-10)
    assert logme(F, labels) == pytest.approx(np.mean([_max_evidence(F, Y[:, j]) for j in range(2)]), abs=1e-5)


def _papers_fixed_point(F: np.ndarray, y: np.ndarray) -> float:
    """You et al.'s Algorithm 1 as their ICML code runs it: MacKay's fixed point from α = β = 1 (at most 11 steps,
    stopping when α/β moves by < 1 %), eigenvalues of the D × D matrix FᵀF, evidence per sample, mean over classes."""
    n, d = F.shape
    s, v = np.linalg.eigh(F.T @ F)
    evidences = []
    for c in np.unique(y):
        target = (y == c).astype(np.float64)
        projected = v.T @ (F.T @ target)
        alpha, beta, eps = 1.0, 1.0, 1e-5
        for _ in range(11):
            lam = alpha / beta
            gamma = (s / (s + lam)).sum()
            m = v @ (projected * beta / (alpha + beta * s))
            m2, res2 = (m * m).sum(), ((target - F @ m) ** 2).sum()
            alpha, beta = gamma / (m2 + eps), (n - gamma) / (res2 + eps)
            if abs(alpha / beta - lam) / lam < 0.01:
                break
        evidence = (
            d / 2 * np.log(alpha) + n / 2 * np.log(beta) - np.log(alpha + beta * s).sum() / 2
            - beta / 2 * (res2 + eps) - alpha / 2 * (m2 + eps) - n / 2 * np.log(2 * np.pi)
        )  # fmt: skip
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def test_logme_agrees_with_the_papers_fixed_point_where_it_converges():
    """With many more series than features the fixed point finds the evidence's maximum up to its 1 % stopping rule;
    the scan-and-Brent maximum is never below it."""
    rng = np.random.default_rng(0)
    for n, d in ((200, 16), (500, 64)):
        F = rng.normal(size=(n, d)) * np.linspace(0.1, 3, d)
        labels = (F[:, :3].sum(axis=1) + rng.normal(size=n) > 0).astype(np.int64) + (F[:, 3] > 1)
        paper = _papers_fixed_point(F, labels)
        assert paper - 1e-9 <= logme(F, labels) <= paper + 2e-3


def test_logme_regression_averages_the_columns():
    rng = np.random.default_rng(1)
    F = rng.normal(size=(30, 6))
    Y = F @ rng.normal(size=(6, 2)) + 0.3 * rng.normal(size=(30, 2))
    assert logme(F, Y, "regression") == pytest.approx(np.mean([_max_evidence(F, Y[:, j]) for j in range(2)]), abs=1e-5)
    assert logme(F, Y[:, 0], "regression") == pytest.approx(_max_evidence(F, Y[:, 0]), abs=1e-5)


def test_logme_of_vanishing_features_is_the_noise_only_model():
    y = np.array([0, 1, 1, 0, 1])
    # y_col ~ N(0, I/β) alone: β = n/‖y‖², evidence/n = ½ log β − ½ − ½ log 2π, averaged over the two columns
    expected = np.mean([0.5 * np.log(5 / k) - 0.5 - 0.5 * np.log(2 * np.pi) for k in (2, 3)])
    assert logme(np.zeros((5, 4)), y) == pytest.approx(expected, rel=1e-9)


def _noise_free_evidence(F: np.ndarray, y: np.ndarray) -> float:
    """Per-sample evidence in the β → ∞ limit, y ~ N(0, FFᵀ/α) with α maximised: finite when FFᵀ is invertible."""
    n = len(F)
    gram = F @ F.T
    alpha = n / (y @ np.linalg.solve(gram, y))
    return (-n / 2 * np.log(2 * np.pi) - np.linalg.slogdet(gram)[1] / 2 + n / 2 * np.log(alpha) - n / 2) / n


def test_logme_is_finite_when_features_fit_the_labels_exactly(shared_data: Path):
    """Bug: 16 DiatomSizeReduction series in 128 features of DodgerLoopDay/fcn: the labels lie in the span of the
    features, the fixed point drove β to 0 and LogME returned NaN, which ranked the source at random."""
    from tshub.hub import load_pretrained

    zoo_checkpoint = Path(__file__).resolve().parents[1] / "zoo" / "DodgerLoopDay" / "fcn"
    if not zoo_checkpoint.is_dir():
        pytest.skip(f"the committed zoo checkpoint {zoo_checkpoint} is absent")
    features, labels, _ = target_features(
        load_pretrained(zoo_checkpoint), load("DiatomSizeReduction", root=shared_data)
    )
    assert features.shape == (16, 128)
    Y = (labels[:, None] == np.unique(labels)[None, :]).astype(np.float64)
    score = logme(features, labels)
    best = [_max_evidence(features, Y[:, j]) for j in range(Y.shape[1])]
    assert np.isfinite(score) and score == pytest.approx(np.mean(best), abs=1e-6)
    # the case that broke the fixed point: a column whose evidence peaks at the noise-free limit β → ∞
    assert any(b == pytest.approx(_noise_free_evidence(features, Y[:, j]), abs=1e-6) for j, b in enumerate(best))


def test_hscore_hand_checked_cases():
    labels = np.array([0, 0, 1, 1])
    # class means ±1, total variance 1.25: the class explains 1 / 1.25 of it
    assert hscore(np.array([[-1.5], [-0.5], [0.5], [1.5]]), labels, shrinkage=None) == pytest.approx(0.8)
    # one feature: Ledoit–Wolf has nothing to shrink towards (S = μI), so the score is unchanged
    assert hscore(np.array([[-1.5], [-0.5], [0.5], [1.5]]), labels) == pytest.approx(0.8)
    assert hscore(np.array([[0.0], [0.0], [2.0], [2.0]]), labels, shrinkage=None) == pytest.approx(1.0)
    assert hscore(np.ones((4, 3)), labels) == 0.0


def test_regularised_hscore_matches_its_formula_with_sklearn_ledoit_wolf():
    covariance = pytest.importorskip("sklearn.covariance")
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, size=25)
    F = rng.normal(size=(25, 40)) + labels[:, None] * rng.normal(size=40)  # n < d: the unstable regime
    shrunk, a = covariance.ledoit_wolf(F)
    assert ledoit_wolf_shrinkage(F - F.mean(axis=0)) == pytest.approx(a, rel=1e-10)
    centred = F - F.mean(axis=0)
    z = np.array([centred[labels == labels[i]].mean(axis=0) for i in range(len(F))])  # E[f | y] per sample
    cov_z = z.T @ z / len(F)
    assert hscore(F, labels) == pytest.approx(np.trace(np.linalg.inv(shrunk) @ ((1 - a) * cov_z)), rel=1e-8)
    assert hscore(F, labels, shrinkage=None) == pytest.approx(
        np.trace(np.linalg.pinv(centred.T @ centred / len(F)) @ cov_z), rel=1e-6
    )


def test_scores_of_the_smallest_targets_are_finite():
    """Two training series (Ledoit–Wolf's estimate is exactly 0 there, and rounded it fell below 0 or left the
    rank-1 covariance to a solve: a ValueError, a LinAlgError or a score in the thousands) and one series per class.
    Two series in two classes are told apart by any features: all the variance is the class's, an H-score of 1."""
    rng = np.random.default_rng(0)
    for _ in range(100):
        two = rng.normal(size=(2, 64))
        assert 0 <= ledoit_wolf_shrinkage(two - two.mean(axis=0)) <= 1
        assert hscore(two, np.array([0, 1])) == pytest.approx(1.0)
        assert hscore(two, np.array([0, 1]), shrinkage=0) == pytest.approx(1.0)
        one_each = rng.normal(size=(3, 64))
        assert 0 < hscore(one_each, np.arange(3)) <= 2 + 1e-9  # at most the rank of the centred features
    assert np.isfinite(logme(two, np.array([0, 1]))) and np.isfinite(logme(one_each, np.arange(3)))
    with pytest.raises(ValueError, match=r"in \[0, 1\], got 1.5"):
        hscore(two, np.array([0, 1]), shrinkage=1.5)


def test_features_that_cannot_be_scored_are_refused_with_what_is_wrong():
    """A NaN (a diverged source) surfaced as numpy's "SVD did not converge" / "Eigenvalues did not converge"."""
    F = np.random.default_rng(0).normal(size=(10, 4))
    F[3, 1] = np.nan
    labels = np.arange(10) % 2
    for score in (logme, hscore):
        with pytest.raises(ValueError, match="features are not finite"):
            score(F, labels)
        with pytest.raises(ValueError, match=r"must be a \(series, features\) matrix, got shape \(10,\)"):
            score(F[:, 0], labels)
        with pytest.raises(ValueError, match="10 feature rows but 9 targets"):
            score(np.nan_to_num(F), labels[:9])


# ---------------------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def italy(shared_data: Path) -> Dataset:
    return load("ItalyPowerDemand", root=shared_data)


@pytest.fixture(scope="module")
def store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three small FCN checkpoints laid out as a store (<Source>/fcn); ItalyPowerDemand's is trained for real."""
    root = tmp_path_factory.mktemp("zoo")
    folders = {}
    for name, epochs in SOURCES.items():
        result = train_from_scratch(
            "fcn",
            load(name, root=shared_data),
            max_epochs=epochs,
            recipe=NO_EARLY_STOP,
            arch_kwargs={"filters": (32, 64, 32)},
            progress=False,
        )
        folders[name] = result.model.save_pretrained(root / name / "fcn", id=f"{name}/fcn")
    return folders


@pytest.fixture
def candidates(store: dict[str, Path], shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    return [str(folder) for folder in store.values()]


def test_logme_prefers_informative_features_to_noise_on_real_data(italy: Dataset, store: dict[str, Path]):
    from tshub.hub import load_pretrained

    X, y = italy.split("train")
    raw = X[:, 0, :]
    noise = np.random.default_rng(0).normal(size=raw.shape)
    assert logme(raw, y) > logme(noise, y) + 0.05
    assert hscore(raw, y) > hscore(noise, y)
    features, labels, report = target_features(load_pretrained(store["ItalyPowerDemand"]), italy)
    assert features.shape == (len(y), 32) and np.array_equal(labels, y)
    assert report.copied and not report.adapted
    assert logme(features, labels) > logme(np.random.default_rng(1).normal(size=features.shape), labels) + 0.05
    with pytest.raises(ValueError, match="training split"):
        target_features(load_pretrained(store["ItalyPowerDemand"]), italy, split="test")


def test_recommend_ranks_the_source_trained_on_the_target_first(italy: Dataset, candidates: list[str]):
    rec = tshub.recommend(italy, k=None, method="logme", candidates=candidates, allow_self_transfer=True)
    assert rec.method == "logme" and rec.n_candidates == 3 and not rec.skipped
    assert rec.ids[0] == "ItalyPowerDemand/fcn"
    assert [r["rank"] for r in rec] == [1, 2, 3]
    assert rec[0]["score"] > rec[1]["score"] >= rec[2]["score"]
    assert rec[0]["details"]["n"] == len(italy.splits["train"]) and rec[0]["details"]["feature_dim"] == 32
    assert json.loads(json.dumps(rec.to_dict()))["ranking"][0]["id"] == "ItalyPowerDemand/fcn"
    assert "ItalyPowerDemand/fcn" in str(rec) and "logme" in str(rec)
    assert len(recommend(italy, k=2, method="logme", candidates=candidates, allow_self_transfer=True)) == 2


def test_recommend_skips_a_checkpoint_whose_score_is_not_finite(italy: Dataset, candidates: list[str], tmp_path: Path):
    from tshub.hub import load_pretrained

    broken = load_pretrained(candidates[1])
    with torch.no_grad():
        for weights in broken.parameters():  # the head is re-initialised for the target; the backbone is not
            weights.fill_(float("nan"))
    folder = broken.save_pretrained(tmp_path / "Broken" / "fcn", id="Broken/fcn")
    for method in ("logme", "hscore"):
        rec = recommend(italy, k=None, method=method, candidates=[*candidates, str(folder)], allow_self_transfer=True)
        assert "Broken/fcn" not in rec.ids and len(rec) == 3
        assert rec.skipped[0]["id"] == "Broken/fcn" and "not finite" in rec.skipped[0]["reason"]


def test_the_zoo_pool_leaves_out_sources_that_learned_nothing(
    italy: Dataset, candidates: list[str], private_zoo: Callable[..., Path]
):
    """Ranking the whole zoo skips (and reports) a checkpoint at chance accuracy or whose training diverged;
    named candidates are ranked whatever their quality (the user asked for them)."""
    from tshub.hub.checkpoint import read_config
    from tshub.hub.store import unusable_reason

    zoo = private_zoo(
        candidates,
        {
            "Guesser/fcn": (candidates[1], {"metrics": {"accuracy": 0.52, "f1_weighted": 0.4}}),  # Chinatown: 2 classes
            "Diverged/fcn": (candidates[2], {"stop_reason": "non_finite_loss"}),
        },
    )
    rec = recommend(italy, k=None, method="logme", allow_self_transfer=True)
    reasons = {s["id"]: s["reason"] for s in rec.skipped}
    assert rec.n_candidates == 5 and len(rec) + len(reasons) == 5 and "ItalyPowerDemand/fcn" in rec.ids
    for folder in candidates:  # the fixtures' own sources (trained 3-20 epochs) follow the same rule
        assert (f"{Path(folder).parent.name}/fcn" in reasons) == (unusable_reason(read_config(folder)) is not None)
    assert "is less than 5 points above chance (1/2 classes)" in reasons["Guesser/fcn"]
    assert "diverged" in reasons["Diverged/fcn"]
    named = recommend(italy, k=None, method="logme", candidates=[str(zoo / "Guesser" / "fcn")])
    assert named.ids == ["Guesser/fcn"]


def test_every_ranked_source_says_how_its_training_ended(
    italy: Dataset, candidates: list[str], private_zoo: Callable[..., Path]
):
    """A source cut short by a time budget is ranked but marked, in the rows (library, JSON, service) and the
    printed table, whether it comes from the zoo's listing or is named by the user."""
    zoo = private_zoo(candidates, {"CutShort/fcn": (candidates[0], {"stop_reason": "time_budget"})})
    for rec in (
        recommend(italy, k=None, method="logme", allow_self_transfer=True),
        recommend(
            italy,
            k=None,
            method="logme",
            candidates=[str(zoo / "CutShort" / "fcn"), *candidates],
            allow_self_transfer=True,
        ),
    ):
        training = {row.id: row.training for row in rec}
        assert training["CutShort/fcn"] == "time budget, not converged"
        assert rec.to_dict()["ranking"][rec.ids.index("CutShort/fcn")]["training"] == "time budget, not converged"
        header = next(line for line in str(rec).splitlines() if line.startswith("rank"))
        assert header.split()[-1] == "training" and "time budget, not converged" in str(rec)


def test_a_printed_recommendation_keeps_within_the_terminal_width():
    """dtw+logme's score name made the first line 140 characters wide."""
    from tshub.recommender.results import RankedSource, Recommendation
    from tshub.tables import MAX_WIDTH

    rec = Recommendation(
        target="NonInvasiveFetalECGThorax1",
        method="dtw+logme",
        score_name="mean of the candidate's ranks (scaled to 0-1) by DTW similarity and by LogME, higher is better",
        ranking=[RankedSource(1, "UWaveGestureLibraryX/fcn", 0.96, "UWaveGestureLibraryX", "fcn", None, "converged")],
        n_candidates=132,
        elapsed_s=1.3,
    )
    assert max(len(line) for line in str(rec).splitlines()) <= MAX_WIDTH


def test_hscore_and_probe_rank_every_candidate(italy: Dataset, candidates: list[str]):
    rec = recommend(italy, k=None, method="hscore", candidates=candidates, allow_self_transfer=True)
    assert rec.method == "hscore" and len(rec) == 3 and all(0 < r["score"] <= 1.0 + 1e-9 for r in rec)
    rec = recommend(italy, k=None, method="probe", candidates=candidates, probe_epochs=1, allow_self_transfer=True)
    assert len(rec) == 3 and all(0 <= r["score"] <= 1 and r["details"]["epochs"] == 1 for r in rec)
    said = re.search(
        r"probe: each candidate scored on the (\d+) validation series carved from the 67 training", rec.note
    )
    assert said and 10 <= int(said.group(1)) <= 15  # failed before the fix: a score's resolution was never said
    regression = Dataset.from_arrays(
        italy.X, italy.X[:, 0, :3].sum(axis=1) + 0.5, task="regression", splits={"train": italy.splits["train"]}
    )
    with pytest.raises(RecommendError, match="H-score needs class labels"):
        recommend(regression, method="hscore", candidates=candidates)
    assert len(recommend(regression, k=None, method="logme", candidates=candidates, allow_self_transfer=True)) == 3


def test_dtw_uses_the_saved_index_and_falls_back_without_one(italy: Dataset, candidates: list[str], tmp_path: Path):
    from tshub.similarity import SimilarityIndex

    index = SimilarityIndex()
    for name in SOURCES:  # ready prototypes: one class mean per class keeps the test fast
        X, y = load(name).split("train")
        index.add(name, prototypes=[X[y == c].mean(axis=0) for c in np.unique(y)])
    index.save(tmp_path / "index")
    rec = recommend("ItalyPowerDemand", k=None, method="dtw", candidates=candidates, index=tmp_path / "index")
    assert rec.method == "dtw" and set(rec.ids) == {"Chinatown/fcn", "SonyAIBORobotSurface1/fcn"}
    assert [s["id"] for s in rec.skipped] == ["ItalyPowerDemand/fcn"]
    assert rec.skipped[0]["reason"].startswith("trained on the target's own data")
    assert rec[0]["score"] == -rec[0]["details"]["distance"]
    assert rec[0]["details"]["distance"] == pytest.approx(index.distance("ItalyPowerDemand", rec[0]["source"]))
    with pytest.warns(UserWarning, match="needs the similarity index"):
        fallback = recommend(italy, method="dtw", candidates=candidates, index=tmp_path / "none")
    assert fallback.method == "logme" and "dtw" in fallback.note
    assert ".;" not in fallback.note  # regression: "ranked by 'logme' instead.; screened on ..."


def test_a_target_with_nan_series_is_refused_once_before_any_candidate(candidates: list[str]):
    """Regression: a Dataset holding NaN (``from_arrays`` keeps what it is given) had every candidate skipped with
    one and the same DatasetError, and an empty ranking came back under a note on how it had been screened."""
    X = np.random.default_rng(0).normal(size=(20, 1, 24)).astype(np.float32)
    X[3, 0, 5] = np.nan
    gappy = Dataset.from_arrays(X, np.arange(20) % 2, name="gappy")
    with pytest.raises(
        DatasetError, match="1 of 20 series contain NaN or infinite values .*series 3, channel 0, step 5"
    ):
        recommend(gappy, candidates=candidates)


def test_cli_says_the_fallback_from_dtw_once(
    candidates: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    """Regression: `tshub recommend X --method dtw` without an index printed why it ranked by logme twice, as a
    warning and again as the note above the table."""
    import tshub.similarity.index

    monkeypatch.setattr(tshub.similarity.index, "DEFAULT_FOLDER", tmp_path / "no-index")
    assert main(["recommend", "ItalyPowerDemand", "--method", "dtw", "--candidates", *candidates]) == 0
    said = capsys.readouterr()
    out, err = (" ".join(text.split()) for text in said)
    assert "note: method 'dtw' needs the similarity index" in out and "ranked by 'logme' instead" in out
    assert "needs the similarity index" not in err, err
    assert main(["recommend", "ItalyPowerDemand", "--method", "dtw", "--json", "--candidates", *candidates]) == 0
    said = capsys.readouterr()  # JSON on stdout is for a program: a person reading the terminal is still told
    assert "ranked by 'logme' instead" in json.loads(said.out)["note"] and "needs the similarity index" in said.err


def test_dtw_on_a_target_of_a_channel_count_no_indexed_source_has_falls_back(candidates: list[str]):
    """Regression: a multivariate target under method="dtw" had its prototypes averaged, then every candidate
    skipped ("another channel count"), and the ranking came back empty; it is ranked by the default, saying why."""
    index = SimilarityIndex()
    for name in ("Chinatown", "SonyAIBORobotSurface1"):  # univariate, as every UCR source of the index
        X, y = load(name).split("train")
        index.add(name, prototypes=[X[y == c].mean(axis=0) for c in np.unique(y)])
    rng = np.random.default_rng(0)
    three = Dataset.from_arrays(rng.normal(size=(30, 3, 24)).astype(np.float32), np.arange(30) % 2, name="three")
    with pytest.warns(UserWarning, match="none of the similarity index's 2 sources has the target's 3 channels"):
        rec = recommend(three, k=None, method="dtw", candidates=candidates, index=index)
    assert rec.method == "logme" and len(rec) > 0 and "3 channels" in rec.note


def test_dtw_averages_the_sample_the_feature_scores_use_and_keeps_the_time_limit(italy: Dataset, candidates: list[str]):
    """A target the index does not hold is reduced to prototypes of the final score's stratified, seeded sample
    (all of a small target's series, so its prototypes are those of its whole training split): the medoids cost n²
    DTWs per class, and the ranking must score at most the plan's series and stop at its deadline."""
    index = SimilarityIndex()
    for name in ("Chinatown", "SonyAIBORobotSurface1"):  # ready prototypes: one class mean per class
        X, y = load(name).split("train")
        index.add(name, prototypes=[X[y == c].mean(axis=0) for c in np.unique(y)])
    large = italy.with_splits({"train": np.arange(len(italy.X))})  # 1096 series of 24 steps: 256 are averaged
    for target, whole in ((italy, True), (large, False)):
        rec = recommend(target, k=None, method="dtw", candidates=candidates, index=index)
        _, prototypes = index.make_prototypes(*final_sample(target, FAST).split("train"))
        assert {r.source: r.details["distance"] for r in rec} == dict(index.rank(prototypes, k=None))
        assert (dict(index.rank(target, k=None)) == {r.source: r.details["distance"] for r in rec}) is whole
        assert (rec.note is None) is whole
    assert rec.note == "target prototypes averaged over 256 of 1096 training series"
    with pytest.raises(RecommendTimeout, match=r"longer than 0 s \(stopped after loading the target, before scoring"):
        recommend(large, method="dtw", candidates=candidates, index=index, time_limit_s=0)


def test_probe_stops_a_fine_tune_at_the_ranking_time_limit(candidates: list[str]):
    """One candidate's fine-tune (here ≥ 100 epochs of the "ucr" recipe's patience, ~0.3 s each on this CPU) is
    given what is left of the limit as its time budget, and a fine-tune cut short stops the ranking."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 1, 512)).astype(np.float32).cumsum(axis=-1)
    target = Dataset.from_arrays(X, rng.integers(0, 2, len(X)))
    start = time.monotonic()
    with pytest.raises(RecommendTimeout, match=r"longer than 2 s \(scored 0 of 1 candidates\)"):
        recommend(target, method="probe", candidates=candidates[:1], probe_epochs=1000, time_limit_s=2, device="cpu")
    assert time.monotonic() - start < 20


def test_recommend_rejects_what_it_cannot_do(italy: Dataset, candidates: list[str]):
    with pytest.raises(RecommendError, match="unknown recommendation method"):
        recommend(italy, method="oracle", candidates=candidates)
    with pytest.raises(RecommendError, match="no candidate"):
        recommend(italy, arch="tcn", candidates=candidates)
    with pytest.raises(RecommendError, match="no 'train' split"):
        recommend(italy.with_splits({"test": italy.splits["test"]}), candidates=candidates)
    # regression: an unknown architecture ended in a KeyError traceback (the CLI's --arch too)
    with pytest.raises(RecommendError, match="unknown architecture 'resnet'"):
        recommend(italy, arch="resnet", candidates=candidates)


def test_recommend_refuses_a_single_candidate_string_and_counts_that_are_not_whole_numbers():
    """Regression: candidates="MoteStrain/fcn" was read letter by letter ("no checkpoint found for 'M'"), and k="2"
    or k=2.5 failed deep inside (a str compared with an int, a float slice index); each is refused before any work."""
    with pytest.raises(RecommendError, match=r"candidates is a list.*candidates=\['MoteStrain/fcn'\]"):
        recommend("not loaded", candidates="MoteStrain/fcn")
    for k in ("2", 2.5, True):
        with pytest.raises(RecommendError, match="k must be a count >= 0"):
            recommend("not loaded", k=k)
    with pytest.raises(RecommendError, match="probe_epochs must be a whole number"):
        recommend("not loaded", method="probe", probe_epochs=1.5)


def test_named_candidates_of_another_arch_are_told_so_not_to_build_the_zoo(italy: Dataset, candidates: list[str]):
    """Regression: candidates=[three fcn checkpoints] with arch="tcn" was told to build the zoo, pull some or pass
    candidates, which it had done; it is told that none of them is of that architecture."""
    said = r"with arch 'tcn' \(3 of the 3 candidates found are of another architecture\) to rank: drop arch= or"
    with pytest.raises(RecommendError, match=said):
        recommend(italy, arch="tcn", candidates=candidates)


def test_the_prototype_plot_of_a_file_without_splits_draws_every_series_as_training_data(
    candidates: list[str], italy: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture
):
    """Regression: ``tshub recommend my.csv --plot p.png`` printed the ranking, then a KeyError (no split 'train'):
    a file without splits is training data, as every other command reads it."""
    X, y = italy.split("train")
    rows = [",".join([str(label), *(f"{v:.5f}" for v in series[0])]) for label, series in zip(y, X, strict=True)]
    data = tmp_path / "mine.csv"
    data.write_text("\n".join(rows) + "\n")
    plot = tmp_path / "prototypes.png"
    assert main(["recommend", str(data), "-k", "2", "--plot", str(plot), "--candidates", *candidates]) == 0
    assert plot.stat().st_size > 10_000


def test_cli_recommend_prints_json_and_plots_prototypes(
    candidates: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
):
    plot = tmp_path / "prototypes.png"
    assert (
        main(
            [
                "recommend",
                "ItalyPowerDemand",
                "-k",
                "2",
                "--json",
                "--plot",
                str(plot),
                "--allow-self-transfer",
                "--candidates",
                *candidates,
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "logme" and [r["id"] for r in out["ranking"]][0] == "ItalyPowerDemand/fcn"
    assert len(out["ranking"]) == 2 and plot.stat().st_size > 10_000
    assert main(["recommend", "ItalyPowerDemand", "--method", "hscore", "--candidates", *candidates]) == 0
    assert "regularised H-score" in capsys.readouterr().out
    own = ["--json", "--allow-self-transfer", "--plan", "full", "--statistics", "target", "--candidates", *candidates]
    assert main(["recommend", "ItalyPowerDemand", "-k", "3", *own]) == 0
    scores = {r["id"]: r["score"] for r in json.loads(capsys.readouterr().out)["ranking"]}
    plan = replace(FULL, statistics="target")
    expected = recommend("ItalyPowerDemand", k=None, candidates=candidates, allow_self_transfer=True, plan=plan)
    assert scores == {r.id: r.score for r in expected}
    assert main(["recommend", "ItalyPowerDemand", "--arch", "tcn", "--candidates", *candidates]) == 1
    assert "no candidate" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- fast path
def test_stratified_sample_keeps_every_class_and_its_share():
    y = np.array([0] * 90 + [1] * 9 + [2] * 1)
    picked = stratified_sample(y, 20, "classification")
    assert len(picked) == 20 and np.array_equal(picked, np.sort(picked))
    assert np.bincount(y[picked], minlength=3).tolist() == [18, 1, 1]  # the singleton class is kept
    assert np.array_equal(picked, stratified_sample(y, 20, "classification"))  # seeded
    assert not np.array_equal(picked, stratified_sample(y, 20, "classification", seed=1))
    assert np.array_equal(stratified_sample(y, 500, "classification"), np.arange(100))
    assert len(set(stratified_sample(np.linspace(0, 1, 50), 7, "regression"))) == 7


@pytest.mark.parametrize(
    "counts, n, expected",
    [
        ([1, 20, 20, 20], 32, [1, 11, 10, 10]),  # the singleton's share rounds up to 1: the rest must not lose it
        ([1, 5, 5], 10, [1, 5, 4]),
        ([100] + [1] * 10, 5, [5] + [0] * 10),  # fewer series than classes: shares, not one per class
        ([100] + [1] * 10, 12, [2] + [1] * 10),  # one per class takes from the largest
    ],
)
def test_stratified_sample_is_exactly_the_size_asked(counts: list[int], n: int, expected: list[int]):
    y = np.repeat(np.arange(len(counts)), counts)
    picked = stratified_sample(y, n, "classification")
    assert np.bincount(y[picked], minlength=len(counts)).tolist() == expected
    rng = np.random.default_rng(0)
    for _ in range(300):
        y = rng.integers(0, rng.integers(2, 12), size=rng.integers(12, 120))
        n = int(rng.integers(1, len(y) + 1))
        kept = np.bincount(y[stratified_sample(y, n, "classification")], minlength=y.max() + 1)
        assert kept.sum() == n and (kept <= np.bincount(y)).all()
        assert n < len(np.unique(y)) or (kept[np.unique(y)] >= 1).all()


def test_the_plan_bounds_series_by_steps_and_refuses_nonsense():
    plan = ScoringPlan(max_series=256, max_steps=2**15, min_series=32)
    assert plan.final_size(3601, 500) == 65 and plan.final_size(1000, 2709) == 32 and plan.final_size(50, 150) == 50
    assert plan.final_size(900, 24) == 256 and FULL.final_size(3601, 500) == 3601
    assert plan.screen_size(100, 96) == 85 and plan.screen_size(65, 500) == 16 and plan.screen_size(32, 2709) == 16
    with pytest.raises(ValueError, match="shortlist"):
        ScoringPlan(shortlist=0)
    with pytest.raises(RecommendError, match="unknown scoring plan"):
        recommend("ItalyPowerDemand", plan="quick")


# Sources of every kind a target meets: (architecture, channels, kwargs, heads, the target channel counts for which
# the target network must be built: length-bound layers for another length, tensors outside the backbone (never
# transferred), a first layer that exists only for some channel counts). The target is ItalyPowerDemand (1 channel,
# length 24) or its 3-channel copy.
SOURCE_KINDS = {
    "fcn": ("fcn", 1, {"filters": (8, 16, 8)}, None, ()),
    "fcn 3 channels": ("fcn", 3, {"filters": (8, 16, 8)}, None, ()),
    "convtimenet multi-head": ("convtimenet", 1, {"filters_per_kernel": 4, "n_blocks": 2}, {"A": 2, "B": 5}, ()),
    "convnetquake same length": ("convnetquake", 1, {"input_length": 24}, None, ()),
    "convnetquake other length": ("convnetquake", 1, {"input_length": 50}, None, (1, 3)),
    "magnet (LSTM outside the backbone)": ("magnet", 1, {"lstm_units": 4}, None, (1, 3)),
    "mlstm_fcn": ("mlstm_fcn", 1, {"input_length": 24, "filters": (8, 16, 8), "se_ratio": 4}, None, (1, 3)),
    "tcn (shortcut only for other channel counts)": ("tcn", 1, {"nb_filters": 3, "dilations": (1, 2)}, None, (3,)),
}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind", sorted(SOURCE_KINDS))
def test_features_are_those_of_the_network_finetuning_starts_from(
    italy: Dataset, kind: str, channels: int, monkeypatch: pytest.MonkeyPatch
):
    """Bit for bit the features of a freshly built, seeded target network with the source's weights transferred
    into it, whether the source's own network stands in for it (the transfer would copy or channel-adapt all of it
    and re-initialise only the head) or not: a length-bound source built for another length was served as it was
    and refused the target's series ("length-bound layers built for length 50, got 24")."""
    from tshub.models.registry import build_model
    from tshub.recommender import transferability
    from tshub.training.finetuning import fresh_model_like
    from tshub.training.transfer import transfer_weights

    arch, source_channels, kwargs, heads, rebuilt_for = SOURCE_KINDS[kind]
    target = italy
    if channels > 1:
        target = Dataset.from_arrays(np.repeat(italy.X, channels, axis=1), italy.y, name="three", splits=italy.splits)
    torch.manual_seed(0)
    source = build_model(arch, source_channels, 2, **kwargs).eval()
    if heads:
        source.set_heads(heads)
    built = fresh_model_like(source, target, seed=0)
    expected_report = transfer_weights(source, built)
    X, _ = target.split("train")
    with torch.no_grad():
        expected = built.eval().forward_features(torch.from_numpy(znorm(X))).double().numpy()
    before = {k: v.clone() for k, v in source.state_dict().items()}
    builds = []
    monkeypatch.setattr(
        transferability,
        "fresh_model_like",
        lambda *a, **k: (model := fresh_model_like(*a, **k), builds.append(not next(model.parameters()).is_meta))[0],
    )
    features, _, report = target_features(source, target)
    assert all(torch.equal(before[k], v) for k, v in source.state_dict().items())  # not consumed
    assert np.array_equal(features, expected) and report == expected_report
    assert builds == ([False, True] if channels in rebuilt_for else [False])  # a meta skeleton; a real one if needed
    consumed, _, _ = target_features(source, target, consume=True)
    assert np.array_equal(consumed, expected)


def test_recommend_scores_are_those_of_the_networks_finetuning_starts_from(
    italy: Dataset, candidates: list[str], tmp_path: Path
):
    """Every score of a full ranking, exactly, against the computation spelled out with the loading that came before
    meta-device loads: each checkpoint built at random with its weights copied in, a freshly built and seeded
    target network given what transfers, its features on every training series in float32, LogME."""
    from tests.test_checkpoint_load import copied_load
    from tshub.data.preprocess import make_preprocessor
    from tshub.models.registry import build_model
    from tshub.recommender import candidate_pool
    from tshub.recommender.transferability import score_features
    from tshub.training.finetuning import fresh_model_like
    from tshub.training.transfer import transfer_weights

    folders = list(candidates)
    torch.manual_seed(0)
    for i, (arch, channels, kwargs, heads, _) in enumerate(SOURCE_KINDS.values()):
        model = build_model(arch, channels, 2, **kwargs)
        if heads:
            model.set_heads(heads)
        folders.append(str(model.save_pretrained(tmp_path / f"Kind{i}" / arch, dtype="float16")))
    rec = recommend(italy, k=None, candidates=folders, allow_self_transfer=True, plan="full", cache=False)
    scores = {r.id: r.score for r in rec}
    assert not rec.skipped and len(scores) == len(folders)
    X, y = italy.split("train")
    for candidate in candidate_pool(folders):
        source = copied_load(Path(candidate.location))
        kind = source.preprocessor.kind if source.preprocessor is not None else "znorm"
        target = fresh_model_like(source, italy, seed=0)
        transfer_weights(source, target)
        with torch.no_grad():
            inputs = torch.from_numpy(make_preprocessor(kind).fit_transform(X)[0])
            features = target.eval().forward_features(inputs).double().numpy()
        assert scores[candidate.id] == score_features(features, y, "logme", "classification"), candidate.id


def test_target_statistics_give_the_features_of_fine_tunings_first_training_mode_step(
    italy: Dataset, store: dict[str, Path], candidates: list[str]
):
    """statistics="target": the features of the network fine-tuning starts from with its BatchNorms normalising
    ItalyPowerDemand's training series by their own statistics, as its first training-mode step does (one batch of
    all 67 series; running variances are unbiased, so the two differ by the factor n/(n-1) of 67 × 24 values), not
    by the source's; the source is left untouched; the recommender ranks by them with ScoringPlan(statistics=...)."""
    from tshub.hub import load_pretrained

    source = load_pretrained(store["Chinatown"])
    before = {k: v.clone() for k, v in source.state_dict().items()}
    own, _, _ = target_features(source, italy, statistics="target")
    assert all(torch.equal(before[k], v) for k, v in source.state_dict().items())
    theirs, _, _ = target_features(source, italy)
    X, _ = italy.split("train")
    with torch.no_grad():
        first_step = source.train().forward_features(torch.from_numpy(znorm(X))).double().numpy()
    np.testing.assert_allclose(own, first_step, rtol=2e-3, atol=2e-3)
    assert np.abs(theirs - first_step).max() > 10 * np.abs(own - first_step).max()
    for refused in (lambda: ScoringPlan(statistics="mine"), lambda: target_features(source, italy, statistics="mine")):
        with pytest.raises(ValueError, match="statistics"):
            refused()
    plan = ScoringPlan(shortlist=None, statistics="target")
    rec = recommend(italy, k=None, candidates=candidates, allow_self_transfer=True, plan=plan, cache=False)
    scores = {r.id: r.score for r in rec}
    assert scores["Chinatown/fcn"] == score_features(own, italy.split("train")[1], "logme", "classification")


def test_target_statistics_reach_the_batchnorms_beside_the_backbone() -> None:
    """MLSTM-FCN keeps its BatchNorms beside the backbone (fine-tuning re-initialises them): statistics="target"
    estimates them too, each to the mean of what it normalises, where it once left them as they were."""
    from tshub.models import build_model
    from tshub.training.batchnorm import estimate_statistics

    torch.manual_seed(0)
    model = build_model("mlstm_fcn", 2, 3, input_length=32).eval()
    X = torch.randn(20, 2, 32) * 3 + 1
    seen: list[torch.Tensor] = []
    model.norms[0].register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    estimate_statistics(model, X, batch_size=len(X))
    # the BatchNorm normalises the (N·T, C) matrix of a channels-last input (models.base.on_channels_last_matrix), or
    # plain (N, C, T) activations on a CPU where that layout does not pay (models.cpu)
    per_channel = seen[0].mean(dim=0) if seen[0].ndim == 2 else seen[0].mean(dim=(0, 2))
    torch.testing.assert_close(model.norms[0].running_mean, per_channel)
    assert all(norm.running_mean.abs().sum() > 0 for norm in model.norms)  # none left at its reset value


def znorm(X: np.ndarray) -> np.ndarray:
    from tshub.data.preprocess import make_preprocessor

    return make_preprocessor("znorm").fit_transform(X)[0]


def test_the_cascade_rescores_its_shortlist_in_float32_and_ranks_it_first(italy: Dataset, candidates: list[str]):
    plan = ScoringPlan(shortlist=1, screen_steps=16 * 12, screen_length=12, screen_bf16=True)  # as where native
    threads = torch.get_num_threads()
    rec = recommend(italy, k=None, candidates=candidates, allow_self_transfer=True, plan=plan, cache=False)
    assert torch.get_num_threads() == threads  # the plan's one thread was for the ranking only
    stages = [r.details["stage"] for r in rec]
    assert stages == ["shortlist", "screen", "screen"] and rec[1].score >= rec[2].score
    assert rec[0].details["n"] == len(italy.splits["train"]) and rec[1].details["n"] == 16
    assert "screened on 16 windows of 12 steps" in rec.note and "the best 1 re-scored" in rec.note
    full = {
        r.id: r
        for r in recommend(italy, k=None, candidates=candidates, allow_self_transfer=True, plan="full", cache=False)
    }
    assert "stage" not in full[rec.ids[0]].details
    assert full[rec.ids[0]].score == pytest.approx(rec[0].score, rel=1e-9)  # the same series in float32
    float32_screen = dataclasses.replace(plan, screen_bf16=False)
    screened = {
        r.id: r.score
        for r in recommend(
            italy, k=None, candidates=candidates, allow_self_transfer=True, plan=float32_screen, cache=False
        )[1:]
    }
    assert all(screened[r.id] != r.score for r in rec[1:])  # the screen ran in bfloat16


def test_the_screen_cuts_a_forecasts_windows_at_the_end_of_its_series() -> None:
    """Regression: the screen cut series longer than its window at random starts, so a forecast's windows no longer
    ended next to their targets: on 200 random walks of 1,200 steps the targets followed the final sample's levels
    but not the screen's, and the screen scored EMG's convnetquake and magnet with the stream_max input their
    fine-tune would drop (the bias that made every EMG checkpoint rank first on SP500)."""
    from tshub.recommender.sampling import screen_sample
    from tshub.training.finetuning import follows_level

    walks = np.random.default_rng(0).normal(size=(200, 1, 1201)).cumsum(axis=2)
    ds = Dataset.from_arrays(walks[:, :, :-1], walks[:, 0, -1], task="regression", name="walks")
    final = final_sample(as_training_data(ds), FAST)
    screen = screen_sample(final, FAST)
    assert screen.length == FAST.screen_length < final.length and follows_level(final) and follows_level(screen)
    ends = final.X[:, :, -FAST.screen_length :]
    assert all(any(np.array_equal(window, end) for end in ends) for window in screen.X)


def test_a_target_too_small_for_a_screen_sample_is_screened_in_bfloat16_on_its_final_sample(
    italy: Dataset, candidates: list[str]
):
    plan = ScoringPlan(shortlist=1, screen_bf16=True)  # as where bfloat16 is native
    rec = recommend(italy, k=None, candidates=candidates, allow_self_transfer=True, plan=plan, cache=False)
    assert [r.details["stage"] for r in rec] == ["shortlist", "screen", "screen"]
    assert {r.details["n"] for r in rec} == {len(italy.splits["train"])}  # one sample, two precisions
    assert "in bfloat16, the best 1 re-scored" in rec.note
    full = {
        r.id: r.score
        for r in recommend(italy, k=None, candidates=candidates, allow_self_transfer=True, plan="full", cache=False)
    }
    assert full[rec.ids[0]] == pytest.approx(rec[0].score, rel=1e-9)  # the shortlist in float32
    assert all(full[r.id] != r.score for r in rec[1:])  # the rest in bfloat16


@pytest.mark.parametrize("cap", [None, "AVX2"])
def test_the_default_screen_runs_in_bfloat16_only_where_the_cpu_computes_it_natively(
    cap: str | None, italy: Dataset, candidates: list[str], monkeypatch: pytest.MonkeyPatch
):
    """Regression: the screen ran in bfloat16 on every CPU; where oneDNN emulates it (no AVX512-bf16 or AMX, here
    simulated by capping oneDNN at AVX2) a ranking took 4.6-4.9× as long as in float32 (ECG200: 44 s against 9 s).
    Uncapped, the screen follows the CPU (regression: the test assumed one with bf16, and failed on a Zen 3)."""
    from tshub.training.precision import native_bf16

    if cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    native = native_bf16(torch.device("cpu"))
    rec = recommend(
        italy, k=None, candidates=candidates, allow_self_transfer=True, plan=ScoringPlan(shortlist=1), cache=False
    )
    assert ("in bfloat16" in rec.note) is native and not (native and cap == "AVX2")  # uncapped: as the CPU has it
    assert [r.details.get("stage") for r in rec] == (["shortlist", "screen", "screen"] if native else [None] * 3)


def test_features_are_cached_by_content(
    italy: Dataset, candidates: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TSHUB_HOME", str(tmp_path))
    cold = recommend(italy, k=None, candidates=candidates, allow_self_transfer=True)
    warm = recommend(italy, k=None, candidates=candidates, allow_self_transfer=True)
    assert not any(r.details["cached"] for r in cold) and all(r.details["cached"] for r in warm)
    assert [(r.id, r.score) for r in warm] == [(r.id, pytest.approx(r.score, rel=1e-6)) for r in cold]
    files = sorted((tmp_path / "features").glob("*/*.npy"))
    assert len(files) == 3
    files[0].write_bytes(b"not an array")  # a damaged entry is a miss, recomputed and rewritten
    shifted = italy.with_splits({"train": italy.splits["train"][1:]})  # other series: other keys
    assert not any(
        r.details["cached"] for r in recommend(shifted, k=None, candidates=candidates, allow_self_transfer=True)
    )
    again = recommend(italy, k=None, candidates=candidates, allow_self_transfer=True)
    assert sum(r.details["cached"] for r in again) == 2 and [r.id for r in again] == warm.ids
    FeatureCache(tmp_path / "features", limit_mb=0).prune()
    assert not list((tmp_path / "features").glob("*/*.npy"))


def test_weights_replaced_under_their_config_meet_no_cached_features(
    italy: Dataset, store: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The key was config.json's bytes alone, and a hit loads nothing: weights overwritten in place (a bad copy,
    a hand edit) kept the score of the weights that were there before, where loading them says they are corrupt."""
    import shutil

    monkeypatch.setenv("TSHUB_HOME", str(tmp_path / "home"))
    folder = Path(shutil.copytree(store["Chinatown"], tmp_path / "Chinatown" / "fcn"))
    first = recommend(italy, k=None, candidates=[str(folder)])
    assert first.ids == ["Chinatown/fcn"] and not first[0].details["cached"]
    weights = folder / "model.safetensors"
    weights.write_bytes((store["SonyAIBORobotSurface1"] / "model.safetensors").read_bytes())
    os.utime(weights, ns=(time.time_ns(), time.time_ns() + 10**9))  # a coarse clock must not hide the change
    rec = recommend(italy, k=None, candidates=[str(folder), str(store["ItalyPowerDemand"])], allow_self_transfer=True)
    assert rec.ids == ["ItalyPowerDemand/fcn"]
    assert "checkpoint corrupted" in rec.skipped[0].reason


def test_a_ranking_past_its_time_limit_stops_with_a_clear_error(italy: Dataset, candidates: list[str]):
    with pytest.raises(RecommendTimeout, match=r"longer than 0 s \(stopped after loading the target, before scoring"):
        recommend(italy, candidates=candidates, allow_self_transfer=True, time_limit_s=0)
    assert len(recommend(italy, candidates=candidates, allow_self_transfer=True, time_limit_s=600)) == 3


def test_the_time_limit_bounds_the_work_before_the_scores_too(
    italy: Dataset, candidates: list[str], monkeypatch: pytest.MonkeyPatch
):
    """Regression: the deadline was first checked before the first candidate's score, so the self-transfer check
    (1-2 s for FordA over the zoo) and loading the target ran past any limit; FordA with a 1 s limit stopped after
    3.7 s. Now the call stops at the first check past the limit, between candidates of the self-transfer check."""
    from tshub.recommender import candidates as pool_module
    from tshub.recommender.methods import METHODS

    compare, ranked = pool_module.catalogue_overlap, []

    def slow_compare(names: list[str], target: np.ndarray) -> tuple[str, float] | None:
        time.sleep(1.0)  # long beside loading the target and finding 3 candidates, even on a busy machine
        return compare(names, target)

    def rank(pool: list, ctx: object) -> list:
        ranked.append(pool)
        return []

    monkeypatch.setattr(pool_module, "catalogue_overlap", slow_compare)
    monkeypatch.setitem(METHODS, "logme", (rank, "LogME"))
    others = [c for c in candidates if "ItalyPowerDemand" not in c]  # compared with the catalogue: 1 s each
    with pytest.raises(RecommendTimeout, match=r"\(stopped after checking [12] of 3 candidates for training on the "):
        recommend(italy, candidates=[*others, *(c for c in candidates if c not in others)], time_limit_s=1.5)
    assert not ranked  # the scores never started


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: BLAS runs one thread anyway")
def test_scores_run_their_small_linear_algebra_on_one_blas_thread(monkeypatch: pytest.MonkeyPatch):
    """Threads buy nothing on a (n ≤ 256, D ≤ 256) SVD, and OpenBLAS's spinning threads made each one cost ~0.1 s
    of CPU and up to 1.5 s of wall time on a busy 2-core machine (vs ~3 ms on one thread), i.e. most of a ranking.
    The BLAS pools are what the SVD runs on: an OpenMP pool loaded later by another library (scikit-learn's
    libgomp, imported by an earlier test) is not the scores' business."""
    from threadpoolctl import threadpool_info

    from tshub.recommender.transferability import score_features

    seen = []
    svd = np.linalg.svd
    monkeypatch.setattr(
        np.linalg,
        "svd",
        lambda *a, **k: (
            seen.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")),
            svd(*a, **k),
        )[1],
    )
    rng = np.random.default_rng(0)
    score_features(rng.normal(size=(40, 16)), rng.integers(0, 2, 40), "logme", "classification")
    assert seen == [1]


def test_a_candidate_named_twice_or_two_ways_is_ranked_once(
    italy: Dataset, store: dict[str, Path], monkeypatch: pytest.MonkeyPatch
):
    """Regression: ``--candidates GunPoint/fcn GunPoint/fcn`` ranked GunPoint/fcn twice ("2 shown of 2 scored"). A
    checkpoint named by its id, by its folder and by a relative path is one candidate, under the first name."""
    monkeypatch.setenv("TSHUB_ZOO", str(store["ItalyPowerDemand"].parent.parent))
    italy_folder, china_folder = str(store["ItalyPowerDemand"]), str(store["Chinatown"])
    names = [italy_folder, "Chinatown/fcn", italy_folder, "ItalyPowerDemand/fcn", os.path.relpath(china_folder)]
    rec = recommend(italy, k=None, candidates=names, allow_self_transfer=True)
    assert sorted(rec.ids) == ["Chinatown/fcn", "ItalyPowerDemand/fcn"] and rec.n_candidates == 2
    assert "2 shown of 2 scored" in str(rec)
    missing = ["Nowhere/fcn", italy_folder, "Nowhere/fcn", "ItalyPowerDemand/fcn"]  # as a service's sources are
    loose = recommend(italy, k=None, candidates=missing, allow_self_transfer=True, strict_candidates=False)
    assert loose.ids == ["ItalyPowerDemand/fcn"] and [s.id for s in loose.skipped] == ["Nowhere/fcn"]


def test_an_offered_source_tshub_cannot_read_is_a_skipped_row_not_a_crash(
    italy: Dataset, store: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Regression: with strict_candidates=False (a service's configured sources) only a checkpoint nothing found was
    skipped; one whose config.json tshub cannot read (a newer format) raised CheckpointError through every ranking
    and every "auto" job."""
    zoo = tmp_path / "zoo"
    for name in ("Chinatown", "ItalyPowerDemand"):
        shutil.copytree(store[name], zoo / name / "fcn")
    config = zoo / "Chinatown" / "fcn" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "format_version": 99}))
    monkeypatch.setenv("TSHUB_ZOO", str(zoo))
    offered = ["Chinatown/fcn", "ItalyPowerDemand/fcn", "Nowhere/fcn"]
    rec = recommend(italy, k=None, candidates=offered, allow_self_transfer=True, strict_candidates=False, cache=False)
    assert rec.ids == ["ItalyPowerDemand/fcn"]
    reasons = {s.id: s.reason for s in rec.skipped}
    assert "format version 99 is not supported" in reasons["Chinatown/fcn"] and reasons["Nowhere/fcn"] == NOT_FOUND
    with pytest.raises(RecommendError, match=r"no candidate .*\(not found: Nowhere/fcn\) \(cannot be read: Chinatown"):
        recommend(italy, candidates=offered[::2], strict_candidates=False, cache=False)


def test_missing_regression_targets_are_refused_not_ranked_by_nan_scores(candidates: list[str]):
    """Regression: a regression read with label_column=None (targets NaN) was ranked by LogME scores that were all
    NaN, in no order, with advice; fine-tuning refuses the same data."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=40)
    y[:5] = np.nan
    unlabelled = Dataset.from_arrays(
        rng.normal(size=(40, 1, 24)), y, name="unlabelled", task="regression", meta={"unlabeled": True}
    )
    with pytest.raises(DatasetError, match="no targets for 5 of its 40 training series"):
        recommend(unlabelled, k=None, candidates=candidates, cache=False)


def test_a_candidate_whose_features_are_not_finite_is_skipped_not_ranked(
    italy: Dataset, candidates: list[str], tmp_path: Path
):
    """A checkpoint whose weights hold NaN (a diverged training saved anyway) gave a NaN LogME, which sorts
    nowhere in particular: it is a skipped row saying why."""
    broken = tshub.load_pretrained(candidates[0])
    with torch.no_grad():
        next(broken.backbone.parameters()).fill_(float("nan"))
    folder = broken.save_pretrained(tmp_path / "Broken" / "fcn", id="Broken/fcn")
    rec = recommend(italy, k=None, candidates=[str(folder), *candidates[1:]], allow_self_transfer=True, cache=False)
    assert "Broken/fcn" not in rec.ids and len(rec.ids) == len(candidates) - 1
    assert [s.id for s in rec.skipped] == ["Broken/fcn"] and "not finite" in rec.skipped[0].reason


def test_dtw_does_not_rank_a_checkpoint_that_cannot_be_loaded(italy: Dataset, candidates: list[str], tmp_path: Path):
    """Regression: dtw scores a source by its name, so a checkpoint whose weights were missing (or corrupted) was
    ranked, even first, with advice, where the feature methods skip it with the load error."""
    broken = Path(shutil.copytree(candidates[0], tmp_path / Path(candidates[0]).parent.name / "fcn"))
    (broken / "model.safetensors").unlink()
    pool = [str(broken), *candidates[1:]]
    rec = recommend(italy, k=None, method="dtw", candidates=pool, allow_self_transfer=True)
    assert len(rec.ids) == len(candidates) - 1 and [s.id for s in rec.skipped] == [f"{broken.parent.name}/fcn"]
    assert "has no model.safetensors" in rec.skipped[0].reason


def test_a_ranking_whose_candidates_all_score_the_same_says_so_and_advises_nothing(candidates: list[str]):
    """Regression: 40 constant series gave every zoo checkpoint the same LogME up to the 16th digit, and the first
    pick (with its advice) came from rounding, with no note. A target that tells the candidates apart gets none."""
    constant = Dataset.from_arrays(np.ones((40, 1, 24), dtype=np.float32), np.arange(40) % 2, name="constant")
    rec = recommend(constant, k=None, candidates=candidates)
    assert len(rec) == 3 and rec.note is not None and rec.advice is None
    assert "all 3 candidates scored the same" in rec.note and "the ranking carries no information" in rec.note
    assert "all 3 candidates scored the same" in str(rec) and "advice:" not in str(rec)
    informative = recommend("ItalyPowerDemand", k=None, candidates=candidates, allow_self_transfer=True)
    assert "scored the same" not in (informative.note or "") and informative.advice is not None


def test_scores_are_one_within_numerical_noise_and_each_tier_among_itself():
    from tshub.recommender.api import all_tied
    from tshub.recommender.candidates import Candidate
    from tshub.recommender.methods import SAME_SCORE_RTOL, Scored

    def scored(*scores: float, tier: int = 0, tie_break: float = 0.0) -> list[Scored]:
        return [
            Scored(Candidate(f"S{i}/fcn", "S", "fcn", "/x"), v, None, tier, tie_break) for i, v in enumerate(scores)
        ]

    noise = 0.78 * SAME_SCORE_RTOL / 2
    assert all_tied(scored(-0.78, -0.78 - noise, -0.78 + noise))
    assert all_tied(scored(0.0, 0.0)) and all_tied(scored(-0.78, -0.78) + scored(-0.9, -0.9, tier=1))
    assert not all_tied(scored(-0.78, -0.78 * (1 + 3 * SAME_SCORE_RTOL)))
    assert not all_tied(scored(-0.78)) and not all_tied([])  # one candidate is a pick, not a tie
    assert not all_tied(scored(-0.2) + scored(-5.0, tier=1))  # the screen put it alone on top: a pick on evidence
    assert not all_tied(scored(-0.78, tie_break=1.0) + scored(-0.78, tie_break=2.0))  # the tie-break decides


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"time_limit_s": -1}, "time_limit_s must be a number of seconds >= 0 or None (no limit), got -1"),
        ({"time_limit_s": float("nan")}, "time_limit_s must be a number of seconds >= 0 or None (no limit), got nan"),
        ({"method": "probe", "probe_epochs": 0}, "probe_epochs must be a whole number >= 1, got 0"),
    ],
)
def test_limits_that_make_no_sense_are_refused_before_any_work(options, words, monkeypatch):
    """Regression: time_limit_s=-1 loaded the target and the candidates, then stopped with "took longer than -1 s";
    probe_epochs=0 fine-tuned nothing and skipped every candidate with the same ValueError."""
    import importlib

    api = importlib.import_module("tshub.recommender.api")
    monkeypatch.setattr(api, "load_target", lambda *a: pytest.fail("the target was loaded"))
    with pytest.raises(RecommendError) as err:
        recommend("GunPoint", **options)
    assert not isinstance(err.value, RecommendTimeout) and words in str(err.value)


def test_a_time_limit_spent_compiling_the_dtw_kernels_says_so(candidates: list[str], monkeypatch):
    """Regression: the first dtw ranking on a machine whose numba cache was empty stopped at time_limit_s=30 after
    78.6 s with "scored 0 of 134 candidates: ... rank fewer candidates", where the time went into compiling the DTW
    kernels, which a process does once. Here a fresh copy of one DBA kernel compiles for real in the limited call."""
    import importlib

    import numba

    dba = importlib.import_module("tshub.similarity.averaging")
    index = SimilarityIndex()
    for name in SOURCES:  # ready prototypes: one class mean per class
        X, y = load(name).split("train")
        index.add(name, prototypes=[X[y == c].mean(axis=0) for c in np.unique(y)])
    rng = np.random.default_rng(0)
    target = Dataset.from_arrays(rng.normal(size=(12, 1, 24)).astype(np.float32), np.arange(12) % 2, name="noise")
    options = {"method": "dtw", "candidates": candidates, "index": index, "allow_self_transfer": True}
    recommend(target, **options)  # every kernel compiled or loaded: the limited call compiles only the fresh copy
    start = time.monotonic()
    assert len(recommend(target, **options)) == 3
    limit = round(max(2 * (time.monotonic() - start), 0.1), 3)  # room for all of it but the compiling
    monkeypatch.setattr(dba, "_reduce", numba.njit(nogil=True)(dba._reduce.py_func))  # a copy numba has not seen
    start = time.monotonic()
    with pytest.raises(RecommendTimeout) as err:
        recommend(target, **options, time_limit_s=limit)
    elapsed, message = time.monotonic() - start, str(err.value)
    assert f"took longer than {limit:g} s (scored 0 of 3 candidates; " in message
    compiling = float(message.split("candidates; ")[1].split(" s of it compiling numba's DTW kernels")[0])
    assert limit / 10 <= compiling <= elapsed + 0.05 and "once per process" in message  # said to 0.1 s
    if elapsed - compiling <= limit:  # the rest fitted the limit: asking again is the advice, not fewer candidates
        assert "ask again" in message and "rank fewer candidates" not in message


def test_a_negative_k_is_refused_not_read_as_a_slice():
    """k=-1 ranked every candidate but the last (rows[:k])."""
    data = Dataset.from_arrays(np.zeros((8, 1, 16)), np.arange(8) % 2)
    with pytest.raises(RecommendError, match="k must be a count >= 0 or None"):
        recommend(data, k=-1)


def test_a_folder_without_an_id_is_ranked_under_its_path(italy: Dataset, tmp_path: Path):
    """Regression: such a folder was named "<source>/<arch>", the id of the zoo's own checkpoint (so loading the
    pick loaded other weights) or of nothing at all."""
    model = tshub.train_from_scratch("fcn", italy, max_epochs=1, arch_kwargs={"filters": (4, 4, 4)}, progress=False)
    folder = str(model.model.save_pretrained(tmp_path / "mine"))
    rec = recommend("Coffee", k=1, candidates=[folder])
    assert rec.ids == [folder] and tshub.load_pretrained(rec.ids[0]).meta.get("id") is None


def test_k_0_says_none_was_shown_not_none_scored(candidates: list[str]):
    """Regression: k=0 printed "0 shown of 3 scored", then "(no candidate scored)"."""
    text = str(recommend("ItalyPowerDemand", k=0, candidates=candidates, allow_self_transfer=True))
    assert "0 shown of 3 scored" in text and "(none shown: k=0)" in text and "no candidate scored" not in text


def test_rows_the_screen_alone_scored_are_marked_as_on_another_footing():
    """Regression: row 11 (screen score 0.036) printed below row 10 (re-scored 0.024) under "higher is better", with
    nothing saying the two columns' scores came from different samples and precisions."""
    from tshub.recommender.results import RankedSource, Recommendation

    rows = [
        RankedSource(1, "A/fcn", 0.09, "A", "fcn", {"stage": "shortlist"}),
        RankedSource(2, "B/fcn", 0.02, "B", "fcn", {"stage": "shortlist"}),
        RankedSource(3, "C/fcn", 0.04, "C", "fcn", {"stage": "screen"}),
    ]
    text = str(Recommendation("T", "logme", "LogME", rows, n_candidates=3))
    assert "0.02 " in text and "0.04*" in text and "0.09*" not in text
    assert "* scored by the screen alone" in text
    plain = str(Recommendation("T", "logme", "LogME", rows[:2], n_candidates=2))
    assert "*" not in plain


def test_the_prototype_plot_of_a_regression_target_draws_one_prototype_of_all_its_series(
    candidates: list[str], italy: Dataset
):
    """Regression: a regression target's one prototype was labelled "class 0" under a "class" legend."""
    pytest.importorskip("matplotlib")
    from tshub.recommender.plot import ALL_SERIES, plot_prototypes

    X, _ = italy.split("train")
    values = Dataset.from_arrays(X, X[:, 0, :].mean(axis=1), name="levels", task="regression")
    figure = plot_prototypes(recommend(values, k=1, candidates=candidates), values, n_sources=1)
    target_axes = figure.axes[0]
    assert [t.get_text() for t in target_axes.get_legend().get_texts()] == [ALL_SERIES]
    assert target_axes.get_legend().get_title().get_text() == ""
    assert figure.axes[1].get_legend().get_title().get_text() == "class"


def test_recommend_leaves_the_callers_random_stream_as_it_was(shared_data: Path) -> None:
    """Regression: scoring a candidate whose network is adapted to the target (EMG/mlstm_fcn's 8 input channels for
    ECG200's one) seeded torch's global generator, on a cold feature cache only, so a user's seeded script drew
    other numbers on its first run than on later ones."""
    zoo = Path(__file__).resolve().parents[1] / "zoo"
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    recommend(load("ECG200"), candidates=[zoo / "EMG" / "mlstm_fcn"], k=1)
    assert torch.equal(torch.rand(3), expected)


def test_a_forecast_target_is_scored_on_the_network_its_fine_tune_starts_from_without_stream_max() -> None:
    """Regression: for a target whose values follow their series' level (a next-value forecast), fine-tuning learns
    a relative target and drops the source's raw stream_max input, but LogME scored the features with it: the raw
    maximum tracks the level, so every stream_max source (the six EMG checkpoints) ranked first on SP500."""
    from tshub.hub import load_pretrained
    from tshub.training.finetuning import preprocessing_of, stream_max_for

    source = load_pretrained(str(Path(__file__).resolve().parents[1] / "zoo" / "EMG" / "fcn"))
    assert source.use_stream_max
    rng = np.random.default_rng(0)
    walks = np.cumsum(rng.normal(size=(40, 65)), axis=1) + rng.uniform(-50, 50, size=(40, 1))
    forecast = Dataset.from_arrays(
        walks[:, None, :64], walks[:, 64], task="regression", splits={"train": np.arange(40)}
    )
    assert not stream_max_for(preprocessing_of(source, forecast), source.use_stream_max, None)
    features, _, _ = target_features(source, forecast)
    assert features.shape[1] == source.feature_dim  # the backbone's features alone, as the fine-tune's head sees them
    labelled = Dataset.from_arrays(walks[:, None, :64], np.arange(40) % 2, splits={"train": np.arange(40)})
    assert target_features(source, labelled)[0].shape[1] == source.feature_dim + 1  # a classifier keeps stream_max


def test_the_feature_cache_keeps_a_forecasts_features_apart_from_a_classifications_of_the_same_series() -> None:
    """The features of a target whose values follow its series' level leave out stream_max (the fine-tune's network
    takes none): the same series labelled otherwise must not hit them in the cache, nor they those."""
    from tshub.recommender.cache import sample_digest

    rng = np.random.default_rng(0)
    walks = np.cumsum(rng.normal(size=(40, 65)), axis=1) + rng.uniform(-50, 50, size=(40, 1))
    train = {"train": np.arange(40)}
    forecast = Dataset.from_arrays(walks[:, None, :64], walks[:, 64], task="regression", splits=train)
    labelled = Dataset.from_arrays(walks[:, None, :64], np.arange(40) % 2, splits=train)
    noise = Dataset.from_arrays(walks[:, None, :64], rng.normal(size=40), task="regression", splits=train)
    digests = {sample_digest(d, bf16=False) for d in (forecast, labelled)}
    assert len(digests) == 2 and sample_digest(noise, bf16=False) == sample_digest(labelled, bf16=False)


def test_a_fine_tune_descended_from_the_targets_own_source_is_no_transfer_either(shared_data: Path, tmp_path: Path):
    """Regression: GunPoint/fcn fine-tuned on Coffee, then on ECG200, was ranked first for GunPoint (its backbone
    learned GunPoint's training series) while GunPoint/fcn itself was left out as trained on the target's data: the
    check read only the last training's fingerprint and dataset. A fine-tune now records its ancestors' datasets and
    fingerprints, and the check reads them."""
    zoo = Path(__file__).resolve().parents[1] / "zoo"
    child = tshub.finetune(str(zoo / "GunPoint" / "fcn"), "Coffee", lr_multiplier=1.0, max_epochs=1, progress=False)
    child.model.save_pretrained(tmp_path / "child")
    grandchild = tshub.finetune(str(tmp_path / "child"), "ECG200", lr_multiplier=1.0, max_epochs=1, progress=False)
    grandchild.model.save_pretrained(tmp_path / "grandchild")
    assert grandchild.model.meta["ancestor_datasets"] == ["Coffee", "GunPoint"]
    folders = [tmp_path / "child", tmp_path / "grandchild", zoo / "ECG200" / "fcn"]
    ranked = recommend(load("GunPoint"), candidates=folders, k=None)
    skipped = {Path(s.id).name: s.reason for s in ranked.skipped}
    assert set(skipped) == {"child", "grandchild"} and ranked.ids == ["ECG200/fcn"]
    assert "identical to the training series of a checkpoint it was fine-tuned from" in skipped["grandchild"]


def test_dtw_and_logme_leave_out_logmes_order_when_its_scores_are_the_same() -> None:
    """Regression: LogME scores equal to 13 digits (a target whose labels have nothing to do with its series: logme
    says its order is arbitrary) still entered dtw+logme as a full spread of ranks, so its last digits moved the
    pick away from DTW's."""
    zoo = Path(__file__).resolve().parents[1] / "zoo"
    index = SimilarityIndex.load(zoo / "similarity")
    rng = np.random.default_rng(0)
    rng.normal(size=(12, 60))
    target = Dataset.from_arrays(rng.normal(size=(12, 60)), rng.normal(size=12), task="regression")
    folders = [zoo / name / "fcn" for name in ("GunPoint", "Coffee", "CBF")]
    by_logme = recommend(target, method="logme", candidates=folders, index=index, k=None)
    assert by_logme.note and "carries no information" in by_logme.note
    by_dtw = recommend(target, method="dtw", candidates=folders, index=index, k=None)
    combined = recommend(target, method="dtw+logme", candidates=folders, index=index, k=None)
    assert combined.ids == by_dtw.ids
