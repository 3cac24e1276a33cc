"""The main job (`tshub demo`): a source fine-tuned on a target beside its from-scratch referent."""

from __future__ import annotations

import pytest

import tshub
from tshub.data import DatasetError
from tshub.demo import format_table, load_target, run_demo


def test_demo_fine_tunes_a_source_and_trains_the_referent(shared_data, tmp_path, capsys):
    source = tshub.train_from_scratch(
        "fcn", tshub.datasets.load("Coffee"), max_epochs=2, progress=False, arch_kwargs={"filters": [8, 8, 8]}
    )
    folder = source.model.save_pretrained(tmp_path / "coffee-fcn")
    rows = run_demo("GunPoint", str(folder), seeds=(0,), lr_multipliers=(1.0,), max_epochs=2)
    assert [row.method for row in rows] == [f"fine-tuned from {folder}", "from scratch"]
    assert rows[0].result.transfer_report.copied and rows[1].result.transfer_report is None
    out = capsys.readouterr().out
    assert format_table(rows) in out and "test accuracy" in out
    tuned, scratch = (row.result.metrics["accuracy"] for row in rows)
    happened = f"what happened: fine-tuned {tuned:.4f} vs from scratch {scratch:.4f} (test accuracy, mean of 1 seed)"
    assert "advice said: fine-tuning" in out and happened in out  # what the advice said, then what happened
    assert "against MiniRocket's reference 0.9933" in out
    rocket = next(line for line in out.splitlines() if line.startswith("MiniRocket (tshub.baselines, seed 0,"))
    # regression: it said "on the same training and test splits", but the networks train on what validation leaves
    assert "fitted on all 50 training series" in rocket and "tested on the same test split: test accuracy 0.9" in rocket


def test_a_named_source_trained_on_the_target_s_own_data_is_said_to_be_no_transfer(shared_data, tmp_path, capsys):
    """Regression: `tshub demo --target Coffee --source Coffee/fcn` fine-tuned a source trained on Coffee's own
    training series and reported "fine-tuning won" against scratch, never saying that nothing was transferred."""
    from tshub.demo import source_advice

    coffee = tshub.datasets.load("Coffee")
    own = tshub.train_from_scratch("fcn", coffee, max_epochs=1, progress=False, arch_kwargs={"filters": [8, 8, 8]})
    folder = own.model.save_pretrained(tmp_path / "coffee-fcn")
    source_advice(coffee, str(folder))
    out = " ".join(capsys.readouterr().out.split())
    assert f"note: {folder} was trained on the target's own data (" in out and "no transfer" in out


def test_demo_target_falls_back_to_the_trace_set_shipped_with_tslearn(monkeypatch, tmp_path):
    pytest.importorskip("tslearn")
    monkeypatch.setenv("TSHUB_DATA", str(tmp_path))  # a data root without the archive
    data = load_target("GunPoint")
    assert data.name == "Trace" and data.X.shape == (200, 1, 275) and len(data.classes) == 4
    assert len(data.splits["train"]) == 100 and len(data.splits["test"]) == 100


def test_a_target_missing_from_a_catalogue_that_has_data_is_an_error_not_trace(shared_data, monkeypatch):
    """Regression: --target BasicMotions (not in the UCR 2018 archive) silently ran the demo on Trace; the fallback
    is for a machine without the archive, not for a name the archive does not hold."""
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    with pytest.raises(DatasetError, match="no dataset named 'BasicMotions'"):
        load_target("BasicMotions")


def test_a_target_without_a_test_split_is_refused_before_anything_trains(shared_data, monkeypatch):
    """Regression: --target Symbols (a training file only in this archive) ranked the sources, fine-tuned and trained
    from scratch, then failed with a traceback (KeyError: 'accuracy'): the demo compares its runs on test."""
    if not (shared_data / "UCRArchive_2018_trainonly" / "Symbols_TRAIN.tsv.gz").is_file():
        pytest.skip("the train-only UCR folder (Symbols) is not in the data folder")
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    with pytest.raises(DatasetError, match="'Symbols' has no test split.*e.g. GunPoint"):
        load_target("Symbols")


def test_what_happened_counts_minirocket_within_its_table_rounding_as_a_tie():
    """The demo said fine-tuned 0.9933 "won" against MiniRocket's 0.9933 (149/150 = 0.99333 against a table
    rounded to 4 decimals): the evidence already counted that a tie (``advice_rules.beats``), the demo did not."""
    from types import SimpleNamespace

    from tshub.demo import advice_outcome
    from tshub.recommender.advice import TransferAdvice, Verdict

    advice = TransferAdvice(
        "GunPointAgeSpan/fcn",
        Verdict("scratch", "no", 0.43, "..."),
        Verdict("minirocket", "no", 0.14, "...", reference_accuracy=0.9933),  # GunPoint's row of the table
    )

    def row(method: str, accuracy: float) -> SimpleNamespace:
        return SimpleNamespace(
            method=method, result=SimpleNamespace(task="classification", metrics={"accuracy": accuracy})
        )

    text = advice_outcome(advice, [row("fine-tuned", 149 / 150), row("from scratch", 148 / 150)])
    assert "fine-tuning won; against MiniRocket's reference 0.9933 it tied (within the table's rounding)" in text
    text = advice_outcome(advice, [row("fine-tuned", 148 / 150), row("from scratch", 148 / 150)])
    assert "fine-tuning tied; against MiniRocket's reference 0.9933 it did not win" in text


def test_the_minirocket_line_counts_a_gap_within_the_table_rounding_as_a_tie(shared_data):
    """The demo's MiniRocket line said "won" for 3e-5 above MiniRocket, where its advice line said "tied"."""
    from types import SimpleNamespace

    from tshub.baselines import minirocket
    from tshub.demo import minirocket_line

    data = tshub.datasets.load("GunPoint", root=shared_data)
    accuracy = minirocket(data, seed=0).metrics["accuracy"]
    model = SimpleNamespace(meta={"splits": {"train": 40, "val": 10}})
    tuned = SimpleNamespace(metrics={"accuracy": accuracy + 3e-5}, model=model)
    line = minirocket_line(data, [SimpleNamespace(method="fine-tuned", result=tuned)], seed=0)
    assert line.endswith("fine-tuning tied (within the table's rounding) against it")
    assert (
        "(it selects nothing on a validation split; the networks selected theirs on 10 validation series carved "
        in line
    )


def test_the_minirocket_line_of_a_regression_target_compares_mae():
    """Regression: `tshub demo --target SEISMIC-CX` (a regression) trained everything, fitted MiniRocket, then failed
    with a traceback (KeyError: 'accuracy'); it compares test MAE, where lower is better."""
    from types import SimpleNamespace

    import numpy as np

    from tshub.demo import minirocket_line

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 1, 50)).astype(np.float32)
    splits = {"train": np.arange(30), "test": np.arange(30, 40)}
    data = tshub.Dataset.from_arrays(X, X.mean(axis=(1, 2)) * 10, name="levels", task="regression", splits=splits)
    model = SimpleNamespace(meta={"splits": {"train": 24, "val": 6, "test": 10}})
    rows = [SimpleNamespace(method="fine-tuned", result=SimpleNamespace(metrics={"mae": 1e6}, model=model))]
    line = minirocket_line(data, rows, seed=0)
    assert "fitted on all 30 training series" in line and "the same test split: test mae " in line
    assert line.endswith("fine-tuning did not win against it")


def test_a_line_break_in_a_cell_keeps_the_table_s_columns():
    from tshub.tables import format_table as plain_table

    text = plain_table([["a\nb", "x"], ["c", "y"]], ["h1", "h2"])
    assert text.splitlines() == ["h1   h2", "---  --", "a b  x", "c    y"]


@pytest.mark.parametrize("own_validation", [True, False])
def test_the_minirocket_line_says_where_the_networks_chose_their_weights(own_validation: bool) -> None:
    """Regression: the line said the networks carved their validation split from the training series whatever they
    did: a target with its own validation split (EMG) or one series per class (selected on the training series)."""
    from types import SimpleNamespace

    import numpy as np

    from tshub.demo import minirocket_line

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 1, 30)).astype(np.float32)
    splits = {"train": np.arange(24), "val": np.arange(24, 30), "test": np.arange(30, 40)}
    if not own_validation:
        del splits["val"]
    data = tshub.Dataset.from_arrays(X, np.arange(40) % 2, name="own", splits=splits)
    meta = {"splits": {"train": 24, "val": 6, "test": 10}} if own_validation else {"validation_is_train": True}
    tuned = SimpleNamespace(metrics={"accuracy": 0.5}, model=SimpleNamespace(meta=meta))
    line = minirocket_line(data, [SimpleNamespace(method="fine-tuned", result=tuned)], seed=0)
    said = (
        "the networks selected theirs on the dataset's own 6 validation series"
        if own_validation
        else "the networks selected their weights on these same training series, having none to hold out"
    )
    assert said in line and "carved" not in line
