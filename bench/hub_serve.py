"""The zoo served by a self-hosted Hub: `tshub push --all` into `tshub serve`, then a fresh client loads it all.

Starts `tshub serve --role api` on a temporary home, publishes every checkpoint of the local stores (the
repository's zoo) with `tshub push --all`, then, in a new process with an empty HF cache and no repository zoo,
lists the server's repos with `HfApi.list_models` and loads each with `tshub.load_pretrained` (download, checksum
verification, load), loads them all again (cache hits, still online), and loads one with HF_HUB_OFFLINE=1.
Writes bench/results/hub_serve.md.

    .venv/bin/python bench/hub_serve.py
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.testing import SERVE, LiveServer, create_token, service_env  # noqa: E402

CLIENT = """
import json, sys, time
from huggingface_hub import HfApi
import tshub
t = time.perf_counter()
repos = [m.id for m in HfApi().list_models(author="tshub")]
for repo in repos:
    tshub.load_pretrained(repo)
first = time.perf_counter() - t
t = time.perf_counter()
for repo in repos:
    tshub.load_pretrained(repo)
print(json.dumps({"repos": len(repos), "first_s": first, "cached_s": time.perf_counter() - t, "last": repos[-1]}))
"""
OFFLINE = (
    "import sys, time, tshub; t = time.perf_counter(); tshub.load_pretrained(sys.argv[1]); "
    "print(time.perf_counter() - t)"
)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tshub-hub-bench-") as tmp:
        tmp = Path(tmp)
        env = service_env(tmp / "server", [])
        server = LiveServer(env, tmp / "server.log", role="api").start(120)
        try:
            client = {
                **os.environ,
                "HF_ENDPOINT": server.url,
                "HF_HOME": str(tmp / "hf"),
                "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                "HF_HUB_OFFLINE": "0",
                "PYTHONPATH": str(ROOT),
            }
            started = time.perf_counter()
            push = subprocess.run(
                [sys.executable, "-c", SERVE, "push", "--all"],
                capture_output=True,
                text=True,
                env={**client, "HF_TOKEN": create_token(env, "tshub"), "TSHUB_HOME": str(tmp / "pusher")},
            )
            push_s = time.perf_counter() - started
            pushed = push.stdout.count(" -> ")
            fresh = {**client, "TSHUB_HOME": str(tmp / "client"), "TSHUB_REPO_ZOO": ""}
            loads = json.loads(
                subprocess.run(
                    [sys.executable, "-c", CLIENT], capture_output=True, text=True, env=fresh, cwd=tmp, check=True
                ).stdout.splitlines()[-1]
            )
            offline_s = float(
                subprocess.run(
                    [sys.executable, "-c", OFFLINE, loads["last"]],
                    capture_output=True,
                    text=True,
                    env={**fresh, "HF_HUB_OFFLINE": "1"},
                    cwd=tmp,
                    check=True,
                ).stdout.split()[-1]
            )
        finally:
            server.stop()
        cache_mb = sum(p.stat().st_size for p in (tmp / "hf" / "hub").glob("*/blobs/*")) / 1e6
    report = "\n".join(
        [
            "# The zoo served by `tshub serve` (bench/hub_serve.py)",
            "",
            f"{platform.node()}, {os.cpu_count()} cores, one run; `tshub serve --role api` on loopback.",
            "",
            "| step | result |",
            "|---|---|",
            f"| `tshub push --all` | {pushed} checkpoints published in {push_s:.1f} s "
            f"({'all' if push.returncode == 0 else 'SOME FAILED'}) |",
            f"| fresh client: list + download + verify + load each | {loads['repos']} repos in {loads['first_s']:.1f} s, "
            f"{cache_mb:.0f} MB in the HF cache |",
            f"| the same loads again, online (cache hits) | {loads['cached_s']:.1f} s "
            f"({1000 * loads['cached_s'] / max(loads['repos'], 1):.0f} ms each) |",
            f"| one load with HF_HUB_OFFLINE=1 (`{loads['last']}`) | {offline_s:.2f} s |",
            "",
        ]
    )
    out = ROOT / "bench" / "results" / "hub_serve.md"
    out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
