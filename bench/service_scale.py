"""How the fine-tune service scales on one machine: claim throughput of the job store, and jobs per hour and
status-poll latency with 1 and 2 workers, on SQLite and on PostgreSQL.

1. ``claims``: ``--claimers`` threads race to claim ``--claim-jobs`` queued jobs of ``--owners`` tenants (no
   training), on SQLite (conditional UPDATE) and PostgreSQL (both the conditional UPDATE and the owner try-lock
   + ``FOR UPDATE SKIP LOCKED`` claim the store uses there): claims per second, and how many claim attempts
   came back empty while jobs were waiting (wasted polls).
2. ``service``: a real `tshub serve --role api` and 1 or 2 `tshub serve --role worker` processes (separate
   processes sharing the database and the storage folder, as on several machines), ``--jobs`` short fine-tunes
   of a small FCN on GunPoint from two tenants; jobs per hour (first submit to last finish) and the latency of
   GET /v1/jobs/{id} polled by ``--pollers`` clients meanwhile.

    .venv/bin/python bench/service_scale.py                  # writes bench/results/service_scale.md
    .venv/bin/python bench/service_scale.py --parts claims   # the job-store part only (seconds)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tshub  # noqa: E402
from server.auth import create_token as new_token  # noqa: E402
from server.db import DatasetRecord, Job, open_store  # noqa: E402
from server.jobstore import JobStore  # noqa: E402
from server.local_cluster import PostgresServer  # noqa: E402
from server.testing import SERVE, LiveServer, make_source_checkpoint, service_env, wait_for_job  # noqa: E402

SOURCE = "Coffee/fcn"
RESULTS = Path(__file__).resolve().parent / "results" / "service_scale.md"


# ------------------------------------------------------------------------------------------------ claims
def claim_rate(url: str, strategy: str, claimers: int, jobs: int, owners: int) -> dict[str, float]:
    Session = open_store(url)
    store = JobStore(Session)
    tenants = []
    for i in range(owners):
        owner, _ = new_token(Session, f"tenant{i}")
        with Session.begin() as session:
            dataset = DatasetRecord(owner_id=owner.id, filename="d.csv", raw_sha256="0" * 64, path="d.npz", summary={})
            session.add(dataset)
        tenants.append((owner.id, dataset.id))
    for i in range(jobs):
        store.create(*tenants[i % owners], {"model": SOURCE})
    claim = {"conditional": store._claim_conditional, "locked": store._claim_locked}[strategy]
    empty = [0]
    start = threading.Barrier(claimers + 1)

    def work(worker: str) -> None:
        start.wait()
        while True:
            owners_now = store._owners_in_turn(None)
            if not owners_now:
                return
            if claim(owners_now[0], worker, None) is None and claim(owners_now[-1], worker, None) is None:
                empty[0] += 1

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(claimers)]
    [t.start() for t in threads]
    start.wait()
    t0 = time.perf_counter()
    [t.join() for t in threads]
    elapsed = time.perf_counter() - t0
    with Session() as session:
        running = session.query(Job).filter_by(state="running").count()
    Session.kw["bind"].dispose()
    assert running == jobs, f"{running} of {jobs} jobs claimed"
    return {"claims_per_s": jobs / elapsed, "empty": empty[0]}


def claims_part(args: argparse.Namespace, pg: PostgresServer, tmp: Path) -> list[str]:
    lines = [
        f"## Claims: {args.claimers} threads racing for {args.claim_jobs} queued jobs of {args.owners} tenants",
        "",
        "| database | claim | claims/s | empty attempts |",
        "|---|---|---:|---:|",
    ]
    cases = [
        ("SQLite", "conditional", lambda: f"sqlite:///{tmp / f'claims{time.monotonic_ns()}.db'}"),
        ("PostgreSQL", "conditional", pg.database),
        ("PostgreSQL", "locked", pg.database),
    ]
    for name, strategy, url in cases:
        rates = [claim_rate(url(), strategy, args.claimers, args.claim_jobs, args.owners) for _ in range(args.repeats)]
        best = max(rates, key=lambda r: r["claims_per_s"])
        lines.append(f"| {name} | {strategy} | {best['claims_per_s']:.0f} | {best['empty']} |")
        print(lines[-1], flush=True)
    return lines


# ------------------------------------------------------------------------------------------------ service
def service_run(db_url: str, workers: int, args: argparse.Namespace, tmp: Path, gunpoint: Path) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(dir=tmp))
    env = service_env(
        home, [SOURCE], TSHUB_SERVER_DB=db_url, TSHUB_TENANT_RUNNING=workers, TSHUB_TENANT_QUEUED=args.jobs
    )
    make_source_checkpoint(home, tshub.datasets.load("Coffee"), SOURCE)
    api = LiveServer(env, home / "api.log", role="api").start()
    logs = [open(home / f"worker{i}.log", "ab") for i in range(workers)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--role", "worker", "--log-level", "warning"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for log in logs
    ]
    try:
        tokens = [
            subprocess.run(
                [sys.executable, "-c", SERVE, "token", "create", "--name", f"t{i}"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            for i in range(2)
        ]
        clients = [httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {t}"}, timeout=60) for t in tokens]
        datasets = [
            c.post("/v1/datasets", files={"file": ("GunPoint_TRAIN.tsv.gz", gunpoint.read_bytes())})
            .raise_for_status()
            .json()["id"]
            for c in clients
        ]
        t0 = time.perf_counter()
        jobs = [
            (
                clients[i % 2],
                clients[i % 2]
                .post(
                    "/v1/jobs",
                    json={
                        "dataset_id": datasets[i % 2],
                        "model": SOURCE,
                        "lr_multiplier": 1.0,
                        "epochs": args.epochs,
                        "seed": i,
                    },
                )
                .raise_for_status()
                .json()["id"],
            )
            for i in range(args.jobs)
        ]
        latencies: list[float] = []
        stop = threading.Event()

        def poll(client: httpx.Client) -> None:
            mine, i = [job_id for owner, job_id in jobs if owner is client], 0
            while not stop.is_set():
                start = time.perf_counter()
                client.get(f"/v1/jobs/{mine[i % len(mine)]}").raise_for_status()
                latencies.append(time.perf_counter() - start)
                i += 1
                stop.wait(0.05)

        pollers = [threading.Thread(target=poll, args=(clients[i % 2],)) for i in range(args.pollers)]
        [p.start() for p in pollers]
        finished = [wait_for_job(client, job_id, timeout=args.timeout) for client, job_id in jobs]
        elapsed = time.perf_counter() - t0
        stop.set()
        [p.join() for p in pollers]
        assert all(j["state"] == "succeeded" for j in finished), [j["reason"] for j in finished]
        ms = [1000 * x for x in latencies]
        return {
            "jobs_per_hour": 3600 * len(jobs) / elapsed,
            "p50_ms": statistics.median(ms),
            "p95_ms": statistics.quantiles(ms, n=20)[-1],
            "polls": len(ms),
            "elapsed_s": elapsed,
        }
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        api.stop()
        [log.close() for log in logs]


def service_part(args: argparse.Namespace, pg: PostgresServer, tmp: Path) -> list[str]:
    gunpoint = tshub.datasets.data_root() / "UCRArchive_2018" / "GunPoint" / "GunPoint_TRAIN.tsv.gz"
    lines = [
        f"## Service: {args.jobs} fine-tunes ({args.epochs} epochs, small FCN, GunPoint) from 2 tenants, "
        f"{args.pollers} clients polling job status",
        "",
        "| database | workers | jobs/hour | poll p50 ms | poll p95 ms | polls |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, url in (
        ("SQLite", lambda: f"sqlite:///{Path(tempfile.mkdtemp(dir=tmp)) / 'tshub.db'}"),
        ("PostgreSQL", pg.database),
    ):
        for workers in (1, 2):
            r = service_run(url(), workers, args, tmp, gunpoint)
            lines.append(
                f"| {name} | {workers} | {r['jobs_per_hour']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} "
                f"| {r['polls']} |"
            )
            print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=("claims", "service"), default=["claims", "service"])
    parser.add_argument("--claimers", type=int, default=8)
    parser.add_argument("--claim-jobs", type=int, default=400)
    parser.add_argument("--owners", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--pollers", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    lines = [
        "# Service scale on one machine",
        "",
        f"`python bench/service_scale.py {' '.join(sys.argv[1:])}` on {platform.node()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp, PostgresServer() as pg:
        if "claims" in args.parts:
            lines += claims_part(args, pg, Path(tmp)) + [""]
        if "service" in args.parts:
            lines += service_part(args, pg, Path(tmp)) + [""]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
