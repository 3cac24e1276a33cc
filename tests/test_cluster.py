"""tshub on several machines, simulated on one: every component a separate process, started with the commands of
the README's "Several machines" section (and deploy/compose.yaml): PostgreSQL, an S3-compatible server (moto), a
Ray head and a second Ray node (``ray start --head`` / ``ray start --address``), one API (``tshub serve --role
api``) and two workers (``tshub serve --role worker``, TSHUB_ENGINE=ray).

Two tenants upload and queue jobs; a Ray node and then a worker are killed mid-job; every job still succeeds
exactly once, on the nodes left. The experiment grid runs on the same cluster with results identical to the
local engine. Skipped, with the reason, only where a component cannot start here.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("ray", reason="the cluster needs Ray: pip install 'tshub[cluster]'")

import tshub  # noqa: E402
from server.db import Job, open_store  # noqa: E402
from server.local_cluster import RayNode, Unavailable  # noqa: E402
from server.testing import SERVE, LiveServer, create_token, make_source_checkpoint, service_env  # noqa: E402

pytestmark = pytest.mark.slow
SOURCE = "Coffee/fcn"
# No early stop, and a wall-clock budget rather than an epoch count decides when a job ends: every job trains for
# about BUDGET_S on any machine, so a job of each tenant is seen training at once even where 150 epochs of GunPoint
# take 3 s (the CI machine: a job count of epochs let both jobs of a worker finish before the two overlapped).
JOB_BUDGET_S = 25.0
JOB = {"model": SOURCE, "lr_multiplier": 1.0, "recipe": "bigdata18", "epochs": 1000, "budget_s": JOB_BUDGET_S}
TIMEOUT_S = 420.0


class Cluster:
    def __init__(
        self, env: dict[str, str], home: Path, head: RayNode, node: RayNode, api: LiveServer, db_url: str, storage: str
    ):
        self.env, self.home, self.head, self.node, self.api = env, home, head, node, api
        self.db_url, self.storage = db_url, storage
        self.workers: list[subprocess.Popen] = []

    def start_worker(self) -> subprocess.Popen:
        log = open(self.home / f"worker{len(self.workers)}.log", "ab")
        worker = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--role", "worker", "--log-level", "info"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.home.glob("*.log"))
        )


@pytest.fixture(scope="module")
def cluster(postgres, s3, tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("cluster")
    storage = f"s3://{s3.bucket()}/tshub"
    db_url = postgres.database()
    try:
        head = RayNode(log=home / "ray-head.log").start()
    except Unavailable as err:
        pytest.skip(f"the Ray head cannot start here: {err}")
    node = None
    try:
        env = service_env(
            home,
            [SOURCE],
            TSHUB_SERVER_DB=db_url,
            TSHUB_SERVER_STORAGE=storage,
            TSHUB_ENGINE="ray",
            TSHUB_RAY_ADDRESS=head.address,
            TSHUB_DATA=str(shared_data),
            TSHUB_HEARTBEAT_S=1,
            TSHUB_STALE_AFTER_S=10,
            TSHUB_TENANT_RUNNING=1,
            **s3.env,
            **head.driver_env,
        )
        try:
            node = RayNode(head, env=env, log=home / "ray-node.log").start()
        except Unavailable as err:
            pytest.skip(f"the second Ray node cannot start here: {err}")
        make_source_checkpoint(home, tshub.datasets.load("Coffee", root=shared_data), SOURCE)
        api = LiveServer(env, home / "api.log", role="api").start(timeout=120)
        cluster = Cluster(env, home, head, node, api, db_url, storage)
        try:
            yield cluster
        finally:
            for worker in cluster.workers:
                if worker.poll() is None:
                    worker.terminate()
            for worker in cluster.workers:
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    worker.kill()
            api.stop()
    finally:
        if node is not None:
            node.kill()
        head.kill()


SLOW_MAILBOX = """
import sys, time
import ray
from server import engines

class SlowMailbox(engines.Mailbox):
    def take(self):
        time.sleep(5.0)
        return super().take()

ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")
mailbox = ray.remote(num_cpus=0)(SlowMailbox).remote()
ray.get(mailbox.put.remote({"epoch": 1}))
task = ray.remote(num_cpus=0)(lambda: ({"state": "succeeded"}, None)).remote()
handle = engines.RayHandle(ray, task, mailbox, None)
start = time.monotonic()
first = handle.poll()
print("first poll", first, round(time.monotonic() - start, 2), flush=True)
events, deadline = [], time.monotonic() + 60
while handle.outcome is None and time.monotonic() < deadline:
    events += handle.poll()
    time.sleep(0.2)
print("events", events, handle.outcome and handle.outcome.state, flush=True)
"""


def driver_output(script: str, cluster: Cluster) -> list[str]:
    """The lines a Ray driver script (given the head's address) printed; it must exit cleanly."""
    done = subprocess.run(
        [sys.executable, "-c", script, cluster.head.address],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


def test_a_node_s_own_ports_never_fall_in_its_cluster_s_worker_port_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the agents' ports came from the OS's ephemeral range, which overlaps the worker-port ranges the
    nodes reserve (a head at 38000, its second node at 38300 with workers 38301-38500): a runtime-env agent drew
    38435, ``ray start`` refused ("worker_ports is trying to use a port number 38435"), and the cluster tests
    skipped."""
    from server import local_cluster

    drawn = iter([38000, 38150, 38435, 38999, 38300, *range(45000, 45100)])  # the window first, as the OS may

    class FakeSocket:
        def __enter__(self) -> FakeSocket:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def bind(self, address: tuple[str, int]) -> None:
            pass

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", next(drawn))

    monkeypatch.setattr(local_cluster.socket, "socket", FakeSocket)
    command = local_cluster.ray_start_command("10.0.0.1:38000", 38300, 1, "/tmp/ray")
    agent_ports = [int(arg.split("=")[1]) for arg in command if "-port=" in arg and "worker-port" not in arg]
    assert agent_ports and all(p not in range(38000, 39000) for p in agent_ports), command


def test_a_slow_progress_actor_never_stalls_the_worker_loop(cluster: Cluster) -> None:
    """Regression: a poll waited up to 30 s for the progress actor, and the worker loop (every job's heartbeat)
    with it; on a busy cluster another worker then took the live job as its worker's death and requeued it."""
    first, events = driver_output(SLOW_MAILBOX, cluster)[-2:]
    assert first.startswith("first poll []") and float(first.split()[-1]) < 1.0, first
    assert events == "events [{'epoch': 1}] succeeded"


def test_the_experiment_grid_runs_on_the_cluster_resumably_with_the_local_engine_results(
    cluster: Cluster, tmp_path: Path
) -> None:
    folder = cluster.home / "models" / "Coffee" / "fcn"
    grid = [
        "-m",
        "tshub.experiments",
        "--sources",
        str(folder),
        "--targets",
        "GunPoint",
        "--lr-multipliers",
        "1",
        "0.5",
        "--seeds",
        "0",
        "--reduce-train",
        "10",
        "--max-epochs",
        "2",
        "--quiet",
    ]
    env = {**cluster.env, "OMP_NUM_THREADS": "1"}

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *grid, *extra], env=env, capture_output=True, text=True, timeout=TIMEOUT_S
        )

    local = run("--out", str(tmp_path / "local"))
    remote = run("--engine", "ray", "--address", cluster.head.address, "--out", str(tmp_path / "ray"))
    assert local.returncode == 0, local.stderr[-3000:]
    assert remote.returncode == 0, remote.stderr[-3000:] + cluster.logs()
    assert remote.stdout == local.stdout  # the same comparison table
    records = {
        engine: {p.name: json.loads(p.read_text()) for p in (tmp_path / engine / "runs").glob("*.json")}
        for engine in ("local", "ray")
    }
    assert len(records["ray"]) == 3 and records["ray"].keys() == records["local"].keys()
    for name, record in records["ray"].items():
        assert record["metrics"] == records["local"][name]["metrics"]
        assert _untimed(record["fit"]["history"]) == _untimed(records["local"][name]["fit"]["history"])
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "ray" / "runs").glob("*.json")}
    again = run("--engine", "ray", "--address", cluster.head.address, "--out", str(tmp_path / "ray"))
    assert again.returncode == 0 and again.stdout == remote.stdout
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # resumed: nothing ran again


def _untimed(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in epoch.items() if k != "time_s"} for epoch in history]


def _wait(what: str, condition: Any, cluster: Cluster, timeout: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}\n{cluster.logs()}")


def _jobs(Session: Any) -> dict[str, Job]:
    with Session() as session:
        return {job.id: job for job in session.query(Job)}


def _training(Session: Any, min_epoch: int = 2) -> list[Job]:
    """Running jobs that reported at least ``min_epoch`` epochs of this attempt."""
    return [
        j
        for j in _jobs(Session).values()
        if j.state == "running" and (j.progress or {}).get("epoch") is not None and j.progress["epoch"] >= min_epoch
    ]


def test_two_tenants_jobs_survive_a_dead_ray_node_and_a_dead_worker(cluster: Cluster, ucr_root: Path) -> None:
    for _ in range(2):
        cluster.start_worker()
    tokens = [create_token(cluster.env, name) for name in ("alice", "bob")]
    clients = [
        httpx.Client(base_url=cluster.api.url, headers={"Authorization": f"Bearer {t}"}, timeout=60) for t in tokens
    ]
    train = (ucr_root / "GunPoint" / "GunPoint_TRAIN.tsv.gz").read_bytes()
    datasets = [
        c.post("/v1/datasets", files={"file": ("GunPoint_TRAIN.tsv.gz", train)}).raise_for_status().json()["id"]
        for c in clients
    ]
    jobs = {}
    for i in range(4):
        client = clients[i % 2]
        job = client.post("/v1/jobs", json={**JOB, "dataset_id": datasets[i % 2], "seed": i}).raise_for_status().json()
        jobs[job["id"]] = client
    Session = open_store(cluster.db_url)

    # both tenants train at once, one job on each Ray node (1 CPU each): kill the second node mid-job
    both = _wait("a job of each tenant training", lambda: len(_training(Session)) == 2 and _training(Session), cluster)
    cluster.node.kill()
    lost = _wait(  # requeued saying why, or claimed again already (a second attempt's claim clears the reason)
        "the job of the dead node requeued (and maybe claimed again already)",
        lambda: [j for j in _jobs(Session).values() if "attempt 1 was lost" in (j.reason or "") or j.attempts == 2],
        cluster,
        timeout=120,
    )
    assert len(lost) == 1 and lost[0].id in {j.id for j in both}

    # a worker dies (SIGKILL) while its job trains on the head: its job is requeued and finishes on the other
    def training_on_a_worker() -> tuple[Job, subprocess.Popen] | None:
        for job in _training(Session):
            pid = int(job.worker.split(":")[1])
            for worker in cluster.workers:
                if worker.pid == pid and job.attempts == 1:
                    return job, worker
        return None

    victim_job, victim = _wait("a first attempt training on a worker", training_on_a_worker, cluster)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()

    finished = {}
    for job_id, client in jobs.items():
        finished[job_id] = _wait(
            f"job {job_id} to finish",
            lambda client=client, job_id=job_id: (
                (j := client.get(f"/v1/jobs/{job_id}").raise_for_status().json())["state"]
                in ("succeeded", "failed", "cancelled")
                and j
            ),
            cluster,
        )
    assert {j["state"] for j in finished.values()} == {"succeeded"}, [j["reason"] for j in finished.values()]
    rows = _jobs(Session)
    assert rows[lost[0].id].attempts == 2 and rows[victim_job.id].attempts == 2
    assert {job_id: row.attempts for job_id, row in rows.items() if job_id not in (lost[0].id, victim_job.id)} == {
        job_id: 1 for job_id in rows if job_id not in (lost[0].id, victim_job.id)
    }
    # nothing lost, nothing doubled: one model per job in the shared storage, each a loadable checkpoint
    import boto3

    bucket = cluster.storage.split("/")[2]
    s3 = boto3.client(
        "s3",
        endpoint_url=cluster.env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=cluster.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=cluster.env["AWS_SECRET_ACCESS_KEY"],
    )
    models = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="tshub/models/").get("Contents", []))
    assert models == sorted(f"tshub/{row.model_path}" for row in rows.values())
    for job_id, client in jobs.items():
        archive = zipfile.ZipFile(io.BytesIO(client.get(f"/v1/jobs/{job_id}/model").raise_for_status().content))
        assert {"config.json", "model.safetensors"} <= set(archive.namelist())
    # tenants stay apart: each sees only its own jobs and datasets
    alice, bob = clients
    bob_job = next(job_id for job_id, client in jobs.items() if client is bob)
    assert alice.get(f"/v1/jobs/{bob_job}").status_code == 404
    assert alice.get(f"/v1/datasets/{datasets[1]}").status_code == 404
    Session.kw["bind"].dispose()


JOINED_RAY = """
import sys
import ray
from server import engines

ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")
engine = engines.RayEngine(sys.argv[1])
engine.close()
print("still connected" if ray.is_initialized() else "shut down", flush=True)
"""


def test_closing_the_ray_engine_leaves_a_ray_it_joined_connected(cluster: Cluster) -> None:
    """Regression: ``RayEngine.close`` shut Ray down even when the process had connected before the engine did,
    cutting the caller's own tasks off; it shuts down only what it started (as the experiment grid's engine)."""
    assert driver_output(JOINED_RAY, cluster)[-1] == "still connected"
