"""The zoo build (scripts/publish): checkpoints, index, cards, resumability, Hub dry run, loading via TSHUB_ZOO.

One tiny manifest on real data is built once per module (a few seconds): a UCR FCN stored in float16, an Otović
TCN on EMG, a multi-head ConvTimeNet over an official-split set and a train-only set, and a UCR FCN trained on
every training series (validation "train").
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import tshub
from tshub.data.catalogue import load
from tshub.hub.card import build_model_card
from tshub.hub.checkpoint import CHECKPOINT_FILES, read_config, read_history
from tshub.models import build_model
from tshub.training.state import TrainingState

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts" / "publish"))
import build_zoo  # noqa: E402
from zoo_cards import USAGE_HEADING  # noqa: E402
from zoo_manifest import Entry  # noqa: E402
from zoo_train import load_source  # noqa: E402

REPO_ZOO = Path(__file__).resolve().parents[1] / "zoo"

MANIFEST = [
    {
        "source": "GunPoint",
        "arch": "fcn",
        "max_epochs": 1,
        "bf16": True,
        "dtype": "float16",
        "arch_kwargs": {"filters": [8, 16, 8]},
    },
    {
        "source": "EMG",
        "arch": "tcn",
        "recipe": "otovic",
        "preprocessing": "minmax_mask",
        "use_stream_max": True,
        "max_epochs": 1,
        "arch_kwargs": {"nb_filters": 4, "dilations": [1, 2]},
    },
    {
        "source": "UCR",
        "arch": "convtimenet",
        "max_epochs": 1,
        "bf16": True,
        "dtype": "float16",
        "datasets": ["GunPoint", "Wafer"],
        "arch_kwargs": {"filters_per_kernel": 4, "n_blocks": 2, "bottleneck": 4},
    },
    {
        "source": "ItalyPowerDemand",
        "arch": "fcn",
        "max_epochs": 1,
        "validation": "train",
        "arch_kwargs": {"filters": [8, 16, 8]},
    },
]
IDS = ["GunPoint/fcn", "EMG/tcn", "UCR/convtimenet", "ItalyPowerDemand/fcn"]


@pytest.fixture(scope="module")
def zoo(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("publish")
    (root / "manifest.json").write_text(json.dumps(MANIFEST))
    paths = {"root": root, "zoo": root / "zoo", "cards": root / "model_cards", "manifest": root / "manifest.json"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TSHUB_DATA", str(shared_data))
        assert run(paths) == 0
    return paths


def run(paths: dict[str, Path], *extra: str) -> int:
    return build_zoo.main(
        ["--manifest", str(paths["manifest"]), "--zoo", str(paths["zoo"]), "--cards", str(paths["cards"]), *extra]
    )


def mtimes(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_build_writes_checkpoint_folders_index_and_cards(zoo: dict[str, Path]) -> None:
    for model_id in IDS:
        folder = zoo["zoo"] / model_id
        assert sorted(p.name for p in folder.iterdir()) == sorted(CHECKPOINT_FILES)
        card = (folder / "README.md").read_text()
        assert (zoo["cards"] / f"{model_id.replace('/', '__')}.md").read_text() == card
        assert f"# {model_id}" in card and "## Limitations" in card
        history = read_history(folder)
        assert history.epochs == 1 and history.best_epoch == 1 and {"loss", "val_loss", "lr"} <= set(history.curves)
    assert "means over the 2 heads" in read_history(zoo["zoo"] / "UCR" / "convtimenet").note
    assert not [p for p in (zoo["zoo"] / build_zoo.BUILDING).iterdir() if p.is_dir()]  # only lock files remain

    index = json.loads((zoo["zoo"] / "index.json").read_text())
    rows = {row["id"]: row for row in index["models"]}
    assert sorted(rows) == sorted(IDS)
    for model_id, row in rows.items():
        config = read_config(zoo["zoo"] / model_id)
        assert row["weights_sha256"] == config["weights_sha256"]
        assert row["metrics"] == config["metrics"] and (row["epochs"], row["stop_reason"]) == (1, "max_epochs")
        assert row["recipe_hash"] == Entry.from_dict(MANIFEST[IDS.index(model_id)]).recipe_hash()
    assert rows["GunPoint/fcn"]["dtype"] == "float16" and rows["EMG/tcn"]["domain"] == "emg"

    table = (zoo["cards"] / "README.md").read_text()
    assert all(f"[{i}]({i.replace('/', '__')}.md)" in table for i in IDS)
    assert "| max epochs | 1 |" in table  # how training ended, for every checkpoint


def test_cards_state_reference_budget_and_protocol(zoo: dict[str, Path]) -> None:
    gunpoint = (zoo["zoo"] / "GunPoint/fcn/README.md").read_text()
    published = load("GunPoint").meta["published"]
    assert f"{1 - published['error_1nn_dtw_learned_w']:.4g}" in gunpoint and "1-NN DTW" in gunpoint
    assert "official test split" in gunpoint and "maximum of 1 epochs" in gunpoint and "Dau" in gunpoint
    assert '"bf16": true' in (zoo["zoo"] / "GunPoint/fcn/config.json").read_text()
    assert "float16 weights as stored" in gunpoint

    multi = (zoo["zoo"] / "UCR/convtimenet/README.md").read_text()
    assert "## Per-dataset results" in multi and "| Wafer * |" in multi
    assert multi.index("## Per-dataset results") < multi.index("## How to use")
    emg = (zoo["zoo"] / "EMG/tcn/README.md").read_text()
    assert "minmax_mask" in emg and "Overlapping windows" in emg and "zenodo.3194792" in emg


def test_rerun_skips_everything_and_rewrites_nothing(zoo: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    before = mtimes(zoo["root"])
    assert run(zoo) == 0
    assert capsys.readouterr().out.count("up to date, skipped") == len(IDS)
    assert mtimes(zoo["root"]) == before


def test_force_rebuilds_only_the_selected_entry(zoo: dict[str, Path]) -> None:
    before = mtimes(zoo["zoo"])
    assert run(zoo, "--only", "gunpoint/*", "--force") == 0
    after = mtimes(zoo["zoo"])
    weights = str(zoo["zoo"] / "GunPoint/fcn/model.safetensors")
    assert after[weights] != before[weights]
    assert all(after[p] == t for p, t in before.items() if "GunPoint" not in p and "index.json" not in p)


def test_changed_recipe_is_stale(zoo: dict[str, Path]) -> None:
    entry = Entry.from_dict(MANIFEST[0])
    assert build_zoo.state(entry, zoo["zoo"]) == "up to date"
    assert build_zoo.state(dataclasses.replace(entry, bf16=False), zoo["zoo"]) == "stale"
    assert build_zoo.state(Entry("Coffee", "fcn"), zoo["zoo"]) == "missing"


def test_processes_share_a_build_and_a_killed_one_releases_its_entry(
    zoo: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    building = zoo["zoo"] / build_zoo.BUILDING
    lock = building / "GunPoint__fcn.lock"
    weights = zoo["zoo"] / "GunPoint/fcn/model.safetensors"
    holder = subprocess.Popen(  # another build process, busy with GunPoint/fcn
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); time.sleep(120)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = weights.stat().st_mtime_ns
        assert run(zoo, "--only", "gunpoint/*", "--force") == 0
        assert "GunPoint/fcn: another process is building it, skipped" in capsys.readouterr().out
        assert weights.stat().st_mtime_ns == before
    finally:
        holder.kill()
        holder.wait()
    (building / "GunPoint__fcn").mkdir()  # what the killed process left half-written
    (building / "GunPoint__fcn" / "model.safetensors").write_bytes(b"partial")
    assert run(zoo, "--only", "gunpoint/*", "--force") == 0
    assert "GunPoint/fcn: up to date, building" in capsys.readouterr().out
    assert weights.stat().st_mtime_ns != before
    assert not (building / "GunPoint__fcn").exists()
    tshub.load_pretrained(str(zoo["zoo"] / "GunPoint/fcn"))


class _Killed(Exception):
    """The machine went away right after a state save."""


def test_a_training_parked_on_one_machine_finishes_on_another_as_if_never_interrupted(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps([{**MANIFEST[0], "max_epochs": 4}]))
    parked = tmp_path / "zoo-progress"  # the committed folder both machines see through git

    def machine(name: str, *extra: str) -> int:
        root = tmp_path / name
        return build_zoo.main(["--manifest", str(manifest), "--zoo", str(root / "zoo"), "--cards",
                               str(root / "cards"), "--parked", str(parked), *extra])  # fmt: skip

    save = TrainingState.save

    def save_then_vanish(self: TrainingState, **fields: object) -> None:
        save(self, **fields)
        if fields["epoch"] == 2:
            raise _Killed

    with monkeypatch.context() as m:
        m.setattr(TrainingState, "save", save_then_vanish)
        assert machine("first") == 1  # the entry failed: its machine was taken after epoch 2
    assert machine("first", "--park") == 0
    assert "GunPoint/fcn: parked after 2 epochs" in capsys.readouterr().out
    assert machine("second", "--dry-run") == 0
    assert "(saved state: 2 epochs)" in capsys.readouterr().out

    assert machine("second") == 0
    assert f"resuming the state parked in {parked} after 2 epochs" in capsys.readouterr().out
    entry = Entry.from_dict({**MANIFEST[0], "max_epochs": 4})
    assert not build_zoo.state_file(entry, parked).exists()  # the finished entry's parked state is gone
    assert machine("uninterrupted", "--parked", str(tmp_path / "none")) == 0
    resumed, whole = (tmp_path / name / "zoo/GunPoint/fcn" for name in ("second", "uninterrupted"))
    assert read_history(resumed).epochs == 4
    expected = load_file(whole / "model.safetensors")
    assert all(torch.equal(t, expected[k]) for k, t in load_file(resumed / "model.safetensors").items())


def test_a_build_killed_after_training_resumes_without_training_again(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the training removed its state as it ended, before the checkpoint was scored, written and
    verified, so a kill in between cost the whole training (hours for the multi-head ConvTimeNet); the state now
    stays until the checkpoint is in place."""
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps([MANIFEST[0], MANIFEST[2]]))
    args = ["--manifest", str(manifest), "--zoo", str(tmp_path / "zoo"), "--cards", str(tmp_path / "cards")]
    real_load = build_zoo.load_checkpoint

    def killed_while_verifying(folder: Path) -> None:
        raise _Killed

    monkeypatch.setattr(build_zoo, "load_checkpoint", killed_while_verifying)
    assert build_zoo.main(args) == 1
    building = tmp_path / "zoo" / build_zoo.BUILDING
    entries = [Entry.from_dict(e) for e in (MANIFEST[0], MANIFEST[2])]
    assert all(build_zoo.state_file(entry, building).is_file() for entry in entries)

    monkeypatch.setattr(build_zoo, "load_checkpoint", real_load)
    monkeypatch.setattr("tshub.training.loop._train_epoch", lambda *a, **k: pytest.fail("trained again"))
    monkeypatch.setattr("tshub.training.multihead._interleaved_epoch", lambda *a, **k: pytest.fail("trained again"))
    assert build_zoo.main(args) == 0
    assert not any(build_zoo.state_file(entry, building).exists() for entry in entries)
    for entry in entries:
        tshub.load_pretrained(str(tmp_path / "zoo" / entry.source / entry.arch))


def test_a_forced_rebuild_trains_again_whatever_ended_state_a_kill_left(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: killed between putting the checkpoint in place and removing the ended state, a build left the state;
    a later --force took it up and returned the same model without training. An up-to-date entry's ended state is
    removed before anything is built."""
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps([MANIFEST[0]]))
    args = ["--manifest", str(manifest), "--zoo", str(tmp_path / "zoo"), "--cards", str(tmp_path / "cards")]
    entry = Entry.from_dict(MANIFEST[0])
    saved = build_zoo.state_file(entry, tmp_path / "zoo" / build_zoo.BUILDING)
    unlink = Path.unlink

    def killed_before_removing_the_state(self: Path, missing_ok: bool = False) -> None:
        if self == saved:
            raise _Killed
        unlink(self, missing_ok=missing_ok)

    with monkeypatch.context() as m:
        m.setattr(Path, "unlink", killed_before_removing_the_state)
        assert build_zoo.main(args) == 1
    assert saved.is_file() and build_zoo.state(entry, tmp_path / "zoo") == "up to date"
    from tshub.training import loop

    trained: list[int] = []
    real_epoch = loop._train_epoch
    monkeypatch.setattr(loop, "_train_epoch", lambda *a, **k: trained.append(1) or real_epoch(*a, **k))
    assert build_zoo.main([*args, "--force"]) == 0
    assert trained and not saved.exists()


def test_a_parked_state_never_replaces_a_local_one_further_along(tmp_path: Path) -> None:
    entry = Entry.from_dict(MANIFEST[0])
    building, parked = tmp_path / "building", tmp_path / "parked"
    for folder, epochs in ((building, 5), (parked, 3)):
        folder.mkdir()
        meta = {"state": json.dumps({"epoch": epochs})}
        save_file({"x": torch.zeros(1)}, build_zoo.state_file(entry, folder), metadata=meta)
    assert not build_zoo.unpark(entry, building, parked)
    assert build_zoo.epochs_done(build_zoo.state_file(entry, building)) == 5
    build_zoo.state_file(entry, building).write_bytes(b"damaged")
    assert build_zoo.unpark(entry, building, parked)
    assert build_zoo.epochs_done(build_zoo.state_file(entry, building)) == 3


def test_a_parked_state_of_another_training_never_replaces_a_local_one_that_resumes(tmp_path: Path) -> None:
    """Regression: a state parked by a machine that trained the entry in the other precision (bf16 hangs on the CPU,
    not on the recipe hash) and further along replaced the local state, whose restore then refused it: the local
    epochs were lost and the training started afresh."""
    entry = Entry.from_dict(MANIFEST[0])
    building, parked = tmp_path / "building", tmp_path / "parked"
    for folder, epochs, fingerprint in ((building, 27, "this-cpu"), (parked, 58, "other-cpu")):
        folder.mkdir()
        meta = {"state": json.dumps({"epoch": epochs, "fingerprint": fingerprint})}
        save_file({"x": torch.zeros(1)}, build_zoo.state_file(entry, folder), metadata=meta)
    assert not build_zoo.unpark(entry, building, parked)
    assert build_zoo.epochs_done(build_zoo.state_file(entry, building)) == 27
    meta = {"state": json.dumps({"epoch": 58, "fingerprint": "this-cpu"})}  # the same training, further along
    save_file({"x": torch.zeros(1)}, build_zoo.state_file(entry, parked), metadata=meta)
    assert build_zoo.unpark(entry, building, parked)
    assert build_zoo.epochs_done(build_zoo.state_file(entry, building)) == 58


def test_a_state_of_another_recipe_is_neither_resumed_nor_blocks_parking_this_one(tmp_path: Path) -> None:
    """A recipe change leaves the old recipe's parked state in git; further along, it used to replace the local state
    on every run (whose restore then refused it and started afresh) and to keep the new state from being parked."""
    old = Entry.from_dict(MANIFEST[0])
    new = dataclasses.replace(old, bf16=False)
    zoo, parked = tmp_path / "zoo", tmp_path / "parked"
    building = zoo / build_zoo.BUILDING
    for entry, folder, epochs in ((old, parked, 5), (new, building, 1)):
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"state": json.dumps({"epoch": epochs})}
        save_file({"x": torch.zeros(1)}, build_zoo.state_file(entry, folder), metadata=meta)
    assert not build_zoo.unpark(new, building, parked)
    assert build_zoo.epochs_done(build_zoo.state_file(new, building)) == 1
    build_zoo.park([new], zoo, parked)
    assert build_zoo.epochs_done(build_zoo.state_file(new, parked)) == 1
    assert build_zoo.epochs_done(build_zoo.state_file(old, parked)) == 5  # an older checkout's to resume


def test_dry_run_lists_uploads_without_network(
    zoo: dict[str, Path], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_zoo, "push_folder", lambda *a, **k: pytest.fail("--dry-run must not upload"))
    before = mtimes(zoo["root"])
    assert run(zoo, "--push", "--dry-run", "--namespace", "me") == 0
    out = capsys.readouterr().out
    for model_id in IDS:
        repo = model_id.replace("/", "-")
        line = next(line for line in out.splitlines() if f"me/{repo}:" in line)
        assert all(name in line for name in CHECKPOINT_FILES) and " kB)" in line
    assert mtimes(zoo["root"]) == before


def test_push_uploads_each_up_to_date_folder(zoo: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(build_zoo, "push_folder", lambda folder, repo_id, **k: calls.append((folder, repo_id)))
    monkeypatch.setattr(build_zoo, "refuse_push_that_cannot_be_made", lambda: None)  # a token, as if logged in
    assert run(zoo, "--push", "--only", "G*/fcn", "--namespace", "me") == 0
    assert calls == [(zoo["zoo"] / "GunPoint" / "fcn", "me/GunPoint-fcn")]


def test_load_pretrained_finds_the_zoo_and_reproduces_stored_metrics(
    zoo: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TSHUB_ZOO", str(zoo["zoo"]))
    model = tshub.load_pretrained("gunpoint/fcn")
    X, y = load("GunPoint").split("test")
    accuracy = float(np.mean(model.predict(X) == np.asarray(model.classes)[y]))
    assert accuracy == pytest.approx(model.meta["metrics"]["accuracy"])

    multi = tshub.load_pretrained("UCR/convtimenet")
    assert sorted(multi.config()["heads"]) == ["GunPoint", "Wafer"]
    assert multi.meta["head_classes"]["Wafer"] == ["-1", "1"]
    result = multi.finetune(load("Coffee"), max_epochs=1, progress=False)  # a single new head
    assert result.model.config()["heads"] is None and result.transfer_report.copied


def test_an_entry_trained_on_every_series_selects_on_them_and_its_card_says_so(zoo: dict[str, Path]) -> None:
    italy = load_source("ItalyPowerDemand", "train")
    assert np.array_equal(italy.splits["val"], italy.splits["train"]) and len(italy.splits["test"]) == 1029
    config = read_config(zoo["zoo"] / "ItalyPowerDemand" / "fcn")
    assert config["meta"]["splits"] == {"train": 67, "test": 1029, "val": 67}
    assert config["meta"]["validation_is_train"] is True
    assert "trained on every training series" in config["source"]["description"]
    assert any(
        line.startswith("Trained on every training series of ItalyPowerDemand") for line in config["limitations"]
    )
    card = (zoo["cards"] / "ItalyPowerDemand__fcn.md").read_text()
    assert "Training split (it doubled as validation split, so this is no held-out estimate): Accuracy" in card
    assert "Validation split:" not in card
    held_out = read_config(zoo["zoo"] / "GunPoint" / "fcn")
    assert "validation_is_train" not in held_out["meta"]
    assert "Validation split: Accuracy" in (zoo["cards"] / "GunPoint__fcn.md").read_text()
    with pytest.raises(ValueError, match="validation must be one of"):
        Entry("ItalyPowerDemand", "fcn", validation="test")


def test_an_entry_field_at_its_default_leaves_every_committed_checkpoint_up_to_date() -> None:
    """Fields added to Entry after the zoo was built stay out of the recipe hash at their defaults, so the
    committed checkpoints are not rebuilt (nor their saved training states discarded) when one is added."""
    from zoo_manifest import BUILD_VERSION, LATER_FIELDS

    committed = Path(__file__).resolve().parents[1] / "zoo"
    builds = [
        read_config(committed / row["id"])["meta"]["build"]
        for row in json.loads((committed / "index.json").read_text())["models"]
    ]
    current = [build for build in builds if build["build_version"] == BUILD_VERSION]
    assert len(current) > 100
    for build in current:  # those built before a field existed, and those built with it at any value
        assert Entry.from_dict(build["entry"]).recipe_hash() == build["recipe_hash"], build["entry"]
        # the same entry as a build written before the later fields existed records it: without them
        written_before = {k: v for k, v in build["entry"].items() if k not in LATER_FIELDS or v != LATER_FIELDS[k]}
        assert Entry.from_dict(written_before).recipe_hash() == build["recipe_hash"], build["entry"]
    # the zoo's rebuild shrinks the number built before, so the guard is on the fields, not on a count
    entry = Entry.from_dict(current[0]["entry"])
    other = "train" if entry.validation == "split" else "split"
    assert Entry.from_dict({**entry.to_dict(), "validation": other}).recipe_hash() != entry.recipe_hash()


def test_every_committed_zoo_card_is_what_its_config_generates() -> None:
    """Cards of fine-tunes say more than a pretrained checkpoint's; the zoo's must not change by a byte (a
    multi-head card's per-dataset table, which the build inserts, is taken out before comparing)."""
    configs = sorted((Path(__file__).resolve().parents[1] / "zoo").glob("*/*/config.json"))
    assert configs
    for path in configs:
        committed = (path.parent / "README.md").read_text()
        head, heads_table, tail = committed.partition("## Per-dataset results")
        expected = f"{head}{USAGE_HEADING}{tail.partition(USAGE_HEADING)[2]}" if heads_table else committed
        assert str(build_model_card(read_config(path.parent))) == expected, path


def test_the_published_zoo_trains_every_ucr_set_on_every_series(shared_data: Path) -> None:
    from zoo_manifest import default_manifest

    entries = {entry.id: entry for entry in default_manifest(shared_data)}
    assert entries["Coffee/fcn"].validation == "train" and entries["PowerCons/fcn"].validation == "train"  # 28, 180
    assert entries["Strawberry/fcn"].validation == "train" and entries["FordA/fcn"].validation == "train"  # 613, 3601
    assert all(entries[i].validation == "split" for i in ("EMG/fcn", "SP500/tcn", "UCR/convtimenet"))


def test_train_only_sets_get_a_stratified_test_split(shared_data: Path) -> None:
    wafer = load_source("Wafer")
    n = len(wafer.X)
    assert len(wafer.splits["test"]) == round(0.2 * n) and len(wafer.splits["train"]) == n - round(0.2 * n)
    assert np.bincount(wafer.y[wafer.splits["test"]]).min() > 0


def test_a_train_only_sets_reference_says_it_is_on_another_split_in_the_zoo_too(shared_data: Path) -> None:
    """Regression: a train-only set's checkpoint (its test split held out of the TRAIN file) was listed, and ranked by
    its gain on the web page, beside the archive's 1-NN DTW accuracy on the official test split as if the two
    compared (Symbols: 1.0000 against 0.9377). Its reference now says ``on_other_split``; no other one does."""
    from zoo_train import _reference

    assert _reference(load_source("Wafer"))["on_other_split"] is True
    assert "on_other_split" not in _reference(load_source("Coffee"))
    train_only = {
        path.name.removesuffix("_TRAIN.tsv.gz") for path in (shared_data / "UCRArchive_2018_trainonly").iterdir()
    }
    configs = {path.parent: read_config(path.parent) for path in REPO_ZOO.glob("*/*/config.json")}
    flagged = {
        folder.parent.name
        for folder, config in configs.items()
        if (config.get("reference") or {}).get("on_other_split")
    }
    assert flagged == train_only and len(flagged) == 7


def test_a_checkpoint_far_below_its_reference_says_so_and_why() -> None:
    from zoo_train import _below_reference

    dtw = {"name": "1-NN DTW, learned window (UCR archive)", "metrics": {"accuracy": 0.90}}
    meta = {
        "splits": {"train": 24, "val": 6, "test": 100},
        "best_epoch": 40,
        "epochs": 140,
        "stop_reason": "early_stopping",
    }
    assert _below_reference({"accuracy": 0.85}, {"accuracy": 0.9}, dtw, meta) == []  # within 10 points
    (line,) = _below_reference({"accuracy": 0.62}, {"accuracy": 1.0}, dtw, meta)
    assert line.startswith("This model is 0.28 below the 1-NN DTW (0.620 vs 0.900 test accuracy)")
    assert "24 series" in line and "6 validation series" in line and "scored 1.000" in line
    persistence = {"name": "naive persistence forecast, same test split", "metrics": {"mae": 11.2}}
    (line,) = _below_reference({"mae": 48.0}, {"mae": 40.0}, persistence, meta)
    assert "does NOT beat its reference, the naive persistence forecast: test MAE 48 vs 11.2 (4.3× worse)" in line
    (close,) = _below_reference({"mae": 11.22}, {"mae": 11.0}, persistence, meta)
    assert "test MAE 11.22 vs 11.2 (0.2% higher)" in close
    assert _below_reference({"mae": 10.0}, {"mae": 9.0}, persistence, meta) == []


def test_emg_s_source_convnetquake_is_otovic_s_baseline_variant_and_sp500_s_says_why_it_is_not(
    shared_data: Path,
) -> None:  # reads SP500 from the real data
    """tstl pre-trained its EMG source ConvNetQuake as convnetquakeingv_emg (glorot_normal, no l2); every other
    source here, SP500's included (its card says why), is the plain model (glorot_uniform, l2 1e-3)."""
    from zoo_manifest import otovic_entry
    from zoo_train import _limitations

    def model(source: str, arch: str) -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model(arch, 3, 4, input_length=80, **otovic_entry(source, arch).arch_kwargs)

    emg, sp500 = model("EMG", "convnetquake"), model("SP500", "convnetquake")
    assert emg.regularization_loss() is None
    kernels = sum(m.weight.pow(2).sum() for m in sp500.backbone if isinstance(m, torch.nn.Conv1d))
    assert torch.allclose(sp500.regularization_loss(), 1e-3 * kernels)
    fan_in, fan_out = 3 * 3, 32 * 3  # conv1: 3 channels × kernel 3 in, 32 filters × kernel 3 out
    assert float(emg.backbone.conv1.weight.detach().std()) == pytest.approx((2 / (fan_in + fan_out)) ** 0.5, rel=0.1)
    assert all(otovic_entry(s, a).arch_kwargs == {} for s in ("EMG", "SP500") for a in tshub.list_architectures()
               if (s, a) != ("EMG", "convnetquake"))  # fmt: skip
    sp500_data = load_source("SP500")
    notes = " ".join(_limitations(sp500_data, otovic_entry("SP500", "convnetquake")))
    assert "not their S&P 500 source variant (he_normal, l2 0.7)" in notes
    assert "source variant" not in " ".join(_limitations(sp500_data, otovic_entry("SP500", "fcn")))


def test_sp500_entries_alone_learn_relative_targets_and_their_cards_say_how_they_depart_and_compare(
    shared_data: Path,
) -> None:  # reads SP500 from the real data
    from zoo_manifest import otovic_entry
    from zoo_train import _beats_reference, _limitations

    for arch in tshub.list_architectures():
        sp500, emg = otovic_entry("SP500", arch), otovic_entry("EMG", arch)
        assert (sp500.target_scaling, sp500.use_stream_max) == ("relative", False)
        assert (emg.target_scaling, emg.use_stream_max) == (None, True)
        assert not otovic_entry("STEAD", arch).use_stream_max  # as Otović et al.: every dataset but STEAD has it
    sp500 = load_source("SP500")
    text = " ".join(_limitations(sp500, otovic_entry("SP500", "fcn")))
    assert "Departure from Otović et al.'s protocol (raw-price target)" in text and "no stream_max input" in text
    assert "Departure" not in " ".join(_limitations(load_source("EMG"), otovic_entry("EMG", "fcn")))
    raw = dataclasses.replace(otovic_entry("SP500", "fcn"), target_scaling=None)  # the library standardises it
    assert "the targets were standardised during training" in " ".join(_limitations(sp500, raw))
    persistence = {"name": "naive persistence forecast, same test split", "metrics": {"mae": 11.2}}
    (line,) = _beats_reference({"mae": 10.5}, persistence)
    assert line == "This model beats its reference, the naive persistence forecast: test MAE 10.5 vs 11.2."
    assert _beats_reference({"mae": 12.0}, persistence) == []  # _below_reference says that one


@pytest.mark.parametrize("native", [False, True])
def test_an_entry_asking_bf16_trains_in_float32_where_the_cpu_emulates_it(
    native: bool, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    """Regression: the zoo rebuild's entries ask bf16, which a Zen 3 EPYC emulates at 11x float32's step time
    (bench/results/fcn_step_zen3.md): the build crawled there. Such a CPU trains the entry in float32, as accurate in
    a paired test (bf16_accuracy.md), and the checkpoint and its card say so; the recipe hash stays the entry's, so a
    build on either CPU fulfils it."""
    import zoo_train

    flags = {"avx512_bf16": True} if native else {}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"cpu_name": "AMD EPYC", "avx2": True, **flags})
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    entry = Entry.from_dict(MANIFEST[0])
    assert entry.bf16
    built = zoo_train.build_entry(entry)
    assert built.model.meta["train_config"]["bf16"] is native
    assert built.fields["build"]["recipe_hash"] == entry.recipe_hash()
    said = [line for line in built.fields["limitations"] if line.startswith("Trained in float32")]
    assert bool(said) is not native and all("emulates" in line for line in said)


def test_the_weights_a_card_is_measured_on_are_the_weights_stored(tmp_path: Path) -> None:
    """Regression: the zoo build measured a float16 checkpoint's card metrics on its weights cast to float16 and back,
    while saving keeps in float32 a tensor float16 cannot hold (a BatchNorm variance above 65504): the card described
    a model with an infinite variance, one channel zeroed, which was never written."""
    from zoo_train import roundtrip

    from tshub.data.preprocess import ZNormalize

    torch.manual_seed(0)
    model = build_model("fcn", 1, 2, filters=(4, 4, 4)).eval()
    model.task, model.classes, model.preprocessor = "classification", ["a", "b"], ZNormalize()
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d))
    norm.running_var[0] = 1e5
    X = np.random.default_rng(0).standard_normal((6, 1, 32)).astype(np.float32)
    loaded = tshub.load_pretrained(model.save_pretrained(tmp_path / "m", dtype="float16"))
    np.testing.assert_allclose(roundtrip(model, "float16").predict_proba(X), loaded.predict_proba(X), rtol=1e-6)


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"dtype": "float8"}, r"dtype must be one of \['bfloat16', 'float16', 'float32'\], got 'float8'"),
        ({"target_scaling": "log"}, r"target_scaling must be None or 'relative', got 'log'"),
        ({"preprocessing": "zscore"}, r"unknown preprocessing 'zscore'"),
        ({"recipe": "fast"}, r"unknown recipe 'fast'"),
        ({"datasets": "GunPoint"}, r"datasets must be a list of dataset names, got 'GunPoint'"),
        ({"datasets": ["A", "B"], "validation": "train"}, r"a multi-head entry .* validation='train'"),
        ({"datasets": ["A", "B"], "use_stream_max": True}, r"a multi-head entry .* use_stream_max=True"),
        ({"datasets": ["A", "B"], "target_scaling": "relative"}, r"a multi-head entry .* target_scaling='relative'"),
    ],
)
def test_a_manifest_entry_the_build_would_fail_on_or_ignore_is_refused_when_read(fields: dict, match: str) -> None:
    """Regression: a dtype typo was found only after the entry had trained (hours), its saved state already cleared;
    a string of datasets became one head per letter; a multi-head entry's validation, use_stream_max and
    target_scaling were hashed and recorded but never used."""
    with pytest.raises(ValueError, match=match):
        Entry.from_dict({"source": "GunPoint", "arch": "fcn", **fields})


@pytest.mark.parametrize("other", ["--push", "--force", "--dry-run"])
def test_park_with_a_flag_it_would_ignore_is_refused(
    zoo: dict[str, Path], other: str, capsys: pytest.CaptureFixture
) -> None:
    """Regression: ``--park --push`` (or ``--force``) parked and exited 0 without a word about the push, and
    ``--park --dry-run`` showed the build plan without parking: each flag silently ignored the other."""
    with pytest.raises(SystemExit) as refused:
        run(zoo, "--park", other)
    assert (
        refused.value.code == 2
        and f"--park trains, builds and uploads nothing: drop {other}" in capsys.readouterr().err
    )


def test_a_push_dry_run_says_an_unbuilt_entry_would_be_built_then_uploaded(
    zoo: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Regression: ``--push --dry-run`` said "not uploaded, checkpoint missing (build it first)" of an entry that
    ``--push`` builds (hours) and then uploads."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps([MANIFEST[0], {"source": "Coffee", "arch": "fcn", "max_epochs": 1}]))
    paths = {**zoo, "manifest": manifest}
    assert run(paths, "--push", "--dry-run", "--namespace", "me") == 0
    out = capsys.readouterr().out
    assert "would build Coffee/fcn (missing), then upload it -> " in out and "me/Coffee-fcn" in out
    assert "build it first" not in out and "would upload" in out  # GunPoint/fcn is up to date


def test_a_card_says_when_a_training_stopped_at_max_epochs_had_its_best_score_and_where_a_reference_was_measured() -> (
    None
):
    """Regression: every checkpoint stopped by its maximum epochs was said to be "still improving", Herring/fcn's too,
    whose best epoch was 902 of 1000 (98 epochs without improving, early stopping waiting 100); and a train-only set's
    "0.11 below the 1-NN DTW (0.884 vs 0.999 test accuracy)" compared two test splits without saying so."""
    from zoo_train import _below_reference, _max_epochs_sentence

    config = {"early_stopping_patience": 100}
    herring = _max_epochs_sentence({"epochs": 1000, "best_epoch": 902, "train_config": config})
    assert "came at epoch 902, 98 epochs before the end, within the 100 epochs early stopping waits" in herring
    assert "still improving" not in herring
    assert "still improving, its best at epoch 1000" in _max_epochs_sentence(
        {"epochs": 1000, "best_epoch": 1000, "train_config": config}
    )
    reference = {
        "name": "1-NN DTW, learned window (UCR archive), on the official test split",
        "metrics": {"accuracy": 0.999},
    }
    meta = {"splits": {"train": 801}, "best_epoch": 329, "epochs": 429, "stop_reason": "early_stopping"}
    said = _below_reference({"accuracy": 0.884}, {}, {**reference, "on_other_split": True}, meta)[0]
    assert said.startswith(
        "This model is 0.11 below the 1-NN DTW (measured on the official test split, not this model's) (0.884 vs 0.999"
    )
    assert _below_reference({"accuracy": 0.884}, {}, reference, meta)[0].startswith(
        "This model is 0.11 below the 1-NN DTW (0.884"
    )


def test_a_push_that_cannot_be_made_stops_at_the_first_entry(
    zoo: dict[str, Path], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: without a token, ``--push`` tried and refused every entry in turn (134 lines for the zoo)."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(build_zoo, "push_folder", tshub.hub.push_folder)
    monkeypatch.setattr("tshub.hub.remote.get_token", lambda: None)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("tshub.hub.remote.hub_offline", lambda: False)
    monkeypatch.setattr(build_zoo, "refuse_push_that_cannot_be_made", lambda: None)  # past the check up front
    assert run(zoo, "--push", "--namespace", "me") == 1
    failures = [line for line in capsys.readouterr().out.splitlines() if "FAILED" in line]
    assert len(failures) == 1 and "no Hub token" in failures[0]
    monkeypatch.undo()
    monkeypatch.setattr("tshub.hub.remote.get_token", lambda: None)
    monkeypatch.setattr("tshub.hub.remote.hub_offline", lambda: False)
    monkeypatch.setattr(build_zoo, "build", lambda *a, **k: pytest.fail("no build before a push that cannot be made"))
    assert run(zoo, "--push", "--force") == 2  # refused before hours of building
    assert "--push: cannot push to " in capsys.readouterr().err
