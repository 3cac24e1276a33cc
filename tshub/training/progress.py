"""What a long training call is doing: a tqdm bar in a terminal or notebook, or plain lines in logs and pipes.

Every training entry point takes ``progress``: ``True`` (the default: a tqdm bar when stderr is a terminal or
in a notebook, else lines), ``"lines"`` (one line at most every ``LINE_EVERY_S`` seconds plus one per event, as
logs, CI and piped CLI output want) or ``False`` (silent). The total is the number of epochs the call will run if
validation stops improving now (early stopping's earliest stop, capped by max_epochs), re-estimated as training
goes, so the ETA is what is left unless the model keeps improving.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Literal

from tqdm.auto import tqdm

ProgressMode = bool | Literal["lines"]
LINE_EVERY_S = 15.0


def check_mode(progress: Any) -> ProgressMode:
    if progress not in (True, False, "lines"):
        raise ValueError(f"progress must be True (a tqdm bar), 'lines' (plain lines) or False, got {progress!r}.")
    return progress


class Progress:
    """Epoch progress of one call (a training, or a whole ω search), with status fields shown beside it."""

    def __init__(
        self, desc: str, total: int, mode: ProgressMode = True, *, initial: int = 0, line_every_s: float = LINE_EVERY_S
    ):
        self.mode, self.desc, self.total, self.done = check_mode(mode), desc, total, initial
        self.line_every_s = line_every_s
        self.status: dict[str, Any] = {}
        self._start = self._last_line = time.perf_counter()
        self._lined = False  # whether the last line written is the status as it stands
        if mode is True and not _interactive():
            self.mode = "lines"
        self._bar = (
            tqdm(desc=desc, total=total, initial=initial, unit="epoch", dynamic_ncols=True)
            if self.mode is True
            else None
        )

    def update(self, epochs: int = 1, *, total: int | None = None, **status: Any) -> None:
        """``epochs`` more done; ``total`` re-estimates the epochs of the whole call; ``status`` replaces fields."""
        self.done += epochs
        self.total = max(self.total if total is None else total, self.done)  # an estimate never falls behind
        self.status.update(status)
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.set_postfix({k: _fmt(v) for k, v in self.status.items()}, refresh=False)
            self._bar.update(epochs)
        elif self.mode == "lines" and time.perf_counter() - self._last_line >= self.line_every_s:
            self.write(self.line())
            self._lined = True
        else:
            self._lined = False

    def write(self, text: str, *, final: bool = False) -> None:
        """An event worth a line of its own (a finished ω, a halving rung), above the bar when there is one. A
        ``final`` one (the ω chosen) ends the lines: the status, which the last run trained left, is not repeated
        after it."""
        if self.mode is False:
            return
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)
        self._last_line, self._lined = time.perf_counter(), final

    def line(self) -> str:
        """``desc: epoch 12/40, loss 0.3, ..., 0:05 elapsed, ETA 0:12`` (the ETA at the current epoch rate)."""
        elapsed = time.perf_counter() - self._start
        fields = "".join(f", {k} {_fmt(v)}" for k, v in self.status.items())
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        return f"{self.desc}: epoch {self.done}/{self.total}{fields}, {_clock(elapsed)} elapsed" + (
            f", ETA {_clock(eta)}" if eta is not None else ""
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "lines" and self.done and not self._lined:
            self.write(self.line())


def _interactive() -> bool:
    """A terminal or a notebook, where a redrawn bar reads well (in a log file it is one endless line)."""
    return sys.stderr.isatty() or tqdm.__module__.startswith("tqdm.notebook")


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _clock(seconds: float) -> str:
    minutes, s = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{s:02d}" if hours else f"{minutes}:{s:02d}"
