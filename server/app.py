"""The FastAPI application: /healthz, and under /v1 datasets, jobs, models and recommendations.

Every /v1 request is authenticated from its headers before a byte of its body is read, and bodies are capped
(uploads at TSHUB_MAX_UPLOAD_MB, JSON at TSHUB_MAX_JSON_KB). Request handlers only touch the database and
storage (in the thread pool); parsing uploads and ranking sources run in isolated child processes under memory
and time limits (server.isolation), and training only ever in worker processes, so neither the event loop nor
the API process can be taken down by a request. Every resource belongs to the token that created it; other
tokens get 404. Per-tenant quotas bound queued jobs and stored bytes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi import Path as InPath
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

import tshub
from server.auth import AuthError, Owner, authenticate, hash_token
from server.config import ConfigError, Settings
from server.db import PAGE_LIMIT, BadCursor, DatasetRecord, Job, open_store, page_of
from server.engines import hide_server_paths
from server.hub_api import router as hub_router
from server.isolation import Budget, IsolatedFailure, Isolator
from server.jobstore import JobConflict, JobNotFound, JobStore, QuotaExceeded
from server.runner import job_options_refusal, json_safe, preprocessing_kind, rank_sources
from server.schemas import (
    DatasetOut,
    DatasetPage,
    Error,
    Health,
    Invalid,
    JobCreate,
    JobOut,
    JobPage,
    JobState,
    ModelDetail,
    ModelInfo,
    RecommendOut,
    RecommendRequest,
)
from server.storage import (
    TenantLocks,
    dataset_bytes_added,
    over_quota,
    raw_bytes_added,
    remove_unreferenced,
    tenant_usage,
)
from server.uploads import ParseOptions, UploadError, chosen_label_column, ingest, store_raw, too_large_message
from tshub.data.readers import Missing, ReadLimits, VariableLength
from tshub.data.splits import SplitOrderName
from tshub.hub import HubError, InvalidModelIdError, list_pretrained, parse_model_id, read_config, resolve
from tshub.hub.checkpoint import CARD_NAME
from tshub.hub.ids import as_model_id
from tshub.models.registry import get_architecture
from tshub.naming import closest

log = logging.getLogger("tshub.server")

UPLOAD_PATH = "/v1/datasets"
FORM_OVERHEAD_BYTES = 64 * 1024  # multipart boundaries and form fields on top of the file bytes
#: Modules the isolation fork server imports once, so each parse or ranking child starts warm.
ISOLATION_PRELOAD = ["server.uploads", "server.runner", "tshub.recommender"]
MODELS_CACHE_S = 10.0
_bearer = HTTPBearer(auto_error=False, description="a token from `tshub token create --name NAME`")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text_of = {
        401: "missing, invalid, expired or revoked token",
        404: "not found, or owned by another token",
        409: "the job or dataset is not in a state that allows this",
        413: "body over TSHUB_MAX_UPLOAD_MB / TSHUB_MAX_JSON_KB, data over the expansion or memory limits, or "
        "storage quota exceeded",
        415: "unsupported file type, or a JSON body not sent as application/json",
        422: "invalid request or malformed file",
        429: "a per-tenant limit is reached: requests in flight (TSHUB_TENANT_CONCURRENCY, on every /v1 route), "
        "queued jobs, or uploads and rankings waiting for a processing slot",
    }
    return {code: {"model": Invalid if code == 422 else Error, "description": text_of[code]} for code in codes}


# ------------------------------------------------------------------------------------------------ dependencies
#: Ids in paths are bounded (422 beyond), so no message echoes an unbounded address back.
DatasetId = Annotated[str, InPath(max_length=64, description="id returned by POST /v1/datasets")]
JobId = Annotated[str, InPath(max_length=64, description="id returned by POST /v1/jobs")]
SourceName = Annotated[str, InPath(max_length=100, description="source of a model id, e.g. Coffee")]
ArchName = Annotated[str, InPath(max_length=64, description="architecture of a model id, e.g. fcn")]


def current_owner(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Owner:
    """The owner ``RequestGate`` authenticated (the bearer dependency only documents the scheme in OpenAPI)."""
    return request.state.owner


OwnerDep = Annotated[Owner, Depends(current_owner)]


def owned_dataset(request: Request, owner: Owner, dataset_id: str) -> DatasetRecord:
    with request.app.state.Session() as session:
        row = session.get(DatasetRecord, dataset_id)
    if row is None or row.owner_id != owner.id:
        raise no_dataset(dataset_id)
    return row


def no_dataset(dataset_id: str) -> HTTPException:
    return HTTPException(404, f"no dataset {dataset_id!r} for this token; upload it with POST /v1/datasets")


# ------------------------------------------------------------------------------------------------ routes
router = APIRouter(prefix="/v1", responses=_errors(429))  # TSHUB_TENANT_CONCURRENCY holds for every route


@router.post(
    "/datasets",
    status_code=201,
    response_model=DatasetOut,
    tags=["datasets"],
    responses=_errors(401, 409, 413, 415, 422),
    summary="Upload a dataset",
)
async def upload_dataset(
    request: Request,
    owner: OwnerDep,
    file: Annotated[
        UploadFile,
        File(
            description="the data: .csv (a series per row, or a long table: a row per series and time step), "
            ".tsv, .txt, .ts, .arff (each optionally .gz) "
            "or .npz (X and y, or each split's X_train, y_train, X_test, y_test); with only this file and no "
            "splits of its own, 15% are held out as test and 20% of the rest as validation (stratified, seed 0; "
            "in time order for sliding windows: split_order)"
        ),
    ],
    test_file: Annotated[
        UploadFile | None,
        File(description="optional test split in the same format (e.g. a UCR _TEST file beside _TRAIN)"),
    ] = None,
    task: Annotated[
        Literal["classification", "regression"] | None, Form(description="inferred from the labels when omitted")
    ] = None,
    label_column: Annotated[
        str | None,
        Form(
            max_length=200,
            description="column (index, or name for headed CSV) of the labels / targets; omitted: the first, unless "
            "a header names another like a label (refused then, naming it)",
        ),
    ] = None,
    variable_length: Annotated[
        VariableLength, Form(description="series of different lengths: refuse, truncate, pad or resample")
    ] = "error",
    missing: Annotated[Missing, Form(description="missing values inside a series: refuse or interpolate")] = "error",
    name: Annotated[str | None, Form(max_length=100, description="dataset name (default: the file name)")] = None,
    split_order: Annotated[
        SplitOrderName,
        Form(
            description="how the validation and test splits carved here (for every job on this dataset) are made: "
            "'auto': chronological blocks, each after a purged gap so that no held-out window shares a time step "
            "with a training one, when the rows are sliding windows of a series (each row the last one moved a "
            "few steps on; the end of each series for the windows of several), else stratified at random; 'time': "
            "chronological blocks (rows in time order); "
            "'random': stratified at random, even for windows (which flatters their scores). Splits the files bring "
            "(a test_file) are kept"
        ),
    ] = "auto",
) -> DatasetOut:
    """Stream the file(s) to content-addressed storage (size-limited), parse them with tshub's readers and
    store the arrays; answers with the dataset id and a summary (sizes, classes or target range, warnings)."""
    settings: Settings = request.app.state.settings
    Session = request.app.state.Session
    await refuse_unexpected_parts(request)
    uploads = [f for f in (file, test_file) if f is not None]
    filenames = []
    for upload in uploads:
        if not upload.filename:
            raise HTTPException(422, "each file part needs a filename with its format's extension, e.g. data.csv")
        filenames.append(upload.filename)
    used = await run_in_threadpool(tenant_usage, Session, owner.id)
    check_storage_quota(settings, used)
    storage = request.app.state.storage
    stored = [
        await run_in_threadpool(store_raw, u.file, filename, storage, settings.max_upload_bytes)
        for u, filename in zip(uploads, filenames, strict=True)
    ]
    added = await run_in_threadpool(raw_bytes_added, Session, owner.id, {f.sha256: f.size for f in stored})
    check_storage_quota(settings, used + added)
    column = chosen_label_column(label_column)
    options = ParseOptions(
        task=task,
        label_column=column,
        variable_length=variable_length,
        missing=missing,
        name=name or None,
        split_order=split_order,
    )
    limits = ReadLimits(
        max_bytes=int(settings.max_expanded_mb * 2**20), max_series=settings.max_series, max_values=settings.max_values
    )
    budget = Budget(
        int(settings.parse_memory_mb * 2**20), settings.parse_timeout_s, "TSHUB_PARSE_MEMORY_MB, TSHUB_PARSE_TIMEOUT_S"
    )
    what = f"parsing {', '.join(repr(f.filename) for f in stored)}"
    ingested = await run_in_threadpool(
        request.app.state.isolator.run, owner.id, what, budget, ingest, stored, options, storage, owner.id, limits
    )

    def insert() -> DatasetRecord:
        """Checked against what the tenant stores now, under its lock: its other uploads may have landed since ``used``
        was read, and the deletion of a dataset whose parsed file this one reuses may have removed it."""
        with request.app.state.tenant_locks(owner.id):
            added = dataset_bytes_added(Session, owner.id, ingested.path, ingested.bytes)
            refusal = over_quota(settings, tenant_usage(Session, owner.id) + added)
            if refusal is not None:
                remove_unreferenced(storage, Session, ingested.path)
                raise HTTPException(413, refusal)
            if storage.size(ingested.path) is None:
                raise HTTPException(
                    409, "the dataset this upload shares its data with was deleted meanwhile; upload it again"
                )
            with Session.begin() as session:
                row = DatasetRecord(
                    owner_id=owner.id,
                    filename=stored[0].filename[:300],
                    raw_sha256=ingested.raw_sha256,
                    path=ingested.path,
                    summary=ingested.summary,
                    bytes=ingested.bytes,
                )
                session.add(row)
        return row

    return DatasetOut.of(await run_in_threadpool(insert))


async def refuse_unexpected_parts(request: Request) -> None:
    """A part the upload does not take (an option misspelt, or one only the CLI has) would be ignored, and a second
    ``file`` (or ``test_file``) part would silently replace the first (the form keeps the last one): the client would
    believe its option applied or both files were stored, so refuse either (422)."""
    form = await request.form()  # the form FastAPI already parsed, not a second read of the body
    taken = [field.alias for field in request.scope["route"].dependant.body_params]
    for part in form:
        if part not in taken:
            raise HTTPException(
                422,
                f"the upload has a part named {bounded(part)!r}, which it does not take; "
                f"{did_you_mean(part, taken)}it takes {', '.join(taken)} (GET /docs describes each)",
            )
    for part in ("file", "test_file"):
        count = len(form.getlist(part))
        if count > 1:
            raise HTTPException(
                422,
                f"the upload has {count} parts named {part!r}; it takes one 'file' (and optionally one "
                "'test_file' for its test split): upload each dataset in a request of its own",
            )


def check_storage_quota(settings: Settings, used: int) -> None:
    refusal = over_quota(settings, used)
    if refusal is not None:
        raise HTTPException(413, refusal)


Limit = Annotated[int, Query(ge=1, le=500, description="items per page")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")]


@router.get(
    "/datasets",
    response_model=DatasetPage,
    tags=["datasets"],
    responses=_errors(401, 422),
    summary="List your datasets, newest first, a page at a time",
)
def list_datasets(request: Request, owner: OwnerDep, limit: Limit = PAGE_LIMIT, cursor: Cursor = None) -> DatasetPage:
    with request.app.state.Session() as session:
        rows, next_cursor = page_of(
            session, select(DatasetRecord).where(DatasetRecord.owner_id == owner.id), DatasetRecord, limit, cursor
        )
    return DatasetPage(items=[DatasetOut.of(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/datasets/{dataset_id}",
    response_model=DatasetOut,
    tags=["datasets"],
    responses=_errors(401, 404),
    summary="A dataset's summary",
)
def get_dataset(request: Request, owner: OwnerDep, dataset_id: DatasetId) -> DatasetOut:
    return DatasetOut.of(owned_dataset(request, owner, dataset_id))


@router.delete(
    "/datasets/{dataset_id}",
    status_code=204,
    tags=["datasets"],
    responses=_errors(401, 404, 409),
    summary="Delete a dataset and its files",
)
def delete_dataset(request: Request, owner: OwnerDep, dataset_id: DatasetId) -> Response:
    """Refused (409) while any of your jobs uses it: delete those jobs first. Raw uploads no other dataset
    uses are swept from the storage within minutes."""
    row = owned_dataset(request, owner, dataset_id)
    Session = request.app.state.Session
    try:
        with Session.begin() as session:
            jobs = jobs_using(session, dataset_id)
            if not jobs:
                session.execute(delete(DatasetRecord).where(DatasetRecord.id == dataset_id))
    except IntegrityError:  # a job on it was created between the count and the delete (the jobs' foreign key)
        with Session() as session:
            jobs = jobs_using(session, dataset_id)
    if jobs:
        raise HTTPException(
            409,
            f"dataset {dataset_id} is used by {jobs} job(s); delete them first "
            "(GET /v1/jobs, DELETE /v1/jobs/{id}; a queued or running one must be cancelled)",
        )
    with request.app.state.tenant_locks(owner.id):  # not while an upload reusing the file inserts its row
        remove_unreferenced(request.app.state.storage, Session, row.path)
    return Response(status_code=204)


def jobs_using(session: Any, dataset_id: str) -> int:
    """How many jobs name the dataset, which keeps it (the jobs' foreign key)."""
    return session.scalar(select(func.count()).select_from(Job).where(Job.dataset_id == dataset_id))


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobOut,
    tags=["jobs"],
    responses=_errors(401, 404, 413, 415, 422),
    summary="Start a fine-tune job",
)
def create_job(request: Request, response: Response, owner: OwnerDep, body: JobCreate) -> JobOut:
    """Queue a fine-tune of ``model`` (or the recommender's pick) on an uploaded dataset. The job is stored
    before this answers; poll the ``Location`` until ``state`` is succeeded, failed or cancelled. Refused (413)
    while your token stores more than its quota: a job stores a model."""
    settings: Settings = request.app.state.settings
    dataset = owned_dataset(request, owner, body.dataset_id)
    check_storage_quota(settings, tenant_usage(request.app.state.Session, owner.id))
    if body.arch is not None:
        check_architecture(body.arch)
        check_arch_of_named_model(body.model, body.arch)
        if body.model == "auto":
            check_arch_offered(request, body.arch)
    if body.budget_s is not None and body.budget_s > settings.max_job_s:
        raise HTTPException(
            422,
            f"budget_s={body.budget_s:g} exceeds this server's limit of {settings.max_job_s:g} s "
            "per job (TSHUB_MAX_JOB_S)",
        )
    if body.budget_s is not None and body.baseline and 2 * body.budget_s > settings.max_job_s:
        raise HTTPException(  # the job would be stopped in its baseline, its finished fine-tune lost
            422,
            f"budget_s={body.budget_s:g} bounds the fine-tune and again its baseline (from scratch): "
            f"{2 * body.budget_s:g} s, beyond this server's limit of {settings.max_job_s:g} s per job "
            f"(TSHUB_MAX_JOB_S); ask for at most {settings.max_job_s / 2:g} s, or no baseline",
        )
    model, preprocessing = "auto", None  # the source of 'auto' is known once its worker has ranked
    if body.model != "auto":
        model, folder = available_checkpoint(request, body.model, status=422)
        preprocessing = preprocessing_kind(read_config(folder).get("preprocessing"))
    refusal = job_options_refusal(
        body.spec(), dataset.summary["task"], dataset.summary["channels"], model, preprocessing
    )
    if refusal is not None:
        raise HTTPException(422, refusal)
    try:
        job = request.app.state.jobs.create(
            owner.id,
            body.dataset_id,
            {
                **body.spec(),
                "model": model,
                "candidates": offered_candidates(request),
                "recommend_time_limit_s": settings.recommend_timeout_s,
                "recommend_max_series": settings.recommend_max_series,
                "recommend_cache_scope": owner.id,
            },
            max_queued=settings.tenant_queued,
        )
    except IntegrityError:  # the dataset was deleted since it was read (the jobs' foreign key)
        raise no_dataset(body.dataset_id) from None
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobOut.of(job)


@router.get(
    "/jobs",
    response_model=JobPage,
    tags=["jobs"],
    responses=_errors(401, 422),
    summary="List your jobs, newest first, a page at a time",
)
def list_jobs(
    request: Request,
    owner: OwnerDep,
    state: Annotated[JobState | None, Query()] = None,
    limit: Limit = PAGE_LIMIT,
    cursor: Cursor = None,
) -> JobPage:
    jobs, next_cursor = request.app.state.jobs.page(owner.id, state=state, limit=limit, cursor=cursor)
    return JobPage(items=[JobOut.of(j) for j in jobs], next_cursor=next_cursor)


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    tags=["jobs"],
    responses=_errors(401, 404),
    summary="A job's state, progress and metrics",
)
def get_job(request: Request, owner: OwnerDep, job_id: JobId) -> JobOut:
    return JobOut.of(request.app.state.jobs.get(owner.id, job_id))


@router.post(
    "/jobs/{job_id}/cancel",
    status_code=202,
    response_model=JobOut,
    tags=["jobs"],
    responses=_errors(401, 404, 409),
    summary="Cancel a job",
)
def cancel_job(request: Request, owner: OwnerDep, job_id: JobId) -> JobOut:
    """A queued job is cancelled at once; a running one is stopped by its worker within a heartbeat
    (``cancel_requested`` is true until then)."""
    return JobOut.of(request.app.state.jobs.cancel(owner.id, job_id))


@router.delete(
    "/jobs/{job_id}",
    status_code=204,
    tags=["jobs"],
    responses=_errors(401, 404, 409),
    summary="Delete a finished job and its model",
)
def delete_job(request: Request, owner: OwnerDep, job_id: JobId) -> Response:
    """Only succeeded, failed or cancelled jobs (409 otherwise: cancel first); the model zip goes with it."""
    model_path = request.app.state.jobs.delete(owner.id, job_id)
    if model_path:
        request.app.state.storage.delete(model_path)
    return Response(status_code=204)


@router.get(
    "/jobs/{job_id}/model",
    tags=["jobs"],
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/zip": {}},
            "description": "the checkpoint folder as a zip; unzip and pass the folder to tshub.load_pretrained",
        },
        **_errors(401, 404, 409),
    },
    summary="Download the fine-tuned checkpoint",
)
def download_model(request: Request, owner: OwnerDep, job_id: JobId) -> FileResponse:
    job = request.app.state.jobs.get(owner.id, job_id)
    if job.state != "succeeded" or not job.model_path:
        raise HTTPException(409, f"job {job_id} is {job.state}; its model can be downloaded once it has succeeded")
    path = request.app.state.storage.local_path(job.model_path)
    if path is None:
        raise HTTPException(404, f"the model file of job {job_id} is missing from the server's storage")
    return FileResponse(path, media_type="application/zip", filename=f"tshub-job-{job_id}.zip")


@router.get(
    "/models",
    response_model=list[ModelInfo],
    tags=["models"],
    responses=_errors(401),
    summary="Source checkpoints available for fine-tuning",
)
def get_models(request: Request, owner: OwnerDep) -> list[ModelInfo]:
    return [ModelInfo(**{k: v for k, v in row.items() if k != "location"}) for row in available_models(request)]


@router.get(
    "/models/{source}/{arch}",
    response_model=ModelDetail,
    tags=["models"],
    responses=_errors(401, 404),
    summary="A checkpoint's config and model card",
)
def get_model(request: Request, owner: OwnerDep, source: SourceName, arch: ArchName) -> ModelDetail:
    model_id, folder = available_checkpoint(request, f"{source}/{arch}")
    card = folder / CARD_NAME
    return ModelDetail(id=model_id, config=read_config(folder), card=card.read_text() if card.is_file() else "")


@router.post(
    "/recommend",
    response_model=RecommendOut,
    tags=["models"],
    responses=_errors(401, 404, 413, 415, 422),
    summary="Rank source checkpoints for a dataset",
)
async def recommend(request: Request, owner: OwnerDep, body: RecommendRequest) -> RecommendOut:
    """Score every source checkpoint (or those of ``arch``) on the dataset's training split (the recommender's
    fast path: a screen, then a shortlist on a sample of at most TSHUB_RECOMMEND_MAX_SERIES series); the best
    first. What a job with ``model: "auto"`` would pick is the first row (with the default method). Runs
    isolated, one at a time per token, within TSHUB_RECOMMEND_TIMEOUT_S."""
    settings: Settings = request.app.state.settings
    row = await run_in_threadpool(owned_dataset, request, owner, body.dataset_id)
    if body.arch is not None:
        check_architecture(body.arch)
        await run_in_threadpool(check_arch_offered, request, body.arch)
    candidates = offered_candidates(request)
    budget = Budget(
        int(settings.parse_memory_mb * 2**20),
        settings.recommend_timeout_s,
        "TSHUB_PARSE_MEMORY_MB, TSHUB_RECOMMEND_TIMEOUT_S",
    )
    path = await run_in_threadpool(request.app.state.storage.local_path, row.path)
    if path is None:
        raise HTTPException(404, f"the data of dataset {row.id} is missing from the server's storage; upload it again")
    ranking = await run_in_threadpool(
        request.app.state.isolator.run,
        owner.id,
        "ranking the sources",
        budget,
        rank_sources,
        path,
        body.k,
        body.arch,
        body.method,
        candidates,
        settings.recommend_max_series,
        body.allow_self_transfer,
        0.9 * settings.recommend_timeout_s,  # a clear answer before the kill
        owner.id,
    )
    return RecommendOut(dataset_id=row.id, **ranking)


def check_architecture(arch: str) -> None:
    try:
        get_architecture(arch)
    except KeyError as err:
        raise HTTPException(422, str(err.args[0])) from None


def check_arch_of_named_model(model: str, arch: str) -> None:
    """``arch`` narrows ``model='auto'``; beside a named checkpoint of another architecture it would be ignored
    and the job would not be the one asked for."""
    named, wanted = as_model_id(model), get_architecture(arch).arch
    if named is not None and named.arch != wanted:
        raise HTTPException(
            422,
            f"arch={arch!r} contradicts model={model!r}, a {named.arch} checkpoint: arch only narrows "
            f"model='auto'; drop it, or name a {wanted} checkpoint from GET /v1/models",
        )


def check_arch_offered(request: Request, arch: str) -> None:
    """``arch`` narrows the ranking to this server's sources of that architecture: with none, say which it has (the
    recommender's own refusal tells a library user to build the zoo or pull checkpoints, which a client cannot)."""
    wanted = get_architecture(arch).arch
    offered = sorted({row["arch"] for row in available_models(request)})
    if wanted in offered:
        return
    if not offered:
        raise HTTPException(
            422, "this server offers no source checkpoint (GET /v1/models lists none); ask its operator for some"
        )
    raise HTTPException(
        422,
        f"no source checkpoint of arch {arch!r} on this server; its sources are of arch {', '.join(offered)} "
        "(GET /v1/models lists them): leave arch out, or give one of those",
    )


def available_models(request: Request) -> list[dict[str, Any]]:
    """The checkpoints this service offers: every one the hub lists, or those named by TSHUB_SERVER_SOURCES
    (the listing is cached for a few seconds: it reads every checkpoint's config)."""
    cache = request.app.state.models_cache
    now = time.monotonic()
    if cache.get("until", 0.0) < now:
        rows = list_pretrained()
        sources = request.app.state.settings.sources
        if sources is not None:
            keys = {parse_model_id(s).key for s in sources}
            rows = [row for row in rows if parse_model_id(row["id"]).key in keys]
        cache.update(rows=rows, until=now + MODELS_CACHE_S)
    return cache["rows"]


def offered_candidates(request: Request) -> list[str] | None:
    """What the recommender ranks: None (every checkpoint the hub lists) without TSHUB_SERVER_SOURCES, else every
    configured id, canonical where listed and as configured where not, so that one this server cannot find is a
    skipped row of the ranking rather than silently gone."""
    sources = request.app.state.settings.sources
    if not sources:
        return None
    listed = {parse_model_id(row["id"]).key: row["id"] for row in available_models(request)}
    return list(dict.fromkeys(listed.get(parse_model_id(s).key, s) for s in sources))


def warn_unlisted_sources(sources: tuple[str, ...] | None) -> None:
    """Log the TSHUB_SERVER_SOURCES ids no model store lists at startup: an operator's typo must not go unnoticed
    (each also shows as a skipped row of every ranking)."""
    if not sources:
        return  # every listed checkpoint is offered: nothing to check, and no listing read at start-up
    listed = {parse_model_id(row["id"]).key for row in list_pretrained()}
    unlisted = [s for s in sources if parse_model_id(s).key not in listed]
    if unlisted:
        log.warning(
            "TSHUB_SERVER_SOURCES names %s, which no model store lists (TSHUB_HOME, TSHUB_ZOO, their index); they "
            "are offered as skipped rows of every ranking: check the ids against `tshub list`, or fetch them "
            "with `tshub pull ID`",
            ", ".join(unlisted),
        )


def available_checkpoint(request: Request, text: str, status: int = 404) -> tuple[str, Path]:
    """The canonical id and folder of a checkpoint listed by GET /v1/models (ids match case-insensitively) whose
    files this server has or can fetch (an id only listed by an index is refused now, with ``status``, not when its
    job runs); never a folder of the server's working directory."""
    try:
        key = parse_model_id(text).key
    except InvalidModelIdError as err:
        raise HTTPException(status, str(err)) from None
    offered = [row["id"] for row in available_models(request)]
    model_id = next((row_id for row_id in offered if parse_model_id(row_id).key == key), None)
    if model_id is None:
        guess = did_you_mean(text, offered)
        raise HTTPException(status, f"no checkpoint {text!r} on this server; {guess}GET /v1/models lists the sources")
    try:
        folder = resolve(model_id, local_folders=False)
    except HubError:
        raise HTTPException(
            status,
            f"checkpoint {model_id} is listed but its files are not available on this server "
            "(not built or pulled, and the Hub is unreachable); choose another from "
            "GET /v1/models",
        ) from None
    return model_id, folder


# ------------------------------------------------------------------------------------------------ the app
class RequestGate:
    """ASGI middleware in front of every /v1 route: authenticate from the headers before any body byte is read
    (401 otherwise), refuse a tenant's requests beyond TSHUB_TENANT_CONCURRENCY in flight (429, so one tenant's
    flood cannot queue ahead of everyone), then cap the body (413), from Content-Length or while it streams:
    TSHUB_MAX_UPLOAD_MB for uploads, TSHUB_MAX_JSON_KB for everything else. The Hub's writes (which authenticate
    and cap their bodies themselves) count towards the same limit per token: a commit's body is held in memory."""

    def __init__(self, app: Any, settings: Settings, Session: Any):
        self.app, self.settings, self.Session = app, settings, Session
        self.in_flight: Counter[str] = Counter()  # per token hash; only the event loop touches it

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        scheme, _, token = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        if not scope["path"].startswith("/v1/"):
            hub_write = token and scope["method"] not in ("GET", "HEAD") and scope["path"].startswith("/api/")
            return await (self._counted(token, self.app) if hub_write else self.app)(scope, receive, send)
        if not token:
            return await _unauthorized(
                "missing bearer token: send 'Authorization: Bearer <token>' (create one "
                "with `tshub token create --name NAME`)"
            )(scope, receive, send)

        async def authenticated(scope: dict, receive: Callable[[], Awaitable[dict]], send: Any) -> None:
            try:
                owner = await anyio.to_thread.run_sync(authenticate, self.Session, token)
            except AuthError as err:
                return await _unauthorized(str(err))(scope, receive, send)
            scope.setdefault("state", {})["owner"] = owner
            await self._capped(scope, receive, send)

        await self._counted(token, authenticated)(scope, receive, send)

    def _counted(self, token: str, app: Any) -> Any:
        """``app`` as one of the token's requests in flight, or a 429 beyond TSHUB_TENANT_CONCURRENCY. Counted per
        token (a token is a tenant) before authenticating, so a flood's excess costs no thread hop and no database
        query: it is answered from memory."""
        key = hash_token(token)

        async def counted(scope: dict, receive: Callable[[], Awaitable[dict]], send: Any) -> None:
            if self.in_flight[key] >= self.settings.tenant_concurrency:
                return await JSONResponse(
                    {
                        "detail": f"too many concurrent requests for this token (limit "
                        f"{self.settings.tenant_concurrency}, TSHUB_TENANT_CONCURRENCY); "
                        "wait for some answers and retry"
                    },
                    429,
                    headers={"Retry-After": "1"},
                )(scope, receive, send)
            self.in_flight[key] += 1
            try:
                await app(scope, receive, send)
            finally:
                self.in_flight[key] -= 1
                if not self.in_flight[key]:
                    del self.in_flight[key]

        return counted

    async def _capped(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Any) -> None:
        headers = dict(scope["headers"])
        upload = scope["method"] == "POST" and scope["path"].rstrip("/") == UPLOAD_PATH
        limit = self.settings.max_upload_bytes + FORM_OVERHEAD_BYTES if upload else self.settings.max_json_bytes
        message = (
            too_large_message(self.settings.max_upload_bytes)
            if upload
            else (f"request body too large: the limit is {self.settings.max_json_kb:g} KB (TSHUB_MAX_JSON_KB)")
        )
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await JSONResponse({"detail": message}, 413)(scope, receive, send)
        received = 0

        async def counted() -> dict:
            nonlocal received
            event = await receive()
            received += len(event.get("body", b""))
            if received > limit:
                raise HTTPException(413, message)
            return event

        await self.app(scope, counted, send)


def _unauthorized(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, 401, headers={"WWW-Authenticate": "Bearer"})


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service app; ``uvicorn --factory server.app:create_app`` builds it from the environment."""
    settings = settings or Settings.from_env()
    for source in settings.sources or ():
        try:
            parse_model_id(source)
        except InvalidModelIdError as err:
            raise ConfigError(f"TSHUB_SERVER_SOURCES: {err}") from None
    warn_unlisted_sources(settings.sources)
    settings.storage.mkdir(parents=True, exist_ok=True)
    app = FastAPIOffline(  # FastAPI, with /docs and /redoc served from bundled files instead of a CDN
        title="tshub fine-tune service",
        version=tshub.__version__,
        description="Upload a time-series dataset, fine-tune a pretrained tshub checkpoint on it, download the "
        "result. Every /v1 endpoint needs `Authorization: Bearer <token>`.",
    )
    app.state.settings = settings
    app.state.storage = settings.object_store()
    if hasattr(app.state.storage, "check"):
        app.state.storage.check()
    app.state.Session = open_store(settings.db_url)
    app.state.jobs = JobStore(app.state.Session)
    app.state.isolator = Isolator(ISOLATION_PRELOAD, slots=settings.parse_slots)
    app.state.tenant_locks = TenantLocks()
    app.state.models_cache = {}

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Liveness and database check")
    def healthz() -> Health:
        with app.state.Session() as session:
            session.execute(text("SELECT 1"))
        return Health(version=tshub.__version__)

    app.include_router(router)
    app.include_router(hub_router)
    from server.web.pages import mount_pages  # imported here: the pages use this module's functions

    mount_pages(app)
    _add_error_handlers(app)
    app.add_middleware(RequestGate, settings=settings, Session=app.state.Session)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    def handler(status: int) -> Callable[[Request, Exception], JSONResponse]:
        return lambda request, err: JSONResponse({"detail": str(err.args[0]) if err.args else ""}, status)

    app.add_exception_handler(JobNotFound, handler(404))
    app.add_exception_handler(JobConflict, handler(409))
    app.add_exception_handler(QuotaExceeded, handler(429))
    app.add_exception_handler(BadCursor, handler(422))
    app.add_exception_handler(HubError, lambda request, err: JSONResponse({"detail": hide_server_paths(str(err))}, 404))
    for kind in (UploadError, IsolatedFailure):
        app.add_exception_handler(kind, lambda request, err: JSONResponse({"detail": str(err)}, err.status))

    @app.exception_handler(StarletteHTTPException)
    async def not_found_page(request: Request, err: StarletteHTTPException) -> Response:
        """A web page's address that nothing serves gets the pages' own 404 page, not the API's JSON."""
        from server.web.pages import PREFIX, page  # imported here: the pages use this module's functions

        if err.status_code == 404 and (request.url.path + "/").startswith(f"{PREFIX}/"):
            message = no_such_page(request) if err.detail == "Not Found" else err.detail  # Starlette's default
            return page(request, "error.html", status=404, title="Not found", message=message)
        return await http_exception_handler(request, err)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> Response:
        """FastAPI's 422, with the offending values made JSON-safe (a NaN in the body would otherwise be a 500) and
        cut short (``bounded``); a 415 for a JSON body sent as another type (FastAPI hands such a body over unread,
        as bytes); a web page's address that no page has (an id with other characters) gets the pages' own 404
        page."""
        from server.web.pages import PREFIX, page  # imported here: the pages use this module's functions

        if request.url.path.startswith(f"{PREFIX}/"):
            query = next((e for e in err.errors() if e["loc"][0] == "query"), None)
            if query is not None:  # the address is a page; its search fields are not what it takes
                limit = (query.get("ctx") or {}).get("max_length")
                message = f"the search field {query['loc'][-1]} " + (
                    f"takes at most {limit} characters." if limit else f"is not valid: {query['msg']}."
                )
                return page(request, "error.html", status=400, title="Bad search", message=message)
            return page(request, "error.html", status=404, title="Not found", message=no_such_page(request))
        if isinstance(err.body, bytes):
            sent = request.headers.get("content-type")
            return JSONResponse(
                {
                    "detail": "the request body is JSON: send it with 'Content-Type: application/json' (it came as "
                    f"{bounded(sent) if sent else 'no Content-Type'}; with curl, add -H 'Content-Type: "
                    "application/json')"
                },
                415,
            )
        errors = [bounded_error(naming_the_fields(request, e)) for e in json_safe(err.errors())]
        return JSONResponse({"detail": errors}, 422)

    @app.exception_handler(Exception)
    async def internal(request: Request, err: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the server log has the details"}, 500)


#: Characters of a refused value a 422 echoes back: an id or field of any length is not sent back whole.
MAX_ECHO = 64


def naming_the_fields(request: Request, error: dict[str, Any]) -> dict[str, Any]:
    """An unknown field of a JSON body, which FastAPI answers only 'Extra inputs are not permitted', also says which
    fields the body takes and the closest (``max_epochs``, the CLI's and Python's name, is a job's ``epochs``)."""
    loc = error["loc"]
    if error["type"] != "extra_forbidden" or len(loc) != 2 or loc[0] != "body":
        return error
    params = request.scope["route"].dependant.body_params
    model = params[0].field_info.annotation if len(params) == 1 else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return error
    fields = list(model.model_fields)
    guess = did_you_mean(str(loc[1]), fields)
    return {
        **error,
        "msg": f"{error['msg']}: {bounded(loc[1])!r} is no field of this body; {guess}it takes {', '.join(fields)}",
    }


def bounded_error(error: dict[str, Any]) -> dict[str, Any]:
    """One of FastAPI's invalid fields with its input and location cut to MAX_ECHO characters each."""
    return {**error, **{key: bounded(error[key]) for key in ("input", "loc") if key in error}}


def bounded(value: Any) -> Any:
    """``value`` (JSON: strings, lists, dicts) with every string longer than MAX_ECHO cut, saying its length, and
    lone surrogates (JSON's "\\ud800", which pydantic refuses and UTF-8 cannot encode) written as escapes."""
    if isinstance(value, str):
        value = value.encode("utf-8", "backslashreplace").decode()
        return f"{value[:MAX_ECHO]}… ({len(value)} characters)" if len(value) > MAX_ECHO else value
    if isinstance(value, list):
        return [bounded(v) for v in value]
    if isinstance(value, dict):
        return {bounded(k): bounded(v) for k, v in value.items()}
    return value


def did_you_mean(text: str, choices: list[str]) -> str:
    """'did you mean 'a' or 'b'? ' for the choices closest to a name the client sent, or nothing when none is close."""
    guesses = closest(text, choices)
    return f"did you mean {' or '.join(map(repr, guesses))}? " if guesses else ""


def no_such_page(request: Request) -> str:
    return f"no such page: {request.url.path[:100]} is not the address of a job, dataset or model."
