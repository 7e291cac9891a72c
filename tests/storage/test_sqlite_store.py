"""What only the SQLite store does: migrations, WAL, group commit, error wrapping."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from storage_records import T0, a_run, an_instance, an_xcom, finished, rescheduled

from asyncflow.exceptions import DagRunNotFound, StoreError
from asyncflow.records import TaskInstanceRecord, XComRecord
from asyncflow.states import DagRunState, TaskState
from asyncflow.storage.sqlite import SqliteStore, schema
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
    assert tables == [("dag",), ("dag_run",), ("task_instance",), ("xcom",)]


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
        await sqlite_store.set_task_instances([an_instance("a", run_id="ghost")])
    assert str(caught.value).startswith(f"set_task_instances failed on {sqlite_store.path}:")
    assert "FOREIGN KEY" in str(caught.value)
    assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)


async def test_finish_task_instance_is_all_or_nothing(sqlite_store: SqliteStore) -> None:
    """When storing the XCom fails, the instance's new state is not stored either."""
    await sqlite_store.create_run(a_run(), [an_instance("a")])
    broken = XComRecord(dag_id="etl", run_id="manual__1", task_id="a", value=None)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="NOT NULL"):
        await sqlite_store.finish_task_instance(finished(an_instance("a")), [broken])
    assert await sqlite_store.get_task_instances("etl", "manual__1") == [an_instance("a")]


async def test_a_locked_database_fails_the_batch_and_the_store_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another process holds the write lock writes fail with StoreError; later ones work."""
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_SECONDS", 0.05)
    store = SqliteStore(tmp_path / "af.db")
    await store.open()
    try:
        await store.create_run(a_run(), [])
        other = sqlite3.connect(store.path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with anyio.fail_after(10), pytest.raises(StoreError, match="locked"):
                await store.set_task_instances([an_instance("a")])
        finally:
            other.close()
        await store.set_task_instances([an_instance("a")])
        assert await store.get_task_instances("etl", "manual__1") == [an_instance("a")]
    finally:
        await store.close()


# --- group commit -------------------------------------------------------------------------


async def test_concurrent_writes_share_few_transactions(sqlite_store: SqliteStore) -> None:
    """500 concurrent set_task_instances calls commit in at most 10 transactions, all visible."""
    await sqlite_store.create_run(a_run(), [])
    before = dataclasses.replace(sqlite_store.stats)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for i in range(500):
                tg.start_soon(sqlite_store.set_task_instances, [an_instance(f"t{i:03d}")])
    assert sqlite_store.stats.writes - before.writes == 500
    assert sqlite_store.stats.transactions - before.transactions <= 10
    assert len(await sqlite_store.get_task_instances("etl", "manual__1")) == 500


async def test_concurrent_finishes_share_few_transactions(sqlite_store: SqliteStore) -> None:
    """1,000 concurrent finish_task_instance calls commit together with every XCom."""
    instances = [an_instance(f"t{i:04d}") for i in range(1000)]
    await sqlite_store.create_run(a_run(), instances)
    before = sqlite_store.stats.transactions

    async def finish(i: int) -> None:
        ti = instances[i]
        await sqlite_store.finish_task_instance(finished(ti), [an_xcom(ti.task_id, str(i))])

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for i in range(1000):
                tg.start_soon(finish, i)
    assert sqlite_store.stats.transactions - before <= 10
    stored = await sqlite_store.get_task_instances("etl", "manual__1")
    assert all(ti.state == TaskState.SUCCESS for ti in stored)
    assert len(await sqlite_store.get_run_xcoms("etl", "manual__1")) == 1000


async def test_a_failing_write_fails_only_its_own_caller(sqlite_store: SqliteStore) -> None:
    """In a batch with one bad write, only its caller gets the error; the others commit."""
    await sqlite_store.create_run(a_run(), [])
    outcomes: dict[int, BaseException | None] = {}

    async def write(i: int) -> None:
        run_id = "ghost" if i == 37 else "manual__1"
        try:
            await sqlite_store.set_task_instances([an_instance(f"t{i:03d}", run_id=run_id)])
        except StoreError as exc:
            outcomes[i] = exc
        else:
            outcomes[i] = None

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for i in range(100):
                tg.start_soon(write, i)
    assert [i for i, error in outcomes.items() if error is not None] == [37]
    assert len(await sqlite_store.get_task_instances("etl", "manual__1")) == 99
    await sqlite_store.set_task_instances([an_instance("after")])
    assert len(await sqlite_store.get_task_instances("etl", "manual__1")) == 100


async def test_mixed_writes_in_one_batch_keep_their_results(sqlite_store: SqliteStore) -> None:
    """Concurrent create_run, update_run and XCom writes each get their own result or error."""
    await sqlite_store.create_run(a_run(), [])
    results: dict[str, object] = {}

    async def record(name: str, write: object) -> None:
        try:
            results[name] = await write  # type: ignore[misc]
        except Exception as exc:
            results[name] = type(exc)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(record, "new", sqlite_store.create_run(a_run(run_id="new"), []))
            tg.start_soon(record, "dup", sqlite_store.create_run(a_run(), []))
            tg.start_soon(record, "missing", sqlite_store.update_run(a_run(run_id="missing")))
            done = a_run(state=DagRunState.SUCCESS)
            tg.start_soon(record, "update", sqlite_store.update_run(done))
            tg.start_soon(record, "xcom", sqlite_store.push_xcom([an_xcom("a")]))
    assert results == {
        "new": True,
        "dup": False,
        "missing": DagRunNotFound,
        "update": None,
        "xcom": None,
    }
    run = await sqlite_store.get_run("etl", "manual__1")
    assert run is not None
    assert run.state == DagRunState.SUCCESS


async def test_close_commits_writes_still_queued(tmp_path: Path) -> None:
    """Writes whose callers were cancelled while queued still commit, at the latest on close."""
    store = SqliteStore(tmp_path / "af.db")
    await store.open()
    await store.create_run(a_run(), [])
    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(store.set_task_instances, [an_instance(f"t{i:02d}")])
        await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    await store.close()
    await store.open()
    try:
        assert len(await store.get_task_instances("etl", "manual__1")) == 50
    finally:
        await store.close()


# --- lingering reschedules ----------------------------------------------------------------


async def reschedule_all(store: SqliteStore, sensors: list[TaskInstanceRecord]) -> None:
    """Reschedule every sensor from its own task, one more joining on each loop turn."""
    async with anyio.create_task_group() as tg:
        for ti in sensors:
            tg.start_soon(store.reschedule_task_instance, rescheduled(ti))
            await anyio.lowlevel.checkpoint()


async def test_reschedules_arriving_over_a_linger_share_one_transaction(tmp_path: Path) -> None:
    """Sensors rescheduling one after another within the linger commit in one transaction."""
    sensors = [an_instance("s", i, state=TaskState.RUNNING) for i in range(100)]
    async with opened(SqliteStore(tmp_path / "af.db", linger=0.5)) as store:
        await store.create_run(a_run(), sensors)
        before = store.stats.transactions
        with anyio.fail_after(10):
            await reschedule_all(store, sensors)
        assert store.stats.transactions - before == 1
        stored = await store.get_task_instances("etl", "manual__1")
        assert {ti.state for ti in stored} == {TaskState.UP_FOR_RESCHEDULE}


async def test_patient_starts_and_ends_linger_like_reschedules(tmp_path: Path) -> None:
    """Sensors' try starts and ends (patient=True) arriving over a linger share a transaction."""
    sensors = [an_instance("s", i) for i in range(40)]
    async with opened(SqliteStore(tmp_path / "af.db", linger=0.5)) as store:
        await store.create_run(a_run(), sensors)
        before = store.stats.transactions
        running = [replace(ti, state=TaskState.RUNNING, try_number=1) for ti in sensors]
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for ti in running[:20]:
                    tg.start_soon(partial(store.set_task_instances, [ti], patient=True))
                    await anyio.lowlevel.checkpoint()
                for ti in running[20:]:
                    done = replace(ti, state=TaskState.SUCCESS)
                    tg.start_soon(partial(store.finish_task_instance, done, patient=True))
                    await anyio.lowlevel.checkpoint()
        assert store.stats.transactions - before == 1
        stored = await store.get_task_instances("etl", "manual__1")
        states = sorted(ti.state for ti in stored if ti.state is not None)
        assert states == sorted([TaskState.RUNNING] * 20 + [TaskState.SUCCESS] * 20)


async def test_a_task_start_is_not_held_back_by_lingering_reschedules(tmp_path: Path) -> None:
    """A plain write commits at once, taking the reschedules lingering for a minute with it."""
    sensors = [an_instance("s", i, state=TaskState.RUNNING) for i in range(10)]
    async with opened(SqliteStore(tmp_path / "af.db", linger=60)) as store:
        await store.create_run(a_run(), [*sensors, an_instance("t")])
        before = store.stats.transactions
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(reschedule_all, store, sensors)
                await wait_until(lambda: store._commits.pending == len(sensors))
                await store.set_task_instances([an_instance("t", state=TaskState.RUNNING)])
        assert store.stats.transactions - before == 1
        stored = await store.get_task_instances("etl", "manual__1")
        assert [ti.state for ti in stored] == [TaskState.UP_FOR_RESCHEDULE] * 10 + [
            TaskState.RUNNING
        ]


async def test_a_reschedule_of_a_missing_instance_fails_alone(sqlite_store: SqliteStore) -> None:
    """In a batch of reschedules, only the one naming an unknown instance fails."""
    sensors = [an_instance("s", i, state=TaskState.RUNNING) for i in range(20)]
    await sqlite_store.create_run(a_run(), sensors)
    failures: list[str] = []

    async def reschedule(ti: TaskInstanceRecord) -> None:
        try:
            await sqlite_store.reschedule_task_instance(rescheduled(ti))
        except StoreError as exc:
            failures.append(str(exc))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for ti in [*sensors[:10], an_instance("s", 99), *sensors[10:]]:
                tg.start_soon(reschedule, ti)
    assert failures == ["reschedule_task_instance: no task instance etl/manual__1/s[99]"]
    stored = await sqlite_store.get_task_instances("etl", "manual__1")
    assert [ti.state for ti in stored] == [TaskState.UP_FOR_RESCHEDULE] * 20


async def test_close_commits_lingering_reschedules_at_once(tmp_path: Path) -> None:
    """Closing the store does not wait out the linger: queued reschedules commit right away."""
    sensors = [an_instance("s", i, state=TaskState.RUNNING) for i in range(10)]
    store = SqliteStore(tmp_path / "af.db", linger=60)
    await store.open()
    await store.create_run(a_run(), sensors)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reschedule_all, store, sensors)
            await wait_until(lambda: store._commits.pending == len(sensors))
            await store.close()
    async with opened(SqliteStore(tmp_path / "af.db")) as reopened:
        stored = await reopened.get_task_instances("etl", "manual__1")
    assert [ti.state for ti in stored] == [TaskState.UP_FOR_RESCHEDULE] * 10


@asynccontextmanager
async def opened(store: SqliteStore) -> AsyncIterator[SqliteStore]:
    """The store, opened for the block and closed after it."""
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def wait_until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition()`` holds (bounded by the caller's fail_after)."""
    while not condition():
        await anyio.lowlevel.checkpoint()


@pytest.mark.slow
async def test_creating_a_run_with_10_000_instances_is_fast(sqlite_store: SqliteStore) -> None:
    """A run with 10,000 task instances is created in one transaction well within a second."""
    instances = [an_instance(f"t{i:05d}") for i in range(10_000)]
    started = time.perf_counter()
    with anyio.fail_after(10):
        assert await sqlite_store.create_run(a_run(), instances)
    assert time.perf_counter() - started < 2.0
    assert len(await sqlite_store.get_task_instances("etl", "manual__1")) == 10_000
