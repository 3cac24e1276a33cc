"""Catalogue on the real UCR 2018 archive (skips without ../shared/data) and on a tiny generated archive."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

import tshub
from tshub.data import DatasetError, catalogue
from tshub.data.readers import parse_file


def manifest(ucr_root: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (ucr_root / "MANIFEST.tsv").open(newline="") as f:
        return {(r["dataset"], r["split"]): r for r in csv.DictReader(f, delimiter="\t")}


def test_gunpoint_matches_manifest_and_summary(ucr_root: Path) -> None:
    ds = tshub.datasets.load("GunPoint", ucr_root.parent)
    rows = manifest(ucr_root)
    train, test = rows[("GunPoint", "TRAIN")], rows[("GunPoint", "TEST")]
    assert len(ds.splits["train"]) == int(train["n_series"]) == 50
    assert len(ds.splits["test"]) == int(test["n_series"]) == 150
    assert ds.X.shape == (200, 1, int(train["length"])) == (200, 1, 150)
    assert len(ds.classes) == int(train["n_classes"]) == 2 and ds.task == "classification"
    assert ds.meta["domain"] == "UCR/Motion" and ds.meta["n_train"] == 50 and ds.meta["n_test"] == 150
    assert ds.meta["published"]["error_1nn_ed"] == pytest.approx(0.0867)
    assert "Dau" in ds.meta["citation"]
    # md5 of the decompressed files, recorded as provenance, equals the archive manifest
    assert [Path(f).name for f in ds.meta["source_files"]] == ["GunPoint_TRAIN.tsv.gz", "GunPoint_TEST.tsv.gz"]
    assert ds.meta["source_md5"] == [train["md5_of_uncompressed_tsv"], test["md5_of_uncompressed_tsv"]]


def test_variable_length_set_under_each_option(ucr_root: Path) -> None:
    name = "AllGestureWiimoteX"
    rows = manifest(ucr_root)
    assert rows[(name, "TRAIN")]["has_nan"] == "1"
    raw = [parse_file(ucr_root / name / f"{name}_{s}.tsv.gz") for s in ("TRAIN", "TEST")]
    lengths = np.concatenate([(~np.isnan(r.X[:, 0])).sum(axis=1) for r in raw])
    lo, hi = int(lengths.min()), int(lengths.max())
    assert raw[0].X.shape[2] == int(rows[(name, "TRAIN")]["length"]) == 500 and hi < 500
    with pytest.raises(DatasetError, match=r"AllGestureWiimoteX_TEST\.tsv\.gz, line \d+.*variable_length="):
        catalogue.load(name, ucr_root.parent, variable_length="error")
    first = raw[0].X[0, 0, : lengths[0]]
    for option, length in (("truncate", lo), ("pad", hi), ("resample", hi)):
        ds = catalogue.load(name, ucr_root.parent, variable_length=option)
        assert ds.X.shape == (300 + 700, 1, length) and np.isfinite(ds.X).all()
        assert ds.meta["variable_length"]["method"] == option
        if option == "pad":
            np.testing.assert_allclose(ds.X[0, 0, : lengths[0]], first, rtol=1e-6)
            assert np.all(ds.X[0, 0, lengths[0] :] == np.float32(first[-1]))
        if option == "resample":  # endpoints kept, stretched linearly
            assert ds.X[0, 0, 0] == pytest.approx(first[0]) and ds.X[0, 0, -1] == pytest.approx(first[-1])
    assert catalogue.load(name, ucr_root.parent).length == hi  # the documented default: resample


def test_fixed_length_set_with_gaps_is_interpolated_by_default(ucr_root: Path) -> None:
    ds = catalogue.load("DodgerLoopDay", ucr_root.parent)
    assert ds.X.shape == (158, 1, 288) and np.isfinite(ds.X).all()
    assert ds.meta["missing_values_filled"]["count"] > 0 and "variable_length" not in ds.meta
    with pytest.raises(DatasetError, match=r"DodgerLoopDay_TRAIN\.tsv\.gz, line \d+: missing value"):
        catalogue.load("DodgerLoopDay", ucr_root.parent, missing="error")


def test_train_only_sets_have_only_a_train_split(shared_data: Path) -> None:
    ds = catalogue.load("Wafer", shared_data)
    assert set(ds.splits) == {"train"} and len(ds.splits["train"]) == 1000 and ds.length == 152
    assert ds.meta["collection"] == "UCRArchive_2018_trainonly"
    entries = {(e["name"], e["collection"]) for e in catalogue.list_datasets(shared_data)}
    assert ("Wafer", "UCRArchive_2018_trainonly") in entries and ("GunPoint", "UCRArchive_2018") in entries


@pytest.mark.parametrize(
    "alias,name",
    [
        ("50words", "FiftyWords"),
        ("Gun_Point", "GunPoint"),
        ("gunpoint", "GunPoint"),
        ("uWaveGestureLibrary_X", "UWaveGestureLibraryX"),
        ("yoga", "Yoga"),
        ("NonInvasiveFatalECG_Thorax1", "NonInvasiveFetalECGThorax1"),
    ],
)
def test_ucr_2015_aliases_and_case(shared_data: Path, alias: str, name: str) -> None:
    folder = shared_data / "UCRArchive_2018"
    if not ((folder / name).is_dir() or (shared_data / "UCRArchive_2018_trainonly" / f"{name}_TRAIN.tsv.gz").is_file()):
        pytest.skip(f"{name} is not in this copy of the archive")
    ds = catalogue.load(alias, shared_data)
    assert ds.name == name and (alias == name or ds.meta["requested_name"] == alias)


def test_unknown_name_error_says_where_it_looked(shared_data: Path) -> None:
    with pytest.raises(DatasetError) as err:
        catalogue.load("GunPont", shared_data)
    message = str(err.value)
    assert "'GunPont'" in message and str(shared_data / "UCRArchive_2018") in message
    assert "UCRArchive_2018_trainonly" in message and "Closest matches: GunPoint" in message


def test_a_missing_file_is_reported_as_a_missing_file(tmp_path: Path) -> None:
    """A mistyped path (``tshub recommend my_seris.csv``) reaches the catalogue as a name: say no such file."""
    for name in ("my_seris.csv", str(tmp_path / "data" / "GunPoint")):
        with pytest.raises(DatasetError, match=r"no such file") as err:
            catalogue.load(name, tmp_path)
        assert str(Path(name).absolute()) in str(err.value)


def test_an_existing_file_is_not_reported_as_missing(tmp_path: Path) -> None:
    """Regression: load("its_TRAIN.tsv") said the file did not exist; it does, and load takes names only."""
    file = tmp_path / "mine_TRAIN.tsv"
    file.write_text("1\t0.5\t0.25\n2\t0.75\t1.0\n")
    with pytest.raises(DatasetError) as err:
        catalogue.load(str(file), tmp_path)
    assert "does not exist" not in str(err.value)
    assert "is a file, and this takes catalogue dataset names: read the file with tshub.Dataset.from_file" in str(
        err.value
    )
    assert tshub.Dataset.from_file(str(file)).X.shape == (2, 1, 2)  # what the message says works


def test_summary_reads_past_the_bom(shared_data: Path) -> None:
    rows = catalogue.ucr_summary(shared_data)
    assert len(rows) == 128 and "ID" in rows[0]
    gun = next(r for r in rows if r["Name"] == "GunPoint")
    assert gun["Train"] == "50" and gun["Type"] == "Motion"


# ---------------------------------------------------------------- generated archive: root resolution, sources


@pytest.fixture
def tiny_archive(tmp_path: Path) -> Path:
    folder = tmp_path / "data" / "UCRArchive_2018" / "Toy"
    folder.mkdir(parents=True)
    for split, rows in (("TRAIN", "1\t0\t1\n2\t1\t0\n"), ("TEST", "2\t1\t1\n")):
        (folder / f"Toy_{split}.tsv.gz").write_bytes(gzip.compress(rows.encode()))
    (tmp_path / "data" / "UCRArchive_2018_trainonly").mkdir()
    (tmp_path / "data" / "UCRArchive_2018_trainonly" / "Solo_TRAIN.tsv").write_text("1\t5\t6\n")
    return tmp_path / "data"


def test_root_from_environment_and_archive_folder(tiny_archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSHUB_DATA", str(tiny_archive))
    ds = tshub.datasets.load("toy")
    assert ds.name == "Toy" and ds.X.shape == (3, 1, 2) and ds.meta["domain"] == "UCR"  # no DataSummary here
    assert catalogue.load("Toy", tiny_archive / "UCRArchive_2018").X.shape == (3, 1, 2)
    names = [e["name"] for e in tshub.datasets.list_datasets() if e["collection"] != "sources"]
    assert names == ["Solo", "Toy"]
    assert set(catalogue.load("solo").splits) == {"train"}


def test_missing_root_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="that folder does not exist"):
        catalogue.load("GunPoint", tmp_path / "nowhere")


def test_sources_take_precedence_over_the_archive(tiny_archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(catalogue, "source_loaders", lambda: {"TOY": lambda root: calls.append(root) or "source"})
    assert catalogue.load("toy", tiny_archive) == "source" and calls == [tiny_archive]
    monkeypatch.undo()
    assert catalogue.load("Toy", tiny_archive).name == "Toy"


@pytest.mark.parametrize("options", [{"seed": 3}, {"missing": "drop"}, {"variable_length": "pad"}])
def test_source_given_reader_options_refuses_them(options: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    """A source loader takes no options: ``load("EMG", seed=3)`` must not quietly load the default instead."""
    calls = []
    monkeypatch.setattr(catalogue, "source_loaders", lambda: {"EMG": lambda root: calls.append(root) or "source"})
    with pytest.raises(DatasetError, match=f"EMG.*takes no options.*{next(iter(options))}"):
        catalogue.load("EMG", **options)
    assert calls == []


def test_a_source_takes_its_loaders_own_options_and_names_them_when_refusing(shared_data: Path) -> None:
    """Regression: every option was refused, so the catalogue could not load EMG split by recording."""
    ds = catalogue.load("EMG", shared_data, by_recording=True, seed=1)
    assert ds.meta["split_protocol"]["rule"] == "group_split" and ds.meta["split_protocol"]["seed"] == 1
    with pytest.raises(DatasetError, match="EMG.*takes the options by_recording, seed.*given: by_speaker"):
        catalogue.load("EMG", shared_data, by_speaker=True)


def test_a_set_loaded_from_another_root_is_checked_against_that_roots_official_split(
    ucr_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: holds_official_split compared a set with the one under the default data root, so GunPoint loaded
    with root= while TSHUB_DATA named another folder did not hold its official split, and the advice dropped the
    published reference figures."""
    import shutil

    copy = tmp_path / "elsewhere"
    shutil.copytree(ucr_root / "GunPoint", copy / ucr_root.name / "GunPoint")
    monkeypatch.setenv("TSHUB_DATA", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    assert catalogue.holds_official_split(catalogue.load("GunPoint", root=copy))
