"""Helpers for the service's tests and benchmark: a small real source checkpoint and a live server process."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import IO, Any
from unittest import mock

import httpx

from tshub.data.dataset import Dataset
from tshub.hub.ids import parse_model_id

SERVE = "import sys; from server.cli import main; sys.exit(main())"
TERMINAL = ("succeeded", "failed", "cancelled")


def make_source_checkpoint(
    home: Path, dataset: Dataset, model_id: str = "Coffee/fcn", epochs: int = 30, filters: tuple[int, ...] = (8, 16, 8)
) -> Path:
    """Train a narrow FCN briefly on ``dataset`` and save it as ``model_id`` in the home store under ``home``
    (30 epochs of Coffee: 0.89-0.93 accuracy over seeds 0-3, where 10 gave anything in 0.46-0.96 with the float
    rounding of the machine; after 1 it is at chance, and the recommender skips it)."""
    from tshub.data.splits import official_with_validation
    from tshub.training import train_from_scratch

    parsed = parse_model_id(model_id)
    ds = dataset if "val" in dataset.splits else official_with_validation(dataset)
    result = train_from_scratch(
        parsed.arch,
        ds,
        max_epochs=epochs,
        progress=False,
        arch_kwargs={"filters": filters, "kernel_sizes": (8, 5, 3)[: len(filters)]},
    )
    return result.model.save_pretrained(home / "models" / parsed.source / parsed.arch, id=model_id)


def database_with_a_dataset(database: Path, owner_name: str) -> tuple[Any, Any, str]:
    """A fresh service database (SQLite at ``database``) with a token of ``owner_name`` and one dataset row, no file
    behind it: what a job row needs. Returns the sessionmaker, the owner and the dataset's id."""
    from server.auth import create_token as new_token
    from server.db import DatasetRecord, open_store

    Session = open_store(f"sqlite:///{database}")
    owner, _ = new_token(Session, owner_name)
    with Session.begin() as session:
        row = DatasetRecord(owner_id=owner.id, filename="d.csv", raw_sha256="0" * 64, path="datasets/x.npz", summary={})
        session.add(row)
        session.flush()
        dataset_id = row.id
    return Session, owner, dataset_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(home: Path, sources: list[str], **overrides: Any) -> dict[str, str]:
    """Environment for a test server: everything under ``home``, fast heartbeats, no network, and only the
    checkpoints ``sources`` offered (not everything the repository's zoo holds)."""
    root = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "TSHUB_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "TSHUB_HEARTBEAT_S": "0.5",
        "TSHUB_STALE_AFTER_S": "4",
        "TSHUB_POLL_S": "0.2",
        "OMP_NUM_THREADS": "1",
        "TSHUB_LOG_LEVEL": "WARNING",
        "RAY_DISABLE_USAGE_STATS": "1",
        "TSHUB_SERVER_SOURCES": ",".join(sources),
        "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class LiveServer:
    """``tshub serve`` (API + worker) in its own process group, reachable over HTTP on a free port."""

    def __init__(self, env: dict[str, str], log: Path, port: int | None = None, role: str = "all"):
        self.env, self.log_path, self.port, self.role = env, log, port or free_port(), role
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> LiveServer:
        return self.launch().wait_ready(timeout)

    def launch(self) -> LiveServer:
        """Start the process without waiting (do other set-up while it boots, then ``wait_ready``)."""
        self._log: IO[bytes] | None = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SERVE,
                "serve",
                "--port",
                str(self.port),
                "--role",
                self.role,
                "--log-level",
                "warning",
            ],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> LiveServer:
        assert self.process is not None, "launch the server first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tshub serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"tshub serve did not answer /healthz within {timeout} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole process group (API, worker, fork server, training): a crash, no cleanup."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._close_log()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM ``tshub serve`` (it stops its worker), then kill what is left of the group."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._close_log()

    def child_pid(self, role: str) -> int | None:
        """The pid of the ``tshub serve`` child running ``role`` (api or worker), None while there is none."""
        assert self.process is not None, "launch the server first"
        for pid in child_pids(self.process.pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--role" in argv and argv[argv.index(b"--role") + 1] == role.encode():
                return pid
        return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def _close_log(self) -> None:
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()
            self._log = None


@contextlib.contextmanager
def live_service(
    env: dict[str, str], log: Path, home: Path, source: Dataset, model_id: str = "Coffee/fcn"
) -> Iterator[LiveServer]:
    """A running `tshub serve` whose source checkpoint trains while the server boots (jobs and listings read the
    store live); stopped on exit."""
    live = LiveServer(env, log)
    live.launch()
    try:
        make_source_checkpoint(home, source, model_id)
        yield live.wait_ready()
    finally:
        live.stop()


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid``, whichever of its threads started them (Linux /proc)."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return children


def memory_kb(pid: int, field: str = "VmRSS") -> int:
    """A /proc/PID/status memory figure in kB: VmRSS (now) or VmHWM (peak); 0 when the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith(field + ":")), 0)


def create_token(env: dict[str, str], name: str, *options: str) -> str:
    """A token for the server of ``env``, created with the CLI exactly as an operator would."""
    out = run_cli(env, "token", "create", "--name", name, *options)
    out.check_returncode()
    return out.stdout.strip()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``tshub ARGS`` on the server of ``env``, as its operator runs it: a process of its own."""
    return subprocess.run([sys.executable, "-c", SERVE, *args], env=env, capture_output=True, text=True)


def run_cli_here(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``tshub ARGS`` run in this process under the environment ``env``: the code, exit status and output of
    ``run_cli`` without a Python start and torch import (seconds each on a busy machine)."""
    from server.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, env, clear=True), redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's usage errors, and sys.exit("message") as Python prints it
            code = exit_.code if isinstance(exit_.code, int) else 1
            if isinstance(exit_.code, str):
                print(exit_.code, file=sys.stderr)
    return subprocess.CompletedProcess(["tshub", *args], code, stdout.getvalue(), stderr.getvalue())


def wait_for_job(
    client: httpx.Client, job_id: str, until: tuple[str, ...] = TERMINAL, timeout: float = 120.0, poll: float = 0.2
) -> dict[str, Any]:
    """Poll GET /v1/jobs/{id} until its state is in ``until``; returns the job."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["state"] in until:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['state']} after {timeout} s: {job}")
        time.sleep(poll)


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here (None when they can): Debian's chromium, chromium-driver, selenium."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        return (
            f"{' and '.join(missing)} not installed: apt-get install chromium chromium-driver (make test does, as root)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[dev]'"
    return None


def headless_chromium(downloads: Path, width: int = 1280, height: int = 900) -> Any:
    """A selenium driver for the system's headless Chromium (no driver download), saving downloads to
    ``downloads``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver
