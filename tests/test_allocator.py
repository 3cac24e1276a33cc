"""Training and prediction keep freed memory mapped (glibc): a step's or a batch's buffers are reused without page
faults."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

# In a fresh process (the setting is process-wide): page faults of allocating and filling a 64 MiB buffer ten times,
# after one of the calls where tshub applies the setting on a CPU.
PROBE = """
import json, resource, sys
import numpy as np, torch
from tshub.data import Dataset
from tshub.models import build_model
from tshub.recommender.transferability import target_features
from tshub.training.allocator import keep_freed_memory
from tshub.training.loop import fit, predict_outputs
from tshub.training.recipes import TrainConfig
X = np.random.default_rng(0).standard_normal((8, 1, 32)).astype(np.float32)
y = np.arange(8) % 2
model = build_model("fcn", 1, 2)
if sys.argv[1] == "fit":
    fit(model, (X, y, None), None, TrainConfig(max_epochs=1, batch_size=4, monitor="loss", lr_patience=None, early_stopping_patience=None), progress=False)
elif sys.argv[1] == "predict":
    predict_outputs(model, X)
elif sys.argv[1] == "target_features":
    target_features(model, Dataset.from_arrays(X, y, name="probe", splits={"train": np.arange(8)}))
else:  # work on another device than the CPU
    keep_freed_memory(torch.device("meta"))
for _ in range(3):  # the first buffers may map new pages either way
    torch.empty(1 << 24).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    torch.empty(1 << 24).fill_(1.0)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"kept": keep_freed_memory(torch.device("cpu")), "faults": faults}))
"""


def _probe(call: str, **env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, call], capture_output=True, text=True, timeout=120, env={**os.environ, **env}
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's (mallopt); a no-op elsewhere")
@pytest.mark.parametrize("call", ["fit", "predict", "target_features"])
def test_training_and_prediction_keep_freed_memory_for_reuse(call: str) -> None:
    """Regression (predict, target_features): only fit applied the setting, so prediction and the recommender's
    features mapped fresh pages for every batch: an FCN forward pass of 256 series on a Zen 4 took 1.57x as long
    with oneDNN's convolutions, 2.65x with Winograd's (bench/results/fcn_predict_zen4_256.md)."""
    kept, declined = _probe(call), _probe(call, TSHUB_KEEP_FREED_MEMORY="0")
    assert kept["kept"] and not declined["kept"]
    pages = (1 << 26) // 4096  # one 64 MiB buffer
    assert declined["faults"] >= 5 * pages  # glibc maps fresh pages for every large buffer by default
    assert kept["faults"] < pages  # kept: the pages of the first buffer serve the next ten


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's (mallopt); a no-op elsewhere")
def test_work_on_another_device_leaves_the_cpu_allocator_as_it_is() -> None:
    pages = (1 << 26) // 4096
    assert _probe("other-device")["faults"] >= 5 * pages
