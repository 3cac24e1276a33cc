"""``tshub serve``, ``tshub token create|list|revoke`` and ``tshub hub delete``: ``add_server_commands`` is the
``tshub.commands`` entry point that adds them to the tshub CLI (pyproject), ``main`` runs them alone (``python -m
server``)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from server.config import ConfigError, Settings
from tshub.cli import build_parser
from tshub.cli import main as tshub_main

ROLES = ("all", "api", "worker")


def main(argv: Sequence[str] | None = None) -> int:
    """The service's commands alone: ``python -m server serve|token ...``, which the supervisor's children run,
    so the service needs no installed ``tshub.commands`` entry point to restart its own processes."""
    return tshub_main(argv, parser=build_parser([add_server_commands]))


def add_server_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the fine-tune service: the HTTP API and a job worker",
        description="Settings come from environment variables (TSHUB_SERVER_DB, "
        "TSHUB_SERVER_STORAGE, TSHUB_MAX_UPLOAD_MB, TSHUB_ENGINE, "
        "TSHUB_RAY_ADDRESS, TSHUB_WORKERS, ...; see the README).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="api: HTTP only; worker: jobs only (more machines sharing TSHUB_SERVER_DB); all: both",
    )
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    serve.set_defaults(run=_run_serve)

    token = commands.add_parser("token", help="create, list or revoke API tokens of the fine-tune service")
    actions = token.add_subparsers(title="actions", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a token and print it (shown once)")
    create.add_argument(
        "--name", required=True, help="who or what the token is for, also its Hub namespace (one token per name)"
    )
    create.add_argument(
        "--expires-days",
        type=expiry_days,
        default=None,
        help="the token stops working after this many days (default: never, until revoked)",
    )
    create.set_defaults(run=_run_token_create)
    listing = actions.add_parser(
        "list", help="list the tokens: id, name, created, expires, last used, revoked (never a secret)"
    )
    listing.add_argument("--active", action="store_true", help="only the tokens that work now")
    listing.set_defaults(run=_run_token_list)
    revoke = actions.add_parser("revoke", help="revoke a token by its id (`tshub token list` shows the ids)")
    revoke.add_argument("token_id")
    revoke.set_defaults(run=_run_token_revoke)

    hub = commands.add_parser("hub", help="manage the repos of the service's self-hosted Hub")
    hub_actions = hub.add_subparsers(title="actions", metavar="ACTION", required=True)
    delete = hub_actions.add_parser(
        "delete",
        help="delete a repo of any token (a revoked one's too): its history, and the files no other repo holds",
    )
    delete.add_argument("repo_id", metavar="NAMESPACE/NAME")
    delete.set_defaults(run=_run_hub_delete)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as err:
        sys.exit(f"tshub: error: {err}")


def _run_serve(args: argparse.Namespace) -> int:
    settings = _settings()
    os.environ["TSHUB_LOG_LEVEL"] = args.log_level.upper()
    if args.role == "worker":
        from server.worker import main as worker_main

        worker_main()
        return 0
    from server.db import open_store

    open_store(settings.db_url)  # tables exist before the worker and the API race to create them
    if args.role == "all":
        return supervise(
            [
                Supervised(
                    "API",
                    [
                        "serve",
                        "--role",
                        "api",
                        "--host",
                        args.host,
                        "--port",
                        str(args.port),
                        "--log-level",
                        args.log_level,
                    ],
                ),
                Supervised("worker", ["serve", "--role", "worker", "--log-level", args.log_level]),
            ]
        )
    import uvicorn

    from server.app import create_app
    from server.worker import stop_with_parent

    stop_with_parent(None)
    uvicorn.run(
        create_app(settings), host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=10
    )
    return 0


def supervise(children: list[Supervised]) -> int:
    """``tshub serve``: keep the API and the worker running as child processes, restarting whichever dies (a
    crash or the kernel's OOM killer), until SIGTERM or SIGINT; then stop both."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    for child in children:
        child.start()
    stop.wait()
    for child in children:
        child.stop()
    return 0


class Supervised:
    """One child process (``tshub ARGS``), restarted when it exits unasked, with a back-off for crash loops;
    it stops when this process dies (TSHUB_PARENT_PID)."""

    def __init__(self, name: str, args: list[str]):
        self.name, self.args = name, args
        self.stopping = threading.Event()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = self._spawn()
        threading.Thread(target=self._watch, name=f"tshub-{self.name}-watch", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        assert self.process is not None, "start it first"
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def _spawn(self) -> subprocess.Popen:
        root = str(Path(__file__).resolve().parents[1])
        env = {
            **os.environ,
            "TSHUB_PARENT_PID": str(os.getpid()),
            "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
        }
        return subprocess.Popen([sys.executable, "-m", "server", *self.args], env=env)

    def _watch(self) -> None:
        backoff = 1.0
        assert self.process is not None, "start it first"
        while not self.stopping.is_set():
            started = time.monotonic()
            code = self.process.wait()
            backoff = 1.0 if time.monotonic() - started > 60 else min(backoff * 2, 30.0)  # crash loops slow down
            if self.stopping.wait(backoff):
                return
            print(f"tshub serve: the {self.name} exited ({code}); restarting it", file=sys.stderr)
            self.process = self._spawn()


#: The longest a token may be made to last: a date beyond Python's year 9999 cannot be stored.
MAX_EXPIRY_DAYS = 36_500


def expiry_days(text: str) -> float:
    """``--expires-days``: a number of days in (0, MAX_EXPIRY_DAYS]."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not 0 < days <= MAX_EXPIRY_DAYS:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be > 0 and at most {MAX_EXPIRY_DAYS} (100 years), got {text}")
    return days


def _run_token_create(args: argparse.Namespace) -> int:
    from server.auth import TokenNameError, create_token
    from server.db import open_store, utcnow

    expires = utcnow() + timedelta(days=args.expires_days) if args.expires_days else None
    try:
        owner, token = create_token(open_store(_settings().db_url), args.name, expires_at=expires)
    except TokenNameError as err:
        print(f"tshub: error: {err}", file=sys.stderr)
        return 1
    until = f", valid until {expires:%Y-%m-%d %H:%M} UTC" if expires else ""
    print(f"token {owner.id} for {owner.name!r}{until}; keep it now, it is not shown again:", file=sys.stderr)
    print(token)
    return 0


def _run_token_list(args: argparse.Namespace) -> int:
    from server.auth import list_tokens
    from server.db import open_store

    tokens = list_tokens(open_store(_settings().db_url), active_only=args.active)
    if not tokens:
        which = "active tokens" if args.active else "tokens"
        print(f"no {which}; create one with `tshub token create --name NAME`", file=sys.stderr)
        return 0
    rows = [
        [
            t.id,
            t.name,
            _when(t.created_at),
            _when(t.expires_at, "never"),
            _when(t.last_used_at, "never"),
            _when(t.revoked_at, "-"),
            t.state,
        ]
        for t in tokens
    ]
    header = ["ID", "NAME", "CREATED (UTC)", "EXPIRES (UTC)", "LAST USED (UTC)", "REVOKED (UTC)", "STATE"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _when(moment: datetime | None, otherwise: str = "") -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else otherwise


def _run_token_revoke(args: argparse.Namespace) -> int:
    from server.auth import revoke_token
    from server.db import open_store

    if not revoke_token(open_store(_settings().db_url), args.token_id):
        print(
            f"tshub: error: no active token with id {args.token_id!r} (`tshub token list` shows them)", file=sys.stderr
        )
        return 1
    print(f"token {args.token_id} revoked; its queued jobs are cancelled and its running ones stopped", file=sys.stderr)
    return 0


def _run_hub_delete(args: argparse.Namespace) -> int:
    from server.db import open_store
    from server.hub_store import HubStore, RepoNotFound

    settings = _settings()
    try:
        deleted = HubStore(open_store(settings.db_url), settings.storage).delete_repo(None, args.repo_id)
    except RepoNotFound:
        print(f"tshub: error: no repo {args.repo_id} on this server's Hub", file=sys.stderr)
        return 1
    print(
        f"deleted {args.repo_id} and its {deleted.commits} commits; {deleted.blobs} stored files no other repo "
        f"holds were removed ({deleted.bytes / 2**20:,.1f} MB)",
        file=sys.stderr,
    )
    return 0
