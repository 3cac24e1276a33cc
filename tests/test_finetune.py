"""From-scratch training and fine-tuning on real data: learning, ω groups and grid, freezing, regression, predict."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tshub.data import Dataset, DatasetError
from tshub.datasets import load
from tshub.models import TimeSeriesModel
from tshub.training import FitResult, TrainConfig, convergence_rate, finetune, loop, train_from_scratch, train_referent
from tshub.training.monitor import Monitor
from tshub.training.progress import Progress
from tshub.training.search import _ranked, choose

SMALL = {"filters": (16, 32, 16)}


@pytest.fixture(scope="module")
def gunpoint(shared_data: Path) -> Dataset:
    return load("GunPoint", root=shared_data)


@pytest.fixture(scope="module")
def italy(shared_data: Path) -> Dataset:
    return load("ItalyPowerDemand", root=shared_data)


@pytest.fixture(scope="module")
def source(gunpoint: Dataset) -> TimeSeriesModel:
    """A small FCN pretrained on GunPoint, named as load_pretrained names the models it loads."""
    model = train_from_scratch("fcn", gunpoint, max_epochs=2, arch_kwargs=SMALL, progress=False).model
    model.meta["id"] = "GunPoint/fcn"
    return model


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_from_scratch_learns_and_predict_reproduces_the_preprocessing(italy: Dataset, tmp_path: Path):
    result = train_from_scratch(
        "fcn", italy, max_epochs=20, arch_kwargs={"filters": (32, 64, 32)}, seed=0, progress=False
    )
    assert result.metrics["accuracy"] > 0.8  # two balanced classes: chance is 0.5 (seeds 0-5 give 0.88-0.95)
    model = result.model
    assert (model.task, model.classes, model.preprocessor.kind) == ("classification", italy.classes, "znorm")
    assert model.meta["splits"] == {"train": 54, "test": 1029, "val": 13}  # val carved from the official train

    X_test, y_test = italy.split("test")
    labels = model.predict(X_test)
    assert np.mean(labels == np.asarray(italy.classes)[y_test]) == pytest.approx(result.metrics["accuracy"])
    by_hand = (X_test - X_test.mean(axis=2, keepdims=True)) / X_test.std(axis=2, keepdims=True)
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(by_hand.astype(np.float32)))
    proba = model.predict_proba(X_test)
    assert np.allclose(proba, torch.softmax(logits, dim=1).numpy(), atol=1e-5)
    assert np.array_equal(np.asarray(italy.classes)[proba.argmax(axis=1)], labels)

    curve = result.curve()
    assert len(curve) == len(result.history) and 0.0 <= result.convergence_rate <= 1.0
    assert result.val_metrics["accuracy"] == result.history[result.best_epoch - 1]["val_accuracy"]
    record = json.loads(json.dumps(result.to_dict()))
    assert record["metrics"] == result.metrics and record["transfer_report"] is None
    assert model.meta["metrics"] == result.metrics and model.meta["recipe"] == "ucr"  # "auto": 54 train series
    pytest.importorskip("matplotlib").use("Agg")
    result.plot(referent=result, path=tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 0


def test_from_scratch_with_the_same_seed_repeats_exactly(gunpoint: Dataset):
    runs = [
        train_from_scratch("fcn", gunpoint, max_epochs=2, arch_kwargs=SMALL, seed=seed, progress=False)
        for seed in (3, 3, 4)
    ]
    histories = [[{k: v for k, v in r.items() if k != "time_s"} for r in run.history] for run in runs]
    assert histories[0] == histories[1] and runs[0].metrics == runs[1].metrics
    assert histories[0] != histories[2]


def test_finetune_puts_transferred_parameters_in_the_omega_group(source: TimeSeriesModel, italy: Dataset):
    before = _state(source)
    seen: list[dict] = []
    result = source.finetune(italy, lr_multiplier=0.0, max_epochs=2, progress=False, on_epoch_end=seen.append)
    assert isinstance(result, FitResult)
    assert seen == [{**record, "max_epochs": 2, "lr_multiplier": 0.0, "run": 1, "runs": 1} for record in result.history]
    assert all(torch.equal(before[k], v) for k, v in source.state_dict().items())  # the source is untouched
    assert [r["lr"] for r in result.history] == [{"transferred": 0.0, "new": 1e-3}] * 2
    tuned = result.model.state_dict()
    # ω = 0: every transferred parameter keeps the source's value; the head (lr 1e-3) moved.
    transferred = result.transfer_report.transferred_parameters
    assert {k for k in tuned if k.startswith("backbone.") and "running" not in k and "num_batches" not in k} == set(
        transferred
    )
    assert all(torch.equal(tuned[k], before[k]) for k in transferred)
    assert not torch.equal(tuned["backbone.block1.bn.running_mean"], before["backbone.block1.bn.running_mean"])
    meta = result.model.meta
    assert (meta["parent"], meta["parent_dataset"], meta["source_dataset"]) == (
        "GunPoint/fcn",
        "GunPoint",
        "ItalyPowerDemand",
    )
    assert result.model.preprocessor is not source.preprocessor and result.model.preprocessor.kind == "znorm"
    assert result.model.classes == italy.classes and result.lr_multiplier == 0.0


def test_grid_picks_omega_on_validation_never_on_test(source: TimeSeriesModel, italy: Dataset):
    """The test split holds the validation series with flipped labels: test accuracy = 1 − validation accuracy,
    so a choice made on test would be the opposite of the one made on validation."""
    (X_tr, y_tr), (X_te, y_te) = italy.split("train"), italy.split("test")
    n_tr, n_te = len(y_tr), len(y_te)
    ds = Dataset(
        name="ItalyPowerDemand-flipped-test",
        X=np.concatenate([X_tr, X_te, X_te]),
        y=np.concatenate([y_tr, y_te, 1 - y_te]),
        task="classification",
        classes=italy.classes,
        splits={
            "train": np.arange(n_tr),
            "val": np.arange(n_tr, n_tr + n_te),
            "test": np.arange(n_tr + n_te, n_tr + 2 * n_te),
        },
    )
    result = finetune(source, ds, lr_multiplier=[0.01, 2.0], max_epochs=2, progress=False)
    assert [g["lr_multiplier"] for g in result.grid] == [0.01, 2.0]
    assert len({g["val_metrics"]["accuracy"] for g in result.grid}) == 2  # the two choices differ
    chosen = max(result.grid, key=lambda g: g["val_metrics"]["accuracy"])
    assert result.lr_multiplier == chosen["lr_multiplier"]
    assert result.val_metrics == chosen["val_metrics"]  # the kept model is the grid's, not a retrained one
    assert len(result.history) == chosen["epochs"]
    assert result.metrics["accuracy"] == pytest.approx(1 - result.val_metrics["accuracy"])
    assert result.metrics["accuracy"] < 0.5  # what picking on validation costs on this adversarial test split


def test_grid_respects_the_time_budget(source: TimeSeriesModel, italy: Dataset):
    result = finetune(source, italy, lr_multiplier="grid", time_budget_s=0.0, progress=False)
    assert len(result.grid) == 1 and result.stop_reason == "time_budget" and len(result.history) == 1


def test_freeze_backbone_leaves_the_backbone_unchanged(source: TimeSeriesModel, italy: Dataset):
    result = finetune(source, italy, freeze_backbone=True, max_epochs=2, progress=False)
    tuned, original = result.model.state_dict(), source.state_dict()
    backbone = [k for k in tuned if k.startswith("backbone.")]
    assert backbone and all(torch.equal(tuned[k], original[k]) for k in backbone)  # BN statistics included
    assert all(p.requires_grad for p in result.model.parameters())  # frozen only while training
    with pytest.raises(ValueError, match="freeze_backbone"):
        finetune(source, italy, freeze_backbone=True, lr_multiplier="grid", progress=False)


def test_a_frozen_backbone_still_trains_an_input_layer_adapted_to_other_channels(source: TimeSeriesModel):
    """Regression: the input layer adapted from 1 to 2 channels holds one kernel for every channel (the source's,
    divided by 2), and freeze_backbone froze it: the model saw only the sum of its channels and scored two series
    with their channels swapped alike. The layers copied as they were stay frozen."""
    rng = np.random.default_rng(0)
    X = rng.normal(scale=0.1, size=(80, 2, 40))
    y = np.arange(80) % 2
    X[y == 0, 0, 15:25] += 3.0  # the class is which channel carries the bump
    X[y == 1, 1, 15:25] += 3.0
    splits = {"train": np.arange(50), "val": np.arange(50, 65), "test": np.arange(65, 80)}
    data = Dataset.from_arrays(X, y, name="which-channel", splits=splits)
    result = finetune(source, data, freeze_backbone=True, lr_multiplier=0.0, max_epochs=30, progress=False)
    first = result.model.backbone.block1.conv.weight  # it trains at the head's rate: ω sets no frozen layer's
    assert not torch.equal(first[:, 0], first[:, 1])  # the channels have kernels of their own
    swapped = result.model.predict_proba(X[65:, ::-1].copy())
    assert not np.allclose(swapped, result.model.predict_proba(X[65:]))
    tuned, original = result.model.state_dict(), source.state_dict()
    copied = [k for k in tuned if k.startswith("backbone.") and not k.startswith("backbone.block1.conv.weight")]
    assert copied and all(torch.equal(tuned[k], original[k]) for k in copied)


def test_regression_finetune_adapts_one_channel_source_to_three_channels(source: TimeSeriesModel, shared_data: Path):
    seismic = load("SEISMIC-CX", root=shared_data)
    # float32: under bf16 autocast the curve's validation passes differ from the float32 final metrics (4th digit)
    result = finetune(source, seismic, max_epochs=3, bf16=False, progress=False)
    report = result.transfer_report
    assert [a["name"] for a in report.adapted] == ["backbone.block1.conv.weight"]
    assert {r["reason"] for r in report.reinitialised} == {"head"}
    assert set(result.metrics) == {"mae", "mse"} and result.model.task == "regression"
    best = result.history[result.best_epoch - 1]
    (std,) = result.model.preprocessor.target_std  # the loss is on standardised targets, the metrics raw
    assert best["val_loss"] == pytest.approx(best["val_mse"] / std**2, rel=1e-4)  # MSE is the regression loss
    assert result.val_metrics["mae"] == pytest.approx(best["val_mae"], rel=1e-5)
    X_test, y_test = seismic.split("test")
    predicted = result.model.predict(X_test)
    assert predicted.shape == y_test.shape
    assert np.mean(np.abs(predicted - y_test)) == pytest.approx(result.metrics["mae"], rel=1e-5)
    assert result.convergence_rate == pytest.approx(convergence_rate(result.curve(), higher_is_better=False))


def test_from_scratch_with_stream_max_predicts_raw_series(shared_data: Path):
    seismic = load("SEISMIC-CX", root=shared_data)
    result = train_from_scratch(
        "fcn", seismic, preprocessing="minmax_mask", max_epochs=2, arch_kwargs=SMALL, progress=False
    )
    model = result.model
    assert model.use_stream_max and model.preprocessor.kind == "minmax_mask"
    X_test, y_test = seismic.split("test")
    assert np.mean(np.abs(model.predict(X_test) - y_test)) == pytest.approx(result.metrics["mae"], rel=1e-5)


def test_the_referent_of_a_minmax_source_keeps_its_preprocessing_and_stream_max(shared_data: Path):
    """The demo trained its referent with the default z-normalisation whatever the source's preprocessing: a
    referent must differ from the fine-tune only by the pretrained start."""
    seismic = load("SEISMIC-CX", root=shared_data)
    source = train_from_scratch(
        "fcn", seismic, preprocessing="minmax_mask", max_epochs=1, arch_kwargs=SMALL, progress=False
    ).model
    tuned = finetune(source, seismic, max_epochs=1, progress=False)
    referent = train_referent(source, seismic, max_epochs=1, progress=False)
    for model in (tuned.model, referent.model):
        assert model.preprocessor.kind == "minmax_mask" and model.use_stream_max
        assert model.arch_kwargs == source.arch_kwargs
    assert referent.model.meta.get("parent") is None


def test_default_recipe_trains_small_sets_with_the_ucr_schedule(gunpoint: Dataset):
    """The issue: train_from_scratch("fcn", GunPoint) with defaults used "default", which stops FCN at 0.87."""
    result = train_from_scratch("fcn", gunpoint, max_epochs=1, arch_kwargs=SMALL, progress=False)
    assert result.recipe == "ucr" and result.model.meta["train_config"]["early_stopping_patience"] == 100


def test_halving_keeps_the_chosen_omega_exactly_as_trained_alone(source: TimeSeriesModel, italy: Dataset, capsys):
    """Four ω, recipe "default" (first rung 3 epochs): 4 → 2 after 3 epochs, 2 → 1 after 9, the survivor to 12.
    The survivor's model and history are those of the same ω fine-tuned alone; the progress says so."""
    kwargs = {"recipe": "default", "max_epochs": 12, "seed": 0}
    result = finetune(source, italy, lr_multiplier=[0.01, 0.1, 1.0, 2.0], progress="lines", **kwargs)
    err = capsys.readouterr().err
    assert [g["epochs"] for g in result.grid if g["stop_reason"] == "halved"] in ([3, 3, 9], [3, 9, 3], [9, 3, 3])
    survivor = next(g for g in result.grid if g["stop_reason"] != "halved")
    assert survivor["lr_multiplier"] == result.lr_multiplier and survivor["epochs"] == len(result.history)
    alone = finetune(source, italy, lr_multiplier=result.lr_multiplier, progress=False, **kwargs)
    assert _without_time(alone.history) == _without_time(result.history)
    assert alone.metrics == result.metrics
    for name, tensor in alone.model.state_dict().items():
        assert torch.equal(result.model.state_dict()[name], tensor), name
    assert "after 3 epochs: kept" in err and "after 9 epochs: kept" in err
    assert f"chose ω {result.lr_multiplier:g}" in err and "/4)" in err  # the ETA: test_training.py


def test_halving_drops_omegas_when_the_budget_is_shorter_than_its_first_rung(source: TimeSeriesModel, italy: Dataset):
    """Regression: with ω "grid" and 15 epochs, recipe auto (ucr: a first rung of a quarter of its patience, 25
    epochs) trained every ω the whole 15 epochs, as the full grid does: the rung lay beyond the budget, so none was
    ever dropped. The first rung is now at most a third of the maximum (5 here), so the survivors train at least
    three times as long as the dropped; budgets above three rungs keep the recipe's rung (ucr 25, default 3)."""
    from tshub.training.recipes import resolve_recipe
    from tshub.training.search import rung_epochs

    assert rung_epochs(resolve_recipe("ucr", max_epochs=15)[1]) == 5
    assert rung_epochs(resolve_recipe("ucr", max_epochs=2)[1]) == 1
    assert rung_epochs(resolve_recipe("ucr", max_epochs=100)[1]) == 25  # bench/omega_search.py's cap: unchanged
    assert rung_epochs(resolve_recipe("ucr")[1]) == 25 and rung_epochs(resolve_recipe("default")[1]) == 3
    result = finetune(source, italy, lr_multiplier="grid", max_epochs=15, seed=0, progress=False)
    assert result.recipe == "ucr" and len(result.grid) == 10
    halved = [g["epochs"] for g in result.grid if g["stop_reason"] == "halved"]
    assert halved and set(halved) <= {5, 15}, result.grid
    assert sum(g["epochs"] for g in result.grid) < 10 * 15


def test_a_diverged_run_never_ranks_above_a_finite_one():
    """Its NaN logits argmax to one class, so its accuracy can be the higher one; its loss is NaN."""
    nan = float("nan")

    def run(label: str, accuracy: float, loss: float) -> SimpleNamespace:
        best = {"epoch": 1, "val_accuracy": accuracy, "val_loss": loss}
        return SimpleNamespace(label=label, training=SimpleNamespace(best_record=best, config=TrainConfig()))

    runs = [run("diverged", 0.9, nan), run("finite", 0.5, 0.7), run("none", 0.0, 0.0)]
    runs[2].training.best_record = None
    selector = Monitor.resolve("auto", "classification", tie_break=True)
    assert [r.label for r in _ranked(runs, selector)] == ["finite", "diverged", "none"]


def test_without_restore_best_omega_is_ranked_by_the_weights_it_keeps_the_last_epochs():
    """A recipe with restore_best=False keeps each run's last weights: ω must be chosen on their validation
    scores, not on a best epoch whose weights are gone (the chosen model could score below another ω's)."""

    def run(label: str, best: float, last: float) -> SimpleNamespace:
        history = [
            {"epoch": 1, "val_accuracy": best, "val_loss": 0.5},
            {"epoch": 2, "val_accuracy": last, "val_loss": 0.6},
        ]
        training = SimpleNamespace(
            best_record=history[0], config=TrainConfig(restore_best=False), result=SimpleNamespace(history=history)
        )
        return SimpleNamespace(label=label, training=training)

    runs = [run("best epoch high, kept weights low", 0.9, 0.5), run("kept weights high", 0.8, 0.75)]
    selector = Monitor.resolve("auto", "classification", tie_break=True)
    assert [r.label for r in _ranked(runs, selector)] == ["kept weights high", "best epoch high, kept weights low"]


class _CutShortTraining:
    """What the ω search reads of a training: one that stops at epoch ``stops_at`` whatever a rung asks (as a spent
    time budget or the recipe's early stop ends it), with a fixed validation accuracy."""

    def __init__(self, stops_at: int, accuracy: float):
        self.config, self.epoch, self.out_of_time = TrainConfig(max_epochs=12), 0, False
        self.stops_at, self.accuracy = stops_at, accuracy

    def epochs_bound(self, until: int | None = None) -> int:
        return max(self.epoch, min(until or self.config.max_epochs, self.stops_at))

    def run(self, until: int | None = None) -> None:
        self.epoch = self.epochs_bound(until)

    @property
    def best_record(self) -> dict[str, float]:
        return {"epoch": self.epoch, "val_accuracy": self.accuracy, "val_loss": 1.0}


def test_halving_logs_the_epochs_each_omega_trained_when_a_rung_is_cut_short(capsys):
    """Regression: under a time budget the log said "after 75 epochs: kept …" of runs that had trained 26; the
    rung's planned epochs were printed, not the trained ones. Four ω, first rung 3 epochs, two of them cut short."""
    runs = [
        SimpleNamespace(
            label=f"ω {w}", training=_CutShortTraining(stops, accuracy), eliminated_after=None, finish=lambda: None
        )
        for w, stops, accuracy in [(0.1, 12, 0.9), (0.5, 5, 0.8), (1, 2, 0.7), (2, 12, 0.4)]
    ]
    selector = Monitor.resolve("auto", "classification", tie_break=True)
    chosen = choose(runs, selector, "halving", Progress("ω search", 0, "lines"), rung_epochs=3)
    err = capsys.readouterr().err
    assert chosen.label == "ω 0.1" and chosen.training.epoch == 12
    assert "after 2 to 3 epochs: kept ω 0.1 after 3 epochs: val_accuracy 0.9" in err
    assert "— dropped ω 1 after 2 epochs, ω 2 after 3 epochs" in err
    assert "after 5 to 9 epochs: kept ω 0.1 after 9 epochs: val_accuracy 0.9" in err
    assert "— dropped ω 0.5 after 5 epochs" in err


def test_halving_chooses_at_once_when_no_omega_can_train_further(capsys):
    """Regression: with every ω at its last epoch after a rung (``--max-epochs 3``, a first rung of 3), the search
    ranked the same scores again rung after rung, printing "after 3 epochs: kept ..." three times over; and after
    "chose ω ..." the last line repeated the status of the ω trained last."""
    runs = [
        SimpleNamespace(
            label=f"ω {w}", training=_CutShortTraining(3, accuracy), eliminated_after=None, finish=lambda: None
        )
        for w, accuracy in [(0.1, 0.6), (0.5, 0.8), (1, 0.7), (2, 0.4), (5, 0.5)]
    ]
    selector = Monitor.resolve("auto", "classification", tie_break=True)
    display = Progress("ω search", 0, "lines")
    display.update(3, loss=0.1)  # the status of the run trained last, ω 5's
    chosen = choose(runs, selector, "halving", display, rung_epochs=3)
    display.close()
    err = capsys.readouterr().err
    assert chosen.label == "ω 0.5" and "kept" not in err and "dropped" not in err
    assert err.splitlines()[-1] == "chose ω 0.5 on validation: val_accuracy 0.8, val_loss 1 (epoch 3)"
    assert all(run.eliminated_after is None for run in runs)  # each trained as far as it could


def test_a_resumed_search_never_chooses_an_omega_it_had_dropped(capsys):
    """Two ω tied on validation, the first dropped by the search before its states were kept: a resumed search that
    ranked every ended ω again would choose the first on the tie (ties keep the given order), not the one it kept."""
    runs = [
        SimpleNamespace(
            label=f"ω {w}", training=_CutShortTraining(3, 0.8), eliminated_after=dropped, finish=lambda: None
        )
        for w, dropped in [(0.5, 3), (1, None)]
    ]
    for run in runs:
        run.training.epoch = 3  # both ended, as their kept states say
    selector = Monitor.resolve("auto", "classification", tie_break=True)
    assert choose(runs, selector, "halving", Progress("ω search", 0, "lines"), rung_epochs=3).label == "ω 1"


class _ScoredTraining:
    """What the ω search reads of a training whose validation accuracy at each epoch is ``scores`` (its best so
    far kept), resumed at ``epoch``; ``ended``: a kept ended state (trains no further)."""

    def __init__(self, scores: list[float], epoch: int = 0, ended: bool = False):
        self.scores, self.epoch, self.ended, self.out_of_time = scores, epoch, ended, False
        self.config = TrainConfig(max_epochs=len(scores))

    def epochs_bound(self, until: int | None = None) -> int:
        return self.epoch if self.ended else max(self.epoch, min(until or self.config.max_epochs, len(self.scores)))

    def run(self, until: int | None = None) -> None:
        self.epoch = self.epochs_bound(until)

    @property
    def best_record(self) -> dict[str, float] | None:
        return (
            {"epoch": self.epoch, "val_accuracy": max(self.scores[: self.epoch]), "val_loss": 1.0}
            if self.epoch
            else None
        )


def test_a_search_killed_while_its_runs_are_kept_resumes_to_the_same_choice() -> None:
    """Regression (review): kept states mark the ω the search dropped; a kill while they were being kept left some
    marked, and a resumed search that took the marked ones out of the candidates halved a smaller set, keeping
    another number of runs at each rung, and could choose another ω. Every run now takes part in the replayed
    rungs, its kept score as it was when dropped. Random curves, kills after any number of runs kept, the others
    resumed from an earlier state: always the same choice."""
    selector = Monitor.resolve("auto", "classification", tie_break=True)
    quiet = Progress("ω search", 0, False)
    for trial in range(300):
        rng = np.random.default_rng(trial)
        curves = [list(rng.random(27)) for _ in range(int(rng.integers(2, 11)))]

        def run(i: int, training: _ScoredTraining, dropped: int | None = None) -> SimpleNamespace:
            return SimpleNamespace(label=f"ω {i}", training=training, eliminated_after=dropped, finish=lambda: None)

        first = [run(i, _ScoredTraining(curve)) for i, curve in enumerate(curves)]
        chosen = choose(first, selector, "halving", quiet, rung_epochs=1).label
        kept = int(rng.integers(0, len(curves) + 1))  # runs whose ended states were kept before the kill
        resumed = [
            run(i, _ScoredTraining(curves[i], r.training.epoch, ended=True), r.eliminated_after)
            if i < kept
            else run(i, _ScoredTraining(curves[i], int(rng.integers(0, r.training.epoch + 1))))
            for i, r in enumerate(first)
        ]
        assert choose(resumed, selector, "halving", quiet, rung_epochs=1).label == chosen, trial


def _synthetic(task: str, seed: int = 0, scale: float = 1.0) -> Dataset:
    """30 one-channel series of length 24: a bump marks class 1, or the target is the series' mean."""
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(30, 1, 24)) * scale).astype(np.float32)
    y = np.arange(30) % 2
    X[y == 1, :, 8:16] += 3 * scale
    if task == "regression":
        return Dataset("r", X, X.mean(axis=(1, 2)), task, splits={"train": np.arange(30)})
    return Dataset(f"c{seed}", X, y, task, classes=["a", "b"], splits={"train": np.arange(30)})


def test_a_diverged_regression_keeps_its_result_and_its_last_finite_weights(monkeypatch: pytest.MonkeyPatch):
    """Training diverges in epoch 3: the run ends with the weights of its best finite epoch, and the convergence
    rate covers epochs 1-2; a run that diverges in its first epoch has none."""
    data, epochs = _synthetic("regression"), []
    train_epoch = loop._train_epoch

    def diverge_in_epoch_3(model: torch.nn.Module, *args: object) -> tuple[float, bool]:
        loss, out_of_time = train_epoch(model, *args)
        epochs.append(loss)
        if len(epochs) < 3:
            return loss, out_of_time
        with torch.no_grad():
            for param in model.parameters():
                param.fill_(float("nan"))
        return float("nan"), out_of_time

    monkeypatch.setattr(loop, "_train_epoch", diverge_in_epoch_3)
    kwargs = {"arch_kwargs": {"filters": (4, 4, 4)}, "progress": False}
    result = train_from_scratch("fcn", data, recipe=TrainConfig(max_epochs=5), **kwargs)
    assert (result.stop_reason, len(result.history)) == ("non_finite_loss", 3) and result.best_epoch in (1, 2)
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    curve = [r["val_mae"] for r in result.history[:2]]
    assert result.convergence_rate == convergence_rate(curve, higher_is_better=False)
    monkeypatch.undo()
    diverged = train_from_scratch("fcn", data, recipe=TrainConfig(lr=1e30, max_epochs=5), **kwargs)
    assert (diverged.stop_reason, len(diverged.history), diverged.convergence_rate) == ("non_finite_loss", 1, None)


def test_a_preprocessor_passed_in_is_copied_not_refitted():
    """Fine-tuning with the source's own preprocessor object fits a copy on the target: the source keeps its
    mask (and its predictions), and the fine-tuned model gets its own; so does a from-scratch training."""
    kwargs: dict = {"recipe": TrainConfig(max_epochs=1), "progress": False}
    magnet = {"arch_kwargs": {"lstm_units": 4}}
    source = train_from_scratch("magnet", _synthetic("classification"), preprocessing="minmax_mask", **magnet, **kwargs)
    given, target = source.model.preprocessor, _synthetic("classification", seed=1, scale=100.0)
    mask, predicted = given.mask.copy(), source.model.predict_proba(target.X[:5])
    for result in (
        finetune(source.model, target, preprocessing=given, **kwargs),
        train_from_scratch("magnet", target, preprocessing=given, **magnet, **kwargs),
    ):
        assert source.model.preprocessor is given and np.array_equal(given.mask, mask)
        assert np.array_equal(source.model.predict_proba(target.X[:5]), predicted)
        assert result.model.preprocessor is not given and not np.array_equal(result.model.preprocessor.mask, mask)


def _without_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "time_s"} for record in history]


def test_numpy_scalar_multipliers_are_numbers_not_lists():
    """A scikit-learn grid over ``lr_multiplier`` passes numpy scalars (np.arange, float32 arrays): one ω each."""
    kwargs: dict = {"recipe": TrainConfig(max_epochs=1), "progress": False}
    source = train_from_scratch("fcn", _synthetic("classification"), arch_kwargs={"filters": (4, 4, 4)}, **kwargs)
    for omega in (np.float32(0.5), np.int64(2)):
        result = finetune(source.model, _synthetic("classification", seed=1), lr_multiplier=omega, **kwargs)
        assert result.lr_multiplier == float(omega) and len(result.grid) == 1


def test_a_non_finite_multiplier_is_refused_before_training():
    """ω = NaN passed the ``>= 0`` check and trained at a NaN learning rate."""
    source = train_from_scratch(
        "fcn", _synthetic("classification"), arch_kwargs={"filters": (4, 4, 4)}, max_epochs=1, progress=False
    )
    for omega in (float("nan"), [1.0, float("inf")]):
        with pytest.raises(ValueError, match="finite"):
            finetune(source.model, _synthetic("classification", seed=1), lr_multiplier=omega, progress=False)


def test_arrays_and_model_ids_where_objects_belong_are_refused_with_what_to_pass():
    """Arrays instead of a Dataset, or a model id instead of a model, failed deep inside with an AttributeError."""
    data = _synthetic("classification")
    source = train_from_scratch("fcn", data, arch_kwargs={"filters": (4, 4, 4)}, max_epochs=1, progress=False).model
    with pytest.raises(TypeError, match=r"Dataset\.from_arrays\(X, y\)"):
        train_from_scratch("fcn", data.X, max_epochs=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Dataset\.from_arrays\(X, y\)"):
        finetune(source, (data.X, data.y), max_epochs=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"tshub\.load_pretrained\(id\)"):
        finetune(3, data, max_epochs=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ds\.split\('test'\)\[0\]"):
        source.predict(data)


def test_validation_train_fine_tunes_and_trains_the_referent_on_every_training_series(
    source: TimeSeriesModel, italy: Dataset
):
    """The opt-in measured by bench/ucr_full_train.py --kind finetune: no fifth held out, weights selected on the
    training series, the same splits for the fine-tune and its referent, and the card says so."""
    options: dict = {"max_epochs": 2, "progress": False, "validation": "train"}
    n_train = len(italy.splits["train"])
    for result in (finetune(source, italy, **options), train_referent(source, italy, **options)):
        assert result.model.meta["splits"] == {"train": n_train, "val": n_train, "test": len(italy.splits["test"])}
        assert result.model.meta["validation_is_train"] is True
    held_out = train_from_scratch("fcn", italy, arch_kwargs=SMALL, max_epochs=1, progress=False)
    assert held_out.model.meta["splits"]["train"] < n_train and "validation_is_train" not in held_out.model.meta


class _Killed(Exception):
    pass


def test_a_killed_fine_tune_resumes_from_its_state_dir_and_ends_as_an_uninterrupted_one(
    source: TimeSeriesModel, italy: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Killed in the second rung of successive halving over three ω, the same call resumes every ω where its state
    was saved and chooses, keeps and reports exactly what a run never interrupted does; the states go at the end."""
    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    config = TrainConfig(max_epochs=8, early_stopping_patience=4, lr_patience=2, batch_size=16)
    options: dict = {"lr_multiplier": [0.5, 1.0, 2.0], "recipe": config, "seed": 1, "progress": False}
    expected = finetune(source, italy, **options)

    def kill(record: dict) -> None:
        if record["epoch"] == 2 and record["lr_multiplier"] == expected.lr_multiplier:  # a survivor of rung 1
            raise _Killed

    states = tmp_path / "states"
    with pytest.raises(_Killed):
        finetune(source, italy, state_dir=states, on_epoch_end=kill, **options)
    assert sorted(p.name for p in states.iterdir()) == [f"omega-{i}.safetensors" for i in (1, 2, 3)]
    epochs: list[tuple[float, int]] = []
    resumed = finetune(
        source,
        italy,
        state_dir=states,
        on_epoch_end=lambda r: r.get("restored") or epochs.append((r["lr_multiplier"], r["epoch"])),  # epochs trained
        **options,
    )
    assert (expected.lr_multiplier, 2) in epochs and (expected.lr_multiplier, 1) not in epochs  # resumed, not redone
    assert resumed.lr_multiplier == expected.lr_multiplier and resumed.grid == expected.grid
    assert _without_time(resumed.history) == _without_time(expected.history) and resumed.metrics == expected.metrics
    for name, tensor in expected.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], tensor), name
    assert not list(states.iterdir())
    other_source = train_from_scratch("fcn", italy, max_epochs=1, arch_kwargs=SMALL, progress=False).model
    with pytest.raises(_Killed):
        finetune(source, italy, state_dir=states, on_epoch_end=kill, **options)
    with pytest.warns(UserWarning, match="belongs to another training"):  # other starting weights: not resumed
        finetune(other_source, italy, state_dir=states, **options)


def test_a_fine_tune_keeping_its_ended_states_is_returned_again_without_training(
    source: TimeSeriesModel, italy: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A caller that stores the result after the fine-tune (a service job trains its from-scratch referent next)
    keeps the ended states: the same call then trains no epoch and returns what the first returned, the ω the
    search dropped still dropped (a resumed search ranking them again could choose another on a tie)."""
    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    config = TrainConfig(max_epochs=8, early_stopping_patience=4, lr_patience=2, batch_size=16)
    options: dict = {"lr_multiplier": [0.5, 1.0, 2.0], "recipe": config, "seed": 1, "progress": False}
    states = tmp_path / "states"
    first = finetune(source, italy, state_dir=states, keep_state=True, **options)
    assert sorted(p.name for p in states.iterdir()) == [f"omega-{i}.safetensors" for i in (1, 2, 3)]
    assert sum(row["stop_reason"] == "halved" for row in first.grid) == 2
    trained: list[dict] = []
    again = finetune(source, italy, state_dir=states, keep_state=True,
                     on_epoch_end=lambda r: r.get("restored") or trained.append(r), **options)  # fmt: skip
    assert not trained
    assert again.lr_multiplier == first.lr_multiplier and again.grid == first.grid
    assert _without_time(again.history) == _without_time(first.history) and again.metrics == first.metrics
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[name], tensor), name
    with pytest.warns(UserWarning, match="belongs to another training"):  # another search: its marks do not hold
        full = finetune(source, italy, state_dir=states, keep_state=True, **{**options, "search": "full"})
    assert all(row["stop_reason"] != "halved" for row in full.grid)
    finetune(source, italy, state_dir=states, search="full", **options)
    assert not list(states.iterdir())  # without keep_state the states go, as before


def test_a_single_omega_state_resumes_under_either_search(
    source: TimeSeriesModel, italy: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Regression: the search mode joined a saved state's fingerprint even for one ω, where halving and a full
    search train the same, so a kept state of one was discarded (trained again) by the other."""
    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    config = TrainConfig(max_epochs=4, early_stopping_patience=4, lr_patience=2, batch_size=16)
    options: dict = {"lr_multiplier": 1.0, "recipe": config, "seed": 1, "progress": False}
    states = tmp_path / "states"
    first = finetune(source, italy, state_dir=states, keep_state=True, search="halving", **options)
    trained: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = finetune(source, italy, state_dir=states, keep_state=True, search="full",
                         on_epoch_end=lambda r: r.get("restored") or trained.append(r), **options)  # fmt: skip
    assert not trained and again.metrics == first.metrics


def test_one_call_takes_a_model_id_and_a_dataset_name_or_file(shared_data: Path, private_zoo):
    """As recommend("GunPoint") does: finetune("GunPoint/fcn", "ECG200") and train_from_scratch("fcn", path)
    load what they are given by id, name or file (they refused anything but objects)."""
    private_zoo([Path(__file__).resolve().parents[1] / "zoo" / "GunPoint" / "fcn"])
    options = {"max_epochs": 1, "progress": False}
    by_id = finetune("GunPoint/fcn", "ECG200", **options)
    assert by_id.model.meta["parent"] == "GunPoint/fcn" and by_id.model.meta["source_dataset"] == "ECG200"
    train = shared_data / "UCRArchive_2018" / "ECG200" / "ECG200_TRAIN.tsv.gz"
    from_file = train_from_scratch("fcn", str(train), arch_kwargs={"filters": (4, 4, 4)}, **options)
    assert from_file.model.meta["source_dataset"] == "ECG200" and len(from_file.model.classes) == 2
    with pytest.raises(DatasetError, match="no dataset named 'ECG2000'.*Closest matches: ECG200"):
        train_from_scratch("fcn", "ECG2000", **options)


def test_a_fine_tune_of_a_checkpoint_without_an_id_keeps_its_lineage(source: TimeSeriesModel, italy: Dataset, tmp_path):
    """Regression: fine-tuning a model loaded from a folder (or held in memory) recorded "parent": null, and its card
    read "pretrained on ItalyPowerDemand", with no transfer-learning tag."""
    from tshub.hub import load_pretrained

    unnamed = source.finetune(italy, max_epochs=1, progress=False).model  # in memory, no id
    unnamed.meta.pop("id", None)
    folder = unnamed.save_pretrained(tmp_path / "first")
    child = load_pretrained(folder).finetune(italy, max_epochs=1, progress=False).model
    assert child.meta["parent"] is None and len(child.meta["parent_weights"]) == 16
    card = (child.save_pretrained(tmp_path / "second") / "README.md").read_text()
    assert "fine-tuned from an unnamed `fcn` checkpoint pretrained on ItalyPowerDemand (weights digest" in card
    assert "transfer-learning" in card and "pretrained on ItalyPowerDemand, saved by" not in card


def test_a_result_prints_as_one_line_of_what_trained_and_its_scores():
    """repr(FitResult) printed the whole network and every epoch's record (thousands of lines after a ucr run)."""
    result = train_from_scratch(
        "fcn", _synthetic("classification"), arch_kwargs={"filters": (4, 4, 4)}, max_epochs=2, progress=False
    )
    text = repr(result)
    assert "\n" not in text and "Conv" not in text and len(text) < 400
    assert re.match(r"FitResult\(fcn from scratch, recipe .ucr., seed 0, 2 epochs \(best [12], max_epochs\)", text)
    assert "val_metrics={'accuracy'" in text


def test_plot_refuses_a_referent_of_another_task():
    """A regression's MAE was drawn on the axes of a classification's F1, labelled as the latter."""
    kwargs: dict = {"arch_kwargs": {"filters": (4, 4, 4)}, "max_epochs": 1, "progress": False}
    classifier = train_from_scratch("fcn", _synthetic("classification"), **kwargs)
    regressor = train_from_scratch("fcn", _synthetic("regression"), **kwargs)
    with pytest.raises(ValueError, match="a classification result beside a regression referent"):
        classifier.plot(referent=regressor)
