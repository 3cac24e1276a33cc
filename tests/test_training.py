"""The training loop, its Keras-style callbacks, recipes, metrics and weight transfer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tshub.data import Dataset, make_preprocessor
from tshub.datasets import load
from tshub.models import adapt_channel_kernel, build_model, list_architectures
from tshub.training import RECIPES, TrainConfig, convergence_rate, fit, transfer_weights
from tshub.training.loop import Training, evaluate, progress_status
from tshub.training.metrics import accuracy, f1_weighted, mae, mse, task_metrics
from tshub.training.monitor import Monitor, Plateau, ReduceLROnPlateau
from tshub.training.progress import Progress
from tshub.training.recipes import AUTO_UCR_MAX_TRAIN, MONITORS, resolve_recipe

SMALL = {"filters": (16, 32, 16)}
QUICK = TrainConfig(max_epochs=3)


@pytest.fixture(scope="module")
def gunpoint(shared_data: Path) -> dict[str, tuple]:
    """GunPoint train/test, z-normalised as training does, as loop-ready (X, y, stream_max) arrays."""
    ds = load("GunPoint", root=shared_data)
    znorm = make_preprocessor("znorm")
    out = {}
    for split in ("train", "test"):
        X, y = ds.split(split)
        out[split] = (znorm.transform(X)[0], y, None)
    return out


def _fcn(channels: int = 1, n_outputs: int = 2, seed: int = 0, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("fcn", channels, n_outputs, **{**SMALL, **kwargs})


def _without_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "time_s"} for record in history]


# ------------------------------------------------------------------------------------------------------- metrics
def test_classification_metrics_match_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 5, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 6, 200))  # class 5 only ever predicted
    assert accuracy(y_true, y_pred) == pytest.approx(sklearn_metrics.accuracy_score(y_true, y_pred))
    assert f1_weighted(y_true, y_pred) == pytest.approx(sklearn_metrics.f1_score(y_true, y_pred, average="weighted"))


def test_metrics_on_hand_computed_values():
    # class 0: tp 1, fp 1, fn 1 -> F1 1/2; class 1: tp 1, fp 0, fn 1 -> F1 2/3; class 2 (never true) weighs 0
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 0])
    assert accuracy(y_true, y_pred) == 0.5
    assert f1_weighted(y_true, y_pred) == pytest.approx((2 * 0.5 + 2 * (2 / 3)) / 4)
    assert mae([1.0, 2.0, 4.0], [2.0, 2.0, 1.0]) == pytest.approx(4 / 3)
    assert mse([1.0, 2.0, 4.0], [2.0, 2.0, 1.0]) == pytest.approx(10 / 3)


def test_convergence_rate_formula_on_hand_values():
    # F1 0, 0.5, 1: W = 2, trapezoid area 0.25 + 0.75 = 1, min 0, max 1 -> (1 - 0) / (2 * 1) = 0.5
    assert convergence_rate([0.0, 0.5, 1.0], higher_is_better=True) == pytest.approx(0.5)
    # F1 reaching its max one epoch earlier converges faster: area 0.5 + 1 = 1.5 -> 0.75
    assert convergence_rate([0.0, 1.0, 1.0], higher_is_better=True) == pytest.approx(0.75)
    # MAE 1, 0.5, 0.5: area 0.75 + 0.5 = 1.25, W·min = 1, W·(max − min) = 1 -> 1 − 0.25 = 0.75
    assert convergence_rate([1.0, 0.5, 0.5], higher_is_better=False) == pytest.approx(0.75)
    assert convergence_rate([0.7], higher_is_better=True) == 1.0  # one epoch: converged from the start
    assert convergence_rate([0.3, 0.3, 0.3], higher_is_better=False) == 1.0  # flat curve
    with pytest.raises(ValueError, match="non-empty"):
        convergence_rate([], higher_is_better=True)
    with pytest.raises(ValueError, match="NaN"):
        convergence_rate([0.1, float("nan")], higher_is_better=True)


# ------------------------------------------------------------------------------------- callbacks (Keras semantics)
def _records(key: str, values: list[float]) -> list[dict]:
    return [{key: v} for v in values]


def test_reduce_lr_on_plateau_fires_when_wait_reaches_patience_with_absolute_delta():
    scheduler = ReduceLROnPlateau(Monitor("val_loss", "min"), 1e-3, factor=0.2, patience=4, min_lr=5e-7)
    # epoch 1 sets the best; epoch 2 improves by 0.1; epochs 3-6 beat the best 0.9 by less than min_delta 1e-4: no
    # improvement, so the 4th of them (epoch 6) reduces; epoch 7 improves by more than 1e-4 and resets the count.
    losses = [1.0, 0.9, 0.89995, 0.89999, 0.89992, 0.89991, 0.5, 0.6, 0.6, 0.6, 0.6]
    lrs = [scheduler.step(r) for r in _records("val_loss", losses)]
    assert lrs[:5] == [1e-3] * 5
    assert lrs[5] == pytest.approx(2e-4)
    assert lrs[6:10] == pytest.approx([2e-4] * 4)
    assert lrs[10] == pytest.approx(4e-5)  # 4 epochs without improvement after epoch 7


def test_reduce_lr_stops_at_min_lr():
    scheduler = ReduceLROnPlateau(Monitor("val_loss", "min"), 1e-3, factor=0.2, patience=1, min_lr=5e-7)
    lrs = [scheduler.step({"val_loss": 1.0}) for _ in range(8)]
    assert lrs[:5] == pytest.approx([1e-3, 2e-4, 4e-5, 8e-6, 1.6e-6])
    assert lrs[5:] == [5e-7] * 3


def test_early_stopping_counts_epochs_without_strict_improvement():
    stopper = Plateau(Monitor("val_accuracy", "max"), patience=10)
    accs = [0.5, 0.7] + [0.7] * 10 + [0.8]
    exhausted = []
    for record in _records("val_accuracy", accs):
        stopper.update(record)
        exhausted.append(stopper.exhausted)
    assert exhausted.index(True) == 1 + 10  # 10 epochs equal to the best (min_delta 0 needs strict gains)


def test_accuracy_ties_are_broken_by_validation_loss():
    monitor = Monitor.resolve("auto", "classification", tie_break=True)
    assert (monitor.key, monitor.mode, monitor.tie_break) == ("val_accuracy", "max", "val_loss")
    best = {"val_accuracy": 0.8, "val_loss": 0.5}
    assert monitor.improved({"val_accuracy": 0.8, "val_loss": 0.4}, best)
    assert not monitor.improved({"val_accuracy": 0.8, "val_loss": 0.6}, best)
    assert not monitor.improved({"val_accuracy": 0.7, "val_loss": 0.1}, best)  # a worse accuracy never wins
    assert monitor.improved({"val_accuracy": 0.9, "val_loss": 9.0}, best)
    plain = Monitor.resolve("auto", "classification", tie_break=False)
    assert not plain.improved({"val_accuracy": 0.8, "val_loss": 0.4}, best)
    assert Monitor.resolve("auto", "regression") == Monitor("val_loss", "min", None)


def test_patience_zero_acts_at_the_first_epoch_without_improvement_as_keras_does():
    stopper = Plateau(Monitor("val_loss", "min"), patience=0)
    exhausted = []
    for record in _records("val_loss", [1.0, 0.5, 0.25, 0.3]):
        stopper.update(record)
        exhausted.append(stopper.exhausted)
    assert exhausted == [False, False, False, True]
    scheduler = ReduceLROnPlateau(Monitor("val_loss", "min"), 1e-3, factor=0.5, patience=0, min_lr=1e-6)
    lrs = [scheduler.step(r) for r in _records("val_loss", [1.0, 0.5, 0.25, 0.3, 0.3, 0.2])]
    assert lrs == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4, 2.5e-4, 2.5e-4])


def test_a_diverged_record_never_improves_and_any_finite_one_beats_it():
    """NaN logits argmax to class 0, so a diverged epoch's accuracy is finite; its loss is not."""
    monitor = Monitor.resolve("auto", "classification", tie_break=True)
    nan = float("nan")
    assert not monitor.improved({"val_accuracy": 0.9, "val_loss": nan}, {"val_accuracy": 0.5, "val_loss": 0.7})
    assert not monitor.improved({"val_accuracy": 0.9, "val_loss": nan}, None)
    assert monitor.improved({"val_accuracy": 0.5, "val_loss": 0.7}, {"val_accuracy": 0.9, "val_loss": nan})
    assert not Monitor("val_loss", "min").improved({"val_loss": float("inf")}, None)


def test_fit_applies_the_callbacks_it_records(gunpoint):
    """Replaying the recorded validation scores through the callbacks gives the recorded lrs and stop epoch."""
    config = TrainConfig(max_epochs=40, lr_patience=1, early_stopping_patience=3, lr=3e-3)
    run = fit(_fcn(), gunpoint["train"], gunpoint["test"], config, progress=False)
    monitor = Monitor.resolve("auto", "classification")
    scheduler = ReduceLROnPlateau(monitor, 3e-3, factor=0.2, patience=1, min_lr=config.min_lr)
    stopper = Plateau(monitor, patience=3)
    expected_lrs, stop = [3e-3], None
    for record in run.history:
        expected_lrs.append(scheduler.step(record))
        stopper.update(record)
        if stopper.exhausted:
            stop = record["epoch"]
            break
    assert [r["lr"]["all"] for r in run.history] == pytest.approx(expected_lrs[: len(run.history)])
    assert len(set(expected_lrs)) > 1  # the schedule did fire
    assert stop == (len(run.history) if run.stop_reason == "early_stopping" else None)


# ------------------------------------------------------------------------------------------------------ the loop
def test_same_seed_repeats_the_run_and_another_seed_does_not(gunpoint):
    runs = []
    for seed in (0, 0, 1):
        model = _fcn(seed=0)  # same initial weights: only the loop's seed (batch order) differs
        runs.append((fit(model, gunpoint["train"], gunpoint["test"], QUICK, seed=seed, progress=False), model))
    (a, model_a), (b, model_b), (c, _) = runs
    assert _without_time(a.history) == _without_time(b.history)
    assert all(torch.equal(x, y) for x, y in zip(model_a.state_dict().values(), model_b.state_dict().values()))
    assert [r["loss"] for r in a.history] != [r["loss"] for r in c.history]


def test_best_validation_weights_are_restored(gunpoint):
    """Validation = the training series with flipped labels: learning the training set makes validation worse,
    so the best validation epoch is an early one, and its weights (not the last ones) must come back."""
    X, y, _ = gunpoint["train"]
    flipped = (X, 1 - y, None)
    model = _fcn()
    config = TrainConfig(max_epochs=6, monitor="val_loss", early_stopping_patience=None, lr_patience=None)
    run = fit(model, gunpoint["train"], flipped, config, progress=False)
    last, best = run.history[-1], run.history[run.best_epoch - 1]
    assert run.best_epoch < len(run.history) and best["val_loss"] < last["val_loss"]
    assert run.history[-1]["loss"] < run.history[0]["loss"]  # it did learn the training labels
    now = evaluate(model, flipped, "classification")
    assert now["loss"] == pytest.approx(best["val_loss"], rel=1e-5)
    assert now["accuracy"] == best["val_accuracy"]


def test_a_diverged_epoch_is_never_kept_nor_counted_by_the_callbacks():
    """Epoch 2's training turns the logits to NaN: every validation series is then predicted as class 0, which
    is all of validation (accuracy 1.0 against 0.0 at epoch 1), yet epoch 1's finite weights are the ones kept."""
    rng = np.random.default_rng(0)
    train = (rng.normal(size=(20, 1, 32)).astype(np.float32), np.arange(20) % 2, None)
    val = (rng.normal(size=(10, 1, 32)).astype(np.float32), np.zeros(10, dtype=np.int64), None)
    model = _fcn(filters=(4, 4, 4))
    with torch.no_grad():
        model.head.bias[:] = torch.tensor([-50.0, 50.0])  # the healthy model predicts class 1 everywhere
    batches = []

    def diverge_from_the_third_batch(module, inputs, output):
        if module.training:
            batches.append(1)
            return output * float("nan") if len(batches) > 2 else None
        return None

    model.head.register_forward_hook(diverge_from_the_third_batch)
    config = TrainConfig(max_epochs=5, lr_patience=1, early_stopping_patience=1, batch_size=10)
    training = Training(model, train, val, config, device="cpu", progress=False)
    training.run()
    result = training.finish()
    assert [r["val_accuracy"] for r in result.history] == [0.0, 1.0]
    assert (result.stop_reason, result.best_epoch, training.best_record["epoch"]) == ("non_finite_loss", 1, 1)
    scheduler, stopper = training.monitors.scheduler, training.monitors.stopper
    assert scheduler is not None and stopper is not None
    assert scheduler.best is not None and stopper.best is not None
    assert scheduler.best["epoch"] == stopper.best["epoch"] == 1
    assert scheduler.wait == stopper.wait == 0
    assert all(torch.isfinite(p).all() for p in model.parameters())


class _Interrupt(Exception):
    pass


def _interrupt_at(epoch: int):
    def hook(record: dict) -> None:
        if record["epoch"] == epoch:
            raise _Interrupt

    return hook


@pytest.mark.parametrize("arch", ["fcn", "magnet"])  # magnet: dropout, so the global RNG must come back too
def test_an_interrupted_training_resumes_bit_for_bit(gunpoint, tmp_path, monkeypatch, arch):
    """Killed after epoch 5 (state saved every epoch), the rerun continues from there and ends exactly where an
    uninterrupted run ends: same history, same weights, same kept epoch; the state file is gone at the end."""
    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    X, y, _ = gunpoint["train"]
    config = TrainConfig(max_epochs=9, lr_patience=2, early_stopping_patience=None, batch_size=16)

    def model():
        torch.manual_seed(0)
        return build_model(arch, 1, 2, **(SMALL if arch == "fcn" else {}))

    reference = model()
    expected = fit(reference, (X, y, None), gunpoint["test"], config, seed=3, progress=False)
    state = tmp_path / "run.safetensors"
    resumed = model()
    with pytest.raises(_Interrupt):
        fit(
            resumed,
            (X, y, None),
            gunpoint["test"],
            config,
            seed=3,
            progress=False,
            state_path=state,
            on_epoch_end=_interrupt_at(6),
        )
    assert state.is_file()
    seen = []
    resumed = model()  # a new process: fresh weights, fresh RNGs
    torch.manual_seed(123)
    run = fit(
        resumed,
        (X, y, None),
        gunpoint["test"],
        config,
        seed=3,
        progress=False,
        state_path=state,
        on_epoch_end=seen.append,
    )
    assert [(r["epoch"], r.get("restored", False)) for r in seen] == [(e, e < 6) for e in range(1, 10)]  # 1-5: saved
    assert _without_time(run.history) == _without_time(expected.history)
    assert (run.best_epoch, run.stop_reason) == (expected.best_epoch, expected.stop_reason)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], tensor), name
    assert not state.exists()


def test_a_training_state_of_another_run_is_ignored(gunpoint, tmp_path, monkeypatch):
    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    state = tmp_path / "run.safetensors"
    with pytest.raises(_Interrupt):
        fit(
            _fcn(),
            gunpoint["train"],
            gunpoint["test"],
            QUICK,
            seed=0,
            progress=False,
            state_path=state,
            on_epoch_end=_interrupt_at(3),
        )
    seen = []
    with pytest.warns(UserWarning, match="another training"):
        fit(
            _fcn(),
            gunpoint["train"],
            gunpoint["test"],
            QUICK,
            seed=1,
            progress=False,
            state_path=state,
            on_epoch_end=seen.append,
        )
    assert [r["epoch"] for r in seen] == [1, 2, 3]


def test_time_budget_stops_after_the_current_batch(gunpoint):
    run = fit(
        _fcn(), gunpoint["train"], gunpoint["test"], TrainConfig(max_epochs=50, time_budget_s=0.0), progress=False
    )
    assert run.stop_reason == "time_budget" and len(run.history) == 1


def test_validation_monitor_without_validation_data_is_refused(gunpoint):
    with pytest.raises(ValueError, match="no validation data"):
        fit(_fcn(), gunpoint["train"], None, QUICK, progress=False)
    run = fit(_fcn(), gunpoint["train"], None, RECIPES["bigdata18"].replace(max_epochs=2), progress=False)
    assert [set(r) for r in run.history] == [{"epoch", "loss", "lr", "time_s"}] * 2


@pytest.mark.parametrize("setting", ["monitor", "lr_monitor", "checkpoint_monitor"])
def test_a_monitor_the_task_does_not_record_is_refused_before_training(gunpoint, setting):
    """Regression: monitoring a regression metric on classification data (a valid name, another task's) trained
    an epoch and then failed with a KeyError deep in the loop; it is refused up front, naming what is recorded."""
    trained: list[int] = []
    with pytest.raises(ValueError, match="val_mae.*classification.*val_accuracy"):
        fit(
            _fcn(),
            gunpoint["train"],
            gunpoint["test"],
            QUICK.replace(**{setting: "val_mae"}),
            progress=False,
            on_epoch_end=lambda record: trained.append(record["epoch"]),
        )
    assert trained == []


def test_frozen_parameters_and_their_batchnorm_statistics_do_not_change(gunpoint):
    model = _fcn()
    for name, param in model.named_parameters():
        param.requires_grad_(not name.startswith("backbone.block1"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, gunpoint["train"], gunpoint["test"], TrainConfig(max_epochs=1), progress=False)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("backbone.block1"))
    assert not torch.equal(before["backbone.block2.bn.running_mean"], after["backbone.block2.bn.running_mean"])
    assert not torch.equal(before["head.weight"], after["head.weight"])


# --------------------------------------------------------------------------------------------------------- recipes
def test_recipes_carry_the_reference_hyper_parameters():
    default, bigdata18, otovic = RECIPES["default"], RECIPES["bigdata18"], RECIPES["otovic"]
    assert (
        default.lr,
        default.adam_eps,
        default.max_epochs,
        default.lr_factor,
        default.lr_patience,
        default.min_lr,
        default.early_stopping_patience,
    ) == (1e-3, 1e-7, 250, 0.2, 4, 5e-7, 10)
    assert [bigdata18.batch_size_for(n) for n in (15, 50, 100, 400)] == [1, 5, 10, 16]  # int(min(n/10, 16))
    assert (
        bigdata18.monitor,
        bigdata18.lr_factor,
        bigdata18.lr_patience,
        bigdata18.min_lr,
        bigdata18.max_epochs,
        bigdata18.early_stopping_patience,
    ) == ("loss", 0.5, 50, 1e-4, 2000, None)
    assert [otovic.batch_size_for(n) for n in (40, 1000)] == [32, 32] and otovic.drop_last
    name, config = resolve_recipe("otovic", max_epochs=5, time_budget_s=None)
    assert (name, config.max_epochs, config.batch_size) == ("otovic", 5, 32)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown recipe"):
        resolve_recipe("adamw")


def test_a_batch_size_below_the_floor_is_the_batch_size_used():
    """Regression: ``min_batch_size`` (the floor of the FCN rule) overrode a smaller ``batch_size``, both a fixed
    one (``batch_fraction=None``) and the rule's ceiling: TrainConfig(batch_size=4) trained with batches of 8."""
    assert [TrainConfig(batch_size=4, batch_fraction=None).batch_size_for(n) for n in (3, 20, 100)] == [3, 4, 4]
    assert [TrainConfig(batch_size=4).batch_size_for(n) for n in (3, 20, 100)] == [3, 4, 4]


def test_recipe_monitors_are_the_keys_training_records():
    validation = {f"val_{k}" for task in ("classification", "regression") for k in task_metrics(task, [0], [0])}
    assert set(MONITORS) == {"auto", "loss", "val_loss"} | validation


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"monitor": "val_acc"}, "monitor"),  # Keras' name: a KeyError after the first epoch
        ({"lr_monitor": "accuracy"}, "lr_monitor"),
        ({"checkpoint_monitor": "val_auc"}, "checkpoint_monitor"),
        ({"lr_patience": -1}, "lr_patience"),  # acted as patience 1
        ({"early_stopping_patience": -1}, "early_stopping_patience"),
        ({"eval_batch_size": 0}, "eval_batch_size"),  # range() step 0 after the first epoch
        ({"min_batch_size": 0}, "min_batch_size"),
        ({"min_lr": -1e-4}, "min_lr"),
        ({"lr_min_delta": -1e-4}, "lr_min_delta"),
        ({"time_budget_s": -1.0}, "time_budget_s"),
        ({"max_epochs": 1.5}, "max_epochs must be a whole number"),  # trained 2 epochs
        ({"batch_size": 8.5}, "batch_size must be a whole number"),
        ({"early_stopping_patience": False}, "early_stopping_patience must be a whole number"),  # patience 0
    ],
)
def test_a_recipe_refuses_settings_training_cannot_honour(changes, match):
    """Regression: these were accepted and failed (or silently meant something else) once training had run."""
    with pytest.raises(ValueError, match=match):
        TrainConfig(**changes)


# -------------------------------------------------------------------------------------------------------- transfer
def test_transfer_fcn_one_channel_source_into_three_channel_target():
    source, target = _fcn(1, 2, seed=0), _fcn(3, 5, seed=1)
    fresh_head = target.head.weight.detach().clone()
    report = transfer_weights(source, target)
    src, dst = source.state_dict(), target.state_dict()
    assert [a["name"] for a in report.adapted] == ["backbone.block1.conv.weight"]
    assert torch.allclose(
        dst["backbone.block1.conv.weight"], adapt_channel_kernel(src["backbone.block1.conv.weight"], 3)
    )
    backbone = [k for k in dst if k.startswith("backbone.") and k != "backbone.block1.conv.weight"]
    assert sorted(report.copied) == sorted(backbone)  # incl. BatchNorm running stats, as bigdata18 copies them
    assert "backbone.block2.bn.running_var" in report.copied
    assert all(torch.equal(src[k], dst[k]) for k in backbone)
    assert report.reinitialised == [{"name": "head.weight", "reason": "head"}, {"name": "head.bias", "reason": "head"}]
    assert torch.equal(target.head.weight, fresh_head)
    assert "backbone.block1.conv.weight" in report.transferred_parameters
    assert not any(n.endswith(("running_mean", "num_batches_tracked")) for n in report.transferred_parameters)
    assert json.loads(json.dumps(report.to_dict()))["adapted"][0]["target_shape"] == [16, 3, 8]
    assert "20 copied, 1 adapted, 2 re-initialised" in str(report) and "(16, 1, 8) -> (16, 3, 8)" in str(report)


def test_transfer_convnetquake_to_another_length_rebuilds_the_dense_layers():
    if "convnetquake" not in list_architectures():
        pytest.skip("convnetquake is not registered")
    torch.manual_seed(0)
    source = build_model("convnetquake", 3, 1, input_length=1001)
    target = build_model("convnetquake", 3, 4, input_length=540)
    report = transfer_weights(source, target)
    convs = [k for k in target.state_dict() if k.startswith("backbone.")]
    assert sorted(report.copied) == sorted(convs) and len(convs) == 18  # 9 convs, kernel + bias
    fresh = {r["name"]: r["reason"] for r in report.reinitialised}
    assert {"head.dense1.weight", "head.dense2.weight"} <= set(fresh) and set(fresh.values()) == {"head"}


def test_transfer_reports_tensors_outside_the_backbone_and_refuses_other_architectures():
    if "mlstm_fcn" not in list_architectures():
        pytest.skip("mlstm_fcn is not registered")
    torch.manual_seed(0)
    source = build_model("mlstm_fcn", 1, 2, input_length=150)
    target = build_model("mlstm_fcn", 3, 2, input_length=80)
    report = transfer_weights(source, target)
    reasons = {r["name"]: r["reason"] for r in report.reinitialised}
    assert reasons["lstm.weight_ih_l0"] == "outside the backbone"
    assert [a["name"] for a in report.adapted] == ["backbone.conv1.weight"]
    with pytest.raises(ValueError, match="architecture"):
        transfer_weights(source, _fcn())


def test_loop_runs_regression_with_mse(shared_data: Path):
    ds = load("SEISMIC-CX", root=shared_data)
    X, y = ds.split("train")
    data = (make_preprocessor("znorm").transform(X)[0], y, None)
    model = _fcn(3, 1)
    run = fit(model, data, data, TrainConfig(max_epochs=2, batch_fraction=None, batch_size=20), progress=False)
    assert {"val_loss", "val_mae", "val_mse"} <= set(run.history[0])
    assert run.history[-1]["val_loss"] == pytest.approx(run.history[-1]["val_mse"], rel=1e-5)


def test_small_datasets_train_with_batches_of_at_least_eight_series():
    """Regression: the FCN rule int(n/10) gave batches of 1–2 series, whose BatchNorm statistics left the
    eval-mode model fitting only ~70 % of its own training set (SonyAIBORobotSurface1)."""
    default, ucr = RECIPES["default"], RECIPES["ucr"]
    assert [default.batch_size_for(n) for n in (5, 16, 40, 100, 1000)] == [5, 8, 8, 10, 32]
    assert [ucr.batch_size_for(n) for n in (16, 100, 400)] == [8, 10, 16]


def test_an_interrupted_multihead_pretraining_resumes_bit_for_bit(shared_data: Path, tmp_path, monkeypatch):
    """The multi-head loop saves and resumes like ``fit``: killed in its third epoch, the rerun ends exactly where
    an uninterrupted run ends."""
    from tshub.training import multihead

    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    datasets = [load(name, root=shared_data) for name in ("Chinatown", "SonyAIBORobotSurface1")]
    kwargs = {
        "recipe": TrainConfig(max_epochs=4, lr_patience=1, early_stopping_patience=None),
        "progress": False,
        "arch_kwargs": {"filters": (8, 16, 8)},
        "seed": 2,
    }
    expected = multihead.pretrain_multihead("fcn", datasets, **kwargs)
    state = tmp_path / "multi.safetensors"
    real_epoch, calls = multihead._interleaved_epoch, []

    def dies_in_epoch_three(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise _Interrupt
        return real_epoch(*args, **kw)

    monkeypatch.setattr(multihead, "_interleaved_epoch", dies_in_epoch_three)
    with pytest.raises(_Interrupt):
        multihead.pretrain_multihead("fcn", datasets, state_path=state, **kwargs)
    assert state.is_file()
    trained = []
    monkeypatch.setattr(multihead, "_interleaved_epoch", lambda *a, **kw: trained.append(1) or real_epoch(*a, **kw))
    resumed = multihead.pretrain_multihead("fcn", datasets, state_path=state, **kwargs)
    assert len(trained) == 2  # epochs 3 and 4 only: 1 and 2 came from the saved state
    assert _without_time(resumed.history) == _without_time(expected.history) and len(resumed.history) == 4
    for name, tensor in expected.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], tensor), name
    assert not state.exists()


def test_a_multi_head_pretraining_keeps_statistics_per_head_pools_them_and_fine_tunes(shared_data: Path, tmp_path):
    """Real data end to end: each head's checkpointed statistics are its own (they differ between datasets), the
    shared ones are their pool (the start of a fine-tune), and a fine-tune from the loaded checkpoint gets one head
    and no per-head statistics."""
    import tshub
    from tshub.models.base import batch_norms
    from tshub.training.multihead import pretrain_multihead

    datasets = [load(name, root=shared_data) for name in ("Chinatown", "SonyAIBORobotSurface1")]
    result = pretrain_multihead(
        "fcn", datasets, recipe=TrainConfig(max_epochs=2), progress=False, arch_kwargs={"filters": (8, 16, 8)}
    )
    loaded = tshub.load_pretrained(result.model.save_pretrained(tmp_path / "multi"))
    assert loaded.config()["head_statistics"] is True
    first = batch_norms(loaded.backbone)[0]
    chinatown, sony = (loaded.head.statistics[ds.name] for ds in datasets)
    assert not torch.allclose(chinatown.mean_0, sony.mean_0)
    shares = [len(ds.split("train")[0]) * ds.length for ds in datasets]
    pooled = (shares[0] * chinatown.mean_0 + shares[1] * sony.mean_0) / sum(shares)
    torch.testing.assert_close(first.running_mean, pooled, rtol=1e-3, atol=1e-3)  # float32 checkpoint, any split
    tuned = tshub.finetune(loaded, load("GunPoint", root=shared_data), max_epochs=2, progress=False).model
    assert tuned.config()["heads"] is None and "head_statistics" not in tuned.config()
    assert set(tuned.state_dict()) == set(build_model("fcn", 1, 2, filters=(8, 16, 8)).state_dict())


def _labelled(name: str, length: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset.from_arrays(
        rng.standard_normal((24, 1, length)),
        np.arange(24) % 2,
        name=name,
        splits={"train": np.arange(16), "val": np.arange(16, 20), "test": np.arange(20, 24)},
    )


@pytest.mark.parametrize(
    "arch, lengths, names, match",
    [
        ("fcn", (20, 30), ("ECG.v2", "B"), r"'ECG\.v2'.*cannot be empty, hold '\.'"),
        ("fcn", (20, 30), ("", "B"), r"''.*cannot be empty, hold '\.'"),
        ("fcn", (20, 30), ("training", "B"), r"'training'.*ModuleDict attributes"),
        ("convnetquake", (), (), r"needs at least one dataset"),
        ("mlstm_fcn", (20, 20), ("A", "B"), r"mlstm_fcn keeps BatchNorms outside its backbone .* pretrain it one"),
        ("convnetquake", (20, 30), ("A", "B"), r"convnetquake is built for one series length, but the datasets"),
    ],
)
def test_a_multi_head_pretraining_it_cannot_run_is_refused_before_any_data_is_prepared(
    arch: str, lengths: tuple, names: tuple, match: str
) -> None:
    """Regression: a dataset named ``ECG.v2`` (a file ecg.v2.csv) failed in torch's ModuleDict with a KeyError;
    mlstm_fcn's refusal advised ``statistics=False`` and convnetquake's ``input_length=``, options
    pretrain_multihead does not take; convnetquake with input_length failed in its first epoch on the other
    length."""
    from tshub.training.multihead import pretrain_multihead

    datasets = [_labelled(name, length, k) for k, (name, length) in enumerate(zip(names, lengths))]
    with pytest.raises(ValueError, match=match) as refused:
        pretrain_multihead(arch, datasets, max_epochs=1, progress=False)
    assert "statistics=False" not in str(refused.value) and "input_length" not in str(refused.value)


def test_a_length_bound_architecture_pretrains_multi_head_on_datasets_of_one_length() -> None:
    """convnetquake (length-bound) on datasets of one length takes that length, as a single-dataset training does."""
    from tshub.training.multihead import pretrain_multihead

    result = pretrain_multihead(
        "convnetquake", [_labelled("A", 20, 0), _labelled("B", 20, 1)], max_epochs=1, progress=False
    )
    assert result.model.input_length == 20 and set(result.model.meta["head_metrics"]) == {"A", "B"}


@pytest.mark.parametrize("arch", ["fcn", "magnet"])  # magnet: dropout draws from the global torch RNG
def test_a_training_run_in_pieces_between_others_ends_where_one_run_ends(gunpoint, arch):
    """Successive halving advances several trainings in turn; each must end bit for bit as if trained alone."""
    X, y, _ = gunpoint["train"]
    config = TrainConfig(max_epochs=6, batch_size=16)

    def model(seed):
        torch.manual_seed(seed)
        return build_model(arch, 1, 2, **(SMALL if arch == "fcn" else {}))

    alone = model(0)
    expected = fit(alone, (X, y, None), gunpoint["test"], config, seed=3, progress=False)
    pieces, other = (
        Training(model(s), (X, y, None), gunpoint["test"], config, seed=s + 3, progress=False) for s in (0, 1)
    )
    for until in (2, 3, 5, None):
        pieces.run(until=until)
        other.run(until=until)
    run = pieces.finish()
    assert _without_time(run.history) == _without_time(expected.history)
    for name, tensor in alone.state_dict().items():
        assert torch.equal(pieces.model.state_dict()[name], tensor), name


def test_recipe_auto_follows_the_training_set_size(gunpoint):
    assert resolve_recipe("auto", n_train=AUTO_UCR_MAX_TRAIN) == ("ucr", RECIPES["ucr"])
    assert resolve_recipe("auto", n_train=AUTO_UCR_MAX_TRAIN + 1, max_epochs=7) == (
        "default",
        RECIPES["default"].replace(max_epochs=7),
    )
    with pytest.raises(ValueError, match="pass n_train"):
        resolve_recipe("auto")
    with pytest.raises(ValueError, match="'auto'"):
        resolve_recipe("fast")


def test_progress_lines_show_the_epoch_the_best_so_far_and_an_eta(capsys):
    progress = Progress("fcn fit", 10, "lines", line_every_s=0.0)
    progress.update(total=4, loss=0.5, val_accuracy=0.75, best="0.75 (epoch 1)")
    progress.write("an event")
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(
        "fcn fit: epoch 1/4, loss 0.5, val_accuracy 0.75, best 0.75 (epoch 1), 0:00 elapsed, ETA "
    )
    assert lines[1] == "an event" and lines[2].startswith("fcn fit: epoch 1/4")
    with pytest.raises(ValueError, match="progress must be"):
        Progress("x", 1, "bar")


def test_the_progress_line_names_what_chose_the_kept_epoch_when_it_is_not_the_metric_shown():
    """Regression: a regression's line read "val_mae 34.6, best 45.32 (epoch 2)": the kept epoch was chosen by the
    validation loss, and its MAE, worse than the current one, was called the best."""
    kept = {"epoch": 2, "loss": 0.9, "val_loss": 0.41, "val_mae": 45.32}
    now = {"epoch": 3, "loss": 0.8, "val_loss": 0.44, "val_mae": 34.6}
    assert progress_status(now, kept, "val_loss")["best"] == "val_loss 0.41 (epoch 2)"
    assert progress_status(now, kept, "loss")["best"] == "loss 0.9 (epoch 2)"
    tuned = {"epoch": 2, "loss": 0.3, "val_loss": 0.2, "val_accuracy": 0.75}
    assert progress_status({**tuned, "epoch": 3}, tuned, "val_accuracy")["best"] == "0.75 (epoch 2)"


def test_progress_lines_end_without_repeating_the_last_one(capsys):
    """Regression: a run whose last epoch had just printed its line printed it again when it closed."""
    progress = Progress("fcn fit", 2, "lines", line_every_s=0.0)
    progress.update(loss=0.5)
    progress.update(loss=0.4)
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == ["fcn fit: epoch 1/2", "fcn fit: epoch 2/2"]


def test_progress_never_shows_more_epochs_than_its_total_or_a_negative_eta(capsys):
    """Halving re-estimates the total as it goes; epochs beyond the last estimate grow the total (the demo printed
    'epoch 188/150, ETA -1:59:55')."""
    progress = Progress("fine-tune", 3, "lines", line_every_s=0.0)
    for _ in range(5):
        progress.update(1)
    line = progress.line()
    assert "epoch 5/5" in line and "ETA 0:00" in line and "-" not in line.split("ETA")[1]


@pytest.mark.parametrize("native", [True, False])
def test_presets_train_in_bf16_exactly_where_the_cpu_computes_it_natively(
    native: bool, monkeypatch: pytest.MonkeyPatch
):
    """Unasked, a preset trains under bfloat16 autocast on a CPU with AVX512-bf16 or AMX (emulated elsewhere, and
    slower than float32); an explicit bf16, or a TrainConfig's own, always wins."""
    from tshub.training import train_from_scratch
    from tshub.training.recipes import bf16_override

    flags = {"avx512_bf16": native, "amx_bf16": False, "avx512_f": True}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: flags)
    cpu = torch.device("cpu")
    assert bf16_override(None, "ucr", cpu) is native
    assert bf16_override(False, "ucr", cpu) is False and bf16_override(True, "default", cpu) is True
    assert bf16_override(None, TrainConfig(bf16=True), cpu) is None  # resolve_recipe keeps the config's own
    rng = np.random.default_rng(0)

    data = Dataset.from_arrays(rng.standard_normal((40, 1, 16)), np.arange(40) % 2, name="tiny")
    result = train_from_scratch("fcn", data, max_epochs=1, arch_kwargs={"filters": (4, 4, 4)}, progress=False)
    assert result.model.meta["train_config"]["bf16"] is native


def pretend_cpu(monkeypatch: pytest.MonkeyPatch, capabilities: dict, onednn_cap: str | None) -> None:
    """torch reports ``capabilities`` for the CPU, and oneDNN is capped at ``onednn_cap`` (None: uncapped)."""
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if onednn_cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", onednn_cap)


@pytest.mark.parametrize(
    ("name", "flags", "cap", "native"),
    [
        ("Intel Xeon", {"amx_bf16", "avx512_bf16"}, None, True),
        ("Intel Xeon", {"amx_bf16", "avx512_bf16"}, "AVX512_CORE_AMX", True),
        ("Intel Xeon", {"amx_bf16", "avx512_bf16"}, "AVX512_CORE_BF16", False),  # AMX present, not used
        ("Intel Xeon", {"avx512_bf16"}, None, False),  # no AMX: bf16 convolutions at float32's rate, plus casts
        ("AMD EPYC 9R14", {"avx512_bf16"}, None, True),
        ("AMD EPYC 9R14", {"avx512_bf16"}, "AVX512_CORE", False),
        ("AMD EPYC 7R13", set(), None, False),  # emulated: slower than float32
    ],
)
def test_bf16_counts_as_native_only_where_onednn_runs_it_faster_than_float32(
    name: str, flags: set[str], cap: str | None, native: bool, monkeypatch: pytest.MonkeyPatch
):
    """Regression: AVX512-bf16 alone made bf16 'native', so an Intel CPU without AMX (or one whose AMX a VM hides)
    trained a third slower in bf16, and a oneDNN capped below bf16 (ONEDNN_MAX_CPU_ISA) emulated it
    (bench/results/fcn_step_xeon_no_amx.md, train_speed_xeon_no_amx.md)."""
    from tshub.training.precision import native_bf16

    pretend_cpu(monkeypatch, {"cpu_name": name, "avx512_f": True, **{flag: True for flag in flags}}, cap)
    assert native_bf16(torch.device("cpu")) is native


@pytest.mark.parametrize(("major", "native"), [(7, False), (8, True), (9, True)])
def test_cuda_bf16_counts_as_native_only_from_ampere_on_the_device_asked(
    major: int, native: bool, monkeypatch: pytest.MonkeyPatch
):
    """Regression: `torch.cuda.is_bf16_supported()` says yes where a bf16 tensor can be made, emulated (V100, T4:
    compute capability 7), and asks the current device, not the one training runs on (cuda:1)."""
    from types import SimpleNamespace

    from tshub.training.precision import native_bf16

    asked: list[torch.device] = []

    def properties(device: torch.device) -> SimpleNamespace:
        asked.append(device)
        return SimpleNamespace(major=major)

    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    monkeypatch.setattr(torch.cuda, "get_device_properties", properties)
    assert native_bf16(torch.device("cuda", 1)) is native
    assert asked == [torch.device("cuda", 1)]


def test_the_epoch_hook_sees_the_kept_weights_updated_with_its_epoch(gunpoint):
    """Regression: the hook ran before the epoch's callbacks, so a fine-tune's progress line (drawn from the hook)
    showed the best of the epochs before: "val_accuracy 0.8333, best 0.5 (epoch 1)"."""
    seen: list[tuple[int, int | None]] = []

    def hook(record: dict) -> None:
        seen.append((record["epoch"], training.best_record["epoch"] if training.best_record else None))

    training = Training(_fcn(), gunpoint["train"], gunpoint["test"], QUICK, progress=False, on_epoch_end=hook)
    training.run()
    assert seen[0] == (1, 1)  # the first epoch is the best so far, whatever it scored
    assert all(best is not None and best <= epoch for epoch, best in seen)


def test_a_device_torch_cannot_use_is_refused_saying_what_to_pass():
    """Regression: device="cuda" without CUDA failed deep inside torch with "Torch not compiled with CUDA enabled"."""
    from tshub.training.loop import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(
            ValueError, match="device 'cuda' is not available: torch sees no CUDA device; pass device='cpu'"
        ):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="'gpu0' is not a torch device"):
        resolve_device("gpu0")


def test_training_leaves_the_callers_random_stream_where_it_was():
    """Regression: train_from_scratch, finetune and fit reseeded torch's global generator, so a user's own draws
    after a training call repeated whatever the training's seed gave."""
    from tshub.data import Dataset
    from tshub.training import finetune, train_from_scratch

    rng = np.random.default_rng(0)
    data = Dataset.from_arrays(rng.normal(size=(24, 1, 16)), np.arange(24) % 2, name="noise")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    options = {"max_epochs": 1, "arch_kwargs": {"filters": (4, 4, 4)}, "progress": False}
    model = train_from_scratch("fcn", data, seed=3, **options).model
    finetune(model, data, max_epochs=1, seed=5, progress=False)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("flags", "cap", "emulated"),
    [
        (set(), None, True),  # a Zen 3 EPYC: no bf16 instruction at all
        ({"avx512_bf16"}, "AVX2", True),  # oneDNN capped below its bf16 instructions
        ({"avx512_bf16"}, None, False),
        ({"amx_bf16", "avx512_bf16"}, None, False),
    ],
)
def test_asking_bf16_on_a_cpu_that_emulates_it_warns_how_much_slower_it_runs(
    flags: set[str], cap: str | None, emulated: bool, monkeypatch: pytest.MonkeyPatch, recwarn
):
    """Regression: the zoo's recipe asks bf16, and on a Zen 3 AMD EPYC (AVX2, no AVX-512) oneDNN emulates it: an FCN
    training step took 1866 ms against 144 ms in float32, and nothing said why the build crawled."""
    from tshub.data import Dataset

    pretend_cpu(monkeypatch, {"cpu_name": "AMD EPYC", "avx2": True, **{flag: True for flag in flags}}, cap)
    rng = np.random.default_rng(0)
    data = Dataset.from_arrays(rng.standard_normal((8, 1, 16)), np.arange(8) % 2, name="tiny")
    model = build_model("fcn", 1, 2, filters=(4, 4, 4))
    fit(model, (data.X, data.y, None), config=TrainConfig(max_epochs=1, bf16=True, monitor="loss"), progress=False)
    fit(model, (data.X, data.y, None), config=TrainConfig(max_epochs=1, bf16=False, monitor="loss"), progress=False)
    messages = [str(w.message) for w in recwarn if "bfloat16" in str(w.message)]
    if emulated:
        assert len(messages) == 1 and "emulates" in messages[0] and "bf16=False" in messages[0]
    else:
        assert messages == []


def test_omega_is_chosen_on_the_validation_loss_without_the_weight_penalty():
    """Regression: ω was ranked on ConvNetQuake's validation loss with its L2 penalty on the conv kernels (30 % of
    SP500/convnetquake's), which ω moves: a network computing the same function with smaller kernels, and a little
    worse predictions, ranked first. Training's own monitors keep Keras' penalised loss."""
    import copy

    from tshub.stats import select_lr_multiplier
    from tshub.training.monitor import omega_selector

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    val = (rng.normal(size=(64, 3, 100)).astype(np.float32), rng.normal(size=64).astype(np.float32), None)
    a = build_model("convnetquake", 3, 1, input_length=100).eval()
    b = copy.deepcopy(a)
    with torch.no_grad():  # ReLU is positively homogeneous: conv1 · s, conv2 / s computes the same function
        s = float(((b.backbone.conv2.weight**2).sum() / (b.backbone.conv1.weight**2).sum()) ** 0.25)
        b.backbone.conv1.weight *= s
        b.backbone.conv1.bias *= s
        b.backbone.conv2.weight /= s
        b.head.dense2.bias += 0.03  # and b predicts a little worse
    ra, rb = ({f"val_{k}": v for k, v in evaluate(m, val, "regression").items()} for m in (a, b))
    assert rb["val_mse"] > ra["val_mse"] and rb["val_loss"] < ra["val_loss"]  # the penalty hides it
    assert omega_selector("regression").improved(ra, rb) and not omega_selector("regression").improved(rb, ra)
    assert Monitor.resolve("auto", "regression").improved(rb, ra)  # training's monitor: Keras' loss, as before
    record = {"source": "S", "target": "T", "arch": "convnetquake", "seed": 0, "referent_id": "r", "task": "regression"}
    rows = [
        {
            **record,
            "lr_multiplier": omega,
            "val_loss": r["val_loss"],
            "val_data_loss": r["val_data_loss"],
            "val_metrics": {},
        }
        for omega, r in ((0.1, rb), (1.0, ra))
    ]
    assert [row["lr_multiplier"] for row in select_lr_multiplier(rows)] == [1.0]
