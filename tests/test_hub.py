"""Checkpoints, model ids, stores, resolution order, Hub boundary and model cards (tshub.hub).

The network is never reached: HF_HUB_OFFLINE=1 (conftest) exercises the real offline paths, and
``snapshot_download`` is replaced only to check what resolution asks of the Hub (order, names, flags). Downloads,
uploads, revisions and errors run the real client against a live ``tshub serve`` in tests/test_hub_server.py.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard, constants
from safetensors.torch import load_file, save_file

import tshub
from tshub.cli import main
from tshub.data.preprocess import MinMaxMask, ZNormalize
from tshub.hub import (
    CheckpointError,
    HubError,
    InvalidModelIdError,
    ModelId,
    ModelNotFoundError,
    list_pretrained,
    load_checkpoint,
    load_pretrained,
    parse_model_id,
    pull,
    resolve,
    write_index,
)
from tshub.hub.checkpoint import CARD_NAME, CONFIG_NAME, HISTORY_NAME, MAX_CONFIG_BYTES, WEIGHTS_NAME, sha256_file
from tshub.hub.history import TrainingHistory
from tshub.hub.ids import as_model_id
from tshub.hub.store import home_store
from tshub.models import build_model, default_kwargs, get_architecture, list_architectures
from tshub.models.base import TimeSeriesModel

SMALL = {"filters": (8, 16, 8)}


def read_ucr(root: Path, name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(root / name / f"{name}_{split}.tsv.gz", delimiter="\t", dtype=np.float32)
    return table[:, None, 1:], table[:, 0].astype(int).astype(str)


def raw_predict(model: TimeSeriesModel, X_raw: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """What predicting on raw data means: the stored preprocessing, the network, the stored class names."""
    X, stream_max = model.preprocessor.transform(X_raw)
    with torch.no_grad():
        out = model.eval()(torch.from_numpy(X), None if stream_max is None else torch.from_numpy(stream_max))
    return out, np.asarray(model.classes)[out.argmax(1).numpy()]


def train_briefly(model: TimeSeriesModel, X: np.ndarray, y: np.ndarray, steps: int = 300) -> None:
    """Full-batch Adam; BatchNorm statistics follow fast (momentum 0.1), so a few hundred steps give a usable model.

    (100 steps at lr 1e-2 left GunPoint's test accuracy anywhere in 0.5-0.97 with the rounding of the thread count
    or the convolutions' layout; 300 at 3e-3 gave 0.95-1.0 over 5 seeds × 1 and 2 threads.)"""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.momentum = 0.1
    X_t, stream_max = model.preprocessor.transform(X)
    sm = None if stream_max is None else torch.from_numpy(stream_max)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model.train()(torch.from_numpy(X_t), sm), torch.from_numpy(y)).backward()
        optimizer.step()


@pytest.fixture(scope="module")
def gunpoint(ucr_root: Path) -> dict[str, np.ndarray]:
    X_train, y_train = read_ucr(ucr_root, "GunPoint", "TRAIN")
    X_test, y_test = read_ucr(ucr_root, "GunPoint", "TEST")
    return {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test}


@pytest.fixture(scope="module")
def fcn(gunpoint: dict[str, np.ndarray]) -> TimeSeriesModel:
    """A small FCN briefly trained on real GunPoint data, carrying what training attaches."""
    torch.manual_seed(0)
    classes = sorted(set(gunpoint["y_train"]))
    y = np.array([classes.index(c) for c in gunpoint["y_train"]])
    model = build_model("fcn", 1, len(classes), **SMALL)
    model.task, model.classes, model.preprocessor = "classification", classes, ZNormalize().fit(gunpoint["X_train"])
    train_briefly(model, gunpoint["X_train"], y)
    _, predicted = raw_predict(model, gunpoint["X_test"])
    accuracy = float(np.mean(predicted == gunpoint["y_test"]))
    model.meta = {
        "source_dataset": "GunPoint",
        "recipe": "default",
        "train_config": {"lr": 0.01, "max_epochs": 100},
        "metrics": {"accuracy": accuracy, "f1_weighted": accuracy},
        "seed": 0,
        "epochs": 100,
        "splits": {"train": 50, "test": 150},
    }
    return model.eval()


@pytest.fixture(autouse=True)
def _private_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline lookups read an empty HF cache, never the user's."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.delenv("TSHUB_ZOO", raising=False)
    monkeypatch.delenv("TSHUB_NAMESPACE", raising=False)


def publish_card_fields() -> dict:
    return {
        "id": "GunPoint/fcn",
        "license": "apache-2.0",
        "source": {
            "name": "GunPoint",
            "domain": "Motion",
            "citation": "Dau et al., The UCR time series archive, IEEE/CAA J. Autom. Sinica 6(6), 2019.",
        },
        "reference": {
            "name": "FCN (Wang et al. 2017)",
            "metrics": {"accuracy": 1.0},
            "citation": "Wang, Yan, Oates, IJCNN 2017",
        },
    }


# ------------------------------------------------------------------------------------------- checkpoint folder
def test_save_load_gives_identical_outputs_and_raw_predictions(fcn, gunpoint, tmp_path):
    folder = fcn.save_pretrained(tmp_path / "ckpt", **publish_card_fields())
    assert sorted(p.name for p in folder.iterdir()) == [CARD_NAME, CONFIG_NAME, WEIGHTS_NAME]

    loaded = tshub.load_pretrained(str(folder))
    assert not loaded.training
    for name, tensor in fcn.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    out, labels = raw_predict(fcn, gunpoint["X_test"])
    out2, labels2 = raw_predict(loaded, gunpoint["X_test"])
    assert torch.equal(out, out2)
    assert labels.tolist() == labels2.tolist() and set(labels2) <= {"1", "2"}
    assert loaded.predict(gunpoint["X_test"]).tolist() == labels2.tolist()  # the public API on raw data
    accuracy = np.mean(labels2 == gunpoint["y_test"])
    assert accuracy == pytest.approx(fcn.meta["metrics"]["accuracy"]) and accuracy > 0.9
    assert (loaded.task, loaded.classes, loaded.preprocessor.kind) == ("classification", ["1", "2"], "znorm")
    assert loaded.meta == {**fcn.meta, **publish_card_fields()}

    config = json.loads((folder / CONFIG_NAME).read_text())
    assert config["format_version"] == 1 and config["tshub_version"] == tshub.__version__
    assert config["weights_sha256"] == sha256_file(folder / WEIGHTS_NAME)
    assert config["arch_kwargs"]["filters"] == [8, 16, 8] and config["dtype"] == "float32"
    assert config["n_parameters"] == sum(p.numel() for p in fcn.parameters())
    assert config["source_dataset"] == "GunPoint" and config["meta"]["splits"] == {"train": 50, "test": 150}


# Non-default constructor arguments per architecture: a model built from its class must round-trip with them.
NON_DEFAULT_KWARGS = {
    "convnetquake": {"init": "he_normal", "l2": 0.0},
    "convtimenet": {"kernel_sizes": (4, 8), "filters_per_kernel": 4, "n_blocks": 2, "bottleneck": 8},
    "fcn": {"filters": (8, 16, 8), "kernel_sizes": (7, 5, 3)},
    "magnet": {"dropout": 0.1, "lstm_units": 12},
    "mlstm_fcn": {"lstm_units": 4, "filters": (8, 16, 8), "se_ratio": 4},
    "tcn": {"nb_filters": 6, "kernel_size": 3, "dilations": (1, 2, 4)},
}


def test_every_architecture_has_non_default_kwargs_in_the_round_trip_test():
    assert sorted(NON_DEFAULT_KWARGS) == list_architectures()


@pytest.mark.parametrize("arch", sorted(NON_DEFAULT_KWARGS))
def test_a_model_built_from_its_class_round_trips_with_its_arguments(arch, tmp_path):
    cls = get_architecture(arch)
    torch.manual_seed(0)
    model = cls(2, 3, use_stream_max=True, input_length=64, **NON_DEFAULT_KWARGS[arch]).eval()
    assert model.arch_kwargs == {**default_kwargs(arch), **NON_DEFAULT_KWARGS[arch]}
    loaded = load_pretrained(model.save_pretrained(tmp_path / arch))
    assert type(loaded) is cls and loaded.config() == json.loads(json.dumps(model.config()))
    x = torch.randn(2, 2, 64, generator=torch.Generator().manual_seed(1))
    stream_max = x.abs().amax(dim=(1, 2)).unsqueeze(1)
    with torch.no_grad():
        assert torch.equal(loaded(x, stream_max), model(x, stream_max))


def test_the_weights_file_gets_the_same_mode_as_its_neighbours(fcn, tmp_path):
    """model.safetensors was written 0600 (safetensors' save_file) while config.json and README.md got 0644."""
    old = os.umask(0o022)
    try:
        folder = fcn.save_pretrained(tmp_path / "ckpt")
    finally:
        os.umask(old)
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == {
        WEIGHTS_NAME: "0o644",
        CONFIG_NAME: "0o644",
        CARD_NAME: "0o644",
    }


def test_predict_gives_labels_or_the_codes_that_split_gives(fcn, ucr_root):
    from tshub.data.readers import read_file

    ds = read_file(ucr_root / "GunPoint" / "GunPoint_TEST.tsv.gz").with_splits({"test": np.arange(150)})
    X, codes = ds.split("test")
    _, labels = ds.split("test", labels=True)
    assert codes.dtype == np.int64 and labels.tolist() == np.asarray(ds.classes)[codes].tolist()
    predicted = fcn.predict(X)
    assert set(predicted) <= {"1", "2"}
    assert fcn.predict(X, codes=True).tolist() == [fcn.classes.index(p) for p in predicted]
    assert np.mean(predicted == labels) == np.mean(fcn.predict(X, codes=True) == codes) > 0.9


def test_fitted_preprocessing_statistics_travel_in_the_weights_file(gunpoint, tmp_path):
    torch.manual_seed(1)
    model = build_model("fcn", 1, 2, use_stream_max=True, **SMALL)
    model.task, model.classes = "classification", ["1", "2"]
    model.preprocessor = MinMaxMask().fit(gunpoint["X_train"])
    y = (gunpoint["y_train"] == "2").astype(int)
    train_briefly(model, gunpoint["X_train"], y, steps=5)
    folder = model.save_pretrained(tmp_path / "mm")

    tensors = load_file(folder / WEIGHTS_NAME)
    assert tensors["preprocessing.mask"].shape == (1, 150)
    loaded = load_pretrained(folder)
    np.testing.assert_array_equal(loaded.preprocessor.mask, model.preprocessor.mask)
    assert torch.equal(raw_predict(loaded, gunpoint["X_test"])[0], raw_predict(model, gunpoint["X_test"])[0])
    assert loaded.predict(gunpoint["X_test"]).tolist() == model.predict(gunpoint["X_test"]).tolist()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_shrunk_dtype_halves_the_file_and_loads_back_as_float32(fcn, gunpoint, tmp_path, dtype):
    default_size = build_model("fcn", 1, 2)  # 266k parameters: file size is the weights, not the header
    full = default_size.save_pretrained(tmp_path / "f32")
    assert (default_size.save_pretrained(tmp_path / "big", dtype=dtype) / WEIGHTS_NAME).stat().st_size < 0.51 * (
        full / WEIGHTS_NAME
    ).stat().st_size
    half = fcn.save_pretrained(tmp_path / dtype, dtype=dtype)
    stored = load_file(half / WEIGHTS_NAME)
    assert stored["head.weight"].dtype == getattr(torch, dtype)
    assert stored["backbone.block1.bn.num_batches_tracked"].dtype == torch.int64
    assert json.loads((half / CONFIG_NAME).read_text())["dtype"] == dtype
    loaded = load_pretrained(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    out, labels = raw_predict(loaded, gunpoint["X_test"])
    reference, reference_labels = raw_predict(fcn, gunpoint["X_test"])
    assert torch.allclose(out, reference, atol={"float16": 0.05, "bfloat16": 0.4}[dtype])  # 11- / 8-bit mantissas
    assert np.mean(labels == reference_labels) > 0.95
    assert dtype in (half / CARD_NAME).read_text()


def test_corrupted_weights_are_refused(fcn, tmp_path):
    folder = fcn.save_pretrained(tmp_path / "c")
    data = bytearray((folder / WEIGHTS_NAME).read_bytes())
    data[-10] ^= 0xFF
    (folder / WEIGHTS_NAME).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checkpoint corrupted, re-pull"):
        load_pretrained(folder)


def test_missing_and_unexpected_keys_are_listed(fcn, tmp_path):
    folder = fcn.save_pretrained(tmp_path / "k")
    tensors = load_file(folder / WEIGHTS_NAME)
    tensors["backbone.block4.conv.weight"] = torch.zeros(3)
    del tensors["head.bias"]
    save_file(tensors, folder / WEIGHTS_NAME)
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["weights_sha256"] = sha256_file(folder / WEIGHTS_NAME)
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as err:
        load_pretrained(folder)
    assert "missing keys: head.bias" in str(err.value)
    assert "unexpected keys: backbone.block4.conv.weight" in str(err.value)


def test_unknown_format_version_is_refused(fcn, tmp_path):
    folder = fcn.save_pretrained(tmp_path / "v")
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["format_version"] = 99
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="format version 99 is not supported.*upgrade tshub"):
        load_pretrained(folder)


def test_a_folder_without_config_is_not_a_checkpoint(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a tshub checkpoint"):
        load_pretrained(tmp_path / "empty")


def test_a_file_of_a_checkpoint_names_its_folder(fcn, tmp_path):
    """`tshub info GunPoint/fcn/config.json` said the "folder" config.json did not exist and tried it as a Hub
    repo; a file is no checkpoint, and the error names the folder it belongs to."""
    folder = fcn.save_pretrained(tmp_path / "ck")
    with pytest.raises(CheckpointError, match=r"is a file, not a checkpoint folder; pass its folder .*ck"):
        load_pretrained(folder / CONFIG_NAME)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(CheckpointError, match=r"is a file, not a checkpoint folder; pass a folder") as err:
        load_pretrained(tmp_path / "notes.txt")
    assert "its folder" not in str(err.value)


def test_multi_head_checkpoint_keeps_every_head(tmp_path):
    torch.manual_seed(0)
    model = build_model("fcn", 1, 2, **SMALL)
    model.set_heads({"GunPoint": 2, "Coffee": 2, "Adiac": 37})
    loaded = load_pretrained(model.save_pretrained(tmp_path / "mh"))
    x = torch.randn(3, 1, 40)
    assert torch.equal(loaded(x, head="Adiac"), model.eval()(x, head="Adiac"))
    assert loaded.config()["heads"] == {"GunPoint": 2, "Coffee": 2, "Adiac": 37}
    assert loaded.preprocessor is None


def test_from_pretrained_is_symmetric_and_checks_the_class(fcn, tmp_path):
    folder = fcn.save_pretrained(tmp_path / "s")
    assert isinstance(TimeSeriesModel.from_pretrained(folder), get_architecture("fcn"))
    assert isinstance(get_architecture("fcn").from_pretrained(str(folder)), get_architecture("fcn"))
    other = next(get_architecture(a) for a in tshub.list_architectures() if a != "fcn")
    with pytest.raises(TypeError, match="use tshub.load_pretrained"):
        other.from_pretrained(folder)


# ------------------------------------------------------------------------------------------- model card
def test_card_is_generated_from_the_config(fcn, tmp_path):
    folder = fcn.save_pretrained(tmp_path / "card", **publish_card_fields())
    card = ModelCard.load(folder / CARD_NAME)
    assert card.data.library_name == "tshub" and card.data.license == "apache-2.0"
    assert {"tshub", "time-series-classification", "fcn", "motion"} <= set(card.data.tags)
    assert card.data.datasets == ["GunPoint"]
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results == {"accuracy": fcn.meta["metrics"]["accuracy"], "f1": fcn.meta["metrics"]["f1_weighted"]}
    assert all(r.dataset_split == "test" for r in card.data.eval_results)
    text = card.text
    for expected in (
        "Dau et al., The UCR time series archive",
        "FCN of Wang, Yan & Oates",
        "`znorm`",
        "Reference: FCN (Wang et al. 2017)",
        'tshub.load_pretrained("GunPoint/fcn")',
        "model.finetune(",
        "## Limitations",
        "| max_epochs | 100 |",
    ):
        assert expected in text, expected


def test_the_card_of_a_checkpoint_without_an_id_does_not_tell_to_pull_a_folder(fcn, tmp_path):
    """Regression: a model saved to a folder without an id got `tshub pull path/to/checkpoint` in its card, which
    always fails ("Repo id must be in the form ...")."""
    fcn.meta.pop("id", None)
    text = (fcn.save_pretrained(tmp_path / "local") / CARD_NAME).read_text()
    assert "tshub pull" not in text and "tshub info path/to/checkpoint" in text
    named = (fcn.save_pretrained(tmp_path / "named", id="GunPoint/fcn") / CARD_NAME).read_text()
    assert "tshub pull GunPoint/fcn" in named


@pytest.mark.parametrize("statistics", [True, False])
def test_a_multi_head_card_says_when_its_heads_share_batchnorm_statistics(statistics, tmp_path):
    torch.manual_seed(0)
    model = build_model("fcn", 1, 2, **SMALL)
    model.set_heads({"GunPoint": 2, "Coffee": 2}, statistics=statistics)
    text = ModelCard.load(model.save_pretrained(tmp_path / "mh") / CARD_NAME).text
    assert "Multi-head: pick a source head" in text
    assert ("share one set of BatchNorm running statistics" in text) is not statistics
    # regression: its usage called model.predict(X_raw), which a multi-head model refuses without a head
    assert 'model.predict(X_raw, head="GunPoint")' in text and "model.predict(X_raw)  " not in text


# ------------------------------------------------------------------------------------------- ids
def test_model_ids_parse_and_name_their_hub_repo(monkeypatch):
    assert parse_model_id("LEN-DB/magnet") == ModelId("LEN-DB", "magnet")
    assert parse_model_id(" gunpoint/FCN ") == ModelId("gunpoint", "fcn")
    assert parse_model_id("gunpoint/fcn").key == parse_model_id("GunPoint/fcn").key
    assert parse_model_id("LEN-DB/magnet").repo_id() == "tshub/LEN-DB-magnet"
    monkeypatch.setenv("TSHUB_NAMESPACE", "my-org")
    assert parse_model_id("SP500/tcn").repo_id() == "my-org/SP500-tcn"
    for bad in ("GunPoint", "a/b/c", "Gun Point/fcn", "S&P500/fcn", "-x/fcn", "GunPoint/nosuch"):
        with pytest.raises(InvalidModelIdError):
            parse_model_id(bad)
    assert as_model_id("me/gunpoint-from-lendb-magnet") is None  # a plain Hub repo id


def test_list_models_is_a_deprecated_name_of_list_pretrained():
    with pytest.warns(DeprecationWarning, match="tshub.list_pretrained"):
        assert tshub.list_models is tshub.list_pretrained


def test_a_model_id_matches_and_respells_its_source_case_insensitively():
    model_id = parse_model_id("gunpoint/fcn")
    assert model_id.names_source("GUNPOINT") and not model_id.names_source("GunPointAgeSpan")
    assert model_id.spelled_as(["Coffee", "GunPoint", "gunpoint"]) == ModelId("GunPoint", "fcn")
    assert model_id.spelled_as(["Coffee"]) == model_id


# ------------------------------------------------------------------------------------------- stores and resolution
def test_local_stores_match_sources_case_insensitively_in_order(fcn, tmp_path, monkeypatch):
    zoo_a, zoo_b = tmp_path / "zoo_a", tmp_path / "zoo_b"
    monkeypatch.setenv("TSHUB_ZOO", f"{zoo_a}{os.pathsep}{zoo_b}")
    fcn.save_pretrained(zoo_b / "GunPoint" / "fcn", id="GunPoint/fcn", recipe="in-zoo-b")
    assert load_pretrained("gunpoint/FCN").meta["recipe"] == "in-zoo-b"
    fcn.save_pretrained(zoo_a / "GunPoint" / "fcn", recipe="in-zoo-a")
    assert load_pretrained("GunPoint/fcn").meta["recipe"] == "in-zoo-a"
    fcn.save_pretrained(home_store().root / "GunPoint" / "fcn", recipe="in-home")
    loaded = load_pretrained("GUNPOINT/fcn")
    assert loaded.meta["recipe"] == "in-home" and loaded.meta["id"] == "GUNPOINT/fcn"


def test_resolution_order_folder_then_stores_then_hub(fcn, tmp_path, monkeypatch):
    calls = []
    hub_copy = fcn.save_pretrained(tmp_path / "hub_snapshot", recipe="from-hub")

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(hub_copy)

    monkeypatch.setattr("tshub.hub.remote.snapshot_download", fake_snapshot_download)
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.example.org")
    # 1. an existing folder: the Hub is not asked
    local = fcn.save_pretrained(tmp_path / "GunPoint" / "fcn", recipe="folder")
    monkeypatch.chdir(tmp_path)
    assert load_pretrained("GunPoint/fcn").meta["recipe"] == "folder" and not calls
    shutil.rmtree(local)
    # 2. nothing local: the Hub repo of the id, offline flag passed through, only checkpoint files
    assert load_pretrained("GunPoint/fcn").meta["recipe"] == "from-hub"
    repo_id, kwargs = calls.pop()
    assert repo_id == "tshub/GunPoint-fcn" and kwargs["revision"] is None and kwargs["local_files_only"] is True
    assert kwargs["endpoint"] == "https://mirror.example.org"
    assert set(kwargs["allow_patterns"]) == {CONFIG_NAME, WEIGHTS_NAME, CARD_NAME, HISTORY_NAME}
    # 3. a local store beats the Hub ...
    fcn.save_pretrained(home_store().root / "GunPoint" / "fcn", recipe="home")
    assert load_pretrained("GunPoint/fcn").meta["recipe"] == "home" and not calls
    # 4. ... unless a revision pins a Hub commit
    assert load_pretrained("GunPoint/fcn", revision="v1").meta["recipe"] == "from-hub"
    assert calls.pop()[1]["revision"] == "v1"
    # 5. the repo name spells the source as the catalogue does
    load_pretrained("COFFEE/fcn")
    assert calls.pop()[0] == "tshub/Coffee-fcn"
    # 6. any other name is a Hub repo id, used as it is
    load_pretrained("someone/gunpoint-finetuned")
    assert calls.pop()[0] == "someone/gunpoint-finetuned"


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_name_is_refused_as_such(name, tmp_path, monkeypatch):
    """Regression: an empty name (a blank in a candidate list) was read as the folder "." and refused as "'.' is a
    folder but not a tshub checkpoint", which names no empty string."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidModelIdError, match=r"an empty model name .*'GunPoint/fcn'"):
        tshub.load_pretrained(name)


def test_missing_id_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TSHUB_ZOO", str(tmp_path / "team_zoo"))
    with pytest.raises(ModelNotFoundError) as err:
        tshub.load_pretrained("LEN-DB/magnet")
    message = str(err.value)
    for expected in (
        "'LEN-DB/magnet'",
        str(home_store().root),
        str(tmp_path / "team_zoo"),
        "$TSHUB_ZOO",
        "tshub/LEN-DB-magnet",
        "HF_HUB_OFFLINE is set",
        "tshub pull LEN-DB/magnet",
        "scripts/publish",
        "tshub.train_from_scratch('magnet', tshub.datasets.load('LEN-DB'))",
    ):
        assert expected in message, expected


def test_missing_hub_repo_name_points_to_valid_names():
    with pytest.raises(ModelNotFoundError, match="(?s)someone/nothing-here.*HF_HUB_OFFLINE is set.*tshub list"):
        resolve("someone/nothing-here")


def test_list_models_reads_folders_and_index_only_entries(fcn, tmp_path, monkeypatch):
    published, mirror = tmp_path / "published", tmp_path / "mirror"
    monkeypatch.setenv("TSHUB_ZOO", f"{mirror}{os.pathsep}{published}")
    fcn.save_pretrained(published / "GunPoint" / "fcn", **publish_card_fields())
    fcn.save_pretrained(published / "Coffee" / "fcn", dtype="float16")
    write_index(published)
    shutil.rmtree(published / "Coffee")  # its weights now live only on the Hub
    fcn.save_pretrained(mirror / "gunpoint" / "fcn")  # an earlier store wins

    rows = {row["id"]: row for row in list_pretrained()}
    assert set(rows) == {"gunpoint/fcn", "Coffee/fcn"}
    assert rows["gunpoint/fcn"]["location"] == str(mirror / "gunpoint" / "fcn")
    coffee = rows["Coffee/fcn"]
    assert coffee["location"] == "hub" and coffee["dtype"] == "float16" and coffee["repo_id"] == "tshub/Coffee-fcn"
    assert coffee["metric"] == "Accuracy" and coffee["metric_value"] == fcn.meta["metrics"]["accuracy"]


# ------------------------------------------------------------------------------------------- Hub boundary
def test_pull_offline_fails_with_the_reason():
    with pytest.raises(ModelNotFoundError, match="(?s)cannot pull GunPoint/fcn.*tshub/GunPoint-fcn.*HF_HUB_OFFLINE"):
        pull("GunPoint/fcn")


def test_push_is_refused_offline(fcn):
    with pytest.raises(HubError, match="HF_HUB_OFFLINE is set"):
        fcn.push_to_hub("me/gunpoint-fcn")


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("arch_kwargs", {"filters": [125_000_000, 256, 128]}, "wrong shapes (weights != config): backbone.block1"),
        ("in_channels", 10**9, "in_channels must be a whole number in [1, 100,000], got 1000000000"),
        ("arch_kwargs", {"bogus": 1}, "arch_kwargs ['bogus'] are not parameters of fcn"),
        ("heads", {f"h{i}": 2 for i in range(200_000)}, "heads must map at most 10,000 head names"),
        ("arch_kwargs", {"filters": ["wide", 2, 3]}, "arch_kwargs['filters'] must be a list of whole numbers"),
        ("arch_kwargs", {"filters": [4, 4], "kernel_sizes": [8, 5, 3]}, "its arch_kwargs do not build a fcn"),
        ("n_outputs", -3, "n_outputs must be a whole number"),
        # every head is checked (a raw TypeError from the 7th head before), only the first problems are named
        ("heads", {f"h{i}": "two" if i == 6 else 2 for i in range(91)}, "heads['h6'] must be a whole number"),
        (
            "heads",
            {f"h{i}": 0 for i in range(91)},
            "heads['h4'] must be a whole number in [1, 1,000,000], got 0 (and 86",
        ),
        # 20,000 layers took 20 s and 350 MB on the meta device before the shapes were compared (a million: hours)
        (
            "arch_kwargs",
            {"filters": [4] * 20_000, "kernel_sizes": [3] * 20_000},
            "layers, more than the model.safetensors beside it could fill; its arch_kwargs were altered",
        ),
        # read as objects when the model is restored: raw TypeErrors before
        ("meta", [1], "meta must be an object, got [1]"),
        ("preprocessing_arrays", 5, "preprocessing_arrays must be an object, got 5"),
        (
            "preprocessing",
            {"kind": "nope"},
            "its preprocessing cannot be restored (\"unknown preprocessing kind 'nope'",
        ),
    ],
)
def test_a_forged_config_is_refused_before_anything_is_allocated(fcn, tmp_path, field, value, words):
    """config.json is not covered by the weights' hash: a stranger's checkpoint may say anything there. It used to
    OOM-kill the process (filters of 1.25e8), raise raw allocator or TypeErrors, or take 25 s (200,000 heads)."""
    folder = fcn.save_pretrained(tmp_path / "forged")
    config = json.loads((folder / CONFIG_NAME).read_text())
    config[field] = {**config[field], **value} if field == "arch_kwargs" else value
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    started = time.perf_counter()
    with pytest.raises(CheckpointError) as err:
        load_pretrained(folder)
    assert words in str(err.value) and len(str(err.value)) < 1000
    assert time.perf_counter() - started < 5


def test_a_config_nested_thousands_deep_or_oversized_is_refused_and_such_a_history_only_warns(fcn, tmp_path):
    """Failed before: json.loads raised a raw RecursionError (config or history nested 200,000 deep), so a
    stranger's checkpoint did not fail as a CheckpointError and its bad history broke the load; and a config.json of
    any size was read and parsed whole."""
    nested = "[" * 200_000 + "]" * 200_000
    folder = fcn.save_pretrained(tmp_path / "nested")
    (folder / HISTORY_NAME).write_text(nested)
    with pytest.warns(UserWarning, match="is not a tshub training history"):
        assert load_pretrained(folder).training_history is None
    (folder / CONFIG_NAME).write_text(nested)
    with pytest.raises(CheckpointError, match="config.json is not valid JSON"):
        load_pretrained(folder)
    config = json.loads((fcn.save_pretrained(tmp_path / "big") / CONFIG_NAME).read_text())
    config["meta"]["padding"] = "x" * (MAX_CONFIG_BYTES + 1)
    (tmp_path / "big" / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="config.json is larger than 16 MiB"):
        load_pretrained(tmp_path / "big")


def test_saving_the_same_model_twice_writes_the_same_bytes(tmp_path: Path) -> None:
    """Identical weights give an identical weights file and ``weights_sha256``: safetensors writes its metadata map
    in no fixed order, which made re-saves of one model differ (and a re-push a new Hub commit)."""
    model = build_model("fcn", 1, 2, filters=(4, 4, 4))
    files = {model.save_pretrained(tmp_path / f"copy{i}").joinpath("model.safetensors").read_bytes() for i in range(12)}
    assert len(files) == 1


def test_a_save_that_fails_leaves_the_checkpoint_that_was_there_loadable(tmp_path: Path) -> None:
    """Failed before the fix: the new weights were written before config.json failed on the meta value (a raw
    TypeError), and the old checkpoint no longer loaded (its config.json named the old weights' hash)."""
    torch.manual_seed(0)
    model = build_model("fcn", 1, 2, filters=(4, 4, 4))
    folder = model.save_pretrained(tmp_path / "ckpt")
    saved = {p.name: p.read_bytes() for p in folder.iterdir()}
    torch.manual_seed(1)
    other = build_model("fcn", 1, 2, filters=(4, 4, 4))
    with pytest.raises(CheckpointError, match=r"config\.meta\.note is a date, which config\.json cannot hold"):
        other.save_pretrained(folder, note=np.datetime64("2024-01-01"))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == saved and os.listdir(tmp_path) == ["ckpt"]
    loaded = load_checkpoint(folder)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def test_a_save_into_a_working_folder_keeps_its_other_files_and_drops_a_stale_history(tmp_path: Path) -> None:
    model = build_model("fcn", 1, 2, filters=(4, 4, 4))
    model.training_history = TrainingHistory.from_records(
        [{"epoch": 1, "loss": 1.0}], best_epoch=1, stop_reason="max_epochs"
    )
    (tmp_path / "notes.txt").write_text("mine")
    model.save_pretrained(tmp_path)
    assert load_checkpoint(tmp_path).training_history == model.training_history
    model.training_history = None
    model.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == [CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, "notes.txt"]
    assert load_checkpoint(tmp_path).training_history is None


@pytest.mark.parametrize("damage", [b'{"format_version": 1, "arch"', b"\xff\xfe\x00garbage", b"[1, 2]"])
def test_an_unreadable_checkpoint_is_left_out_of_listings_and_other_ids_still_resolve(damage, capsys):
    """Failed before the fix: a truncated config.json under Foo/fcn made `tshub list` exit 1 and every lookup that
    lists the stores (spelling an id, did-you-mean) raise about Foo, whatever was asked for."""
    home = home_store().root
    model = build_model("fcn", 1, 2, filters=(4, 4, 4))
    model.save_pretrained(home / "Bar" / "fcn")
    model.save_pretrained(home / "Foo" / "fcn")
    (home / "Foo" / "fcn" / CONFIG_NAME).write_bytes(damage)

    with pytest.warns(UserWarning, match=f"Foo/fcn is left out: {home / 'Foo' / 'fcn'}.*tshub pull Foo/fcn"):
        assert [row["id"] for row in list_pretrained()] == ["Bar/fcn"]
    assert main(["list"]) == 0
    out, err = capsys.readouterr()
    assert "Bar/fcn" in out and "tshub: warning: Foo/fcn is left out" in err
    assert load_pretrained("Bar/fcn").arch == "fcn"
    with pytest.warns(UserWarning, match="Foo/fcn is left out"), pytest.raises(ModelNotFoundError, match="Baz/fcn"):
        load_pretrained("Baz/fcn")
    with pytest.raises(CheckpointError, match=str(home / "Foo" / "fcn")):
        load_pretrained("Foo/fcn")


def test_a_float16_save_keeps_a_tensor_float16_cannot_hold_in_float32(tmp_path) -> None:
    """Regression: values above float16's 65504 (a BatchNorm variance) were stored as inf, zeroing that channel
    after loading; zoo/UCR/convtimenet holds 22 such variances. Such a tensor now stays float32, the rest float16."""
    from safetensors import safe_open

    model = build_model("fcn", 1, 2, filters=(4, 8, 4))
    name = "backbone.block1.bn.running_var"
    with torch.no_grad():
        model.state_dict()[name][0] = 1e5
    model.save_pretrained(tmp_path / "m", dtype="float16")
    with safe_open(tmp_path / "m" / "model.safetensors", "pt") as stored:
        assert stored.get_tensor(name).dtype == torch.float32
        assert stored.get_tensor("backbone.block1.conv.weight").dtype == torch.float16
    assert load_pretrained(tmp_path / "m").state_dict()[name][0] == 1e5


def test_a_local_checkpoint_in_a_later_store_wins_over_an_earlier_stores_index_only_row(fcn, tmp_path, monkeypatch):
    """Regression: stores were merged one at a time, so an earlier store's index row (a checkpoint on the Hub only)
    hid a later store's local folder of the same id: `tshub list` showed the other model's metrics and "hub",
    `push --all` skipped the folder, while loading took the folder."""
    team, local = tmp_path / "team", tmp_path / "local"
    monkeypatch.setenv("TSHUB_ZOO", f"{team}{os.pathsep}{local}")
    fcn.save_pretrained(team / "GunPoint" / "fcn", dtype="float16")
    write_index(team)
    shutil.rmtree(team / "GunPoint")
    fcn.save_pretrained(local / "GunPoint" / "fcn")
    (row,) = list_pretrained()
    assert row["location"] == str(local / "GunPoint" / "fcn") and row["dtype"] == "float32"


@pytest.mark.parametrize(
    "index", ['{"index_version": 1, "models": [', '{"index_version": 1, "models": [{"arch": "fcn"}]}']
)
def test_an_unreadable_index_is_left_out_with_a_warning_not_every_listing(fcn, tmp_path, monkeypatch, index):
    """Regression: a truncated index.json (or a row without its id) in any store made `tshub list` fail with a
    JSONDecodeError (KeyError), and with it every id lookup that lists the stores."""
    broken, good = tmp_path / "broken", tmp_path / "good"
    monkeypatch.setenv("TSHUB_ZOO", f"{broken}{os.pathsep}{good}")
    broken.mkdir()
    (broken / "index.json").write_text(index)
    fcn.save_pretrained(good / "GunPoint" / "fcn")
    with pytest.warns(UserWarning, match="index.json"):
        rows = list_pretrained()
    assert [row["id"] for row in rows] == ["GunPoint/fcn"]


def test_the_card_of_a_checkpoint_pushed_to_another_repo_names_that_repo(fcn, tmp_path):
    """Regression: GunPoint/fcn pushed to alice/gunpoint-mine got a card titled GunPoint/fcn whose usage loaded and
    pulled GunPoint/fcn, which fetch tshub/GunPoint-fcn, not this repo."""
    text = ModelCard.load(
        fcn.save_pretrained(tmp_path / "copy", id="GunPoint/fcn", repo_id="alice/gunpoint-mine") / CARD_NAME
    ).text
    assert text.startswith("\n# alice/gunpoint-mine") or "# alice/gunpoint-mine\n" in text
    assert 'tshub.load_pretrained("alice/gunpoint-mine")' in text and 'load_pretrained("GunPoint/fcn")' not in text
    own = ModelCard.load(
        fcn.save_pretrained(tmp_path / "own", id="GunPoint/fcn", repo_id="tshub/GunPoint-fcn") / CARD_NAME
    )
    assert 'tshub.load_pretrained("GunPoint/fcn")' in own.text  # its id's own repo: the id says it


def test_a_classifier_below_chance_is_not_said_to_be_near_it() -> None:
    """Regression: "its test accuracy 0.000 is less than 5 points above chance (1/3 classes)" for a model far below chance."""
    from tshub.hub.store import learned_nothing

    said = learned_nothing("classification", ["a", "b", "c"], {"accuracy": 0.0}, "max_epochs")
    assert said == "its test accuracy 0.000 is less than 5 points above chance (1/3 classes)"
