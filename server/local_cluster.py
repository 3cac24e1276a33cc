"""Throwaway services on loopback for the tests and benchmarks: a real PostgreSQL server, an S3-compatible server
(moto's server mode) and Ray nodes, each a separate process in a temporary folder, stopped and removed after use.

They are started exactly as an operator starts them (``initdb``/``pg_ctl``, ``moto_server``, ``ray start``), so the
cluster tests exercise the commands of the deployment docs. Each raises ``Unavailable`` with the reason when its
component cannot start here, for the tests to skip with that reason.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

POSTGRES_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin",
                     "/usr/local/bin", "/usr/bin")


class Unavailable(RuntimeError):
    """A component cannot start on this machine (the message says why)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None, what: str = "server") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise Unavailable(f"{what} exited with {process.returncode} before listening on port {port}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise Unavailable(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g} s")


# ------------------------------------------------------------------------------------------------- PostgreSQL
def postgres_binary(name: str) -> str:
    for folder in POSTGRES_BIN_DIRS:
        if os.access(Path(folder) / name, os.X_OK):
            return str(Path(folder) / name)
    found = shutil.which(name)
    if found is None:
        raise Unavailable(f"PostgreSQL's {name} is not installed (apt install postgresql)")
    return found


class PostgresServer:
    """``initdb`` + ``pg_ctl start`` in a temp folder, listening on 127.0.0.1 only, trust auth, no fsync (a test
    server: nothing to keep). Run as the ``postgres`` system user when this process is root (initdb refuses
    root). ``database()`` hands out a fresh empty database per test."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="tshub-pg-"))
        self.data = self.folder / "data"
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def start(self, timeout: float = 60.0) -> "PostgresServer":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise Unavailable("psycopg is not installed (pip install 'tshub[cluster]')") from None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no 'postgres' user to run initdb as") from None
            shutil.chown(self.folder, "postgres")
        self.folder.chmod(0o700)
        self._run([postgres_binary("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "--encoding=UTF8", "--no-sync"], timeout)
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off " \
                  "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        self._run([postgres_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options,
                   "-w", "-t", str(int(timeout)), "start"], timeout + 5)
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def kill(self) -> None:
        """Stop at once (``pg_ctl stop -m immediate``, what a crash looks like to clients) and remove the folder."""
        if self.data.is_dir():
            subprocess.run(self._as_user([postgres_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate",
                                          "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _as_user(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def _run(self, argv: list[str], timeout: float) -> None:
        try:
            done = subprocess.run(self._as_user(argv), capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as err:
            self.kill()
            raise Unavailable(f"{Path(argv[0]).name} failed: {err}") from None
        if done.returncode:
            log = (self.folder / "log").read_text(errors="replace")[-1500:] if (self.folder / "log").exists() else ""
            self.kill()
            raise Unavailable(f"{Path(argv[0]).name} exited with {done.returncode}: "
                              f"{(done.stderr or done.stdout)[-1500:]}{log}")

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.kill()
