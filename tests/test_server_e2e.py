"""The fine-tune service end to end: a real `tshub serve` process (uvicorn + worker) over HTTP, real UCR data.

A narrow FCN pretrained for one epoch on Coffee is the source; GunPoint (train + test files) is the upload.
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import threading
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import tshub  # noqa: E402
from server import auth  # noqa: E402
from server.config import Settings  # noqa: E402
from server.db import DatasetRecord, open_store  # noqa: E402
from server.jobstore import JobStore  # noqa: E402
from server.schemas import JobCreate  # noqa: E402
from server.testing import LiveServer, create_token, live_service, service_env, wait_for_job  # noqa: E402
from server.uploads import ParseOptions, ingest, store_raw  # noqa: E402
from server.worker import Worker  # noqa: E402
from tshub.data.readers import read_file  # noqa: E402

SOURCE = "Coffee/fcn"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("service_home")


@pytest.fixture(scope="module")
def server(home: Path, ucr_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """The service, booting while the source checkpoint trains here (jobs and listings read the store live)."""
    with live_service(
        service_env(home, [SOURCE], TSHUB_MAX_UPLOAD_MB=1),
        tmp_path_factory.mktemp("logs") / "serve.log",
        home,
        tshub.datasets.load("Coffee", root=ucr_root.parent),
        SOURCE,
    ) as live:
        yield live


@pytest.fixture(scope="module")
def token(server: LiveServer) -> str:
    return create_token(server.env, "alice")


@pytest.fixture(scope="module")
def client(server: LiveServer, token: str):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        yield c


def upload_gunpoint(client: httpx.Client, ucr_root: Path) -> dict:
    folder = ucr_root / "GunPoint"
    files = {
        "file": ("GunPoint_TRAIN.tsv.gz", (folder / "GunPoint_TRAIN.tsv.gz").read_bytes()),
        "test_file": ("GunPoint_TEST.tsv.gz", (folder / "GunPoint_TEST.tsv.gz").read_bytes()),
    }
    response = client.post("/v1/datasets", files=files)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def gunpoint(client: httpx.Client, ucr_root: Path) -> dict:
    return upload_gunpoint(client, ucr_root)


def test_upload_summarises_the_real_dataset(gunpoint: dict) -> None:
    s = gunpoint["summary"]
    assert (s["name"], s["task"], s["n"], s["channels"], s["length"]) == ("GunPoint", "classification", 200, 1, 150)
    assert s["classes"] == ["1", "2"] and sum(s["class_counts"]) == 200
    assert s["splits"] == {"train": 40, "val": 10, "test": 150}
    assert any("validation" in w for w in s["warnings"])


def test_job_runs_to_success_and_the_model_predicts(
    client: httpx.Client, gunpoint: dict, ucr_root: Path, tmp_path: Path
) -> None:
    response = client.post(
        "/v1/jobs",
        json={
            "dataset_id": gunpoint["id"],
            "model": "auto",
            "arch": "fcn",
            "epochs": 2,
            "lr_multiplier": 0.5,
            "seed": 1,
            "baseline": True,
        },
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.headers["location"] == f"/v1/jobs/{job_id}"
    assert response.json()["state"] in ("queued", "running")

    job = wait_for_job(client, job_id)
    assert job["state"] == "succeeded", job
    assert job["source"] == SOURCE and job["lr_multiplier"] == 0.5 and job["attempts"] == 1
    progress = {key: value for key, value in job["progress"].items() if value is not None}
    assert progress == {"phase": "done", "source": SOURCE}  # not MiniRocket's, its last phase, as if under way
    assert set(job["metrics"]) == {"accuracy", "f1_weighted"} and set(job["baseline_metrics"]) == set(job["metrics"])
    assert set(job["minirocket_metrics"]) == set(job["metrics"]) and job["minirocket_metrics"]["accuracy"] > 0.8
    assert job["result"]["epochs"] <= 2 and job["result"]["transfer_report"]["copied"]
    curve = job["result"]["val_curve"]  # a page opened after the job ended draws the whole curve from it
    assert curve["metric"] == "val_accuracy" and len(curve["values"]) == job["result"]["epochs"]

    archive = client.get(job["model_url"])
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    zipfile.ZipFile(io.BytesIO(archive.content)).extractall(tmp_path / "model")
    model = tshub.load_pretrained(tmp_path / "model")
    test = read_file(ucr_root / "GunPoint" / "GunPoint_TEST.tsv.gz")
    predicted = model.predict(test.X)
    accuracy = float(np.mean(predicted == np.asarray(test.classes)[test.y]))
    assert accuracy == pytest.approx(job["metrics"]["accuracy"], abs=1e-9)
    assert model.meta["parent"] == SOURCE
    assert model.training_history.epochs == job["result"]["epochs"]  # the job's zip carries the curves
    compared = {"from_scratch": job["baseline_metrics"], "minirocket": job["minirocket_metrics"]}
    assert model.meta["compared"] == compared  # its card compares them on the same splits
    assert "### Compared on the same splits" in (tmp_path / "model" / "README.md").read_text()


def test_cancel_stops_a_running_job(client: httpx.Client, gunpoint: dict) -> None:
    job = client.post(
        "/v1/jobs", json={"dataset_id": gunpoint["id"], "model": "coffee/FCN", "epochs": 1000, "lr_multiplier": "grid"}
    ).json()
    job_id = job["id"]
    assert job["model"] == SOURCE  # ids match case-insensitively and are stored canonical
    wait_for_job(client, job_id, until=("running",))
    deadline = time.monotonic() + 60
    while not (client.get(f"/v1/jobs/{job_id}").json()["progress"] or {}).get("epoch"):  # training, mid-grid
        assert time.monotonic() < deadline
        time.sleep(0.2)
    response = client.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 202 and response.json()["cancel_requested"] in (True, False)
    job = wait_for_job(client, job_id, timeout=30)
    assert job["state"] == "cancelled" and "cancelled by the user" in job["reason"]
    assert job["progress"]["phase"] == "finetune" and job["progress"]["runs"] == 10
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 409
    assert client.get(f"/v1/jobs/{job_id}/model").status_code == 409


def test_a_job_resumed_after_a_worker_restart_no_longer_says_it_was_requeued(
    server: LiveServer, client: httpx.Client, gunpoint: dict
) -> None:
    """Regression: after a graceful worker restart (SIGTERM: its job goes back to the queue, the new worker takes it)
    the running job still said 'requeued: the worker shut down while it ran', a reason cleared only at success."""
    long_job = {"dataset_id": gunpoint["id"], "model": SOURCE, "recipe": "bigdata18", "epochs": 1000}  # no early stop
    job_id = client.post("/v1/jobs", json=long_job).json()["id"]
    first = wait_for_job(client, job_id, until=("running",))
    os.kill(server.child_pid("worker"), signal.SIGTERM)  # `tshub serve` starts another one
    deadline, requeued = time.monotonic() + 90, None
    while (job := client.get(f"/v1/jobs/{job_id}").json())["started_at"] == first["started_at"] or job["state"] != (
        "running"
    ):
        requeued = job["reason"] if job["state"] == "queued" else requeued
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    assert requeued in (None, "requeued: the worker shut down while it ran")  # seen while it waited, if polled then
    assert job["reason"] is None and job["attempts"] == 1, job
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
    assert wait_for_job(client, job_id, timeout=60)["state"] == "cancelled"


def test_malformed_and_oversized_uploads_are_4xx_with_a_message(client: httpx.Client) -> None:
    cases = {
        ("bad.csv", b"1,2,3\n4,5\n"): (422, "line 2"),
        ("bad.npz", b"PK\x03\x04 not a zip"): (422, "npz"),
        ("bad.exe", b"MZ"): (415, "unsupported file type"),
        ("empty.tsv", b""): (422, "empty"),
        ("big.csv", b"1," * (600 * 1024)): (413, "1 MB"),
    }
    for (name, content), (status, words) in cases.items():
        response = client.post("/v1/datasets", files={"file": (name, content)})
        assert response.status_code == status, (name, response.text)
        assert words in response.json()["detail"], (name, response.text)
        assert "Traceback" not in response.text


def test_auth_and_tenant_isolation(server: LiveServer, client: httpx.Client, gunpoint: dict) -> None:
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
    for headers in ({}, {"Authorization": "Bearer tshub_not-a-token"}, {"Authorization": "Basic abc"}):
        assert httpx.get(f"{server.url}/v1/datasets", headers=headers).status_code == 401
    long_job = {"dataset_id": gunpoint["id"], "model": SOURCE, "recipe": "bigdata18", "epochs": 1000}  # no early stop
    job_id = client.post("/v1/jobs", json=long_job).json()["id"]
    _, bob_token = auth.create_token(
        open_store(f"sqlite:///{Path(server.env['TSHUB_HOME']) / 'server' / 'tshub.db'}"), "bob"
    )
    with httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {bob_token}"}) as bob:
        assert bob.get("/v1/datasets").json()["items"] == [] and bob.get("/v1/jobs").json()["items"] == []
        for path in (f"/v1/datasets/{gunpoint['id']}", f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/model"):
            assert bob.get(path).status_code == 404, path
        assert bob.post(f"/v1/jobs/{job_id}/cancel").status_code == 404
        assert bob.post("/v1/jobs", json={"dataset_id": gunpoint["id"], "model": SOURCE}).status_code == 404
        assert bob.post("/v1/recommend", json={"dataset_id": gunpoint["id"]}).status_code == 404
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["state"] in ("queued", "running") and not job["cancel_requested"]  # bob's cancel did nothing
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202  # alice's does
    assert wait_for_job(client, job_id)["state"] == "cancelled"
    db = sqlite3.connect(Path(server.env["TSHUB_HOME"]) / "server" / "tshub.db")
    stored = [row[0] for row in db.execute("SELECT token_hash FROM tokens")]
    assert len(stored) == 2 and all(len(h) == 64 and not h.startswith("tshub_") for h in stored)


def test_models_endpoints(client: httpx.Client) -> None:
    listed = client.get("/v1/models").json()  # TSHUB_SERVER_SOURCES hides the repository zoo's checkpoints
    assert [m["id"] for m in listed] == [SOURCE] and "location" not in listed[0]
    detail = client.get("/v1/models/Coffee/fcn").json()
    assert detail["config"]["arch"] == "fcn" and detail["card"].startswith("---")
    assert client.get("/v1/models/Nothing/fcn").status_code == 404
    assert client.get("/v1/models/Coffee/not_an_arch").status_code == 404


def test_recommend_ranks_the_sources(client: httpx.Client, gunpoint: dict) -> None:
    response = client.post("/v1/recommend", json={"dataset_id": gunpoint["id"], "k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "logme" and [r["id"] for r in body["recommendations"]] == [SOURCE]
    assert client.post("/v1/recommend", json={"dataset_id": gunpoint["id"], "arch": "tcn"}).status_code == 422
    combined = client.post("/v1/recommend", json={"dataset_id": gunpoint["id"], "method": "dtw+logme"})
    assert combined.status_code == 200, combined.text
    assert [r["id"] for r in combined.json()["recommendations"]] == [SOURCE]


def test_refusals_say_what_an_http_client_can_do(client: httpx.Client, gunpoint: dict, ucr_root: Path) -> None:
    """Regression: messages written for library users reached HTTP clients: an architecture none of the server's
    sources has got "build the zoo (scripts/publish), `tshub pull ID` some, or pass candidates=[…]", none of which a
    client can do, and a misspelt source got no "did you mean" (the CLI's has one)."""
    library_advice = ("scripts/publish", "tshub pull", "candidates=", "`tshub list`", "allow_self_transfer=True")
    for path, body in (
        ("/v1/recommend", {"dataset_id": gunpoint["id"], "arch": "tcn"}),
        ("/v1/jobs", {"dataset_id": gunpoint["id"], "model": "auto", "arch": "tcn"}),  # refused now, not failed later
    ):
        response = client.post(path, json=body)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "no source checkpoint of arch 'tcn' on this server; its sources are of arch fcn" in detail, detail
        assert "GET /v1/models" in detail and not any(words in detail for words in library_advice), detail
    for response in (
        client.post("/v1/jobs", json={"dataset_id": gunpoint["id"], "model": "Cofee/fcn"}),
        client.get("/v1/models/Cofee/fcn"),
    ):
        assert response.status_code in (404, 422), response.text
        assert "no checkpoint 'Cofee/fcn' on this server; did you mean 'Coffee/fcn'?" in response.json()["detail"]

    folder = ucr_root / "Coffee"  # the data the server's only source was trained on: no source left to rank
    files = {"file": ("Coffee_TRAIN.tsv.gz", (folder / "Coffee_TRAIN.tsv.gz").read_bytes())}
    coffee = client.post("/v1/datasets", files=files).json()["id"]
    response = client.post("/v1/recommend", json={"dataset_id": coffee})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f'trained on the target\'s own data: {SOURCE}; "allow_self_transfer": true ranks them' in detail, detail
    assert "GET /v1/models" in detail and not any(words in detail for words in library_advice), detail
    assert client.post("/v1/recommend", json={"dataset_id": coffee, "allow_self_transfer": True}).status_code == 200


def test_restart_recovers_a_job_killed_mid_run(server: LiveServer, client: httpx.Client, gunpoint: dict) -> None:
    """Last in this module: it kills the module's server (API, worker, training at once) and starts it again."""
    job_id = client.post(
        "/v1/jobs", json={"dataset_id": gunpoint["id"], "model": SOURCE, "epochs": 1000, "budget_s": 2}
    ).json()["id"]
    wait_for_job(client, job_id, until=("running",))
    server.kill()
    db = sqlite3.connect(Path(server.env["TSHUB_HOME"]) / "server" / "tshub.db")
    assert db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone() == ("running",)

    server.start()
    assert client.get(f"/v1/datasets/{gunpoint['id']}").status_code == 200  # the upload survived
    job = wait_for_job(client, job_id, until=("succeeded", "failed"))
    assert job["state"] == "succeeded" and job["attempts"] == 2, job


def test_ray_engine_runs_a_job_on_a_local_cluster(
    server: LiveServer, home: Path, ucr_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TSHUB_ENGINE=ray: the worker's engine starts a local Ray instance (no address) and runs the job there
    (``server`` is asked for only because it puts the source checkpoint in ``home``)."""
    pytest.importorskip("ray", reason="TSHUB_ENGINE=ray needs ray: pip install 'tshub[ray]'")
    env = service_env(
        home,
        [SOURCE],
        TSHUB_ENGINE="ray",
        TSHUB_SERVER_DB=f"sqlite:///{tmp_path / 'ray.db'}",
        TSHUB_SERVER_STORAGE=tmp_path / "storage",
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env()
    Session = open_store(settings.db_url)
    owner, _ = auth.create_token(Session, "ray")
    with open(ucr_root / "GunPoint" / "GunPoint_TRAIN.tsv.gz", "rb") as f:
        stored = store_raw(f, "GunPoint_TRAIN.tsv.gz", settings.storage, settings.max_upload_bytes)
    ingested = ingest([stored], ParseOptions(), settings.storage, owner.id)
    with Session.begin() as session:
        dataset = DatasetRecord(
            owner_id=owner.id,
            filename=stored.filename,
            raw_sha256=stored.sha256,
            path=ingested.path,
            summary=ingested.summary,
        )
        session.add(dataset)
    store = JobStore(Session)
    job = store.create(owner.id, dataset.id, JobCreate(dataset_id=dataset.id, model=SOURCE, epochs=1).spec())

    worker = Worker(settings, Session)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        # ~12 s on a busy 2-core machine: Ray's start, then fresh Ray workers (the job's task and its progress actor,
        # with the service's runtime env) importing torch and tshub before one epoch; a loaded machine took over 120 s
        deadline = time.monotonic() + 300
        while (row := store.get(owner.id, job.id)).state not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        stop.set()
        thread.join(60)
    assert row.state == "succeeded", (row.state, row.reason, row.progress)
    assert row.result["epochs"] == 1 and row.result["source"] == SOURCE
    with zipfile.ZipFile(settings.storage / row.model_path) as archive:
        archive.extractall(tmp_path / "model")
    assert tshub.load_pretrained(tmp_path / "model").classes == ["1", "2"]


def test_a_starved_ray_mailbox_delays_progress_but_never_loses_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a busy machine the progress actor may answer after the poll's wait: the handle keeps the request and
    collects it at a later poll (it used to raise GetTimeoutError, and the worker failed the job as lost)."""
    ray = pytest.importorskip("ray", reason="the Ray engine needs ray: pip install 'tshub[ray]'")
    from server import engines

    class SlowMailbox(engines.Mailbox):
        def take(self) -> list:
            time.sleep(2.0)  # starved: answers after the poll has stopped waiting
            return super().take()

    monkeypatch.setattr(engines, "MAILBOX_WAIT_S", 0.2, raising=False)
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        mailbox = ray.remote(num_cpus=0)(SlowMailbox).remote()
        ray.get(mailbox.put.remote({"phase": "train", "epoch": 1}))
        outcome = {"state": "succeeded", "reason": None, "result": {"accuracy": 1.0}}
        task = ray.remote(lambda: (outcome, None)).remote()
        handle = engines.RayHandle(ray, task, mailbox, Path("/nonexistent/model.zip"))
        assert handle.poll() == [] and handle.outcome is None  # no answer yet: nothing lost, nothing decided
        events, deadline = [], time.monotonic() + 30
        while handle.outcome is None and time.monotonic() < deadline:
            events += handle.poll()
        assert events == [{"phase": "train", "epoch": 1}]
        assert handle.outcome is not None and handle.outcome.state == "succeeded"
    finally:
        ray.shutdown()


def test_a_list_of_omegas_is_tried_and_the_best_kept(client: httpx.Client, gunpoint: dict) -> None:
    """The service takes a list of ω as tshub's finetune does, not only one ω or Otović's grid."""
    body = {"dataset_id": gunpoint["id"], "model": SOURCE, "epochs": 1, "lr_multiplier": [0.5, 2], "search": "full"}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["lr_multiplier"] == [0.5, 2]
    job = wait_for_job(client, response.json()["id"])
    assert job["state"] == "succeeded", job
    assert [run["lr_multiplier"] for run in job["result"]["grid"]] == [0.5, 2]
    assert job["lr_multiplier"] in (0.5, 2)


def test_a_job_can_train_on_every_training_series_and_says_so(client: httpx.Client, gunpoint: dict) -> None:
    """``validation: "train"``: the upload's 10 validation series join its 40 training series, which choose the
    weights; the result says which series chose them, and the checkpoint's card records it."""
    body = {"dataset_id": gunpoint["id"], "model": SOURCE, "epochs": 1, "validation": "train"}
    job = wait_for_job(client, client.post("/v1/jobs", json=body).json()["id"])
    assert job["state"] == "succeeded", job
    assert job["result"]["splits"] == {"train": 50, "val": 50, "test": 150} and job["result"]["validation_is_train"]
    refused = client.post("/v1/jobs", json={**body, "validation": "test"})
    assert refused.status_code == 422 and "validation" in refused.text


def test_a_job_passes_the_target_frame_and_stream_max_choices_to_the_fine_tune(
    client: httpx.Client, gunpoint: dict
) -> None:
    """``relative_target`` and ``use_stream_max`` reach the fine-tune; what cannot work on this data from this source
    is refused at the door in the API's terms (it was accepted, then failed in the worker with advice naming
    ``preprocessing``, a field the API does not take), and so is what only the ranking of 'auto' reveals, by the
    worker in the same terms; values that are not booleans are refused too."""
    body = {"dataset_id": gunpoint["id"], "model": SOURCE, "epochs": 1, "relative_target": True}
    for options, words in (
        ({"relative_target": True}, "relative_target=true learns regression targets in each series' scale, but"),
        ({"use_stream_max": True}, f"{SOURCE} is preprocessed with 'znorm': leave use_stream_max out"),
    ):
        refused = client.post("/v1/jobs", json={**body, "relative_target": None, **options})
        assert refused.status_code == 422 and words in refused.json()["detail"], refused.text
        assert "preprocessing=" not in refused.text
    auto = client.post("/v1/jobs", json={**body, "model": "auto", "relative_target": None, "use_stream_max": True})
    job = wait_for_job(client, auto.json()["id"])
    assert job["state"] == "failed" and "use_stream_max=true gives the model" in job["reason"], job
    assert "preprocessing=" not in job["reason"]
    refused = client.post("/v1/jobs", json={**body, "relative_target": None, "use_stream_max": "maybe"})
    assert refused.status_code == 422 and "use_stream_max" in refused.text


def test_a_budget_given_to_the_fine_tune_and_again_to_its_baseline_must_fit_the_job_limit(
    client: httpx.Client, gunpoint: dict
) -> None:
    """Regression: budget_s was checked alone against TSHUB_MAX_JOB_S, but it bounds the fine-tune and then the
    from-scratch baseline: a job accepted with budget_s 8 under a 12-s limit was killed in its baseline, its finished
    fine-tune lost, and told to 'ask for ... a budget_s'."""
    body = {"dataset_id": gunpoint["id"], "model": SOURCE, "budget_s": 15000, "baseline": True}
    refused = client.post("/v1/jobs", json=body)
    assert refused.status_code == 422
    assert "the fine-tune and again its baseline" in refused.text and "TSHUB_MAX_JOB_S" in refused.text
