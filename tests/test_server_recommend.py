"""The service's recommender: /v1/recommend and ``"model": "auto"`` take the fast path under a time limit, in
processes of their own, so a large dataset never holds up another tenant (a real `tshub serve` over HTTP)."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import tshub  # noqa: E402
from server.runner import JobFailed, recommend_source  # noqa: E402
from server.testing import create_token, live_service, service_env, wait_for_job  # noqa: E402

SOURCE = "Coffee/fcn"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recommend_home")


@pytest.fixture(scope="module")
def server(home: Path, ucr_root: Path, tmp_path_factory: pytest.TempPathFactory):
    with live_service(
        service_env(home, [SOURCE]),
        tmp_path_factory.mktemp("logs") / "serve.log",
        home,
        tshub.datasets.load("Coffee", root=ucr_root.parent),
        SOURCE,
    ) as live:
        yield live


def client(server, name: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {create_token(server.env, name)}"}, timeout=120
    )


def upload(c: httpx.Client, path: Path) -> str:
    response = c.post("/v1/datasets", files={"file": (path.name, path.read_bytes())})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_ranking_a_large_dataset_never_holds_up_another_tenant(server, ucr_root: Path) -> None:
    with client(server, "alice") as alice, client(server, "bob") as bob:
        large = upload(alice, ucr_root / "Strawberry" / "Strawberry_TRAIN.tsv.gz")  # 613 series of 235 steps
        answer: dict = {}

        def rank() -> None:
            answer["response"] = alice.post("/v1/recommend", json={"dataset_id": large, "k": 1})
            answer["at"] = time.monotonic()

        ranking = threading.Thread(target=rank)
        ranking.start()
        served = []  # (when bob was answered, how long it took)
        while ranking.is_alive() or not served:
            for path in ("/healthz", "/v1/models"):
                start = time.monotonic()
                assert bob.get(path).status_code == 200
                served.append((time.monotonic(), time.monotonic() - start))
        ranking.join()
        response = answer["response"]
        assert response.status_code == 200, response.text
        body = response.json()
        assert [r["id"] for r in body["recommendations"]] == [SOURCE]
        assert re.search(r"scored on 139 of 4\d\d training series", body["note"])  # the fast path's bounded sample
        assert body["elapsed_s"] < 30 and body["n_candidates"] == 1
        advice = body["advice"]  # uploaded data: no MiniRocket reference, the advice says so
        assert advice["source"] == SOURCE and advice["scratch"]["answer"] in ("yes", "no")
        assert advice["minirocket"]["answer"] == "unknown" and "baseline to try" in advice["minirocket"]["explanation"]
        assert served[0][0] < answer["at"] and max(took for _, took in served) < 5


def test_auto_jobs_pick_the_source_under_the_time_limit(server, home: Path, ucr_root: Path) -> None:
    with client(server, "carol") as carol:
        gunpoint = upload(carol, ucr_root / "GunPoint" / "GunPoint_TRAIN.tsv.gz")
        job = carol.post("/v1/jobs", json={"dataset_id": gunpoint, "model": "auto", "epochs": 1, "lr_multiplier": 1.0})
        assert job.status_code == 202, job.text
        done = wait_for_job(carol, job.json()["id"], timeout=300)
        assert done["state"] == "succeeded" and done["source"] == SOURCE
        assert done["result"]["advice"]["source"] == SOURCE and done["result"]["advice"]["summary"]
    with sqlite3.connect(home / "server" / "tshub.db") as db:
        (spec,) = db.execute("SELECT spec FROM jobs WHERE id = ?", (done["id"],)).fetchone()
    assert json.loads(spec)["recommend_time_limit_s"] == 120.0  # TSHUB_RECOMMEND_TIMEOUT_S


def test_auto_fails_clearly_when_ranking_runs_past_its_limit(ucr_root: Path, tmp_path: Path) -> None:
    from server.testing import make_source_checkpoint

    folder = make_source_checkpoint(tmp_path, tshub.datasets.load("Coffee", root=ucr_root.parent), SOURCE)
    gunpoint = tshub.datasets.load("GunPoint", root=ucr_root.parent)
    events = []
    with pytest.raises(JobFailed, match=r"model 'auto': ranking 'GunPoint' took longer than 0 s"):
        recommend_source(gunpoint, {"candidates": [str(folder)], "recommend_time_limit_s": 0}, events.append)
    assert events == [{"phase": "recommending"}]
