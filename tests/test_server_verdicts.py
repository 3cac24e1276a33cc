"""A job's verdicts: whether fine-tuning beat each referent, in its result and in GET /v1/jobs/{id} (tiny models)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")

from server.runner import run_job  # noqa: E402
from server.schemas import JobOut  # noqa: E402
from server.uploads import ParseOptions, ingest, save_npz, store_raw  # noqa: E402
from tshub.data import Dataset  # noqa: E402
from tshub.data.preprocess import ZNormalize  # noqa: E402
from tshub.models import build_model  # noqa: E402
from tshub.recommender.advice import compare  # noqa: E402

SPEC = {"model": "Tiny/fcn", "arch": None, "lr_multiplier": 1.0, "epochs": 1, "budget_s": None, "seed": 0}


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny FCN source in a private zoo and a stored two-class upload with a test split."""
    monkeypatch.setenv("TSHUB_ZOO", str(tmp_path / "zoo"))
    torch.manual_seed(0)
    source = build_model("fcn", 1, 2, filters=(4, 4, 4), kernel_sizes=(3, 3, 3))
    source.task, source.classes, source.preprocessor = "classification", ["a", "b"], ZNormalize()
    source.save_pretrained(tmp_path / "zoo" / "Tiny" / "fcn", id="Tiny/fcn")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 1, 24)).astype(np.float32)
    y = np.arange(48) % 2
    X[y == 1, :, 8:16] += 3
    splits = {"train": np.arange(24), "val": np.arange(24, 32), "test": np.arange(32, 48)}
    data = Dataset("bumps", X, y, "classification", classes=["a", "b"], splits=splits)
    path = tmp_path / "bumps.npz"
    save_npz(data, path, data.summary())
    return path


def _job(spec: dict, result: dict) -> SimpleNamespace:
    """A succeeded job row holding ``result``, as the worker stores it (for ``JobOut.of``, the job resource)."""
    return SimpleNamespace(
        id="j",
        state="succeeded",
        reason=None,
        dataset_id="d",
        spec=spec,
        result=result,
        progress={"phase": "done"},
        attempts=1,
        cancel_requested=False,
        created_at=datetime.now(UTC),
        started_at=None,
        finished_at=None,
    )


def test_a_job_with_baselines_says_whether_fine_tuning_beat_each(stored: Path) -> None:
    """Regression: a job's result held the fine-tuned, from-scratch and MiniRocket metrics side by side and said
    which won only when the model was "auto" (the advice's outcome, worked out again in the page's script); the CLI
    printed a verdict. The result now carries the library's verdicts, and the job resource shows them."""
    pytest.importorskip("sklearn")
    result, _ = run_job({**SPEC, "baseline": True}, stored, lambda event: None)
    tuned = result["metrics"]
    expected = compare(tuned, result["baseline"]["metrics"], result["minirocket"]["metrics"])
    assert result["verdicts"] == [v.to_dict() for v in expected]
    assert [v["referent"] for v in result["verdicts"]] == ["scratch", "minirocket"]
    scratch = result["verdicts"][0]
    assert scratch["metric"] == "accuracy" and scratch["tuned"] == tuned["accuracy"]
    assert scratch["outcome"] in ("won", "lost", "tied") and "one seed" in scratch["note"]
    assert (
        scratch["sentence"].startswith("Fine-tuning ") and "training from scratch: test accuracy" in scratch["sentence"]
    )
    shown = JobOut.of(_job({**SPEC, "baseline": True}, result)).model_dump(
        mode="json"
    )  # as GET /v1/jobs/{id} answers it
    assert shown["verdicts"] == result["verdicts"]


def test_a_job_without_baselines_has_no_verdict_to_give(stored: Path) -> None:
    result, _ = run_job({**SPEC, "baseline": False}, stored, lambda event: None)
    assert result["verdicts"] == []  # a classification has no naive forecast: nothing to compare with


def test_a_regression_job_s_result_holds_the_naive_forecasts_it_must_beat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a regression job's result (GET /v1/jobs/{id}) gave the fine-tune's error and, at most, a verdict
    against persistence, but not the naive forecasts' scores (the training mean's, persistence's) that the CLI and
    the model card show: a user of the service could not see what the model must beat. Uploaded and run as the
    service does (``ingest``, then the worker's ``run_job``), shown as the job resource answers it."""
    monkeypatch.setenv("TSHUB_ZOO", str(tmp_path / "zoo"))
    torch.manual_seed(0)
    source = build_model("fcn", 1, 1, filters=(4, 4, 4), kernel_sizes=(3, 3, 3))
    source.task, source.preprocessor = "regression", ZNormalize()
    source.save_pretrained(tmp_path / "zoo" / "Walk" / "fcn", id="Walk/fcn")
    rng = np.random.default_rng(0)
    walk = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (60, 25)), axis=1))  # price windows and their next value
    rows = "".join("\t".join(f"{v:.5f}" for v in (row[24], *row[:24])) + "\n" for row in walk)
    storage = tmp_path / "storage"
    raw = store_raw(io.BytesIO(rows.encode()), "walk.tsv", storage, limit_bytes=10**6)
    upload = ingest([raw], ParseOptions(task="regression"), storage, "alice")
    spec = {**SPEC, "model": "Walk/fcn", "baseline": False}
    result, _ = run_job(spec, storage / upload.path, lambda event: None)
    job = JobOut.of(_job(spec, result)).model_dump(mode="json")
    naive = job["result"]["naive"]
    assert set(naive) == {"training_mean", "persistence"}
    for forecast in naive.values():
        assert set(forecast["metrics"]) == {"mae", "mse"} and set(forecast["val_metrics"]) == {"mae", "mse"}
    (verdict,) = job["verdicts"]  # the persistence verdict, against the very scores the result now holds
    assert verdict["referent"] == "persistence" and verdict["value"] == naive["persistence"]["metrics"]["mae"]
