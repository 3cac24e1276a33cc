"""Service settings, read once from environment variables (documented in the README's service section)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
    storage: Path
    max_upload_mb: float
    engine: str
    ray_address: str | None
    workers: int
    heartbeat_s: float
    stale_after_s: float
    max_attempts: int
    poll_s: float
    sources: tuple[str, ...] | None = None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_env(cls) -> "Settings":
        server_home = tshub_home() / "server"
        engine = os.environ.get("TSHUB_ENGINE", "local").strip().lower()
        if engine not in ENGINES:
            raise ConfigError(f"TSHUB_ENGINE={engine!r}: use one of {ENGINES}.")
        settings = cls(
            db_url=os.environ.get("TSHUB_SERVER_DB") or f"sqlite:///{server_home / 'tshub.db'}",
            storage=Path(os.environ.get("TSHUB_SERVER_STORAGE") or server_home / "storage").expanduser(),
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
        )
        if settings.workers < 1 or settings.max_attempts < 1:
            raise ConfigError("TSHUB_WORKERS and TSHUB_MAX_ATTEMPTS must be >= 1.")
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
