"""Training keeps freed memory mapped (glibc): a step's buffers are reused without page faults."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

# In a fresh process (the setting is process-wide): page faults of allocating and filling a 64 MiB buffer ten times,
# after a one-epoch fit on CPU, which is where tshub applies the setting.
PROBE = """
import json, resource
import numpy as np, torch
from tshub.models import build_model
from tshub.training.allocator import keep_freed_memory
from tshub.training.loop import fit
from tshub.training.recipes import TrainConfig
X = np.random.default_rng(0).standard_normal((8, 1, 32)).astype(np.float32)
fit(build_model("fcn", 1, 2), (X, np.arange(8) % 2, None), None, TrainConfig(max_epochs=1, batch_size=4, monitor="loss", lr_patience=None, early_stopping_patience=None), progress=False)
for _ in range(3):  # the first buffers may map new pages either way
    torch.empty(1 << 24).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    torch.empty(1 << 24).fill_(1.0)
print(json.dumps({"kept": keep_freed_memory(), "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _probe(**env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env={**os.environ, **env}
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's (mallopt); a no-op elsewhere")
def test_training_keeps_freed_memory_for_reuse() -> None:
    kept, declined = _probe(), _probe(TSHUB_KEEP_FREED_MEMORY="0")
    assert kept["kept"] and not declined["kept"]
    pages = (1 << 26) // 4096  # one 64 MiB buffer
    assert declined["faults"] >= 5 * pages  # glibc maps fresh pages for every large buffer by default
    assert kept["faults"] < pages  # kept: the pages of the first buffer serve the next ten
