"""Throwaway services on loopback for the tests and benchmarks: a real PostgreSQL server, an S3-compatible server
(moto's server mode) and Ray nodes, each a separate process in a temporary folder, stopped and removed after use.

They are started exactly as an operator starts them (``initdb``/``pg_ctl``, ``moto_server``, ``ray start``), so the
cluster tests exercise the commands of the deployment docs. Each raises ``Unavailable`` with the reason when its
component cannot start here, for the tests to skip with that reason.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

POSTGRES_BIN_DIRS = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
    "/usr/local/bin",
    "/usr/bin",
)


class Unavailable(RuntimeError):
    """A component cannot start on this machine (the message says why)."""


def free_port(avoid: range = range(0)) -> int:
    """A port free now (the OS picks it from its ephemeral range), outside ``avoid``: ports a Ray cluster reserves
    for its workers, which the ephemeral range may overlap."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port
    raise Unavailable(f"no free port outside {avoid}")


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

    def start(self, timeout: float = 60.0) -> PostgresServer:
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
        self._run(
            [
                postgres_binary("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            timeout,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            [
                postgres_binary("pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.folder / "log"),
                "-o",
                options,
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            timeout + 5,
        )
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def kill(self) -> None:
        """Stop at once (``pg_ctl stop -m immediate``, what a crash looks like to clients) and remove the folder."""
        if self.data.is_dir():
            subprocess.run(
                self._as_user([postgres_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
                capture_output=True,
                timeout=60,
            )
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
            raise Unavailable(
                f"{Path(argv[0]).name} exited with {done.returncode}: {(done.stderr or done.stdout)[-1500:]}{log}"
            )

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.kill()


# ------------------------------------------------------------------------------------------------- S3 (moto)
class S3Server:
    """moto's S3-compatible server (``moto_server``) on 127.0.0.1, in its own process; ``env`` is what boto3
    needs to reach it (endpoint, dummy credentials, region), and ``bucket()`` makes a fresh bucket."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "tshub-test",
            "AWS_SECRET_ACCESS_KEY": "tshub-test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> S3Server:
        try:
            import boto3  # noqa: F401
            import moto.server  # noqa: F401
        except ImportError as err:
            raise Unavailable(f"{err.name} is not installed (pip install 'moto[server]' boto3)") from None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, timeout, self.process, "moto_server")
        return self

    def bucket(self) -> str:
        """A new empty bucket's name."""
        import boto3

        name = f"tshub-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="tshub-test",
            aws_secret_access_key="tshub-test",
            region_name="us-east-1",
        ).create_bucket(Bucket=name)
        return name

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.kill()


# ------------------------------------------------------------------------------------------------------ Ray
#: GCS settings for a test cluster: a dead node is noticed within seconds, not the default half minute.
RAY_FAST_FAILURE_ENV = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
    "RAY_DISABLE_USAGE_STATS": "1",
}


def ray_node_ip() -> str:
    """The address Ray gives this machine's nodes (it replaces 127.0.0.1 by the machine's own address)."""
    from ray._private.services import get_node_ip_address

    return get_node_ip_address()


def ray_start_command(head_address: str | None, port: int, num_cpus: int, temp_dir: str) -> list[str]:
    """``ray start`` as the deployment docs run it (``--head`` on the first node, ``--address`` on the others),
    with its own ports, so two nodes share one machine; ``--block`` keeps it in the foreground, so stopping the
    node is stopping this process group (never ``ray stop``, which stops every Ray of the machine). Its workers
    take ports ``port + 1`` to ``port + 200``; its other ports are free ones outside the block of 1000 its cluster's
    nodes and workers take (``RayNode``)."""
    reserved = range(port - port % 1000, port - port % 1000 + 1000)
    ray = str(Path(sys.executable).with_name("ray"))
    command = [
        ray if os.access(ray, os.X_OK) else "ray",
        "start",
        "--block",
        f"--num-cpus={num_cpus}",
        "--num-gpus=0",
        "--object-store-memory=100000000",
        "--disable-usage-stats",
        f"--node-manager-port={free_port(reserved)}",
        f"--object-manager-port={free_port(reserved)}",
        f"--dashboard-agent-listen-port={free_port(reserved)}",
        f"--dashboard-agent-grpc-port={free_port(reserved)}",
        f"--runtime-env-agent-port={free_port(reserved)}",
        f"--metrics-export-port={free_port(reserved)}",
        f"--min-worker-port={port + 1}",
        f"--max-worker-port={port + 200}",
    ]
    if head_address is None:
        return command + [
            "--head",
            f"--port={port}",
            "--include-dashboard=false",
            f"--dashboard-port={free_port(reserved)}",
            f"--temp-dir={temp_dir}",
        ]
    return command + [f"--address={head_address}"]


class RayNode:
    """One Ray node (``ray start --head`` or ``ray start --address HEAD``) in its own process group. The cluster
    uses Ray's token authentication (``RAY_AUTH_MODE=token``, a token made by the head): every node and driver
    needs ``driver_env``."""

    port: int
    temp_dir: str
    token: str

    def __init__(
        self, head: RayNode | None = None, num_cpus: int = 1, env: dict[str, str] | None = None, log: Path | None = None
    ):
        import random

        self.head, self.num_cpus = head, num_cpus
        # the head at a multiple of 1000, a second node 300 above it, each node's worker ports after its own; the
        # cluster's other ports are drawn outside that block of 1000 (start)
        self.port = head.port + 300 if head else random.randrange(20000, 40000, 1000)
        self.temp_dir = head.temp_dir if head else tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: socket paths
        self.token = head.token if head else secrets.token_hex(32)
        self.env = {**os.environ, **RAY_FAST_FAILURE_ENV, **self.driver_env, **(env or {})}
        self.log = log or Path(self.temp_dir) / f"node-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def driver_env(self) -> dict[str, str]:
        """What a process needs to join this cluster (besides its address)."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    @property
    def address(self) -> str:
        return f"{ray_node_ip()}:{self.head.port if self.head else self.port}"

    def start(self, timeout: float = 120.0) -> RayNode:
        import shutil as _shutil

        if _shutil.which("ray", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}") is None:
            raise Unavailable("the ray command is not installed (pip install 'tshub[cluster]')")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                ray_start_command(self.head.address if self.head else None, self.port, self.num_cpus, self.temp_dir),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.head is None:
            wait_for_port(self.port, timeout, self.process, "the Ray head")
        try:
            self._wait_for_nodes(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Unavailable(f"the Ray node did not join within {timeout:g} s: {self.log_tail()}") from None
        return self

    def _wait_for_nodes(self, timeout: float) -> None:
        """Until the cluster counts this node (``ray status`` would too, slower)."""
        expected = 1 if self.head is None else 2
        assert self.process is not None, "start the node first"
        deadline = time.monotonic() + timeout
        probe = (
            "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False, logging_level='ERROR'); "
            "print(sum(n['Alive'] for n in ray.nodes()))"
        )
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(f"ray start exited with {self.process.returncode}: {self.log_tail()}")
            done = subprocess.run(
                [sys.executable, "-c", probe, self.address],
                capture_output=True,
                text=True,
                env=self.env,
                timeout=max(5.0, deadline - time.monotonic()),
            )
            if (
                done.returncode == 0
                and done.stdout.strip().splitlines()[-1:]
                and int(done.stdout.strip().splitlines()[-1]) >= expected
            ):
                return
            time.sleep(1.0)
        self.kill()
        raise Unavailable(f"the Ray node did not join within {timeout:g} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the node's whole process group (raylet, its workers): a machine that vanished."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        if self.head is None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def __enter__(self) -> RayNode:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.kill()
