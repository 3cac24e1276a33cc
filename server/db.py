"""The durable store: SQLAlchemy 2 ORM tables (tokens, datasets, jobs, each row owned by a token) and the engine.

SQLite (WAL, busy timeout, a file only its owner can read) is the default; any SQLAlchemy URL (e.g. PostgreSQL)
works for several machines. Tables are created on first use, and nullable columns added since a database was
created are added to it (the only migration there is so far).
"""

from __future__ import annotations

import base64
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Integer, Select, String, Text, and_,
                        create_engine, event, inspect, or_, text)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL_STATES = ("succeeded", "failed", "cancelled")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator):
    """Stores naive UTC (portable across SQLite and PostgreSQL), hands back timezone-aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column; use server.db.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Token(Base):
    """An API token; only its sha256 is stored, the clear token is shown once when created."""

    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DatasetRecord(Base):
    """An uploaded dataset: the parsed arrays live content-addressed under storage, ``path`` relative to it."""

    __tablename__ = "datasets"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("tokens.id"), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    raw_sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(300))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # counted in the owner's storage quota


class Job(Base):
    """A fine-tune job; ``state`` moves queued → running → succeeded | failed | cancelled (or back to queued
    when its worker dies), and only conditional UPDATEs change it, so two workers never run the same job."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("tokens.id"), index=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    model_path: Mapped[str | None] = mapped_column(String(300), nullable=True)
    model_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # counted in the storage quota
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets its folder created, WAL journaling and a 30 s busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # SQLite gives -wal and -shm the same mode
        os.chmod(path, 0o600)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                           pool_size=10, max_overflow=20)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def open_store(url: str) -> sessionmaker:
    """Create the tables when missing and return a session factory bound to ``url``."""
    engine = make_engine(url)
    try:
        Base.metadata.create_all(engine)
        _add_missing_columns(engine)
    except OperationalError:  # another process (API or worker) created the tables at the same moment
        Base.metadata.create_all(engine)
        _add_missing_columns(engine)
    return sessionmaker(engine, expire_on_commit=False)


def _add_missing_columns(engine: Engine) -> None:
    """Add the nullable columns a database created by an older version lacks."""
    inspector = inspect(engine)
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present and column.nullable:
                    kind = column.type.compile(engine.dialect)
                    connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"))


# ------------------------------------------------------------------------------------------ cursor paging
PAGE_LIMIT = 100


def page_of(session: Session, query: Select, model: type[Job] | type[DatasetRecord], limit: int,
            cursor: str | None) -> tuple[list[Any], str | None]:
    """One page of ``query`` rows, newest first, after ``cursor``; and the cursor of the next page (None: last).

    The cursor is the (created_at, id) of the last row shown, so paging stays exact while rows are added."""
    if cursor:
        created, row_id = decode_cursor(cursor)
        query = query.where(or_(model.created_at < created, and_(model.created_at == created, model.id < row_id)))
    rows = list(session.scalars(query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    token = f"{last.created_at.isoformat()}|{last.id}"
    return rows[:limit], base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


class BadCursor(ValueError):
    pass


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, row_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        when = datetime.fromisoformat(created)
    except ValueError:
        raise BadCursor(f"cursor {cursor[:40]!r} is not one this server gave; use next_cursor from the previous "
                        "page, or omit it for the first page.") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)), row_id
