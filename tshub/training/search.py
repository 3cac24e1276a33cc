"""Choosing ω among several fine-tunes, on validation only: every ω to the end, or successive halving.

Successive halving (Jamieson & Talwalkar 2016; Li et al., Hyperband, 2018) trains every ω for ``rung_epochs``
epochs, keeps the best third by the validation score of the weights each would keep (the recipe's checkpoint:
validation accuracy, ties broken by validation loss; validation loss for regression), trains the survivors three
times as long, and so on until one ω is left, which trains to the recipe's end. A run its recipe stops early
keeps its final score in later comparisons. Every run is a ``Training`` advanced in pieces, so the survivor ends
bit for bit where the same ω trained alone ends: halving changes which ω is chosen and the time, not the models.
``bench/omega_search.py`` measures it against the full grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cmp_to_key
from typing import Any, Protocol

from tshub.training.loop import Training
from tshub.training.monitor import Monitor
from tshub.training.progress import Progress
from tshub.training.recipes import TrainConfig

SEARCHES = ("halving", "full")
ETA = 3  # keep 1/ETA of the runs at each rung, and train the survivors ETA times as long
HALVED = "halved"  # the stop reason of a run the search dropped


class Run(Protocol):
    """What the search needs of one ω: its training, a label, and a place to note when it was dropped."""

    training: Training
    eliminated_after: int | None

    @property
    def label(self) -> str: ...

    def finish(self) -> Any: ...


def rung_epochs(config: TrainConfig) -> int:
    """Epochs of the first rung: a quarter of the early-stopping patience (ucr: 25, default: 3), else 1/40 of
    the maximum (bigdata18: 50); at most a third of the maximum (``ETA``), so that a short budget still drops ω
    after its first rung (ucr's 25 with ``max_epochs=15`` trained every ω to the end, as the full grid does)."""
    if config.early_stopping_patience:
        first = math.ceil(config.early_stopping_patience / 4)
    else:
        first = math.ceil(config.max_epochs / 40)
    return max(1, min(first, config.max_epochs // ETA))


def choose(runs: Sequence[Run], selector: Monitor, search: str, display: Progress, *, rung_epochs: int) -> Run:
    """Train the runs as ``search`` says, finish them all and return the one chosen on validation. A resumed search
    replays every rung with every run (a run's score only improves, so each rung keeps the runs it kept); runs it
    had dropped (``eliminated_after`` set from their kept states) rank after the others on a tie."""
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {SEARCHES}, got {search!r}.")
    if search == "halving" and len(runs) > 1:
        alive = _halve(list(runs), selector, display, rung_epochs)
    else:
        alive = _train_all(list(runs), display)
    chosen = _ranked(alive, selector)[0]
    for run in runs:
        run.finish()
    if len(runs) > 1:
        display.write(f"chose {chosen.label} on validation: {_score(chosen, selector)}", final=True)
    return chosen


def _train_all(runs: list[Run], display: Progress) -> list[Run]:
    """Every run to its recipe's end, one after the other (the ones a spent time budget leaves unstarted are
    not candidates)."""
    for i, run in enumerate(runs):
        display.update(0, total=display.done + sum(r.training.epochs_bound() - r.training.epoch for r in runs[i:]))
        _advance(run, runs, None)
    return _tried(runs, display)


def _halve(alive: list[Run], selector: Monitor, display: Progress, first_rung: int) -> list[Run]:
    max_epochs = alive[0].training.config.max_epochs
    budget = first_rung
    while len(alive) > 1:
        display.update(0, total=display.done + _planned(alive, budget, max_epochs))
        for run in alive:
            _advance(run, alive, budget)
        ranked = _ranked(_tried(alive, display), selector)
        if all(run.training.epochs_bound() <= run.training.epoch for run in ranked):
            # none trains further: another rung would rank the same scores again, so the choice is among them all
            display.write(f"all {len(ranked)} ω left ended their training within this rung: chosen among them all")
            return ranked
        alive, dropped = ranked[: math.ceil(len(ranked) / ETA)], ranked[math.ceil(len(ranked) / ETA) :]
        for run in dropped:
            run.eliminated_after = run.training.epoch
        display.write(_rung_summary(alive, dropped, selector))
        budget *= ETA
    display.update(0, total=display.done + alive[0].training.epochs_bound() - alive[0].training.epoch)
    alive[0].training.run()
    return alive


def _rung_summary(alive: list[Run], dropped: list[Run], selector: Monitor) -> str:
    """The log line of a rung: the epochs its runs trained, each ω's when they differ (a spent time budget or the
    recipe's early stop ends a run before the rung does), and the scores the survivors were kept on."""
    trained = sorted({r.training.epoch for r in alive + dropped})
    if len(trained) == 1:
        kept = "; ".join(f"{r.label} {_score(r, selector)}" for r in alive)
        return f"after {_epochs(trained[0])}: kept {kept} — dropped " + ", ".join(r.label for r in dropped)
    kept = "; ".join(f"{_trained(r)}: {_score(r, selector)}" for r in alive)
    return f"after {trained[0]} to {_epochs(trained[-1])}: kept {kept} — dropped " + ", ".join(map(_trained, dropped))


def _trained(run: Run) -> str:
    return f"{run.label} after {_epochs(run.training.epoch)}"


def _epochs(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def _advance(run: Run, runs: list[Run], until: int | None) -> None:
    """Train ``run`` until epoch ``until`` (None: the end), unless the time budget is spent before it started
    while another run has trained (the first run always trains, so there is always a result)."""
    if run.training.epoch == 0 and run.training.out_of_time and any(r.training.epoch for r in runs):
        return
    run.training.run(until=until)


def _tried(runs: list[Run], display: Progress) -> list[Run]:
    """The runs that trained at least one epoch (the others are no candidates); says when some did not."""
    tried = [r for r in runs if r.training.epoch > 0]
    if len(tried) < len(runs):
        display.write(f"time budget spent: {len(runs) - len(tried)} of {len(runs)} ω not tried")
    return tried


def _planned(alive: list[Run], budget: int, max_epochs: int) -> int:
    """Epochs still to train if no run stops early: this rung for the alive runs, the later rungs for their
    survivors, the last survivor to the end."""
    epochs = sum(r.training.epochs_bound(budget) - r.training.epoch for r in alive)
    n, done_to = len(alive), budget
    while n > 1 and done_to < max_epochs:
        n = math.ceil(n / ETA)
        nxt = max_epochs if n == 1 else min(done_to * ETA, max_epochs)
        epochs += n * (nxt - done_to)
        done_to = nxt
    return epochs


def _ranked(runs: list[Run], selector: Monitor) -> list[Run]:
    """Best first by the validation scores of each run's kept weights; ties: a run not dropped by the search first
    (a resumed search ranks the ended survivor beside the runs it had dropped), else the given order."""

    def compare(a: Run, b: Run) -> int:
        ra, rb = _kept(a), _kept(b)
        if rb is None or (ra is not None and selector.improved(ra, rb)):
            return -1 if ra is not None else 0
        if ra is None or selector.improved(rb, ra):
            return 1
        return (a.eliminated_after is not None) - (b.eliminated_after is not None)

    return sorted(runs, key=cmp_to_key(compare))


def _kept(run: Run) -> dict[str, Any] | None:
    """The history record of the weights the run ends with: the checkpoint's best, or the last epoch's when the
    recipe does not restore the best (``restore_best=False``), so that ω is chosen on the model it returns."""
    training = run.training
    if training.config.restore_best:
        return training.best_record
    return training.result.history[-1] if training.result.history else None


def _score(run: Run, selector: Monitor) -> str:
    record = _kept(run)
    if record is None:
        return "(no epoch)"
    tie = f", {selector.tie_break} {selector.value(record, selector.tie_break):.4g}" if selector.tie_break else ""
    return f"{selector.key} {selector.value(record, selector.key):.4g}{tie} (epoch {record['epoch']})"
