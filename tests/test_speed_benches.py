"""The speed benchmarks' arithmetic: a roofline is only as honest as the FLOPs it divides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tshub.models import build_model

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def train_speed(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCH))
    import train_speed

    return train_speed


def test_the_roofline_counts_both_backward_products_after_the_first_layer(train_speed: Any) -> None:
    """The first convolution needs no input gradient (forward + weight gradient: 2 products); every later layer
    needs both (3): the issue's 0.79 GFLOP per FCN series of length 500."""
    length, classes = 500, 2
    forward = [2 * 1 * 8 * 128 * length, 2 * 128 * 5 * 256 * length, 2 * 256 * 3 * 128 * length, 2 * 128 * classes]
    expected = 2 * forward[0] + 3 * sum(forward[1:])
    series = np.zeros((4, 1, length), dtype=np.float32)
    counted = train_speed.conv_flops(build_model("fcn", 1, classes), series)
    assert counted == pytest.approx(4 * expected)
    assert counted / 4 == pytest.approx(0.79e9, rel=0.01)


def test_a_stored_run_renders_again_with_its_measurements_and_a_recomputed_roofline(
    train_speed: Any, tmp_path: Path
) -> None:
    stored = json.loads((BENCH / "results" / "train_speed_zen4.json").read_text())
    record = tmp_path / "run.json"
    record.write_text(json.dumps(stored))
    train_speed.render(record)
    rendered = json.loads(record.read_text())
    table = record.with_suffix(".md").read_text()
    for before, after in zip(stored["rows"], rendered["rows"], strict=True):
        assert after["epoch_s"] == before["epoch_s"] and after["vs_aeon"] == before["vs_aeon"]
        rate = stored["meta"]["gemm_gflops"][after["dtype"]]
        assert after["roofline_s"] == pytest.approx(after["epoch_gflop"] / rate)
        assert after["vs_roofline"] == pytest.approx(after["roofline_s"] / after["epoch_s"])
        assert f"| {after['epoch_s']:.2f} |" in table and f"| {after['vs_roofline']:.0%} |" in table
    fcn = rendered["rows"][0]
    assert fcn["model"] == "tshub FCN" and fcn["epoch_gflop"] == pytest.approx(1024 * 0.79, rel=0.01)
