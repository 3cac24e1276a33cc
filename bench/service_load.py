"""Load on the fine-tune service while a job trains: concurrent uploads and status polls against `tshub serve`.

Starts a real server (uvicorn + worker) on a temporary home with a small source checkpoint, uploads GunPoint,
queues ``--jobs`` long fine-tunes (ω grid), then for ``--duration`` seconds runs ``--pollers`` clients polling
GET /v1/jobs/{id} and ``--uploaders`` clients uploading generated CSV files (each distinct, so every one is
parsed). Reports p50/p99/max latency, throughput and errors per request kind, the fraction of the run during
which a job was training, and the progress of the job training at the end.

    .venv/bin/python bench/service_load.py --duration 20 --pollers 16 --uploaders 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tshub  # noqa: E402
from server.testing import LiveServer, create_token, make_source_checkpoint, service_env, wait_for_job  # noqa: E402

SOURCE = "Coffee/fcn"


def csv_upload(seed: int, rows: int, length: int) -> bytes:
    """A distinct labelled CSV (label, then the series) of about rows × length × 7 bytes."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, rows)
    series = rng.normal(size=(rows, length)) + labels[:, None]
    return "\n".join(f"{y}," + ",".join(f"{v:.3f}" for v in x) for y, x in zip(labels, series)).encode()


async def poller(client: httpx.AsyncClient, job_ids: list[str], stop: float, out: list) -> None:
    i = 0
    while time.monotonic() < stop:
        t0 = time.perf_counter()
        try:
            ok = (await client.get(f"/v1/jobs/{job_ids[i % len(job_ids)]}")).status_code == 200
        except httpx.HTTPError:
            ok = False
        out.append((time.perf_counter() - t0, ok))
        i += 1


async def training_watch(client: httpx.AsyncClient, stop: float, out: list) -> None:
    """Every 0.5 s: is a job training? (GET /v1/jobs; not counted in the latencies)."""
    while time.monotonic() < stop:
        try:
            out.append(any(j["state"] == "running" for j in (await client.get("/v1/jobs")).json()["items"]))
        except httpx.HTTPError:
            out.append(False)
        await asyncio.sleep(0.5)


async def uploader(client: httpx.AsyncClient, worker: int, stop: float, out: list, rows: int, length: int) -> None:
    i = 0
    while time.monotonic() < stop:
        body = csv_upload(worker * 100_000 + i, rows, length)
        i += 1
        t0 = time.perf_counter()
        try:
            ok = (await client.post("/v1/datasets", files={"file": (f"load{worker}_{i}.csv", body)})).status_code == 201
        except httpx.HTTPError:
            ok = False
        out.append((time.perf_counter() - t0, ok))


def stats(samples: list[tuple[float, bool]], duration: float) -> dict:
    latencies = np.array([s for s, _ in samples]) * 1000
    errors = sum(1 for _, ok in samples if not ok)
    if not len(latencies):
        return {"requests": 0, "errors": 0}
    return {
        "requests": len(samples),
        "errors": errors,
        "per_s": round(len(samples) / duration, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p99_ms": round(float(np.percentile(latencies, 99)), 1),
        "max_ms": round(float(latencies.max()), 1),
    }


async def load(url: str, token: str, job_ids: list[str], args: argparse.Namespace) -> dict:
    polls: list = []
    uploads: list = []
    training: list[bool] = []
    limits = httpx.Limits(max_connections=args.pollers + args.uploaders + 2)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60, limits=limits
    ) as client:
        start = time.monotonic()
        stop = start + args.duration
        await asyncio.gather(
            training_watch(client, stop, training),
            *[poller(client, job_ids, stop, polls) for _ in range(args.pollers)],
            *[uploader(client, w, stop, uploads, args.rows, args.length) for w in range(args.uploaders)],
        )
        elapsed = time.monotonic() - start
        running = [j for j in [(await client.get(f"/v1/jobs/{i}")).json() for i in job_ids] if j["state"] == "running"]
    return {
        "polls": stats(polls, elapsed),
        "uploads": stats(uploads, elapsed),
        "elapsed_s": round(elapsed, 1),
        "training_fraction": round(sum(training) / max(1, len(training)), 3),
        "training_at_end": running[0]["progress"] if running else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--pollers", type=int, default=16, help="concurrent status pollers")
    parser.add_argument("--uploaders", type=int, default=4, help="concurrent uploaders")
    parser.add_argument("--jobs", type=int, default=4, help="fine-tune jobs queued before the load starts")
    parser.add_argument("--rows", type=int, default=100, help="series per uploaded CSV")
    parser.add_argument("--length", type=int, default=100, help="samples per uploaded series")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "data",
        help="the shared data folder (UCRArchive_2018 inside)",
    )
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        make_source_checkpoint(home, tshub.datasets.load("Coffee", root=args.data), SOURCE)
        env = service_env(home, [SOURCE], TSHUB_HEARTBEAT_S=2, TSHUB_STALE_AFTER_S=30)
        live = LiveServer(env, home / "serve.log").start()
        try:
            token = create_token(live.env, "bench")
            with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
                folder = args.data / "UCRArchive_2018" / "GunPoint"
                dataset = c.post(
                    "/v1/datasets",
                    files={
                        "file": ("GunPoint_TRAIN.tsv.gz", (folder / "GunPoint_TRAIN.tsv.gz").read_bytes()),
                        "test_file": ("GunPoint_TEST.tsv.gz", (folder / "GunPoint_TEST.tsv.gz").read_bytes()),
                    },
                ).json()
                job_ids = [
                    c.post(
                        "/v1/jobs",
                        json={
                            "dataset_id": dataset["id"],
                            "model": SOURCE,
                            "epochs": 1000,
                            "lr_multiplier": "grid",
                            "seed": seed,
                        },
                    ).json()["id"]
                    for seed in range(args.jobs)
                ]  # a queue, so the worker trains for the whole run
                wait_for_job(c, job_ids[0], until=("running",))
                report = asyncio.run(load(live.url, token, job_ids, args))
                for job_id in job_ids:
                    c.post(f"/v1/jobs/{job_id}/cancel")
        finally:
            live.stop()
    report["setup"] = {
        "pollers": args.pollers,
        "uploaders": args.uploaders,
        "upload_kb": round(len(csv_upload(0, args.rows, args.length)) / 1024, 1),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "engine": "local",
        "db": "sqlite (WAL)",
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
