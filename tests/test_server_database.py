"""The job database beyond one machine: schema migrations that keep a running deployment's jobs, and claims that
respect the per-tenant limit when workers on several machines race (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import os
import threading

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from sqlalchemy import inspect, text  # noqa: E402

from server.auth import TokenNameError, create_token  # noqa: E402
from server.db import Base, DatasetRecord, Job, make_engine, migrate, open_store, schema_revision  # noqa: E402
from server.jobstore import JobStore  # noqa: E402

SPEC = {"model": "Coffee/fcn", "lr_multiplier": 1.0, "epochs": 2, "seed": 0}
HEAD = "0003"  # the newest revision under server/migrations/versions


def _pre_migration_database(url: str) -> None:
    """A database as releases before migrations left it when the API had not started yet (``tshub token create``
    or a worker first): the service's tables, not the Hub's, and no alembic_version."""
    engine = make_engine(url)
    migrate(engine, "0001")
    with engine.begin() as connection:
        for table in ("alembic_version", "hub_refs", "hub_commits", "hub_repos", "hub_namespaces"):
            connection.execute(text(f"DROP TABLE {table}"))
    engine.dispose()


def test_an_upgrade_keeps_the_jobs_of_a_running_deployment(db_url: str) -> None:
    _pre_migration_database(db_url)
    engine = make_engine(db_url)
    with engine.begin() as connection:  # rows written by the old release: a finished, a running, a queued job
        connection.execute(
            text("INSERT INTO tokens (id, name, token_hash, created_at) VALUES ('t1', 'lab', :h, CURRENT_TIMESTAMP)"),
            {"h": "a" * 64},
        )
        connection.execute(
            text(
                "INSERT INTO datasets (id, owner_id, filename, raw_sha256, path, summary, created_at) "
                "VALUES ('d1', 't1', 'x.csv', :h, 'datasets/t1/x.npz', '{}', CURRENT_TIMESTAMP)"
            ),
            {"h": "b" * 64},
        )
        for job_id, state, attempts in (("j1", "succeeded", 1), ("j2", "running", 1), ("j3", "queued", 0)):
            connection.execute(
                text(
                    "INSERT INTO jobs (id, owner_id, dataset_id, spec, state, cancel_requested, attempts, created_at) "
                    "VALUES (:id, 't1', 'd1', '{\"model\": \"Coffee/fcn\"}', :state, false, :attempts, CURRENT_TIMESTAMP)"
                ),
                {"id": job_id, "state": state, "attempts": attempts},
            )
    assert schema_revision(engine) is None
    Session = open_store(db_url)  # what every API and worker process of the new release does on start
    assert schema_revision(engine) == HEAD
    assert "ix_jobs_state_owner_created" in {i["name"] for i in inspect(engine).get_indexes("jobs")}
    assert {"hub_repos", "hub_commits", "hub_refs", "hub_namespaces"} <= set(inspect(engine).get_table_names())
    with Session() as session:
        rows = {job.id: (job.state, job.attempts, job.spec) for job in session.query(Job)}
    assert rows == {
        "j1": ("succeeded", 1, {"model": "Coffee/fcn"}),
        "j2": ("running", 1, {"model": "Coffee/fcn"}),
        "j3": ("queued", 0, {"model": "Coffee/fcn"}),
    }
    assert JobStore(Session).claim_next("w").id == "j3"  # the queue goes on
    open_store(db_url)  # a second start is a no-op
    assert schema_revision(engine) == HEAD
    engine.dispose()
    Session.kw["bind"].dispose()


def test_the_migrations_build_exactly_the_models_schema(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import server.hub_store  # noqa: F401  (the self-hosted Hub's tables are part of the schema)

    engine = open_store(db_url).kw["bind"]
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_processes_starting_together_migrate_once(db_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_store(db_url).kw["bind"].dispose()
        except BaseException as err:  # noqa: BLE001 — reported below
            errors.append(err)

    threads = [threading.Thread(target=start) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    assert schema_revision(make_engine(db_url)) == HEAD


@pytest.mark.parametrize("limit", [1, 2])
def test_racing_workers_never_run_more_than_the_tenant_limit(db_url: str, limit: int) -> None:
    Session = open_store(db_url)
    owners = []
    for name in ("alice", "bob"):
        owner, _ = create_token(Session, name)
        with Session.begin() as session:
            dataset = DatasetRecord(
                owner_id=owner.id, filename="d.csv", raw_sha256="0" * 64, path="datasets/x.npz", summary={}
            )
            session.add(dataset)
        owners.append((owner.id, dataset.id))
    store = JobStore(Session)
    for _ in range(6):
        for owner in owners:
            store.create(*owner, SPEC)
    start = threading.Barrier(8)

    def work(worker: str) -> None:
        mine = JobStore(Session)
        start.wait()
        for _ in range(3):
            mine.claim_next(worker, tenant_running=limit)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    with Session() as session:
        running = {owner: session.query(Job).filter_by(owner_id=owner, state="running").count() for owner, _ in owners}
    assert running == {owner: limit for owner, _ in owners}
    Session.kw["bind"].dispose()


def test_a_claim_in_flight_holds_back_a_second_claim_for_the_same_tenant(db_url: str) -> None:
    """Worker A has marked a job running but not committed yet when worker B claims for the same tenant (limit 1):
    B must not take a second job (on PostgreSQL each statement sees only committed rows, so B's count of running
    jobs alone cannot see A's claim)."""
    from sqlalchemy import event

    Session = open_store(db_url)
    owner, _ = create_token(Session, "alice")
    with Session.begin() as session:
        dataset = DatasetRecord(owner_id=owner.id, filename="d.csv", raw_sha256="0" * 64, path="d.npz", summary={})
        session.add(dataset)
    store = JobStore(Session)
    for _ in range(3):
        store.create(owner.id, dataset.id, SPEC)
    a_updated, release_a = threading.Event(), threading.Event()

    @event.listens_for(Session.kw["bind"], "after_cursor_execute")
    def pause_a(conn, cursor, statement: str, *args) -> None:  # noqa: ANN001
        if threading.current_thread().name == "A" and statement.lstrip().upper().startswith("UPDATE JOBS"):
            a_updated.set()
            release_a.wait(30)

    claimed: dict[str, str | None] = {}

    def claim(name: str) -> None:
        job = JobStore(Session).claim_next(name, tenant_running=1)
        claimed[name] = job and job.id

    a = threading.Thread(target=claim, args=("A",), name="A")
    a.start()
    assert a_updated.wait(30)
    b = threading.Thread(target=claim, args=("B",), name="B")
    b.start()
    b.join(2)  # PostgreSQL: B answers at once; SQLite: B waits for A's write lock
    release_a.set()
    a.join(30)
    b.join(30)
    assert claimed["A"] is not None and claimed["B"] is None
    with Session() as session:
        assert session.query(Job).filter_by(state="running").count() == 1
    Session.kw["bind"].dispose()


def _posix_locks(path) -> list[str]:
    """This process's POSIX locks on ``path`` (Linux /proc/locks lines)."""
    import os

    stat = os.stat(path)
    device = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    with open("/proc/locks") as locks:
        return [line for line in locks if line.split()[4:6] == [str(os.getpid()), device]]


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="reads the process's file locks from Linux /proc/locks")
def test_opening_a_sqlite_store_again_keeps_the_locks_this_process_holds_on_it(tmp_path) -> None:
    """Regression: make_engine opened and closed the database file on every call, and closing any descriptor of a
    file drops every POSIX lock the process holds on it; the API process opens its store twice, so its SQLite
    connections lost their shared lock and another process (`tshub token create`) checkpointed and deleted the
    WAL under them: commits the API had answered were gone after a restart."""
    url = f"sqlite:///{tmp_path / 'tshub.db'}"
    store = open_store(url)
    with store() as session:  # a pooled connection stays open, holding WAL mode's shared lock on the file
        session.execute(text("SELECT count(*) FROM jobs")).scalar()
    held = _posix_locks(tmp_path / "tshub.db")
    assert held, "SQLite in WAL mode holds a shared lock while a connection is open"
    open_store(url)
    assert _posix_locks(tmp_path / "tshub.db") == held


def test_two_tokens_created_at_once_never_share_a_name(db_url: str) -> None:
    """Operator A's `tshub token create --name alice` has read the tokens (no 'alice' yet) when operator B's
    creates 'Alice' and commits: A must be refused as if B's had come first, since a name is a tenant and its Hub
    namespace (checking the names in Python alone let both in)."""
    from sqlalchemy import event

    Session = open_store(db_url)
    a_read, release_a = threading.Event(), threading.Event()

    @event.listens_for(Session.kw["bind"], "after_cursor_execute")
    def pause_a(conn, cursor, statement: str, *args) -> None:  # noqa: ANN001
        if threading.current_thread().name == "A" and "FROM tokens" in statement and not a_read.is_set():
            a_read.set()
            release_a.wait(30)

    refused: list[Exception] = []

    def create_a() -> None:
        try:
            create_token(Session, "alice")
        except TokenNameError as err:
            refused.append(err)

    a = threading.Thread(target=create_a, name="A")
    a.start()
    assert a_read.wait(30)
    b_owner, _ = create_token(Session, "Alice")
    release_a.set()
    a.join(30)
    with Session() as session:
        names = [name for (name,) in session.execute(text("SELECT name FROM tokens"))]
    assert names == ["Alice"]
    assert len(refused) == 1 and f"a token named 'Alice' exists already ({b_owner.id}" in str(refused[0])
    Session.kw["bind"].dispose()


def test_the_upgrade_keeps_tokens_that_already_share_a_name_and_gives_the_name_no_further_token(db_url: str) -> None:
    """Names given twice before the database enforced them (racing creations) stay, with their tenants' data; the
    first of them holds the name, so it is refused from then on."""
    engine = make_engine(db_url)
    migrate(engine, "0002")
    with engine.begin() as connection:
        for token_id, name, created in (
            ("t1", "lab", "2026-01-01"),
            ("t2", "LAB", "2026-01-02"),
            ("t3", "x", "2026-01-03"),
        ):
            connection.execute(
                text("INSERT INTO tokens (id, name, token_hash, created_at) VALUES (:id, :name, :h, :created)"),
                {"id": token_id, "name": name, "h": token_id * 32, "created": created},
            )
    Session = open_store(db_url)
    assert schema_revision(engine) == HEAD
    with Session() as session:
        rows = dict(session.execute(text("SELECT id, name_key FROM tokens")).all())
    assert rows == {"t1": "lab", "t2": None, "t3": "x"}
    with pytest.raises(TokenNameError, match=r"a token named '(lab|LAB)' exists already"):
        create_token(Session, "Lab")
    engine.dispose()
    Session.kw["bind"].dispose()
