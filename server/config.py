"""Service settings, read once from environment variables (documented in the README's service section)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.storage import ObjectStore

ENGINES = ("local", "ray")


class ConfigError(ValueError):
    """An environment variable has a value the service cannot use."""


def tshub_home() -> Path:
    """$TSHUB_HOME, the same default as the hub's local store (the user cache)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tshub"
    return Path(os.environ.get("TSHUB_HOME", default)).expanduser()


@dataclass(frozen=True)
class Settings:
    """Everything the API and the worker need to agree on; both read it from the same environment."""

    db_url: str
    storage: Path  # a local folder: the files themselves, or with ``storage_url`` temp files and cached copies
    max_upload_mb: float
    engine: str
    ray_address: str | None
    workers: int
    heartbeat_s: float
    stale_after_s: float
    max_attempts: int
    poll_s: float
    sources: tuple[str, ...] | None = None
    storage_url: str | None = None  # s3://bucket[/prefix]: the files live there, shared by every machine
    # request bodies and untrusted work (see server.isolation)
    max_json_kb: float = 64.0
    max_expanded_mb: float = 1024.0
    max_series: int = 1_000_000
    max_values: int = 100_000_000
    parse_memory_mb: float = 4096.0
    parse_timeout_s: float = 300.0
    parse_slots: int = 2
    recommend_timeout_s: float = 120.0
    recommend_max_series: int = 2000
    # per-tenant quotas and the job wall clock
    tenant_running: int = 1
    tenant_queued: int = 20
    tenant_storage_mb: float = 5120.0
    tenant_concurrency: int = 8
    max_job_s: float = 6 * 3600.0

    def object_store(self) -> ObjectStore:
        """The storage of uploads, datasets and models (``server.storage``)."""
        from server.storage import open_storage

        return open_storage(self.storage_url or self.storage, scratch=self.storage / "tmp")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_json_bytes(self) -> int:
        return int(self.max_json_kb * 1024)

    @property
    def tenant_storage_bytes(self) -> int:
        return int(self.tenant_storage_mb * 1024 * 1024)

    @classmethod
    def from_env(cls) -> Settings:
        server_home = tshub_home() / "server"
        engine = os.environ.get("TSHUB_ENGINE", "local").strip().lower()
        if engine not in ENGINES:
            raise ConfigError(f"TSHUB_ENGINE={engine!r}: use one of {ENGINES}.")
        location = os.environ.get("TSHUB_SERVER_STORAGE") or str(server_home / "storage")
        remote = location.startswith("s3://")
        settings = cls(
            db_url=os.environ.get("TSHUB_SERVER_DB") or f"sqlite:///{server_home / 'tshub.db'}",
            storage=(server_home / "storage" if remote else Path(location)).expanduser(),
            storage_url=location if remote else None,
            max_upload_mb=_number("TSHUB_MAX_UPLOAD_MB", 200.0),
            engine=engine,
            ray_address=os.environ.get("TSHUB_RAY_ADDRESS") or None,
            workers=int(_number("TSHUB_WORKERS", 1)),
            heartbeat_s=_number("TSHUB_HEARTBEAT_S", 5.0),
            stale_after_s=_number("TSHUB_STALE_AFTER_S", 60.0),
            max_attempts=int(_number("TSHUB_MAX_ATTEMPTS", 3)),
            poll_s=_number("TSHUB_POLL_S", 1.0),
            sources=tuple(s.strip() for s in os.environ.get("TSHUB_SERVER_SOURCES", "").split(",") if s.strip())
            or None,
            max_json_kb=_number("TSHUB_MAX_JSON_KB", cls.max_json_kb),
            max_expanded_mb=_number("TSHUB_MAX_EXPANDED_MB", cls.max_expanded_mb),
            max_series=int(_number("TSHUB_MAX_SERIES", cls.max_series)),
            max_values=int(_number("TSHUB_MAX_VALUES", cls.max_values)),
            parse_memory_mb=_number("TSHUB_PARSE_MEMORY_MB", cls.parse_memory_mb),
            parse_timeout_s=_number("TSHUB_PARSE_TIMEOUT_S", cls.parse_timeout_s),
            parse_slots=int(_number("TSHUB_PARSE_SLOTS", cls.parse_slots)),
            recommend_timeout_s=_number("TSHUB_RECOMMEND_TIMEOUT_S", cls.recommend_timeout_s),
            recommend_max_series=int(_number("TSHUB_RECOMMEND_MAX_SERIES", cls.recommend_max_series)),
            tenant_running=int(_number("TSHUB_TENANT_RUNNING", cls.tenant_running)),
            tenant_queued=int(_number("TSHUB_TENANT_QUEUED", cls.tenant_queued)),
            tenant_storage_mb=_number("TSHUB_TENANT_STORAGE_MB", cls.tenant_storage_mb),
            tenant_concurrency=int(_number("TSHUB_TENANT_CONCURRENCY", cls.tenant_concurrency)),
            max_job_s=_number("TSHUB_MAX_JOB_S", cls.max_job_s),
        )
        counts = {
            "TSHUB_WORKERS": settings.workers,
            "TSHUB_MAX_ATTEMPTS": settings.max_attempts,
            "TSHUB_PARSE_SLOTS": settings.parse_slots,
            "TSHUB_TENANT_RUNNING": settings.tenant_running,
            "TSHUB_TENANT_QUEUED": settings.tenant_queued,
            "TSHUB_TENANT_CONCURRENCY": settings.tenant_concurrency,
            "TSHUB_MAX_SERIES": settings.max_series,
            "TSHUB_MAX_VALUES": settings.max_values,
            "TSHUB_RECOMMEND_MAX_SERIES": settings.recommend_max_series,
        }
        small = [name for name, value in counts.items() if value < 1]
        if small:
            raise ConfigError(f"{', '.join(small)} must be whole numbers >= 1.")
        if settings.stale_after_s <= 2 * settings.heartbeat_s:
            raise ConfigError(
                f"TSHUB_STALE_AFTER_S ({settings.stale_after_s}) must exceed twice TSHUB_HEARTBEAT_S "
                f"({settings.heartbeat_s}), or live jobs would be requeued."
            )
        return settings


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number.") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be > 0.")
    return value
