"""The fine-tune service under attack (issue 12): every probe against a real `tshub serve`, at the probe's sizes.

Starts `tshub serve` (supervisor, API, worker) with its default limits on a temporary home and a small source
checkpoint. An honest tenant uploads a dataset and starts a long fine-tune, then polls its job's status all along;
meanwhile an attacker runs each attack in turn. Reported per attack: the answers (status counts), 5xx, whether the
API or the worker died (a changed pid: the supervisor restarted it), the peak resident memory of the API process
(sampled every 20 ms) and the honest tenant's status-poll latency (p50/p99) during the attack.

    .venv/bin/python bench/service_attack.py --markdown bench/results/service_attack.md
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tshub  # noqa: E402
from server import attacks  # noqa: E402
from server.testing import LiveServer, create_token, make_source_checkpoint, memory_kb, service_env, wait_for_job  # noqa: E402

SOURCE = "Coffee/fcn"


def csv_dataset(rows: int, length: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    labels = np.arange(rows) % 2
    series = rng.normal(size=(rows, length)) + labels[:, None]
    return "\n".join(f"{y}," + ",".join(f"{v:.2f}" for v in x) for y, x in zip(labels, series)).encode()


class Sampler:
    """Samples the API's resident memory and times the honest tenant's status polls, per attack window."""

    def __init__(self, server: LiveServer, honest: httpx.Client, job_id: str):
        self.server, self.honest, self.job_id = server, honest, job_id
        self.stop = threading.Event()
        self.rss: list[int] = []
        self.polls: list[tuple[float, int]] = []

    def start(self) -> Sampler:
        threading.Thread(target=self._memory, daemon=True).start()
        threading.Thread(target=self._poll, daemon=True).start()
        return self

    def window(self) -> tuple[int, int]:
        return len(self.rss), len(self.polls)

    def _memory(self) -> None:
        while not self.stop.is_set():
            pid = self.server.child_pid("api")
            self.rss.append(memory_kb(pid) if pid else 0)
            time.sleep(0.02)

    def _poll(self) -> None:
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                status = self.honest.get(f"/v1/jobs/{self.job_id}").status_code
            except httpx.HTTPError:
                status = 0
            self.polls.append((time.perf_counter() - started, status))
            time.sleep(0.05)


def send(client: httpx.Client, method: str, path: str, **kw) -> int:
    """The status of one request; 0 when the server closed the connection before answering."""
    try:
        return client.request(method, path, **kw).status_code
    except httpx.HTTPError:
        return 0


def streamed(total: int, chunk: bytes = b" " * (1 << 20)):
    yield b"{"
    for _ in range(total // len(chunk)):
        yield chunk


def attack_set(
    args: argparse.Namespace, url: str, token: str, dataset_id: str, large_id: str
) -> list[tuple[str, Callable[[], list[int]]]]:
    auth = {"Authorization": f"Bearer {token}"}
    attacker = httpx.Client(base_url=url, headers=auth, timeout=600)
    anonymous = httpx.Client(base_url=url, timeout=600)

    def upload(name: str, payload: Callable[[], bytes]) -> Callable[[], list[int]]:
        body = payload()
        return lambda: [send(attacker, "POST", "/v1/datasets", files={"file": (name, body)})]

    def flood(n: int, call: Callable[[int], int], workers: int = 16) -> list[int]:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(call, range(n)))

    job = {
        "dataset_id": dataset_id,
        "model": SOURCE,
        "epochs": 1000,
        "lr_multiplier": "grid",
        "baseline": True,
        "budget_s": 3600,
    }
    gz_mb, npz_mb = args.gzip_bomb_gb * 1024, args.npz_bomb_gb * 1024
    return [
        (
            f"gzip bomb, concatenated members (→ {args.gzip_bomb_gb:g} GB)",
            upload("bomb.tsv.gz", lambda: attacks.gzip_bomb(int(gz_mb * 2**20))),
        ),
        (
            f"npz of zeros (→ {args.npz_bomb_gb:g} GB)",
            upload("zeros.npz", lambda: attacks.npz_zero_bomb(int(npz_mb * 2**20))),
        ),
        ("npz with a forged 8 TB header", upload("forged.npz", attacks.npz_forged_shape)),
        (
            f"{args.series:,} one-value series (.tsv.gz)",
            upload("many.tsv.gz", lambda: attacks.many_series_gz(args.series)),
        ),
        (
            "ragged .ts (10⁵ short series, one of 10⁵ values)",
            upload("ragged.ts", lambda: attacks.ragged_ts(10**5, 10**5)),
        ),
        ("truncated .npz", upload("cut.npz", attacks.truncated_npz)),
        (
            "1 GB JSON to /v1/jobs without a token",
            lambda: [
                send(
                    anonymous,
                    "POST",
                    "/v1/jobs",
                    content=streamed(1 << 30),
                    headers={"Content-Type": "application/json"},
                )
            ],
        ),
        (
            "100 MB JSON to /v1/jobs with a token",
            lambda: [
                send(
                    attacker,
                    "POST",
                    "/v1/jobs",
                    content=streamed(100 << 20),
                    headers={"Content-Type": "application/json"},
                )
            ],
        ),
        ("flood of 300 long jobs", lambda: flood(300, lambda i: send(attacker, "POST", "/v1/jobs", json=job))),
        (
            "64 concurrent uploads",
            lambda: flood(
                64,
                lambda i: send(
                    attacker, "POST", "/v1/datasets", files={"file": (f"f{i}.csv", csv_dataset(200, 64, seed=100 + i))}
                ),
            ),
        ),
        (
            "recommend on 100,000 series, 16 at once",
            lambda: flood(16, lambda i: send(attacker, "POST", "/v1/recommend", json={"dataset_id": large_id, "k": 3})),
        ),
        (
            "2000 status polls of other tenants' ids",
            lambda: flood(2000, lambda i: send(attacker, "GET", f"/v1/jobs/{i:032x}"), workers=32),
        ),
    ]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def run(args: argparse.Namespace) -> dict:
    home = Path(tempfile.mkdtemp(prefix="tshub_attack_"))
    live = LiveServer(service_env(home, [SOURCE], TSHUB_WORKERS=1, TSHUB_LOG_LEVEL="ERROR"), home / "serve.log")
    live.launch()
    make_source_checkpoint(home, tshub.datasets.load("Coffee"), SOURCE)
    live.wait_ready(120)
    rows: list[dict] = []
    try:
        honest = httpx.Client(
            base_url=live.url, timeout=60, headers={"Authorization": f"Bearer {create_token(live.env, 'honest')}"}
        )
        attacker_token = create_token(live.env, "attacker")
        honest_data = honest.post("/v1/datasets", files={"file": ("honest.csv", csv_dataset(600, 128, 0))}).json()
        job_id = honest.post(
            "/v1/jobs",
            json={
                "dataset_id": honest_data["id"],
                "model": SOURCE,
                "epochs": 1000,
                "lr_multiplier": "grid",
                "baseline": True,
            },
        ).json()["id"]
        wait_for_job(honest, job_id, until=("running",), timeout=120)
        with httpx.Client(
            base_url=live.url, timeout=600, headers={"Authorization": f"Bearer {attacker_token}"}
        ) as attacker:
            small = attacker.post("/v1/datasets", files={"file": ("a.csv", csv_dataset(60, 32, 1))}).json()["id"]
            large = attacker.post("/v1/datasets", files={"file": ("large.csv", csv_dataset(100_000, 16, 2))}).json()
        sampler = Sampler(live, honest, job_id).start()
        baseline_start = sampler.window()
        time.sleep(5)
        quiet = [t for t, _ in sampler.polls[baseline_start[1] :]]
        for name, attack in attack_set(args, live.url, attacker_token, small, large["id"]):
            api, worker = live.child_pid("api"), live.child_pid("worker")
            mem0, poll0 = sampler.window()
            started = time.monotonic()
            statuses = attack()
            elapsed = time.monotonic() - started
            time.sleep(0.5)
            mem1, poll1 = sampler.window()
            polls = sampler.polls[poll0:poll1]
            rows.append(
                {
                    "attack": name,
                    "answers": dict(Counter(statuses)),
                    "5xx": sum(s >= 500 for s in statuses),
                    "crashed": live.process.poll() is not None
                    or live.child_pid("api") != api
                    or live.child_pid("worker") != worker,
                    "api_peak_rss_mb": max(sampler.rss[mem0:mem1] or [0]) / 1024,
                    "seconds": elapsed,
                    "honest_p50_ms": percentile([t for t, _ in polls], 50),
                    "honest_p99_ms": percentile([t for t, _ in polls], 99),
                    "honest_errors": sum(s != 200 for _, s in polls),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
        sampler.stop.set()
        job = honest.get(f"/v1/jobs/{job_id}").json()
        all_polls = [t for t, _ in sampler.polls]
        return {
            "rows": rows,
            "quiet_p99_ms": percentile(quiet, 99),
            "all_p99_ms": percentile(all_polls, 99),
            "polls": len(all_polls),
            "honest_job": {"state": job["state"], "progress": job["progress"]},
            "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
        }
    finally:
        live.stop()


def markdown(result: dict, command: str) -> str:
    lines = [
        "# The fine-tune service under attack",
        "",
        f"`{command}` — one run on {result['machine']} (shared with a training build), `tshub serve` with its "
        "default limits and one job slot. The honest tenant's fine-tune (ω grid + baseline) was training when "
        f"the attacks began (it ended {result['honest_job']['state']}); from the job flood on, the attacker's "
        "queued jobs held the slot.",
        "",
        "| attack | answers | 5xx | crashed | API peak RSS (MB) | s | honest poll p50 / p99 (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        answers = ", ".join(f"{k}×{v}" if v > 1 else str(k) for k, v in sorted(r["answers"].items()))
        lines.append(
            f"| {r['attack']} | {answers} | {r['5xx']} | {'yes' if r['crashed'] else 'no'} | "
            f"{r['api_peak_rss_mb']:.0f} | {r['seconds']:.1f} | {r['honest_p50_ms']:.0f} / "
            f"{r['honest_p99_ms']:.0f} |"
        )
    lines += [
        "",
        f"Crashes: {sum(r['crashed'] for r in result['rows'])}; 5xx: {sum(r['5xx'] for r in result['rows'])}; "
        f"honest status polls: {result['polls']}, p99 {result['all_p99_ms']:.0f} ms over the whole run "
        f"({result['quiet_p99_ms']:.0f} ms before the attacks, while the job trained). Answer 0 (if any) "
        "means the server closed the connection without answering.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gzip-bomb-gb", type=float, default=5.0)
    parser.add_argument("--npz-bomb-gb", type=float, default=2.0)
    parser.add_argument("--series", type=int, default=10**7, help="one-value series in the many-series upload")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result, indent=1))
    if args.markdown:
        args.markdown.write_text(markdown(result, "python bench/service_attack.py " + " ".join(sys.argv[1:])))


if __name__ == "__main__":
    main()
