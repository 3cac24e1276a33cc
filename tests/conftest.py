"""Shared fixtures: the real data folder beside the project (tests skip cleanly without it), fast torch settings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import torch

from tshub.data.catalogue import data_root

if TYPE_CHECKING:
    from server.local_cluster import PostgresServer, S3Server

torch.set_num_threads(1)  # OpenMP threads stall on shared, busy cores; one thread is faster here


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder as tshub finds it ($TSHUB_DATA, else ../shared/data); skips the test without it."""
    root = data_root()
    if root is None or not (root / "UCRArchive_2018").is_dir():
        where = f"at {root}" if root is not None else "($TSHUB_DATA is not set and ../shared/data does not exist)"
        pytest.skip(f"real data not found {where}: set TSHUB_DATA to the folder holding UCRArchive_2018/")
    return root


@pytest.fixture(scope="session")
def ucr_root(shared_data: Path) -> Path:
    return shared_data / "UCRArchive_2018"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's cache, the repository's zoo or the network from a test."""
    monkeypatch.setenv("TSHUB_HOME", str(tmp_path_factory.mktemp("tshub_home")))
    monkeypatch.setenv("TSHUB_REPO_ZOO", "")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def private_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Makes the only zoo the tests see ($TSHUB_ZOO): copies of checkpoint folders, and altered copies saved under
    new ids, ``{"CutShort/fcn": (folder, {"stop_reason": "time_budget"})}`` (meta fields replaced)."""
    from tshub.hub import load_pretrained

    def make(copies: list[str | Path], altered: dict[str, tuple[str | Path, dict[str, Any]]] | None = None) -> Path:
        zoo = tmp_path / "zoo"
        for folder in map(Path, copies):
            shutil.copytree(folder, zoo / folder.parent.name / folder.name)
        for model_id, (folder, meta) in (altered or {}).items():
            model = load_pretrained(str(folder))
            model.meta = {**model.meta, **meta}
            model.save_pretrained(zoo / model_id, id=model_id)
        monkeypatch.setenv("TSHUB_ZOO", str(zoo))
        return zoo

    return make


@pytest.fixture(scope="session")
def earlier_weights() -> Callable[[str], dict[str, Any]]:
    """The config of a zoo checkpoint ("Car/fcn") as the latest commit whose weights differ from today's held it
    (a source rebuilt since a benchmark fine-tuned it); skips the test when this clone's history has none."""
    root = Path(__file__).resolve().parents[1]

    def config(model_id: str) -> dict[str, Any]:
        path = f"zoo/{model_id}/config.json"
        current = json.loads((root / path).read_text())["weights_sha256"]
        revisions = subprocess.run(
            ["git", "-C", str(root), "log", "--format=%H", "--", path], capture_output=True, text=True
        ).stdout.split()
        for revision in revisions:
            shown = subprocess.run(
                ["git", "-C", str(root), "show", f"{revision}:{path}"], capture_output=True, text=True
            )
            if shown.returncode == 0 and json.loads(shown.stdout)["weights_sha256"] != current:
                return json.loads(shown.stdout)
        pytest.skip(f"this clone's git history holds no earlier {model_id} checkpoint (a shallow clone)")

    return config


@pytest.fixture
def without_scikit_learn(monkeypatch: pytest.MonkeyPatch) -> None:
    """scikit-learn, an optional extra, made unimportable for the test (its modules already imported included)."""
    for module in {"sklearn", *(name for name in sys.modules if name.startswith("sklearn."))}:
        monkeypatch.setitem(sys.modules, module, None)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (initdb + pg_ctl in a temp folder, loopback only); the tests that
    need it skip, saying why, only where it cannot start."""
    from server.local_cluster import PostgresServer

    server = _started(PostgresServer(), "PostgreSQL")
    yield server
    server.kill()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The service's database URL, once per backend: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    return request.getfixturevalue("postgres").database()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """An S3-compatible server for the session (moto's server mode on loopback); skips only where it cannot start."""
    from server.local_cluster import S3Server

    server = _started(S3Server(), "the S3-compatible server")
    yield server
    server.kill()


def _started(service: Any, what: str) -> Any:
    """``service.start()``, or skip the test saying why ``what`` cannot start on this machine."""
    from server.local_cluster import Unavailable

    try:
        return service.start()
    except Unavailable as err:
        pytest.skip(f"{what} cannot start here: {err}")
