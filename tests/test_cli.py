"""The tshub command line on a temporary store: list, info, pull offline, finetune (push and pull: test_hub_server)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import constants

from tshub.cli import LIST_NOTES, main
from tshub.data.preprocess import ZNormalize
from tshub.hub import list_pretrained, load_pretrained, read_config
from tshub.hub.store import home_store
from tshub.models import build_model


@pytest.fixture(autouse=True)
def _private_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.delenv("TSHUB_NAMESPACE", raising=False)


@pytest.fixture
def zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with a GunPoint FCN (published fields) and a float16 LEN-DB-like regression TCN."""
    root = tmp_path / "zoo"
    monkeypatch.setenv("TSHUB_ZOO", str(root))
    torch.manual_seed(0)
    fcn = build_model("fcn", 1, 2, filters=(8, 16, 8))
    fcn.task, fcn.classes, fcn.preprocessor = "classification", ["1", "2"], ZNormalize()
    fcn.meta = {
        "source_dataset": "GunPoint",
        "recipe": "default",
        "metrics": {"accuracy": 0.9733, "f1_weighted": 0.97},
        "stop_reason": "early_stopping",
        "epochs": 40,
        "best_epoch": 30,
    }
    fcn.save_pretrained(
        root / "GunPoint" / "fcn",
        id="GunPoint/fcn",
        source={"name": "GunPoint", "domain": "Motion", "citation": "Dau et al. 2019"},
        reference={"name": "FCN (Wang et al. 2017)", "metrics": {"accuracy": 1 - 0.56}},
    )
    tcn = build_model("tcn", 3, 1)
    tcn.task = "regression"
    tcn.meta = {"source_dataset": "LEN-DB", "metrics": {"mae": 0.2512, "mse": 0.11}}
    tcn.save_pretrained(
        root / "LEN-DB" / "tcn", dtype="float16", id="LEN-DB/tcn", source={"name": "LEN-DB", "domain": "Seismology"}
    )
    return root


def test_list_prints_one_row_per_checkpoint(zoo, capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "domain", "test", "ref.", "training", "size"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["GunPoint/fcn"][:5] == ["GunPoint/fcn", "Motion", "acc", "0.9733", "0.4400"]
    assert rows["GunPoint/fcn"][5] == "converged"
    assert rows["LEN-DB/tcn"][:6] == ["LEN-DB/tcn", "Seismology", "mae", "0.2512", "-", "-"]
    assert rows["LEN-DB/tcn"][-1] in ("kB", "MB")


def test_list_marks_a_reference_measured_on_another_split_and_says_why(zoo, capsys):
    """Regression: a train-only UCR set's checkpoint (its test split held out of the TRAIN file) was listed beside the
    archive's 1-NN DTW accuracy on the official test split as if the two compared (Symbols: 1.0000 against 0.9377)."""
    reference = {
        "name": "1-NN DTW, on the official test split",
        "metrics": {"accuracy": 0.9955},
        "on_other_split": True,
    }
    load_pretrained(zoo / "GunPoint" / "fcn").save_pretrained(
        zoo / "Wafer" / "fcn", id="Wafer/fcn", source={"name": "Wafer", "domain": "UCR/Sensor"}, reference=reference
    )
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip() and "/" in line.split()[0]}
    assert "0.9955 *" in rows["Wafer/fcn"] and "*" not in rows["GunPoint/fcn"]
    assert LIST_NOTES["*"] in out and max(map(len, out.splitlines())) <= 120
    listed = {row["id"]: row for row in list_pretrained()}
    assert listed["Wafer/fcn"]["reference_on_other_split"] is True
    assert listed["GunPoint/fcn"]["reference_on_other_split"] is False


def test_list_and_info_keep_within_120_columns(zoo, capsys):
    """Long ids, domains, citations and paths are wrapped or abbreviated (they ran 148-210 columns wide)."""
    model = load_pretrained(zoo / "GunPoint" / "fcn")
    model.save_pretrained(
        zoo / "NonInvasiveFetalECGThorax1" / "fcn",
        id="NonInvasiveFetalECGThorax1/fcn",
        source={"name": "NonInvasiveFetalECGThorax1", "domain": "UCR/Hemodynamics", "citation": "A. Author " * 30},
    )
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "NonInvasiveFetalECGThorax1/fcn" in listed
    assert main(["info", str(zoo / "NonInvasiveFetalECGThorax1" / "fcn")]) == 0
    info = capsys.readouterr().out
    assert "A. Author A. Author" in info and "sha256" in info
    for out in (listed, info):
        assert max(map(len, out.splitlines())) <= 120


def test_list_json_and_empty_store(zoo, capsys, monkeypatch):
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"]: r["dtype"] for r in rows} == {"GunPoint/fcn": "float32", "LEN-DB/tcn": "float16"}
    monkeypatch.setenv("TSHUB_ZOO", str(zoo.parent / "empty"))
    assert main(["list"]) == 0
    err = capsys.readouterr().err
    assert "no checkpoints found" in err and str(home_store().root) in err and "tshub pull ID" in err


def test_info_describes_a_checkpoint(zoo, capsys):
    assert main(["info", "gunpoint/fcn"]) == 0
    lines = capsys.readouterr().out.splitlines()
    width = len(lines[1].split()[0])  # the dashes under the field column
    out = {line[:width].strip(): line[width:].strip() for line in lines[2:]}
    assert out["location"] == str(zoo / "GunPoint" / "fcn")
    assert out["arch"].startswith("fcn (filters=[8, 16, 8]")
    assert (
        "Accuracy 0.9733" in out["metrics (test)"] and out["reference"] == "FCN (Wang et al. 2017): Accuracy 0.4400"
    )  # as a metric, not 0.43999999999999995
    assert out["training"] == "converged after 40 epochs (weights of epoch 30)"
    assert main(["info", "LEN-DB/tcn", "--json"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["dtype"] == "float16" and config["location"] == str(zoo / "LEN-DB" / "tcn")


def test_info_says_a_min_max_mask_model_takes_its_training_length(capsys):
    """Regression: EMG/tcn (a TCN takes any length) read "any length", but its minmax_mask preprocessing subtracts
    a mean per time step of its training series, so predict refuses any other length."""
    folder = Path(__file__).resolve().parents[1] / "zoo" / "EMG" / "tcn"
    if not (folder / "config.json").is_file():
        pytest.skip(f"the repository zoo's EMG/tcn is not at {folder}")
    assert main(["info", str(folder)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("input "))
    assert "any length" not in row and "80 steps" in row, row


def test_info_of_a_missing_id_fails_with_where_it_looked(zoo, capsys):
    assert main(["info", "LEN-DB/magnet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tshub: error: no checkpoint found for 'LEN-DB/magnet'")
    assert str(zoo) in err and "tshub/LEN-DB-magnet" in err and "scripts/publish" in err


def test_pull_offline_fails_with_the_reason(zoo, capsys):
    assert main(["pull", "GunPoint/fcn"]) == 1  # pulling from a Hub: tests/test_hub_server.py
    assert "HF_HUB_OFFLINE" in capsys.readouterr().err


def test_console_entry_point_runs(zoo):
    done = subprocess.run(
        [sys.executable, "-m", "tshub.cli", "list"], capture_output=True, text=True, env={**os.environ}, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "GunPoint/fcn" in done.stdout and "LEN-DB/tcn" in done.stdout
    done = subprocess.run([sys.executable, "-m", "tshub.cli"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "list" in done.stderr and "finetune" in done.stderr


def test_push_reports_a_checkpoint_it_cannot_find_and_pushes_the_others(zoo, monkeypatch, capsys):
    """Regression: a name that was no checkpoint ended the command, so the names after it were never pushed."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # every push fails at once, and says so: the attempt is what counts
    assert main(["push", "Nope/fcn", "GunPoint/fcn"]) == 1
    first, second = capsys.readouterr().err.splitlines()
    assert first.startswith("Nope/fcn: push FAILED: 'Nope/fcn' is neither a checkpoint folder nor a model id")
    assert second.startswith("GunPoint/fcn: push FAILED: cannot push to tshub/GunPoint-fcn at ")
    assert "HF_HUB_OFFLINE is set" in second


def test_finetune_prints_metrics_and_saves_a_child_checkpoint(zoo, shared_data, tmp_path, capsys):
    out = tmp_path / "coffee-from-gunpoint"
    code = main(
        ["finetune", "GunPoint/fcn", "Coffee", "--lr-multiplier", "0.5,1", "--max-epochs", "2", "--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "fine-tuned GunPoint/fcn on Coffee (ω = " in printed and "chosen on validation" in printed
    assert "test: Accuracy" in printed and f"saved to {out}" in printed
    child = load_pretrained(out)
    assert child.meta["parent"] == "GunPoint/fcn" and child.meta["lr_multiplier"] in (0.5, 1.0)
    assert child.classes == ["0", "1"] and child.preprocessor.kind == "znorm"
    assert "fine-tuned from GunPoint/fcn on Coffee" in (out / "README.md").read_text()


def test_finetune_holds_a_test_split_out_of_a_train_only_catalogue_set_when_asked(zoo, shared_data, capsys):
    """Regression: a train-only catalogue set (Symbols: no TEST file here) got no test score, the output said to pass
    --test-fraction, and --test-fraction was refused as if the set brought its own test split."""
    assert (
        main(
            [
                "finetune",
                "GunPoint/fcn",
                "Symbols",
                "--lr-multiplier",
                "1",
                "--max-epochs",
                "1",
                "--test-fraction",
                "0.3",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "test: Accuracy" in printed and "no test split" not in printed


def test_finetune_says_when_the_source_was_trained_on_the_target_s_own_data(zoo, shared_data, capsys):
    """Regression: `tshub finetune GunPoint/fcn GunPoint --baseline` said "fine-tuning won" (1.000 vs 0.493) for a
    source trained on these very series, which recommend leaves out as no transfer; it says so now."""
    assert main(["finetune", "GunPoint/fcn", "GunPoint", "--lr-multiplier", "1", "--max-epochs", "1"]) == 0
    assert "note: no transfer: GunPoint/fcn was trained on the target's own data" in capsys.readouterr().out
    assert main(["finetune", "GunPoint/fcn", "GunPoint", "--lr-multiplier", "1", "--max-epochs", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["self_transfer"].startswith("trained on the target's own data")
    assert main(["finetune", "GunPoint/fcn", "Coffee", "--lr-multiplier", "1", "--max-epochs", "1"]) == 0
    assert "no transfer" not in capsys.readouterr().out


def test_finetune_with_a_frozen_backbone_trains_the_head_at_omega_one(zoo, shared_data, capsys):
    """Regression: --lr-multiplier defaulted to the grid, which finetune refuses with a frozen backbone, so
    --freeze-backbone always ended in a traceback."""
    assert main(["finetune", "GunPoint/fcn", "Coffee", "--freeze-backbone", "--max-epochs", "1"]) == 0
    assert "fine-tuned GunPoint/fcn on Coffee (ω = 1)" in capsys.readouterr().out
    for omega in ("grid", "0.5,1"):
        assert main(["finetune", "GunPoint/fcn", "Coffee", "--freeze-backbone", "--lr-multiplier", omega]) == 1
        assert capsys.readouterr().err.startswith("tshub: error: --freeze-backbone keeps the backbone")


def test_test_fraction_on_data_with_its_own_splits_is_refused_not_ignored(zoo, tmp_path, capsys):
    """Regression: --test-fraction beside --test-file (or a catalogue name) was silently ignored."""
    rows = "".join(f"{i % 2},{i % 3}.0,{i % 5}.0,1.5,2.0\n" for i in range(12))
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text(rows)
    test.write_text(rows.replace("1.5", "2.5"))  # not the same bytes: that is refused for itself
    args = ["finetune", "GunPoint/fcn", str(train), "--test-file", str(test), "--test-fraction", "0.2"]
    assert main(args) == 1
    assert capsys.readouterr().err.startswith("tshub: error: --test-fraction holds a test split out of data")


def test_finetune_says_when_the_model_learned_nothing(zoo, tmp_path: Path, capsys) -> None:
    """Regression: a fine-tune whose model scores at chance (here every series is the same, so it gives every one
    the same class) printed its metrics and "saved" as any other; nothing said it learned nothing usable."""
    wave = np.sin(np.linspace(0, 6, 150))
    train = _ucr_style_file(tmp_path / "same_TRAIN.tsv", np.tile(wave, (12, 1)), ["1", "2"] * 6)
    test = _ucr_style_file(tmp_path / "same_TEST.tsv", np.tile(wave, (6, 1)), ["1", "2"] * 3)
    args = ["finetune", "GunPoint/fcn", str(train), "--test-file", str(test), "--lr-multiplier", "1"]
    assert main([*args, "--max-epochs", "1"]) == 0
    out, err = capsys.readouterr()
    assert "test: Accuracy 0.5000" in out
    assert (
        "tshub: warning: the fine-tuned model learned nothing usable: its test accuracy 0.500 is less than 5 points above"
        in err
    )
    assert "train longer (--max-epochs)" in err


def test_a_regression_finetune_prints_the_naive_forecasts_and_whether_it_beats_persistence(
    tmp_path: Path, capsys
) -> None:
    """Regression: a forecaster's fine-tune printed its MAE alone, beside no naive forecast (the training mean, and
    persistence: repeating each window's last value), so a model worse than either read like any other."""
    rng = np.random.default_rng(0)
    walk = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (60, 25)), axis=1))  # price windows and their next value
    train = _ucr_style_file(tmp_path / "walk_TRAIN.tsv", walk[:40, :24], [f"{v:.5f}" for v in walk[:40, 24]])
    test = _ucr_style_file(tmp_path / "walk_TEST.tsv", walk[40:, :24], [f"{v:.5f}" for v in walk[40:, 24]])
    torch.manual_seed(0)
    source = build_model("fcn", 1, 1, filters=(4, 4, 4), kernel_sizes=(3, 3, 3))
    source.task, source.preprocessor = "regression", ZNormalize()
    folder = source.save_pretrained(tmp_path / "source")
    args = ["finetune", str(folder), str(train), "--test-file", str(test), "--lr-multiplier", "1", "--max-epochs", "1"]
    assert main([*args, "--task", "regression"]) == 0
    out = capsys.readouterr().out
    assert "naive forecast on the same splits: the training split's mean target" in out
    persistence = np.mean(np.abs(walk[40:, 24] - walk[40:, 23]))
    assert "naive forecast on the same splits: each series' last value" in out
    assert f"vs persistence {persistence:.4f}: fine-tuning " in out.splitlines()[-1]
    assert main([*args, "--task", "regression", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    naive = summary["naive"]
    assert naive["persistence"]["metrics"]["mae"] == pytest.approx(persistence, rel=1e-4)
    (verdict,) = summary["verdicts"]  # the printed verdict as data, as a service job's result carries it
    assert (verdict["referent"], verdict["metric"]) == ("persistence", "mae")
    assert verdict["value"] == pytest.approx(persistence, rel=1e-4) and verdict["note"].startswith("one seed")
    said = {"won": "won", "lost": "did not win", "tied": "tied"}[verdict["outcome"]]
    assert out.splitlines()[-1].endswith(f"fine-tuning {said} (one seed)")
    assert set(naive["training_mean"]["val_metrics"]) == {"mae", "mse"}


def test_finetune_with_baseline_trains_the_referent_fits_minirocket_and_says_which_won(zoo, shared_data, capsys):
    args = ["finetune", "GunPoint/fcn", "Coffee", "--lr-multiplier", "1", "--max-epochs", "2", "--baseline"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "fcn from scratch on Coffee (same recipe, seed, splits and preprocessing)" in printed
    assert "MiniRocket on Coffee (fitted on the same training split" in printed
    versus_scratch, versus_minirocket = printed.splitlines()[-2:]
    assert versus_scratch.startswith("test Accuracy: fine-tuned ") and "vs from scratch" in versus_scratch
    assert versus_minirocket.startswith("test Accuracy: fine-tuned ") and "vs MiniRocket" in versus_minirocket
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["baseline"]["metrics"]) == set(summary["minirocket"]["metrics"]) == {"accuracy", "f1_weighted"}
    assert set(summary["minirocket"]["val_metrics"]) == {"accuracy", "f1_weighted"}
    tuned, scratch = summary["metrics"]["accuracy"], summary["baseline"]["metrics"]["accuracy"]
    rocket = summary["minirocket"]["metrics"]["accuracy"]
    assert f"fine-tuned {tuned:.4f} vs from scratch {scratch:.4f}" in versus_scratch
    assert f"fine-tuned {tuned:.4f} vs MiniRocket {rocket:.4f}" in versus_minirocket
    assert rocket >= 0.9  # Coffee: aeon's MiniRocket scores 1.0 on the official split; 28 training series minus 20 %


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--lr-multiplier", "-1", "ω (lr_multiplier) must be finite and >= 0, got -1"),
        ("--lr-multiplier", "0.5,nan", "ω (lr_multiplier) must be finite and >= 0, got nan"),
        ("--device", "cuda", "device 'cuda' is not available"),
        ("--device", "gpu0", "not a torch device"),
    ],
)
def test_bad_omegas_and_devices_are_usage_errors_not_tracebacks(flag, value, said, capsys):
    """Regression: --lr-multiplier -1 ended in finetune's ValueError traceback, --device cuda on a machine without
    CUDA in torch's AssertionError."""
    if value == "cuda" and __import__("torch").cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SystemExit):
        main(["finetune", "GunPoint/fcn", "Coffee", flag, value])
    assert said in capsys.readouterr().err


def test_validation_train_fine_tunes_and_compares_on_every_training_series(zoo, shared_data, capsys):
    args = ["finetune", "GunPoint/fcn", "Coffee", "--lr-multiplier", "1", "--max-epochs", "1", "--baseline"]
    assert main([*args, "--validation", "train", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["splits"] == {"train": 28, "val": 28, "test": 28}  # Coffee's 28 training series, none held out
    assert summary["minirocket"]["val_metrics"]["accuracy"] == 1.0  # scored on the series it was fitted on
    with pytest.raises(SystemExit):
        main([*args, "--validation", "held-out"])
    assert "argument --validation: invalid choice: 'held-out'" in capsys.readouterr().err


def test_finetune_baseline_without_scikit_learn_skips_minirocket_saying_how_to_get_it(
    zoo, shared_data, capsys, without_scikit_learn
):
    args = ["finetune", "GunPoint/fcn", "Coffee", "--lr-multiplier", "1", "--max-epochs", "1", "--baseline", "--json"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "Coffee: MiniRocket skipped: the MiniRocket baseline needs scikit-learn" in captured.err
    summary = json.loads(captured.out)
    assert "baseline" in summary and "minirocket" not in summary


def test_a_fine_tuned_card_names_its_test_split_and_omega_grid_and_suggests_no_fine_tune_on_its_own_data(
    zoo, shared_data, tmp_path
):
    out = tmp_path / "ecg200-from-gunpoint"
    args = ["finetune", "GunPoint/fcn", "ECG200", "--lr-multiplier", "0.5,1", "--max-epochs", "2", "--out", str(out)]
    assert main(args) == 0
    card = (out / "README.md").read_text()
    assert "| Metric (ECG200 test split) | This model |" in card and "source test split" not in card
    chosen = load_pretrained(out).meta["lr_multiplier"]
    assert (
        f"ω (the learning-rate multiplier of the transferred layers): {chosen:g}, chosen on the validation split "
        "among the 2 tried: 0.5, 1." in card
    )
    usage = card.partition("## How to use")[2].partition("## Limitations")[0]
    predict, _, further = usage.partition("fine-tune it further on another dataset")
    assert "labels = model.predict(X_raw)          # new ECG200 series" in predict and further
    assert "ECG200" not in further and "Coffee" not in further
    assert "Compared on the same splits" not in card


def test_a_fine_tune_with_baseline_keeps_the_referent_and_minirocket_metrics_on_its_card(
    zoo, shared_data, tmp_path, capsys
):
    out = tmp_path / "ecg200-from-gunpoint"
    args = ["finetune", "GunPoint/fcn", "ECG200", "--lr-multiplier", "1", "--max-epochs", "2", "--baseline"]
    assert main([*args, "--json", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    scratch, rocket = summary["baseline"]["metrics"], summary["minirocket"]["metrics"]
    assert load_pretrained(out).meta["compared"] == {"from_scratch": scratch, "minirocket": rocket}
    card = (out / "README.md").read_text()
    assert "the only value tried." in card and "### Compared on the same splits" in card
    assert "| Metric (ECG200 test split) | This model | From scratch | MiniRocket |" in card
    tuned = summary["metrics"]["accuracy"]
    assert f"| Accuracy | {tuned:.4g} | {scratch['accuracy']:.4g} | {rocket['accuracy']:.4g} |" in card


def test_a_mistyped_id_gets_did_you_mean_and_no_advice_naming_a_missing_dataset(zoo, capsys):
    assert main(["info", "GunPont/fcn"]) == 1
    err = capsys.readouterr().err
    assert "did you mean 'GunPoint/fcn'?" in err
    assert "datasets.load('GunPont')" not in err and "'GunPont' is no dataset of the catalogue" in err
    assert main(["info", "GunPoint/fnc"]) == 1  # not an architecture: was taken for a Hub repo id, no hint
    err = capsys.readouterr().err
    assert "did you mean 'GunPoint/fcn'?" in err and "architectures: convnetquake, convtimenet, fcn" in err


def test_list_into_a_closed_pipe_ends_quietly(zoo, tmp_path):
    """`tshub list | head`: the reader leaves before tshub writes; no BrokenPipeError traceback."""
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before tshub starts writing
    done = subprocess.run(
        [sys.executable, "-m", "tshub.cli", "list"],
        stdout=writer,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
        timeout=120,
    )
    os.close(writer)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 141


def test_demo_refuses_a_negative_epoch_cap_before_any_work(capsys):
    """Regression: `tshub demo --max-epochs -3` ranked the sources, then failed with a traceback from the recipe
    (ValueError: ... max_epochs must be positive)."""
    from tshub.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--max-epochs", "-3"])
    assert "argument --max-epochs: expected a whole number >= 0 (0: the recipe's), got '-3'" in capsys.readouterr().err
    assert build_parser().parse_args(["demo", "--max-epochs", "0"]).max_epochs == 0


def test_python_cli_demo_and_service_share_one_default_recipe():
    """The issue: the CLI trained with "default", the quickstart and demo with "ucr"; now all say "auto"."""
    import inspect

    from server.schemas import JobCreate
    from tshub.cli import build_parser
    from tshub.training import finetune, train_from_scratch

    parser = build_parser()
    defaults = {
        "finetune()": inspect.signature(finetune).parameters["recipe"].default,
        "train_from_scratch()": inspect.signature(train_from_scratch).parameters["recipe"].default,
        "tshub finetune": parser.parse_args(["finetune", "GunPoint/fcn", "Coffee"]).recipe,
        "tshub demo": parser.parse_args(["demo"]).recipe,
        "POST /v1/jobs": JobCreate(dataset_id="x").recipe,
    }
    assert set(defaults.values()) == {"auto"}, defaults


def test_a_folder_spelled_like_a_model_id_warns_and_a_service_never_reads_it(zoo, tmp_path, monkeypatch):
    """A ./GunPoint/fcn folder in the working directory used to shadow the store's GunPoint/fcn silently."""
    import warnings

    from tshub.hub.resolution import resolve

    work = tmp_path / "work"
    other = build_model("fcn", 1, 3, filters=(4, 8, 4))
    other.task, other.classes = "classification", ["a", "b", "c"]
    other.save_pretrained(work / "GunPoint" / "fcn")
    monkeypatch.chdir(work)
    with pytest.warns(UserWarning, match="is both a folder here .* and the model id"):
        assert load_pretrained("GunPoint/fcn").n_outputs == 3  # the folder, as transformers would
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_pretrained("./GunPoint/fcn").n_outputs == 3  # meant as a folder: no warning
    assert resolve("GunPoint/fcn", local_folders=False) == zoo / "GunPoint" / "fcn"
    assert load_pretrained("GunPoint/fcn", local_folders=False).n_outputs == 2  # what the service loads


def test_the_service_plugs_its_commands_in_through_the_entry_point():
    """tshub.cli used to import server.cli; now the service registers `serve` and `token` as a plugin."""
    from importlib.metadata import entry_points

    from server.cli import add_server_commands
    from tshub.cli import COMMAND_GROUP, build_parser, plugin_commands

    if not any(e.value == "server.cli:add_server_commands" for e in entry_points(group=COMMAND_GROUP)):
        pytest.skip(
            f"the installed tshub metadata has no {COMMAND_GROUP} entry point: it predates pyproject's "
            "[project.entry-points]; reinstall with `pip install -e .` (make test does)"
        )
    assert add_server_commands in plugin_commands()
    assert build_parser().parse_args(["token", "revoke", "abc"]).token_id == "abc"
    library = build_parser(commands=[])
    with pytest.raises(SystemExit):
        library.parse_args(["serve"])


def test_errors_name_the_flags_not_the_python_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The library's advice names Python arguments (variable_length='pad', time_limit_s, arch=); on the command
    line the user is told the flags that do the same."""
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,0.1,0.2,0.3,0.4\n2,0.5,0.6\n1,0.7,0.8,0.9\n2,0.1,0.2,0.3\n")
    assert main(["recommend", str(ragged)]) == 1
    err = capsys.readouterr().err
    assert "--variable-length truncate" in err and "variable_length=" not in err


def test_the_recommenders_own_refusals_name_the_flags_too(zoo, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Regression: ``tshub recommend`` caught the recommender's errors itself and printed them as the library says
    them ("use method='logme'")."""
    levels = tmp_path / "levels.csv"  # a regression target: the H-score refuses it, naming another method
    levels.write_text("".join(f"{i * 0.37:.2f},{i % 3}.0,{i % 5}.0,1.5,2.0\n" for i in range(12)))
    assert main(["recommend", str(levels), "--method", "hscore"]) == 1
    err = capsys.readouterr().err
    assert "--method logme ranks it" in err and "method=" not in err


def test_a_recommendation_is_printed_in_the_command_line_s_terms(zoo, tmp_path: Path, capsys) -> None:
    """Regression: its printed notes and skipped reasons said the library's arguments ("allow_self_transfer=True
    ranks it"), which the command line takes as flags; only its errors and warnings were translated."""
    rng = np.random.default_rng(0)
    rows = "".join(f"{i % 2 + 1}\t" + "\t".join(f"{v:.3f}" for v in rng.standard_normal(40)) + "\n" for i in range(12))
    (tmp_path / "GunPoint.tsv").write_text(rows)  # another data set under a source's name
    extra = build_model("fcn", 1, 2, filters=(4, 8, 4))
    extra.task, extra.classes, extra.preprocessor = "classification", ["a", "b"], ZNormalize()
    extra.save_pretrained(tmp_path / "other")
    candidates = ["--candidates", "GunPoint/fcn", str(tmp_path / "other")]
    assert main(["recommend", str(tmp_path / "GunPoint.tsv"), *candidates]) == 0
    out = capsys.readouterr().out
    assert "GunPoint/fcn" in out and "--allow-self-transfer ranks" in out and "allow_self_transfer=" not in out


def test_demo_on_a_file_says_which_commands_do_its_job_on_one(tmp_path: Path, capsys) -> None:
    """Regression: ``tshub demo --target my.tsv`` said to read the file with tshub.Dataset.from_file and "pass the
    Dataset", which no command line can."""
    data = _ucr_style_file(tmp_path / "mine.tsv", np.random.default_rng(0).standard_normal((6, 20)), ["a", "b"] * 3)
    assert main(["demo", "--target", str(data)]) == 1
    err = capsys.readouterr().err
    assert f"tshub recommend {data}" in err and f"tshub finetune ID {data} --test-file TEST --baseline" in err
    assert "pass the Dataset" not in err


def test_recommend_refuses_options_its_method_does_not_use(tmp_path: Path, capsys) -> None:
    """Regression: ``--probe-epochs`` with another method than probe, and ``--index`` with one that reads no index
    (and no ``--plot`` to draw from it), were ignored without a word."""
    data = _ucr_style_file(tmp_path / "mine.tsv", np.random.default_rng(0).standard_normal((6, 20)), ["a", "b"] * 3)
    assert main(["recommend", str(data), "--probe-epochs", "3"]) == 1
    assert "--probe-epochs sets the fine-tunes of --method probe, but --method is logme" in capsys.readouterr().err
    assert main(["recommend", str(data), "--method", "hscore", "--index", str(tmp_path)]) == 1
    assert (
        "--index is read by --method dtw and dtw+logme (and --plot), but --method is hscore" in capsys.readouterr().err
    )


def test_in_cli_terms_translates_only_what_is_a_flag() -> None:
    from tshub.cli import build_parser, in_cli_terms

    said = in_cli_terms(
        "raise time_limit_s, rank fewer candidates (arch=, candidates=); pass missing='interpolate', root=, "
        "metric='logme' or n_train",
        build_parser(),
    )
    assert said == (
        "raise --time-limit, rank fewer candidates (--arch, --candidates); pass --missing interpolate, root=, "
        "metric='logme' or n_train"
    )


def test_in_cli_terms_says_flags_and_lists_as_the_command_line_takes_them() -> None:
    """Regression: ``allow_self_transfer=True`` became ``--allow-self-transfer True``, which argparse refuses (the
    flag takes no value), ``candidates=[ids or folders]`` became ``--candidates[ids or folders]``, and
    ``relative_target=True`` became ``--no-relative-target True``, the opposite flag."""
    from tshub.cli import build_parser, in_cli_terms

    parser = build_parser()
    said = in_cli_terms(
        "no candidate (left out: GunPoint/fcn; allow_self_transfer=True ranks them): pull some, "
        "or pass candidates=[ids or folders].",
        parser,
    )
    assert said == (
        "no candidate (left out: GunPoint/fcn; --allow-self-transfer ranks them): pull some, "
        "or pass --candidates ID [ID ...]."
    )
    said = in_cli_terms("pass candidates=['A/fcn', 'my runs/b'] and allow_self_transfer=True to rank them", parser)
    assert said == "pass --candidates A/fcn 'my runs/b' and --allow-self-transfer to rank them"
    assert in_cli_terms("relative_target=True or relative_target=False", parser) == (
        "--relative-target or --no-relative-target"
    )
    assert in_cli_terms("pass relative_target=True (--relative-target) to keep it", parser) == (
        "pass --relative-target to keep it"  # the message said both: the flag once
    )
    for python in ("allow_self_transfer=False", "arch=['fcn', 'tcn']"):  # no flag says these: left as they are
        assert in_cli_terms(python, parser) == python


def test_in_cli_terms_leaves_a_sentences_full_stop_out_of_the_value() -> None:
    """Regression: "predict without head=." became "predict without --head .", the full stop read as a value."""
    from tshub.cli import build_parser, in_cli_terms

    parser = build_parser()
    assert in_cli_terms("predict without head=.", parser) == "predict without --head."
    assert in_cli_terms("pass variable_length=pad. Or missing=interpolate.", parser) == (
        "pass --variable-length pad. Or --missing interpolate."
    )
    assert in_cli_terms("root=a.b and arch=fcn.tcn", parser) == "root=a.b and --arch fcn.tcn"  # a stop inside stays


def test_in_cli_terms_says_no_label_column_as_the_flag_that_reads_none() -> None:
    """Regression: ``label_column=None`` became ``--label-column None``, which reads a column named 'None'."""
    from tshub.cli import build_parser, in_cli_terms

    said = in_cli_terms("store the targets as y, or pass label_column=None for unlabeled series.", build_parser())
    assert said == "store the targets as y, or pass --no-labels for unlabeled series."


def test_predict_on_an_npz_without_targets_names_the_flag_that_reads_it(zoo, tmp_path: Path, capsys) -> None:
    np.savez(tmp_path / "plain.npz", X=np.random.default_rng(5).standard_normal((4, 30)))
    assert main(["predict", "GunPoint/fcn", str(tmp_path / "plain.npz")]) == 1
    advice = capsys.readouterr().err
    assert "pass --no-labels for unlabeled series" in advice and "--label-column None" not in advice
    assert main(["predict", "GunPoint/fcn", str(tmp_path / "plain.npz"), "--no-labels"]) == 0
    (tmp_path / "long.csv").write_text(
        "id,time,v\n" + "".join(f"{i},{t},{t * i}\n" for i in range(3) for t in range(9))
    )
    assert main(["predict", "GunPoint/fcn", str(tmp_path / "long.csv")]) == 1
    assert "series without targets read with --no-labels, else name" in capsys.readouterr().err


def test_a_refusal_suggests_a_command_the_cli_accepts(
    zoo, shared_data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: ranking only a checkpoint trained on the target suggested ``--allow-self-transfer True`` (then
    "unrecognized arguments: True") and ``--candidates[ids or folders]``."""
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    assert main(["recommend", "GunPoint", "--candidates", "GunPoint/fcn"]) == 1
    err = capsys.readouterr().err
    assert "--allow-self-transfer ranks them" in err and "--candidates ID [ID ...]." in err
    assert "True" not in err and "=" not in err
    assert main(["recommend", "GunPoint", "--candidates", "GunPoint/fcn", "--allow-self-transfer"]) == 0
    assert "GunPoint/fcn" in capsys.readouterr().out


def test_in_cli_terms_leaves_paths_urls_and_quoted_names_alone(capsys: pytest.CaptureFixture[str]) -> None:
    from tshub.cli import build_parser, in_cli_terms

    for said in ("/tmp/x/test_file.csv", "https://hub/api/models/a?revision=main&seed=3", "column 'label_column'",
                 "file /tmp/max_epochs/x.csv", "see test_file.csv"):  # fmt: skip
        assert in_cli_terms(said, build_parser()) == said
    assert main(["recommend", "/tmp/nowhere/test_file.csv"]) == 1
    assert "/tmp/nowhere/test_file.csv" in capsys.readouterr().err


def test_in_cli_terms_leaves_the_code_a_message_quotes_alone() -> None:
    """Regression: a long format table's refusal showed the pandas pivot that reads it, and the CLI said its
    ``index="series_id"`` as ``--index"series_id"`` (recommend has an --index flag): code the user cannot paste."""
    from tshub.cli import build_parser, in_cli_terms

    pivot = 'X = df.pivot(index="series_id", columns="time", values="value")'
    assert in_cli_terms(pivot, build_parser()) == pivot


def test_finetune_reads_a_long_format_table(zoo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [f"s{i},{t},{np.sin(t / 3 + i % 2):.4f},{'ab'[i % 2]}" for i in range(12) for t in range(24)]
    (tmp_path / "long.csv").write_text("series_id,time,value,label\n" + "\n".join(rows) + "\n")
    args = ["finetune", "GunPoint/fcn", str(tmp_path / "long.csv"), "--lr-multiplier", "1", "--max-epochs", "1"]
    assert main([*args, "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["splits"] == {
        "train": 10,
        "val": 2,
    }  # 12 series (20% stratified: 1 per class), not 288 rows


@pytest.mark.parametrize("days", ["0", "-1", "nan", "1e8", "soon"])
def test_a_token_lifetime_beyond_what_a_date_holds_is_a_usage_error(days, capsys):
    """Regression: ``tshub token create --expires-days 100000000`` ended in OverflowError (date value out of range)."""
    pytest.importorskip("server.cli")
    with pytest.raises(SystemExit):
        main(["token", "create", "--name", "x", "--expires-days", days])
    assert "argument --expires-days" in capsys.readouterr().err


def test_finetune_chooses_the_relative_target_and_stream_max_input_as_told(tmp_path, capsys):
    """--relative-target / --stream-max reach the fine-tune; by default a source's relative target is dropped for
    targets that do not follow their series' level (a magnitude read off noise bursts), saying so."""
    from tshub.data import Dataset
    from tshub.training import train_from_scratch

    rng = np.random.default_rng(0)
    walk = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (48, 31)), axis=1)).astype(np.float32)
    prices = Dataset.from_arrays(walk[:, None, :30], walk[:, 30], name="prices", task="regression")
    options = {"preprocessing": "minmax_mask", "relative_target": True, "use_stream_max": True, "max_epochs": 1}
    source = train_from_scratch("fcn", prices, arch_kwargs={"filters": (4, 8, 4)}, progress=False, **options).model
    assert source.use_stream_max
    folder = source.save_pretrained(tmp_path / "source")
    magnitude = rng.uniform(1, 3, 40)
    bursts = rng.normal(0, 1, (40, 30)) * 10 ** magnitude[:, None]
    data = tmp_path / "bursts.csv"
    data.write_text("".join(f"{m},{','.join(map(str, row))}\n" for m, row in zip(magnitude, bursts)))
    base = ["finetune", str(folder), str(data), "--task", "regression", "--lr-multiplier", "1", "--max-epochs", "1"]

    assert main([*base, "--no-stream-max", "--out", str(tmp_path / "a")]) == 0
    assert "do not follow their series' level" in capsys.readouterr().err
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert "relative_target" not in config["preprocessing"] and config["use_stream_max"] is False
    assert main([*base, "--relative-target", "--out", str(tmp_path / "b")]) == 0
    config = json.loads((tmp_path / "b" / "config.json").read_text())  # a relative target drops the raw level input
    assert config["preprocessing"]["relative_target"] is True and config["use_stream_max"] is False
    assert main([*base, "--relative-target", "--stream-max", "--out", str(tmp_path / "c")]) == 0
    assert json.loads((tmp_path / "c" / "config.json").read_text())["use_stream_max"] is True


def test_a_baseline_without_a_test_split_says_there_is_no_verdict_once(zoo, tmp_path, capsys):
    """Regression: on one file (no test split) "no test split, so no verdict" was printed twice, once per baseline."""
    rng = np.random.default_rng(0)
    rows = "".join(f"{i % 2}," + ",".join(f"{v:.4f}" for v in rng.normal(i % 2, 1, 30)) + "\n" for i in range(40))
    data = tmp_path / "mine.csv"
    data.write_text(rows)
    assert main(["finetune", "GunPoint/fcn", str(data), "--lr-multiplier", "1", "--max-epochs", "1", "--baseline"]) == 0
    assert capsys.readouterr().out.count("no test split, so no verdict") == 1


@pytest.fixture
def work_started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the command started: the fine-tune or the ranking (recorded, not run), so that a refusal can be shown to
    come before any work."""
    import importlib

    started: list[str] = []
    for module, name in (("tshub.training", "finetune"), ("tshub.recommender", "recommend")):  # what the CLI imports
        monkeypatch.setattr(importlib.import_module(module), name, lambda *a, name=name, **k: started.append(name))
    return started


def _labelled_csv(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = "".join(f"{i % 2}," + ",".join(f"{v:.4f}" for v in rng.normal(i % 2, 1, 16)) + "\n" for i in range(20))
    (folder / "labelled.csv").write_text(rows)
    return folder / "labelled.csv"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["finetune", "GunPoint/fcn", "Coffee", "--max-epochs", "0"], "argument --max-epochs: expected a whole number"),
        (["finetune", "GunPoint/fcn", "Coffee", "--max-epochs", "-2"], "argument --max-epochs: expected a whole num"),
        (["finetune", "GunPoint/fcn", "Coffee", "--time-budget", "-1"], "argument --time-budget: expected a number of"),
        (["finetune", "GunPoint/fcn", "Coffee", "--time-budget", "0"], "argument --time-budget: expected a number of"),
        (["finetune", "GunPoint/fcn", "Coffee", "--time-budget", "nan"], "argument --time-budget: expected a number"),
        (["finetune", "GunPoint/fcn", "Coffee", "--seed", "-1"], "argument --seed: expected a whole number >= 0"),
        (["finetune", "GunPoint/fcn", "Coffee", "--lr-multiplier", "0"], "argument --lr-multiplier: ω must be > 0"),
        (["finetune", "GunPoint/fcn", "Coffee", "--lr-multiplier", "1,0"], "argument --lr-multiplier: ω must be > 0"),
        (["recommend", "Coffee", "--time-limit", "-1"], "argument --time-limit: expected a number of seconds > 0"),
        (["recommend", "Coffee", "--time-limit", "0"], "argument --time-limit: expected a number of seconds > 0"),
        (["recommend", "Coffee", "--probe-epochs", "0"], "argument --probe-epochs: expected a whole number >= 1"),
        (["finetune", "GunPoint/fcn", "x.csv", "--val-fraction", "1.5"], "argument --val-fraction: expected a number"),
        (["finetune", "GunPoint/fcn", "x.csv", "--val-fraction", "nan"], "argument --val-fraction: expected a number"),
        (["finetune", "GunPoint/fcn", "x.csv", "--test-fraction", "1"], "argument --test-fraction: expected a number"),
        (["recommend", "Coffee", "-k", "0"], "argument -k: expected a whole number >= 1"),
        (["recommend", "Coffee", "-k", "-1"], "argument -k: expected a whole number >= 1"),
    ],
)
def test_numbers_that_make_no_sense_are_usage_errors_before_any_work(argv, said, work_started, capsys):
    """Regression: --max-epochs 0 and --time-budget -1 ended in a ValueError traceback after loading the model and
    the data; --time-budget 0, --seed -1 and ω = 0 (which the service refuses) trained; --time-limit -1 ranked until
    "took longer than -1 s"; --probe-epochs 0 skipped every candidate, each with the same ValueError; a fraction
    outside (0, 1) was refused in the library's terms (val_fraction) after reading the data, and so was -k 0."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and said in capsys.readouterr().err and not work_started


def test_a_warning_about_the_data_is_said_once_though_each_training_splits_it(zoo, tmp_path, capsys):
    """Regression: `tshub finetune` split the data, then the fine-tune and the baseline split it again, each
    warning from its own place, so a test class with no training series was warned about two or three times."""
    rows = "".join(f"{i % 2}," + ",".join(f"{(i * j) % 7 - 3}" for j in range(16)) + "\n" for i in range(20))
    (tmp_path / "train.csv").write_text(rows)
    (tmp_path / "test.csv").write_text(rows[: rows.index("\n") + 1] + "2," + ",".join("0" * 16) + "\n")
    argv = ["finetune", "GunPoint/fcn", str(tmp_path / "train.csv"), "--test-file", str(tmp_path / "test.csv")]
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # Python's own: each warning once per place it is attributed to
        assert main([*argv, "--lr-multiplier", "1", "--max-epochs", "1", "--baseline", "--threads", "1"]) == 0
    err = capsys.readouterr().err
    assert err.count("have no training series") == 1, err


def test_warnings_are_said_in_the_command_line_s_terms(tmp_path, capsys):
    """Regression: the command line showed Python's warnings as Python does, the path and line of tshub's code that
    warned and that line of code (``cli.py:942: UserWarning: ... rec = recommend(``), not as its errors are said."""
    from tshub.data.preprocess import make_preprocessor

    rng = np.random.default_rng(1)
    X = 1000 + rng.standard_normal((6, 2, 24)).astype(np.float32)
    np.savez(tmp_path / "levels.npz", X=X, y=np.array([0, 1] * 3))
    torch.manual_seed(0)
    model = build_model("fcn", 2, 2, filters=(4, 8, 4), use_stream_max=True)
    model.task, model.classes, model.preprocessor = "classification", ["0", "1"], make_preprocessor("minmax_mask")
    model.save_pretrained(tmp_path / "source")
    argv = ["finetune", str(tmp_path / "source"), str(tmp_path / "levels.npz"), "--lr-multiplier", "1"]
    assert main([*argv, "--max-epochs", "1", "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "tshub: warning: 'levels': the model takes stream_max" in err and "--no-stream-max" in err
    assert "UserWarning" not in err


def test_a_relative_target_for_classes_is_refused_before_training(zoo, tmp_path, work_started, capsys):
    """Regression: --relative-target on classification data ended in prepare_data's ValueError traceback."""
    argv = ["finetune", "GunPoint/fcn", str(_labelled_csv(tmp_path)), "--relative-target", "--max-epochs", "1"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("tshub: error: --relative-target") and "classification" in err
    assert err.count("\n") == 1 and not work_started


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no folder can be made")
def test_an_out_folder_that_cannot_be_made_is_refused_before_training(zoo, tmp_path, work_started, capsys):
    """Regression: `--out /proc/forbidden` trained, then failed to save with a FileNotFoundError traceback."""
    argv = ["finetune", "GunPoint/fcn", str(_labelled_csv(tmp_path)), "--max-epochs", "1", "--out", "/proc/forbidden"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("tshub: error: --out /proc/forbidden: cannot write in /proc") and err.count("\n") == 1
    assert not work_started


@pytest.mark.parametrize(
    ("plot", "said"),
    [
        ("nowhere/x.png", "--plot {tmp}/nowhere/x.png: the folder {tmp}/nowhere does not exist"),
        ("x.txt", "--plot {tmp}/x.txt: matplotlib writes no 'txt' files; use one of "),
        ("/proc/x.png", "--plot /proc/x.png: cannot write in /proc"),
    ],
)
def test_a_plot_path_that_cannot_be_written_is_refused_before_the_ranking(
    plot, said, zoo, tmp_path, monkeypatch, work_started, capsys
):
    """Regression: `--plot /nonexistent/dir/x.png` and `--plot x.txt` ranked every candidate, then ended in a
    FileNotFoundError or ValueError traceback, the ranking lost."""
    if plot.startswith("/proc") and not Path("/proc/self").is_dir():
        pytest.skip("needs Linux's /proc, where no file can be made")
    monkeypatch.chdir(tmp_path)
    assert main(["recommend", "GunPoint", "--candidates", "GunPoint/fcn", "--plot", plot]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tshub: error: {said.format(tmp=tmp_path)}") and err.count("\n") == 1
    assert "png" in err and not work_started


def test_a_missing_index_named_for_a_method_that_needs_it_is_an_error(zoo, tmp_path, work_started, capsys):
    """Regression: `--index /tmp/nope --method dtw` warned, ranked by LogME and exited 0; the user asked for both."""
    argv = ["recommend", "GunPoint", "--candidates", "GunPoint/fcn", "--method", "dtw", "--index", str(tmp_path / "n")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tshub: error: method 'dtw' needs the similarity index, and {tmp_path / 'n'} has none")
    assert "instead" not in err and err.count("\n") == 1 and not work_started


def _ucr_style_file(path: Path, X: np.ndarray, labels: list[str] | None) -> Path:
    """One series per line, tab-separated, the label first when there is one (the UCR layout)."""
    lines = ["\t".join(([labels[i]] if labels else []) + [f"{v:.5f}" for v in x]) for i, x in enumerate(X)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_predict_writes_a_row_per_series_and_scores_labelled_data(zoo, tmp_path: Path, capsys) -> None:
    import csv

    X = np.random.default_rng(0).standard_normal((12, 40)).cumsum(axis=1)
    labels = ["1", "2.0"] * 6  # "2.0" is the model's class "2": numbers compare by value
    path = _ucr_style_file(tmp_path / "new.tsv", X, labels)
    assert main(["predict", "GunPoint/fcn", str(path), "--proba"]) == 0
    out, err = capsys.readouterr()
    header, *rows = list(csv.reader(out.splitlines()))
    assert header == ["series", "prediction", "label", "p(1)", "p(2)"]
    expected = load_pretrained("GunPoint/fcn").predict(X[:, None, :].astype(np.float32))
    assert [row[1] for row in rows] == list(expected) and [row[2] for row in rows] == ["1", "2"] * 6
    assert all(abs(float(row[3]) + float(row[4]) - 1) < 1e-5 for row in rows)
    accuracy = np.mean(expected == np.array(["1", "2"] * 6))
    assert f"12 series of new predicted by GunPoint/fcn: Accuracy {accuracy:.4f}" in err
    assert main(["predict", "GunPoint/fcn", str(path), "--out", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").read_text().splitlines()[1:] == [",".join(row[:3]) for row in rows]
    assert main(["predict", "GunPoint/fcn", str(path), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["metrics"]["accuracy"] == pytest.approx(accuracy) and said["prediction"] == list(expected)


def test_predict_says_how_many_gaps_it_filled(zoo, tmp_path: Path, capsys) -> None:
    """Regression: ``--missing interpolate`` filled the file's gaps without saying how many (nor where to look)."""
    X = np.random.default_rng(3).standard_normal((4, 30))
    X[1, 5] = X[2, 7] = np.nan
    path = _ucr_style_file(tmp_path / "gaps.tsv", X, ["1", "2"] * 2)
    assert main(["predict", "GunPoint/fcn", str(path), "--missing", "interpolate"]) == 0
    assert "gaps: 2 missing values filled by linear interpolation" in capsys.readouterr().err


def test_predict_on_series_without_labels_asks_for_no_labels(zoo, tmp_path: Path, capsys) -> None:
    """Read as labelled by default (the first column), an unlabelled file's first values match no class: said, with
    the flag that reads it."""
    X = np.random.default_rng(1).standard_normal((5, 30))
    path = _ucr_style_file(tmp_path / "plain.tsv", X, None)
    assert main(["predict", "GunPoint/fcn", str(path)]) == 1
    assert (
        "is one of the model's classes (1, 2): if the data has no labels, pass --no-labels" in capsys.readouterr().err
    )
    assert main(["predict", "GunPoint/fcn", str(path), "--no-labels"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "series,prediction" and len(out.splitlines()) == 6
    assert "5 series of plain predicted by GunPoint/fcn (no labels to score)" in err


def test_predict_on_a_ts_file_that_declares_no_labels(zoo, tmp_path: Path, capsys) -> None:
    """Regression: a .ts of new series as aeon writes it (@targetlabel false) was refused by a classifier with "no
    class labels found ... but --task classification", a flag never given (the model's task, passed to the reader to
    type the labels); a regressor predicted it. The header says there are no labels: predicted, nothing scored."""
    rows = "".join(",".join(f"{v:.4f}" for v in x) + ":\n" for x in np.random.default_rng(2).standard_normal((3, 30)))
    path = tmp_path / "new.ts"
    path.write_text("@problemName new\n@univariate true\n@equalLength true\n@targetlabel false\n@data\n" + rows)
    assert main(["predict", "GunPoint/fcn", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "series,prediction" and len(out.splitlines()) == 4
    assert "3 series of new predicted by GunPoint/fcn (no labels to score)" in err


def test_predict_says_when_a_file_declares_targets_of_another_task_than_the_model_s(tmp_path: Path, capsys) -> None:
    """Regression: a regressor predicting a .ts whose header declares class labels (aeon's Covid3Month_disc) scored
    the classes 1, 2, 3 as numbers, an MAE over class codes, without a word."""
    torch.manual_seed(0)
    model = build_model("fcn", 1, 1, filters=(4, 8, 4))
    model.task, model.preprocessor = "regression", ZNormalize()
    model.save_pretrained(tmp_path / "regressor")
    rows = "\n".join(",".join(f"{v:.3f}" for v in x) + f":{k % 3 + 1}" for k, x in enumerate(np.eye(6, 20)))
    path = tmp_path / "disc.ts"
    path.write_text(f"@problemName disc\n@equalLength true\n@classLabel true 1 2 3\n@data\n{rows}\n")
    assert main(["predict", str(tmp_path / "regressor"), str(path)]) == 0
    err = capsys.readouterr().err
    assert "declares class labels, but" in err and "scored as its regression targets" in err and "MAE" in err


def test_predict_scores_a_label_the_model_does_not_know_beside_its_number_classes(tmp_path: Path, capsys) -> None:
    """Regression: a model of number labels (-1/1) scoring a file labelled 1/2 raised a TypeError from the weighted
    F1 (the unknown label 2, kept as text, could not be sorted with the model's ints) instead of counting it wrong."""
    torch.manual_seed(0)
    model = build_model("fcn", 1, 2, filters=(4, 8, 4))
    model.task, model.classes, model.class_values = "classification", ["-1", "1"], [-1, 1]
    model.preprocessor = ZNormalize()
    model.save_pretrained(tmp_path / "signs")
    X = np.random.default_rng(4).standard_normal((6, 30))
    path = _ucr_style_file(tmp_path / "other.tsv", X, ["1", "2"] * 3)
    assert main(["predict", str(tmp_path / "signs"), str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    said = json.loads(out)
    assert said["label"] == [1, "2"] * 3 and "labels the model does not know, counted as errors: 2" in err
    expected = np.mean(np.array(said["prediction"]) == np.array([1, 0] * 3))  # the 2s are never right
    assert said["metrics"]["accuracy"] == pytest.approx(expected)


def test_predict_scores_a_regression_on_a_long_table_of_three_channels(zoo, tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(2)
    X, targets = rng.standard_normal((4, 3, 64)), rng.standard_normal(4)
    rows = [
        f"{i},{t},{X[i, 0, t]:.6f},{X[i, 1, t]:.6f},{X[i, 2, t]:.6f},{targets[i]:.6f}"
        for i in range(4)
        for t in range(64)
    ]
    (tmp_path / "quakes.csv").write_text("event_id,time,e,n,z,target\n" + "\n".join(rows) + "\n")
    assert main(["predict", "LEN-DB/tcn", str(tmp_path / "quakes.csv"), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    predicted = load_pretrained("LEN-DB/tcn").predict(X.astype(np.float32))
    np.testing.assert_allclose(said["prediction"], predicted, rtol=1e-5)
    assert said["metrics"]["mae"] == pytest.approx(np.mean(np.abs(predicted - targets.round(6))), rel=1e-5)
    assert main(["predict", "LEN-DB/tcn", str(tmp_path / "quakes.csv"), "--proba"]) == 1
    assert "--proba gives class probabilities, but LEN-DB/tcn does regression" in capsys.readouterr().err


def test_predict_writes_each_prediction_against_the_id_the_table_names_its_series_by(zoo, tmp_path: Path, capsys):
    """Regression: predictions on a long table (or a wide one with an id column) were numbered 0, 1, ... in the order
    the ids first appear, leaving the user to map them back; they are written against the ids, under the id column's
    name."""
    rng = np.random.default_rng(5)
    ids = ["q7", "q2", "q9"]
    X = rng.standard_normal((3, 3, 64))
    rows = [f"{ids[i]},{t},{X[i, 0, t]:.6f},{X[i, 1, t]:.6f},{X[i, 2, t]:.6f}" for i in range(3) for t in range(64)]
    (tmp_path / "quakes.csv").write_text("event_id,time,e,n,z\n" + "\n".join(rows) + "\n")
    assert main(["predict", "LEN-DB/tcn", str(tmp_path / "quakes.csv"), "--no-labels"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    predicted = load_pretrained("LEN-DB/tcn").predict(X.astype(np.float32))
    assert [row["event_id"] for row in table] == ids
    np.testing.assert_allclose([float(row["prediction"]) for row in table], predicted, rtol=1e-5)
    series = rng.standard_normal((2, 30))
    header = "label,case_id," + ",".join(f"t{j}" for j in range(30))
    cases = [f"{label},{case}," + ",".join(f"{v:.5f}" for v in x) for label, case, x in zip((1, 2), (31, 8), series)]
    (tmp_path / "wide.csv").write_text("\n".join([header, *cases]) + "\n")
    assert main(["predict", "GunPoint/fcn", str(tmp_path / "wide.csv"), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["case_id"] == ["31", "8"] and "series" not in said and len(said["prediction"]) == 2


def test_predict_lines_a_long_table_s_channels_up_with_those_the_model_learned(tmp_path: Path, capsys) -> None:
    """Regression: a model fine-tuned on a long table of value columns e, n, z predicted a file whose columns came
    as z, e, n with its channels swapped (the checkpoint kept no channel names), and fine-tuned it so; a file of other
    channels passed."""
    from tshub.data.readers import read_file
    from tshub.training import train_from_scratch

    rng = np.random.default_rng(3)
    X, labels = rng.standard_normal((12, 3, 24)), ["a", "b"] * 6
    X[1::2, 2] += 2.0  # the classes differ on channel z only

    def table(columns: str) -> Path:
        rows = [
            f"s{i},{t}," + ",".join(f"{X[i, 'enz'.index(c), t]:.6f}" for c in columns) + f",{labels[i]}"
            for i in range(12)
            for t in range(24)
        ]
        path = tmp_path / f"{columns}.csv"
        path.write_text(f"id,time,{','.join(columns)},label\n" + "\n".join(rows) + "\n")
        return path

    trained = train_from_scratch(
        "fcn", read_file(table("enz")), max_epochs=1, arch_kwargs={"filters": (4, 8, 4)}, progress=False
    ).model
    assert trained.meta["channel_names"] == ["e", "n", "z"]
    trained.save_pretrained(tmp_path / "model")
    assert load_pretrained(tmp_path / "model").meta["channel_names"] == ["e", "n", "z"]
    assert "× any length; channels e, n, z" in (tmp_path / "model" / "README.md").read_text()  # the model card
    said = {}
    for columns in ("enz", "zen"):
        assert main(["predict", str(tmp_path / "model"), str(table(columns)), "--proba", "--json"]) == 0
        said[columns] = json.loads(capsys.readouterr().out)
    assert said["zen"]["p(a)"] == said["enz"]["p(a)"]
    again = trained.finetune(read_file(table("zen")), lr_multiplier=1.0, max_epochs=1, progress=False).model
    assert again.meta["channel_names"] == ["e", "n", "z"]  # the data lined up with the channels its parent learned
    other = table("enz").read_text().replace("id,time,e,n,z,label", "id,time,e,n,w,label")
    (tmp_path / "enw.csv").write_text(other)
    assert main(["predict", str(tmp_path / "model"), str(tmp_path / "enw.csv")]) == 1
    err = capsys.readouterr().err
    assert "channels e, n, w" in err and "learned on channels e, n, z" in err


def test_predict_equalises_ragged_series_as_the_model_s_training_series_were(tmp_path: Path, capsys) -> None:
    """Regression: a model trained on series of unequal lengths (``--variable-length pad``, as UEA's JapaneseVowels
    needs) kept no word of it: predicting on such a file was refused until the user guessed the option again, and
    ``tshub info`` did not say it."""
    from tshub.data.readers import read_file
    from tshub.training import train_from_scratch

    rng = np.random.default_rng(5)

    def ts_file(name: str, n: int) -> Path:
        lines = [
            ",".join(f"{v:.4f}" for v in rng.standard_normal(rng.integers(12, 20)) + k) + f":{'ab'[k]}"
            for k in (0, 1)
            for _ in range(n)
        ]
        path = tmp_path / name
        path.write_text("@problemName ragged\n@equalLength false\n@classLabel true a b\n@data\n" + "\n".join(lines))
        return path

    data = read_file(ts_file("train.ts", 8), variable_length="pad")
    model = train_from_scratch("fcn", data, max_epochs=1, arch_kwargs={"filters": (4, 8, 4)}, progress=False).model
    model.save_pretrained(tmp_path / "model")
    test = ts_file("test.ts", 4)
    assert main(["predict", str(tmp_path / "model"), str(test), "--json"]) == 0
    said, err = capsys.readouterr()
    said_lengths = [line for line in err.splitlines() if "padded to" in line]  # once, with why (was said twice)
    assert len(said_lengths) == 1 and said_lengths[0].startswith("ragged: series of ")
    assert "as the model's training series were (--variable-length pad;" in said_lengths[0]
    assert main(["predict", str(tmp_path / "model"), str(test), "--json", "--variable-length", "pad"]) == 0
    assert json.loads(said) == json.loads(capsys.readouterr().out)
    assert main(["info", str(tmp_path / "model")]) == 0
    lengths = data.meta["variable_length"]
    said = f"training series of {lengths['min_length']}-{lengths['max_length']} steps, padded to"
    assert said in capsys.readouterr().out and said in (tmp_path / "model" / "README.md").read_text()


def test_predict_with_a_multi_head_checkpoint_names_its_head(tmp_path: Path, capsys) -> None:
    convtimenet = Path(__file__).resolve().parents[1] / "zoo" / "UCR" / "convtimenet"
    if not (convtimenet / "config.json").is_file():
        pytest.skip(f"the repository's zoo has no UCR/convtimenet at {convtimenet}")
    path = _ucr_style_file(tmp_path / "x.tsv", np.random.default_rng(3).standard_normal((3, 50)), None)
    assert main(["predict", str(convtimenet), str(path), "--no-labels"]) == 1
    assert "has one head per source dataset (Adiac, " in capsys.readouterr().err
    assert main(["predict", str(convtimenet), str(path), "--no-labels", "--head", "GunPont"]) == 1
    assert "no head 'GunPont'; did you mean 'GunPoint'" in capsys.readouterr().err
    assert main(["predict", str(convtimenet), str(path), "--no-labels", "--head", "GunPoint"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_predict_on_a_catalogue_dataset_scores_its_test_split_unless_told_there_are_no_labels(
    zoo, shared_data: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    assert main(["predict", "GunPoint/fcn", "GunPoint"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 151 and "150 series of GunPoint [test] predicted by GunPoint/fcn: Accuracy" in err
    assert "trained on" not in err  # the official test split: none of its training series
    assert main(["predict", "GunPoint/fcn", "GunPoint", "--no-labels"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "series,prediction" and "(no labels to score)" in err


def test_predict_says_when_the_series_it_scores_are_the_model_s_own_training_series(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Regression: a train-only catalogue set (Wafer: no test split here) was scored whole, 80 % of it the series the
    checkpoint was trained on, and the figure read like a test score (0.93 where its card's test accuracy is 0.65
    on UWaveGestureLibraryY); the training fingerprint says so now."""
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    monkeypatch.setenv("TSHUB_REPO_ZOO", str(Path(__file__).resolve().parents[1] / "zoo"))
    assert main(["predict", "Wafer/fcn", "Wafer", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "of the series scored are among the series Wafer/fcn was trained on: these are no test scores" in err
    assert "are among the series Wafer/fcn was trained on" in json.loads(out)["note"]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["demo", "--target", "Coffee", "--source", "GunPoint/fcn", "--arch", "tcn"], "--arch chooses among"),
        (["predict", "GunPoint/fcn", "Coffee", "--label-column", "5"], "--label-column read a data file"),
        (["finetune", "GunPoint/fcn", "Coffee", "--delimiter", ";", "--header"], "--delimiter, --header/--no-header"),
    ],
)
def test_options_a_command_would_ignore_are_refused(zoo, shared_data, argv: list[str], said: str, capsys) -> None:
    """Regression: `demo --source X --arch tcn` trained X's architecture, and reader options given with a catalogue
    name (read as the catalogue reads it) were ignored, each exiting 0 as if they had been applied."""
    assert main(argv) == 1
    assert said in capsys.readouterr().err


@pytest.mark.parametrize("command", ["finetune", "predict", "demo"])
def test_threads_sets_the_torch_threads_a_training_command_runs_with(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a machine where other work holds cores, one torch thread per core stalls at every barrier
    (bench/results/train_threads.md): --threads gives the command fewer."""
    from tshub import cli

    seen = []
    monkeypatch.setattr(cli, f"_run_{command}", lambda args: seen.append(torch.get_num_threads()) or 0)
    before = torch.get_num_threads()
    operands = {"finetune": ["Coffee/fcn", "Coffee"], "predict": ["Coffee/fcn", "Coffee"], "demo": []}[command]
    try:
        assert main([command, *operands, "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(before)
    assert seen == [1]
    with pytest.raises(SystemExit):
        main([command, *operands, "--threads", "0"])
    assert "--threads: expected a whole number >= 1, got '0'" in capsys.readouterr().err


def _info_fields(out: str) -> dict[str, str]:
    """`tshub info`'s rows as field → value, a value's continuation lines joined."""
    lines = out.splitlines()
    width = len(lines[1].split()[0])  # the dashes under the field column
    fields: dict[str, str] = {}
    for line in lines[2:]:
        if line[:width].strip():
            field = line[:width].strip()
            fields[field] = line[width:].strip()
        else:
            fields[field] += " " + line.strip()
    return fields


def test_info_shows_a_regression_s_naive_forecasts_and_whether_it_beats_each_as_its_card_says(
    tmp_path: Path, capsys
) -> None:
    """Regression: a regression checkpoint's naive forecasts (``meta["naive"]``) were on its model card only:
    `tshub info` gave its MAE beside nothing, so a user could not see what the model must beat."""
    torch.manual_seed(0)
    model = build_model("fcn", 1, 1, filters=(4, 4, 4), kernel_sizes=(3, 3, 3))
    model.task, model.preprocessor = "regression", ZNormalize()
    scores = {"mae": 2.0, "mse": 5.0}
    model.meta = {
        "metrics": {"mae": 0.5, "mse": 0.4},
        "naive": {
            "training_mean": {"value": 3.0, "metrics": scores, "val_metrics": scores},
            "persistence": {"metrics": {"mae": 0.25, "mse": 0.1}, "val_metrics": {"mae": 0.3, "mse": 0.12}},
        },
    }
    folder = model.save_pretrained(tmp_path / "forecaster")
    assert main(["info", str(folder)]) == 0
    fields = _info_fields(capsys.readouterr().out)
    assert fields["naive (test)"] == "training mean: MAE 2.0000, MSE 5.0000; persistence: MAE 0.2500, MSE 0.1000"
    beats = (
        "This model beats the training mean forecast (the training split's mean target, the same forecast for every "
        "series): MAE 0.5 vs 2 on the test split."
    )
    loses = (
        "This model does NOT beat the persistence forecast (each series' last value, the naive forecast of the "
        "values that follow it): MAE 0.5 vs 0.25 on the test split."
    )
    assert fields["vs naive"] == f"{beats} {loses}"
    card = (folder / "README.md").read_text()
    assert beats in card and loses in card  # one wording, the card's
    model.meta = {"metrics": {"accuracy": 0.9}}
    model.task, model.classes = "classification", ["a"]
    assert main(["info", str(model.save_pretrained(tmp_path / "classifier"))]) == 0
    assert "naive" not in capsys.readouterr().out  # a classifier has no naive forecast


def test_a_regression_that_beats_the_mean_by_mae_but_not_by_mse_is_said_so_where_list_flags_it(
    tmp_path: Path, capsys
) -> None:
    """Regression: a forecaster whose test MAE beat the training mean's but whose MSE (the loss it minimises) did
    not was flagged by `tshub list` ("!": learned nothing, not offered as a source) while its card and `tshub info`
    said only "This model beats the training mean forecast"."""
    torch.manual_seed(0)
    model = build_model("fcn", 1, 1, filters=(4, 4, 4), kernel_sizes=(3, 3, 3))
    model.task, model.preprocessor = "regression", ZNormalize()
    mean = {"mae": 2.0, "mse": 5.0}
    naive = {"training_mean": {"metrics": mean, "val_metrics": mean}}
    model.meta = {"metrics": {"mae": 1.0, "mse": 6.0}, "naive": naive, "stop_reason": "early_stopping"}
    folder = model.save_pretrained(tmp_path / "forecaster")
    said = (
        "This model beats the training mean forecast (the training split's mean target, the same forecast for every "
        "series): MAE 1 vs 2 on the test split; by MSE, the loss it minimises, it does NOT beat it (6 vs 5)."
    )
    assert said in (folder / "README.md").read_text()
    assert main(["info", str(folder)]) == 0
    fields = _info_fields(capsys.readouterr().out)
    assert fields["vs naive"] == said and "not offered as a source: its test MSE 6 is no lower" in fields["training"]


def test_predict_writes_one_column_per_output_of_a_multi_output_regression(tmp_path: Path, capsys) -> None:
    """Regression: a multi-output regression's predictions and labels were written as one quoted Python list per
    cell ("[5.24, 4.08, 5.83]"), which a spreadsheet or pandas cannot use; --json keeps the lists."""
    from tshub import Dataset, train_from_scratch

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 1, 16)).cumsum(axis=2).astype(np.float32)
    y = np.stack([X[:, 0, -1] + 1, X[:, 0, -1] - 1], axis=1).astype(np.float64)
    data = Dataset.from_arrays(
        X, y, name="two", task="regression", splits={"train": np.arange(30), "test": np.arange(30, 40)}
    )
    folder = train_from_scratch(
        "fcn", data, max_epochs=1, progress=False, arch_kwargs={"filters": (4, 4, 4)}
    ).model.save_pretrained(tmp_path / "m")
    np.savez(tmp_path / "two.npz", X=X[30:], y=y[30:])
    assert main(["predict", str(folder), str(tmp_path / "two.npz")]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["series", "prediction[0]", "prediction[1]", "label[0]", "label[1]"] and len(rows) == 11
    assert [float(v) for v in rows[1][3:]] == pytest.approx(y[30].tolist())
    assert main(["predict", str(folder), str(tmp_path / "two.npz"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["prediction"][0]) == 2


def test_predict_scores_a_regression_s_naive_forecasts_on_the_same_series(tmp_path: Path, capsys) -> None:
    """Regression: `tshub predict` scored a forecaster on labelled series with its MAE alone; the naive forecasts
    it must beat (the training mean, persistence) were not scored on those series."""
    from tshub import Dataset, train_from_scratch

    rng = np.random.default_rng(0)
    walk = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (70, 25)), axis=1)).astype(np.float32)
    X, y = walk[:, None, :24], walk[:, 24].astype(np.float64)
    splits = {"train": np.arange(40), "val": np.arange(40, 50), "test": np.arange(50, 60)}
    data = Dataset.from_arrays(X[:60], y[:60], name="walk", task="regression", splits=splits)
    options = {"max_epochs": 1, "progress": False, "arch_kwargs": {"filters": (4, 4, 4), "kernel_sizes": (3, 3, 3)}}
    folder = train_from_scratch("fcn", data, **options).model.save_pretrained(tmp_path / "walk")
    new = _ucr_style_file(tmp_path / "new.tsv", walk[60:, :24], [f"{v:.5f}" for v in walk[60:, 24]])
    X_new, y_new = walk[60:, None, :24].round(5), walk[60:, 24].round(5).astype(np.float64)
    mean_mae = np.mean(np.abs(y_new - y[:40].mean()))
    persistence_mae = np.mean(np.abs(y_new - X_new[:, 0, -1]))
    assert main(["predict", str(folder), str(new), "--task", "regression", "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["naive"]["training_mean"]["mae"] == pytest.approx(mean_mae, rel=1e-4)
    assert said["naive"]["persistence"]["mae"] == pytest.approx(persistence_mae, rel=1e-4)
    assert main(["predict", str(folder), str(new), "--task", "regression"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 11  # the table alone: scores go to standard error
    assert f"naive forecast on the same series, persistence: MAE {persistence_mae:.4f}" in err
    assert f"naive forecast on the same series, training mean: MAE {mean_mae:.4f}" in err
    assert (
        "the persistence forecast (each series' last value, the naive forecast of the values that follow it): MAE "
        in err
    )
    assert "on the 10 series of new." in err


def test_predict_refuses_targets_of_another_width_than_the_model_predicts(tmp_path: Path, capsys) -> None:
    """Regression: a regressor of 3 outputs scoring a file of one target per series (or the reverse) ended in a
    traceback, "ValueError: targets (6,) and predictions (6, 3) do not match"."""
    torch.manual_seed(0)
    model = build_model("fcn", 1, 3, filters=(4, 8, 4))
    model.task, model.preprocessor = "regression", ZNormalize()
    model.save_pretrained(tmp_path / "three")
    X, rng = np.random.default_rng(0).standard_normal((6, 20)), np.random.default_rng(1)
    np.savez(tmp_path / "one.npz", X=X, y=rng.standard_normal(6))
    assert main(["predict", str(tmp_path / "three"), str(tmp_path / "one.npz")]) == 1
    said = capsys.readouterr().err
    assert "the data has 1 target per series, but" in said and "predicts 3: pass --no-labels" in said
    assert "Traceback" not in said
    np.savez(tmp_path / "three.npz", X=X, y=rng.standard_normal((6, 3)))
    assert main(["predict", str(tmp_path / "three"), str(tmp_path / "three.npz"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["prediction"][0]) == 3


def test_the_command_line_takes_the_delimiter_and_header_its_messages_name(zoo, tmp_path, capsys):
    """Regression: a '|'-separated file was told to pass delimiter='|', which no flag took; and a header of numbers
    could not be declared. --delimiter and --header/--no-header now reach the reader, and the message names them."""
    rng = np.random.default_rng(0)
    rows = [f"{label}|" + "|".join(f"{v:.3f}" for v in rng.normal(size=150)) for label in (1, 2) * 10]
    piped = tmp_path / "piped.csv"
    piped.write_text("\n".join(rows) + "\n")
    assert main(["predict", str(zoo / "GunPoint" / "fcn"), str(piped)]) == 1
    assert "pass --delimiter '|' for a .csv" in capsys.readouterr().err
    assert main(["predict", str(zoo / "GunPoint" / "fcn"), str(piped), "--delimiter", "|"]) == 0
    numbered = tmp_path / "numbered.csv"
    numbered.write_text(
        ",".join(str(400 + t) for t in range(151)) + "\n" + "\n".join(r.replace("|", ",") for r in rows) + "\n"
    )
    assert main(["predict", str(zoo / "GunPoint" / "fcn"), str(numbered), "--header"]) == 0
    assert "20 series of numbered predicted" in capsys.readouterr().err


def test_a_reader_flag_the_files_format_does_not_take_is_said_in_one_line(zoo, tmp_path, capsys):
    """Regression: --delimiter with a .ts file ended in a TypeError's traceback."""
    ts = tmp_path / "x.ts"
    ts.write_text(
        "@problemName p\n@univariate true\n@equalLength true\n@classLabel true 1 2\n@data\n1,2,3,4:1\n2,3,4,5:2\n"
    )
    assert main(["predict", str(zoo / "GunPoint" / "fcn"), str(ts), "--delimiter", ";"]) == 1
    assert "option(s) ['delimiter'] do not apply to ts files" in capsys.readouterr().err


def test_predict_writes_its_out_file_with_json_too_and_refuses_a_folder_before_predicting(zoo, tmp_path, capsys):
    """Regression: --json with --out printed the JSON and never wrote the file (exit 0); --out naming an existing
    folder raised IsADirectoryError after the model had predicted."""
    X = np.random.default_rng(0).standard_normal((6, 40)).cumsum(axis=1)
    path = _ucr_style_file(tmp_path / "new.tsv", X, ["1", "2"] * 3)
    out = tmp_path / "p.csv"
    assert main(["predict", "GunPoint/fcn", str(path), "--json", "--out", str(out)]) == 0
    said = json.loads(capsys.readouterr().out)
    assert [row.split(",")[1] for row in out.read_text().splitlines()[1:]] == said["prediction"]
    (tmp_path / "folder").mkdir()
    assert main(["predict", "GunPoint/fcn", str(path), "--out", str(tmp_path / "folder")]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_finetune_refuses_to_save_over_the_checkpoint_it_starts_from(zoo, tmp_path, capsys):
    """Regression: --out naming the source folder replaced the pretrained source with the fine-tune, silently."""
    source = tmp_path / "source"
    shutil.copytree(zoo / "GunPoint" / "fcn", source)
    before = (source / "model.safetensors").read_bytes()
    assert (
        main(["finetune", str(source), "Coffee", "--max-epochs", "1", "--lr-multiplier", "1", "--out", str(source)])
        == 1
    )
    assert "the checkpoint it fine-tunes" in capsys.readouterr().err
    assert (source / "model.safetensors").read_bytes() == before


def test_finetune_with_out_resolves_its_source_once(zoo, tmp_path, monkeypatch, shared_data):
    """Regression: checking that --out is not the source resolved the source a second time (a Hub id: a second
    request to the Hub, whose branch may have moved since the load)."""
    from tshub.hub import resolution

    asked: list[str] = []
    original = resolution.resolve

    def counting(name, *args, **kwargs):
        asked.append(str(name))
        return original(name, *args, **kwargs)

    monkeypatch.setattr(resolution, "resolve", counting)
    out = tmp_path / "tuned"
    assert (
        main(["finetune", "GunPoint/fcn", "Coffee", "--max-epochs", "1", "--lr-multiplier", "1", "--out", str(out)])
        == 0
    )
    assert asked == ["GunPoint/fcn"]
    assert read_config(out)["parent"] == "GunPoint/fcn"


def test_a_message_is_said_in_the_running_commands_flags_only(zoo, tmp_path, capsys):
    """Regression: messages were translated with every command's flags, so `tshub recommend` told the user to pass
    --split-order random, which only finetune takes (recommend refused it)."""
    series = np.cumsum(np.random.default_rng(0).normal(size=400))
    windows = np.stack([series[i : i + 31] for i in range(0, 360, 2)])
    path = tmp_path / "win.csv"
    path.write_text("\n".join(",".join(f"{v:.6f}" for v in [w[-1], *w[:-1]]) for w in windows) + "\n")
    assert main(["recommend", str(path), "--candidates", "LEN-DB/tcn", "--method", "probe", "--probe-epochs", "1"]) == 0
    err = capsys.readouterr().err
    assert "split_order='random'" in err and "--split-order" not in err


def test_stream_max_for_a_source_whose_preprocessing_gives_none_is_refused_in_one_line(zoo, capsys):
    """Regression: --stream-max with a UCR FCN (z-normalised, no raw maximum) ended in a ValueError traceback naming
    preprocessing=, which the command line does not take."""
    argv = ["finetune", "GunPoint/fcn", "Coffee", "--stream-max", "--max-epochs", "1", "--lr-multiplier", "1"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "--stream-max" in err and "'znorm'" in err and "Traceback" not in err
