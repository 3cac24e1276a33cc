"""Labels given as numbers come back as numbers: from the Dataset through training, checkpoints and ``predict``.

Regression: ``Dataset.from_arrays(X, y)`` with int labels trained a model whose ``predict`` returned '3'/'7', so
``np.mean(model.predict(X) == y)`` was 0.0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tshub
from tshub.data.dataset import Dataset, DatasetError
from tshub.data.splits import random_split, reduce_train
from tshub.hub.checkpoint import CONFIG_NAME
from tshub.hub.errors import CheckpointError

REPO_ZOO = Path(__file__).resolve().parents[1] / "zoo"


def int_labelled(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Two separable classes labelled 3 and 7 (numpy ints)."""
    rng = np.random.default_rng(0)
    y = np.where(np.arange(n) % 2 == 0, 3, 7)
    X = rng.standard_normal((n, 1, 32)).astype(np.float32) + (y == 7)[:, None, None] * 2.0
    return X, y


@pytest.fixture(scope="module")
def trained() -> tuple[Any, np.ndarray, np.ndarray]:
    X, y = int_labelled()
    result = tshub.train_from_scratch(
        "fcn", Dataset.from_arrays(X, y), max_epochs=2, seed=0, progress=False, arch_kwargs={"filters": (4, 8, 4)}
    )
    return result.model, X, y


def test_int_labels_are_kept_beside_their_strings_and_through_every_transformation() -> None:
    X, y = int_labelled()
    ds = Dataset.from_arrays(X, y)
    assert ds.classes == ["3", "7"] and ds.class_values == [3, 7]
    split = random_split(ds, {"train": 0.5, "test": 0.5}, seed=0)
    for derived in (split, split.subset("train"), reduce_train(split, 10, seed=0)):
        assert derived.class_values == [3, 7]
    labels = split.split("test", labels=True)[1]
    assert labels.dtype == np.int64 and set(labels.tolist()) <= {3, 7}
    assert Dataset.from_arrays(X, y.astype(float)).class_values == [3, 7]  # integral floats read as ints
    assert Dataset.from_arrays(X, y == 7).class_values == [False, True]
    assert Dataset.from_arrays(X, y.astype(str)).class_values is None
    assert Dataset.from_arrays(X, y, classes=[3, 7, 9]).class_values == [3, 7, 9]  # declared, one never seen
    assert Dataset.from_arrays(X, y / 2, task="classification").class_values is None  # 1.5 and 3.5: fractional


def test_numbers_held_in_an_object_array_keep_their_type() -> None:
    """Regression: ints in a pandas object column (``pd.Series([3, 7], dtype=object)``) came back as '3' and '7'."""
    X, y = int_labelled()
    assert Dataset.from_arrays(X, y.astype(object)).class_values == [3, 7]
    assert Dataset.from_arrays(X, (y == 7).astype(object)).class_values == [False, True]
    assert Dataset.from_arrays(X, y.astype(float).astype(object)).class_values == [3, 7]
    mixed = np.array([3 if i % 2 else "7" for i in range(len(y))], dtype=object)  # one type is none of them
    assert Dataset.from_arrays(X, mixed).class_values is None


def test_class_values_that_are_not_the_classes_are_refused() -> None:
    X, y = int_labelled()
    with pytest.raises(DatasetError, match="class_values must be the classes"):
        Dataset(name="t", X=X, y=y == 7, task="classification", classes=["3", "7"], class_values=[7, 3])


def test_the_constructor_refuses_class_indices_that_are_not_whole_numbers() -> None:
    """Regression: Dataset(..., y=[0.5, 1.7], task="classification") cast the indices to 0 and 1 without a word."""
    X = np.zeros((2, 1, 4), np.float32)
    with pytest.raises(DatasetError, match=r"class indices must be whole numbers, got 0\.5.*from_arrays"):
        Dataset(name="d", X=X, y=np.array([0.5, 1.7]), task="classification", classes=["a", "b"])
    assert Dataset(name="d", X=X, y=np.array([0.0, 1.0]), task="classification", classes=["a", "b"]).y.tolist() == [
        0,
        1,
    ]


def test_a_model_trained_on_int_labels_predicts_ints_and_keeps_them_through_a_checkpoint(trained, tmp_path: Path):
    model, X, y = trained
    predicted = model.predict(X)
    assert predicted.dtype == np.int64 and set(predicted.tolist()) <= {3, 7}
    assert np.array_equal(predicted == y, model.predict(X, codes=True) == (y == 7))  # compares with y directly
    assert model.predict_proba(X).shape == (len(X), 2)  # columns in the order of classes, as before
    folder = model.save_pretrained(tmp_path / "model")
    assert json.loads((folder / CONFIG_NAME).read_text())["class_values"] == [3, 7]
    reloaded = tshub.load_pretrained(str(folder))
    assert reloaded.class_values == [3, 7] and np.array_equal(reloaded.predict(X), predicted)


@pytest.mark.parametrize(
    ("class_values", "message"),
    [
        (["3", 7], "class_values must be a list of whole numbers or booleans"),
        ([3.5, 7], "class_values must be a list of whole numbers or booleans"),
        ({"3": 3}, "class_values must be a list of whole numbers or booleans"),
        ([3, 7, 9], r"class_values must hold one value per class \(2 classes\), got 3"),
        ([7, 3], "class_values .* are not the classes"),
    ],
)
def test_a_tampered_class_values_is_refused(trained, tmp_path: Path, class_values: Any, message: str) -> None:
    folder = trained[0].save_pretrained(tmp_path / "model")
    config = json.loads((folder / CONFIG_NAME).read_text())
    (folder / CONFIG_NAME).write_text(json.dumps({**config, "class_values": class_values}))
    with pytest.raises(CheckpointError, match=message):
        tshub.load_pretrained(str(folder))


def test_a_checkpoint_without_class_values_predicts_strings_as_before(trained, tmp_path: Path) -> None:
    model, X, _ = trained
    folder = model.save_pretrained(tmp_path / "model")
    config = json.loads((folder / CONFIG_NAME).read_text())
    del config["class_values"]
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    assert (
        tshub.load_pretrained(str(folder)).predict(X).tolist()
        == np.array(["3", "7"])[model.predict(X, codes=True)].tolist()
    )


@pytest.mark.skipif(not (REPO_ZOO / "Coffee" / "fcn").is_dir(), reason="no committed Coffee/fcn checkpoint")
def test_ucr_data_and_zoo_checkpoints_keep_string_labels(shared_data: Path, private_zoo) -> None:
    coffee = tshub.datasets.load("Coffee")
    assert coffee.class_values is None
    private_zoo([REPO_ZOO / "Coffee" / "fcn"])
    model = tshub.load_pretrained("Coffee/fcn")
    assert model.class_values is None
    predicted = model.predict(coffee.split("test")[0])
    assert predicted.dtype.kind == "U" and set(predicted.tolist()) <= set(coffee.classes or [])


def test_an_npz_keeps_the_type_of_its_labels_as_from_arrays_does(tmp_path: Path) -> None:
    """Regression: an .npz whose y was an int array read as text labels, so a model trained on it predicted
    '3'/'7' and ``np.mean(model.predict(X) == y)`` was 0.0. An .npz stores its labels' type, as arrays do."""
    X, y = int_labelled()
    np.savez(tmp_path / "ints.npz", X=X, y=y)
    ds = Dataset.from_file(str(tmp_path / "ints.npz"))
    assert ds.classes == ["3", "7"] and ds.class_values == [3, 7]
    assert ds.class_values == Dataset.from_arrays(X, y).class_values
    np.savez(tmp_path / "bools.npz", X=X, y=y == 7)
    assert Dataset.from_file(str(tmp_path / "bools.npz")).class_values == [False, True]
    np.savez(tmp_path / "text.npz", X=X, y=y.astype(str))
    assert Dataset.from_file(str(tmp_path / "text.npz")).class_values is None
    np.savez(tmp_path / "indexed.npz", X=X, y=(y == 7).astype(int), classes=np.array(["low", "high"]))
    assert Dataset.from_file(str(tmp_path / "indexed.npz")).class_values is None


def test_a_model_trained_on_an_int_npz_predicts_its_ints(tmp_path: Path) -> None:
    X, y = int_labelled()
    np.savez(tmp_path / "ints.npz", X=X, y=y)
    result = tshub.train_from_scratch(
        "fcn", str(tmp_path / "ints.npz"), max_epochs=1, seed=0, progress=False, arch_kwargs={"filters": (4, 8, 4)}
    )
    predicted = result.model.predict(X)
    assert predicted.dtype == np.int64 and set(predicted.tolist()) <= {3, 7}


def test_integer_labels_beyond_int64_keep_their_exact_values() -> None:
    """Regression: uint64 labels above 2**63 (hashes, device ids) failed with "class_values must be the classes ...
    got [5.0, 9.223372036854776e+18]": their values went through a float64 array and lost their digits."""
    X, y = np.random.default_rng(0).normal(size=(12, 1, 16)), np.arange(12) % 3
    values = [5, 2**63 + 1, 2**64 - 1]
    labelled = Dataset.from_arrays(X, np.array(values, dtype=np.uint64)[y])
    assert labelled.classes == [str(v) for v in values]
    assert labelled.class_values == values
    model = tshub.build_model("fcn", 1, 3, filters=(4, 8, 4))
    model.task, model.classes, model.class_values = "classification", labelled.classes, labelled.class_values
    predicted = model.predict(X)
    assert {int(v) for v in predicted.tolist()} <= set(values)
    assert predicted.dtype == np.uint64
    for beyond in ([-1, 3, 2**64 - 1], [-(2**64), 3, 7], [1, 3, 2**70]):  # no numpy integer type holds them all
        model.class_values = beyond
        assert set(model.predict(X).tolist()) <= set(beyond)


def test_integer_labels_no_numpy_type_holds_keep_their_values_in_the_dataset() -> None:
    """Regression: ints that only an object array holds (-1 beside 2**64 - 1, or 2**70) got no ``class_values``, so
    a model trained on them predicted their text ('1180591620717411303424') instead of the ints."""
    X, y = np.random.default_rng(0).normal(size=(12, 1, 16)), np.arange(12) % 3
    for values in ([1, 3, 2**70], [-1, 3, 2**64 - 1]):
        for labels in (np.array(values, dtype=object)[y], [values[i] for i in y]):
            assert Dataset.from_arrays(X, labels).class_values == values
    mixed = np.array([1, 3.5, 2**70], dtype=object)[y]  # a fractional label: text, as for any fractional labels
    assert Dataset.from_arrays(X, mixed, task="classification").class_values is None


def test_a_multi_head_model_predicts_each_heads_numeric_labels_as_numbers(tmp_path: Path) -> None:
    """Regression: a head trained on int labels predicted their text ('0', '1'), so comparing ``predict(X,
    head=...)`` with the dataset's labels scored 0.0 where the recorded head accuracy was 0.6; through a checkpoint
    too."""
    from tshub.training.multihead import pretrain_multihead

    rng = np.random.default_rng(0)

    def labelled(name: str, length: int, values: list[int]) -> Dataset:
        y = np.array(values)[np.arange(40) % 2]
        X = rng.normal(size=(40, 1, length)).astype(np.float32) + (y == values[1])[:, None, None] * 2.0
        return Dataset.from_arrays(X, y, name=name, splits={"train": np.arange(30), "test": np.arange(30, 40)})

    a, b = labelled("A", 30, [3, 7]), labelled("B", 50, [0, 1])
    run = pretrain_multihead("fcn", [a, b], max_epochs=2, arch_kwargs={"filters": (4, 8, 4)}, progress=False)
    X, y = a.split("test", labels=True)
    for model in (run.model, tshub.load_pretrained(run.model.save_pretrained(tmp_path / "mh"))):
        predicted = model.predict(X, head="A")
        assert predicted.dtype.kind == "i" and set(predicted.tolist()) <= {3, 7}
        assert set(model.predict(b.split("test")[0], head="B").tolist()) <= {0, 1}
