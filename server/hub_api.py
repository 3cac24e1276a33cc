"""The Hugging Face Hub API, as ``huggingface_hub`` (verified: 2.4) speaks it, for the service's model repos.

With ``HF_ENDPOINT`` pointing at ``tshub serve``, the official client downloads (``snapshot_download``,
``hf_hub_download``, ``HfApi.model_info`` / ``list_repo_tree`` / ``list_repo_refs`` / ``list_repo_commits``,
``verify_repo_checksums``), publishes (``create_repo``, ``upload_folder`` / ``create_commit``,
``update_repo_settings``) and deletes (``delete_repo``), so ``tshub.load_pretrained``, ``push_to_hub`` and a user's
existing tools work unchanged.

What the client relies on, and this module answers:
- ``HEAD``/``GET /{repo}/resolve/{revision}/{path}``: ``X-Repo-Commit`` (the commit the revision resolves to),
  ``ETag`` (the file's git blob id, the name of the blob in the client's cache), ``Content-Length``; ranges
  (``Range: bytes=N-``, which the client sends to resume) and ``If-Range`` are honoured.
- ``GET /api/models/{repo}[/revision/{revision}]``: ``sha`` (commit id) and ``siblings`` (the file list).
- Errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``), which the client
  turns into RepositoryNotFoundError, RevisionNotFoundError and EntryNotFoundError; a private repo answers 404
  ``RepoNotFound`` to every other token and to anonymous callers, as the Hub does. A 404 on a file also names
  the commit, so the client caches that the file does not exist there.
- Reads of public repos need no token; writes need one (``Authorization: Bearer``), checked before the body is
  read. An invalid token answers 401 "Invalid credentials in Authorization header", as the Hub does.
- Database, storage and decoding run in the thread pool, never on the event loop.
- Uploads: the preupload step answers ``regular`` for every file, so the client sends contents inline in the
  commit (base64 NDJSON); a commit is bounded by ``TSHUB_MAX_UPLOAD_MB`` of file content, and its new contents
  by its token's storage quota (``TSHUB_TENANT_STORAGE_MB``, datasets and job models included), which
  ``delete_repo`` frees.
- ``GET /api/models`` filters by card tags (``filter``: tags, library, ``dataset:``/``license:``) and sorts by
  creation or, with ``sort=lastModified``, by the last commit, newest first.
- Operations of the Hub this server does not implement (branches, tags, squashing, moving, paths-info, repo
  settings but visibility, gated access included) answer 501 saying so, not a 404 the client would report as a
  missing repo, nor a 200 that changed nothing; dataset and Space repos are not found (404 ``RepoNotFound``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute

from server.auth import AuthError, Owner, authenticate
from server.hub_store import (
    COMMIT_ID,
    DEFAULT_BRANCH,
    MAX_FILES,
    REF_PREFIX,
    EntryNotFound,
    FileChange,
    HubCommit,
    HubRepo,
    HubStore,
    HubStoreError,
    RepoExists,
    RepoNotFound,
    card_yaml,
    check_path,
    hub_blobs,
    parent_folders,
)
from server.storage import over_quota, tenant_usage

JSON_BODY_LIMIT = 2 * 1024 * 1024  # repo creation, YAML validation, preupload: small JSON documents
COMMIT_OVERHEAD = 64 * 1024  # a commit's header around its operations
OPERATION_OVERHEAD = 256  # an operation's JSON around its base64 content: key, path, encoding
#: Operations one commit may hold: each file of a repo at its limit deleted, and as many added.
MAX_OPERATIONS = 2 * MAX_FILES
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
#: A repo's file is a tenant's content served on the web pages' origin: a browser opening it (an .html, an .svg) runs
#: no script in it, which could otherwise read the token those pages keep in the tab.
UNTRUSTED_FILE = {"Content-Security-Policy": "sandbox; default-src 'none'", "X-Content-Type-Options": "nosniff"}


class Unauthorized(HubStoreError):
    status = 401


class TooLarge(HubStoreError):
    status = 413


class NotSupported(HubStoreError):
    status = 501


class HubRoute(APIRoute):
    """Turns a refused request (HubStoreError) into the Hub's error answer: JSON ``{"error"}`` + X-Error-* headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except HubStoreError as err:
                return error_response(err)

        return answer


def error_response(err: HubStoreError) -> JSONResponse:
    """The Hub's error answer; its header holds printable ASCII only (a NUL or line break that a request named, in a
    path or revision, would make the HTTP server drop the connection instead of answering)."""
    message = str(err)
    headers = {"X-Error-Message": "".join(c if " " <= c <= "~" else "?" for c in message), **err.headers}
    if err.code:
        headers["X-Error-Code"] = err.code
    if err.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"error": message}, err.status, headers=headers)


router = APIRouter(route_class=HubRoute, tags=["hub (Hugging Face Hub API)"])


# ------------------------------------------------------------------------------------------------ plumbing
def hub(request: Request) -> HubStore:
    store = getattr(request.app.state, "hub", None)
    if store is None:
        store = request.app.state.hub = HubStore(request.app.state.Session, request.app.state.settings.storage)
    return store


def caller(request: Request) -> Owner | None:
    """The token's owner, None without a token; 401 for a token that is not valid."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(INVALID_CREDENTIALS)
    try:
        return authenticate(request.app.state.Session, token.strip())
    except AuthError:
        raise Unauthorized(INVALID_CREDENTIALS) from None


def signed_in(request: Request) -> Owner:
    owner = caller(request)
    if owner is None:
        raise Unauthorized(
            "this needs a token: send 'Authorization: Bearer <token>' (HF_TOKEN, or `hf auth "
            "login`; the operator creates one with `tshub token create --name NAME`)"
        )
    return owner


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes (read only after auth)."""
    refusal = TooLarge(f"{what} body over {too_large(limit)} (TSHUB_MAX_UPLOAD_MB bounds a commit's files)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise refusal
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise refusal
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(limit: int) -> str:
    return f"{limit / (1024 * 1024):.3g} MiB"


async def read_json(request: Request, what: str) -> dict[str, Any]:
    try:
        body = json.loads(await read_body(request, JSON_BODY_LIMIT, what) or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:  # RecursionError: nested too deep
        raise HubStoreError(f"{what}: the body is not JSON ({err})") from None
    if not isinstance(body, dict):
        raise HubStoreError(f"{what}: expected a JSON object")
    return body


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def timestamp(moment: datetime) -> str:
    """The Hub's date format, e.g. 2024-05-01T12:00:00.000Z (what huggingface_hub's parse_datetime reads)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# ------------------------------------------------------------------------------------------------ account
@router.get("/api/whoami-v2", summary="Who a token belongs to (`hf auth whoami`, `hf auth login`)")
def whoami(request: Request) -> dict[str, Any]:
    owner = signed_in(request)
    return {
        "type": "user",
        "id": owner.id,
        "name": owner.name,
        "fullname": owner.name,
        "orgs": [],
        "auth": {"type": "access_token", "accessToken": {"displayName": owner.name, "role": "write"}},
    }


@router.post("/api/validate-yaml", summary="Check a model card's YAML metadata before a commit")
async def validate_yaml(request: Request) -> JSONResponse:
    """Open without a token, as on the Hub: the client sends none (``ModelCard.validate``, before a card's push); one
    that is sent must be valid. Parsed in the thread pool, and bounded (``card_yaml``), as anyone may call it."""
    await run_in_threadpool(caller, request)
    body = await read_json(request, "validate-yaml")
    content = body.get("content")
    if not isinstance(content, str):
        raise HubStoreError("validate-yaml: 'content' must be the README.md text")
    try:
        await run_in_threadpool(card_yaml, content)
    except ValueError as err:
        return JSONResponse({"errors": [{"message": str(err)}], "warnings": []}, 400)
    return JSONResponse({"errors": [], "warnings": []})


# ------------------------------------------------------------------------------------------------ repos
@router.post("/api/repos/create", summary="Create a model repo (public, or private to this token)")
async def create_repo(request: Request) -> JSONResponse:
    owner = await run_in_threadpool(signed_in, request)
    body = await read_json(request, "create repo")
    namespace, name = named_repo(body, owner, "create repo")
    private = asked_private(body) or False
    url = f"{base_url(request)}/{namespace}/{name}"
    try:
        repo = await run_in_threadpool(hub(request).create_repo, owner, namespace, name, private)
    except RepoExists as err:
        return JSONResponse({"error": str(err), "url": url}, 409, headers={"X-Error-Message": str(err)})
    return JSONResponse({"url": url, "name": repo.repo_id, "id": repo.id})


@router.delete("/api/repos/delete", summary="Delete a repo, its history and the files no other repo holds")
async def delete_repo(request: Request) -> dict[str, Any]:
    owner = await run_in_threadpool(signed_in, request)
    namespace, name = named_repo(await read_json(request, "delete repo"), owner, "delete repo")
    await run_in_threadpool(hub(request).delete_repo, owner, f"{namespace}/{name}")
    return {}


def named_repo(body: dict[str, Any], owner: Owner, what: str) -> tuple[str, str]:
    """The namespace and name of the repo a create or delete request names (the token's own namespace by default,
    as huggingface_hub sends ``organization`` None)."""
    if body.get("type") not in (None, "model"):
        raise HubStoreError(f"this hub serves model repos only, not {body.get('type')!r} repos")
    name, namespace = body.get("name"), body.get("organization") or owner.name
    if not isinstance(name, str) or not isinstance(namespace, str):
        raise HubStoreError(f"{what}: 'name' (and 'organization', the namespace) must be strings")
    return namespace, name


@router.put("/api/models/{namespace}/{name}/settings", summary="Make a repo private or public")
async def update_settings(request: Request, namespace: str, name: str) -> dict[str, Any]:
    owner = await run_in_threadpool(signed_in, request)
    body = await read_json(request, "repo settings")
    lacking = sorted(k for k, v in body.items() if k not in ("visibility", "private") and (k, v) != ("gated", False))
    if lacking:  # refused, not ignored: an owner who asked for gated access must not believe the repo gated
        refuse(f"the repo settings {', '.join(lacking)} (only visibility: private=)")()
    private = asked_private(body)
    if private is not None:
        await run_in_threadpool(hub(request).set_private, owner, f"{namespace}/{name}", private)
    return {}


def asked_private(body: dict[str, Any]) -> bool | None:
    """The visibility a request asks for (``visibility`` "private" or "public", or ``private`` true or false), None
    when it names none; anything else is refused: a misspelt one read as public would publish a private repo."""
    if "visibility" in body:
        if body["visibility"] not in ("private", "public"):
            raise HubStoreError(f"visibility must be 'private' or 'public', not {str(body['visibility'])[:64]!r}")
        return body["visibility"] == "private"
    if body.get("private") is not None and not isinstance(body["private"], bool):
        raise HubStoreError(f"'private' must be true or false (the visibility), not {str(body['private'])[:64]!r}")
    return body.get("private")


@router.get("/api/models", summary="Model repos this caller can see")
def list_models(
    request: Request,
    author: str | None = None,
    search: str | None = None,
    tags: Annotated[list[str] | None, Query(alias="filter")] = None,
    sort: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    rows = hub(request).list_repos(caller(request), author, search, tags or [], sort, max(1, min(limit, 10_000)))
    return [model_info_json(repo, commit, files_metadata=False) for repo, commit in rows]


@router.get("/api/models/{namespace}/{name}", summary="A repo at main: commit sha, files, card metadata")
def model_info(request: Request, namespace: str, name: str, blobs: bool = False) -> dict[str, Any]:
    return revision_info(request, namespace, name, DEFAULT_BRANCH, blobs)


@router.get("/api/models/{namespace}/{name}/revision/{revision:path}", summary="A repo at a branch, tag or commit")
def revision_info(request: Request, namespace: str, name: str, revision: str, blobs: bool = False) -> dict[str, Any]:
    repo, commit = at_revision(request, namespace, name, revision)
    return model_info_json(repo, commit, files_metadata=blobs)


def full_ref_in_path(revision: str, path: str) -> tuple[str, str]:
    """A revision given by its full name (``refs/heads/main``, which the client sends as ``refs%2Fheads%2Fmain``) and
    the path after it, from a route whose one-segment ``{revision}`` took "refs" (the server decodes the slashes
    before routing): branch and tag names hold no "/", so the ref's name is the path's second segment."""
    kind, _, rest = path.partition("/")
    if revision != "refs" or f"refs/{kind}/" not in REF_PREFIX.values() or not rest:
        return revision, path
    ref, _, below = rest.partition("/")
    return f"refs/{kind}/{ref}", below


def at_revision(request: Request, namespace: str, name: str, revision: str) -> tuple[HubRepo, HubCommit]:
    store = hub(request)
    repo = store.readable_repo(caller(request), f"{namespace}/{name}")
    return repo, store.resolve(repo, revision)


def model_info_json(repo: HubRepo, commit: HubCommit, files_metadata: bool) -> dict[str, Any]:
    card = commit.card_data or {}
    return {
        "_id": repo.id,
        "id": repo.repo_id,
        "modelId": repo.repo_id,
        "author": repo.namespace,
        "sha": commit.oid,
        "lastModified": timestamp(commit.created_at),
        "createdAt": timestamp(repo.created_at),
        "private": repo.private,
        "gated": False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "library_name": card.get("library_name"),
        "tags": card.get("tags") or [],
        "cardData": card or None,
        "siblings": [
            {"rfilename": path, **({"size": entry["size"], "blobId": entry["oid"]} if files_metadata else {})}
            for path, entry in sorted(commit.files.items())
        ],
    }


@router.get("/api/models/{namespace}/{name}/tree/{revision}", summary="Files and folders at a revision")
def tree_root(request: Request, namespace: str, name: str, revision: str, recursive: bool = False) -> list[dict]:
    return tree(request, namespace, name, revision, "", recursive)


@router.get("/api/models/{namespace}/{name}/tree/{revision}/{path:path}", summary="Files and folders under a path")
def tree(
    request: Request, namespace: str, name: str, revision: str, path: str, recursive: bool = False
) -> list[dict[str, Any]]:
    revision, path = full_ref_in_path(revision, path)
    _, commit = at_revision(request, namespace, name, revision)
    prefix = path.strip("/") + "/" if path.strip("/") else ""
    below = {p: e for p, e in commit.files.items() if p.startswith(prefix)}
    if prefix and not below:
        raise EntryNotFound(f"{path} does not exist at commit {commit.oid}")
    entries: dict[str, dict[str, Any]] = {}
    oids = folder_oids(below)
    for file_path, entry in sorted(below.items()):
        parts = file_path[len(prefix) :].split("/")
        for depth in range(1, len(parts)):  # the folders on the way
            folder = prefix + "/".join(parts[:depth])
            if recursive or depth == 1:
                entries.setdefault(folder, {"type": "directory", "path": folder, "size": 0, "oid": oids[folder]})
        if recursive or len(parts) == 1:
            entries[file_path] = {"type": "file", "path": file_path, "size": entry["size"], "oid": entry["oid"]}
    return list(entries.values())


def folder_oids(files: dict[str, Any]) -> dict[str, str]:
    """A content id of every folder of ``files``: the sha1 of its files' paths and blob ids (changes whenever a file
    below does), in one pass over the tree (a scan of the tree per folder took 28 s for 10,000 folders)."""
    listings: dict[str, list[tuple[str, str]]] = {}
    for path, entry in sorted(files.items()):
        for folder in parent_folders(path):
            listings.setdefault(folder, []).append((path, entry["oid"]))
    return {folder: hashlib.sha1(json.dumps(listing).encode()).hexdigest() for folder, listing in listings.items()}


@router.get("/api/models/{namespace}/{name}/refs", summary="Branches and tags")
def refs(request: Request, namespace: str, name: str) -> dict[str, Any]:
    store = hub(request)
    repo = store.readable_repo(caller(request), f"{namespace}/{name}")
    found: dict[str, list[dict[str, str]]] = {"branch": [], "tag": []}
    for ref in store.refs(repo):
        found[ref.kind].append(
            {
                "name": ref.name,
                "ref": f"{REF_PREFIX[ref.kind]}{ref.name}",
                "targetCommit": ref.commit_oid,
            }
        )
    return {"branches": found["branch"], "tags": found["tag"], "converts": [], "pullRequests": []}


@router.get("/api/models/{namespace}/{name}/commits/{revision:path}", summary="The history of a revision, newest first")
def commits(request: Request, namespace: str, name: str, revision: str) -> list[dict[str, Any]]:
    repo, head = at_revision(request, namespace, name, revision)
    return [
        {
            "id": c.oid,
            "title": c.title,
            "message": c.message,
            "authors": [{"user": c.author}],
            "date": timestamp(c.created_at),
        }
        for c in hub(request).history(repo, head)
    ]


# ------------------------------------------------------------------------------------------------ files
@router.get(
    "/{namespace}/{name}/resolve/{revision}/{path:path}",
    response_class=FileResponse,
    operation_id="resolve_file",
    summary="A file at a revision",
)
@router.head(
    "/{namespace}/{name}/resolve/{revision}/{path:path}",
    response_class=FileResponse,
    operation_id="resolve_file_metadata",
    summary="A file's commit, ETag and size, without its content",
)
def resolve_file(request: Request, namespace: str, name: str, revision: str, path: str) -> FileResponse:
    revision, path = full_ref_in_path(revision, path)
    _, commit = at_revision(request, namespace, name, revision)
    try:
        blob, entry = hub(request).blob(commit, path)
    except EntryNotFound as err:
        err.headers = {"X-Repo-Commit": commit.oid}
        raise
    immutable = COMMIT_ID.match(revision) is not None
    headers = {
        "ETag": f'"{entry["oid"]}"',
        "X-Repo-Commit": commit.oid,
        "Cache-Control": "private, max-age=31536000, immutable" if immutable else "no-cache",
        **UNTRUSTED_FILE,
    }
    return FileResponse(blob, headers=headers, filename=path.rsplit("/", 1)[-1], content_disposition_type="inline")


# ------------------------------------------------------------------------------------------------ uploads
@router.post("/api/models/{namespace}/{name}/preupload/{revision:path}", summary="How each file of a commit is sent")
async def preupload(request: Request, namespace: str, name: str, revision: str) -> dict[str, Any]:
    owner = await run_in_threadpool(signed_in, request)
    store = hub(request)
    repo = await run_in_threadpool(store.writable_repo, owner, f"{namespace}/{name}")
    body = await read_json(request, "preupload")
    head = await run_in_threadpool(store.resolve, repo, revision)
    files = body.get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) and isinstance(f.get("path"), str) for f in files):
        raise HubStoreError("preupload: 'files' must be a list of {path, size, sample}")
    paths = [check_path(f["path"]) for f in files]  # what a commit takes (a lone surrogate no answer can name)
    return {
        "commitOid": head.oid,
        "files": [
            {
                "path": path,
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": (head.files.get(path) or {}).get("oid"),
            }
            for path in paths
        ],
    }


@router.post("/api/models/{namespace}/{name}/commit/{revision:path}", summary="Commit files to a branch")
async def commit(request: Request, namespace: str, name: str, revision: str) -> dict[str, Any]:
    owner = await run_in_threadpool(signed_in, request)
    store = hub(request)
    repo = await run_in_threadpool(store.writable_repo, owner, f"{namespace}/{name}")
    if request.query_params.get("create_pr") in ("1", "true", "True"):
        raise HubStoreError("pull requests are not supported by this hub: commit to a branch (create_pr=False)")
    limit = request.app.state.settings.max_upload_bytes
    body = await read_body(request, limit * 4 // 3 + COMMIT_OVERHEAD + MAX_OPERATIONS * OPERATION_OVERHEAD, "commit")
    header, changes = await run_in_threadpool(parse_commit, body)
    if sum(len(c.content or b"") for c in changes) > limit:
        raise TooLarge(f"commit over {too_large(limit)} of files (TSHUB_MAX_UPLOAD_MB bounds a commit's files)")
    branch = revision.removeprefix(REF_PREFIX["branch"])  # a branch's full name, refs/heads/main
    made = await run_in_threadpool(commit_within_quota, request, owner, repo, branch, changes, header)
    return {
        "success": True,
        "commitOid": made.oid,
        "commitUrl": f"{base_url(request)}/{repo.repo_id}/commit/{made.oid}",
        "hookOutput": "",
        "pullRequestUrl": None,
    }


def commit_within_quota(
    request: Request, owner: Owner, repo: HubRepo, branch: str, changes: list[FileChange], header: dict[str, Any]
) -> HubCommit:
    """``check_quota``, then the commit, under the token's lock: its concurrent commits would otherwise all pass
    the check before any of them had stored."""
    with request.app.state.tenant_locks(owner.id):
        check_quota(request, owner, changes)
        return hub(request).commit(
            owner,
            repo,
            branch,
            changes,
            str(header.get("summary") or ""),
            str(header.get("description") or ""),
            header.get("parentCommit"),
        )


def check_quota(request: Request, owner: Owner, changes: list[FileChange]) -> None:
    """Refuse (413) a commit whose new contents would take the token past TSHUB_TENANT_STORAGE_MB: its datasets,
    models and Hub files together; a content any of its repos already holds costs nothing."""
    Session = request.app.state.Session
    held = hub_blobs(Session, owner.id)
    new = {hashlib.sha256(c.content).hexdigest(): len(c.content) for c in changes if c.content is not None}
    added = sum(size for sha256, size in new.items() if sha256 not in held)
    refusal = over_quota(request.app.state.settings, tenant_usage(Session, owner.id, held) + added) if added else None
    if refusal is not None:
        raise TooLarge(
            f"{refusal} Hub files stay stored while a commit of the repo names them, as a file deleted in a later "
            "commit is still in the history: delete repos you no longer need (HfApi.delete_repo) to free them."
        )


def parse_commit(body: bytes) -> tuple[dict[str, Any], list[FileChange]]:
    """The header and the file operations of the client's NDJSON commit payload, read a line at a time and refused
    past ``MAX_OPERATIONS`` (or ``MAX_FILES`` files): a body of millions of empty files would otherwise cost
    gigabytes before the store's file limit refused it."""
    header: dict[str, Any] | None = None
    changes: list[FileChange] = []
    files = 0
    for number, line in enumerate(io.BytesIO(body), 1):
        if not line.strip():
            continue
        if len(changes) >= MAX_OPERATIONS:
            raise HubStoreError(f"commit payload: more than {MAX_OPERATIONS:,} operations; split it into commits")
        try:
            item = json.loads(line)
            key, value = item["key"], item["value"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, RecursionError):
            raise HubStoreError(f'commit payload line {number}: expected {{"key", "value"}} JSON') from None
        if key == "header":
            header = value
        elif key not in ("file", "deletedFile", "deletedFolder", "lfsFile"):
            raise HubStoreError(f"commit payload line {number}: unsupported operation {key!r}")
        elif not isinstance(value, dict) or not isinstance(value.get("path"), str):
            raise HubStoreError(
                f'commit payload line {number}: the value of a {key!r} operation must be an object with its "path" '
                'as a string, e.g. {"path": "config.json", ...}'
            )
        elif key == "file":
            files += 1
            if files > MAX_FILES:
                raise HubStoreError(
                    f"commit payload: more than {MAX_FILES:,} files, the most a repo holds; split it into commits"
                )
            changes.append(FileChange(check_path(value["path"]), decode_content(value, number)))
        elif key == "lfsFile":
            raise HubStoreError(
                f"{value['path']}: this hub stores files as regular blobs, not LFS; upload "
                "with huggingface_hub's create_commit/upload_folder, which asks first"
            )
        else:
            changes.append(FileChange(check_path(value["path"].rstrip("/")), None, key == "deletedFolder"))
    if header is None or not isinstance(header, dict):
        raise HubStoreError('commit payload: the first line must be the header {"key": "header", ...}')
    if not isinstance(header.get("parentCommit") or "", str):
        raise HubStoreError("commit payload: the header's parentCommit must be a commit id (40 hex digits)")
    return header, changes


def decode_content(value: dict[str, Any], number: int) -> bytes:
    content = value.get("content", "")
    if value.get("encoding", "base64") != "base64" or not isinstance(content, str):
        raise HubStoreError(f"commit payload line {number}: file content must be base64")
    try:
        return base64.b64decode(content, validate=True)
    except binascii.Error:
        raise HubStoreError(f"commit payload line {number}: file content is not valid base64") from None


# ------------------------------------------------------------------------------------------------ not supported
UNSUPPORTED = {
    "/api/repos/move": (("POST",), "moving or renaming repos (move_repo)"),
    "/api/models/{namespace}/{name}/super-squash/{branch}": (("POST",), "squashing history (super_squash_history)"),
    "/api/models/{namespace}/{name}/branch/{branch:path}": (("POST", "DELETE"), "creating or deleting branches"),
    "/api/models/{namespace}/{name}/tag/{tag:path}": (("POST", "DELETE"), "creating or deleting tags"),
    "/api/models/{namespace}/{name}/paths-info/{revision:path}": (("POST",), "paths-info (use list_repo_tree)"),
}


def refuse(what: str) -> Callable[[], None]:
    """A route of the Hub API that this server does not implement: 501 saying so, not a bare 404 that the client
    would report as a missing repo or file."""

    def unsupported() -> None:
        raise NotSupported(
            f"this self-hosted Hub (tshub serve) does not support {what}; the README's 'A self-hosted Hub' lists what "
            "it supports"
        )

    return unsupported


def not_a_model_repo() -> None:
    """A dataset or Space repo: not found, as on the Hub when there is none, so that ``repo_exists`` answers False
    and ``hf_hub_download`` names the repo rather than a lost connection (a bare 404 would)."""
    raise RepoNotFound("this self-hosted Hub (tshub serve) serves model repos only, no dataset or Space repos")


for _path, (_methods, _what) in UNSUPPORTED.items():
    for _method in _methods:
        # out of the OpenAPI schema: not an operation of this API, only a clear answer to clients that try it
        router.add_api_route(_path, refuse(_what), methods=[_method], include_in_schema=False)
for _kind in ("datasets", "spaces"):
    for _path in (f"/api/{_kind}/{{rest:path}}", f"/{_kind}/{{rest:path}}"):
        router.add_api_route(
            _path, not_a_model_repo, methods=["GET", "HEAD", "POST", "PUT", "DELETE"], include_in_schema=False
        )
