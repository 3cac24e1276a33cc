"""The service under attack: every probe of issue 12 against a real `tshub serve` (supervisor, API, worker) on
loopback, with small limits so each attack is bounded in time and size. Each answer must be a 4xx that says what
is wrong (never a 5xx), the API must stay up, and its memory must not follow the attacker's payload."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import tshub  # noqa: E402
from server import attacks  # noqa: E402
from server.auth import hash_token  # noqa: E402
from server.db import DatasetRecord, Job, open_store  # noqa: E402
from server.engines import hide_server_paths  # noqa: E402
from server.isolation import Budget, IsolatedFailure, Isolator  # noqa: E402
from server.storage import sweep, tenant_usage  # noqa: E402
from server.testing import (  # noqa: E402
    LiveServer,
    live_service,
    memory_kb,
    run_cli,
    run_cli_here,
    service_env,
    wait_for_job,
)

SOURCE = "Coffee/fcn"
LIMITS = dict(
    TSHUB_MAX_UPLOAD_MB=2,
    TSHUB_MAX_EXPANDED_MB=8,
    TSHUB_MAX_SERIES=20_000,
    TSHUB_MAX_VALUES=2_000_000,
    TSHUB_PARSE_MEMORY_MB=1024,
    TSHUB_PARSE_TIMEOUT_S=60,
    TSHUB_MAX_JSON_KB=16,
    TSHUB_TENANT_QUEUED=3,
    TSHUB_TENANT_RUNNING=1,
    TSHUB_TENANT_STORAGE_MB=4,
    TSHUB_MAX_JOB_S=20,  # alice's first job must still run while bob's starts on a loaded machine
    TSHUB_WORKERS=2,
    TSHUB_RECOMMEND_MAX_SERIES=50,
    TSHUB_TENANT_CONCURRENCY=4,
)
API_GROWTH_KB = 150_000  # what the API process may grow by across all attacks (payloads expand to ~10⁸ bytes)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("attack_home")


@pytest.fixture(scope="module")
def server(home: Path, ucr_root: Path, tmp_path_factory: pytest.TempPathFactory):
    with live_service(
        service_env(home, [SOURCE], **LIMITS),
        tmp_path_factory.mktemp("logs") / "serve.log",
        home,
        tshub.datasets.load("Coffee", root=ucr_root.parent),
        SOURCE,
    ) as live:
        yield live


def client_for(server: LiveServer, name: str, *options: str) -> httpx.Client:
    """A client of a new token ``name``, made with the CLI in this process (the operator tests run it as a process)."""
    created = run_cli_here(server.env, "token", "create", "--name", name, *options)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


@pytest.fixture(scope="module")
def alice(server: LiveServer):
    with client_for(server, "alice") as c:
        yield c


@pytest.fixture(scope="module")
def bob(server: LiveServer):
    with client_for(server, "bob") as c:
        yield c


def csv_dataset(rows: int = 60, length: int = 32, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    labels = np.arange(rows) % 2
    series = rng.normal(size=(rows, length)) + labels[:, None]
    return "\n".join(f"{y}," + ",".join(f"{v:.3f}" for v in x) for y, x in zip(labels, series)).encode()


def upload(client: httpx.Client, name: str, content: bytes) -> dict:
    response = client.post("/v1/datasets", files={"file": (name, content)})
    assert response.status_code == 201, response.text
    return response.json()


def assert_4xx(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert words in response.json()["detail"], response.text


# ------------------------------------------------------------------------------------------------ 1. bombs
BOMBS = [
    ("concatenated.tsv.gz", lambda: attacks.gzip_bomb(96 << 20, member_bytes=4 << 20), 422, "decompresses to more"),
    ("zeros.npz", lambda: attacks.npz_zero_bomb(256 << 20), 422, "expand to 256 MB, over the limit of 8 MB"),
    ("forged.npz", lambda: attacks.npz_forged_shape(), 422, "truncated or forged"),
    ("many.tsv.gz", lambda: attacks.many_series_gz(2_000_000), 422, "more than the 20,000 series"),
    ("ragged.ts", lambda: attacks.ragged_ts(10_000, 100_000), 422, "over the limit of 2,000,000"),
    ("cut.npz", attacks.truncated_npz, 422, "cut short"),
]


def test_compressed_bombs_fail_with_a_message_and_the_api_stays_small(server: LiveServer, alice) -> None:
    api = server.child_pid("api")
    before = memory_kb(api)
    for name, payload, status, words in BOMBS:
        body = payload()
        assert len(body) < 2 << 20, name  # under the upload limit: only the expansion is hostile
        assert_4xx(alice.post("/v1/datasets", files={"file": (name, body)}), status, words)
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert server.child_pid("api") == api  # never restarted: it did not die
    assert memory_kb(api, "VmHWM") - before < API_GROWTH_KB


def test_isolated_work_past_its_memory_or_time_is_a_clear_failure() -> None:
    isolator = Isolator(["numpy"], slots=1)
    with pytest.raises(IsolatedFailure) as memory:
        isolator.run("t", "parsing 'x.csv'", Budget(200 << 20, 30, "TSHUB_PARSE_MEMORY_MB"), np.ones, 10**9)
    assert memory.value.status == 413 and "needs more than 200 MB" in str(memory.value)
    with pytest.raises(IsolatedFailure) as slow:
        isolator.run("t", "parsing 'y.csv'", Budget(200 << 20, 1, "TSHUB_PARSE_TIMEOUT_S"), time.sleep, 30)
    assert slow.value.status == 422 and "took longer than 1 s (TSHUB_PARSE_TIMEOUT_S)" in str(slow.value)
    assert isolator.run("t", "adding", Budget(200 << 20, 30, "-"), sum, [1, 2]) == 3


def test_a_killed_api_or_worker_is_restarted(server: LiveServer) -> None:
    for role in ("api", "worker"):
        pid = server.child_pid(role)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 90
        while server.child_pid(role) in (None, pid):
            assert time.monotonic() < deadline, f"the {role} was not restarted:\n{server.log()}"
            time.sleep(0.3)
    server.wait_ready(90)


# ------------------------------------------------------------------------------------------------ 2. bodies
def test_bodies_are_not_read_before_authentication_and_json_is_capped(server: LiveServer, alice) -> None:
    api = server.child_pid("api")
    before = memory_kb(api)

    def stream(total: int, chunk: bytes = b" " * 65536):
        yield b"{"
        for _ in range(total // len(chunk)):
            yield chunk

    started = time.monotonic()
    response = httpx.post(
        f"{server.url}/v1/jobs", content=stream(200 << 20), timeout=60, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401 and time.monotonic() - started < 30
    assert_4xx(
        alice.post("/v1/jobs", content=b"{" + b" " * (64 << 10) + b"}", headers={"Content-Type": "application/json"}),
        413,
        "16 KB (TSHUB_MAX_JSON_KB)",
    )
    assert_4xx(
        alice.post("/v1/recommend", content=stream(8 << 20), headers={"Content-Type": "application/json"}),
        413,
        "TSHUB_MAX_JSON_KB",
    )
    assert memory_kb(api, "VmHWM") - before < API_GROWTH_KB


class HeldBody(httpx.SyncByteStream):
    """A request body sent in two parts: its first bytes (after the headers), then, once ``release`` is set, the
    rest; ``started`` is released when the first part is out."""

    def __init__(self, body: bytes, started: threading.Semaphore, release: threading.Event):
        self.body, self.started, self.release = body, started, release

    def __iter__(self) -> Iterator[bytes]:
        yield self.body[:1024]
        self.started.release()
        self.release.wait(60)
        yield self.body[1024:]


def flood_at_once(client: httpx.Client, requests: list[httpx.Request]) -> list[httpx.Response]:
    """One tenant's ``requests`` in flight at the server together, however busy the machine: each sends its headers
    and first bytes, then holds the rest of its body until a probe of the same token gets a 429, that is until the
    held requests fill the tenant's share (TSHUB_TENANT_CONCURRENCY) and the others, which reached the server
    before the probe, were checked against it. Sent as they were made, on a loaded machine the server had answered
    each request before the next arrived: none was beyond the share, and no 429 came."""
    started, release = threading.Semaphore(0), threading.Event()
    held = [
        httpx.Request(r.method, r.url, headers=r.headers, stream=HeldBody(r.read(), started, release)) for r in requests
    ]
    with ThreadPoolExecutor(len(held)) as pool:
        try:
            answers = [pool.submit(client.send, request) for request in held]
            for _ in held:
                assert started.acquire(timeout=60), "a request of the flood did not start"
            deadline = time.monotonic() + 60
            while client.get("/v1/datasets").status_code != 429:
                assert time.monotonic() < deadline, "the flood never filled the tenant's share"
                time.sleep(0.05)
        finally:
            release.set()
        return [answer.result() for answer in answers]


def test_a_tenant_flooding_with_concurrent_requests_gets_429_beyond_its_share(server: LiveServer) -> None:
    with client_for(server, "flooder") as flooder:
        bodies = [csv_dataset(rows=300, length=100, seed=20 + i) for i in range(8)]
        uploads = [flooder.build_request("POST", "/v1/datasets", files={"file": ("f.csv", b)}) for b in bodies]
        answers = flood_at_once(flooder, uploads)
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) == {201, 429} and statuses.count(201) >= 4, statuses
    assert "TSHUB_TENANT_CONCURRENCY" in next(r for r in answers if r.status_code == 429).json()["detail"]


def test_a_tenant_flooding_the_hub_with_concurrent_commits_gets_429_beyond_its_share(server: LiveServer) -> None:
    """Regression: TSHUB_TENANT_CONCURRENCY held for /v1 only, so one token's Hub commits (each body up to
    TSHUB_MAX_UPLOAD_MB, held in memory while parsed) had no bound on how many the API took at once."""

    def commit(n: int) -> httpx.Request:
        content = base64.b64encode(np.random.default_rng(n).bytes(1 << 20)).decode()
        lines = [{"key": "header", "value": {"summary": f"c{n}"}}]
        lines.append({"key": "file", "value": {"path": f"{n}.bin", "content": content, "encoding": "base64"}})
        body = "\n".join(json.dumps(line) for line in lines).encode()
        return flooder.build_request("POST", "/api/models/hub-flooder/flood/commit/main", content=body)

    with client_for(server, "hub-flooder") as flooder:
        assert flooder.post("/api/repos/create", json={"name": "flood"}).status_code == 200
        answers = flood_at_once(flooder, [commit(n) for n in range(12)])
    statuses = sorted(r.status_code for r in answers)
    assert 429 in statuses and set(statuses) <= {200, 413, 429}, statuses
    assert "TSHUB_TENANT_CONCURRENCY" in next(r for r in answers if r.status_code == 429).text


# ------------------------------------------------------------------------------------------------ 3. quotas
def test_fair_share_running_limit_and_wall_clock(server: LiveServer, alice, bob) -> None:
    """Two job slots, one running job per tenant: alice's next jobs wait while bob's starts at once; a fourth
    queued job is refused; the server stops alice's long job at TSHUB_MAX_JOB_S."""
    a = upload(alice, "a.csv", csv_dataset(rows=600, length=256, seed=1))["id"]
    b = upload(bob, "b.csv", csv_dataset(seed=2))["id"]
    long_job = {"dataset_id": a, "model": SOURCE, "epochs": 1000, "lr_multiplier": "grid", "baseline": True}
    first = alice.post("/v1/jobs", json=long_job).json()["id"]
    wait_for_job(alice, first, until=("running",), timeout=60)
    waiting = [alice.post("/v1/jobs", json=long_job).json()["id"] for _ in range(3)]
    assert_4xx(alice.post("/v1/jobs", json=long_job), 429, "TSHUB_TENANT_QUEUED = 3")
    assert_4xx(alice.post("/v1/jobs", json={**long_job, "budget_s": 3600}), 422, "TSHUB_MAX_JOB_S")
    theirs = bob.post("/v1/jobs", json={"dataset_id": b, "model": SOURCE, "epochs": 1}).json()["id"]
    wait_for_job(bob, theirs, until=("running", "succeeded"), timeout=30)
    assert [alice.get(f"/v1/jobs/{j}").json()["state"] for j in waiting] == ["queued"] * 3  # alice is at her limit
    assert wait_for_job(bob, theirs, timeout=90)["state"] == "succeeded"

    stopped = wait_for_job(alice, first, timeout=90)
    assert stopped["state"] == "failed" and "the server's limit per job (TSHUB_MAX_JOB_S)" in stopped["reason"]
    wait_for_job(alice, waiting[0], until=("running", "failed"), timeout=60)
    for job_id in waiting:
        alice.post(f"/v1/jobs/{job_id}/cancel")
    for job_id in waiting:
        assert wait_for_job(alice, job_id, timeout=60)["state"] == "cancelled"


def test_cursor_paging_with_a_state_filter_reaches_every_job(alice) -> None:
    dataset = upload(alice, "paging.csv", csv_dataset(seed=3))["id"]
    created = []
    for _ in range(7):  # long jobs: a 1-epoch job could succeed before its cancel arrives (it did under bf16)
        job = alice.post("/v1/jobs", json={"dataset_id": dataset, "model": SOURCE, "epochs": 1000}).json()
        created.append(job["id"])
        alice.post(f"/v1/jobs/{job['id']}/cancel")
    for job_id in created:
        wait_for_job(alice, job_id, timeout=60)
    seen, cursor = [], None
    while True:
        page = alice.get(
            "/v1/jobs", params={"state": "cancelled", "limit": 3, **({"cursor": cursor} if cursor else {})}
        ).json()
        assert len(page["items"]) <= 3 and all(j["state"] == "cancelled" for j in page["items"])
        seen += [j["id"] for j in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert set(created) <= set(seen) and len(seen) == len(set(seen))
    assert alice.get("/v1/jobs", params={"state": "queued"}).json()["items"] == []
    assert_4xx(alice.get("/v1/jobs", params={"cursor": "garbage"}), 422, "cursor")
    assert alice.get("/v1/jobs", params={"state": "lost"}).status_code == 422


def test_delete_removes_rows_and_files(server: LiveServer, alice) -> None:
    storage = Path(server.env["TSHUB_HOME"]) / "server" / "storage"
    dataset = upload(alice, "deleted.csv", csv_dataset(seed=4))["id"]
    parsed = set((storage / "datasets").rglob("*.npz"))
    job = alice.post("/v1/jobs", json={"dataset_id": dataset, "model": SOURCE, "epochs": 1}).json()["id"]
    assert wait_for_job(alice, job, timeout=90)["state"] == "succeeded"
    model = storage / "models" / f"{job}.zip"
    assert model.is_file()
    assert_4xx(alice.delete(f"/v1/datasets/{dataset}"), 409, "used by 1 job")
    assert alice.delete(f"/v1/jobs/{job}").status_code == 204
    assert not model.exists() and alice.get(f"/v1/jobs/{job}").status_code == 404
    assert alice.delete(f"/v1/datasets/{dataset}").status_code == 204
    assert alice.get(f"/v1/datasets/{dataset}").status_code == 404
    assert len(set((storage / "datasets").rglob("*.npz"))) == len(parsed) - 1


def test_storage_quota(server: LiveServer) -> None:
    """Datasets, job models and Hub files all count towards TSHUB_TENANT_STORAGE_MB (4 MB here): past it, uploads,
    new jobs and Hub commits are refused with 413, until something is deleted. (Failed before: only uploads were
    checked, and Hub files were not counted.)"""
    Session = open_store(f"sqlite:///{Path(server.env['TSHUB_HOME']) / 'server' / 'tshub.db'}")
    with client_for(server, "hoarder") as hoarder:
        small = upload(hoarder, "small.csv", csv_dataset(seed=12))["id"]
        upload(hoarder, "one.csv", csv_dataset(rows=1500, length=100, seed=5))  # ~1 MB raw + ~0.6 MB parsed
        upload(hoarder, "two.csv", csv_dataset(rows=1500, length=100, seed=6))
        assert_4xx(
            hoarder.post("/v1/datasets", files={"file": ("three.csv", csv_dataset(1500, 100, seed=7))}),
            413,
            "TSHUB_TENANT_STORAGE_MB",
        )
        with Session() as session:
            owner = session.get(DatasetRecord, small).owner_id
        room = 4 * 2**20 - tenant_usage(Session, owner)
        assert room > 10_000
        filler = np.random.default_rng(0).bytes(room - 1000)
        assert hoarder.post("/api/repos/create", json={"name": "full"}).status_code == 200
        over = hub_commit(hoarder, "hoarder/full", {"big.bin": filler + bytes(2000)})
        assert over.status_code == 413 and "TSHUB_TENANT_STORAGE_MB" in over.json()["error"], over.text
        assert hub_commit(hoarder, "hoarder/full", {"big.bin": filler}).status_code == 200
        assert hub_commit(hoarder, "hoarder/full", {"copy.bin": filler}).status_code == 200  # held already: free
        assert tenant_usage(Session, owner) == 4 * 2**20 - 1000
        job = {"dataset_id": small, "model": SOURCE, "epochs": 1}
        done = hoarder.post("/v1/jobs", json=job).json()["id"]
        assert wait_for_job(hoarder, done, timeout=90)["state"] == "succeeded"  # its model takes the token past
        assert_4xx(hoarder.post("/v1/jobs", json=job), 413, "TSHUB_TENANT_STORAGE_MB")
        refused = hub_commit(hoarder, "hoarder/full", {"note.txt": b"one more"})
        assert refused.status_code == 413 and "delete datasets or jobs" in refused.json()["error"]
        assert hoarder.delete(f"/v1/jobs/{done}").status_code == 204
        assert hub_commit(hoarder, "hoarder/full", {"note.txt": b"one more"}).status_code == 200


def hub_commit(client: httpx.Client, repo: str, files: dict[str, bytes]) -> httpx.Response:
    """A commit of ``files`` to ``repo``'s main, as huggingface_hub's create_commit sends it (base64 NDJSON)."""
    lines = [{"key": "header", "value": {"summary": "add files"}}] + [
        {"key": "file", "value": {"path": path, "encoding": "base64", "content": base64.b64encode(data).decode()}}
        for path, data in files.items()
    ]
    return client.post(f"/api/models/{repo}/commit/main", content="\n".join(map(json.dumps, lines)))


# ------------------------------------------------------------------------------------------------ 4. recommend
def test_recommend_is_bounded_on_a_large_dataset(alice) -> None:
    dataset = upload(alice, "large.csv", csv_dataset(rows=3000, length=16, seed=8))["id"]
    response = alice.post("/v1/recommend", json={"dataset_id": dataset, "k": 1})
    assert response.status_code == 200, response.text
    assert "scored on 50 of" in response.json()["note"]
    assert [r["id"] for r in response.json()["recommendations"]] == [SOURCE]


# ------------------------------------------------------------------------------------------------ 5. dedup leak
def test_the_same_bytes_from_another_tenant_share_nothing_derived(alice, bob) -> None:
    content = csv_dataset(seed=9)
    mine = upload(alice, "acme-merger-secret.csv", content)
    theirs = upload(bob, "plain.csv", content)
    assert theirs["summary"]["name"] == "plain" and theirs["summary"]["files"] == ["plain.csv"]
    assert "acme" not in str(theirs)
    assert mine["summary"]["name"] == "acme-merger-secret"
    renamed = upload(alice, "renamed.csv", content)  # the same tenant's re-upload, under its own new name
    assert renamed["summary"]["name"] == "renamed"


# ------------------------------------------------------------------------------------------------ 7. low
def test_invalid_lr_multipliers_are_refused(alice) -> None:
    dataset = upload(alice, "omega.csv", csv_dataset(seed=10))["id"]
    for value in ("NaN", "Infinity", "-1", "0"):
        body = f'{{"dataset_id": "{dataset}", "model": "{SOURCE}", "lr_multiplier": {value}}}'
        response = alice.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (value, response.text)


def test_repeated_omegas_are_refused_and_omega_zero_is_explained(alice) -> None:
    """Regression: ``[1, 1, 1]`` was queued (202) and trained the same seeded run three times (progress said runs 3);
    ω = 0, which tshub's finetune takes, got three entries of the union's noise ('Input should be greater than 0',
    '... a valid array', "... 'grid'"), none saying why a job refuses it."""
    dataset = upload(alice, "repeats.csv", csv_dataset(seed=13))["id"]
    jobs_before = alice.get("/v1/jobs", params={"limit": 500}).json()["items"]
    for omegas, words in (
        ([1, 1, 1], "lr_multiplier repeats 1 (3 times)"),
        ([0.5, 2, 0.5, 1, 1.0], "lr_multiplier repeats 0.5 (2 times), 1 (2 times)"),
    ):
        response = alice.post("/v1/jobs", json={"dataset_id": dataset, "model": SOURCE, "lr_multiplier": omegas})
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert words in error["msg"] and "give each ω once" in error["msg"], error
    for omegas in (0, [0.5, 0], -0.0):
        response = alice.post("/v1/jobs", json={"dataset_id": dataset, "model": SOURCE, "lr_multiplier": omegas})
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]  # one sentence, not one per form lr_multiplier may take
        assert "ω = 0 leaves the transferred layers as they are" in error["msg"] and "0.01" in error["msg"], error
    for omegas, words in ((-1, "greater than 0"), ("grid2", "'grid'"), (True, "valid number"), ({}, "one ω")):
        response = alice.post("/v1/jobs", json={"dataset_id": dataset, "model": SOURCE, "lr_multiplier": omegas})
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert words in error["msg"], (omegas, error)
    assert alice.get("/v1/jobs", params={"limit": 500}).json()["items"] == jobs_before  # nothing was queued


def test_revoking_a_token_cancels_its_jobs_and_tokens_expire(server: LiveServer) -> None:
    Session = open_store(f"sqlite:///{Path(server.env['TSHUB_HOME']) / 'server' / 'tshub.db'}")
    with client_for(server, "leaver") as leaver:
        dataset = upload(leaver, "leaving.csv", csv_dataset(rows=600, length=256, seed=11))["id"]
        long_job = {"dataset_id": dataset, "model": SOURCE, "epochs": 1000, "lr_multiplier": "grid", "baseline": True}
        jobs = [leaver.post("/v1/jobs", json=long_job).json()["id"] for _ in range(2)]
        with Session() as session:
            token_id = session.get(Job, jobs[0]).owner_id
        revoking = run_cli(server.env, "token", "revoke", token_id)  # as the operator runs it: a process
        assert revoking.returncode == 0, revoking.stderr
        revoked = datetime.now(UTC)
        assert leaver.get("/v1/datasets").status_code == 401
    deadline = time.monotonic() + 180  # a running job stops at its next cancellation check: slow on a loaded machine
    while True:
        with Session() as session:
            ended = {j: _ended(session.get(Job, j), revoked) for j in jobs}
        if all(ended.values()):
            break
        assert time.monotonic() < deadline, f"the revoked token's jobs were not cancelled: {ended}"
        time.sleep(0.3)
    with client_for(server, "brief", "--expires-days", "0.0001") as brief:  # 8.64 s, made in this process at once
        created = time.monotonic()  # the token was made before this moment, so it has expired 9 s after
        assert brief.get("/v1/datasets").status_code == 200
        time.sleep(max(0.0, created + 9 - time.monotonic()))
        assert_4xx(brief.get("/v1/datasets"), 401, "token expired")
    db = Path(server.env["TSHUB_HOME"]) / "server" / "tshub.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def _ended(job: Job, revoked: datetime) -> bool:
    """Whether ``job`` ended as a revocation must end it: cancelled, or stopped by the per-job limit before the
    revocation took effect (on a loaded machine the revoking command's start can outlast TSHUB_MAX_JOB_S)."""
    if job.state == "cancelled":
        return True
    by_limit = job.state == "failed" and "TSHUB_MAX_JOB_S" in (job.reason or "")
    assert not job.finished_at or by_limit and job.finished_at.replace(tzinfo=UTC) <= revoked, (job.state, job.reason)
    return job.finished_at is not None


# ------------------------------------------------------------------------------------------------ 8. operators
DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")


def test_an_operator_lists_tokens_without_their_secrets_and_names_stay_unique(server: LiveServer) -> None:
    """Regression: only ``token create`` and ``token revoke ID`` existed: the id of a leaked token, printed once when
    it was made, had to be dug out of the database, its last use was recorded but shown nowhere, a second 'alice'
    (another tenant, with the first one's name and Hub namespace) was made without a word, and so was a token ''.
    The first create and list run as the operator runs them, in a process of their own; the rest in this one."""
    created = run_cli(server.env, "token", "create", "--name", "lister")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    token_id = re.search(r"token ([0-9a-f]{32}) for 'lister'", created.stderr).group(1)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {secret}"}) as lister:
        assert lister.get("/v1/datasets").status_code == 200  # recorded as its last use

    def listing(listed: subprocess.CompletedProcess) -> list[str]:
        """The lines of a ``token list``, checked for what it must (and must never) show."""
        assert listed.returncode == 0, listed.stderr
        assert secret not in listed.stdout + listed.stderr and hash_token(secret) not in listed.stdout
        header = listed.stdout.splitlines()[0]
        assert header.split()[:2] == ["ID", "NAME"] and "LAST USED" in header and "REVOKED" in header, header
        return listed.stdout.splitlines()

    def row(lines: list[str]) -> str:
        return next(line for line in lines[1:] if line.startswith(token_id))

    lines = listing(run_cli(server.env, "token", "list"))
    assert "lister" in row(lines) and len(DATE.findall(row(lines))) == 2 and "never" in row(lines)  # created, used
    for name, words in (
        ("lister", f"a token named 'lister' exists already ({token_id}"),
        ("  LISTER ", "a token named 'lister' exists already"),  # a look-alike: one Hub namespace
        ("", "a token needs a name"),
        ("   ", "a token needs a name"),
        ("x" * 201, "at most 200 characters"),
    ):
        refused = run_cli_here(server.env, "token", "create", "--name", name)
        assert refused.returncode != 0 and words in refused.stderr and not refused.stdout, (name, refused.stderr)
    assert len(listing(run_cli_here(server.env, "token", "list"))) == len(lines)  # nothing was created

    assert run_cli_here(server.env, "token", "revoke", token_id).returncode == 0
    assert len(DATE.findall(row(listing(run_cli_here(server.env, "token", "list"))))) == 3  # and now its revocation
    assert token_id not in run_cli_here(server.env, "token", "list", "--active").stdout
    again = run_cli_here(server.env, "token", "create", "--name", "lister")
    assert again.returncode != 0 and "revoked" in again.stderr, again.stderr  # its namespace stays its own


def test_user_facing_messages_hide_server_paths() -> None:
    text = "no checkpoint at /srv/tshub/home/models/GunPoint/fcn or '/var/lib/tshub/storage/datasets/a/b.npz'"
    assert hide_server_paths(text) == "no checkpoint at fcn or 'b.npz'"


def test_sweep_removes_only_old_unreferenced_files(tmp_path: Path) -> None:
    Session = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    storage = tmp_path / "storage"
    for rel in ("tmp/partial", "uploads/" + "a" * 64 + ".csv", "datasets/o/x.npz", "models/j.zip"):
        (storage / rel).parent.mkdir(parents=True, exist_ok=True)
        (storage / rel).write_bytes(b"x")
    fresh = storage / "tmp" / "in-flight"
    fresh.write_bytes(b"x")
    old = time.time() - 3600
    for path in storage.rglob("*"):
        if path.is_file() and path != fresh:
            os.utime(path, (old, old))
    assert sweep(storage, Session, grace_s=600) == 4
    assert [p.name for p in storage.rglob("*") if p.is_file()] == ["in-flight"]
