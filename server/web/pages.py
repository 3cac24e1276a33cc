"""The routes of the web pages: server-rendered catalogue pages and the shells of the token-backed pages."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from server.app import available_checkpoint, available_models
from server.isolation import Budget, Busy, IsolatedFailure
from server.runner import folder_zip
from server.web.catalogue import (
    SORTS,
    TRAINING_FILTERS,
    Filters,
    browse,
    example_series,
    examples_plot,
    facets,
    metric_rows,
    prototypes_plot,
    render_card,
    snippets,
    source_name,
    training_curves,
    training_facts,
)
from tshub.hub import read_config
from tshub.hub.card import human_size
from tshub.hub.checkpoint import CARD_NAME
from tshub.hub.store import TRAINING_STATUS

HERE = Path(__file__).resolve().parent
PREFIX = "/ui"
PAGES_TENANT = "web-pages"  # the isolator's queue for work the public pages start (one at a time)
#: No inline script, nothing from another origin, no framing, no referrer: the token page must not leak.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

#: A job's stop reasons in words, as the model pages say them (``TRAINING_STATUS``); an ω that successive halving
#: dropped ended "halved" (``tshub.training.finetuning``).
STOP_WORDS = {**TRAINING_STATUS, "halved": "dropped by successive halving"}

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["size"] = lambda n: human_size(n) if isinstance(n, int) else "—"
templates.env.filters["num"] = lambda v, digits=3: (
    "—" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)
)
router = APIRouter(prefix=PREFIX, include_in_schema=False)

Text = Annotated[str, Query(max_length=200)]
ResourceId = Annotated[str, PathParam(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, {"prefix": PREFIX, **context}, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/", response_class=HTMLResponse)
def models_page(
    request: Request,
    q: Text = "",
    domain: Text = "",
    arch: Text = "",
    task: Text = "",
    training: Text = "",
    sort: Text = "id",
) -> HTMLResponse:
    """Every checkpoint the service offers, filtered and sorted by the query (works without JavaScript)."""
    rows = available_models(request)
    filters = Filters(q=q, domain=domain, arch=arch, task=task, training=training, sort=sort if sort in SORTS else "id")
    return page(
        request,
        "models.html",
        title="Models",
        rows=browse(rows, filters),
        total=len(rows),
        facets=facets(rows),
        filters=filters,
        sorts=SORTS,
        training_filters=TRAINING_FILTERS,
    )


@router.get("/models/{source}/{arch}", response_class=HTMLResponse)
def model_page(request: Request, source: str, arch: str) -> HTMLResponse:
    """One checkpoint: card, metrics beside the reference, training, source prototypes, snippets, download."""
    try:
        model_id, folder = available_checkpoint(request, f"{source}/{arch}")
    except HTTPException as err:
        return page(request, "error.html", status=err.status_code, title="Not found", message=err.detail)
    config = read_config(folder)
    card = folder / CARD_NAME
    base_url = str(request.base_url).rstrip("/")
    return page(
        request,
        "model.html",
        title=model_id,
        model_id=model_id,
        config=config,
        card=Markup(render_card(card.read_text() if card.is_file() else "")),
        metrics=metric_rows(config),
        training=training_facts(config),
        curves=training_curves(folder, config),
        source_plot=source_plot(request, config),
        snippets=snippets(model_id, base_url, config.get("task")),
        files=sorted((p.name, p.stat().st_size) for p in folder.iterdir() if p.is_file()),
    )


def source_plot(request: Request, config: dict[str, Any]) -> tuple[Markup, str] | None:
    """The source data as a plot and its caption: the similarity index's class prototypes, else a few series
    read from the data folder in an isolated child (a source may be large; once per source and process)."""
    found = prototypes_plot(config)
    name = source_name(config)
    if found is None and name:
        cache = request.app.state.source_plots
        if name not in cache:
            settings = request.app.state.settings
            budget = Budget(
                int(settings.parse_memory_mb * 2**20),
                settings.parse_timeout_s,
                "TSHUB_PARSE_MEMORY_MB, TSHUB_PARSE_TIMEOUT_S",
            )
            try:
                series = request.app.state.isolator.run(
                    PAGES_TENANT, f"reading example series of {name}", budget, example_series, name
                )
            except Busy:
                return None
            except IsolatedFailure:
                series = None
            cache[name] = examples_plot(name, series) if series else None
        found = cache[name]
    return None if found is None else (Markup(found[0]), found[1])


@router.get("/models/{source}/{arch}/checkpoint.zip")
async def checkpoint_zip(request: Request, source: str, arch: str) -> Response:
    """The checkpoint folder as a zip, files at its root: unzip it and pass the folder to tshub.load_pretrained."""
    model_id, folder = await run_in_threadpool(available_checkpoint, request, f"{source}/{arch}")
    stamp = tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()))
    body = await run_in_threadpool(zipped, str(folder), stamp)
    filename = model_id.replace("/", "-") + ".zip"
    return Response(
        body, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@functools.lru_cache(maxsize=8)
def zipped(folder: str, stamp: tuple) -> bytes:
    """The zip of a checkpoint folder, kept while its files (``stamp``: names, sizes, times) are unchanged: an
    anonymous page must not make the server re-compress a checkpoint for every request."""
    return folder_zip(folder)


@router.get("/token", response_class=HTMLResponse)
def token_page(request: Request) -> HTMLResponse:
    return page(request, "token.html", title="Your token")


@router.get("/data", response_class=HTMLResponse)
def data_page(request: Request) -> HTMLResponse:
    return page(request, "data.html", title="Your data")


@router.get("/data/{dataset_id}", response_class=HTMLResponse)
def dataset_page(request: Request, dataset_id: ResourceId) -> HTMLResponse:
    return page(request, "dataset.html", title="Dataset", dataset_id=dataset_id)


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request) -> HTMLResponse:
    return page(request, "jobs.html", title="Your jobs")


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: ResourceId) -> HTMLResponse:
    return page(request, "job.html", title="Job", job_id=job_id, stop_words=STOP_WORDS)


def mount_pages(app: FastAPI) -> None:
    """Add the pages, their static files and a redirect from / to the model list."""
    app.state.source_plots = {}  # source name → (svg, caption) or None
    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.add_api_route("/", lambda: RedirectResponse(f"{PREFIX}/"), include_in_schema=False)
