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
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import tshub  # noqa: E402
from server.runner import JobFailed, recommend_source  # noqa: E402
from server.testing import create_token, live_service, service_env, wait_for_job  # noqa: E402
from tshub.recommender.candidates import NOT_FOUND  # noqa: E402

SOURCE = "Coffee/fcn"
#: Also offered (TSHUB_SERVER_SOURCES): a copy of SOURCE whose training diverged, two that only an index names, and
#: one that nothing lists (an operator's typo).
BROKEN = ("Diverged/fcn", "Missing/fcn", "Missing/tcn", "Nope/fcn")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recommend_home")


@pytest.fixture(scope="module")
def server(home: Path, ucr_root: Path, tmp_path_factory: pytest.TempPathFactory):
    with live_service(
        service_env(home, [SOURCE, *BROKEN]),
        tmp_path_factory.mktemp("logs") / "serve.log",
        home,
        tshub.datasets.load("Coffee", root=ucr_root.parent),
        SOURCE,
    ) as live:
        offer_broken_sources(home / "models")
        yield live


def offer_broken_sources(store: Path) -> None:
    """BROKEN in the server's store: a diverged copy of SOURCE, and an index naming checkpoints it does not hold
    (the Hub is offline, so nothing can fetch them); Nope/fcn is nowhere."""
    diverged = tshub.load_pretrained(str(store / SOURCE))
    diverged.meta = {**diverged.meta, "stop_reason": "non_finite_loss"}
    diverged.save_pretrained(store / "Diverged" / "fcn", id="Diverged/fcn")
    rows = [
        {"id": f"Missing/{arch}", "source": "Missing", "arch": arch, "task": "classification"}
        for arch in ("fcn", "tcn")
    ]
    (store / "index.json").write_text(json.dumps({"index_version": 1, "models": rows}))


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
        assert body["elapsed_s"] < 30 and body["n_candidates"] == 1 + len(BROKEN)
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


def test_offered_sources_that_learned_nothing_or_cannot_be_found_are_skipped_rows(server, ucr_root: Path) -> None:
    """TSHUB_SERVER_SOURCES are ranked as the whole zoo is: a checkpoint that diverged is skipped saying so, one the
    server cannot find is a skipped row, and with nothing left the answer is a 422 that says why. (Failed before:
    the diverged one was ranked, and a missing one made every ranking a 500; then one that no store or index lists
    vanished without a word.)"""
    with client(server, "frank") as frank:
        gunpoint = upload(frank, ucr_root / "GunPoint" / "GunPoint_TRAIN.tsv.gz")
        response = frank.post("/v1/recommend", json={"dataset_id": gunpoint, "k": 5})
        assert response.status_code == 200, response.text
        body = response.json()
        assert [r["id"] for r in body["recommendations"]] == [SOURCE] and body["n_candidates"] == 5
        skipped = {s["id"]: s["reason"] for s in body["skipped"]}
        assert skipped["Diverged/fcn"] == "not a usable source: its training diverged (non-finite loss)"
        assert skipped["Missing/fcn"] == skipped["Missing/tcn"] == skipped["Nope/fcn"] == NOT_FOUND
        nothing = frank.post("/v1/recommend", json={"dataset_id": gunpoint, "arch": "tcn"})
        assert nothing.status_code == 422, nothing.text
        said = (
            "no candidate checkpoint with arch 'tcn' (2 of the 2 candidates found are of another architecture) to rank"
        )
        assert f"{said} (not found: Missing/tcn): drop arch=" in nothing.json()["detail"]


def test_offered_sources_no_store_lists_are_logged_at_startup(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: a TSHUB_SERVER_SOURCES id nothing lists went unnoticed: no log line, no skipped row."""
    from server.app import create_app
    from server.config import Settings

    monkeypatch.setenv("TSHUB_SERVER_SOURCES", "Nope/fcn,Other/tcn")
    with caplog.at_level("WARNING", logger="tshub.server"):
        create_app(Settings.from_env())
    (line,) = [r.getMessage() for r in caplog.records if "TSHUB_SERVER_SOURCES" in r.getMessage()]
    assert line.startswith("TSHUB_SERVER_SOURCES names Nope/fcn, Other/tcn, which no model store lists")
    assert "skipped rows of every ranking" in line and "tshub pull ID" in line


def test_one_tenant_cannot_tell_what_another_ranked(server, ucr_root: Path) -> None:
    """The recommender's feature cache is per token: ranking the same series again is a hit for the same tenant,
    never for another (whose hit, "cached" and a faster answer, would tell it that someone had ranked this very
    data). (Failed before: one cache served every tenant.)"""
    data = ucr_root / "ItalyPowerDemand" / "ItalyPowerDemand_TRAIN.tsv.gz"

    def cached(c: httpx.Client) -> bool:
        response = c.post("/v1/recommend", json={"dataset_id": upload(c, data), "k": 1})
        assert response.status_code == 200, response.text
        return response.json()["recommendations"][0]["details"]["cached"]

    with client(server, "gina") as gina, client(server, "hank") as hank:
        assert [cached(gina), cached(gina), cached(hank)] == [False, True, False]


def test_auto_skips_sources_that_learned_nothing_or_cannot_be_found(
    ucr_root: Path, tmp_path: Path, private_zoo
) -> None:
    """What an auto job ranks (the configured sources) follows the same rule, and fails saying why when none is
    left. (Failed before: ModelNotFoundError ended the job.)"""
    from server.testing import make_source_checkpoint

    folder = make_source_checkpoint(tmp_path, tshub.datasets.load("Coffee", root=ucr_root.parent), SOURCE)
    private_zoo([folder], {"Diverged/fcn": (folder, {"stop_reason": "non_finite_loss"})})
    gunpoint = tshub.datasets.load("GunPoint", root=ucr_root.parent)
    spec = {"candidates": ["Diverged/fcn", "Missing/fcn", SOURCE], "recommend_time_limit_s": 120}
    assert recommend_source(gunpoint, spec, lambda event: None)[0] == SOURCE
    with pytest.raises(JobFailed, match=r"model 'auto': no candidate .*\(not found: Missing/fcn\) \(1 not usable"):
        recommend_source(gunpoint, {**spec, "candidates": spec["candidates"][:2]}, lambda event: None)


def test_auto_fails_clearly_when_ranking_runs_past_its_limit(ucr_root: Path, tmp_path: Path) -> None:
    from server.testing import make_source_checkpoint

    folder = make_source_checkpoint(tmp_path, tshub.datasets.load("Coffee", root=ucr_root.parent), SOURCE)
    gunpoint = tshub.datasets.load("GunPoint", root=ucr_root.parent)
    events = []
    with pytest.raises(JobFailed, match=r"model 'auto': ranking 'GunPoint' took longer than 0 s"):
        recommend_source(gunpoint, {"candidates": [str(folder)], "recommend_time_limit_s": 0}, events.append)
    assert events == [{"phase": "recommending"}]


def test_data_the_ranking_cannot_take_is_a_422_saying_why(server, tmp_path: Path) -> None:
    """Regression: series too large to normalise in float32 (uploaded fine, as fine-tunes take them) made the dtw
    methods fail inside the ranking's process, and the request answered 500; hscore on a regression said to try
    'probe', which /v1/recommend does not offer."""
    rng = np.random.default_rng(0)
    rows = [",".join([f"{rng.normal():.3f}", *(f"{v:.3e}" for v in rng.normal(size=24) * 1e30)]) for _ in range(40)]
    data = tmp_path / "huge.csv"
    data.write_text("\n".join(rows) + "\n")
    with client(server, "huge") as c:
        response = c.post("/v1/datasets", files={"file": (data.name, data.read_bytes())}, data={"task": "regression"})
        assert response.status_code == 201, response.text
        dataset_id = response.json()["id"]
        for method in ("dtw", "dtw+logme"):
            answer = c.post("/v1/recommend", json={"dataset_id": dataset_id, "k": 2, "method": method})
            assert answer.status_code == 422 and "too large to normalise" in answer.json()["detail"], answer.text
        answer = c.post("/v1/recommend", json={"dataset_id": dataset_id, "k": 2, "method": "hscore"})
        assert answer.status_code == 422 and "method='logme' ranks it" in answer.text and "probe" not in answer.text


def test_an_auto_job_ranks_on_the_sample_recommend_ranks_on(ucr_root: Path, tmp_path: Path) -> None:
    """Regression: with TSHUB_RECOMMEND_MAX_SERIES below the fast path's 256, /v1/recommend scored that many series
    but an "auto" job the default 256, so the job's source was not recommend's first row (7 of 16 datasets)."""
    from server.runner import rank_sources
    from server.uploads import save_npz
    from tshub.recommender.candidates import candidate_pool

    zoo = Path(__file__).resolve().parents[1] / "zoo"
    candidates = [str(zoo / name / "fcn") for name in ("Coffee", "ECG200", "ItalyPowerDemand", "Wafer", "Adiac")]
    target = tshub.datasets.load("GunPoint", root=ucr_root.parent)
    save_npz(target, tmp_path / "gp.npz", {})
    spec = {"candidates": candidates, "recommend_max_series": 10}
    picked, _ = recommend_source(target, spec, lambda event: None)
    ranked = rank_sources(tmp_path / "gp.npz", 1, None, "logme", candidates, max_series=10)
    assert picked == ranked["recommendations"][0]["id"]
    assert candidate_pool(candidates)  # the candidates exist: the comparison is not between two empty rankings


def test_an_auto_job_whose_candidates_all_tied_says_its_pick_was_arbitrary() -> None:
    """Regression: when every candidate scored the same, recommend said the ranking carried no information and gave
    no advice, but an "auto" job fine-tuned the first candidate by name and its result said nothing of the tie."""
    zoo = Path(__file__).resolve().parents[1] / "zoo"
    candidates = [str(zoo / name / "fcn") for name in ("Coffee", "ECG200", "GunPoint", "Wine")]
    flat = np.ones((40, 1, 64), dtype=np.float32) * np.arange(40, dtype=np.float32)[:, None, None]  # constant series
    target = tshub.data.Dataset.from_arrays(flat, np.arange(40) % 2, name="flat")
    picked, told = recommend_source(target, {"candidates": candidates}, lambda event: None)
    assert picked in {"Coffee/fcn", "ECG200/fcn", "GunPoint/fcn", "Wine/fcn"} and "advice" not in told
    assert "the ranking carries no information" in told["recommendation_note"]
