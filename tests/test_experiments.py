"""The grid runner end to end on real UCR data: a Coffee/FCN source trained on the fly, fine-tuned on GunPoint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tshub.data import Dataset
from tshub.data.fingerprint import dataset_sha256
from tshub.experiments import (
    ExperimentGrid,
    instance_comparisons,
    left_out_pairs,
    load_predictions,
    load_records,
    plan_runs,
    records,
    run,
    runner,
)
from tshub.experiments.__main__ import main
from tshub.experiments.runner import SourceCheckpoint
from tshub.hub import load_pretrained, read_config
from tshub.stats import comparison_table
from tshub.training import TrainConfig

# one batch per epoch: the runner is under test here, not the training recipe
FAST = TrainConfig(batch_size=64, batch_fraction=None, drop_last=False)


def _grid(**changes) -> ExperimentGrid:
    grid = ExperimentGrid(
        sources=[("Coffee", "fcn")],
        targets=["GunPoint"],
        lr_multipliers=[1.0],
        seeds=[0],
        reduce_train=10,
        max_epochs=2,
        recipe=FAST,
    )
    return replace(grid, **changes)


@pytest.fixture(scope="module")
def finished(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """One grid run: the source training, the GunPoint referent and one fine-tune (about 5 s on one core)."""
    out = tmp_path_factory.mktemp("grid")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TSHUB_DATA", str(shared_data))
        mp.setenv("HF_HUB_OFFLINE", "1")
        records = run(_grid(), out_dir=out, progress=False)
    return out, records


def test_records_of_every_run(finished):
    out, records = finished
    assert [r["kind"] for r in records] == ["referent", "finetune"]
    referent, tuned = records
    assert tuned["referent_id"] == referent["run_id"]
    assert (tuned["source"], tuned["target"], tuned["arch"], tuned["seed"], tuned["lr_multiplier"]) == (
        "Coffee/fcn",
        "GunPoint",
        "fcn",
        0,
        1.0,
    )
    for record in records:
        assert record["task"] == "classification" and record["epochs"] == 2 and record["reduce_train"] == 10
        assert set(record["metrics"]) == {"accuracy", "f1_weighted"}
        assert 0 <= record["metrics"]["accuracy"] <= 1 and record["val_loss"] > 0
        assert json.loads((out / "runs" / f"{record['run_id']}.json").read_text()) == record
        y_true, y_pred = load_predictions(out, record)
        assert len(y_true) == len(y_pred) == 150  # the complete GunPoint test split
        assert np.mean(y_true == y_pred) == pytest.approx(record["metrics"]["accuracy"])
    assert tuned["fit"]["transfer_report"]["copied"]  # the backbone really came from the source
    assert not list(out.rglob(".*tmp"))  # atomic writes leave no temporary files


def test_source_trained_on_the_fly_is_a_checkpoint(finished):
    out, _ = finished
    (source,) = [r for r in load_records(out) if r["kind"] == "source"]
    with pytest.raises(ValueError, match="a source's training keeps no predictions"):  # it blamed a missing test split
        load_predictions(out, source)
    model = load_pretrained(source["checkpoint"])
    assert model.arch == "fcn" and model.meta["id"] == "Coffee/fcn"
    assert model.meta["source_dataset"] == "Coffee" and Path(source["checkpoint"]).parent == out / "sources"


def test_second_run_skips_finished_runs(finished, shared_data, monkeypatch):
    out, records = finished
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    calls = []

    def counting(spec, dataset, out_dir):
        calls.append(spec.kind)
        return real(spec, dataset, out_dir)

    real = runner.execute_run
    monkeypatch.setattr(runner, "execute_run", counting)
    assert run(_grid(), out_dir=out, progress=False) == records
    assert calls == []
    copy = out.parent / "partial"
    shutil.copytree(out, copy)
    (copy / "runs" / f"{records[1]['run_id']}.json").unlink()  # as if interrupted during the fine-tune
    resumed = run(_grid(), out_dir=copy, progress=False)
    assert calls == ["finetune"]
    assert resumed[0] == records[0] and resumed[1]["run_id"] == records[1]["run_id"]


def test_a_run_killed_midway_resumes_from_its_training_state(finished, shared_data, monkeypatch):
    """A fine-tune killed after its third epoch (a machine gone) resumes from the state it saved, not from the start,
    and its record is the one a run never interrupted writes; its state folder goes with the record."""
    out, records = finished
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    grid = _grid(max_epochs=5)
    expected = run(grid, out_dir=out.parent / "uninterrupted", progress=False)
    real, epochs = runner.finetune, []

    def killed_at_epoch_4(*args, **kwargs):
        def hook(record):
            if record.get("restored"):  # an epoch of the saved state, told first
                return
            epochs.append(record["epoch"])
            if record["epoch"] == 4 and epochs.count(4) == 1:
                raise KeyboardInterrupt

        return real(*args, **kwargs, on_epoch_end=hook)

    monkeypatch.setattr(runner, "finetune", killed_at_epoch_4)
    copy = out.parent / "killed"
    with pytest.raises(KeyboardInterrupt):
        run(grid, out_dir=copy, progress=False)
    states = copy / "states"
    assert [p.name for p in (states / expected[1]["run_id"]).iterdir()] == ["omega-1.safetensors"]
    assert (states / ".gitignore").read_text().splitlines()[-1] == "*"
    resumed = run(grid, out_dir=copy, progress=False)
    assert epochs == [1, 2, 3, 4, 4, 5]  # epochs 1-3 came back from the state
    for kept, new in zip(expected, resumed, strict=True):
        same = ("metrics", "val_metrics", "epochs", "best_epoch", "stop_reason")
        assert {k: new[k] for k in same} == {k: kept[k] for k in same}
    assert sorted(p.name for p in states.iterdir()) == [".gitignore", "grid.lock"]  # no run's state is left


def _fake_record(spec) -> dict:
    """A record as a run writes it, without training (the runner is under test, not the run)."""
    fields = {"task": "classification", "metrics": {}, "val_metrics": {}, "epochs": 0, "elapsed_s": 0.0}
    return {"run_id": spec.run_id, "kind": spec.kind, **fields}


def test_a_second_grid_on_the_same_folder_stops_instead_of_running_every_run_twice(finished, shared_data, monkeypatch):
    """Regression: two grids on one output folder each trained every unfinished run (both read the same missing
    records), and the first to finish a run removed the training state the other was still writing."""
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    folder = next((finished[0] / "sources").iterdir())
    grid = _grid(sources=[str(folder)], seeds=[0, 1])
    started, second = [], []

    def work(spec, dataset, out_dir):
        started.append(spec.run_id)
        if len(started) == 1:  # while the first grid's first run trains, the same grid starts again on the folder
            try:
                run(grid, out_dir=out_dir, progress=False)
            except Exception as err:
                second.append(err)
        record = _fake_record(spec)
        records.write_record(out_dir, record)
        return record

    monkeypatch.setattr(runner, "execute_run", work)
    out = finished[0].parent / "twice"
    assert len(run(grid, out_dir=out, progress=False)) == 4
    assert len(started) == len(set(started)) == 4  # every run once
    (err,) = second
    assert isinstance(err, records.OutDirInUseError)
    assert f"another grid is running runs in {out} (pid {os.getpid()} on " in str(err)
    assert "Wait for it to finish and run this grid again" in str(err)
    records.OutDirLock(out).acquire()  # the first grid let go of the folder (the lock is this test's own)
    again = run(grid, out_dir=out, progress=False)  # reading a finished grid's records needs no lock
    assert sorted(r["run_id"] for r in again) == sorted(r["run_id"] for r in load_records(out)) == sorted(started)
    assert (out / "states" / "grid.lock").is_file() and "*" in (out / "states" / ".gitignore").read_text()


def test_a_source_that_fails_to_train_leaves_the_rest_of_the_grid_running(finished, shared_data, monkeypatch):
    """Regression: one on-the-fly source whose training failed stopped the whole grid after the sources were
    trained, so no referent and no fine-tune of the other sources ran."""
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    real, ran = runner.execute_run, []

    def work(spec, dataset, out_dir):
        ran.append((spec.kind, spec.source))
        if spec.kind == "source" and spec.target == "ECG200":
            raise RuntimeError("out of memory")
        return _fake_record(spec) if spec.kind != "source" else real(spec, dataset, out_dir)

    monkeypatch.setattr(runner, "execute_run", work)
    copy = finished[0].parent / "one-source-fails"
    shutil.copytree(finished[0], copy)  # Coffee/fcn is trained there
    grid = _grid(sources=[("Coffee", "fcn"), ("ECG200", "fcn")], seeds=[1])
    with pytest.raises(runner.ExperimentError) as failed:
        run(grid, out_dir=copy, progress=False)
    assert sorted(ran) == [("finetune", "Coffee/fcn"), ("referent", None), ("source", "ECG200/fcn")]
    message = str(failed.value)
    assert message.startswith(
        "1 of 4 runs failed; the fine-tunes of ECG200/fcn were not planned, their source's training failed; "
        f"the 3 finished ones are saved in {copy}"
    )
    assert message.endswith("RuntimeError: out of memory") and "  - source-ECG200-fcn-" in message


def test_cli_interrupted_says_how_to_resume(monkeypatch, tmp_path, capsys):
    """Regression: Ctrl-C printed a long traceback through torch's layers and nothing about the runs kept."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("tshub.experiments.__main__.run", interrupted)
    argv = ["--sources", "Coffee/fcn", "--targets", "GunPoint", "--seeds", "0", "--out", str(tmp_path)]
    try:
        assert main(argv) == 130
    except KeyboardInterrupt:  # not raised on: pytest would stop the session
        pytest.fail("Ctrl-C went through main as a traceback")
    err = capsys.readouterr().err
    assert f"interrupted; the finished runs are saved in {tmp_path}: run the same command again to resume" in err


def test_two_folders_of_one_source_dataset_stay_two_sources(finished, tmp_path, shared_data, monkeypatch):
    """Regression: a checkpoint folder without an id was named "<source dataset>/<arch>", so two folders trained on
    the same set (here two seeds) and the zoo's own checkpoint merged into one row of the comparison tables."""
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    (source,) = [r for r in load_records(finished[0]) if r["kind"] == "source"]
    folders = []
    for shift, name in enumerate(("first", "second")):
        model = load_pretrained(source["checkpoint"])
        model.meta.pop("id", None)
        with torch.no_grad():
            next(model.parameters()).add_(shift * 1e-3)  # other weights, as another seed's
        folders.append(str(model.save_pretrained(tmp_path / name / "fcn")))
    grid = _grid(sources=folders, reduce_train=None, max_epochs=1)
    records = [r for r in run(grid, out_dir=tmp_path / "out", progress=False) if r["kind"] == "finetune"]
    assert sorted(r["source"] for r in records) == sorted(folders)


def test_a_source_is_named_by_its_checkpoints_id_and_two_checkpoints_of_one_id_are_refused(
    finished, tmp_path, shared_data, monkeypatch
):
    """Regression: a model id spelled otherwise ("mine/fcn", which resolves case-insensitively) named the source
    and its run ids as typed, so a grid resumed with the other spelling trained every run again; two folders whose
    configs carry one id but hold other weights became one source, their runs chosen between as if they were ω."""
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    (source,) = [r for r in load_records(finished[0]) if r["kind"] == "source"]
    model = load_pretrained(source["checkpoint"])
    model.save_pretrained(tmp_path / "zoo" / "Mine" / "fcn", id="Mine/fcn")
    monkeypatch.setenv("TSHUB_ZOO", str(tmp_path / "zoo"))
    planned = run(_grid(sources=["mine/fcn"], reduce_train=None, max_epochs=1), out_dir=tmp_path / "a", progress=False)
    assert {r["source"] for r in planned if r["kind"] == "finetune"} == {"Mine/fcn"}
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)  # other weights under the same id, as an older build's
    other = model.save_pretrained(tmp_path / "older" / "fcn", id="Mine/fcn")
    with pytest.raises(ValueError, match=r"two checkpoints named Mine/fcn .*older/fcn"):
        run(
            _grid(sources=["Mine/fcn", str(other)], reduce_train=None, max_epochs=1),
            out_dir=tmp_path / "b",
            progress=False,
        )


def test_a_grid_takes_numpy_numbers_and_one_budget_gets_one_run_id():
    """Regression: seeds were turned into ints for the JSON run ids, but reduce_train=np.int64(10) or
    max_epochs=np.int64(5) failed at planning ("int64 is not JSON serializable"), and time_budget_s=60 and 60.0 gave
    one setting two run ids."""
    from tshub.experiments import RunSpec

    def referent_id(grid: ExperimentGrid) -> str:
        return RunSpec(
            "referent", "GunPoint", "fcn", 0, grid.training(), "znorm", reduce_train=grid.reduce_train
        ).run_id

    plain = _grid(reduce_train=10, max_epochs=5, time_budget_s=60.0)
    numpy = _grid(reduce_train=np.int64(10), max_epochs=np.int64(5), time_budget_s=np.int64(60))
    assert (
        referent_id(numpy) == referent_id(plain) == referent_id(_grid(reduce_train=10, max_epochs=5, time_budget_s=60))
    )
    with pytest.raises(ValueError, match="reduce_train must be a positive number of series"):
        _grid(reduce_train=2.5)


def _mydata(seed: int) -> Dataset:
    X, y = np.random.default_rng(seed).normal(size=(24, 1, 32)), np.tile([0, 1], 12)
    return Dataset.from_arrays(X, y, name="mydata", splits={"train": np.arange(16), "test": np.arange(16, 24)})


def test_a_target_with_other_data_under_the_same_name_is_not_reused(finished, tmp_path):
    """Regression: run ids know a target by its name only, so a second Dataset.from_arrays(..., name="mydata") with
    other data silently got the first one's records back."""
    (source,) = [r for r in load_records(finished[0]) if r["kind"] == "source"]
    grid = _grid(sources=[source["checkpoint"]], targets=[_mydata(0)], reduce_train=None, max_epochs=1)
    records = run(grid, out_dir=tmp_path, progress=False)
    assert [r["target_sha256"] for r in records] == [dataset_sha256(_mydata(0))] * 2
    assert run(replace(grid, targets=[_mydata(0)]), out_dir=tmp_path, progress=False) == records  # same data
    with pytest.raises(ValueError, match=r"the data of target 'mydata' differs from the data run referent-mydata"):
        run(replace(grid, targets=[_mydata(1)]), out_dir=tmp_path, progress=False)
    for record in records:  # as written before records kept the fingerprint: reused as they were
        del record["target_sha256"]
        (tmp_path / "runs" / f"{record['run_id']}.json").write_text(json.dumps(record))
    assert run(replace(grid, targets=[_mydata(1)]), out_dir=tmp_path, progress=False) == records


def test_the_tables_refuse_two_runs_of_one_setting(finished):
    """Regression: a folder re-run after its source checkpoint was rebuilt (or with other settings) holds two
    fine-tunes of one (source, target, arch, seed, ω); comparison_table counted both as pairs (n 2 for one seed) or
    chose between them as if between ω, and instance_comparisons too."""
    out, records = finished
    stale = {**records[1], "run_id": records[1]["run_id"] + "-stale"}
    for table in (comparison_table, lambda rs: comparison_table(rs, by=("source", "lr_multiplier"))):
        with pytest.raises(ValueError, match=r"two runs of one setting: .*Coffee/fcn → GunPoint .*seed 0.*-stale"):
            table([*records, stale])
    with pytest.raises(ValueError, match="two runs of one setting"):
        instance_comparisons([*records, stale], out)


def test_comparison_and_instance_tables(finished):
    out, records = finished
    (row,) = comparison_table(records)
    assert (row["source"], row["target"], row["arch"], row["n"]) == ("Coffee/fcn", "GunPoint", "fcn", 1)
    assert row["transfer"] == records[1]["metrics"]["f1_weighted"]
    assert row["referent"] == records[0]["metrics"]["f1_weighted"]
    assert "| Coffee/fcn | GunPoint | fcn | f1_weighted | 1 |" in comparison_table(records).to_markdown()
    (test,) = instance_comparisons(records, out)
    assert test["test"] == "bowker" and 0 <= test["p"] <= 1 and test["q"] >= test["p"]


def _source_copy(folder: Path, to: Path, model_id: str, fingerprint: bool = False, **meta) -> SourceCheckpoint:
    """The checkpoint at ``folder`` saved under another id and provenance (``meta`` replaced), without the
    fingerprint of its training series unless ``fingerprint``, as a source of ``plan_runs``."""
    model = load_pretrained(folder)
    model.meta = {**{k: v for k, v in model.meta.items() if fingerprint or k != "train_fingerprint"}, **meta}
    saved = model.save_pretrained(to / model_id, id=model_id)
    return SourceCheckpoint(model_id, saved, read_config(saved))


def test_plan_shares_referents_and_skips_self_transfer(finished, shared_data, tmp_path):
    out, _ = finished
    from tshub.datasets import load

    folder = next((out / "sources").iterdir())
    sources = [
        SourceCheckpoint("Coffee/fcn", folder, read_config(folder)),
        _source_copy(folder, tmp_path, "other/fcn", source_dataset="Other"),  # no evidence of Coffee's data
    ]
    targets = {name: load(name, root=shared_data) for name in ("GunPoint", "Coffee")}
    jobs = plan_runs(_grid(seeds=[0, 1], lr_multipliers=[0.5, 1.0]), sources, targets)
    kinds = [spec.kind for spec, _ in jobs]
    assert kinds.count("referent") == 2 * 2  # (GunPoint, Coffee) × 2 seeds, shared by both sources
    finetunes = [spec for spec, _ in jobs if spec.kind == "finetune"]
    assert len(finetunes) == 2 * 2 * 2 + 1 * 2 * 2  # other/fcn on both targets; Coffee/fcn never on Coffee
    assert not [s for s in finetunes if s.source == "Coffee/fcn" and s.target == "Coffee"]
    assert len({spec.run_id for spec, _ in jobs}) == len(jobs)


def test_plan_leaves_out_every_source_trained_on_the_target(finished, shared_data, tmp_path, monkeypatch):
    """Regression: a source was left out only when its ``source_dataset`` was the target's name, so a multi-head
    checkpoint (UCR/convtimenet, "UCR") was fine-tuned on one of its own pretraining sets, and a checkpoint trained on
    the target's series under another name was fine-tuned on them; the recommender's evidence now decides."""
    from tshub.datasets import load

    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    folder = next((finished[0] / "sources").iterdir())  # Coffee/fcn, with the fingerprint of Coffee's series
    sources = [
        _source_copy(folder, tmp_path, "UCR/fcn", source_dataset="UCR", source_datasets=["Coffee", "GunPoint"]),
        _source_copy(folder, tmp_path, "Mine/fcn", fingerprint=True, source_dataset="Mine"),  # Coffee's series
        _source_copy(folder, tmp_path, "Other/fcn", source_dataset="Other"),
    ]
    targets = {name: load(name, root=shared_data) for name in ("GunPoint", "Coffee")}
    jobs = plan_runs(_grid(), sources, targets)
    assert sorted((s.source, s.target) for s, _ in jobs if s.kind == "finetune") == [
        ("Mine/fcn", "GunPoint"),
        ("Other/fcn", "Coffee"),
        ("Other/fcn", "GunPoint"),
    ]
    left_out = left_out_pairs(sources, targets)
    assert sorted(left_out) == [("Mine/fcn", "Coffee"), ("UCR/fcn", "Coffee"), ("UCR/fcn", "GunPoint")]
    assert all(why.startswith("trained on the target's own data: ") for why in left_out.values())
    # a name match the fingerprint contradicts: the grid says what runs it (it has no allow_self_transfer)
    named = Dataset.from_arrays(np.random.default_rng(0).normal(size=(20, 1, 286)), np.arange(20) % 2, name="mine")
    (why,) = left_out_pairs(sources[1:2], {"mine": named}).values()
    assert "by name only" in why and why.endswith("give the target Dataset another name to run it"), why


def test_left_out_pairs_are_logged(finished, shared_data, tmp_path, capsys, monkeypatch):
    """Regression: the pairs left out as self-transfer vanished from a grid without a word."""
    out, records = finished
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    copy = tmp_path / "grid"
    shutil.copytree(out, copy)  # the source and the GunPoint runs are done: nothing trains here
    assert run(_grid(targets=["GunPoint", "Coffee"]), out_dir=copy) == records
    err = capsys.readouterr().err
    assert "left out Coffee/fcn on Coffee, trained on the target's own data: 100% of the series" in err


def test_a_grid_left_with_nothing_to_run_fails_saying_why(finished, shared_data, tmp_path, capsys, monkeypatch):
    """Regression: a grid whose every pair was left out as self-transfer printed an empty table ("|  |") and exited
    0 (the API returned []); it is now an error naming the pairs and why."""
    out, _ = finished
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    copy = tmp_path / "grid"
    shutil.copytree(out, copy)  # the source is trained: nothing trains here
    with pytest.raises(ValueError, match=r"nothing to run: .* left out: Coffee/fcn on Coffee \(trained on the"):
        run(_grid(targets=["Coffee"]), out_dir=copy, progress=False)
    folder = next((out / "sources").iterdir())
    argv = ["--sources", str(folder), "--targets", "Coffee", "--lr-multipliers", "1", "--seeds", "0"]
    assert main([*argv, "--max-epochs", "1", "--out", str(tmp_path / "cli"), "--quiet"]) == 1
    printed = capsys.readouterr()
    assert printed.out == "" and "error: nothing to run" in printed.err and "Coffee/fcn on Coffee" in printed.err
    assert not (tmp_path / "cli").exists()


@pytest.mark.parametrize("target", ["Symbols", "mydata"])
def test_a_target_without_a_test_split_is_refused_before_any_training(target, shared_data, tmp_path, monkeypatch):
    """Regression: a target without a test split (a catalogue set with only a training file, or a Dataset without
    a 'test' split) trained every run, logged validation scores as test ones, then the table failed ("choose one of
    []"); it is now refused before anything trains, saying how to give it a test split."""
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    trained = []

    def training(spec, dataset, out_dir):
        trained.append(spec.kind)
        raise AssertionError(f"a {spec.kind} run started")

    monkeypatch.setattr(runner, "execute_run", training)
    notest = _mydata(0).with_splits({})  # its every series is training data
    grid = _grid(targets=[target if target == "Symbols" else notest])
    where = r" \(the catalogue holds only a training file of Symbols" if target == "Symbols" else ";"
    with pytest.raises(ValueError, match=rf"target {target} has no test split{where}.*random_split"):
        run(grid, out_dir=tmp_path, progress=False)
    assert trained == [] and not tmp_path.joinpath("runs").exists()


def test_progress_labels_a_validation_score_as_such():
    """Regression: a run without test metrics (a source trained on a set without a test split) showed its
    validation score in the progress line as if it were the test score."""
    record = {"task": "classification", "metrics": {}, "val_metrics": {"f1_weighted": 0.5}, "epochs": 1}
    assert runner._summary({**record, "elapsed_s": 1.0}) == "val_f1_weighted 0.5000, 1 epochs, 1.0 s"
    tested = {**record, "metrics": {"f1_weighted": 0.75}, "elapsed_s": 1.0}
    assert runner._summary(tested) == "f1_weighted 0.7500, 1 epochs, 1.0 s"


def test_a_fine_tune_refuses_a_source_checkpoint_replaced_after_planning(finished, shared_data, tmp_path):
    """Regression: a queued fine-tune loaded whatever its checkpoint folder held when it started, so a checkpoint
    replaced meanwhile (e.g. a zoo rebuild during a long grid) was recorded under the old weights' run id."""
    from tshub.datasets import load

    folder = tmp_path / "source"
    shutil.copytree(next((finished[0] / "sources").iterdir()), folder)
    source = SourceCheckpoint("Coffee/fcn", folder, read_config(folder))
    jobs = plan_runs(_grid(), [source], {"GunPoint": load("GunPoint", root=shared_data)})
    spec, dataset = next(job for job in jobs if job[0].kind == "finetune")
    model = load_pretrained(folder)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    shutil.rmtree(folder)
    model.save_pretrained(folder)
    with pytest.raises(ValueError, match="changed since the grid was planned"):
        runner.execute_run(spec, dataset, str(tmp_path / "out"))
    assert not (tmp_path / "out" / "runs").exists()


def test_cli_runs_a_grid_and_prints_the_table(finished, shared_data, monkeypatch, capsys):
    out, _ = finished
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    folder = next((out / "sources").iterdir())
    cli_out = out.parent / "cli"
    argv = [
        "--sources",
        str(folder),
        "--targets",
        "GunPoint",
        "--lr-multipliers",
        "1",
        "--seeds",
        "0",
        "--reduce-train",
        "10",
        "--max-epochs",
        "1",
        "--out",
        str(cli_out),
        "--quiet",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("| source | target | arch |")
    assert "| Coffee/fcn | GunPoint | fcn | f1_weighted | 1 |" in printed
    assert len(load_records(cli_out)) == 2
    assert main(["--targets", "GunPoint", "--out", str(cli_out)]) == 1  # no source
    assert "at least one source" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("omegas", "message"),
    [(["grid", "0.5"], "'grid' alone or numbers"), (["0.5", "fast"], "expected 'grid' or a number, got 'fast'")],
)
def test_cli_refuses_lr_multipliers_it_cannot_read_with_a_usage_error(omegas, message, tmp_path, capsys):
    """Regression: a word beside 'grid' (or 'grid' among numbers) reached float() and ended in a traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--sources", "Coffee/fcn", "--targets", "GunPoint", "--lr-multipliers", *omegas, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert f"error: argument --lr-multipliers: {message}" in capsys.readouterr().err


def test_grid_validation_and_bare_source_names():
    with pytest.raises(ValueError, match="bare dataset name"):
        _grid(sources=["Coffee"])
    assert _grid(sources=["Coffee", "LEN-DB/magnet"], archs=["fcn", "tcn"]).named_sources() == [
        "Coffee/fcn",
        "Coffee/tcn",
        "LEN-DB/magnet",
    ]
    with pytest.raises(ValueError, match="lr_multiplier must be a number"):
        _grid(lr_multipliers="all")
    for omegas in ([float("nan")], [float("inf")], [-1.0], []):  # regression: NaN and inf passed `v < 0`
        with pytest.raises(ValueError, match="finite and >= 0|at least one"):
            _grid(lr_multipliers=omegas)
    with pytest.raises(ValueError, match="unknown recipe"):
        _grid(recipe="fast")
    with pytest.raises(ValueError, match="are lists"):
        _grid(targets="GunPoint")


def test_grid_refuses_a_string_of_archs_a_bare_seed_and_recipe_auto_saying_what_to_write():
    """Regression: archs="fcn" expanded a source into the ids 'Coffee/f', 'Coffee/c', 'Coffee/n'; seeds=0 was told
    that the grid needs at least one seed, seeds=3 failed iterating an int, seeds=np.arange(2) failed on an array's
    truth value; recipe="auto", every other entry point's default, was an "unknown recipe"; max_epochs=0 was taken
    until the first run trained."""
    with pytest.raises(ValueError, match=r"archs=\['fcn'\]"):
        _grid(sources=["Coffee"], archs="fcn")
    for seeds in (0, 3):
        with pytest.raises(ValueError, match=rf"seeds is a list: write seeds=\[{seeds}\]"):
            _grid(seeds=seeds)
    seeds = _grid(seeds=np.arange(2)).seeds  # was "truth value of an array ... is ambiguous"
    assert seeds == (0, 1) and all(type(seed) is int for seed in seeds)  # written to JSON records as they are
    with pytest.raises(ValueError, match=r"seeds are whole numbers >= 0, got \[0, 1.5\]"):
        _grid(seeds=[0, 1.5])
    with pytest.raises(ValueError, match="recipe 'auto' picks a preset per training split.*recipe='ucr'"):
        _grid(recipe="auto")
    with pytest.raises(ValueError, match="max_epochs must be positive"):
        _grid(max_epochs=0)


def test_ray_engine_without_ray_says_how_to_install(finished, monkeypatch):
    out, _ = finished
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'tshub\[ray\]'"):
        run(_grid(), engine="ray", out_dir=out, progress=False)


def test_a_finished_grid_starts_no_ray(finished, monkeypatch):
    """Regression: every stage of a grid (its sources, then its referents and fine-tunes) connected to Ray, starting
    a local one (seconds) even with nothing left to run: a finished grid, resumed, started Ray twice for nothing."""
    pytest.importorskip("ray", reason="ray is not installed (pip install 'tshub[ray]')")
    from tshub.experiments import engines

    out, records = finished

    def no_connect(address=None):
        raise AssertionError("Ray was connected to with no run to give it")

    monkeypatch.setattr(engines, "connect", no_connect)
    assert run(_grid(), engine="ray", out_dir=out, progress=False) == records


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One local Ray (one CPU) for the module's Ray tests, which the engine joins (a start costs seconds); it is
    started in a folder of its own, the working directory of its tasks, which the tests' is not."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'tshub[ray]')")
    started_here = tmp_path_factory.mktemp("ray-started-here")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(started_here)
        ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield started_here
    ray.shutdown()


@pytest.mark.slow
def test_ray_engine_runs_the_missing_runs(finished, shared_data, monkeypatch, local_ray):
    out, records = finished
    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    copy = out.parent / "ray"
    shutil.copytree(out, copy)
    result = run(_grid(lr_multipliers=[1.0, 0.5]), engine="ray", out_dir=copy, progress=False)
    assert result[:2] == records  # already done: not re-run
    assert result[2]["lr_multiplier"] == 0.5 and (copy / "runs" / f"{result[2]['run_id']}.json").is_file()


@pytest.mark.slow
def test_ray_engine_writes_a_relative_out_dir_where_the_caller_sees_it(tmp_path, monkeypatch, local_ray):
    """Regression: a relative out_dir went to the Ray tasks as it was, so they wrote the records under their node's
    working directory (a cluster joined with --address: where `ray start` ran), where a resumed grid never finds
    them and ran every run again."""
    from tshub.experiments.engines import ray_engine
    from tshub.experiments.grid import RunSpec

    (tmp_path / "caller").mkdir()
    monkeypatch.chdir(tmp_path / "caller")

    def work(spec, dataset, out_dir):
        (Path(out_dir) / "runs").mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "runs" / f"{spec.run_id}.json").write_text("{}")
        return {"run_id": spec.run_id}

    spec = RunSpec("referent", "mydata", "fcn", 0, {}, "znorm")
    ((_, outcome),) = list(ray_engine([(spec, _mydata(0))], work, Path("out")))
    assert outcome.state == "succeeded", outcome.reason
    assert (tmp_path / "caller" / "out" / "runs" / f"{spec.run_id}.json").is_file()
    assert not (local_ray / "out").exists()


@pytest.mark.slow
def test_an_interrupted_ray_grid_cancels_the_runs_it_submitted(tmp_path, local_ray):
    """Regression: on a Ray that the caller had started, an interrupted grid (Ctrl-C, an exception) released the
    folder's lock while its submitted tasks went on writing records there, beside a second grid that took the lock."""
    import time

    from tshub.experiments.engines import ray_engine
    from tshub.experiments.grid import RunSpec

    def work(spec, dataset, out_dir):
        time.sleep(1.5)
        (Path(out_dir) / f"{spec.run_id}.done").write_text("")
        return {"run_id": spec.run_id}

    specs = [RunSpec("referent", "mydata", "fcn", seed, {}, "znorm") for seed in (0, 1)]
    engine = ray_engine([(spec, _mydata(0)) for spec in specs], work, tmp_path)
    next(engine)  # one run done (one CPU: the other waits or runs), then the grid is interrupted
    engine.close()
    time.sleep(3)
    assert len(list(tmp_path.glob("*.done"))) == 1


STALE_RAY = """
import ray
from tshub.cluster import connect

print("started" if connect(num_cpus=1) else "joined", ray.get(ray.remote(lambda: 6 * 7).remote()), flush=True)
ray.shutdown()
"""


@pytest.mark.slow
def test_connect_without_an_address_starts_its_own_ray_even_after_a_killed_ray_start(tmp_path):
    """Regression: with no address and no $RAY_ADDRESS, Ray joins the cluster named in the file a `ray start` on
    this machine leaves behind; after that head was killed (or by default, while it runs) ``connect`` failed to
    reach it instead of starting a local Ray, as it says it does."""
    pytest.importorskip("ray", reason="ray is not installed (pip install 'tshub[ray]')")
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's socket paths have a length limit
    try:
        (ray_tmp / "ray").mkdir()
        (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:9")  # a head that is gone
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        done = subprocess.run(
            [sys.executable, "-c", STALE_RAY],
            env={**env, "RAY_TMPDIR": str(ray_tmp), "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.stdout.split() == ["started", "42"], done.stderr[-2000:]
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_run_ids_follow_the_values_of_a_named_recipe(monkeypatch):
    """Regression: run ids hashed only the recipe's name, so records trained with a preset's old values were
    reused after the preset changed."""
    from tshub.training import recipes

    grid = ExperimentGrid(
        sources=[("Coffee", "fcn")], targets=["GunPoint"], lr_multipliers=[1.0], seeds=[0], recipe="ucr"
    )
    before = grid.training()
    monkeypatch.setitem(recipes.RECIPES, "ucr", recipes.RECIPES["ucr"].replace(min_batch_size=4))
    assert grid.training() != before


def test_records_say_the_precision_a_preset_trained_in(shared_data, tmp_path, monkeypatch):
    """Regression: a preset recipe trains under bf16 autocast where the CPU computes it natively, but a run's record
    held only the preset's values (bf16 False), so a bf16 training read as a float32 one."""
    from tshub.training import recipes

    monkeypatch.setenv("TSHUB_DATA", str(shared_data))
    monkeypatch.setattr(recipes, "native_bf16", lambda device: True)
    records = run(_grid(recipe="ucr", max_epochs=1), out_dir=tmp_path, progress=False)
    assert [r["kind"] for r in records] == ["referent", "finetune"]
    for record in records:
        assert record["spec"]["training"]["train_config"]["bf16"] is False  # the preset's value, part of the run id
        assert record["fit"]["train_config"]["bf16"] is True  # what the training used
        assert record["fit"]["train_config"]["max_epochs"] == 1


def test_a_run_id_stays_a_usable_file_name_whatever_the_source_folder():
    """A folder source is named by its path, which can be long: the run id (a file name) keeps its tail."""
    from tshub.experiments.grid import RunSpec

    deep = "/".join(["a-rather-long-folder-name"] * 20) + "/fcn"
    spec = RunSpec("finetune", "Coffee", "fcn", 0, {}, "znorm", source=deep, lr_multiplier=1.0)
    short = RunSpec("finetune", "Coffee", "fcn", 0, {}, "znorm", source="GunPoint/fcn", lr_multiplier=1.0)
    assert len(spec.run_id) < 200 and spec.run_id.startswith("finetune-") and "fcn-Coffee-w1-s0-" in spec.run_id
    assert short.run_id.startswith("finetune-GunPoint_fcn-Coffee-w1-s0-")  # ids short enough are unchanged


def test_a_forecasts_referent_drops_stream_max_beside_its_relative_target_as_the_fine_tune_does(tmp_path: Path):
    """Regression: the grid's from-scratch referent of EMG/fcn (which takes stream_max) on a forecast target kept the
    raw stream_max input beside its relative target, which the fine-tune drops (stream_max_for): its test MAE was
    6,830 against the fine-tune's 11.7, and the comparison table claimed a +99.8 % gain."""
    rng = np.random.default_rng(0)
    walks = 1000 + rng.normal(size=(60, 31)).cumsum(-1) * 5 + rng.uniform(0, 2000, (60, 1))
    target = Dataset.from_arrays(
        walks[:, None, :30],
        walks[:, 30],
        name="walks",
        task="regression",
        splits={"train": np.arange(45), "test": np.arange(45, 60)},
    )
    source = Path(__file__).resolve().parents[1] / "zoo" / "EMG" / "fcn"
    grid = ExperimentGrid(
        sources=[str(source)], targets=[target], lr_multipliers=[1.0], seeds=[0], max_epochs=1, recipe="ucr"
    )
    records = run(grid, out_dir=tmp_path)
    takes = {record["kind"]: record["fit"]["model"]["use_stream_max"] for record in records}
    assert takes == {"referent": False, "finetune": False}
