"""The FastAPI application: /healthz, and under /v1 datasets, jobs, models and recommendations.

Request handlers only touch the database and storage (in the thread pool); parsing runs in the thread pool
too, and training only ever in worker processes, so the event loop never blocks. Every resource belongs to
the token that created it; other tokens get 404.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, File, Form, HTTPException, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, text

import tshub
from tshub.data.readers import MISSING, VARIABLE_LENGTH
from tshub.hub import HubError, InvalidModelIdError, list_models, parse_model_id, read_config, resolve
from tshub.hub.checkpoint import CARD_NAME
from tshub.models.registry import get_architecture
from tshub.recommend import RecommendError

from server.auth import AuthError, Owner, authenticate
from server.config import ConfigError, Settings
from server.db import DatasetRecord, open_store
from server.hub_api import router as hub_router
from server.jobstore import JobConflict, JobNotFound, JobStore
from server.schemas import (DatasetOut, Error, Health, JobCreate, JobOut, ModelDetail, ModelInfo, Recommendation,
                            RecommendOut, RecommendRequest)
from server.runner import json_safe
from server.uploads import ParseOptions, UploadError, ingest, load_npz, store_raw, too_large_message

log = logging.getLogger("tshub.server")

UPLOAD_PATH = "/v1/datasets"
FORM_OVERHEAD_BYTES = 64 * 1024  # multipart boundaries and form fields on top of the file bytes
_bearer = HTTPBearer(auto_error=False, description="a token from `tshub token create --name NAME`")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text_of = {401: "missing, invalid or revoked token", 404: "not found, or owned by another token",
               409: "the job is not in a state that allows this", 413: "upload over TSHUB_MAX_UPLOAD_MB",
               415: "unsupported file type", 422: "invalid request or malformed file"}
    return {code: {"model": Error, "description": text_of[code]} for code in codes}


# ------------------------------------------------------------------------------------------------ dependencies
def current_owner(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Owner:
    if credentials is None:
        raise HTTPException(401, "missing bearer token: send 'Authorization: Bearer <token>' (create one with "
                                 "`tshub token create --name NAME`)", headers={"WWW-Authenticate": "Bearer"})
    try:
        return authenticate(request.app.state.Session, credentials.credentials)
    except AuthError as err:
        raise HTTPException(401, str(err), headers={"WWW-Authenticate": "Bearer"}) from None


OwnerDep = Annotated[Owner, Depends(current_owner)]


def owned_dataset(request: Request, owner: Owner, dataset_id: str) -> DatasetRecord:
    with request.app.state.Session() as session:
        row = session.get(DatasetRecord, dataset_id)
    if row is None or row.owner_id != owner.id:
        raise HTTPException(404, f"no dataset {dataset_id!r} for this token; upload it with POST /v1/datasets")
    return row


# ------------------------------------------------------------------------------------------------ routes
router = APIRouter(prefix="/v1")


@router.post("/datasets", status_code=201, response_model=DatasetOut, tags=["datasets"],
             responses=_errors(401, 413, 415, 422), summary="Upload a dataset")
async def upload_dataset(
    request: Request, owner: OwnerDep,
    file: Annotated[UploadFile, File(description="the data: .csv, .tsv, .txt, .ts, .arff (each optionally .gz) "
                                                 "or .npz; with only this file, 15% are held out as test and 20% "
                                                 "of the rest as validation (stratified, seed 0)")],
    test_file: Annotated[UploadFile | None, File(description="optional test split in the same format "
                                                             "(e.g. a UCR _TEST file beside _TRAIN)")] = None,
    task: Annotated[Literal["classification", "regression"] | None,
                    Form(description="inferred from the labels when omitted")] = None,
    label_column: Annotated[str, Form(max_length=200, description="column (index, or name for headed CSV) of "
                                                                  "the labels / targets")] = "0",
    variable_length: Annotated[Literal[VARIABLE_LENGTH], Form(description="series of different lengths: refuse, "
                                                                          "truncate, pad or resample")] = "error",
    missing: Annotated[Literal[MISSING], Form(description="missing values inside a series: refuse or "
                                                          "interpolate")] = "error",
    name: Annotated[str | None, Form(max_length=100, description="dataset name (default: the file name)")] = None,
) -> DatasetOut:
    """Stream the file(s) to content-addressed storage (size-limited), parse them with tshub's readers and
    store the arrays; answers with the dataset id and a summary (sizes, classes or target range, warnings)."""
    settings: Settings = request.app.state.settings
    uploads = [f for f in (file, test_file) if f is not None]
    for upload in uploads:
        if not upload.filename:
            raise HTTPException(422, "each file part needs a filename with its format's extension, e.g. data.csv")
    limit = settings.max_upload_bytes
    stored = [await run_in_threadpool(store_raw, u.file, u.filename, settings.storage, limit) for u in uploads]
    column: int | str = int(label_column) if re.fullmatch(r"-?\d+", label_column.strip()) else label_column
    options = ParseOptions(task=task, label_column=column, variable_length=variable_length, missing=missing,
                           name=name or None)
    ingested = await run_in_threadpool(ingest, stored, options, settings.storage)

    def insert() -> DatasetRecord:
        with request.app.state.Session.begin() as session:
            row = DatasetRecord(owner_id=owner.id, filename=stored[0].filename[:300], raw_sha256=ingested.raw_sha256,
                                path=ingested.path, summary=ingested.summary)
            session.add(row)
        return row

    return DatasetOut.of(await run_in_threadpool(insert))


@router.get("/datasets", response_model=list[DatasetOut], tags=["datasets"], responses=_errors(401),
            summary="List your datasets")
def list_datasets(request: Request, owner: OwnerDep) -> list[DatasetOut]:
    with request.app.state.Session() as session:
        rows = session.scalars(select(DatasetRecord).where(DatasetRecord.owner_id == owner.id)
                               .order_by(DatasetRecord.created_at.desc()).limit(500)).all()
    return [DatasetOut.of(r) for r in rows]


@router.get("/datasets/{dataset_id}", response_model=DatasetOut, tags=["datasets"], responses=_errors(401, 404),
            summary="A dataset's summary")
def get_dataset(request: Request, owner: OwnerDep, dataset_id: str) -> DatasetOut:
    return DatasetOut.of(owned_dataset(request, owner, dataset_id))


@router.post("/jobs", status_code=202, response_model=JobOut, tags=["jobs"], responses=_errors(401, 404, 422),
             summary="Start a fine-tune job")
def create_job(request: Request, response: Response, owner: OwnerDep, body: JobCreate) -> JobOut:
    """Queue a fine-tune of ``model`` (or the recommender's pick) on an uploaded dataset. The job is stored
    before this answers; poll the ``Location`` until ``state`` is succeeded, failed or cancelled."""
    owned_dataset(request, owner, body.dataset_id)
    if body.arch is not None:
        check_architecture(body.arch)
    model = body.model if body.model == "auto" else known_model_id(request, body.model, status=422)
    candidates = [row["id"] for row in available_models(request)] if request.app.state.settings.sources else None
    job = request.app.state.jobs.create(owner.id, body.dataset_id, {**body.spec(), "model": model,
                                                                     "candidates": candidates})
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobOut.of(job)


@router.get("/jobs", response_model=list[JobOut], tags=["jobs"], responses=_errors(401), summary="List your jobs")
def list_jobs(request: Request, owner: OwnerDep) -> list[JobOut]:
    return [JobOut.of(j) for j in request.app.state.jobs.list(owner.id)]


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"], responses=_errors(401, 404),
            summary="A job's state, progress and metrics")
def get_job(request: Request, owner: OwnerDep, job_id: str) -> JobOut:
    return JobOut.of(request.app.state.jobs.get(owner.id, job_id))


@router.post("/jobs/{job_id}/cancel", status_code=202, response_model=JobOut, tags=["jobs"],
             responses=_errors(401, 404, 409), summary="Cancel a job")
def cancel_job(request: Request, owner: OwnerDep, job_id: str) -> JobOut:
    """A queued job is cancelled at once; a running one is stopped by its worker within a heartbeat
    (``cancel_requested`` is true until then)."""
    return JobOut.of(request.app.state.jobs.cancel(owner.id, job_id))


@router.get("/jobs/{job_id}/model", tags=["jobs"], response_class=FileResponse,
            responses={200: {"content": {"application/zip": {}},
                             "description": "the checkpoint folder as a zip; unzip and pass the folder to "
                                            "tshub.load_pretrained"}, **_errors(401, 404, 409)},
            summary="Download the fine-tuned checkpoint")
def download_model(request: Request, owner: OwnerDep, job_id: str) -> FileResponse:
    job = request.app.state.jobs.get(owner.id, job_id)
    if job.state != "succeeded" or not job.model_path:
        raise HTTPException(409, f"job {job_id} is {job.state}; its model can be downloaded once it has succeeded")
    path: Path = request.app.state.settings.storage / job.model_path
    if not path.is_file():
        raise HTTPException(404, f"the model file of job {job_id} is missing from the server's storage")
    return FileResponse(path, media_type="application/zip", filename=f"tshub-job-{job_id}.zip")


@router.get("/models", response_model=list[ModelInfo], tags=["models"], responses=_errors(401),
            summary="Source checkpoints available for fine-tuning")
def get_models(request: Request, owner: OwnerDep) -> list[ModelInfo]:
    return [ModelInfo(**{k: v for k, v in row.items() if k != "location"}) for row in available_models(request)]


@router.get("/models/{source}/{arch}", response_model=ModelDetail, tags=["models"], responses=_errors(401, 404),
            summary="A checkpoint's config and model card")
def get_model(request: Request, owner: OwnerDep, source: str, arch: str) -> ModelDetail:
    model_id = known_model_id(request, f"{source}/{arch}", status=404)
    try:
        folder = resolve(model_id)
    except HubError as err:  # listed by an index but not fetchable from here (e.g. offline)
        raise HTTPException(404, str(err)) from None
    card = folder / CARD_NAME
    return ModelDetail(id=model_id, config=read_config(folder), card=card.read_text() if card.is_file() else "")


@router.post("/recommend", response_model=RecommendOut, tags=["models"], responses=_errors(401, 404, 422),
             summary="Rank source checkpoints for a dataset")
async def recommend(request: Request, owner: OwnerDep, body: RecommendRequest) -> RecommendOut:
    """Score every source checkpoint (or those of ``arch``) on the dataset's training split; the best first.
    What a job with ``model: "auto"`` would pick is the first row (with the default method)."""
    row = await run_in_threadpool(owned_dataset, request, owner, body.dataset_id)
    if body.arch is not None:
        check_architecture(body.arch)
    path = request.app.state.settings.storage / row.path

    candidates = [r["id"] for r in available_models(request)] if request.app.state.settings.sources else None

    def rank() -> Any:
        return tshub.recommend(load_npz(path), k=body.k, arch=body.arch, method=body.method, candidates=candidates,
                               allow_self_transfer=body.allow_self_transfer)

    try:
        ranking = await anyio.to_thread.run_sync(rank, limiter=request.app.state.recommend_limiter)
    except RecommendError as err:
        raise HTTPException(422, str(err)) from None
    return RecommendOut(dataset_id=row.id, method=ranking.method, score_name=ranking.score_name, note=ranking.note,
                        recommendations=[Recommendation(**json_safe(r)) for r in ranking.ranking],
                        skipped=ranking.skipped)


def check_architecture(arch: str) -> None:
    try:
        get_architecture(arch)
    except KeyError as err:
        raise HTTPException(422, str(err.args[0])) from None


def available_models(request: Request) -> list[dict[str, Any]]:
    """The checkpoints this service offers: every one the hub lists, or those named by TSHUB_SERVER_SOURCES."""
    rows = list_models()
    sources = request.app.state.settings.sources
    if sources is None:
        return rows
    keys = {parse_model_id(s).key for s in sources}
    return [row for row in rows if parse_model_id(row["id"]).key in keys]


def known_model_id(request: Request, text: str, status: int) -> str:
    """The canonical id of a checkpoint listed by GET /v1/models (ids match case-insensitively)."""
    try:
        key = parse_model_id(text).key
    except InvalidModelIdError as err:
        raise HTTPException(status, str(err)) from None
    for row in available_models(request):
        if parse_model_id(row["id"]).key == key:
            return row["id"]
    raise HTTPException(status, f"no checkpoint {text!r} on this server; GET /v1/models lists the sources")


# ------------------------------------------------------------------------------------------------ the app
class UploadSizeLimit:
    """ASGI middleware: 413 for upload bodies over the limit, from Content-Length or while the body streams."""

    def __init__(self, app: Any, limit_bytes: int):
        self.app, self.limit = app, limit_bytes

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != UPLOAD_PATH:
            return await self.app(scope, receive, send)
        limit = self.limit + FORM_OVERHEAD_BYTES
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await JSONResponse({"detail": too_large_message(self.limit)}, 413)(scope, receive, send)
        received = 0

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, too_large_message(self.limit))
            return message

        await self.app(scope, counted, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service app; ``uvicorn --factory server.app:create_app`` builds it from the environment."""
    settings = settings or Settings.from_env()
    for source in settings.sources or ():
        try:
            parse_model_id(source)
        except InvalidModelIdError as err:
            raise ConfigError(f"TSHUB_SERVER_SOURCES: {err}") from None
    settings.storage.mkdir(parents=True, exist_ok=True)
    app = FastAPI(
        title="tshub fine-tune service", version=tshub.__version__,
        description="Upload a time-series dataset, fine-tune a pretrained tshub checkpoint on it, download the "
                    "result. Every /v1 endpoint needs `Authorization: Bearer <token>`.",
    )
    app.state.settings = settings
    app.state.Session = open_store(settings.db_url)
    app.state.jobs = JobStore(app.state.Session)
    app.state.recommend_limiter = anyio.CapacityLimiter(1)

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Liveness and database check")
    def healthz() -> Health:
        with app.state.Session() as session:
            session.execute(text("SELECT 1"))
        return Health(version=tshub.__version__)

    app.include_router(router)
    app.include_router(hub_router)
    _add_error_handlers(app)
    app.add_middleware(UploadSizeLimit, limit_bytes=settings.max_upload_bytes)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    def handler(status: int) -> Callable[[Request, Exception], JSONResponse]:
        return lambda request, err: JSONResponse({"detail": str(err.args[0]) if err.args else ""}, status)

    app.add_exception_handler(JobNotFound, handler(404))
    app.add_exception_handler(JobConflict, handler(409))
    app.add_exception_handler(UploadError, lambda request, err: JSONResponse({"detail": str(err)}, err.status))

    @app.exception_handler(Exception)
    async def internal(request: Request, err: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the server log has the details"}, 500)
