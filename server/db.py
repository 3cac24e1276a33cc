"""The durable store: SQLAlchemy 2 ORM tables (tokens, datasets, jobs, each row owned by a token) and the engine.

SQLite (WAL, busy timeout, a file only its owner can read) is the default; PostgreSQL (``postgresql+psycopg://``)
serves several machines. The schema is versioned with Alembic (``server/migrations``): every process upgrades the
database to the current revision on start, under a lock, so a new release keeps the jobs of a running deployment.
"""

from __future__ import annotations

import base64
import fcntl
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    and_,
    create_engine,
    event,
    inspect,
    or_,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

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
    # name.casefold() (up to 3 characters per character), unique: the database gives a name once even to creations
    # that race; None only for a name given twice before it did (migration 0003 keeps the first holding it).
    name_key: Mapped[str | None] = mapped_column(String(600), nullable=True, unique=True, index=True)
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
    __table_args__ = (Index("ix_jobs_state_owner_created", "state", "owner_id", "created_at"),)  # the claim query
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
        # Created before SQLite does so that it has this mode (which SQLite gives -wal and -shm too); never opened
        # when it exists, since closing any descriptor of a file drops every POSIX lock this process holds on it:
        # the SQLite connections of an engine made earlier would lose their shared lock, and another process could
        # checkpoint and delete the WAL under them.
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass
        os.chmod(path, 0o600)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=10, max_overflow=20)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def open_store(url: str) -> sessionmaker:
    """Bring the database at ``url`` to the current schema revision and return a session factory bound to it."""
    engine = make_engine(url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK_KEY = 0x7453_4855_4201  # pg_advisory_lock key: one migrating process at a time


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` under a lock held across processes (the API and every worker run this
    on start). A database from before migrations is adopted: its missing nullable columns are added (what older
    releases did), then the baseline revision creates whichever of its tables are missing, and the later
    revisions run as on any other database."""
    from alembic import command
    from alembic.config import Config

    with _migration_lock(engine) as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        tables = set(inspect(connection).get_table_names())
        if "jobs" in tables and "alembic_version" not in tables:
            _add_missing_columns(connection, tables)
        command.upgrade(config, revision)
        connection.commit()


def schema_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: not under migrations)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection held under an exclusive lock: a PostgreSQL advisory lock, or a lock file beside the SQLite
    database (SQLite's own locks do not cover alembic reading the revision before it writes). The SQLite lock is
    taken before connecting: a new database's first connections switch it to WAL, and SQLite answers a journal-mode
    change racing another one "database is locked" at once, without waiting out the busy timeout."""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        with open(f"{database}.migrate-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with engine.connect() as connection:
                yield connection
        return
    with engine.connect() as connection:
        if engine.dialect.name != "postgresql":
            yield connection
            return
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        connection.commit()
        try:
            yield connection
        finally:
            connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            connection.commit()


def _add_missing_columns(connection: Connection, tables: set[str]) -> None:
    """Add the nullable columns that the ``tables`` of an older, pre-migration release lack."""
    inspector = inspect(connection)
    for table in Base.metadata.sorted_tables:
        if table.name not in tables:
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable:
                kind = column.type.compile(connection.dialect)
                connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"))


# ------------------------------------------------------------------------------------------ cursor paging
PAGE_LIMIT = 100


def page_of(
    session: Session, query: Select, model: type[Job] | type[DatasetRecord], limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
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
    """The (created_at in UTC, id) of a cursor; BadCursor for anything else (e.g. a forged date that UTC cannot
    hold, such as 0001-01-01T00:00:00+05:00)."""
    try:
        created, row_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        when = datetime.fromisoformat(created)
        when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise BadCursor(
            f"cursor {cursor[:40]!r} is not one this server gave; use next_cursor from the previous "
            "page, or omit it for the first page."
        ) from None
    return when, row_id
