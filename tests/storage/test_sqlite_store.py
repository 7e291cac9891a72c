"""What only the SQLite store does: schema, migrations, WAL, error wrapping."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import anyio
import pytest
from storage_records import (
    OWNER,
    T0,
    a_run,
    an_instance,
    an_xcom,
    finished,
    interrupted,
    running_run,
    start,
    started,
    stored,
)

from asyncflow.exceptions import StoreError
from asyncflow.records import XComRecord
from asyncflow.states import TaskState
from asyncflow.storage.sqlite import SqliteStore, codec, schema
from asyncflow.storage.sqlite.sqlfiles import MIGRATIONS

pytestmark = pytest.mark.anyio


def raw(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of one statement run on a plain sqlite3 connection, closed afterwards."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


# --- schema and connection ----------------------------------------------------------------


async def test_opening_twice_applies_migrations_once(tmp_path: Path) -> None:
    """Open, close and open again on the same file keeps one schema at the latest version."""
    path = tmp_path / "af.db"
    for _ in range(2):
        store = SqliteStore(path)
        await store.open()
        await store.create_run(a_run(run_id=f"r{store.stats.writes}"), [])
        await store.close()
    assert raw(path, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    tables = raw(path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    assert tables == [
        ("api_token",),
        ("dag",),
        ("dag_run",),
        ("task_instance",),
        ("web_user",),
        ("xcom",),
    ]


async def test_task_instances_carry_no_secondary_index(sqlite_store: SqliteStore) -> None:
    """No query reads task_instance but by its key, so no index taxes every poke's write."""
    indexes = raw(
        sqlite_store.path,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'task_instance'",
    )
    assert indexes == []


async def test_migrations_record_the_schema_version(sqlite_store: SqliteStore) -> None:
    """A new database is migrated to the last migration's version in PRAGMA user_version."""
    assert raw(sqlite_store.path, "PRAGMA user_version") == [(MIGRATIONS[-1].version,)]


async def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    """Opening a file whose schema version is ahead of every migration raises StoreError."""
    path = tmp_path / "future.db"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 999")
    connection.close()
    store = SqliteStore(path)
    with pytest.raises(StoreError, match="newer than this asyncflow"):
        await store.open()


async def test_a_database_of_migrations_1_to_3_gets_migration_4(tmp_path: Path) -> None:
    """An older file (schema 3) is migrated on open; its instances read interrupted_tries 0.

    The migrated instance takes part in the transitions like a new one.
    """
    path = tmp_path / "old.db"
    connection = await schema.connect(path, reader=False)
    try:
        assert await schema.migrate(connection, MIGRATIONS[:3]) == list(MIGRATIONS[:3])
        await connection.execute(
            "INSERT INTO dag_run (dag_id, run_id, run_type, state, logical_date, queued_at)"
            " VALUES ('etl', 'manual__1', 'manual', 'running', ?, ?)",
            (codec.text(T0), codec.text(T0)),
        )
        await connection.execute(
            "INSERT INTO task_instance (dag_id, run_id, task_id, map_index, state, try_number,"
            " error) VALUES ('etl', 'manual__1', 'a', -1, 'up_for_retry', 1, 'ValueError')"
        )
    finally:
        await connection.close()
    assert raw(path, "PRAGMA user_version") == [(3,)]
    assert "interrupted_tries" not in {
        row[1] for row in raw(path, "PRAGMA table_info(task_instance)")
    }
    assert MIGRATIONS[3].name == "0004_interrupted_tries.sql"

    store = SqliteStore(path)
    await store.open()
    try:
        assert raw(path, "PRAGMA user_version") == [(MIGRATIONS[-1].version,)]
        old = an_instance("a", state=TaskState.UP_FOR_RETRY, try_number=1, error="ValueError")
        assert await store.get_task_instances("etl", "manual__1") == [old]
        assert old.interrupted_tries == 0
        [running] = await start(store, old, try_number=2)
        assert await store.interrupt_tries(OWNER, [interrupted(running)]) == [True]
        assert (await stored(store)).interrupted_tries == 1
    finally:
        await store.close()


async def test_connection_settings_are_wal_normal_and_foreign_keys(
    sqlite_store: SqliteStore,
) -> None:
    """The file is in WAL mode and the writer runs synchronous=NORMAL with foreign keys."""
    assert raw(sqlite_store.path, "PRAGMA journal_mode") == [("wal",)]
    writer = sqlite_store._writer
    assert writer is not None
    assert list(await writer.execute_fetchall("PRAGMA synchronous")) == [(1,)]
    assert list(await writer.execute_fetchall("PRAGMA foreign_keys")) == [(1,)]
    assert list(await writer.execute_fetchall("PRAGMA busy_timeout")) == [(5000,)]


async def test_open_creates_the_parent_directory(tmp_path: Path) -> None:
    """A store on a file in missing directories creates them on open."""
    store = SqliteStore(tmp_path / "a" / "b" / "af.db")
    await store.open()
    await store.close()
    assert (tmp_path / "a" / "b" / "af.db").is_file()


async def test_datetimes_are_stored_as_fixed_width_utc_text(sqlite_store: SqliteStore) -> None:
    """Datetimes are ISO-8601 UTC text with microseconds, so text order is time order."""
    await sqlite_store.create_run(a_run(logical_date=T0.replace(microsecond=0)), [])
    [(text,)] = raw(sqlite_store.path, "SELECT logical_date FROM dag_run")
    assert text == "2024-05-01T12:00:00.000000+00:00"


def test_an_in_memory_path_is_refused() -> None:
    """SqliteStore(':memory:') raises StoreError pointing to memory://."""
    with pytest.raises(StoreError, match="memory://"):
        SqliteStore(":memory:")


# --- errors -------------------------------------------------------------------------------


async def test_a_file_that_is_not_a_database_fails_open_with_store_error(tmp_path: Path) -> None:
    """Opening garbage raises a one-line StoreError naming open and the path, chained."""
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database" * 100)
    store = SqliteStore(path)
    with pytest.raises(StoreError) as caught:
        await store.open()
    message = str(caught.value)
    assert message.startswith(f"open failed on {path}:")
    assert "\n" not in message
    assert isinstance(caught.value.__cause__, sqlite3.Error)


async def test_driver_errors_of_writes_are_wrapped(sqlite_store: SqliteStore) -> None:
    """A constraint failure reaches the caller as StoreError naming the operation and path."""
    with pytest.raises(StoreError) as caught:
        await sqlite_store.push_xcom([an_xcom("a", run_id="ghost")])
    assert str(caught.value).startswith(f"push_xcom failed on {sqlite_store.path}:")
    assert "FOREIGN KEY" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)


async def test_finish_try_is_all_or_nothing(sqlite_store: SqliteStore) -> None:
    """When storing the XCom fails, the try's outcome is not stored either."""
    await running_run(sqlite_store, [an_instance("a")])
    [running] = await start(sqlite_store, an_instance("a"))
    broken = XComRecord(dag_id="etl", run_id="manual__1", task_id="a", value=None)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match=r"finish_try failed on .*NOT NULL"):
        await sqlite_store.finish_try(OWNER, finished(running), [broken])
    assert await sqlite_store.get_task_instances("etl", "manual__1") == [running]
    assert await sqlite_store.get_run_xcoms("etl", "manual__1") == []


async def test_a_locked_database_fails_the_batch_and_the_store_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another process holds the write lock writes fail with StoreError; later ones work."""
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_SECONDS", 0.05)
    store = SqliteStore(tmp_path / "af.db")
    await store.open()
    try:
        await store.create_run(a_run(), [an_instance("a")])
        other = sqlite3.connect(store.path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with anyio.fail_after(10), pytest.raises(StoreError, match=r"start_run failed.*locked"):
                await store.start_run("etl", "manual__1", T0)
        finally:
            other.close()
        assert await store.start_run("etl", "manual__1", T0)
        assert await store.start_tries(OWNER, [started(an_instance("a"))]) == [True]
        assert (await stored(store)).state is TaskState.RUNNING
    finally:
        await store.close()


@pytest.mark.slow
async def test_creating_a_run_with_10_000_instances_is_fast(sqlite_store: SqliteStore) -> None:
    """A run with 10,000 task instances is created in one transaction well within a second."""
    instances = [an_instance(f"t{i:05d}") for i in range(10_000)]
    started_at = time.perf_counter()
    with anyio.fail_after(10):
        assert await sqlite_store.create_run(a_run(), instances)
    assert time.perf_counter() - started_at < 2.0
    assert len(await sqlite_store.get_task_instances("etl", "manual__1")) == 10_000
