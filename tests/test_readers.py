"""Readers: every format on small generated files, NaN padding and gaps, and one test per malformed case."""

from __future__ import annotations

import csv
import gzip
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

from server import attacks
from tshub.cli import build_parser, load_data, main
from tshub.data import Dataset, DatasetError
from tshub.data.catalogue import dataset_from
from tshub.data.readers import ReadLimits, parse_file, regularize
from tshub.data.readers.lengths import ReadOptionError
from tshub.datasets import read_file, read_split_files

# ---------------------------------------------------------------- helpers


def write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def tsv(rows: list[list[object]]) -> str:
    return "".join("\t".join(str(v) for v in row) + "\n" for row in rows)


TS_MULTIVARIATE_REGRESSION = """# a comment
@problemName TinyRegression
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength true
@seriesLength 4
@targetlabel true
@data
1.0,2.0,3.0,4.0:5.0,6.0,7.0,8.0:0.25
1.5,?,3.5,4.5:5.5,6.5,7.5,8.5:1.75
2.0,3.0,4.0,5.0:6.0,7.0,8.0,9.0:-3.5
"""

TS_UNEQUAL_CLASSES = """@problemName Unequal
@timeStamps false
@univariate true
@equalLength false
@classLabel true up down
@data
1,2,3,4:up
4,3:down
5,6,7:up
"""

ARFF_RELATIONAL = """@relation TinyUEA

@attribute relationalAtt relational
@attribute t0 numeric
@attribute t1 numeric
@attribute t2 numeric
@end relationalAtt
@attribute activity {walk,run}

@data
'1,2,3\\n4,5,6',walk
'7,8,9\\n10,11,12',run
'0,0,1\\n1,0,0',run
"""

ARFF_FLAT = """% UCR-style univariate ARFF
@RELATION Tiny
@ATTRIBUTE att1 NUMERIC
@ATTRIBUTE att2 NUMERIC
@ATTRIBUTE att3 REAL
@ATTRIBUTE target {1,2,10}
@DATA
0.1,0.2,0.3,2
0.4,0.5,0.6,10
0.7,0.8,0.9,1
"""


# ---------------------------------------------------------------- UCR text formats


def test_ucr_tsv_gz_labels_shapes_and_provenance(tmp_path: Path) -> None:
    path = write(tmp_path / "Toy_TRAIN.tsv.gz", tsv([[2, 0.5, 1.5, 2.5], [-1, 1, 2, 3], [10, 3, 2, 1]]))
    ds = read_file(path)
    assert ds.name == "Toy" and ds.X.shape == (3, 1, 3) and ds.X.dtype == np.float32
    assert ds.task == "classification" and ds.classes == ["-1", "2", "10"]  # numeric order, not text order
    assert [ds.classes[i] for i in ds.y] == ["2", "-1", "10"]
    np.testing.assert_allclose(ds.X[0, 0], [0.5, 1.5, 2.5])
    assert ds.meta["format"] == "ucr-tsv" and ds.meta["source_files"] == [str(path)]
    assert len(ds.meta["source_md5"][0]) == 32
    assert ds.splits == {}


def test_old_ucr_comma_and_whitespace_files(tmp_path: Path) -> None:
    comma = write(tmp_path / "Old_TRAIN", "1,0.1,0.2,0.3\n2,0.4,0.5,0.6\n")
    spaces = write(
        tmp_path / "old.txt",
        "  1.0000000e+00  1.0000000e-01  2.0e-01  3.0e-01\n  2.0000000e+00  4.0e-01  5.0e-01  6.0e-01\n",
    )
    a, b = read_file(comma), read_file(spaces)
    assert a.meta["format"] == b.meta["format"] == "ucr-txt"
    np.testing.assert_allclose(a.X, b.X)
    assert a.classes == b.classes == ["1", "2"] and a.name == "Old"


def test_read_split_files_gives_train_and_test_indices(tmp_path: Path) -> None:
    train = write(tmp_path / "T_TRAIN.tsv", tsv([[1, 1, 2], [2, 3, 4]]))
    test = write(tmp_path / "T_TEST.tsv", tsv([[2, 5, 6], [1, 7, 8], [3, 9, 9]]))
    ds = read_split_files({"train": train, "test": test})
    np.testing.assert_array_equal(ds.splits["train"], [0, 1])
    np.testing.assert_array_equal(ds.splits["test"], [2, 3, 4])
    assert ds.classes == ["1", "2", "3"]  # encoded jointly over both files
    np.testing.assert_allclose(ds.split("test")[0][:, 0, 0], [5, 7, 9])


# ---------------------------------------------------------------- variable length and gaps


@pytest.fixture
def padded(tmp_path: Path) -> Path:
    return write(tmp_path / "Var_TRAIN.tsv", tsv([[1, 0, 2, 4, 6], [2, 1, 3, "NaN", "NaN"], [1, 5, 5, 5, "NaN"]]))


def test_variable_length_error_names_the_options(padded: Path) -> None:
    with pytest.raises(DatasetError) as err:
        read_file(padded)
    message = str(err.value)
    assert str(padded) in message and "line 2" in message and "2 to 4 values" in message
    for option in ("truncate", "pad", "resample"):
        assert option in message


def test_variable_length_options(padded: Path) -> None:
    truncated = read_file(padded, variable_length="truncate").X[:, 0]
    np.testing.assert_allclose(truncated, [[0, 2], [1, 3], [5, 5]])
    pad = read_file(padded, variable_length="pad")
    np.testing.assert_allclose(pad.X[:, 0], [[0, 2, 4, 6], [1, 3, 3, 3], [5, 5, 5, 5]])  # last value repeated
    assert pad.meta["variable_length"] == {"method": "pad", "min_length": 2, "max_length": 4, "length": 4}
    resampled = read_file(padded, variable_length="resample").X[:, 0]
    np.testing.assert_allclose(resampled[1], [1, 1 + 2 / 3, 1 + 4 / 3, 3], rtol=1e-6)
    np.testing.assert_allclose(resampled[0], [0, 2, 4, 6])  # full-length series unchanged


def test_lengths_are_equalised_over_train_and_test_together(tmp_path: Path) -> None:
    train = write(tmp_path / "V_TRAIN.tsv", tsv([[1, 1, 2, "NaN"], [2, 1, 2, 3]]))
    test = write(tmp_path / "V_TEST.tsv", tsv([[1, 1, 2, 3, 4, 5]]))
    ds = read_split_files({"train": train, "test": test}, variable_length="pad")
    assert ds.length == 5
    np.testing.assert_allclose(ds.X[0, 0], [1, 2, 2, 2, 2])


def test_internal_nan_is_an_error_or_interpolated(tmp_path: Path) -> None:
    path = write(tmp_path / "Gap_TRAIN.tsv", tsv([[1, 1, 2, 3, 4], [2, "NaN", 2, "NaN", 8]]))
    with pytest.raises(DatasetError, match=r"Gap_TRAIN\.tsv, line 2: missing value .* time step 0"):
        read_file(path)
    ds = read_file(path, missing="interpolate")
    np.testing.assert_allclose(ds.X[1, 0], [2, 2, 5, 8])  # leading gap takes the nearest value
    assert ds.meta["missing_values_filled"]["count"] == 2


def test_trailing_nan_as_missing_keeps_the_file_length(tmp_path: Path) -> None:
    path = write(tmp_path / "Fix_TRAIN.tsv", tsv([[1, 1, 2, 3], [2, 4, 5, "NaN"]]))
    ds = read_file(path, missing="interpolate", trailing_nan="missing")
    np.testing.assert_allclose(ds.X[:, 0], [[1, 2, 3], [4, 5, 5]])
    assert "variable_length" not in ds.meta


def test_regularize_rejects_all_nan_series() -> None:
    X = np.array([[[1.0, 2.0]], [[np.nan, np.nan]]])
    with pytest.raises(DatasetError, match="series 1: has no values"):
        regularize(X)


# ---------------------------------------------------------------- .ts, .arff, .csv, .npz


def test_ts_multivariate_regression(tmp_path: Path) -> None:
    ds = read_file(write(tmp_path / "reg.ts", TS_MULTIVARIATE_REGRESSION), missing="interpolate")
    assert ds.name == "TinyRegression" and ds.task == "regression" and ds.X.shape == (3, 2, 4)
    np.testing.assert_allclose(ds.y, [0.25, 1.75, -3.5])
    np.testing.assert_allclose(ds.X[1, 0], [1.5, 2.5, 3.5, 4.5])  # '?' interpolated
    np.testing.assert_allclose(ds.X[2, 1], [6, 7, 8, 9])
    with pytest.raises(DatasetError, match=r"reg\.ts, line 12: missing value"):
        read_file(tmp_path / "reg.ts")


def test_ts_unequal_length_classification(tmp_path: Path) -> None:
    path = write(tmp_path / "unequal.ts.gz", TS_UNEQUAL_CLASSES)
    with pytest.raises(DatasetError, match="different lengths"):
        read_file(path)
    ds = read_file(path, variable_length="pad")
    assert ds.classes == ["up", "down"]  # declared order is kept
    assert [ds.classes[i] for i in ds.y] == ["up", "down", "up"]
    np.testing.assert_allclose(ds.X[:, 0], [[1, 2, 3, 4], [4, 3, 3, 3], [5, 6, 7, 7]])
    assert read_file(path, variable_length="truncate").length == 2


def test_ts_headers_may_carry_arff_style_comments(tmp_path: Path) -> None:
    """Regression: the '%' comment lines heading aeon's own UnitTest_TRAIN.ts (the ARFF comment, which .ts files
    converted from ARFF keep) were refused with "expected a header line starting with '@'"; aeon reads the file."""
    path = write(
        tmp_path / "pct.ts",
        "%# cut down from Chinatown\n%\n@problemName P\n@classLabel true 1 2\n@data\n1,2:1\n3,4:2\n",
    )
    ds = read_file(path)
    assert ds.name == "P" and ds.X.shape == (2, 1, 2) and ds.classes == ["1", "2"]


@pytest.mark.parametrize(
    "name, text, shape",
    [
        ("reg.ts", TS_MULTIVARIATE_REGRESSION.replace("?", "2.5"), (3, 2, 4)),
        ("uea.arff", ARFF_RELATIONAL, (3, 2, 3)),
        ("flat.arff", ARFF_FLAT, (3, 1, 3)),
    ],
)
def test_a_file_declaring_its_labels_reads_without_them(tmp_path: Path, name: str, text: str, shape: tuple) -> None:
    """Regression: label_column=None (`tshub predict --no-labels`) on a .ts or .arff whose header declares its labels
    (aeon's BasicMotions_TEST.ts) read the labels as one more channel or series attribute and was refused ("7
    dimension(s), expected 6", "attribute 'target' is nominal"); the header says which field they are."""
    ds = read_file(write(tmp_path / name, text), label_column=None)
    assert ds.X.shape == shape and ds.meta["unlabeled"]
    np.testing.assert_allclose(ds.X[0, -1, -1], read_file(tmp_path / name).X[0, -1, -1])


def test_ts_unlabelled_as_aeon_writes_it(tmp_path: Path) -> None:
    """Regression: aeon's save_to_ts_file ends every channel with ':', so an unlabelled series' line ends with an
    empty field; tshub counted it as one more dimension ("2 dimension(s), expected 1") and refused the file."""
    head = "@problemName New\n@missing False\n@univariate {}\n@equalLength true\n@targetlabel false\n@data\n"
    univariate = read_file(write(tmp_path / "u.ts", head.format("true") + "1,2,3:\n4,5,6:\n"), label_column=None)
    assert univariate.X.shape == (2, 1, 3) and univariate.meta["unlabeled"]
    two = read_file(write(tmp_path / "m.ts", head.format("false") + "1,2:3,4:\n5,6:7,8:\n"), label_column=None)
    np.testing.assert_allclose(two.X[1], [[5, 6], [7, 8]])


def test_arff_relational_multivariate(tmp_path: Path) -> None:
    ds = read_file(write(tmp_path / "uea.arff", ARFF_RELATIONAL))
    assert ds.name == "TinyUEA" and ds.X.shape == (3, 2, 3) and ds.classes == ["walk", "run"]
    np.testing.assert_allclose(ds.X[1], [[7, 8, 9], [10, 11, 12]])
    assert [ds.classes[i] for i in ds.y] == ["walk", "run", "run"]


def test_arff_flat_univariate(tmp_path: Path) -> None:
    ds = read_file(write(tmp_path / "flat.arff", ARFF_FLAT))
    assert ds.X.shape == (3, 1, 3) and ds.classes == ["1", "2", "10"]
    np.testing.assert_allclose(ds.X[2, 0], [0.7, 0.8, 0.9], rtol=1e-6)
    assert [ds.classes[i] for i in ds.y] == ["2", "10", "1"]


def test_a_sparse_arff_is_refused_saying_it_is_sparse(tmp_path: Path) -> None:
    """Regression: a sparse ARFF ({index value, ...} rows, as Weka writes mostly-zero data) was refused as "3 values,
    expected 4", which sends the user looking for a missing value."""
    head = "@relation r\n@attribute a numeric\n@attribute b numeric\n@attribute c numeric\n@attribute class {x,y}\n"
    path = write(tmp_path / "sparse.arff", head + "@data\n{0 1.5, 2 3.0, 3 x}\n{1 2.0, 3 y}\n")
    with pytest.raises(DatasetError, match=r"line 7: a sparse ARFF instance .* write the file dense"):
        read_file(path)


def test_a_relational_arff_quoted_two_ways_is_refused_saying_so(tmp_path: Path) -> None:
    """Regression: relational values quoted with ' on one line and " on another were refused as "cannot parse the
    ARFF file (IndexError: list index out of range)"."""
    head = "@relation r\n@attribute bag relational\n@attribute t1 numeric\n@attribute t2 numeric\n@end bag\n"
    data = "@data\n'1,2\\n3,4',x\n\"5,6\\n7,8\",y\n"
    path = write(tmp_path / "mixed.arff", head + "@attribute class {x,y}\n" + data)
    with pytest.raises(DatasetError, match=r"quoted with ' \(line 8\) and with \" \(line 9\).*quote them alike"):
        read_file(path)


def test_arff_classes_and_relation_outside_ascii_read_as_written(tmp_path: Path) -> None:
    """Regression: scipy.io.arff keeps nominal values as ASCII bytes, so a UTF-8 class such as 'pointé ok' failed
    the whole file: "cannot parse the ARFF file (UnicodeEncodeError ...)"; and it cut a quoted relation name at its
    first space ("'Gestes")."""
    text = ARFF_RELATIONAL.replace("TinyUEA", "'Gestes été'").replace("walk", "'marche à pied'").replace("run", "курс")
    ds = read_file(write(tmp_path / "uea.arff", text))
    assert ds.name == "Gestes été" and ds.classes == ["marche à pied", "курс"]
    assert [ds.classes[i] for i in ds.y] == ["marche à pied", "курс", "курс"]
    np.testing.assert_allclose(ds.X[1], [[7, 8, 9], [10, 11, 12]])
    flat = read_file(write(tmp_path / "flat.arff", ARFF_FLAT.replace("10", "10☃")))
    assert flat.classes == ["1", "2", "10☃"] and [flat.classes[i] for i in flat.y] == ["2", "10☃", "1"]


def test_arff_quoting_classes_only_where_needed_is_refused_saying_how_to_quote_them(tmp_path: Path) -> None:
    """Weka quotes a nominal value only where it needs quotes; scipy.io.arff takes the first data line's quoting for
    every line, so a later 'walk fast' is no declared class: "value 'walk fast' not in ('walk fast', 'run')" said
    neither why nor what to do."""
    text = ARFF_FLAT.replace("{1,2,10}", "{'walk fast',run}").replace(",2\n", ",run\n")
    text = text.replace(",10\n", ",'walk fast'\n").replace(",1\n", ",run\n")
    with pytest.raises(DatasetError, match=r"flat\.arff: .*quote the values alike on every line"):
        read_file(write(tmp_path / "flat.arff", text))
    assert read_file(write(tmp_path / "flat.arff", text.replace(",run", ",'run'"))).classes == ["walk fast", "run"]


def test_csv_header_with_named_label_column(tmp_path: Path) -> None:
    path = write(tmp_path / "gestures.csv", 'v0,v1,gesture,v2\n0.1,0.2,"rock",0.3\n1,2,paper,\n4,5,rock,6\n')
    ds = read_file(path, label_column="gesture", missing="interpolate", trailing_nan="missing")
    assert ds.classes == ["paper", "rock"] and ds.X.shape == (3, 1, 3)
    np.testing.assert_allclose(ds.X[1, 0], [1, 2, 2])
    np.testing.assert_allclose(ds.X[0, 0], [0.1, 0.2, 0.3], rtol=1e-6)


def test_csv_regression_target_last_and_unlabeled(tmp_path: Path) -> None:
    path = write(tmp_path / "reg.csv", "1,2,3,0.5\n4,5,6,1.25\n")
    ds = read_file(path, label_column=-1)
    assert ds.task == "regression" and ds.X.shape == (2, 1, 3)
    np.testing.assert_allclose(ds.y, [0.5, 1.25])
    unlabeled = read_file(path, label_column=None)
    assert unlabeled.X.shape == (2, 1, 4) and unlabeled.meta["unlabeled"] and np.isnan(unlabeled.y).all()


def test_npz_with_classes_and_splits(tmp_path: Path) -> None:
    path = tmp_path / "arrays.npz"
    X = np.arange(24, dtype=np.float64).reshape(4, 2, 3)
    np.savez(
        path,
        X=X,
        y=np.array([1, 0, 1, 1]),
        classes=np.array(["neg", "pos"]),
        splits_train=np.array([0, 1, 2]),
        splits_test=np.array([3]),
    )
    ds = read_file(path)
    assert ds.classes == ["neg", "pos"] and ds.X.shape == (4, 2, 3)
    np.testing.assert_array_equal(ds.y, [1, 0, 1, 1])
    np.testing.assert_array_equal(ds.splits["test"], [3])
    np.testing.assert_allclose(ds.X, X)


def test_npz_univariate_string_labels(tmp_path: Path) -> None:
    path = tmp_path / "uni.npz"
    np.savez(path, X=np.ones((3, 5), dtype=np.float32), y=np.array(["b", "a", "b"]))
    ds = read_file(path)
    assert ds.X.shape == (3, 1, 5) and ds.classes == ["a", "b"]


def test_npz_of_split_arrays_reads_each_as_its_split(tmp_path: Path) -> None:
    """X_train/y_train/X_test/y_test (and X_val or X_valid), the way many scripts and tsai save a benchmark, are
    read as one dataset with those splits; a shorter split is NaN-padded for ``variable_length`` to decide."""
    path = tmp_path / "split.npz"
    rng = np.random.default_rng(0)
    X_train, X_valid, X_test = rng.random((4, 2, 6)), rng.random((2, 2, 6)), rng.random((3, 2, 5))
    np.savez(
        path,
        X_train=X_train,
        y_train=np.array(["calm", "storm", "calm", "storm"]),
        X_valid=X_valid,
        y_valid=np.array(["storm", "calm"]),
        X_test=X_test,
        y_test=np.array(["calm", "calm", "storm"]),
    )
    ds = read_file(path, variable_length="pad")
    assert ds.classes == ["calm", "storm"] and ds.X.shape == (9, 2, 6)
    np.testing.assert_array_equal(ds.splits["train"], [0, 1, 2, 3])
    np.testing.assert_array_equal(ds.splits["val"], [4, 5])
    np.testing.assert_array_equal(ds.splits["test"], [6, 7, 8])
    np.testing.assert_allclose(ds.X[:4], X_train, rtol=1e-6)
    np.testing.assert_allclose(ds.X[6:, :, :5], X_test, rtol=1e-6)
    assert [ds.classes[i] for i in ds.y[ds.splits["test"]]] == ["calm", "calm", "storm"]
    with pytest.raises(DatasetError, match=r"unequal lengths|variable_length"):
        read_file(path)
    extras = tmp_path / "extras.npz"  # arrays beside X and y that are no split's are left alone, as before
    np.savez(extras, X=np.ones((3, 5)), y=np.array([0, 1, 0]), X_mean=np.ones(5), y_scale=np.ones(1))
    assert read_file(extras).X.shape == (3, 1, 5)
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, X_train=np.ones((3, 5)), X_test=np.ones((2, 5)))
    ds = read_file(unlabelled, label_column=None)
    assert ds.X.shape == (5, 1, 5) and ds.meta["unlabeled"] and np.isnan(ds.y).all() and len(ds.splits["test"]) == 2


@pytest.mark.parametrize(
    "arrays, pattern",
    [
        ({"X": np.ones((2, 4)), "X_test": np.ones((2, 4))}, r"both 'X' and split arrays \(X_test\)"),
        ({"X_train": np.ones((2, 4)), "y_train": np.zeros(2), "X_test": np.ones((2, 4))}, r"no 'y_test' for 'X_test'"),
        ({"X_train": np.ones((2, 4)), "y_train": np.zeros(2), "y_test": np.zeros(2)}, r"'y_test' has no 'X_test'"),
        ({"X_train": np.ones((2, 4)), "y_train": np.zeros(3)}, r"'X_train' has 2 series but 'y_train' has 3"),
        ({"X_train": np.ones((2, 4)), "X_test": np.ones((2, 3, 4))}, r"'X_test' has 3 channels, 'X_train' 1"),
        ({"X_train": np.ones((2, 4)), "X_holdout": np.ones((2, 4))}, r"'X_holdout': split arrays are X_train, "),
        ({"X_train": np.ones((2, 4)), "splits_test": np.array([0])}, r"both split arrays .* and 'splits_test'"),
    ],
)
def test_npz_split_arrays_that_do_not_pair_up_are_refused(tmp_path: Path, arrays: dict, pattern: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    unlabelled = {} if any(k.startswith("y") for k in arrays) else {"label_column": None}
    with pytest.raises(DatasetError, match=pattern):
        read_file(tmp_path / "bad.npz", **unlabelled)


def test_dataset_from_file_uses_the_readers(tmp_path: Path) -> None:
    path = write(tmp_path / "Toy_TEST.tsv", tsv([[1, 1, 2], [2, 3, 4]]))
    assert Dataset.from_file(str(path)).X.shape == (2, 1, 2)


# ---------------------------------------------------------------- malformed files: file + line/key + expectation

MALFORMED = {
    "non_numeric": (
        "bad.tsv",
        tsv([[1, 0.1, 0.2]] * 6 + [[2, 0.1, "abc"]]),
        r"bad\.tsv, line 7, column 3: non-numeric value 'abc'",
    ),
    "ragged_rows": (
        "ragged.tsv",
        tsv([[1, 1, 2, 3], [2, 1, 2]]),
        r"ragged\.tsv: series have different lengths \(2 to 3 values; the shortest is at .*ragged\.tsv, "
        r"line 2\); pass variable_length='truncate'",
    ),
    "empty_file": ("empty.tsv", "\n\n", r"empty\.tsv: the file is empty"),
    "label_missing_tsv": (
        "nolabel.tsv",
        tsv([[1, 1, 2], ["NaN", 3, 4]]),
        r"nolabel\.tsv, line 2: the label .* missing",
    ),
    "ts_missing_data": ("nodata.ts", "@problemName X\n@classLabel true a b\n", r"nodata\.ts: missing @data"),
    "ts_label_missing": (
        "nolab.ts",
        "@classLabel true a b\n@data\n1,2,3:a\n1,2,3\n",
        r"nolab\.ts, line 4: label missing",
    ),
    "ts_undeclared_label": (
        "undecl.ts",
        "@classLabel true a b\n@data\n1,2:c\n",
        r"undecl\.ts, line 3: label 'c' is not among",
    ),
    "ts_dimensions": (
        "dims.ts",
        "@dimensions 2\n@classLabel true a\n@data\n1,2:3,4:a\n1,2:a\n",
        r"dims\.ts, line 5: 1 dimension\(s\), expected 2",
    ),
    "ts_bad_value": (
        "val.ts",
        "@classLabel true a\n@data\n1,2,x7:a\n",
        r"val\.ts, line 3, dimension 0, column 3: non-numeric value 'x7'",
    ),
    "ts_equal_length": (
        "eq.ts",
        "@equalLength true\n@classLabel true a\n@data\n1,2,3:a\n1,2:a\n",
        r"eq\.ts, line 5: dimension 0 has 2 values, expected 3",
    ),
    "ts_header_value": (
        "hdr.ts",
        "@univariate maybe\n@data\n1,2\n",
        r"hdr\.ts, line 1: @univariate must be true or false",
    ),
    "arff_bad_value": (
        "bad.arff",
        ARFF_FLAT.replace("0.4,0.5", "0.4,oops"),
        r"bad\.arff, line 9: column 2 \(att2\): non-numeric value 'oops'",
    ),
    "arff_bad_class": (
        "cls.arff",
        ARFF_FLAT.replace("0.9,1", "0.9,7"),
        r"cls\.arff, line 10: column 4 \(target\): value '7' is not among",
    ),
    "arff_relational_channel": (
        "rel.arff",
        ARFF_RELATIONAL.replace("'7,8,9", "'7,8"),
        r"rel\.arff, line 12: channel 0 has 2 values, expected 3",
    ),
    "arff_missing_data": ("nodata.arff", "@relation x\n@attribute a numeric\n", r"nodata\.arff: missing @data"),
    "csv_unknown_column": ("cols.csv", "a,b,label\n1,2,x\n", r"cols\.csv, line 1: no column named 'target'"),
    "csv_header_width": ("head.csv", "a,b,target\n1,2,3,x\n", r"head\.csv, line 2: 4 fields, but the header has 3"),
    "unsupported_suffix": (
        "data.xlsx",
        "1,2\n",
        r"data\.xlsx: unsupported file type.*\.ts \(each optionally \.gz\) or \.npz \(not",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_names_file_and_line(tmp_path: Path, case: str) -> None:
    name, text, pattern = MALFORMED[case]
    path = write(tmp_path / name, text)
    kwargs = {"label_column": "target"} if name.endswith(".csv") else {}
    with pytest.raises(DatasetError, match=pattern):
        read_file(path, **kwargs)


@pytest.mark.parametrize(
    "variable_length, expected",
    [
        ("pad", [[1, 2, 3, 4], [5, 6, 6, 6], [7, 8, 9, 9]]),
        ("truncate", [[1, 2], [5, 6], [7, 8]]),
        ("resample", [[1, 2, 3, 4], [5, 5 + 1 / 3, 5 + 2 / 3, 6], [7, 7 + 2 / 3, 8 + 1 / 3, 9]]),
    ],
)
def test_a_ragged_csv_takes_variable_length(tmp_path: Path, variable_length: str, expected: list) -> None:
    """Rows of unequal length are shorter series; the label column may be named, or counted from the end."""
    path = write(tmp_path / "ragged.csv", "label,t1,t2,t3,t4\nup,1,2,3,4\ndown,5,6\nup,7,8,9\n")
    ds = read_file(path, label_column="label", variable_length=variable_length)
    np.testing.assert_allclose(ds.X[:, 0], expected, rtol=1e-6)
    assert ds.classes == ["down", "up"] and ds.y.tolist() == [1, 0, 1]
    assert ds.meta["variable_length"]["min_length"] == 2
    tail = write(tmp_path / "tail.csv", "1,2,3,4,up\n5,6,down\n7,8,9,up\n")
    np.testing.assert_allclose(
        read_file(tail, label_column=-1, variable_length=variable_length).X[:, 0], expected, rtol=1e-6
    )
    with pytest.raises(DatasetError, match=r"ragged\.csv: series have different lengths \(2 to 4 values"):
        read_file(path, label_column="label")


def test_an_unlabelled_ragged_csv_reads_and_names_a_bad_column(tmp_path: Path) -> None:
    """Regression: rows of unequal length without a label column crashed with UnboundLocalError."""
    path = write(tmp_path / "unlabelled.csv", "1,2,3\n4,5\n")
    ds = read_file(path, label_column=None, variable_length="pad")
    np.testing.assert_allclose(ds.X[:, 0], [[1, 2, 3], [4, 5, 5]])
    assert ds.meta["unlabeled"]
    bad = write(tmp_path / "bad.csv", "1,2,3\n4,x\n")
    with pytest.raises(DatasetError, match=r"bad\.csv, line 2, column 2: non-numeric value 'x'"):
        read_file(bad, label_column=None, variable_length="pad")


def test_npz_length_mismatch_names_keys(tmp_path: Path) -> None:
    path = tmp_path / "mismatch.npz"
    np.savez(path, X=np.zeros((3, 4)), y=np.zeros(2))
    with pytest.raises(DatasetError, match=r"mismatch\.npz: 'X' has 3 series but 'y' has 2 targets"):
        read_file(path)


def test_npz_object_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.npz"
    np.savez(path, X=np.zeros((2, 4)), y=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DatasetError, match=r"objects\.npz: key 'y' holds Python objects"):
        read_file(path)


def test_an_npz_of_ragged_series_says_how_to_store_them(tmp_path: Path) -> None:
    """Regression: series of unequal lengths saved as an object array were told to save "y.astype(str)"."""
    path = tmp_path / "ragged.npz"
    X = np.empty(2, dtype=object)
    X[0], X[1] = np.arange(5.0), np.arange(7.0)
    np.savez(path, X=X, y=np.array(["a", "b"]))
    with pytest.raises(DatasetError, match=r"key 'X' holds Python objects .*NaN-padded .*variable_length='pad'"):
        read_file(path)


def test_npz_without_X_lists_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "nox.npz"
    np.savez(path, data=np.zeros((2, 4)), y=np.zeros(2))
    with pytest.raises(DatasetError, match=r"nox\.npz: no array 'X' \(keys: \['data', 'y'\]\)"):
        read_file(path)


def test_unknown_options_are_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "T_TRAIN.tsv", tsv([[1, 1, 2]]))
    with pytest.raises(TypeError, match="delimiter"):
        read_file(path, delimiter=";")
    with pytest.raises(DatasetError, match="variable_length='stretch' is not an option"):
        read_file(path, variable_length="stretch")


def test_parse_file_keeps_nan_padding_raw(tmp_path: Path) -> None:
    raw = parse_file(write(tmp_path / "R_TRAIN.tsv", tsv([[1, 1, "NaN"], [2, 1, 2]])))
    assert raw.X.shape == (2, 1, 2) and np.isnan(raw.X[0, 0, 1])
    np.testing.assert_array_equal(raw.lines, [1, 2])


# ---------------------------------------------------------------- untrusted files under ReadLimits
LIMITS = ReadLimits(max_bytes=4 << 20, max_series=10_000, max_values=1_000_000)


@pytest.mark.parametrize(
    "name, payload, words",
    [
        ("bomb.tsv.gz", lambda: attacks.gzip_bomb(64 << 20, member_bytes=2 << 20), "decompresses to more than 4 MB"),
        ("many.tsv.gz", lambda: attacks.many_series_gz(200_000), "more than the 10,000 series"),
        ("ragged.ts", lambda: attacks.ragged_ts(2_000, 5_000), "over the limit of 1,000,000"),
        ("zeros.npz", lambda: attacks.npz_zero_bomb(64 << 20), "expand to 64 MB, over the limit of 4 MB"),
        ("forged.npz", lambda: attacks.npz_forged_shape(), "declares shape (1000000000000,)"),
    ],
)
def test_hostile_files_are_refused_before_they_expand(tmp_path: Path, name: str, payload, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(payload())
    with pytest.raises(DatasetError) as caught:
        read_file(path, limits=LIMITS)
    assert words in str(caught.value)


def test_limits_leave_ordinary_files_alone(tmp_path: Path) -> None:
    path = write(tmp_path / "ok.tsv.gz", tsv([[i % 2, *range(50)] for i in range(100)]))
    assert read_file(path, limits=LIMITS).X.shape == (100, 1, 50)
    npz = tmp_path / "ok.npz"
    np.savez(npz, X=np.zeros((100, 3, 50)), y=np.arange(100) % 2)
    assert read_file(npz, limits=LIMITS).X.shape == (100, 3, 50)


def test_a_truncated_npz_says_it_is_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "cut.npz"
    path.write_bytes(attacks.truncated_npz())
    with pytest.raises(DatasetError, match="not a complete .npz .zip. archive .* cut short"):
        read_file(path)


def test_a_ragged_table_is_bounded_before_its_padded_array_is_allocated(tmp_path: Path) -> None:
    """One long row among many short ones: rows × longest row, refused before allocating, not after."""
    path = write(tmp_path / "ragged.csv", ",".join(["1"] * 4000) + "\n" + "1,2\n" * 4000)  # 24 kB
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="over the limit of 100,000"):
            read_file(path, limits=ReadLimits(max_values=100_000), variable_length="pad")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20  # the padded table would be 4001 × 3999 float64 = 128 MB
    assert read_file(path, variable_length="pad").X.shape == (4001, 1, 3999)  # no limit: read as before


def test_windows_line_breaks_count_once_against_the_series_cap(tmp_path: Path) -> None:
    path = tmp_path / "crlf.csv"
    path.write_bytes(b"1,2,3\r\n" * 1600)
    assert read_file(path, limits=ReadLimits(max_series=2000)).X.shape == (1600, 1, 2)


# ---------------------------------------------------------------- what exporters write


def test_a_numbered_header_is_a_header_not_a_series(tmp_path: Path) -> None:
    """pandas writes an unnamed DataFrame's columns as 0, 1, …, k; numpy users often write 1 … k."""
    for names in ("0,1,2,3", "1,2,3,4"):
        path = write(tmp_path / "numbered.csv", f"{names}\n1,0.5,0.6,0.7\n2,0.1,0.2,0.3\n")
        ds = read_file(path)
        assert ds.classes == ["1", "2"] and ds.X.shape == (2, 1, 3)
    path = write(tmp_path / "data.csv", "0,1,2,3\n1,0.5,0.6,0.7\n")  # header=False still reads it as a series
    assert read_file(path, header=False).X.shape == (2, 1, 3)


def test_a_numbered_header_with_the_label_columns_name_is_a_header(tmp_path: Path) -> None:
    """``df.insert(0, "label", y); df.to_csv(path, index=False)`` writes ``label,0,1,…,k``: not a series of class
    "label"."""
    path = write(tmp_path / "first.csv", "label,0,1,2\na,0.5,0.6,0.7\nb,0.1,0.2,0.3\n")
    ds = read_file(path)
    assert ds.classes == ["a", "b"] and ds.X.shape == (2, 1, 3)
    path = write(tmp_path / "last.csv", "0,1,2,label\n0.5,0.6,0.7,a\n0.1,0.2,0.3,b\n")
    ds = read_file(path, label_column=-1)
    assert ds.classes == ["a", "b"] and ds.X.shape == (2, 1, 3)
    data = write(tmp_path / "data.csv", "1,0,1,2\n2,0.1,0.2,0.3\n")  # a numeric label: the first row is a series
    assert read_file(data).X.shape == (2, 1, 3)


def test_a_pandas_index_column_is_dropped(tmp_path: Path) -> None:
    """``DataFrame.to_csv(path)`` writes the row index first, under an empty name: it is not a time step."""
    path = write(tmp_path / "frame.csv", ",0,1,2,3,label\n0,1,1,1,1,a\n1,2,2,2,2,b\n2,3,3,3,3,a\n")
    ds = read_file(path, label_column="label")
    assert ds.X.shape == (3, 1, 4) and ds.X[:, 0, 0].tolist() == [1, 2, 3] and ds.classes == ["a", "b"]


def test_a_pandas_index_column_is_not_the_default_label_column(tmp_path: Path) -> None:
    """Regression: with the default ``label_column=0`` the index of ``df.to_csv(path)`` (a frame whose first column
    is the label) became the labels, one class per series, and the real labels a time step; ``finetune`` then said
    "every class has a single training series". Column 0 counts after the index, as for a file without it."""
    path = write(tmp_path / "frame.csv", ",label,0,1,2\n50,a,1,1,1\n51,b,2,2,2\n52,a,3,3,3\n")
    ds = read_file(path)
    assert ds.X.shape == (3, 1, 3) and ds.X[:, 0, 0].tolist() == [1, 2, 3] and ds.classes == ["a", "b"]
    named = write(tmp_path / "named.csv", ",v0,v1\nx,1,1\ny,2,2\n")  # no row numbers: an unnamed label column
    assert read_file(named).classes == ["x", "y"]


@pytest.mark.parametrize(
    "text, label_column",
    [
        ("id,t0,t1,t2,label\n17,1,2,3,a\n4,4,5,6,b\n9,7,8,9,a\n", "label"),
        ("label,t0,t1,t2,series_id\na,1,2,3,1\nb,4,5,6,2\na,7,8,9,3\n", 0),
        ("t0,Index,t1,t2,label\n1,0,2,3,a\n4,1,5,6,b\n7,2,8,9,a\n", -1),
        ("t0,t1,t2,label,ID\n1,2,3,a,0\n4,5,6,b,1\n7,8,9,a,2\n", -2),
    ],
)
def test_an_identifier_column_is_dropped_not_read_as_a_time_step(tmp_path: Path, text: str, label_column) -> None:
    """A column named like an identifier whose values are distinct whole numbers numbers the rows: read as a time
    step, a value up to the row count dwarfed the series and its z-normalisation."""
    ds = read_file(write(tmp_path / "ids.csv", text), label_column=label_column)
    assert ds.X.shape == (3, 1, 3) and ds.classes == ["a", "b"]
    np.testing.assert_allclose(ds.X[:, 0], [[1, 2, 3], [4, 5, 6], [7, 8, 9]])


def test_a_column_named_id_that_does_not_number_the_rows_is_data(tmp_path: Path) -> None:
    """Repeated or fractional values are no row numbers: the column stays (and so does an identifier that is the
    label column)."""
    repeated = read_file(write(tmp_path / "r.csv", "id,t0,label\n1,2,a\n1,3,b\n"), label_column="label")
    fractional = read_file(write(tmp_path / "f.csv", "id,t0,label\n0.5,2,a\n1.5,3,b\n"), label_column="label")
    assert repeated.X.shape == fractional.X.shape == (2, 1, 2)
    with pytest.raises(DatasetError, match="non-numeric value '²'"):  # a digit to str.isdigit, not to int()
        read_file(write(tmp_path / "s.csv", "id,t0,t1,label\n²,1,2,a\n3,4,5,b\n"), label_column=-1)
    labelled = read_file(write(tmp_path / "l.csv", "id,t0,t1\n0,2,3\n1,4,5\n"), label_column="id")
    assert labelled.X.shape == (2, 1, 2) and labelled.classes == ["0", "1"]


def test_na_cells_are_missing_values_not_a_header(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "1,0.1,NA,0.3\n2,0.4,0.5,0.6\n1,0.2,0.5,0.6\n")
    ds = read_file(path, missing="interpolate")
    assert ds.X.shape == (3, 1, 3) and ds.X[0, 0].tolist() == pytest.approx([0.1, 0.2, 0.3])
    classes = write(tmp_path / "classes.csv", "NA,1,2\nEU,3,4\n")  # a label "NA" is a class (North America)
    assert read_file(classes).classes == ["EU", "NA"]


def test_a_numpy_integer_label_column_is_a_column_index(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "a,0.1,0.2\nb,0.3,0.4\na,0.5,0.6\n")
    assert read_file(path, label_column=np.int64(0)).X.shape == (3, 1, 2)
    with pytest.raises(DatasetError, match="label_column=1.5: give a column index"):
        read_file(path, label_column=1.5)


def test_missing_targets_are_refused_with_their_place(tmp_path: Path) -> None:
    npz = tmp_path / "nan.npz"
    np.savez(npz, X=np.ones((3, 3)), y=np.array([0.0, np.nan, 1.0]))
    with pytest.raises(DatasetError, match=r"nan.npz, series 1: the target is nan"):
        read_file(npz)
    ts = write(tmp_path / "r.ts", "@problemName R\n@targetlabel true\n@data\n1,2,3:1.5\n1,2,3:inf\n")
    with pytest.raises(DatasetError, match=r"r.ts, line 5: the target is inf"):
        read_file(ts)


def test_a_column_vector_of_targets_is_one_target_per_series(tmp_path: Path) -> None:
    for y in (np.array([[0], [1], [0]]), np.array([[0.0], [1.0], [0.0]])):
        npz = tmp_path / "col.npz"
        np.savez(npz, X=np.ones((3, 4)), y=y)
        ds = read_file(npz, task="classification")
        assert ds.classes == ["0", "1"]
    assert read_file(npz).y.shape == (3,)


def test_files_of_different_widths_pad_across_files_even_when_every_nan_is_missing(tmp_path: Path) -> None:
    """A .ts file declaring equal lengths makes its NaNs missing values; a shorter file is still a shorter series."""
    head = "@problemName L\n@equalLength true\n@classLabel true a b\n@data\n"
    train = write(tmp_path / "L_TRAIN.ts", head + "1,2,3:a\n3,2,1:b\n")
    test = write(tmp_path / "L_TEST.ts", head + "1,2,3,4,5:a\n5,?,3,2,1:b\n")
    with pytest.raises(DatasetError, match="series have different lengths"):
        read_split_files({"train": train, "test": test}, missing="interpolate")
    ds = read_split_files({"train": train, "test": test}, missing="interpolate", variable_length="truncate")
    assert ds.X.shape == (4, 1, 3) and ds.meta["missing_values_filled"]["count"] == 1


def test_split_files_given_as_a_list_are_refused_saying_how_to_name_their_splits(tmp_path: Path) -> None:
    """Regression: ``read_split_files([train, test])`` (the paths without their splits' names) failed with
    "AttributeError: 'list' object has no attribute 'values'"."""
    train = write(tmp_path / "X_TRAIN.tsv", tsv([[1, 0.5, 0.6], [2, 0.1, 0.2]]))
    with pytest.raises(TypeError, match=r"\{'train': .*, 'test': .*\}"):
        read_split_files([train, train])  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="at least one"):
        read_split_files({})


def test_files_whose_targets_read_as_different_tasks_are_refused(tmp_path: Path) -> None:
    """Regression: a training file labelled with whole numbers beside a test file of fractional values made the whole
    dataset a regression, without a word: the training file's classes were learned as numbers."""
    train = write(tmp_path / "X_TRAIN.tsv", tsv([[1, 0.5, 0.6], [2, 0.1, 0.2], [1, 0.4, 0.3], [2, 0.2, 0.1]]))
    test = write(tmp_path / "X_TEST.tsv", tsv([[0.5, 0.5, 0.6], [1.7, 0.1, 0.2]]))
    with pytest.raises(DatasetError, match=r"X_TRAIN\.tsv's targets read as classes .*X_TEST\.tsv's as regression"):
        read_split_files({"train": train, "test": test})
    assert read_split_files({"train": train, "test": test}, task="regression").task == "regression"  # said: taken


def test_an_equal_length_file_leaves_a_ragged_files_padding_as_padding(tmp_path: Path) -> None:
    """Regression: beside a .ts declaring @equalLength true (aeon's PickupGestureWiimoteZ_eq_TRAIN.ts), the NaN
    padding of a file declaring @equalLength false (PickupGestureWiimoteZ_TEST.ts) was read as gaps, so
    variable_length='pad' was refused with "missing value ... inside the series"."""
    fixed = write(tmp_path / "L_TRAIN.ts", "@equalLength true\n@classLabel true a b\n@data\n1,2,3,4:a\n4,3,2,1:b\n")
    ragged = write(tmp_path / "L_TEST.ts", "@equalLength false\n@classLabel true a b\n@data\n1,2:a\n3,2,1:b\n")
    ds = read_split_files({"train": fixed, "test": ragged}, variable_length="pad")
    np.testing.assert_allclose(ds.X[:, 0], [[1, 2, 3, 4], [4, 3, 2, 1], [1, 2, 2, 2], [3, 2, 1, 1]])
    assert "missing_values_filled" not in ds.meta


def test_infinite_values_are_refused_where_they_are(tmp_path: Path) -> None:
    path = write(tmp_path / "inf.tsv", tsv([[1, 0.5, "inf", 0.7], [2, 0.1, 0.2, 0.3]]))
    with pytest.raises(DatasetError, match=r"inf.tsv, line 1: infinite value at time step 1"):
        read_file(path)


def test_split_files_of_one_name_keep_both_checksums(tmp_path: Path) -> None:
    (tmp_path / "tr").mkdir(), (tmp_path / "te").mkdir()
    ds = read_split_files(
        {
            "train": write(tmp_path / "tr" / "d.tsv", tsv([[1, 1, 2], [2, 2, 1]])),
            "test": write(tmp_path / "te" / "d.tsv", tsv([[1, 1, 3], [2, 3, 1]])),
        }
    )
    assert len(ds.meta["source_md5"]) == 2 and ds.meta["source_md5"][0] != ds.meta["source_md5"][1]


def test_ts_headers_may_be_tab_separated_and_must_list_their_classes(tmp_path: Path) -> None:
    tabbed = write(tmp_path / "tab.ts", "@problemName\tT\n@classLabel\ttrue a b\n@data\n1,2:a\n3,4:b\n")
    assert read_file(tabbed).classes == ["a", "b"]
    bare = write(tmp_path / "bare.ts", "@classLabel true\n@data\n1,2:a\n")
    with pytest.raises(DatasetError, match="bare.ts, line 1: @classLabel true declares no classes"):
        read_file(bare)


def test_values_beyond_float32_are_refused_not_turned_into_infinity(tmp_path: Path) -> None:
    """Series are kept in float32: 1e39 parsed fine in float64 but became inf in the dataset, silently."""
    path = write(tmp_path / "huge.tsv", tsv([[1, 0.5, 1e39, 0.7], [2, 0.1, 0.2, 0.3]]))
    with pytest.raises(DatasetError, match=r"huge.tsv, line 1: value 1e\+39 at time step 1 .*float32.*rescale"):
        read_file(path)
    np.savez(tmp_path / "huge.npz", X=np.array([[1.0, -1e300], [2.0, 3.0]]), y=np.array([0, 1]))
    with pytest.raises(DatasetError, match=r"huge.npz, series 0: value -1e\+300 at time step 1"):
        read_file(tmp_path / "huge.npz")


@pytest.mark.parametrize(
    "name, make, pattern",
    [
        ("nodata.arff", lambda p: write(p, ARFF_FLAT.split("@DATA")[0] + "@DATA\n"), r"nodata.arff: no series"),
        ("none.npz", lambda p: np.savez(p, X=np.ones((0, 4)), y=np.ones(0)), r"none.npz: no series"),
        ("flat.npz", lambda p: np.savez(p, X=np.ones((3, 0)), y=np.arange(3)), r"flat.npz: .* no values"),
    ],
)
def test_a_file_without_series_or_values_is_refused(tmp_path: Path, name: str, make, pattern: str) -> None:
    """An ARFF without instances or an .npz of shape (0, t) or (n, 0) read as an empty dataset (or series of
    length 0), which only failed later, deep in training."""
    make(tmp_path / name)
    with pytest.raises(DatasetError, match=pattern):
        read_file(tmp_path / name)


def test_npz_splits_that_share_a_series_are_refused(tmp_path: Path) -> None:
    """A series in two splits (e.g. train and test) leaks what the test is meant to measure."""
    X, y = np.ones((6, 4)), np.array([0, 1] * 3)
    np.savez(tmp_path / "leak.npz", X=X, y=y, splits_train=np.arange(4), splits_test=np.array([3, 4, 5]))
    with pytest.raises(DatasetError, match=r"leak.npz: series 3 is in both 'test' and 'train'"):
        read_file(tmp_path / "leak.npz")
    np.savez(tmp_path / "twice.npz", X=X, y=y, splits_train=np.array([0, 1, 1, 2]))
    with pytest.raises(DatasetError, match=r"twice.npz: 'splits_train' lists series 1 more than once"):
        read_file(tmp_path / "twice.npz")


@pytest.mark.parametrize(
    "name, text, kwargs, pattern",
    [
        ("commas.tsv", "1,0.1,0.2\n2,0.3,0.4\n", {}, r"commas.tsv, line 1: one field .* separated by ','"),
        ("semi.csv", "1;0.1;0.2\n2;0.3;0.4\n", {"delimiter": ","}, r"semi.csv, line 1: one field .* delimiter=';'"),
        (
            "tabs.csv",
            "1\t0.1\t0.2\n2\t0.3\t0.4\n",
            {"delimiter": ","},
            r"tabs.csv, line 1: one field .* delimiter='\\t'",
        ),
        ("head.txt", "label t1 t2\n1 0.1 0.2\n", {}, r"head.txt, line 1: .*header.*remove it"),
        ("head.tsv", "label\tt1\tt2\n1\t0.1\t0.2\n", {"header": False}, r"head.tsv, line 1: .*header.*remove it"),
    ],
)
def test_a_wrong_delimiter_or_a_header_says_so(tmp_path: Path, name: str, text: str, kwargs, pattern: str) -> None:
    """These read as 'no series values besides the label column' or 'non-numeric value', which left the user to
    guess the cause."""
    with pytest.raises(DatasetError, match=pattern):
        read_file(write(tmp_path / name, text), **kwargs)


@pytest.mark.parametrize(
    "text, kwargs",
    [
        ("t0;t1;t2;label\n0,5;-1,25;2;a\n3;4,75;-0,5;b\n", {"label_column": "label"}),  # a spreadsheet's export
        ("a;0,5;-1,25;2\nb;3;4,75;-0,5\n", {}),  # no header: the label first, as in UCR files
        ("a\t0.5\t-1.25\t2\nb\t3\t4.75\t-0.5\n", {}),
        ("0.5,-1.25,2,a\n3,4.75,-0.5,b\n", {"label_column": -1}),
    ],
)
def test_a_csv_separated_by_semicolons_or_tabs_reads_without_naming_its_delimiter(
    tmp_path: Path, text: str, kwargs: dict
) -> None:
    """Spreadsheets in locales whose decimal mark is a comma export ';'-separated files with decimal commas; the
    command line and the service, which have no delimiter option, refused them ("no column named 'label' in the
    header (columns: ['t0;t1;t2;label'])")."""
    ds = read_file(write(tmp_path / "export.csv", text), **kwargs)
    assert ds.classes == ["a", "b"] and ds.X.shape == (2, 1, 3)
    np.testing.assert_allclose(ds.X[:, 0], [[0.5, -1.25, 2], [3, 4.75, -0.5]])


def test_a_semicolon_csv_reads_decimal_comma_targets_and_keeps_text_labels(tmp_path: Path) -> None:
    """Only a comma between digits is a decimal mark: a regression target '3,5' is 3.5; a label 'x,y' stays."""
    regression = read_file(write(tmp_path / "reg.csv", "1;2;3,5\n4;5;-0,25\n"), label_column=-1)
    np.testing.assert_allclose(regression.y, [3.5, -0.25])
    labels = read_file(write(tmp_path / "labels.csv", "x,y;1;2\nz;3;4,5\n"))
    assert labels.classes == ["x,y", "z"]
    np.testing.assert_allclose(labels.X[:, 0], [[1, 2], [3, 4.5]])
    named = read_file(write(tmp_path / "named.csv", "a;1,5;2\nb;3;4,5\n"), delimiter=";")  # named, not detected
    np.testing.assert_allclose(named.X[:, 0], [[1.5, 2], [3, 4.5]])


def test_thousands_separators_in_a_tab_file_are_never_read_as_decimal_marks(tmp_path: Path) -> None:
    """Only ';' files carry decimal commas (the spreadsheet convention where the decimal mark is a comma): in a tab
    file '1,204' is a thousands separator, read as 1.204 silently; it must be refused, as it was."""
    text = "label\tmon\ttue\na\t1,204\t980\nb\t2,310\t1,005\n"
    for kwargs in ({"label_column": "label"}, {"label_column": "label", "delimiter": "\t"}):
        with pytest.raises(DatasetError, match="non-numeric value '1,204'"):
            read_file(write(tmp_path / "counts.csv", text), **kwargs)


@pytest.mark.parametrize(
    "text, kwargs",
    [
        ("label,temp;C,p;hPa\na,1,2\nb,3,4\n", {"label_column": "label"}),  # a unit in a header name
        ("a;b,0.5,1\nc,1.5,2\n", {}),  # a label with ';' in a short series
        ('"a;b","c;d"\n1.5,2.5\n3.5,4.5\n', {"label_column": None}),
    ],
)
def test_a_semicolon_in_the_first_line_alone_does_not_make_a_comma_file_semicolon_separated(
    tmp_path: Path, text: str, kwargs: dict
) -> None:
    ds = read_file(write(tmp_path / "short.csv", text), **kwargs)
    assert ds.X.shape[2] == 2


def test_decimal_commas_are_read_only_in_whole_numbers_and_labels_keep_their_text(tmp_path: Path) -> None:
    ds = read_file(write(tmp_path / "s.csv", "class 1,2;0,5;1,5e-3\nclass 3,4;-2,5E+02;3\n"))
    assert ds.classes == ["class 1,2", "class 3,4"]
    np.testing.assert_allclose(ds.X[:, 0], [[0.5, 1.5e-3], [-250, 3]])


def test_a_comma_csv_with_a_semicolon_in_a_label_stays_comma_separated(tmp_path: Path) -> None:
    ds = read_file(write(tmp_path / "c.csv", "a;b,0.5,1,2\nc,3,4,5\n"))
    assert ds.classes == ["a;b", "c"]
    np.testing.assert_allclose(ds.X[:, 0], [[0.5, 1, 2], [3, 4, 5]])


def test_a_csv_that_quotes_every_cell_reads_its_numbers(tmp_path: Path) -> None:
    """Spreadsheets and csv.QUOTE_ALL quote numbers too; '"0.5"' was refused as a non-numeric value."""
    ds = read_file(write(tmp_path / "quoted.csv", '"a","0.5","1"\n"b","2","NA"\n"a","3","4"\n'), variable_length="pad")
    np.testing.assert_array_equal(ds.X[:, 0], [[0.5, 1], [2, 2], [3, 4]])
    assert ds.classes == ["a", "b"]


def test_from_arrays_without_targets_says_what_to_pass() -> None:
    """Regression: ``Dataset.from_arrays(X, None)`` failed with numpy's "too many indices for array"."""
    with pytest.raises(DatasetError, match=r"from_arrays needs y, one target per series \(4 series\)"):
        Dataset.from_arrays(np.zeros((4, 1, 8)), None)  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match=r"4 series but 3 targets"):
        Dataset.from_arrays(np.zeros((4, 1, 8)), [0, 1, 0])


# ---------------------------------------------------------------- delimited files as pandas writes them


def frame_text(sep: str = ",", label: str = "label") -> str:
    """What ``df.to_csv(path, sep=sep, index=False)`` writes for 3 series of 4 values f0..f3 and a text label."""
    rows = [[0.5, 1, 2, 3, "a"], [4, 5, 6, 7.25, "b"], [8, 9, 10, 11, "a"]]
    return sep.join(["f0", "f1", "f2", "f3", label]) + "\n" + "".join(sep.join(map(str, r)) + "\n" for r in rows)


def test_a_tsv_with_a_header_reads_like_a_csv_with_a_header(tmp_path: Path) -> None:
    """Regression: ``df.to_csv("x.tsv", sep="\\t", index=False)`` was refused as "this file has no header", and
    ``header=True`` as an option that does not apply to ucr-tsv files."""
    expected = read_file(write(tmp_path / "x.csv", frame_text()), label_column="label")
    path = write(tmp_path / "x.tsv", frame_text("\t"))
    for kwargs in ({"label_column": "label"}, {"label_column": -1, "header": True}, {"label_column": -1}):
        ds = read_file(path, **kwargs)
        np.testing.assert_array_equal(ds.X, expected.X)
        assert ds.classes == expected.classes == ["a", "b"] and list(ds.y) == list(expected.y)
    assert read_file(write(tmp_path / "x.tsv.gz", frame_text("\t")), label_column="label").X.shape == (3, 1, 4)


def test_a_ucr_tsv_without_a_header_still_reads_label_first(tmp_path: Path) -> None:
    """The UCR layout (no header, label first, text labels allowed) is decided by content and stays as it was."""
    ds = read_file(write(tmp_path / "u.tsv", tsv([["a", 0.5, 1], ["b", 2, 3]])))
    assert ds.classes == ["a", "b"]
    np.testing.assert_array_equal(ds.X[:, 0], [[0.5, 1], [2, 3]])
    with pytest.raises(DatasetError, match=r"u\.tsv: label_column='label' names a column, but .*header=False"):
        read_file(tmp_path / "u.tsv", label_column="label", header=False)
    with pytest.raises(DatasetError, match=r"h\.tsv, line 1: .*a header row\? It is read without one.*header=False"):
        read_file(write(tmp_path / "h.tsv", frame_text("\t")), header=False)


@pytest.mark.parametrize(
    "text, kwargs, classes, X",
    [
        (
            'f0,f1,label\n0.5,1,"class, one"\n2,3,b\n',
            {"label_column": "label"},
            ["b", "class, one"],
            [[0.5, 1], [2, 3]],
        ),
        ('"a, b",1,2\nc,3,"4"\n', {}, ["a, b", "c"], [[1, 2], [3, 4]]),  # no header, label first
        ('1,2,"say ""hi"", then go"\n3,4,b\n', {"label_column": -1}, ["b", 'say "hi", then go'], [[1, 2], [3, 4]]),
        ('"x;y";1,5;2\nz;3;4,5\n', {}, ["x;y", "z"], [[1.5, 2], [3, 4.5]]),  # a ';' file with decimal commas
    ],
)
def test_a_quoted_field_may_hold_the_delimiter(tmp_path: Path, text: str, kwargs: dict, classes: list, X: list) -> None:
    """Regression: pandas quotes a label holding the delimiter (RFC 4180), which was split: "42 fields, but the
    header has 41"."""
    ds = read_file(write(tmp_path / "q.csv", text), **kwargs)
    assert ds.classes == classes
    np.testing.assert_array_equal(ds.X[:, 0], X)


def _long_table(series: np.ndarray, labels: list, names=("id", "time", "value", "label"), times=None) -> str:
    """A long table of ``series`` (n, channels, length): one row per series and time step, rows shuffled."""
    n, channels, length = series.shape
    times = list(range(length)) if times is None else times
    rows = [
        ",".join([f"s{i}", str(times[t]), *(f"{series[i, c, t]:.6f}" for c in range(channels)), str(labels[i])])
        for i in range(n)
        for t in range(length)
    ]
    order = np.random.default_rng(0).permutation(len(rows))
    return ",".join(names) + "\n" + "\n".join(rows[k] for k in order) + "\n"


@pytest.mark.parametrize("names", [("id", "time", "value", "label"), ("series_id", "timestamp", "x", "class")])
def test_a_long_format_csv_reads_as_its_series_in_time_order(tmp_path: Path, names: tuple) -> None:
    """Regression: a long table (one row per series and time step: 30 series × 40 steps) read silently as 1,200
    series of length 3; it was then refused with a pandas pivot to run first. Now it reads as its 30 series, each
    in time order though the rows are shuffled, the series in order of first appearance."""
    series = np.round(np.sin(np.arange(30)[:, None, None] + np.arange(40) / 4), 6)
    labels = [("a", "b", "c")[i % 3] for i in range(30)]
    path = write(tmp_path / "long.csv", _long_table(series, labels, names))
    for kwargs in ({}, {"label_column": names[3]}, {"label_column": 3}, {"label_column": -1}):
        ds = read_file(path, **kwargs)
        first_seen = [int(line.split(",")[0][1:]) for line in path.read_text().splitlines()[1:]]
        order = list(dict.fromkeys(first_seen))
        np.testing.assert_allclose(ds.X, series[order], atol=1e-6)
        assert [ds.classes[k] for k in ds.y] == [labels[i] for i in order]


def test_a_long_table_gives_a_channel_per_value_column_and_sorts_dates(tmp_path: Path) -> None:
    series = np.random.default_rng(1).standard_normal((6, 2, 9)).round(6)
    # "2026-01-10" sorts last as a date; a time zone is applied (and numpy's warning that it drops it not shown)
    dates = [f"2026-01-{d:02d}T08:00{'Z' if d % 2 else '+00:00'}" for d in (1, 2, 3, 4, 5, 6, 7, 8, 10)]
    dates[-1] = "2400-01-10T08:00"  # past 2262, where nanoseconds since 1970 wrap
    path = write(tmp_path / "l.csv", _long_table(series, [0, 1] * 3, ("unique_id", "ds", "x", "z", "y"), dates))
    ds = read_file(path)
    first_seen = list(dict.fromkeys(int(line.split(",")[0][1:]) for line in path.read_text().splitlines()[1:]))
    np.testing.assert_allclose(ds.X, series[first_seen], atol=1e-6)
    assert ds.X.shape == (6, 2, 9)


def test_a_long_tables_shorter_series_are_padded_for_variable_length_to_decide(tmp_path: Path) -> None:
    rows = [f"{i},{t},{i + t / 10},{i % 2}" for i in range(4) for t in range(10 - 2 * (i == 2))]
    path = write(tmp_path / "l.csv", "id,step,v,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match=r"l\.csv, line 22\b.*variable_length"):  # series 2's first row
        read_file(path)
    ds = read_file(path, variable_length="pad")
    assert ds.X.shape == (4, 1, 10)


@pytest.mark.parametrize(
    "text, kwargs, match",
    [
        (
            "id,time,v,label\n1,0,1,a\n1,0,2,a\n2,0,3,b\n",
            {},
            r"lines 2 and 3: two rows of series '1' \('id'\) at one time, '0'",
        ),
        (
            "id,time,v,label\n1,0,1,a\n1,1,2,b\n2,0,3,b\n",
            {},
            r"lines 2 and 3: one series with two targets in 'label', 'a' and 'b'",
        ),
        ("id,time,v,label\n1,0,1,a\n1,1,2,?\n2,0,3,b\n", {}, r"line 3: the target \('label'\) is missing"),
        (
            "id,time,v,group\n1,0,1,a\n1,1,2,a\n2,0,3,b\n",
            {"label_column": None},
            r"line 2, column 4 \('group'\): non-numeric .*label_column='group'",
        ),
        (
            "id,time,v,w\n1,0,1,2\n1,1,2,2\n2,0,3,3\n",
            {},
            r"no column named like targets .*label_column='NAME'\.$",
        ),
        (
            "id,time,v,label\n1,0,1,a\n1,1,2,a\n2,0,3,b\n",
            {"label_column": "time"},
            r"the long table's series or time column",
        ),
        ("id,time,v,label\n1,0,1,a\n1,1,2\n2,0,3,b\n", {}, r"line 3: 3 fields, but the header has 4 column names"),
        ("id,time,label\n1,0,a\n1,1,a\n2,0,b\n", {}, r"no value column besides 'id', 'time'"),
        ("id,time,v,label\n1,2026-01-02,1,a\n1,,2,a\n2,2026-01-01,3,b\n", {}, r"line 3: the 'time' column is missing"),
        ("id,time,v,label\n1,0,1,a\n1,1,2,a\n,2,2,a\n2,0,3,b\n", {}, r"line 4: the 'id' column is missing"),
    ],
)
def test_a_long_table_that_cannot_be_read_is_refused_saying_where_and_why(
    tmp_path: Path, text: str, kwargs: dict, match: str
) -> None:
    with pytest.raises(DatasetError, match=match):
        read_file(write(tmp_path / "l.csv", text), **kwargs)


@pytest.mark.parametrize("layout", ["tsfresh", "melt"])
def test_a_long_table_with_a_kind_column_gives_a_channel_per_kind(tmp_path: Path, layout: str) -> None:
    """tsfresh's long format (id, time, kind, value) and pandas' ``melt`` (…, variable, value): one row per series,
    time step and channel; series in the order their ids first appear, channels in their kinds' sorted order."""
    series = np.random.default_rng(4).standard_normal((5, 3, 7)).round(6)
    names = (
        ("id", "time", "kind", "value", "label")
        if layout == "tsfresh"
        else ("label", "id", "time", "variable", "value")
    )
    cells = {"label": lambda i, c, t: "ab"[i % 2], "id": lambda i, c, t: f"s{i}", "time": lambda i, c, t: str(t),
             "kind": lambda i, c, t: "xyz"[c], "variable": lambda i, c, t: "xyz"[c],
             "value": lambda i, c, t: f"{series[i, c, t]:.6f}"}  # fmt: skip
    rows = [",".join(cells[n](i, c, t) for n in names) for i in range(5) for c in range(3) for t in range(7)]
    order = np.random.default_rng(5).permutation(len(rows))
    path = write(tmp_path / "k.csv", ",".join(names) + "\n" + "\n".join(rows[k] for k in order) + "\n")
    ds = read_file(path)
    first_seen = list(dict.fromkeys(int(rows[k].split(",")[names.index("id")][1:]) for k in order))
    np.testing.assert_allclose(ds.X, series[first_seen], atol=1e-6)  # kinds x, y, z in their names' order
    assert [ds.classes[k] for k in ds.y] == ["ab"[i % 2] for i in first_seen]


def test_a_long_table_read_alone_orders_its_kinds_by_name_whatever_the_rows_order(tmp_path: Path) -> None:
    """Regression: a kind's channel was its place in the order kinds first appear, so a file to predict on, read
    alone, whose rows list the kinds in another order than the training file's (another export, sorted otherwise)
    fed the model swapped channels; kinds now take their names' sorted order, as pandas' ``pivot`` gives them."""
    series = np.random.default_rng(7).standard_normal((3, 3, 4)).round(6)
    steps = [(i, t) for i in range(3) for t in range(4)]

    def read(kinds: str) -> np.ndarray:
        rows = [f"s{i},{t},{k},{series[i, 'enz'.index(k), t]:.6f}" for k in kinds for i, t in steps]
        path = write(tmp_path / f"{kinds}.csv", "id,time,kind,value\n" + "\n".join(rows) + "\n")
        return read_file(path, label_column=None).X

    np.testing.assert_allclose(read("zen"), series, atol=1e-6)  # e, n, z: sorted
    np.testing.assert_allclose(read("nze"), series, atol=1e-6)


@pytest.mark.parametrize("kind_column", [True, False])
def test_the_channels_of_long_tables_line_up_by_name_across_files(tmp_path: Path, kind_column: bool) -> None:
    """Regression: a kind's channel is its place in the order kinds first appear (or its value column's place), so
    a test file whose rows list the kinds in another order (a shuffled or differently sorted export), or whose
    columns come in another order, read with its channels silently swapped against the training file's."""
    series = np.random.default_rng(6).standard_normal((4, 3, 5)).round(6)

    def table(kinds: str) -> str:
        steps = [(i, t) for i in range(4) for t in range(5)]
        if kind_column:
            rows = [f"s{i},{t},{k},{series[i, 'enz'.index(k), t]:.6f},{'ab'[i % 2]}" for k in kinds for i, t in steps]
            return "id,time,kind,value,label\n" + "\n".join(rows) + "\n"
        rows = [f"s{i},{t}," + ",".join(f"{series[i, 'enz'.index(k), t]:.6f}" for k in kinds) + f",{'ab'[i % 2]}"
                for i, t in steps]  # fmt: skip
        return f"id,time,{','.join(kinds)},label\n" + "\n".join(rows) + "\n"

    train, test = write(tmp_path / "train.csv", table("enz")), write(tmp_path / "test.csv", table("zen"))
    ds = read_split_files({"train": train, "test": test})
    np.testing.assert_allclose(ds.split("train")[0], series, atol=1e-6)
    np.testing.assert_allclose(ds.split("test")[0], series, atol=1e-6)
    other = write(tmp_path / "other.csv", table("enz").replace(",e,", ",w,"))
    with pytest.raises(DatasetError, match=r"train\.csv, .*other\.csv: the files name different channels"):
        read_split_files({"train": train, "test": other})


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "id,time,kind,v,label\n1,0,x,1,a\n1,0,x,2,a\n1,0,y,3,a\n2,0,x,3,b\n",
            r"lines 2 and 3: .* for one channel, 'x' \('kind'\)",
        ),
        (
            "id,time,kind,v,w,label\n1,0,x,1,1,a\n1,0,y,2,1,a\n2,0,x,3,1,b\n",
            r"'kind' column names each row's channel .*'v', 'w'",
        ),
        ("id,time,kind,v,label\n1,0,x,1,a\n1,0,,2,a\n2,0,x,3,b\n", r"line 3: the 'kind' column is missing"),
    ],
)
def test_a_long_table_with_a_kind_column_that_cannot_be_read_is_refused(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(DatasetError, match=match):
        read_file(write(tmp_path / "k.csv", text))


def test_kinds_measured_at_other_times_leave_gaps_for_missing_to_decide(tmp_path: Path) -> None:
    rows = [f"{i},{t},x,{t},{i}" for i in range(3) for t in range(4)] + [
        f"{i},{t},y,{10 + t},{i}" for i in range(3) for t in (0, 2, 3)
    ]
    path = write(tmp_path / "k.csv", "id,time,kind,value,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match="missing"):
        read_file(path)
    ds = read_file(path, missing="interpolate")
    np.testing.assert_allclose(ds.X[0], [[0, 1, 2, 3], [10, 11, 12, 13]])


def test_a_long_table_without_targets_reads_with_label_column_none(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", "id,time,v,w\n1,0,1,2\n1,1,2,2\n2,1,3,3\n2,0,4,4\n")
    raw = parse_file(path, label_column=None)
    assert raw.y is None
    np.testing.assert_array_equal(raw.X, [[[1, 2], [2, 2]], [[4, 3], [4, 3]]])


def test_a_table_of_one_row_per_id_is_read_wide(tmp_path: Path) -> None:
    """Named like a long table's columns, but every id once: one series per row (the id column, distinct whole
    numbers, dropped as row numbers; the time column, which names the row, left out: its values are no step)."""
    with pytest.warns(UserWarning, match="'time' name each row's series and time"):
        ds = read_file(write(tmp_path / "w.csv", "label,id,time,u,v\na,1,5,6,7\nb,2,7,8,9\n"))
    np.testing.assert_array_equal(ds.X[:, 0], [[6, 7], [8, 9]])


@pytest.mark.parametrize(
    "name, text, column, hint",
    [
        ("l.csv", frame_text(), 5, "label"),
        ("l.tsv", frame_text("\t"), 5, "label"),
        ("n.csv", frame_text(label="name"), 5, "name"),
    ],
)
def test_a_text_column_in_a_file_with_a_header_suggests_it_as_the_label_column(
    tmp_path: Path, name: str, text: str, column: int, hint: str
) -> None:
    """Regression: with the default label_column=0, a header ending in 'label' failed with "non-numeric value 'a'"
    and no hint."""
    pattern = (
        rf"line 2, column {column}: non-numeric value 'a'.*pass label_column='{hint}'\."  # the CLI: --label-column
    )
    with pytest.raises(DatasetError, match=pattern):
        read_file(write(tmp_path / name, text))


def numeric_label_last(sep: str = ",") -> str:
    """What ``df["label"] = y; df.to_csv(path, sep=sep, index=False)`` writes for 3 series of 4 unnamed time steps
    and the classes 1 and 2: a numbered header, then the label column last."""
    rows = [[0.5, 0.6, 0.7, 0.8, 1], [0.1, 0.2, 0.3, 0.4, 2], [0.9, 0.8, 0.7, 0.6, 1]]
    return sep.join(["0", "1", "2", "3", "label"]) + "\n" + "".join(sep.join(map(str, r)) + "\n" for r in rows)


@pytest.mark.parametrize("name, sep", [("last.csv", ","), ("last.tsv", "\t")])
def test_a_numeric_label_column_named_in_the_header_is_not_read_as_a_time_step(
    tmp_path: Path, name: str, sep: str
) -> None:
    """Regression: read with the default label_column, pandas' ``0,…,k,label`` header with numeric labels made a
    regression on the first time step and the labels the last time step, without a word (the service then trained
    it). The default now refuses, naming the column; the column named, or an explicit 0, reads as asked."""
    path = write(tmp_path / name, numeric_label_last(sep))
    said = (
        rf"{name}: The header names column 5 'label' and the targets are read from column 1 \('0'\): pass "
        r"label_column='label'\. Or pass label_column=0 to keep "
        "reading column 1 as the targets"
    )
    with pytest.raises(DatasetError, match=said):
        Dataset.from_file(str(path))
    with pytest.raises(DatasetError, match=r"read_file\(.*label_column='label'\).*--label-column label"):
        dataset_from(path)  # the one-call APIs, which take no reader options, say how to read it first
    named = read_file(path, label_column="label")
    assert named.task == "classification" and named.classes == ["1", "2"]
    np.testing.assert_allclose(named.X[:, 0, 0], [0.5, 0.1, 0.9])
    asked = read_file(path, label_column=0)
    assert asked.task == "regression" and asked.y.tolist() == pytest.approx([0.5, 0.1, 0.9])
    assert asked.X[:, 0, -1].tolist() == [1, 2, 1]


def test_the_cli_default_label_column_refuses_a_header_naming_another_and_0_reads_as_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--label-column`` left out is the library's default, not an explicit 0."""
    path = str(write(tmp_path / "last.csv", numeric_label_last()))
    with pytest.raises(DatasetError, match=r"column 5 'label'"):
        load_data(build_parser().parse_args(["recommend", path]))
    assert main(["recommend", path]) == 1  # said once, in the command line's terms
    assert "pass --label-column label. Or pass --label-column 0 to keep" in capsys.readouterr().err
    asked = load_data(build_parser().parse_args(["recommend", path, "--label-column", "0"]))
    assert asked.task == "regression" and asked.X.shape == (3, 1, 4)


def test_a_header_naming_the_targets_column_or_several_like_targets(tmp_path: Path) -> None:
    """A label-named first column is what the default reads (no refusal); several label-named columns besides it
    are refused naming each, since none can be chosen for the user."""
    first = read_file(write(tmp_path / "first.csv", "label,0,1,2\n1,0.5,0.6,0.7\n2,0.1,0.2,0.3\n"))
    assert first.classes == ["1", "2"] and first.X.shape == (2, 1, 3)
    both = write(tmp_path / "both.csv", "t0,t1,class,target\n0.5,0.6,1,2.5\n0.1,0.2,2,3.5\n")
    with pytest.raises(DatasetError, match=r"column 3 'class' .*column 4 'target'") as refused:
        read_file(both)
    assert not isinstance(refused.value, ReadOptionError)  # no single option to suggest
    assert read_file(both, label_column="target").X.shape == (2, 1, 3)


def test_a_quoted_field_over_the_csv_modules_size_limit_is_a_dataset_error(tmp_path: Path) -> None:
    """csv.Error ("field larger than field limit") must not escape the reader (the service turns DatasetError into
    a 422 answer)."""
    path = write(tmp_path / "big.csv", 'f0,label\n1,"' + "x," * 70_000 + '"\n2,"a, b"\n')
    limit = csv.field_size_limit(131_072)  # the default, which reading an ARFF (scipy.io.arff) raises for good
    try:
        with pytest.raises(DatasetError, match=r"big\.csv, line 2: 70002 fields, but the header has 2"):
            read_file(path, label_column="label")
    finally:
        csv.field_size_limit(limit)


def test_a_long_table_may_quote_its_fields(tmp_path: Path) -> None:
    """As a spreadsheet or csv.QUOTE_ALL writes it; a quoted label may hold the delimiter."""
    text = '"id","time","v","label"\n"a","1","2.5","x, y"\n"a","0","1.5","x, y"\n"b","0","3","z"\n"b","1","4","z"\n'
    ds = read_file(write(tmp_path / "q.csv", text))
    np.testing.assert_array_equal(ds.X[:, 0], [[1.5, 2.5], [3, 4]])
    assert ds.classes == ["x, y", "z"]


def test_a_ragged_table_named_like_a_long_one_but_with_one_row_per_id_reads_as_series_rows(tmp_path: Path) -> None:
    """Shorter rows are shorter series in a wide table, whatever its header calls the columns (a 'series' column of
    distinct whole numbers names the series: test_a_dataframe_index_named_like_the_series_is_no_time_step)."""
    with pytest.warns(UserWarning, match="'series', 'time' name each row's series and time"):
        ds = read_file(
            write(tmp_path / "w.csv", "label,series,time,u,v\na,7.5,1,2,3\nb,9.5,4,5\n"), variable_length="pad"
        )
    assert ds.X.shape == (2, 1, 2)
    np.testing.assert_array_equal(ds.X[:, 0], [[2, 3], [5, 5]])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_with_its_byte_order_mark_reads(tmp_path: Path, encoding: str) -> None:
    """Regression: Excel's "Unicode Text" and PowerShell's default redirect write UTF-16 with a byte order mark; it
    was refused as "not UTF-8 text"."""
    path = tmp_path / "u.csv"
    text = "label,a,b,c\nx,1,2,3\ny,4,5,6\n"
    path.write_bytes(("\ufeff" + text).encode(encoding) if encoding != "utf-16" else text.encode(encoding))
    ds = read_file(path, label_column="label")
    assert ds.classes == ["x", "y"]
    np.testing.assert_array_equal(ds.X[:, 0], [[1, 2, 3], [4, 5, 6]])


def test_text_in_another_encoding_is_refused_saying_which_to_save_it_in(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("label,a,b\ncafé,1,2\nthé,3,4\n".encode("cp1252"))
    with pytest.raises(DatasetError, match=r"latin\.csv, line 2: not UTF-8 text.*save it as UTF-8"):
        read_file(path, label_column="label")


def test_a_long_table_written_with_its_dataframe_index_reads_without_it(tmp_path: Path) -> None:
    """pandas' ``to_csv(path)`` writes the row index first (an unnamed column, or 'index' after reset_index): in a
    long table it is no channel."""
    series = np.arange(2 * 5, dtype=float).reshape(2, 1, 5)
    body = _long_table(series, ["a", "b"]).splitlines()
    for index_name in ("", "index", "Unnamed: 0"):
        rows = [f"{index_name},{body[0]}"] + [f"{k},{row}" for k, row in enumerate(body[1:])]
        ds = read_file(write(tmp_path / "indexed.csv", "\n".join(rows) + "\n"))
        np.testing.assert_array_equal(ds.X, series[list(dict.fromkeys(int(r.split(",")[0][1:]) for r in body[1:]))])


@pytest.mark.parametrize("series_name", ["subject", "patient", "trial", "recording", "unit"])
def test_a_long_table_may_name_its_series_by_what_they_are(tmp_path: Path, series_name: str) -> None:
    series = np.arange(3 * 4, dtype=float).reshape(3, 1, 4)
    ds = read_file(write(tmp_path / "l.csv", _long_table(series, ["a", "b", "a"], (series_name, "time", "v", "label"))))
    assert ds.X.shape == (3, 1, 4)


def test_a_table_with_a_time_column_but_no_series_column_is_refused_not_read_as_rows(tmp_path: Path) -> None:
    """Regression: 'who,time,value,label' (a long table whose series column has a name no rule knows) read silently
    as one series of 2 values per row."""
    text = "who,time,value,label\n" + "\n".join(f"p{i},{t},{t + i},{i % 2}" for i in range(4) for t in range(6)) + "\n"
    with pytest.raises(DatasetError, match=r"l\.csv, line 1: a time column \('time'\).*rename the column that names"):
        read_file(write(tmp_path / "l.csv", text))


@pytest.mark.parametrize("header", ["series_id,sample,value,label", "id,value,label", "event_id,sample,channel,v,y"])
def test_a_table_whose_series_ids_repeat_but_with_no_time_column_is_refused_not_read_as_rows(
    tmp_path: Path, header: str
) -> None:
    """Regression: 'series_id,sample,value,label' (a long table whose time column has a name no rule knows, or none:
    rows in time order) read silently, given its label column, as one series per row of its id, step and value."""
    width = header.count(",")
    rows = [",".join([str(i), *[str(t)] * (width - 1), str(i % 2)]) for i in range(4) for t in range(6)]
    with pytest.raises(DatasetError, match=r"l\.csv: the ids of .* repeat.*no column names the time step.*'time'"):
        read_file(write(tmp_path / "l.csv", header + "\n" + "\n".join(rows) + "\n"), label_column=-1)


def test_a_repeating_id_column_that_holds_the_targets_is_no_long_tables_series_column(tmp_path: Path) -> None:
    ds = read_file(write(tmp_path / "w.csv", "class_id,a,b\n1,2,3\n1,4,5\n2,6,7\n"))
    assert ds.classes == ["1", "2"] and ds.X.shape == (3, 1, 2)


def test_a_file_with_its_own_splits_read_as_one_split_is_refused_not_merged(tmp_path: Path) -> None:
    """Regression: `tshub finetune ID data.npz --test-file test.csv` read the .npz's X_test as training series, so the
    test file (often those very series) was trained on; an .npz of training arrays only still reads as training."""
    X, y = np.random.default_rng(7).standard_normal((6, 8)), np.array([0, 1] * 3)
    np.savez(tmp_path / "both.npz", X_train=X[:4], y_train=y[:4], X_test=X[4:], y_test=y[4:])
    np.savez(tmp_path / "train_only.npz", X_train=X[:4], y_train=y[:4])
    np.savez(tmp_path / "test.npz", X=X[4:], y=y[4:])
    with pytest.raises(DatasetError, match=r"both\.npz: the file holds its own splits \(test, train\).*read it alone"):
        read_split_files({"train": tmp_path / "both.npz", "test": tmp_path / "test.npz"})
    ds = read_split_files({"train": tmp_path / "train_only.npz", "test": tmp_path / "test.npz"})
    assert {name: len(idx) for name, idx in ds.splits.items()} == {"train": 4, "test": 2}


def test_test_series_that_copy_training_series_are_counted_and_warned_about(tmp_path: Path) -> None:
    """Regression: a test file holding copies of training series (same values, same length) read without a word,
    though its scores then measure series the model trained on: `tshub finetune DATA --test-file TEST` and
    ``read_split_files`` now say how many, that the test scores are optimistic, and what to do."""
    rng = np.random.default_rng(0)
    train_rows = rng.normal(size=(6, 5)).round(3)
    train = write(tmp_path / "a_TRAIN.tsv", tsv([[i % 2, *row] for i, row in enumerate(train_rows)]))
    copies = [[1, *train_rows[0]], [0, *train_rows[3]]]  # a label of its own does not make a series new
    shorter = [0, *train_rows[1][:4]]  # the same values, one fewer: another series
    fresh = [[1, *row] for row in rng.normal(size=(3, 5)).round(3)]
    test = write(tmp_path / "a_TEST.tsv", tsv([*copies, shorter, *fresh]))
    said = (
        r"2 of the 6 series of the 'test' file .*a_TEST\.tsv are exact copies of training series \(same values, same "
        r"length\): its scores are optimistic.*remove them from the 'test' file"
    )
    with pytest.warns(UserWarning, match=said):
        read_split_files({"train": train, "test": test}, variable_length="pad")
    args = build_parser().parse_args(
        ["finetune", "X/fcn", str(train), "--test-file", str(test), "--variable-length", "pad"]
    )
    with pytest.warns(UserWarning, match=said):
        load_data(args)
    unseen = write(tmp_path / "b_TEST.tsv", tsv(fresh))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_split_files({"train": train, "test": unseen})


def test_test_windows_overlapping_training_windows_are_counted_and_warned_about(tmp_path: Path) -> None:
    """Regression: windows of length 20 (stride 5) of one recording, the training file the first 40 and the test file
    the next ones, read without a word, though the first two test windows hold 15 and 10 of the last training
    window's steps; only exact copies were said. Overlaps of half a window or more are now counted; a test stretch a
    window's length later, or windows sharing only a constant run (padding, silence), are not."""
    walk = np.random.default_rng(0).normal(size=400).cumsum().round(4)

    def windows(starts: range) -> list[list[float]]:
        return [[s % 2, *walk[s : s + 20]] for s in starts]

    train = write(tmp_path / "w_TRAIN.tsv", tsv(windows(range(0, 200, 5))))  # the last starts at 195
    test = write(tmp_path / "w_TEST.tsv", tsv(windows(range(200, 300, 5))))
    said = (
        r"2 of the 20 series of the 'test' file .*w_TEST\.tsv share 10 or more consecutive values \(half their "
        r"length\) with a training series, beyond exact copies.*cut the 'test' windows from another stretch"
    )
    with pytest.warns(UserWarning, match=said):
        read_split_files({"train": train, "test": test})
    later = write(tmp_path / "later_TEST.tsv", tsv(windows(range(215, 300, 5))))
    flat = [[0, *([0.0] * 12), *walk[300:308]], [1, *walk[310:318], *([0.0] * 12)]]
    flat_train = write(tmp_path / "flat_TRAIN.tsv", tsv([*windows(range(0, 200, 5)), *flat]))
    flat_test = write(tmp_path / "flat_TEST.tsv", tsv([[0, *([0.0] * 12), *walk[320:328]]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_split_files({"train": train, "test": later})
        read_split_files({"train": flat_train, "test": flat_test})


def test_a_benchmark_s_own_splits_are_loaded_without_the_copies_warning(shared_data: Path) -> None:
    """Regression: PowerCons's published test split holds 67 exact copies of training series; a catalogue load
    warned the user to remove them, advice no benchmark split can take. ``benchmark_splits`` (the catalogue's) loads
    them quietly; the same files read as a user's own still say it."""
    from tshub.datasets import load

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load("PowerCons")
    assert len(ds.split("test")[0]) == 180
    folder = shared_data / "UCRArchive_2018" / "PowerCons"
    files = {"train": folder / "PowerCons_TRAIN.tsv.gz", "test": folder / "PowerCons_TEST.tsv.gz"}
    with pytest.warns(UserWarning, match=r"67 of the 180 series of the 'test' file .* are exact copies"):
        read_split_files(files)


@pytest.mark.parametrize("values", ["1.5,,3.5,4.0", "1.5, ,3.5,4.0", "1.5,2.5,3.5, "])
def test_ts_an_empty_or_blank_value_is_refused_saying_where(tmp_path: Path, values: str) -> None:
    """Regression: a blank field (a space between two commas, or before the ':') was read as -1.0 (numpy's
    ``fromstring`` parses whitespace as -1 and the field count still matched)."""
    head = "@problemName p\n@univariate true\n@equalLength true\n@classLabel true a b\n@data\n"
    path = write(tmp_path / "blank.ts", f"{head}{values}:a\n4.0,5.0,6.0,7.0:b\n")
    position = [f.strip() for f in values.split(",")].index("") + 1
    with pytest.raises(DatasetError, match=f"line 6, dimension 0: empty value at position {position}; write '\\?'"):
        read_file(path)


@pytest.mark.parametrize("sep, name", [(",", "shifted.csv"), ("\t", "shifted.tsv")])
def test_an_empty_cell_and_a_spaced_number_do_not_shift_rows_into_each_other(tmp_path: Path, sep: str, name: str):
    """Regression: one row's empty cell (one token fewer) and another's '1 204' (one more) kept the block's token
    count at rows x width, so the fast path's reshape moved series 2's label into series 1 and lost class '2'."""
    rows = [
        ["1", "0.51", "0.62", "", "0.70"],
        ["2", "1 204", "0.33", "0.41", "0.52"],
        ["1", "0.55", "0.60", "0.64", "0.71"],
    ]
    path = write(tmp_path / name, "".join(sep.join(row) + "\n" for row in rows))
    with pytest.raises(DatasetError, match="line 2, column 2: non-numeric value '1 204'"):
        read_file(path, missing="interpolate")
    rows[1][1] = "1204"
    ds = read_file(write(tmp_path / name, "".join(sep.join(row) + "\n" for row in rows)), missing="interpolate")
    assert ds.classes == ["1", "2"] and ds.X[1, 0, 0] == 1204 and ds.X[0, 0, 2] == pytest.approx(0.66)


@pytest.mark.parametrize(
    "header, rows, label_column",
    [
        ("label,400,410,420,430", ["1,0.1,0.5,0.2,0.9", "2,0.3,0.1,0.7,0.2", "1,0.2,0.4,0.2,0.8"], 0),
        ("400,410,420,430,label", ["0.1,0.5,0.2,0.9,1", "0.3,0.1,0.7,0.2,2", "0.2,0.4,0.2,0.8,1"], -1),
        ("class,0.5,1.0,1.5,2.0", ["1,0.1,0.5,0.2,0.9", "2,0.3,0.1,0.7,0.2", "1,0.2,0.4,0.2,0.8"], 0),
    ],
)
def test_a_header_of_numeric_column_names_beside_a_named_label_column_is_a_header(
    tmp_path: Path, header: str, rows: list[str], label_column: int
) -> None:
    """Regression: wavelengths or seconds as column names (``df.to_csv(index=False)`` with float columns) made the
    header a series of class 'label'. A first row whose label cell is text where every other row's is a number
    names the columns."""
    kwargs = {} if label_column == 0 else {"label_column": label_column}
    ds = read_file(write(tmp_path / "spectra.csv", "\n".join([header, *rows]) + "\n"), **kwargs)
    assert ds.classes == ["1", "2"] and len(ds.X) == 3 and ds.X[0, 0] == pytest.approx([0.1, 0.5, 0.2, 0.9])
    text_labels = ["a,0.1,0.5,0.2,0.9", "b,0.3,0.1,0.7,0.2", "a,0.2,0.4,0.2,0.8"]  # a text class first is data
    assert read_file(write(tmp_path / "text.csv", "\n".join(text_labels) + "\n")).classes == ["a", "b"]


def test_a_long_table_of_many_channels_reads_as_long_when_each_id_has_more_rows_than_columns(tmp_path: Path) -> None:
    """Regression: a long export of 10 channels (a 12-lead ECG's, a 9-axis IMU's: 13 columns with id, time and label)
    was read as wide rows, each row a 'series' of 12 values starting with its id and time step. Past 10 columns a
    table reads long when each id has at least as many rows as the table has columns."""
    rng = np.random.default_rng(0)
    channels = [f"lead{i}" for i in range(10)]
    lines = [",".join(["id", "time", *channels, "label"])]
    for series in range(4):
        for step in range(20):
            lines.append(
                ",".join([str(series), str(step), *(f"{v:.3f}" for v in rng.normal(size=10)), "ab"[series % 2]])
            )
    ds = read_file(write(tmp_path / "ecg.csv", "\n".join(lines) + "\n"), label_column="label")
    assert ds.X.shape == (4, 10, 20) and ds.classes == ["a", "b"]
    assert ds.X[1, 3, 5] == pytest.approx(float(lines[1 + 20 + 5].split(",")[2 + 3]), abs=1e-6)
    wide = [",".join(["subject_id", "timestamp", *(f"v{i}" for i in range(30)), "label"])]  # few rows per id: rows
    wide += [",".join([str(i // 2), str(i), *(f"{v:.3f}" for v in rng.normal(size=30)), "ab"[i % 2]]) for i in range(8)]
    assert read_file(write(tmp_path / "wide.csv", "\n".join(wide) + "\n"), label_column="label").X.shape[0] == 8


@pytest.mark.parametrize(
    "text",
    [
        "id,time,kind,value,label\n1,0,x,1,a\n1,0,y,10,a\n1,1,x,2,a\n1,1,y,20,a\n1,2,x,3,a\n"
        "2,0,y,30,b\n2,0,x,3,b\n2,1,x,4,b\n2,1,y,40,b\n2,2,x,5,b\n2,2,y,50,b\n",
        "id,time,x,y,label\n1,0,1,10,a\n1,1,2,20,a\n1,2,3,,a\n2,0,3,30,b\n2,1,4,40,b\n2,2,5,50,b\n",
    ],
)
def test_a_channel_missing_at_a_long_series_last_time_step_is_a_gap_not_a_shorter_series(tmp_path: Path, text: str):
    """Regression: a kind (or an empty value cell) missing at a series' last time step made the series one step
    shorter ('different lengths (2 to 3 values)'), so truncate dropped every series' last step; as inside a series,
    it is a gap for ``missing`` to decide."""
    path = write(tmp_path / "long.csv", text)
    with pytest.raises(DatasetError, match="missing"):
        read_file(path, label_column="label")
    ds = read_file(path, label_column="label", missing="interpolate")
    assert ds.X.shape == (2, 2, 3) and ds.meta.get("variable_length") is None
    np.testing.assert_allclose(ds.X[1], [[3, 4, 5], [30, 40, 50]])
    np.testing.assert_allclose(ds.X[0, 0], [1, 2, 3])
    assert np.isfinite(ds.X[0, 1]).all() and ds.X[0, 1, :2].tolist() == [10, 20]


@pytest.mark.parametrize("times", [np.arange(10), np.arange(10) / 10 + 3, 1_700_000_000 + 60 * np.arange(10)])
def test_a_time_step_missing_from_a_long_series_on_a_regular_grid_is_a_gap_not_closed_up(
    tmp_path: Path, times: np.ndarray
) -> None:
    """Regression: a time step every channel of a series misses (here series 1 at its 5th step) was closed up, the
    series' later values moved a step earlier and the series one shorter ('different lengths'), so variable_length
    pad or truncate misaligned it; on a regular time grid it is a gap, for ``missing`` to decide."""
    values = np.arange(3 * 10, dtype=float).reshape(3, 10) + 1
    stamps = [str(t) for t in times]
    rows = [
        f"{i},{stamps[t]},{values[i, t]:g},{-values[i, t]:g},{i % 2}"
        for i in range(3)
        for t in range(10)
        if (i, t) != (1, 4)
    ]
    path = write(tmp_path / "long.csv", "id,time,x,z,label\n" + "\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match=r"1 time step missing inside the series .* regular time grid"):
        with pytest.raises(DatasetError, match="missing"):
            read_file(path)
    with pytest.warns(UserWarning, match="regular time grid"):
        ds = read_file(path, missing="interpolate")
    assert ds.X.shape == (3, 2, 10)
    np.testing.assert_allclose(ds.X[:, 0], values)  # the hole, interpolated, is the line between its neighbours
    np.testing.assert_allclose(ds.X[:, 1], -values)


def test_long_series_on_irregular_times_read_in_time_order(tmp_path: Path) -> None:
    """Stamps that lie on no regular grid (event times) are read in their order, nothing inserted or warned."""
    times = [0, 1.5, 2.2, 4.1]
    rows = [f"{i},{t},{i + k},{i % 2}" for i in range(4) for k, t in enumerate(times[: 4 - (i == 3)])]
    path = write(tmp_path / "long.csv", "id,time,v,label\n" + "\n".join(rows) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = read_file(path, variable_length="pad")
    assert ds.X.shape == (4, 1, 4) and ds.X[1, 0].tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "text",
    [
        "a\t0,5\t0,7\nb\t0,1\t0,2\na\t0,3\t0,4\n",
        "label\tt1\tt2\n1\t0,5\t0,7\n2\t0,1\t0,2\n",
        '1,0.5,0.7\n2,0.1,"0,2"\n',
    ],
)
def test_decimal_commas_outside_a_semicolon_file_are_refused_naming_them(tmp_path: Path, text: str) -> None:
    """Regression: a tab-separated export with decimal commas was told its data row was 'a header row?', or to read
    its first time step as the targets; the message now names the decimal comma and what to do."""
    with pytest.raises(DatasetError, match="decimal comma") as refused:
        read_file(write(tmp_path / "export.csv", text))
    assert "header row" not in str(refused.value) and "label_column" not in str(refused.value)


def test_an_npz_whose_splits_read_as_two_tasks_is_refused_as_two_files_are(tmp_path: Path) -> None:
    """Regression: whole-number y_train beside fractional y_test in one .npz silently became a regression (its classes
    learned as quantities), where the same targets in two files are refused until the task is said."""
    rng = np.random.default_rng(0)
    path = tmp_path / "mixed.npz"
    np.savez(
        path,
        X_train=rng.normal(size=(6, 8)),
        y_train=np.array([1, 2, 1, 2, 1, 2]),
        X_test=rng.normal(size=(4, 8)),
        y_test=np.array([0.5, 1.5, 2.5, 1.0]),
    )
    with pytest.raises(DatasetError, match="read as classes .* as regression values .* pass task="):
        read_file(path)
    assert read_file(path, task="regression").task == "regression"


def test_an_npz_of_float_class_indices_is_told_to_store_them_as_integers(tmp_path: Path) -> None:
    """Regression: y of whole-number floats indexing 'classes' was refused as 'labels ['0', '1'] are not among the
    declared classes', which does not say that y must be integers to index them."""
    path = tmp_path / "indices.npz"
    np.savez(
        path, X=np.random.default_rng(0).normal(size=(4, 8)), y=np.array([0.0, 1.0, 0.0, 1.0]), classes=["cat", "dog"]
    )
    with pytest.raises(DatasetError, match=r"'y' holds whole numbers as floats.* y\.astype\(int\)"):
        read_file(path)
    np.savez(path, X=np.random.default_rng(0).normal(size=(4, 8)), y=np.array([0, 1, 0, 1]), classes=["cat", "dog"])
    assert read_file(path).classes == ["cat", "dog"]


def test_a_long_table_keeps_its_series_ids_and_a_wide_table_its_id_column(tmp_path: Path) -> None:
    """The ids a table names its series by are kept (``meta["series_ids"]``, in the series' order, and the column's
    name), so that predictions can be written against them rather than against row numbers the user never wrote."""
    series = np.arange(4 * 6, dtype=float).reshape(4, 1, 6)
    path = write(tmp_path / "long.csv", _long_table(series, ["a", "b"] * 2, ("patient_id", "time", "value", "label")))
    ds = read_file(path)
    first_seen = list(dict.fromkeys(line.split(",")[0] for line in path.read_text().splitlines()[1:]))
    assert ds.meta["series_ids"] == {"column": "patient_id", "ids": first_seen}
    wide = write(tmp_path / "wide.csv", "label,case_id,t0,t1,t2\na,17,1,2,3\nb,4,4,5,6\na,9,7,8,9\n")
    ds = read_file(wide)
    assert ds.meta["series_ids"] == {"column": "case_id", "ids": ["17", "4", "9"]}
    assert ds.X.shape == (3, 1, 3)
    held_out = ds.with_splits({"train": np.array([0, 2]), "test": np.array([1])}).subset("test")
    assert held_out.meta["series_ids"] == {"column": "case_id", "ids": ["4"]}  # a subset's ids are its own series'
    assert "series_ids" not in read_file(write(tmp_path / "plain.csv", "label,t0,t1\na,1,2\nb,3,4\n")).meta


@pytest.mark.parametrize("suffix", [".npz", ".ts", ".arff"])
def test_a_label_column_given_for_a_format_that_declares_its_targets_is_refused(tmp_path: Path, suffix: str) -> None:
    """Regression: ``label_column=2`` (``--label-column 2``) with an .npz, .ts or .arff file was silently ignored:
    their targets are declared (the array y, the class attribute), not a column to pick."""
    X, y = np.arange(12, dtype=float).reshape(4, 3), np.array(["a", "b", "a", "b"])
    path = tmp_path / f"data{suffix}"
    if suffix == ".npz":
        np.savez(path, X=X, y=y)
    elif suffix == ".ts":
        rows = "\n".join(",".join(map(str, x)) + f":{label}" for x, label in zip(X, y))
        path.write_text(f"@problemName d\n@univariate true\n@classLabel true a b\n@data\n{rows}\n")
    else:
        attributes = "".join(f"@attribute t{j} numeric\n" for j in range(3))
        rows = "\n".join(",".join(map(str, x)) + f",{label}" for x, label in zip(X, y))
        path.write_text(f"@relation d\n{attributes}@attribute target {{a,b}}\n@data\n{rows}\n")
    assert read_file(path).X.shape == (4, 1, 3) and read_file(path, label_column=None).meta["unlabeled"]
    with pytest.raises(DatasetError, match=rf"label_column=2 picks a column of a delimited text file, but .*{suffix}"):
        read_file(path, label_column=2)
    with pytest.raises(DatasetError, match="label_column='target' picks"):
        read_file(path, label_column="target")


def test_a_header_of_numbers_above_text_labels_is_a_header(tmp_path: Path) -> None:
    """Regression: wavelengths as column names (label,400,410,420) above text classes read as a fourth series of
    class 'label', its values the wavelengths; the first row's label cell names the column like targets."""
    for text, kwargs in (
        ("label,400,410,420\nA,1,2,3\nB,2,3,4\nA,3,4,5\n", {}),
        ("400,410,420,class\n1,2,3,A\n2,3,4,B\n3,4,5,A\n", {"label_column": -1}),
    ):
        ds = read_file(write(tmp_path / "spectra.csv", text), **kwargs)
        assert ds.classes == ["A", "B"] and ds.X.shape == (3, 1, 3)
        np.testing.assert_array_equal(ds.X[:, 0, 0], [1, 2, 3])


@pytest.mark.parametrize("index_name", ["sample", "patient", "subject"])
def test_a_dataframe_index_named_like_the_series_is_no_time_step(tmp_path: Path, index_name: str) -> None:
    """Regression: ``df.index.name = "sample"; df.to_csv(path)`` wrote the row numbers first; read with the label
    column named, they became each series' first time step. A column named like a series id that holds distinct
    whole numbers names the series (kept as ``series_ids``), as ``id`` and ``*_id`` did."""
    text = f"{index_name},label,a,b,c\n0,3,.1,.4,.7\n1,4,.2,.5,.8\n2,3,.3,.6,.9\n"
    ds = read_file(write(tmp_path / "indexed.csv", text), label_column="label")
    assert ds.X.shape == (3, 1, 3) and ds.meta["series_ids"] == {"column": index_name, "ids": ["0", "1", "2"]}
    np.testing.assert_allclose(ds.X[:, 0, 0], [0.1, 0.2, 0.3])


def test_no_labels_on_a_file_whose_header_names_a_target_column_is_refused(tmp_path: Path) -> None:
    """Regression: ``label_column=None`` (``--no-labels``) read a numeric column named 'class' as the last time step
    of every series (150 values and the label: a 151-step series predicted without a word)."""
    path = write(tmp_path / "labelled.csv", "a,b,c,class\n1,2,3,1\n4,5,6,2\n")
    with pytest.raises(DatasetError, match=r"names column 4 'class' like targets.*label_column='class'"):
        read_file(path, label_column=None)
    long = write(
        tmp_path / "long.csv",
        "id,time,value,label\n" + "".join(f"s{i},{t},{t * i},{i % 2}\n" for i in range(4) for t in range(5)),
    )
    with pytest.raises(DatasetError, match="'label' like targets"):
        read_file(long, label_column=None)
    assert read_file(write(tmp_path / "plain.csv", "a,b,c\n1,2,3\n4,5,6\n"), label_column=None).X.shape == (2, 1, 3)


def test_numeric_channel_kinds_are_ordered_by_number(tmp_path: Path) -> None:
    """Regression: kinds 1..12 of a long table's channel column were ordered as text (1, 10, 11, 12, 2, ...), where
    pandas' pivot_table orders them 1..12: arrays built with pandas had their channels in another order."""
    rows = [f"s{i},{t},{c},{100 * c + t}\n" for i in range(2) for t in range(4) for c in range(1, 13)]
    ds = read_file(write(tmp_path / "leads.csv", "id,time,channel,value\n" + "".join(rows)), label_column=None)
    assert ds.meta["channel_names"] == [str(c) for c in range(1, 13)]
    np.testing.assert_array_equal(ds.X[0, :, 0], [100 * c for c in range(1, 13)])


def test_one_hot_targets_are_refused_rather_than_read_as_a_regression(tmp_path: Path) -> None:
    """Regression: ``np.savez(path, X=X, y=np.eye(2)[labels])`` read as a two-output regression, without a word."""
    X, labels = np.random.default_rng(0).normal(size=(6, 1, 8)), np.array([0, 1, 1, 0, 1, 0])
    np.savez(tmp_path / "onehot.npz", X=X, y=np.eye(2)[labels])
    with pytest.raises(DatasetError, match=r"one-hot.*y\.argmax\(axis=1\)"):
        read_file(tmp_path / "onehot.npz")
    with pytest.raises(DatasetError, match="one-hot"):
        Dataset.from_arrays(X, np.eye(2)[labels])
    kept = Dataset.from_arrays(X, np.eye(2)[labels], task="regression")  # said to be a regression: taken as one
    assert kept.task == "regression" and kept.n_outputs == 2


def test_time_stamps_that_are_neither_numbers_nor_iso_dates_are_said_to_keep_the_file_order(tmp_path: Path) -> None:
    """Regression: stamps like 00:00:01, 00:00:00 (or US dates, 01/02/2024) were taken in the order the rows come,
    without a word, where numbers and ISO dates are sorted: a series whose rows were shuffled read scrambled."""
    text = "id,time,value\na,00:00:01,1\na,00:00:00,0\na,00:00:02,2\nb,00:00:00,5\nb,00:00:01,6\nb,00:00:02,7\n"
    with pytest.warns(UserWarning, match=r"'time'.*neither numbers nor ISO 8601.*order the rows come in"):
        ds = read_file(write(tmp_path / "clock.csv", text), label_column=None)
    np.testing.assert_array_equal(ds.X[0, 0], [1, 0, 2])  # as the file has them: said, not sorted by a guess
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ISO stamps are sorted, silently
        iso = text.replace("00:00:0", "2024-01-01T00:00:0")
        np.testing.assert_array_equal(read_file(write(tmp_path / "iso.csv", iso), label_column=None).X[0, 0], [0, 1, 2])


def test_labels_written_with_leading_zeros_stay_as_written(tmp_path: Path) -> None:
    """Regression: class codes 001, 002, 010 read as the numbers 1, 2, 10 (predictions said '1', not '001'), and 01
    and 1 merged into one class: labels with leading zeros are codes, kept as text."""
    ds = read_file(write(tmp_path / "codes.csv", "label,a,b\n001,1,2\n002,3,4\n010,5,6\n001,7,8\n"))
    assert ds.classes == ["001", "002", "010"]
    ds = read_file(write(tmp_path / "mixed.csv", "label,a,b\n01,1,2\n1,3,4\n01,5,6\n"))
    assert ds.classes == ["01", "1"]
    assert read_file(write(tmp_path / "plain.csv", "label,a,b\n0,1,2\n1.0,3,4\n0,5,6\n")).classes == ["0", "1"]


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_spreadsheet_s_empty_rows_are_skipped_as_blank_lines_are(tmp_path: Path, delimiter: str) -> None:
    """Regression: Excel writes an empty row as delimiters only (;;; or ,,,), refused as "line 3: the label (column
    1) is missing" where a blank line is skipped."""
    text = f"label{delimiter}a{delimiter}b\nx{delimiter}1{delimiter}2\n{delimiter * 2}\ny{delimiter}3{delimiter}4\n{delimiter * 2}\n"
    ds = read_file(write(tmp_path / "sheet.csv", text))
    assert ds.classes == ["x", "y"] and ds.X.shape == (2, 1, 2)
    with pytest.raises(DatasetError, match=r"every row is empty \(delimiters only\)"):
        read_file(write(tmp_path / "empty.csv", f"{delimiter * 3}\n{delimiter * 3}\n"))


@pytest.mark.parametrize(
    ("text", "value"), [('label,a,b\nx,"1,234.5",2\n', "1,234.5"), ("label;a;b\nx;1.234,5;2\n", "1.234,5")]
)
def test_a_number_with_thousands_separators_is_refused_saying_so(tmp_path: Path, text: str, value: str) -> None:
    """Regression: 1,234.5 (or 1.234,5 in a ';' file) was a "non-numeric value", with a hint to read column 'a' as
    the targets: the separators are the problem."""
    with pytest.raises(DatasetError, match="thousands separators") as refused:
        read_file(write(tmp_path / "money.csv", text))
    assert value in str(refused.value) and "label_column" not in str(refused.value)


def test_a_wide_table_s_subject_and_time_columns_are_no_values(tmp_path: Path) -> None:
    """Regression: a table of whole series with a subject and a time column (recordings of a subject, one per row)
    read subject and time as each series' first two values (14 steps where 12 were recorded); they name the row, not
    a value: left out, said, and the subject kept as the series' name."""
    rows = ["subject,time," + ",".join(f"v{j}" for j in range(12)) + ",label"]
    rows += [f"{s},{t}," + ",".join(f"{0.1 * j + s:.2f}" for j in range(12)) + ",a" for s in range(3) for t in range(2)]
    with pytest.warns(UserWarning, match=r"'subject', 'time'.*left out"):
        ds = read_file(write(tmp_path / "sessions.csv", "\n".join(rows) + "\n"), label_column="label")
    assert ds.X.shape == (6, 1, 12)
    np.testing.assert_allclose(ds.X[2, 0, :2], [1.0, 1.1])
    assert ds.meta["series_ids"] == {"column": "subject", "ids": ["0", "0", "1", "1", "2", "2"]}


def test_a_ts_series_whose_dimensions_differ_in_length_is_refused_not_padded(tmp_path: Path) -> None:
    """Regression: a .ts series of dimensions 3 and 2 values long was padded (or resampled) dimension by dimension,
    misaligning their time steps, where arrays of channels of two lengths are refused as sampled at two rates."""
    text = "@problemName d\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true x\n@data\n"
    path = write(tmp_path / "rates.ts", text + "1,2,3:1,2:x\n4,5,6:7,8,9:x\n")
    with pytest.raises(DatasetError, match=r"line 7: its 2 dimensions have different lengths \(3, 2\)"):
        read_file(path, variable_length="pad")
    ragged = write(tmp_path / "ragged.ts", text + "1,2,3:1,2,3:x\n4,5:7,8:x\n")  # series of two lengths: fine
    assert read_file(ragged, variable_length="pad").X.shape == (2, 2, 3)


def test_an_arff_s_numeric_target_named_so_is_no_time_step_without_labels(tmp_path: Path) -> None:
    """Regression: under label_column=None (--no-labels) a flat ARFF's last attribute, numeric and named 'target',
    was read as the last time step of every series."""
    attributes = "".join(f"@attribute t{j} numeric\n" for j in range(3)) + "@attribute target numeric\n"
    path = write(tmp_path / "r.arff", f"@relation r\n{attributes}@data\n1,2,3,0.5\n4,5,6,1.5\n")
    assert read_file(path, label_column=None).X.shape == (2, 1, 3)
    assert read_file(path).y.tolist() == [0.5, 1.5]
    plain = "".join(f"@attribute t{j} numeric\n" for j in range(4))
    assert read_file(
        write(tmp_path / "p.arff", f"@relation p\n{plain}@data\n1,2,3,4\n5,6,7,8\n"), label_column=None
    ).X.shape == (2, 1, 4)


def test_a_column_named_like_the_series_holding_text_ids_names_them(tmp_path: Path) -> None:
    """Regression: text ids (P01, P02) in a column named 'id' or 'patient' were refused as non-numeric values with a
    hint to read them as the targets; they name the series, as whole-number ids do."""
    for name in ("id", "patient"):
        text = f"{name},label,a,b,c\nP01,x,1,2,3\nP02,y,4,5,6\n"
        ds = read_file(write(tmp_path / "text_ids.csv", text), label_column="label")
        assert ds.X.shape == (2, 1, 3) and ds.meta["series_ids"] == {"column": name, "ids": ["P01", "P02"]}
    with pytest.raises(DatasetError, match="non-numeric"):  # repeated text in such a column is no id: refused
        read_file(write(tmp_path / "dup.csv", "id,label,a,b\nP,x,1,2\nP,y,3,4\nQ,x,5,6\n"), label_column="label")
