"""Checkpoints a stranger (or a newer tshub) wrote: every field of config.json that tshub reads is checked against
the schema, so a bad one is a ``CheckpointError`` saying what is wrong (and left out of listings with a warning),
never a raw TypeError deep in a listing, a card or a prediction; and the messages say what to do about it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tshub.cli import main
from tshub.hub import CheckpointError, HubError, list_pretrained, load_pretrained, push_folder
from tshub.hub.checkpoint import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, check_model_config, read_config
from tshub.hub.store import home_store
from tshub.models import build_model
from tshub.models.base import TimeSeriesModel
from tshub.version import __version__

REPO_ZOO = Path(__file__).resolve().parents[1] / "zoo"


def small_classifier() -> TimeSeriesModel:
    torch.manual_seed(0)
    model = build_model("fcn", 1, 2, filters=(4, 4, 4))
    model.task, model.classes = "classification", ["a", "b"]
    model.meta = {"source_dataset": "Foo", "metrics": {"accuracy": 0.9}, "stop_reason": "early_stopping"}
    return model.eval()


def altered(folder: Path, **fields: Any) -> Path:
    """``folder`` with config.json fields replaced (config.json is not covered by the weights' hash)."""
    config = json.loads((folder / CONFIG_NAME).read_text())
    config.update(fields)
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("metrics", "high", "metrics must map metric names to numbers, got 'high'"),
        ("val_metrics", {"accuracy": "0.9"}, "val_metrics['accuracy'] must be a number, got '0.9'"),
        ("source", 5, "source must be a dataset name or record, got 5"),
        ("source", {"name": 5}, "source['name'] must be a string, got 5"),
        ("source_dataset", ["Foo"], "source_dataset must be a string, got ['Foo']"),
        ("reference", {"name": "x", "metrics": [0.9]}, "reference['metrics'] must map metric names to numbers"),
        ("reference", {"name": "x", "on_other_split": "yes"}, "reference['on_other_split'] must be true or false"),
        ("arch_kwargs", [1], "arch_kwargs must be an object"),
        ("meta", {"channel_names": 5}, "meta['channel_names'] must be a list of channel names"),
        ("meta", {"variable_length": [1]}, "meta['variable_length'] must be an object"),
        ("meta", {"stop_reason": ["early_stopping"]}, "meta['stop_reason'] must be a string"),
        ("meta", {"splits": "train"}, "meta['splits'] must be an object"),
        ("n_parameters", "many", "n_parameters must be a whole number"),
        ("weights_sha256", 5, "weights_sha256 must be a string"),
        ("preprocessing", [1], "preprocessing must be an object or null"),
        ("classes", [1, 2], "classes must be a list of strings"),
    ],
)
def test_a_mistyped_card_field_is_refused_and_left_out_of_listings(field, value, words, capsys):
    """Failed before: "metrics": "high" loaded, then `tshub list`, every lookup that lists the stores and recommend
    raised AttributeError ('str' object has no attribute 'get'); "source": 5 made `tshub info` raise TypeError."""
    home = home_store().root
    small_classifier().save_pretrained(home / "Bar" / "fcn")
    folder = altered(small_classifier().save_pretrained(home / "Evil" / "fcn"), **{field: value})

    with pytest.raises(CheckpointError) as err:
        load_pretrained(folder)
    assert words in str(err.value) and str(folder / CONFIG_NAME) in str(err.value)
    with pytest.warns(UserWarning, match="Evil/fcn is left out"):
        assert [row["id"] for row in list_pretrained()] == ["Bar/fcn"]
    assert main(["info", str(folder)]) == 1 and words in capsys.readouterr().err


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"classes": ["a", "b", "c"]}, "3 classes for its 2 outputs"),
        ({"task": "banana"}, "task must be 'classification', 'regression' or null, got 'banana'"),
        ({"task": "regression"}, "a regression has no classes, got 2"),
    ],
)
def test_task_and_classes_must_agree_with_the_outputs(fields, words, tmp_path):
    """Failed before: 3 classes on 2 outputs loaded and predicted; task "banana" or "regression" on a classifier
    silently returned logits."""
    folder = altered(small_classifier().save_pretrained(tmp_path / "ckpt"), **fields)
    with pytest.raises(CheckpointError, match=words):
        load_pretrained(folder)


def test_a_multi_head_checkpoint_keeps_its_classes_per_head(tmp_path):
    model = build_model("fcn", 1, 2, filters=(4, 4, 4))
    model.set_heads({"A": 2, "B": 3})
    model.task, model.meta = "classification", {"head_classes": {"A": ["x", "y"], "B": ["p", "q", "r"]}}
    folder = model.save_pretrained(tmp_path / "ckpt")
    assert load_pretrained(folder).meta["head_classes"]["B"] == ["p", "q", "r"]
    altered(folder, meta={"head_classes": {"A": ["x", "y"], "B": ["p"]}})
    with pytest.raises(CheckpointError, match=r"meta\['head_classes'\]\['B'\] must list the head's 3 classes"):
        load_pretrained(folder)


@pytest.mark.skipif(not (REPO_ZOO / "UCR" / "convtimenet").is_dir(), reason=f"no committed zoo under {REPO_ZOO}")
def test_every_committed_zoo_checkpoint_passes_the_schema():
    configs = sorted(REPO_ZOO.glob(f"*/*/{CONFIG_NAME}"))
    assert len(configs) > 100
    for path in configs:
        check_model_config(read_config(path.parent), path)


def test_a_checkpoint_of_a_newer_tshub_says_to_upgrade(tmp_path):
    """Said "re-pull or re-save the checkpoint" before: no re-pull helps with a kwarg this tshub does not know."""
    folder = small_classifier().save_pretrained(tmp_path / "newer")
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["tshub_version"] = "99.0.0"
    config["arch_kwargs"]["norm"] = "layer"
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as err:
        load_pretrained(folder)
    assert f"saved by tshub 99.0.0, newer than this tshub {__version__}: upgrade tshub" in str(err.value)
    assert "re-pull" not in str(err.value)


@pytest.mark.parametrize(("saved", "newer"), [("{v}.post1", True), ("{v}rc1", False), ("not a version", False)])
def test_a_newer_tshub_is_told_apart_as_pip_orders_versions(tmp_path, saved: str, newer: bool):
    """A post-release of this version is newer (it said re-pull: only the release numbers were compared) and a
    pre-release of it older; an unreadable version string is never taken for a newer tshub."""
    folder = small_classifier().save_pretrained(tmp_path / "saved")
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["tshub_version"] = saved.format(v=__version__)
    config["arch_kwargs"]["norm"] = "layer"
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as err:
        load_pretrained(folder)
    assert ("upgrade tshub" in str(err.value)) is newer and ("re-pull" in str(err.value)) is not newer


def test_a_pickled_checkpoint_is_refused_saying_tshub_reads_only_safetensors(tmp_path):
    folder = small_classifier().save_pretrained(tmp_path / "pickled")
    (folder / WEIGHTS_NAME).unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(
        CheckpointError,
        match="but pytorch_model.bin: tshub reads weights only from model.safetensors .*never unpickles",
    ):
        load_pretrained(folder)


def test_a_foreign_config_is_not_a_tshub_checkpoint_config(tmp_path):
    """Said "checkpoint format version None is not supported ... upgrade tshub" before."""
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"model_type": "bert", "hidden_size": 768}))
    with pytest.raises(CheckpointError, match="not a tshub checkpoint config") as err:
        load_pretrained(tmp_path)
    assert "upgrade" not in str(err.value)


@pytest.mark.parametrize("damage", ["flip", "no_weights", "no_card"])
def test_a_broken_folder_is_refused_before_anything_is_pushed(damage, tmp_path, capsys):
    """Failed before: `tshub push FOLDER` uploaded a corrupted checkpoint, or a config.json without its weights (which
    then sat beside the repo's older weights). The check comes before the token or the network is needed."""
    folder = small_classifier().save_pretrained(tmp_path / "ckpt", id="Foo/fcn")
    if damage == "flip":
        data = bytearray((folder / WEIGHTS_NAME).read_bytes())
        data[-10] ^= 0xFF
        (folder / WEIGHTS_NAME).write_bytes(bytes(data))
    else:
        (folder / (WEIGHTS_NAME if damage == "no_weights" else CARD_NAME)).unlink()
    with pytest.raises(CheckpointError, match=f"cannot push {folder}"):
        push_folder(folder, "me/foo-fcn")
    assert main(["push", str(folder), "--repo-id", "me/foo-fcn"]) == 1
    assert "nothing was uploaded" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["results.csv", "results.csv/model"])
def test_saving_onto_an_existing_file_is_refused_and_leaves_the_file(target, tmp_path):
    """Failed before: save_pretrained("results.csv") deleted the user's file and wrote a checkpoint folder in its
    place (under a file: a raw FileExistsError). Saving into an existing folder is unchanged (tests/test_hub.py)."""
    data = b"important,data\n1,2\n"
    (tmp_path / "results.csv").write_bytes(data)
    with pytest.raises(CheckpointError) as err:
        small_classifier().save_pretrained(tmp_path / target)
    message = str(err.value)
    assert f"{tmp_path / 'results.csv'} is an existing file, not a checkpoint folder" in message
    assert "choose a folder path or remove the file" in message
    assert (tmp_path / "results.csv").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]  # nothing written beside it either


def test_finetune_out_onto_an_existing_file_fails_before_training(tmp_path, monkeypatch, capsys):
    """Failed before: `tshub finetune ... --out notes.txt` trained, then replaced notes.txt by the checkpoint."""
    import tshub.training

    source = small_classifier().save_pretrained(tmp_path / "source")
    rng = np.random.default_rng(0)
    rows = "".join(f"{'ab'[i % 2]}," + ",".join(f"{v:.3f}" for v in rng.normal(i % 2, 1, 16)) + "\n" for i in range(20))
    (tmp_path / "arr.csv").write_text(rows)
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"my notes\n")
    trained: list[object] = []
    real = tshub.training.finetune
    monkeypatch.setattr(tshub.training, "finetune", lambda *a, **k: trained.append(a) or real(*a, **k))

    argv = ["finetune", str(source), str(tmp_path / "arr.csv"), "--max-epochs", "1", "--lr-multiplier", "1"]
    assert main([*argv, "--out", str(notes)]) == 1
    assert f"{notes} is an existing file, not a checkpoint folder" in capsys.readouterr().err
    assert notes.read_bytes() == b"my notes\n" and not trained


@pytest.fixture
def unreachable_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A Hub endpoint nothing listens on, online mode, and no token anywhere huggingface_hub looks."""
    from huggingface_hub import constants

    endpoint = "http://127.0.0.1:9"  # the discard port: the connection is refused at once
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    return endpoint


def test_a_push_without_a_token_says_how_to_log_in_before_it_calls_the_hub(unreachable_hub, tmp_path, capsys):
    """Failed before: push_to_hub with no token and no network ended in httpx2.ConnectError ("Name or service not
    known") from inside create_repo; every Hub refuses an anonymous push, so the token is asked for first."""
    with pytest.raises(HubError) as err:
        small_classifier().push_to_hub("me/foo-fcn")
    message = str(err.value)
    assert message.startswith(f"cannot push to me/foo-fcn at {unreachable_hub}: no Hub token")
    assert "`hf auth login`" in message and "HF_TOKEN" in message
    folder = small_classifier().save_pretrained(tmp_path / "ckpt", id="Foo/fcn")
    assert main(["push", str(folder), "--repo-id", "me/foo-fcn"]) == 1
    err_lines = capsys.readouterr().err.splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith(f"{folder}: push FAILED: cannot push to me/foo-fcn at ")


def test_a_push_to_a_hub_it_cannot_reach_names_the_endpoint_and_the_cause(unreachable_hub, monkeypatch, capsys):
    """Failed before: a raw httpx2.ConnectError traceback from inside huggingface_hub.create_repo."""
    monkeypatch.setenv("HF_TOKEN", "hf_not_checked_before_the_connection")
    with pytest.raises(HubError) as err:
        small_classifier().push_to_hub("me/foo-fcn")
    message = str(err.value)
    assert message.startswith(f"cannot push to me/foo-fcn at {unreachable_hub}: the Hub could not be reached (")
    assert "check the network and HF_ENDPOINT" in message and "Traceback" not in message


@pytest.mark.parametrize("field", ["n_parameters", "size_bytes"])
def test_info_shows_a_checkpoint_that_records_no_size(field, capsys):
    """Regression: null n_parameters or size_bytes, which the schema accepts, made `tshub info` raise TypeError."""
    folder = altered(small_classifier().save_pretrained(home_store().root / "Bar" / "fcn"), **{field: None})
    assert main(["info", str(folder)]) == 0
    assert "parameters" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arch, kwargs, words",
    [
        ("magnet", {"mc_dropout": "false"}, "arch_kwargs['mc_dropout'] must be true or false, got 'false'"),
        ("tcn", {"dilations": [0, 2, 4]}, "arch_kwargs['dilations'] must be a list of whole numbers of at least 1"),
        ("fcn", {"filters": [4, "4", 4]}, "arch_kwargs['filters'] must be a list of whole numbers of at least 1"),
        ("magnet", {"lstm_units": 2.5}, "arch_kwargs['lstm_units'] must be a whole number of at least 1"),
    ],
)
def test_an_architecture_option_of_the_wrong_kind_is_refused_at_load(arch, kwargs, words, tmp_path):
    """Regression: "mc_dropout": "false" or a dilation of 0 loaded, then predict raised TypeError / RuntimeError."""
    model = build_model(arch, 1, 2, **({"filters": (4, 4, 4)} if arch == "fcn" else {}))
    model.task, model.classes = "classification", ["a", "b"]
    config = json.loads((model.save_pretrained(tmp_path / "m") / CONFIG_NAME).read_text())
    folder = altered(tmp_path / "m", arch_kwargs={**config["arch_kwargs"], **kwargs})
    with pytest.raises(CheckpointError, match=re.escape(words)):
        load_pretrained(folder)


def test_a_checkpoint_re_saved_while_it_loads_gives_one_checkpoint_not_two(tmp_path: Path, monkeypatch) -> None:
    """Regression: the weights were hashed, then their header and their tensors read by opening the file again, so a
    checkpoint re-saved in between (a pull or a publish in another process) loaded the new weights under the old
    config's classes, unverified."""
    import tshub.hub.checkpoint as checkpoint

    folder = tmp_path / "ck"
    torch.manual_seed(0)
    old = build_model("fcn", 1, 2, filters=(4, 8, 4))
    old.task, old.classes = "classification", ["cat", "dog"]
    torch.manual_seed(1)
    new = build_model("fcn", 1, 2, filters=(4, 8, 4))
    new.task, new.classes = "classification", ["dog", "cat"]
    old.save_pretrained(folder)
    check = checkpoint._check_shapes

    def check_then_another_process_re_saves(*args):
        check(*args)
        new.save_pretrained(folder)

    monkeypatch.setattr(checkpoint, "_check_shapes", check_then_another_process_re_saves)
    loaded = checkpoint.load_checkpoint(folder)
    assert loaded.classes == ["cat", "dog"]
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in old.state_dict().items())


def test_a_config_whose_arch_is_no_string_is_left_out_of_the_listing_not_breaking_it(monkeypatch, tmp_path) -> None:
    """Regression: "arch": null in one checkpoint's config made list_pretrained's sort raise TypeError, which broke
    `tshub list` and every lookup of an id no local store holds."""
    import tshub
    from tshub.hub.store import home_store

    root = home_store().root
    build_model("fcn", 1, 2, filters=(4, 8, 4)).save_pretrained(root / "GunPoint" / "fcn")
    build_model("tcn", 1, 2, nb_filters=4, dilations=(1,)).save_pretrained(root / "GunPoint" / "tcn")
    config = root / "GunPoint" / "fcn" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "arch": None}))
    with pytest.warns(UserWarning, match="arch must be a string"):
        rows = tshub.list_pretrained()
    assert [row["id"] for row in rows] == ["GunPoint/tcn"]


def test_numbers_too_large_for_a_float_are_a_checkpoint_problem_not_an_overflow(tmp_path: Path) -> None:
    """Regression: an integer like 10**400 in the training history's curves, or in a float option of arch_kwargs,
    raised OverflowError through load_pretrained (a crash, or a 500 in the service) instead of the history's
    warning or a CheckpointError."""
    from tshub.hub import load_pretrained
    from tshub.hub.history import TrainingHistory

    model = build_model("fcn", 1, 2, filters=(4, 8, 4))
    model.training_history = TrainingHistory(epochs=1, curves={"loss": [0.5]})
    history = model.save_pretrained(tmp_path / "h") / "training_history.json"
    history.write_text(history.read_text().replace("0.5", "1" + "0" * 400))
    with pytest.warns(UserWarning, match="without its training history"):
        load_pretrained(tmp_path / "h")
    folder = build_model("magnet", 1, 2, lstm_units=4).save_pretrained(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["arch_kwargs"]["dropout"] = 10**400
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="arch_kwargs"):
        load_pretrained(folder)


def test_a_regression_s_target_scaling_must_hold_one_value_per_output(tmp_path: Path) -> None:
    """Regression: a 2-output regression whose config held one target mean and std loaded, and scaled both outputs
    with the first output's statistics; three failed at predict with a numpy broadcast error."""
    from tshub import Dataset, train_from_scratch

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 1, 16)).astype(np.float32)
    data = Dataset.from_arrays(X, np.stack([X[:, 0, -1], X[:, 0, 0]], axis=1).astype(np.float64), task="regression")
    result = train_from_scratch("fcn", data, max_epochs=1, progress=False, arch_kwargs={"filters": (4, 4, 4)})
    folder = result.model.save_pretrained(tmp_path / "two")
    config = json.loads((folder / "config.json").read_text())
    config["preprocessing"]["target_mean"], config["preprocessing"]["target_std"] = [0.0], [1.0]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"target_mean must hold one value per output \(2\)"):
        load_pretrained(folder)


def test_an_incomplete_cached_copy_met_offline_is_said_as_such_not_blamed_on_the_hub(tmp_path, monkeypatch) -> None:
    """Regression: offline, a snapshot an interrupted download left without config.json was reported as "Hub repo
    ... holds no tshub checkpoint: check the repo id, or publish a checkpoint there", a claim about the Hub, which
    was not asked."""
    from tshub.hub.resolution import pull

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    base = tmp_path / "hub" / "models--tshub--GunPoint-fcn"
    snapshot = base / "snapshots" / ("b" * 40)
    build_model("fcn", 1, 2, filters=(4, 8, 4)).save_pretrained(snapshot)
    (snapshot / "config.json").unlink()
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text("b" * 40)
    with pytest.raises(
        HubError, match="cache's copy of tshub/GunPoint-fcn .* has no config.json, probably an interrupted"
    ):
        pull("GunPoint/fcn")
