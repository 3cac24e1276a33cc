"""A user's own data as it comes, without splits (arrays, a CSV, an official UCR _TRAIN file), is training data:
Python API, CLI and service carve the same stratified, seeded validation split (``training_splits``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tshub
from tshub.cli import main
from tshub.data import Dataset, DatasetError
from tshub.data.readers import read_file

SMALL = {"filters": (8, 16, 8)}


@pytest.fixture(scope="module")
def coffee_files(ucr_root: Path) -> tuple[Path, Path]:
    return ucr_root / "Coffee" / "Coffee_TRAIN.tsv.gz", ucr_root / "Coffee" / "Coffee_TEST.tsv.gz"


@pytest.fixture(scope="module")
def gunpoint_arrays(ucr_root: Path) -> tuple[np.ndarray, np.ndarray]:
    """GunPoint's official training series and their original labels, as a user holds them: plain arrays."""
    ds = read_file(ucr_root / "GunPoint" / "GunPoint_TRAIN.tsv.gz")
    return ds.X[:, 0, :], np.asarray(ds.classes)[ds.y]


@pytest.fixture(scope="module")
def source(coffee_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A narrow FCN trained for one epoch on the Coffee training file alone (no splits), saved as a checkpoint."""
    result = tshub.train_from_scratch(
        "fcn", Dataset.from_file(str(coffee_files[0])), max_epochs=1, arch_kwargs=SMALL, progress=False
    )
    return result.model.save_pretrained(tmp_path_factory.mktemp("src") / "Coffee" / "fcn", id="Coffee/fcn")


def test_training_splits_make_all_series_training_data_and_carve_a_stratified_validation(gunpoint_arrays):
    from tshub.data.splits import training_splits

    X, labels = gunpoint_arrays
    ds = Dataset.from_arrays(X, labels)
    assert ds.splits == {}
    ready, notes = training_splits(ds, seed=3)
    train, val = ready.splits["train"], ready.splits["val"]
    assert len(val) == 10 and len(train) == 40 and not set(train) & set(val) and "test" not in ready.splits
    assert np.bincount(ready.y[val]).tolist() == [5, 5]  # stratified: GunPoint's classes are 24 / 26
    again, _ = training_splits(ds, seed=3)
    np.testing.assert_array_equal(again.splits["val"], val)  # seeded
    assert "all 50 series are training data" in notes[0] and "10 of the 50 training series (20%)" in notes[1]
    held, notes = training_splits(ds, val_fraction=0.25, test_fraction=0.2, seed=0)
    sizes = {k: len(v) for k, v in held.splits.items()}
    assert sizes == {"train": 30, "test": 10, "val": 10} and "held out 10 of the 50 series (20%)" in notes[0]
    assert np.bincount(held.y[held.splits["test"]]).tolist() == [5, 5]


def test_python_api_trains_finetunes_and_recommends_on_arrays_without_splits(gunpoint_arrays, source: Path):
    X, labels = gunpoint_arrays
    ds = Dataset.from_arrays(X, labels)
    scratch = tshub.train_from_scratch("fcn", ds, max_epochs=1, arch_kwargs=SMALL, progress=False)
    assert scratch.metrics == {} and set(scratch.val_metrics) == {"accuracy", "f1_weighted"}
    assert scratch.model.meta["splits"] == {"train": 40, "val": 10}
    tuned = tshub.load_pretrained(source).finetune(ds, max_epochs=1, progress=False)
    assert tuned.model.meta["splits"] == {"train": 40, "val": 10} and tuned.transfer_report.copied
    assert set(tuned.model.predict(X[:5])) <= {"1", "2"}
    rec = tshub.recommend(ds, candidates=[str(source)])
    assert rec.ids == ["Coffee/fcn"] and rec[0]["details"]["n"] == 50  # scored on every (training) series


def test_cli_finetunes_an_official_train_file_with_a_test_file_or_split_options(
    source: Path, coffee_files, tmp_path: Path, capsys
):
    train, test = map(str, coffee_files)
    assert (
        main(
            ["finetune", str(source), train, "--test-file", test, "--lr-multiplier", "1", "--max-epochs", "1", "--json"]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["target"] == "Coffee" and out["splits"] == {"train": 22, "test": 28, "val": 6}
    assert set(out["metrics"]) == {"accuracy", "f1_weighted"}

    assert (
        main(
            [
                "finetune",
                str(source),
                train,
                "--lr-multiplier",
                "1",
                "--max-epochs",
                "1",
                "--val-fraction",
                "0.25",
                "--split-seed",
                "1",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "all 28 series are training data" in captured.err and "7 of the 28 training series (25%)" in captured.err
    assert "test: - (no test split: pass --test-file or --test-fraction)" in captured.out

    assert (
        main(
            [
                "finetune",
                str(source),
                train,
                "--test-fraction",
                "0.25",
                "--lr-multiplier",
                "1",
                "--max-epochs",
                "1",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["splits"] == {"train": 18, "test": 6, "val": 4}  # 3 per class


def test_cli_recommends_for_a_csv_file(source: Path, gunpoint_arrays, tmp_path: Path, capsys):
    X, labels = gunpoint_arrays
    csv = tmp_path / "my_series.csv"
    csv.write_text(
        "label,"
        + ",".join(f"t{i}" for i in range(X.shape[1]))
        + "\n"
        + "".join(f"{lab}," + ",".join(f"{v:.6f}" for v in row) + "\n" for lab, row in zip(labels, X))
    )
    assert main(["recommend", str(csv), "--label-column", "label", "--candidates", str(source), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["target"] == "my_series" and [r["id"] for r in out["ranking"]] == ["Coffee/fcn"]


def test_a_dataset_with_one_class_is_refused_before_training(gunpoint_arrays, source: Path):
    X, _ = gunpoint_arrays
    one = Dataset.from_arrays(X, np.full(len(X), "walk"))
    for attempt in (
        lambda: tshub.train_from_scratch("fcn", one, max_epochs=1, arch_kwargs=SMALL, progress=False),
        lambda: tshub.load_pretrained(source).finetune(one, max_epochs=1, progress=False),
        lambda: tshub.recommend(one, candidates=[str(source)]),
    ):
        with pytest.raises(DatasetError, match=r"only one class \('walk'\).*at least two classes"):
            attempt()


def test_the_service_splits_an_upload_with_the_same_function(ucr_root: Path, tmp_path: Path):
    from server.uploads import TEST_FRACTION, ParseOptions, ingest, load_npz, store_raw
    from tshub.data.splits import training_splits

    path = ucr_root / "GunPoint" / "GunPoint_TRAIN.tsv.gz"
    with open(path, "rb") as f:
        stored = store_raw(f, path.name, tmp_path, limit_bytes=10**7)
    ingested = ingest([stored], ParseOptions(), tmp_path, "owner")
    served = load_npz(tmp_path / ingested.path)
    expected, notes = training_splits(read_file(path, name="GunPoint"), test_fraction=TEST_FRACTION, seed=0)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(served.splits[split], expected.splits[split])
    assert all(note in ingested.summary["warnings"] for note in notes)


def test_from_arrays_keeps_its_own_splits_and_reads_targets_by_their_shape() -> None:
    """A dataset's splits are its own (with_splits once shared the caller's dict); (n, k) integer targets are k
    regression outputs, not a class per row; a column vector is one target; float32 classes match their labels."""
    X = np.arange(24, dtype=np.float32).reshape(4, 6)
    given = {"train": np.array([0, 1])}
    a = Dataset.from_arrays(X, np.array([0, 1, 0, 1]), splits=given)
    b = a.with_splits(a.splits)
    b.splits["train"] = np.array([3])
    given["train"] = np.array([2])
    assert a.splits["train"].tolist() == [0, 1]
    outputs = Dataset.from_arrays(X, np.array([[1, 2], [3, 4], [1, 2], [5, 6]]))
    assert outputs.task == "regression" and outputs.y.shape == (4, 2)
    column = Dataset.from_arrays(X, np.array([[0], [1], [0], [1]]))
    assert column.task == "classification" and column.classes == ["0", "1"] and column.y.tolist() == [0, 1, 0, 1]
    floats = np.array([1, 2, 1, 2], np.float32)
    assert Dataset.from_arrays(X, floats, classes=np.array([1, 2], np.float32)).classes == ["1", "2"]


@pytest.mark.parametrize(
    "y",
    [
        np.array([0.0, 1.0, np.nan, 1.0]),  # integral floats: once a class "nan"
        np.array([0.5, 1.5, np.nan, 2.5]),  # a regression target: once NaN metrics after one epoch
        np.array(["a", "b", None, "b"], dtype=object),  # once a class "None"
        np.array([[0.5, 1.0], [1.5, 2.0], [2.5, np.inf], [3.5, 4.0]]),
    ],
)
def test_from_arrays_refuses_missing_targets_and_names_the_series(y: np.ndarray) -> None:
    X = np.arange(24, dtype=np.float32).reshape(4, 6)
    with pytest.raises(DatasetError, match=r"target of series 2 is .*every series needs a finite target"):
        Dataset.from_arrays(X, y)


def test_from_arrays_takes_series_of_unequal_lengths_and_gaps_with_the_readers_options() -> None:
    """Arrays had no way to the readers' variable_length / missing options: a ragged list failed inside numpy
    ("inhomogeneous shape") and NaN-padded arrays were refused only at training."""
    ragged = [np.arange(5.0), np.arange(3.0), np.array([1.0, np.nan, 3.0, 4.0, 5.0])]
    with pytest.raises(DatasetError, match=r"different lengths \(3 to 5 values.*variable_length='truncate'"):
        Dataset.from_arrays(ragged[:2], ["a", "b"])
    padded = Dataset.from_arrays(ragged, ["a", "b", "a"], variable_length="pad", missing="interpolate")
    assert padded.X.shape == (3, 1, 5)
    assert padded.X[1, 0].tolist() == [0, 1, 2, 2, 2] and padded.X[2, 0].tolist() == [1, 2, 3, 4, 5]
    assert padded.meta["variable_length"]["method"] == "pad" and padded.meta["missing_values_filled"]["count"] == 1
    nan_padded = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, np.nan]])
    assert Dataset.from_arrays(nan_padded, [0, 1], variable_length="truncate").X.shape == (2, 1, 2)
    two_channels = [np.ones((2, 4)), np.ones((2, 6))]
    assert Dataset.from_arrays(two_channels, [0, 1], variable_length="resample").X.shape == (2, 2, 6)


def test_from_arrays_refuses_text_as_regression_targets_naming_one() -> None:
    """task='regression' with string labels failed inside numpy ("could not convert string to float")."""
    with pytest.raises(DatasetError, match=r"regression targets must be numbers, got 'up'.*task='classification'"):
        Dataset.from_arrays(np.zeros((4, 1, 6)), np.array(["up", "down", "up", "1.5"]), task="regression")
    assert Dataset.from_arrays(np.zeros((2, 1, 6)), np.array(["0.5", "2"]), task="regression").y.tolist() == [0.5, 2]


@pytest.mark.parametrize(
    ("rows", "option", "value"),
    [
        (["a,1,2,3\n", "b,1,2\n"] * 4, "variable_length", "pad"),
        (["a,1,,3\n", "b,1,2,3\n"] * 4, "missing", "interpolate"),
    ],
)
def test_a_file_the_one_call_api_cannot_read_says_how_to_read_it_first(
    tmp_path: Path, rows: list[str], option: str, value: str
) -> None:
    """Regression: ``tshub.finetune("EMG/fcn", "ragged.ts")`` said "pass variable_length='pad'", which finetune,
    train_from_scratch and recommend do not take; only the readers (and the CLI's flag) do."""
    data = tmp_path / "series.csv"
    data.write_text("".join(rows))
    with pytest.raises(DatasetError) as caught:
        tshub.train_from_scratch("fcn", str(data), max_epochs=1, progress=False)
    said = str(caught.value)
    call = f"tshub.datasets.read_file({str(data)!r}, {option}='{value}')"
    assert call in said and f"--{option.replace('_', '-')} {value}" in said, said
    ds = eval(call, {"tshub": tshub})  # the call it names reads the file
    assert len(ds.X) == 8


# ------------------------------------------------------------------------------------ sliding windows of one series
N_WINDOWS, WINDOW = 160, 20


def price_windows() -> tuple[np.ndarray, np.ndarray]:
    """One long series cut into sliding windows (stride 1) with the next value as target, one row per window in
    time order, as a user forecasting a price or a sensor holds it; values at 4 decimals, as written to a CSV."""
    series = np.round(100 + np.cumsum(np.random.default_rng(0).normal(size=N_WINDOWS + WINDOW)), 4)
    starts = np.arange(N_WINDOWS)
    return np.stack([series[s : s + WINDOW] for s in starts]), series[starts + WINDOW]


def price_windows_csv(path: Path) -> Path:
    X, y = price_windows()
    np.savetxt(path, np.column_stack([y, X]), delimiter=",", fmt="%.4f")
    return path


def test_python_api_carves_windows_in_time_and_split_order_overrides_it(source: Path):
    """Before: the validation windows of train_from_scratch and finetune were drawn at random among overlapping
    windows, so the epoch and ω were chosen on windows sharing time steps with training ones."""
    X, y = price_windows()
    ds = Dataset.from_arrays(X, y, task="regression", name="prices")
    with pytest.warns(UserWarning, match="sliding windows of one series"):
        scratch = tshub.train_from_scratch("fcn", ds, max_epochs=1, arch_kwargs=SMALL, progress=False)
    assert scratch.model.meta["splits"] == {"train": 108, "val": 32}  # 20 windows purged between them
    protocol = scratch.model.meta["split_protocol"]
    assert protocol["rule"] == "chronological_holdout" and protocol["held_out"]["val"]["purged"] == WINDOW
    tuned = tshub.load_pretrained(source).finetune(ds, max_epochs=1, progress=False, split_order="random")
    assert tuned.model.meta["splits"] == {"train": 128, "val": 32} and "split_protocol" not in tuned.model.meta


def test_cli_takes_the_split_order(source: Path, tmp_path: Path, capsys):
    csv = str(price_windows_csv(tmp_path / "prices.csv"))
    common = ["finetune", str(source), csv, "--task", "regression", "--test-fraction", "0.15", "--lr-multiplier", "1"]
    assert main([*common, "--max-epochs", "1", "--json"]) == 0
    captured = capsys.readouterr()
    # test: the last 24 of 160 after 20 purged; validation: the last 23 of the 116 left, after 20 more
    assert json.loads(captured.out)["splits"] == {"train": 73, "test": 24, "val": 23}
    assert "rows are sliding windows of one series" in captured.err and "--split-order random" in captured.err
    assert main([*common, "--max-epochs", "1", "--split-order", "random"]) == 0
    captured = capsys.readouterr()
    assert "held out 24 of the 160 series (15%) as a test split (seed 0; the rows are sliding windows" in captured.err
    with pytest.raises(SystemExit):
        main([*common, "--split-order", "chrono"])
    assert "invalid choice: 'chrono'" in capsys.readouterr().err


def test_the_service_upload_takes_the_split_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.auth import create_token
    from server.config import Settings

    monkeypatch.setenv("TSHUB_HOME", str(tmp_path / "home"))
    content = price_windows_csv(tmp_path / "prices.csv").read_bytes()
    with TestClient(create_app(Settings.from_env())) as http:
        auth = {"Authorization": f"Bearer {create_token(http.app.state.Session, 'dana')[1]}"}

        def upload(**form: str):
            files = {"file": ("prices.csv", content)}
            return http.post("/v1/datasets", files=files, data={"task": "regression", **form}, headers=auth)

        auto = upload().json()["summary"]
        assert auto["split_protocol"]["rule"] == "chronological_holdout" and auto["splits"]["test"] == 24
        assert any("sliding windows of one series" in w for w in auto["warnings"])
        shuffled = upload(split_order="random").json()["summary"]
        assert shuffled["split_protocol"]["split_order"] == "random" and sum(shuffled["splits"].values()) == 160
        refused = upload(split_order="chrono")
        assert refused.status_code == 422 and "split_order" in refused.text
