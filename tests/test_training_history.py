"""A checkpoint keeps its training's per-epoch curves (training_history.json): written by every training, carried
through save/load and the service's zip, optional for loading, drawn on the model page."""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import tshub
from tshub.data.splits import official_with_validation
from tshub.hub.checkpoint import CONFIG_NAME, HISTORY_NAME, WEIGHTS_NAME
from tshub.hub.history import TrainingHistory
from tshub.hub.store import home_store
from tshub.training import FitResult, train_from_scratch

REPO_ZOO = Path(__file__).resolve().parents[1] / "zoo"
NARROW = {"filters": (8, 16, 8), "kernel_sizes": (8, 5, 3)}


@pytest.fixture(scope="module")
def gunpoint(ucr_root: Path) -> tshub.Dataset:
    return official_with_validation(tshub.datasets.load("GunPoint", root=ucr_root.parent))


@pytest.fixture(scope="module")
def trained(gunpoint: tshub.Dataset) -> FitResult:
    return train_from_scratch("fcn", gunpoint, max_epochs=5, progress=False, arch_kwargs=NARROW)


def test_a_trained_model_round_trips_its_history_through_save_and_load(trained: FitResult, tmp_path: Path) -> None:
    history = trained.model.training_history
    assert history.epochs == len(trained.history) == 5 and history.best_epoch == trained.best_epoch
    assert history.stop_reason == trained.stop_reason
    for key in ("loss", "val_loss", "val_accuracy", "val_f1_weighted"):
        assert history.curve(key) == pytest.approx([r[key] for r in trained.history], rel=1e-5)
    assert history.curve("lr") == pytest.approx([r["lr"]["all"] for r in trained.history])

    folder = trained.model.save_pretrained(tmp_path / "m")
    text = (folder / HISTORY_NAME).read_text()
    assert len(text) < 2_000 and json.loads(text)["format"] == 1  # plain JSON, rounded floats: small
    loaded = tshub.load_pretrained(str(folder))
    assert loaded.training_history == history
    # the history is a file of its own: config.json and the weights are exactly what they were without it
    trained.model.training_history = None
    try:
        bare = trained.model.save_pretrained(tmp_path / "bare")
    finally:
        trained.model.training_history = history
    assert not (bare / HISTORY_NAME).exists()
    configs = [json.loads((f / CONFIG_NAME).read_text()) for f in (bare, folder)]
    for config in configs:  # safetensors writes its metadata map in no fixed order: the header bytes may differ
        config.pop("weights_sha256")
    assert configs[0] == configs[1]
    assert all(torch.equal(t, load_file(folder / WEIGHTS_NAME)[k]) for k, t in load_file(bare / WEIGHTS_NAME).items())
    # re-saving a loaded model keeps its history; saving a model without one over it removes the stale file
    assert loaded.save_pretrained(tmp_path / "again") and (tmp_path / "again" / HISTORY_NAME).read_text() == text
    loaded.training_history = None
    loaded.save_pretrained(tmp_path / "again")
    assert not (tmp_path / "again" / HISTORY_NAME).exists()


def saved_before_histories(folder: Path) -> Path:
    """A zoo checkpoint as saved before histories existed: without its training_history.json (the zoo's rebuild
    gives every one a history, so none is left to stand for the older ones)."""
    shutil.copytree(REPO_ZOO / "Adiac" / "fcn", folder)
    (folder / HISTORY_NAME).unlink(missing_ok=True)
    return folder


def test_a_checkpoint_without_history_loads_as_before_and_a_bad_one_only_warns(
    trained: FitResult, gunpoint: tshub.Dataset, tmp_path: Path
) -> None:
    old = saved_before_histories(tmp_path / "old")
    model = tshub.load_pretrained(str(old))
    assert model.training_history is None and model.meta["best_epoch"]

    folder = trained.model.save_pretrained(tmp_path / "m")
    for bad, why in (
        ('{"format": 1, "epochs": 2, "curves": {"loss": [1.0]}}', "2 numbers"),
        ("not json", "not valid JSON"),
        ('{"format": 9}', "format 9"),
    ):
        (folder / HISTORY_NAME).write_text(bad)
        with pytest.warns(UserWarning, match=why):
            damaged = tshub.load_pretrained(str(folder))
        assert damaged.training_history is None
        assert damaged.predict(gunpoint.split("test")[0][:3]).shape == (3,)


def test_a_fine_tune_keeps_the_curves_of_its_chosen_multiplier(trained: FitResult, gunpoint: tshub.Dataset) -> None:
    tuned = trained.model.finetune(gunpoint, lr_multiplier=[0.1, 1.0], max_epochs=2, progress=False)
    history = tuned.model.training_history
    assert history.epochs == len(tuned.history) and history.best_epoch == tuned.best_epoch
    omega = tuned.lr_multiplier
    assert history.curve("lr_transferred") == pytest.approx([omega * lr for lr in history.curve("lr_new")])
    assert f"ω = {omega:g}" in history.note and "2 the fine-tune tried" in history.note


def test_lr_changes_and_rounding() -> None:
    records = [
        {"epoch": i + 1, "loss": 1 / 3 + i, "lr": {"all": lr}, "time_s": 0.1234567}
        for i, lr in enumerate([1e-3, 1e-3, 2e-4, 2e-4, 4e-5])
    ]
    records[1]["loss"] = float("nan")
    history = TrainingHistory.from_records(records, best_epoch=4, stop_reason="early_stopping")
    assert history.curves["loss"][:2] == [0.333333, None] and history.curves["time_s"][0] == 0.123457
    assert history.lr_changes() == [(3, 2e-4), (5, 4e-5)]
    assert TrainingHistory.from_json(history.to_json()) == history
    with pytest.raises(ValueError, match="best_epoch"):
        TrainingHistory.from_dict({**history.to_dict(), "best_epoch": 6})


# ---------------------------------------------------------------------------------------------- the model page
def test_the_model_page_plots_the_curves_and_the_zip_carries_them(
    trained: FitResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from server.app import create_app

    trained.model.save_pretrained(home_store().root / "GunPoint" / "fcn", id="GunPoint/fcn")
    saved_before_histories(home_store().root / "Adiac" / "fcn")
    monkeypatch.setenv("TSHUB_SERVER_SOURCES", "GunPoint/fcn,Adiac/fcn")
    with TestClient(create_app()) as client:
        page = client.get("/ui/models/GunPoint/fcn").text
        figure = re.search(r'<figure id="training-curves">(.*?)</figure>', page, re.S)
        assert figure, "no training curves on the page"
        plots = re.findall(r"<svg.*?</svg>", figure.group(1), re.S)
        assert [re.search(r"<title>(.*?)</title>", p).group(1) for p in plots] == [
            "Loss per epoch",
            "Validation metrics per epoch",
        ]
        kept = trained.best_epoch or len(trained.history)
        assert all(f"kept: epoch {kept}" in p and 'class="mark"' in p for p in plots)
        assert "training loss" in plots[0] and "validation loss" in plots[0]
        assert "validation Accuracy" in plots[1] and "validation F1 (weighted)" in plots[1]
        assert f"Weights of epoch {kept} of 5 kept" in figure.group(1)

        archive = client.get("/ui/models/GunPoint/fcn/checkpoint.zip")
        zipfile.ZipFile(io.BytesIO(archive.content)).extractall(tmp_path / "unzipped")
        assert tshub.load_pretrained(str(tmp_path / "unzipped")).training_history == trained.model.training_history

        before = client.get("/ui/models/Adiac/fcn").text  # a checkpoint saved before histories: the sentence
        assert 'id="training-curves"' not in before and f"has no {HISTORY_NAME}" in before
