"""Source readers (Otović et al. protocol): real data where it is shared, small files in the real layout otherwise."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from itertools import product
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.io import wavfile
from scipy.signal import resample_poly

from tshub.data import Dataset, DatasetError
from tshub.data.catalogue import data_root
from tshub.data.catalogue import load as catalogue_load
from tshub.data.sources import (
    SOURCE_LOADERS,
    load_emg,
    load_lendb,
    load_lomax,
    load_seisbench,
    load_sp500,
    load_speech_commands,
    load_stead,
)


def assert_partition(ds, n: int) -> None:
    """train/val/test are disjoint and cover every series."""
    assert set(ds.splits) == {"train", "val", "test"}
    together = np.concatenate([ds.splits[s] for s in ("train", "val", "test")])
    assert len(together) == n and len(np.unique(together)) == n


def test_loader_names() -> None:
    assert set(SOURCE_LOADERS) == {"LOMAX", "LEN-DB", "STEAD", "SPEECH", "EMG", "SP500", "SEISMIC-CX"}


# ----------------------------------------------------------------------------- S&P 500 (real)
def test_sp500_gives_the_papers_22681_windows(shared_data: Path) -> None:
    file = shared_data / "SP500" / "GSPC_1927-12-30_2018-11-26.csv"
    with open(file, newline="") as fh:
        rows = list(csv.DictReader(fh))
    close = np.array([float(r["Close"]) for r in rows])
    assert len(close) == 22834

    ds = SOURCE_LOADERS["SP500"](shared_data)
    assert ds.X.shape == (22681, 1, 50) and ds.task == "regression"
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 15932, "val": 3374, "test": 3375}
    assert_partition(ds, 22681)
    # chronology: train, val, test are consecutive blocks in time; no window crosses a part boundary
    assert ds.splits["train"][-1] + 1 == ds.splits["val"][0] and ds.splits["val"][-1] + 1 == ds.splits["test"][0]
    for part, first_row in (("train", 0), ("val", 15983), ("test", 19408)):
        idx = ds.splits[part]
        np.testing.assert_array_equal(ds.X[idx[0], 0], close[first_row : first_row + 50].astype(np.float32))
        assert ds.y[idx[0]] == close[first_row + 50]  # targets keep float64
        # consecutive windows: the target of one is the last input of the next
        np.testing.assert_array_equal(ds.y[idx[:-1]].astype(np.float32), ds.X[idx[1:], 0, -1])
    assert ds.y[-1] == close[-2]  # the last possible window of each part is dropped (tstl)
    dates = [r["Date"] for r in rows]
    ranges = ds.meta["split_ranges"]
    assert ranges["train"]["last_target"] < ranges["val"]["first_target"] == dates[15983 + 50]
    assert ranges["val"]["last_target"] < ranges["test"]["first_target"] == dates[19408 + 50]
    assert ds.meta["domain"] == "finance" and "^GSPC" in ds.meta["citation"]


def test_sp500_windows_each_part_and_rejects_bad_rows(tmp_path: Path) -> None:
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    days = (date(2000, 1, 1) + timedelta(days=k) for k in range(400))
    lines += [f"{day},1,1,1,{d * 100 + h},1,0" for day, (d, h) in zip(days, product(range(1, 11), range(40)))]
    good = tmp_path / "good.csv"
    good.write_text("\n".join(lines) + "\n")
    ds = load_sp500(good)
    rows = (280, 60, 60)  # cut at floor(70 %) and floor(85 %) of 400 rows, each part loses 51
    assert {k: len(v) for k, v in ds.splits.items()} == {n: r - 51 for n, r in zip(("train", "val", "test"), rows)}
    # row 50 is day 2 hour 10; val starts at row 280, day 8 hour 0
    assert ds.y[0] == 210 and ds.X[len(ds.splits["train"]), 0, 0] == 800

    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines[:5] + ["2000-02-01T00,null,null,null,null,null,null"] + lines[5:]) + "\n")
    with pytest.raises(DatasetError, match=r"bad\.csv line 6: Close 'null'"):
        load_sp500(bad)
    unsorted = tmp_path / "unsorted.csv"
    unsorted.write_text("\n".join([lines[0], lines[2], lines[1]] + lines[3:]) + "\n")
    with pytest.raises(DatasetError, match="line 3: date .* increasing date order"):
        load_sp500(unsorted)


# ----------------------------------------------------------------------------- EMG (real)
def test_emg_roshambo_windows(shared_data: Path) -> None:
    folder = shared_data / "EMG-Roshambo"
    ds = SOURCE_LOADERS["EMG"](shared_data)
    assert ds.X.shape == (14393, 3, 80) and ds.task == "classification"
    assert ds.classes == ["paper", "rock", "scissor"]
    assert np.bincount(ds.y).tolist() == [4805, 4778, 4810]
    assert_partition(ds, 14393)
    for c in range(3):  # stratified 70/15/15 per class
        counts = np.array([np.sum(ds.y[ds.splits[s]] == c) for s in ("train", "val", "test")])
        assert np.all(np.abs(counts - counts.sum() * np.array([0.7, 0.15, 0.15])) < 1)

    # independent check on the first recording: its first kept window, channels 0, 2, 5, single label
    emg = np.load(folder / "subject01_session01_emg.npy")
    ann = np.load(folder / "subject01_session01_ann.npy").astype(str)
    start = next(s for s in range(0, len(ann) - 79, 10) if len(set(ann[s : s + 80])) == 1 and ann[s] != "none")
    np.testing.assert_array_equal(ds.X[0], emg[start : start + 80, [0, 2, 5]].T.astype(np.float32))
    assert ds.classes[ds.y[0]] == ann[start]
    n_single = sum(len(set(ann[s : s + 80])) == 1 and ann[s] != "none" for s in range(0, len(ann) - 79, 10))
    assert n_single < len(range(0, len(ann) - 79, 10))  # mixed and 'none' windows were dropped here
    assert ds.meta["sampling_rate"] == 200.0 and ds.meta["channels"] == [0, 2, 5]


def test_emg_label_length_mismatch(tmp_path: Path) -> None:
    np.save(tmp_path / "s1_emg.npy", np.zeros((100, 8), dtype=np.int64))
    np.save(tmp_path / "s1_ann.npy", np.array(["rock"] * 99))
    with pytest.raises(DatasetError, match=r"s1_ann\.npy: labels of shape \(99,\).*expected 100 strings"):
        load_emg(tmp_path)


# ----------------------------------------------------------------------------- Speech Commands (real)
def _expected_clip(wav: Path) -> np.ndarray:
    rate, pcm = wavfile.read(wav)
    audio = resample_poly(pcm / 32768.0, 1, rate // 8000)[:8000]
    return np.pad(audio, (0, 8000 - len(audio))).astype(np.float32)


def test_speech_commands_8khz_and_official_lists(shared_data: Path) -> None:
    folder = shared_data / "SPEECH-sample"
    ds = SOURCE_LOADERS["SPEECH"](shared_data)
    assert ds.X.shape == (300, 1, 8000) and len(ds.classes) == 30 and ds.meta["sampling_rate"] == 8000.0
    assert np.bincount(ds.y).tolist() == [10] * 30
    assert_partition(ds, 300)
    where = np.empty(300, dtype=object)
    for split, idx in ds.splits.items():
        where[idx] = split
    listed = {
        "test": (folder / "testing_list.txt").read_text().split(),
        "val": (folder / "validation_list.txt").read_text().split(),
    }
    present = {s: [r for r in rels if (folder / r).is_file()] for s, rels in listed.items()}
    assert len(ds.splits["test"]) == len(present["test"]) == 51
    assert len(ds.splits["val"]) == len(present["val"]) == 44
    for split, rels in present.items():
        for rel in rels[:15]:
            expected = _expected_clip(folder / rel)
            row = int(np.argmin(np.abs(ds.X[:, 0] - expected).max(axis=1)))
            np.testing.assert_allclose(ds.X[row, 0], expected, atol=1e-6)
            assert where[row] == split and ds.classes[ds.y[row]] == rel.split("/")[0]
    short = next(w for w in sorted(folder.glob("*/*.wav")) if len(wavfile.read(w)[1]) < 16000)
    n_kept = len(wavfile.read(short)[1]) // 2
    row = int(np.argmin(np.abs(ds.X[:, 0, :n_kept] - _expected_clip(short)[:n_kept]).max(axis=1)))
    assert np.all(ds.X[row, 0, n_kept + 1 :] == 0)  # zero padding to 1 s


def _write_wav(path: Path, rate: int, n: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, np.random.default_rng(seed).integers(-3000, 3000, n).astype(np.int16))


def test_speech_random_split_without_lists_and_half_lists(tmp_path: Path) -> None:
    for w, word in enumerate(("yes", "no")):
        for k in range(10):
            _write_wav(tmp_path / word / f"c{k}.wav", 16000, 17000, seed=10 * w + k)
    _write_wav(tmp_path / "_background_noise_" / "noise.wav", 16000, 32000, seed=99)
    ds = load_speech_commands(tmp_path)
    assert ds.X.shape == (20, 1, 8000) and ds.classes == ["no", "yes"]
    for c in range(2):  # 10 clips per word: 7 train, 1.5 val, 1.5 test rounded to whole clips
        counts = [int(np.sum(ds.y[ds.splits[s]] == c)) for s in ("train", "val", "test")]
        assert counts[0] == 7 and sorted(counts[1:]) == [1, 2]
    (tmp_path / "testing_list.txt").write_text("yes/c0.wav\n")
    with pytest.raises(DatasetError, match="not .*validation_list.txt"):
        load_speech_commands(tmp_path)


def test_speech_lists_that_name_no_clip_are_refused_not_left_empty(tmp_path: Path) -> None:
    """Regression: lists naming clips another way (here './yes/c0.wav', or clips of another copy) matched none of
    the clips, and the split came out empty without a word; the loader now says what the lists must name."""
    for word in ("yes", "no"):
        for k in range(3):
            _write_wav(tmp_path / word / f"c{k}.wav", 8000, 8000, seed=k)
    (tmp_path / "testing_list.txt").write_text("./yes/c0.wav\n./no/c0.wav\n")
    (tmp_path / "validation_list.txt").write_text("yes/c1.wav\nno/c1.wav\n")
    with pytest.raises(DatasetError, match=r"none of the 6 clips is listed in testing_list.txt.*'\./no/c0\.wav'"):
        load_speech_commands(tmp_path)
    (tmp_path / "testing_list.txt").write_text("yes/c0.wav\nno/c0.wav\n")
    assert {k: len(v) for k, v in load_speech_commands(tmp_path).splits.items()} == {"train": 2, "val": 2, "test": 2}


# ----------------------------------------------------------------------------- SeisBench layout (real + small)
def test_seismic_cx(shared_data: Path) -> None:
    folder = shared_data / "SEISMIC-CX"
    ds = SOURCE_LOADERS["SEISMIC-CX"](shared_data)
    with open(folder / "metadata.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert ds.X.shape == (100, 3, 1200) and ds.task == "regression"
    np.testing.assert_array_equal(ds.y, np.array([float(r["source_magnitude"]) for r in rows]))
    official = {"train": "train", "val": "dev", "test": "test"}
    for split, name in official.items():
        assert ds.splits[split].tolist() == [i for i, r in enumerate(rows) if r["split"] == name]
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 60, "val": 10, "test": 30}
    with h5py.File(folder / "waveforms.hdf5", "r") as h5:
        np.testing.assert_array_equal(ds.X[60], h5["data/bucket1"][0].astype(np.float32))
        np.testing.assert_array_equal(ds.X[99], h5["data/bucket2"][29].astype(np.float32))
    assert ds.meta["sampling_rate"] == 20.0 and ds.meta["units"] == "counts" and ds.meta["domain"] == "seismology"
    # the components by name (Z, N, E here; STEAD's E, N, Z), so that a fine-tune lines them up with a source's
    assert ds.meta["components"] == "ZNE" and ds.meta["channel_names"] == ["Z", "N", "E"]
    np.testing.assert_array_equal(ds.ordered_like(["E", "N", "Z"]).X[:, 0], ds.X[:, 2])


def _write_seisbench(folder: Path, names: list[str]) -> np.ndarray:
    folder.mkdir()
    data = np.random.default_rng(0).normal(size=(4, 3, 30))
    with h5py.File(folder / "waveforms.hdf5", "w") as h5:
        h5["data/bucket0"] = data
    with open(folder / "metadata.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["trace_name", "source_magnitude"])
        writer.writerows([name, 1.5 + i] for i, name in enumerate(names))
    return data


def test_seisbench_without_split_column_and_bad_rows(tmp_path: Path) -> None:
    data = _write_seisbench(tmp_path / "ok", [f"bucket0${i},:3,:30" for i in range(4)] + ["bucket0$1,:3,:30"] * 16)
    ds = load_seisbench(tmp_path / "ok")
    assert ds.X.shape == (20, 3, 30) and {k: len(v) for k, v in ds.splits.items()} == {"train": 14, "val": 3, "test": 3}
    np.testing.assert_array_equal(ds.X[2], data[2].astype(np.float32))
    _write_seisbench(tmp_path / "bucket", ["bucket0$0,:3,:30", "bucket3$0,:3,:30"])
    with pytest.raises(DatasetError, match=r"metadata\.csv line 3: trace_name 'bucket3\$0,:3,:30' points to 'data/b"):
        load_seisbench(tmp_path / "bucket")
    _write_seisbench(tmp_path / "row", ["bucket0$7,:3,:30"])
    with pytest.raises(DatasetError, match="row 7 of 'data/bucket0', which has 4 rows"):
        load_seisbench(tmp_path / "row")


# ----------------------------------------------------------------------------- LEN-DB (small file, real layout)
def _write_lendb(file: Path, n: int = 20, shape: tuple[int, int] = (3, 540)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(n, *shape)) * 1e-6).astype(np.float32)
    mags = np.round(rng.uniform(0.5, 5, n), 2)
    file.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(file, "w") as h5:
        for i in range(n):
            trace = h5.create_dataset(f"EQ/ev{i:03d}", data=X[i])
            trace.attrs.update({"mag": mags[i], "dist": 12.5, "net": "IV"})
        h5.create_dataset("AN/noise000", data=np.zeros(shape, dtype=np.float32))
    return X, mags


def test_lendb_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    X, mags = _write_lendb(tmp_path / "LEN-DB" / "LEN-DB.hdf5")
    ds = load_lendb(tmp_path / "LEN-DB" / "LEN-DB.hdf5")
    np.testing.assert_array_equal(ds.X, X)
    np.testing.assert_array_equal(ds.y, mags)
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 14, "val": 3, "test": 3}
    assert_partition(ds, 20)
    assert ds.meta["sampling_rate"] == 20.0 and "Magrini" in ds.meta["citation"]
    # the data root, the env default and the catalogue entry all resolve to the same file
    np.testing.assert_array_equal(SOURCE_LOADERS["LEN-DB"](tmp_path).X, X)
    monkeypatch.setenv("TSHUB_DATA", str(tmp_path))
    assert data_root() == tmp_path
    np.testing.assert_array_equal(SOURCE_LOADERS["LEN-DB"](None).y, ds.y)
    small = load_lendb(tmp_path, limit=5)
    assert len(small.X) == 5 and all(any(np.array_equal(x, r) for r in X) for x in small.X)


def test_lendb_malformed(tmp_path: Path) -> None:
    _write_lendb(tmp_path / "wrong.hdf5", n=2, shape=(3, 500))
    with pytest.raises(DatasetError, match=r"wrong\.hdf5: trace 'EQ/ev000' has shape \(3, 500\), expected \(3, 540\)"):
        load_lendb(tmp_path / "wrong.hdf5")
    with h5py.File(tmp_path / "nogroup.hdf5", "w") as h5:
        h5.create_dataset("AN/noise", data=np.zeros((3, 540)))
    with pytest.raises(DatasetError, match=r"nogroup\.hdf5: missing HDF5 group 'EQ'"):
        load_lendb(tmp_path / "nogroup.hdf5")
    with h5py.File(tmp_path / "nomag.hdf5", "w") as h5:
        h5.create_dataset("EQ/ev", data=np.zeros((3, 540))).attrs["dist"] = 3.0
    with pytest.raises(DatasetError, match=r"trace 'EQ/ev' has no attribute 'mag' \(its attributes: \['dist'\]\)"):
        load_lendb(tmp_path / "nomag.hdf5")
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(DatasetError, match=r"text\.hdf5: cannot be read as HDF5"):
        load_lendb(tmp_path / "text.hdf5")
    with pytest.raises(DatasetError, match="LEN-DB data not found"):
        load_lendb(tmp_path / "absent")


def test_a_missing_source_file_says_where_tshub_looked_and_the_call_that_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: ``load("LEN-DB")`` without the file said "<data root>: no file matching LEN-DB.hdf5 or *.hdf5 or
    *.h5; pass the file explicitly", naming neither the LEN-DB/ folder it looked for nor how to pass the file."""
    import re

    import tshub

    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("TSHUB_DATA", str(root))
    with pytest.raises(DatasetError) as caught:
        tshub.datasets.load("LEN-DB")
    said = str(caught.value)
    assert f"{root / 'LEN-DB'}" in said and f"{root}" in said  # both places it looked
    assert "LEN-DB.hdf5, *.hdf5 or *.h5" in said  # the file names it reads
    call = re.search(r"tshub\.datasets\.load\('LEN-DB', root='([^']+)'\)", said)
    assert call is not None, said
    X, _ = _write_lendb(tmp_path / "download" / "LEN-DB.hdf5", n=8)
    for root_given in (tmp_path / "download" / "LEN-DB.hdf5", tmp_path / "download"):  # the call it names works
        assert np.array_equal(tshub.datasets.load("LEN-DB", root=root_given).X, X)
    with pytest.raises(DatasetError, match=r"no file named \*\.hdf5 or \*\.h5 in .*tshub\.datasets\.load\('LOMAX'"):
        tshub.datasets.load("LOMAX")


# ----------------------------------------------------------------------------- STEAD (small files, real layout)
def _write_stead(folder: Path, rows: list[tuple[str, str, str]], traces: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "waveforms_11_13_19.hdf5", "w") as h5:
        for name, trace in traces.items():
            h5.create_dataset(f"data/{name}", data=trace)
    with open(folder / "merge.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["network_code", "trace_name", "trace_category", "source_magnitude"])
        writer.writerows(["IV", *row] for row in rows)


def test_stead_round_trip_and_malformed(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    traces = {f"ST{i}.IV_2018_EV": rng.normal(size=(6000, 3)).astype(np.float32) * 500 for i in range(5)}
    traces["NS.IV_NO"] = np.zeros((6000, 3), dtype=np.float32)
    rows = [
        ("ST0.IV_2018_EV", "earthquake_local", "2.1"),
        ("NS.IV_NO", "noise", ""),
        ("ST1.IV_2018_EV", "earthquake_local", "3.4"),
        ("ST2.IV_2018_EV", "earthquake_local", "0.7"),
        ("ST3.IV_2018_EV", "earthquake_local", "1.5"),
        ("ST4.IV_2018_EV", "earthquake_local", "2.8"),
    ]
    _write_stead(tmp_path / "STEAD", rows, traces)
    ds = SOURCE_LOADERS["STEAD"](tmp_path)
    assert ds.X.shape == (5, 3, 6000)  # five events: the fewest that give each of the three splits one
    for k in range(5):
        np.testing.assert_array_equal(ds.X[k], traces[f"ST{k}.IV_2018_EV"].T)
    np.testing.assert_array_equal(ds.y, np.array([2.1, 3.4, 0.7, 1.5, 2.8]))
    assert_partition(ds, 5)

    _write_stead(tmp_path / "missing", rows + [("GONE.IV", "earthquake_local", "1.0")], traces)
    with pytest.raises(DatasetError, match=r"merge\.csv line 8: trace 'GONE\.IV' has no dataset 'data/GONE\.IV'"):
        load_stead(tmp_path / "missing")
    _write_stead(tmp_path / "nomag", [("ST0.IV_2018_EV", "earthquake_local", "")], traces)
    with pytest.raises(DatasetError, match=r"merge\.csv line 2 \(source_magnitude\): magnitude '' is not a single"):
        load_stead(tmp_path / "nomag" / "waveforms_11_13_19.hdf5")
    _write_stead(
        tmp_path / "shape", [("ST0.IV_2018_EV", "earthquake_local", "1")], {"ST0.IV_2018_EV": np.zeros((3, 6000))}
    )
    with pytest.raises(DatasetError, match=r"trace 'data/ST0\.IV_2018_EV' has shape \(3, 6000\), expected \(6000, 3\)"):
        load_stead(tmp_path / "shape")
    (tmp_path / "nocol").mkdir()
    (tmp_path / "nocol" / "merge.csv").write_text("trace_name,source_magnitude\nx,1\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['trace_category'\]"):
        load_stead(tmp_path / "shape" / "waveforms_11_13_19.hdf5", csv_path=tmp_path / "nocol" / "merge.csv")


# ----------------------------------------------------------------------------- LOMAX (small file, assumed layout)
def _write_lomax(
    file: Path,
    channels_last: bool = False,
    skip: str | None = None,
) -> dict[str, tuple[np.ndarray, float]]:
    rng = np.random.default_rng(3)
    written: dict[str, tuple[np.ndarray, float]] = {}
    with h5py.File(file, "w") as h5:
        for g, group in enumerate(("train", "validate", "test", "test2", "events")):
            if group == skip:
                continue
            for i in range(4):
                trace = rng.normal(size=(3, 1001)).astype(np.float32)
                mag = round(2.0 + g + i / 10, 2)
                stored = h5.create_dataset(f"{group}/tr{g}{i}", data=trace.T if channels_last else trace)
                stored.attrs["magnitude"] = mag
                written[f"tr{g}{i}"] = (trace, mag)
        # a duplicate of a train trace in events, and an event group carrying the magnitude of its trace
        h5.create_dataset("events/tr00", data=np.zeros((1001, 3) if channels_last else (3, 1001), dtype=np.float32))
        event = h5.create_group("events/ev9")
        event.attrs["magnitude"] = 4.25
        trace = rng.normal(size=(3, 1001)).astype(np.float32)
        event.create_dataset("ST1", data=trace.T if channels_last else trace)
        written["ev9/ST1"] = (trace, 4.25)
    return written


@pytest.mark.parametrize("channels_last", [False, True])
def test_lomax_merges_groups_removes_duplicates(tmp_path: Path, channels_last: bool) -> None:
    written = _write_lomax(tmp_path / "lomax.hdf5", channels_last)
    ds = load_lomax(tmp_path / "lomax.hdf5")
    assert ds.X.shape == (21, 3, 1001) and ds.meta["stored_channels_last"] is channels_last
    for trace, mag in written.values():  # every trace once, the train copy of tr00 (not the zeros duplicate)
        row = [k for k in range(len(ds.X)) if np.array_equal(ds.X[k], trace)]
        assert len(row) == 1 and ds.y[row[0]] == mag
    assert not np.any(np.all(ds.X == 0, axis=(1, 2)))
    assert_partition(ds, 21)


def test_lomax_malformed(tmp_path: Path) -> None:
    _write_lomax(tmp_path / "partial.hdf5", skip="test2")
    with pytest.raises(DatasetError, match=r"partial\.hdf5: missing HDF5 group 'test2'"):
        load_lomax(tmp_path / "partial.hdf5")
    assert len(load_lomax(tmp_path / "partial.hdf5", groups=("train", "validate", "test", "events")).X) == 17
    with h5py.File(tmp_path / "nomag.hdf5", "w") as h5:
        h5.create_dataset("train/a", data=np.zeros((3, 1001))).attrs["magnitude"] = 2.0
        h5.create_dataset("train/b", data=np.zeros((3, 1001)))
    with pytest.raises(DatasetError, match=r"nomag\.hdf5: trace 'train/b' has no attribute 'magnitude'"):
        load_lomax(tmp_path / "nomag.hdf5", groups=("train",))
    with h5py.File(tmp_path / "shape.hdf5", "w") as h5:
        h5.create_dataset("train/a", data=np.zeros((3, 1001))).attrs["magnitude"] = 2.0
        h5.create_dataset("train/b", data=np.zeros((3, 1000))).attrs["magnitude"] = 2.0
    with pytest.raises(DatasetError, match=r"trace 'train/b' has shape \(3, 1000\), expected \(3, 1001\)"):
        load_lomax(tmp_path / "shape.hdf5", groups=("train",))


def test_sp500_dates_must_be_iso_to_be_checked_in_order(tmp_path: Path) -> None:
    """US dates compared as text: 12/01/1999 'followed' 01/02/2000, so a file in reverse order passed the check."""
    lines = ["Date,Close"] + [
        f"{m:02d}/{d:02d}/{y}" + f",{i}" for i, (y, m, d) in enumerate([(2000, 1, 2), (1999, 12, 1)])
    ]
    us = tmp_path / "us.csv"
    us.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"us\.csv line 2: date '01/02/2000' is not an ISO date \(YYYY-MM-DD"):
        load_sp500(us)


@pytest.mark.parametrize(
    "labels, pattern",
    [
        (["none"] * 200, r"no 80-sample window of its 1 recording\(s\) carries a single gesture other than 'none'"),
        (["rock", "paper"] * 100, r"no 80-sample window"),
    ],
)
def test_emg_without_a_usable_window_says_why(tmp_path: Path, labels: list[str], pattern: str) -> None:
    """It failed inside numpy ('need at least one array to concatenate')."""
    np.save(tmp_path / "s1_emg.npy", np.zeros((200, 8), dtype=np.int64))
    np.save(tmp_path / "s1_ann.npy", np.array(labels))
    with pytest.raises(DatasetError, match=pattern):
        load_emg(tmp_path)


def test_emg_refuses_non_finite_samples(tmp_path: Path) -> None:
    emg = np.zeros((200, 8))
    emg[120, 2] = np.nan
    np.save(tmp_path / "s1_emg.npy", emg)
    np.save(tmp_path / "s1_ann.npy", np.array(["rock"] * 200))
    with pytest.raises(DatasetError, match=r"s1_emg\.npy: sample 120 is NaN or infinite"):
        load_emg(tmp_path)


@pytest.mark.parametrize(
    "pcm, pattern",
    [(np.zeros(0, np.int16), "the clip has no samples"), (np.full(16000, np.nan, np.float32), "the clip holds NaN")],
)
def test_speech_refuses_an_empty_or_non_finite_clip(tmp_path: Path, pcm: np.ndarray, pattern: str) -> None:
    """An empty clip became 8000 zeros labelled as its word, a NaN one a series of NaN, both silently."""
    for k in range(4):
        _write_wav(tmp_path / "yes" / f"c{k}.wav", 16000, 16000, seed=k)
    wavfile.write(tmp_path / "yes" / "broken.wav", 16000, pcm)
    with pytest.raises(DatasetError, match=rf"broken\.wav: {pattern}"):
        load_speech_commands(tmp_path)


def test_emg_by_recording_keeps_each_recordings_overlapping_windows_in_one_split(shared_data: Path) -> None:
    """Otović's random split puts windows sharing 70 of their 80 samples in train and test; by recording, none."""
    ds = load_emg(shared_data / "EMG-Roshambo", by_recording=True)
    assert ds.X.shape == (14393, 3, 80)
    assert_partition(ds, 14393)
    groups = ds.meta["split_protocol"]["groups"]
    assert [len(groups[s]) for s in ("train", "val", "test")] == [21, 5, 4]  # of the 30 recordings
    assert not set(groups["train"]) & (set(groups["val"]) | set(groups["test"]))
    for split, recordings in groups.items():  # every window of a recording is in that recording's split
        assert all(r.startswith("subject") for r in recordings)
        assert set(np.unique(ds.y[ds.splits[split]])) == {0, 1, 2}
    first = groups["train"][0]
    emg = np.load(shared_data / "EMG-Roshambo" / f"{first}_emg.npy")[:, [0, 2, 5]].astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(emg, 80, axis=0)[::10]
    train_windows = {w.tobytes() for w in ds.X[ds.splits["train"]]}
    others = {w.tobytes() for s in ("val", "test") for w in ds.X[ds.splits[s]]}
    assert any(w.tobytes() in train_windows for w in windows)
    assert not any(w.tobytes() in others for w in windows)


def test_speech_by_speaker_keeps_each_speakers_clips_in_one_split(tmp_path: Path) -> None:
    """Without the official lists, the random split put clips of one speaker in train and test; by speaker, none."""
    speakers = [f"{k:08x}" for k in range(10)]
    for word in ("yes", "no"):
        for s, speaker in enumerate(speakers):
            for take in range(2):
                _write_wav(tmp_path / word / f"{speaker}_nohash_{take}.wav", 8000, 8000, seed=10 * s + take)
    mixed = load_speech_commands(tmp_path)
    split = load_speech_commands(tmp_path, by_speaker=True)
    names = np.array(sorted(f"{w.parent.name}/{w.name}" for w in tmp_path.glob("*/*.wav")))
    np.testing.assert_array_equal(split.X, mixed.X)  # the same clips, split otherwise

    def speakers_of(ds: Dataset, part: str) -> set[str]:
        return {n.split("/")[1].split("_nohash_")[0] for n in names[ds.splits[part]]}

    assert speakers_of(mixed, "train") & speakers_of(mixed, "test")  # the leak the option removes
    parts = [speakers_of(split, s) for s in ("train", "val", "test")]
    assert [len(p) for p in parts] == [7, 2, 1] and set().union(*parts) == set(speakers)
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_stead_by_event_keeps_each_events_traces_in_one_split(tmp_path: Path) -> None:
    """Otović's random split puts the traces of one event (one magnitude, several stations) in several splits;
    ``by_event`` splits whole events (merge.csv's source_id)."""
    rng = np.random.default_rng(3)
    rows = [(f"S{s}.E{e}_EV", f"event{e}", f"{1 + e / 4:.2f}") for e in range(10) for s in range(3)]
    _write_stead(tmp_path / "STEAD", [(name, "earthquake_local", mag) for name, _, mag in rows], {})
    with h5py.File(tmp_path / "STEAD" / "waveforms_11_13_19.hdf5", "a") as h5:
        for name, _, _ in rows:
            h5.create_dataset(f"data/{name}", data=rng.normal(size=(6000, 3)).astype(np.float32))
    with open(tmp_path / "STEAD" / "merge.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(
            [["trace_name", "trace_category", "source_magnitude", "source_id"]]
            + [[name, "earthquake_local", mag, event] for name, event, mag in rows]
        )
    events = np.array([event for _, event, _ in rows])

    def events_of(ds: Dataset, part: str) -> set[str]:
        return set(events[ds.splits[part]])

    mixed = load_stead(tmp_path)
    assert events_of(mixed, "train") & (events_of(mixed, "val") | events_of(mixed, "test"))  # the leak
    # the catalogue passes a loader's every option: a merge.csv kept apart from the traces was refused
    moved = tmp_path / "tables" / "merge.csv"
    moved.parent.mkdir()
    (tmp_path / "STEAD" / "merge.csv").rename(moved)
    np.testing.assert_array_equal(catalogue_load("STEAD", root=tmp_path, csv_path=moved).X, mixed.X)
    moved.rename(tmp_path / "STEAD" / "merge.csv")
    split = load_stead(tmp_path, by_event=True)
    np.testing.assert_array_equal(split.X, mixed.X)
    parts = [events_of(split, s) for s in ("train", "val", "test")]
    assert [len(p) for p in parts] == [7, 2, 1] and not (
        parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2]
    )
    (tmp_path / "STEAD" / "merge.csv").write_text(
        "trace_name,trace_category,source_magnitude\nS0.E0_EV,earthquake_local,1\n"
    )
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['source_id'\]"):
        load_stead(tmp_path, by_event=True)
