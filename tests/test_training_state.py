"""Resumable training state (tshub.training.state): what a saved state is refused for, and what it carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open

from tshub.models import build_model
from tshub.training.loop import build_optimizer, fit
from tshub.training.recipes import TrainConfig
from tshub.training.state import TrainingState

CONFIG = TrainConfig(max_epochs=3, batch_size=16)


class _Interrupt(Exception):
    pass


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((40, 1, 32)).astype(np.float32), rng.integers(0, 2, 40)


def _interrupted(arch: str, kwargs: dict[str, Any], state: Path) -> None:
    X, y = _data()

    def hook(record: dict[str, Any]) -> None:
        if record["epoch"] == 3:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        fit(build_model(arch, 1, 2, **kwargs), (X, y, None), (X, y, None), CONFIG, progress=False,
            state_path=state, on_epoch_end=hook)  # fmt: skip


@pytest.mark.parametrize(
    ("arch", "saved", "now"),
    [
        ("fcn", {"filters": (8, 8, 8)}, {"filters": (16, 8, 8)}),  # other shapes: loading it would fail
        ("magnet", {"dropout": 0.1}, {"dropout": 0.5}),  # same tensors, another network
    ],
)
def test_a_state_of_another_architecture_is_refused_and_the_run_starts_afresh(
    arch: str, saved: dict[str, Any], now: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    state = tmp_path / "run.safetensors"
    _interrupted(arch, saved, state)
    X, y = _data()
    seen: list[int] = []
    with pytest.warns(UserWarning, match="another training"):
        fit(build_model(arch, 1, 2, **now), (X, y, None), (X, y, None), CONFIG, progress=False, state_path=state,
            on_epoch_end=lambda record: seen.append(record["epoch"]))  # fmt: skip
    assert seen == [1, 2, 3]


def test_a_state_saved_on_a_gpu_carries_its_cuda_generator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On CUDA, dropout draws from the device's generator: a resumed run must continue its stream, not restart it
    from the seed (checked with a stand-in for the CUDA generator: the test machines have no GPU)."""
    cuda = {"state": torch.tensor([1, 2, 3], dtype=torch.uint8)}
    monkeypatch.setattr("tshub.training.state._cuda_device", lambda model: torch.device("cuda", 0), raising=False)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: cuda["state"].clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: cuda.update(state=state))
    model = build_model("fcn", 1, 2, filters=(4, 4, 4))
    optimizer = build_optimizer(model, None, CONFIG)
    saver = TrainingState(tmp_path / "run.safetensors", "0123456789abcdef")
    saver.save(epoch=1, model=model, optimizer=optimizer, generator=torch.Generator(), history=[], best_state=None,
               best_epoch=None, elapsed_s=0.0, monitors={})  # fmt: skip
    cuda["state"] = torch.tensor([9, 9, 9], dtype=torch.uint8)  # a new process: seeded afresh
    assert saver.restore(model, optimizer, torch.Generator(), {}) is not None
    assert torch.equal(cuda["state"], torch.tensor([1, 2, 3], dtype=torch.uint8))


MULTI_HEAD = {"recipe": CONFIG, "progress": False, "arch_kwargs": {"filters": (4, 4, 4)}}


def _two_heads(val: np.ndarray | None = None) -> list[Any]:
    """Two small datasets A and B (one head each), validated on ``val`` (default series 20–29) and tested on the
    other series of 20–39."""
    from tshub.data.dataset import Dataset

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 1, 24)).astype(np.float32), np.tile([0, 1], 20)
    val = np.arange(20, 30) if val is None else val
    splits = {"train": np.arange(20), "val": val, "test": np.setdiff1d(np.arange(20, 40), val)}
    return [Dataset.from_arrays(X, y, name=name, splits=splits) for name in ("A", "B")]


def _multi_head_killed_in_epoch_three(
    data: list[Any], state: Path, monkeypatch: pytest.MonkeyPatch, epoch_s: float = 0.0
) -> None:
    """A multi-head pretraining saving its state every epoch, killed in its third epoch (each epoch lasting at
    least ``epoch_s``)."""
    import time

    from tshub.training import multihead

    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    real_epoch, calls = multihead._interleaved_epoch, []

    def killed_in_epoch_three(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise _Interrupt
        time.sleep(epoch_s)
        return real_epoch(*args, **kw)

    with monkeypatch.context() as patched, pytest.raises(_Interrupt):
        patched.setattr(multihead, "_interleaved_epoch", killed_in_epoch_three)
        multihead.pretrain_multihead("fcn", data, state_path=state, **MULTI_HEAD)


def test_a_multi_head_state_of_other_validation_data_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The validation scores drive the kept weights, the learning rate and the stop, as in ``fit``, whose state is
    fingerprinted by its validation series too."""
    from tshub.training.multihead import pretrain_multihead

    state = tmp_path / "multi.safetensors"
    _multi_head_killed_in_epoch_three(_two_heads(np.arange(20, 30)), state, monkeypatch)
    with pytest.warns(UserWarning, match="another training"):
        run = pretrain_multihead("fcn", _two_heads(np.arange(30, 40)), state_path=state, **MULTI_HEAD)
    assert len(run.history) == 3


def test_a_resumed_training_reports_the_time_of_every_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``elapsed_s`` (cards, the web page's "training time") counts the processes before a resume too, not only
    the last one."""
    import time

    from tshub.data import Dataset
    from tshub.training.finetuning import train_from_scratch

    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    X, y = _data()
    data = Dataset.from_arrays(X, y, name="toy")
    state, kwargs = tmp_path / "run.safetensors", {"recipe": CONFIG, "max_epochs": 4, "progress": False}

    def slow_then_killed(record: dict[str, Any]) -> None:
        time.sleep(0.4)
        if record["epoch"] == 3:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train_from_scratch("fcn", data, state_path=state, on_epoch_end=slow_then_killed, **kwargs)
    resumed = train_from_scratch("fcn", data, state_path=state, **kwargs)
    assert len(resumed.history) == 4 and resumed.elapsed_s >= 0.8  # two slow epochs were saved before the kill
    assert resumed.model.meta["elapsed_s"] == resumed.elapsed_s


def test_a_resumed_multi_head_training_reports_the_time_of_every_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tshub.training.multihead import pretrain_multihead

    state, data = tmp_path / "multi.safetensors", _two_heads()
    _multi_head_killed_in_epoch_three(data, state, monkeypatch, epoch_s=0.4)
    run = pretrain_multihead("fcn", data, state_path=state, **MULTI_HEAD)
    assert len(run.history) == 3 and run.elapsed_s >= 0.8 and run.model.meta["elapsed_s"] == run.elapsed_s
    assert not run.model.training  # returned for inference, as fit's models are


@pytest.mark.parametrize("changed", ["val_labels", "train_stream_max", "val_stream_max"])
def test_a_state_of_other_validation_labels_or_stream_max_is_refused(
    changed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: only the validation series (and the training series and labels) were fingerprinted, so a state
    saved with mislabelled validation series, or other stream_max values (raw data rescaled: the same normalised
    series), resumed silently with the other training's history, kept weights and monitors."""
    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    X, y = _data()
    stream = np.abs(X).max(axis=(1, 2))[:, None].astype(np.float32)
    model = lambda: build_model("fcn", 1, 2, filters=(8, 8, 8), use_stream_max=True)  # noqa: E731

    def hook(record: dict[str, Any]) -> None:
        if record["epoch"] == 3:
            raise _Interrupt

    state = tmp_path / "run.safetensors"
    with pytest.raises(_Interrupt):
        fit(model(), (X, y, stream), (X, y, stream), CONFIG, progress=False, state_path=state, on_epoch_end=hook)
    train, val = (X, y, stream), (X, y, stream)
    if changed == "val_labels":
        val = (X, 1 - y, stream)
    elif changed == "train_stream_max":
        train = (X, y, stream * 1024)
    else:
        val = (X, y, stream * 1024)
    with pytest.warns(UserWarning, match="another training"):
        fit(model(), train, val, CONFIG, progress=False, state_path=state)


def test_a_multi_head_state_of_other_validation_labels_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Regression: a multi-head state was fingerprinted by its validation series alone, so one saved with
    mislabelled validation series resumed silently."""
    from dataclasses import replace

    from tshub.training.multihead import pretrain_multihead

    state = tmp_path / "multi.safetensors"
    _multi_head_killed_in_epoch_three(_two_heads(), state, monkeypatch)
    relabelled = []
    for ds in _two_heads():
        y = ds.y.copy()
        y[ds.splits["val"]] = 1 - y[ds.splits["val"]]
        relabelled.append(replace(ds, y=y))
    with pytest.warns(UserWarning, match="another training"):
        run = pretrain_multihead("fcn", relabelled, state_path=state, **MULTI_HEAD)
    assert len(run.history) == 3


def test_a_resumed_fine_tune_spends_what_is_left_of_its_time_budget_across_every_omega(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: each ω's training set its deadline from its own restored time alone, so a fine-tune killed after
    1.5 s of a 2 s budget gave the ω it had not reached a whole budget again on resume (tried [1.0, 0.5], where the
    uninterrupted call spends it all on ω = 1 and tries [1.0])."""
    import time

    from tshub.data.dataset import Dataset
    from tshub.training.finetuning import finetune

    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 1, 64)).astype(np.float32)
    ds = Dataset.from_arrays(X, (X[:, 0, :32].mean(1) > 0).astype(int), splits={"train": np.arange(200)})
    source = build_model("fcn", 1, 2, filters=(16, 16, 16))
    never_stops = TrainConfig(max_epochs=100_000, early_stopping_patience=None, lr_patience=None, bf16=False)
    options: dict[str, Any] = {
        "lr_multiplier": [1.0, 0.5],
        "search": "full",
        "recipe": never_stops,
        "time_budget_s": 2.0,
        "progress": False,
        "state_dir": tmp_path,
    }

    class Killed(Exception):
        pass

    began = time.perf_counter()

    def kill_after_most_of_the_budget(record: dict) -> None:
        if time.perf_counter() - began > 1.5:
            raise Killed

    with pytest.raises(Killed):
        finetune(source, ds, on_epoch_end=kill_after_most_of_the_budget, **options)
    resumed = finetune(source, ds, **options)
    assert [row["lr_multiplier"] for row in resumed.grid] == [1.0]


def test_a_resumed_training_shows_its_hook_the_restored_epochs_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Regression: a resumed training's hook saw only the epochs after the restart, so whoever tracks the best so far
    (a service job's progress) lost the epochs before the kill; they come first now, flagged "restored", and every
    record names the recipe's epoch limit."""
    from tshub.data import Dataset
    from tshub.training.finetuning import train_from_scratch

    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    X, y = _data()
    data = Dataset.from_arrays(X, y, name="toy")
    state, kwargs = tmp_path / "run.safetensors", {"recipe": CONFIG, "max_epochs": 4, "progress": False}

    def killed_in_epoch_three(record: dict[str, Any]) -> None:
        if record["epoch"] == 3:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train_from_scratch("fcn", data, state_path=state, on_epoch_end=killed_in_epoch_three, **kwargs)
    seen: list[dict[str, Any]] = []
    resumed = train_from_scratch("fcn", data, state_path=state, on_epoch_end=seen.append, **kwargs)
    assert [(r["epoch"], r.get("restored", False), r["max_epochs"]) for r in seen] == [
        (1, True, 4),
        (2, True, 4),
        (3, False, 4),
        (4, False, 4),
    ]
    assert [r["val_loss"] for r in seen[:2]] == [r["val_loss"] for r in resumed.history[:2]]
    assert all("restored" not in r and "max_epochs" not in r for r in resumed.history)


@pytest.mark.parametrize("config", [CONFIG, TrainConfig(max_epochs=40, batch_size=16, early_stopping_patience=1)])
def test_a_kept_ended_state_resumes_without_training_again(
    config: TrainConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: ``fit`` removed its state as it ended, before the caller stored the result (the zoo build scores
    the test split and writes the card after training), so a kill in between lost the whole training; a state saved
    before the end then resumed an early-stopped training for one more epoch. ``keep_state`` keeps the ended state,
    and a run resuming it trains no epoch and ends where the first ended."""
    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    X, y = _data()
    state = tmp_path / "run.safetensors"

    def run(hook: Any = None) -> tuple[Any, Any]:
        model = build_model("fcn", 1, 2, filters=(4, 4, 4))
        loop = fit(model, (X, y, None), (X, y, None), config, progress=False, state_path=state, keep_state=True,
                   on_epoch_end=hook)  # fmt: skip
        return model, loop

    first, ended = run()
    assert state.is_file()
    with safe_open(state, "pt") as saved:  # the moments of an optimizer that never steps again are not kept
        assert not [key for key in saved.keys() if key.startswith("optim.")]
        assert any(key.startswith("model.") for key in saved.keys())
    seen: list[dict[str, Any]] = []
    again, resumed = run(seen.append)
    assert seen and all(r["restored"] for r in seen)  # told what was trained, nothing trained anew
    assert (resumed.history, resumed.best_epoch, resumed.stop_reason) == (
        ended.history,
        ended.best_epoch,
        ended.stop_reason,
    )
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    assert not again.training
    fit(build_model("fcn", 1, 2, filters=(4, 4, 4)), (X, y, None), (X, y, None), config, progress=False,
        state_path=state)  # fmt: skip
    assert not state.exists()  # without keep_state the ended state is removed, as before


def test_a_kept_ended_multi_head_state_resumes_without_training_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tshub.training import multihead

    monkeypatch.setattr("tshub.training.state.DEFAULT_INTERVAL_S", 0.0)
    state, data = tmp_path / "multi.safetensors", _two_heads()
    first = multihead.pretrain_multihead("fcn", data, state_path=state, keep_state=True, **MULTI_HEAD)
    assert state.is_file()
    monkeypatch.setattr(multihead, "_interleaved_epoch", lambda *a, **k: pytest.fail("trained again"))
    again = multihead.pretrain_multihead("fcn", data, state_path=state, keep_state=True, **MULTI_HEAD)
    assert again.history == first.history and again.model.meta["stop_reason"] == first.model.meta["stop_reason"]
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()))
    multihead.pretrain_multihead("fcn", data, state_path=state, **MULTI_HEAD)
    assert not state.exists()
