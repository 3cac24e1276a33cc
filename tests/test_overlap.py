"""Held-out series overlapping training series (tshub.data.overlap): what counts as an overlap, and what does not."""

from __future__ import annotations

import numpy as np
import pytest

from tshub.data import overlap
from tshub.data.overlap import overlapping_training


def _windows(recording: np.ndarray, starts: list[int], length: int) -> np.ndarray:
    return np.stack([recording[:, s : s + length] for s in starts])


def test_an_overlap_counts_in_every_channel_at_either_end_and_in_any_block(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    recording = rng.normal(size=(2, 500))
    train = _windows(recording, list(range(0, 300, 10)), 40)  # windows 0..329
    other = recording.copy()
    other[1] += 1.0  # the same first channel, another second one: another recording
    held_out = np.concatenate(
        [
            _windows(recording, [310, 320, 400], 40),  # overlapping 20 steps at its start, 10, none
            _windows(recording, [0], 40)[:, :, ::-1].copy(),  # reversed: no run in order
            _windows(other, [300], 40),  # 30 steps shared in channel 0 only
        ]
    )
    expected = [True, False, False, False, False]
    assert overlapping_training(train, held_out, 20).tolist() == expected
    monkeypatch.setattr(overlap, "_BLOCK_VALUES", 100)  # one training series per block: the same answer
    assert overlapping_training(train, held_out, 20).tolist() == expected
    monkeypatch.setattr(overlap, "_LOOP_ROWS", 1)  # hashed by prefixes, not by doubling: the same answer
    assert overlapping_training(train, held_out, 20).tolist() == expected


def test_both_ways_of_hashing_runs_give_the_polynomial_hash() -> None:
    rng = np.random.default_rng(0)
    prime, base = overlap._PRIMES[0], overlap._BASES[0]
    steps = rng.integers(0, int(prime), size=(3, 57)).astype(np.uint64)
    for run in (1, 2, 7, 8, 13, 57):
        expected = [
            [sum(int(row[j + k]) * pow(int(base), run - 1 - k, int(prime)) for k in range(run)) % int(prime)
             for j in range(57 - run + 1)]
            for row in steps
        ]  # fmt: skip
        assert overlap._doubled_hashes(steps, run, prime, base).tolist() == expected
        assert overlap._rolling_hashes(np.repeat(steps, 50, axis=0), run, prime, base)[::50].tolist() == expected


def test_a_shorter_held_out_series_is_looked_up_by_its_own_last_steps() -> None:
    """A NaN-padded series ends where its values end: its last ``run`` steps are those before the padding."""
    recording = np.random.default_rng(2).normal(size=(1, 200))
    train = _windows(recording, [0, 50], 50)  # steps 0..99
    shorter = np.full((1, 1, 50), np.nan)
    shorter[0, 0, :30] = recording[0, 170:200]  # an unrelated start ...
    shorter[0, 0, 10:30] = recording[0, 80:100]  # ... ending on the training window's last 20 steps
    assert overlapping_training(train, shorter, 20).tolist() == [True]
    assert overlapping_training(train, shorter, 31).tolist() == [False]  # longer than the series: not checked


def test_runs_that_tell_no_recording_apart_match_nothing() -> None:
    """Regression (review): an appliance's on/off pulses, spikes and periodic patterns matched unrelated series (all
    372 ElectricDevices test series first counted as overlapping are two-valued readings), and a periodic series
    counted as overlapping another because it repeats itself."""
    pulses = np.zeros((3, 1, 100))
    for row, start in enumerate((40, 10, 60)):
        pulses[row, 0, start : start + 24] = 1.0  # the same pulse at other times: not a shared recording
    assert overlapping_training(pulses[:1], pulses[1:], 50).tolist() == [False, False]
    ramp = np.tile(np.arange(8.0), 8)  # a period of 8 steps, 64 steps long
    unrelated = np.stack([ramp * (i + 1) for i in range(5)])[:, None, :]
    assert not overlap.overlapping_rows(unrelated, 32).any()  # each repeats itself, none another
    copies = np.concatenate([unrelated, unrelated[:2]])
    assert overlap.overlapping_rows(copies, 32).tolist() == [True, True, False, False, False, True, True]
