"""What only the PostgreSQL store does: migrations, JSON kept exactly, lost connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import asyncpg
import asyncpg.transaction
import pytest
from postgres_server import (
    SERVER_URL,
    TEST_POOL,
    connect,
    fresh_schema,
    terminate_connections,
)
from storage_records import OWNER, a_run, an_instance, an_xcom, finished, running_run, start

from asyncflow.exceptions import StoreError
from asyncflow.states import TaskState
from asyncflow.storage.postgres import PostgresStore, ops
from asyncflow.storage.postgres.connections import CommitUnknown, PoolOptions
from asyncflow.storage.postgres.sqlfiles import MIGRATIONS

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[PostgresStore]:
    """A store on ``url``, opened for the block and closed after it."""
    store = PostgresStore(url, pool=TEST_POOL)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def in_schema(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """Rows of one statement run in the store's schema on a connection of the test's own."""
    schema = parse_qs(urlsplit(url).query)["search_path"][0]
    admin = await connect()
    try:
        await admin.execute(f"SET search_path = {schema}")  # a generated name
        return await admin.fetch(sql, *args)
    finally:
        await admin.close()


# --- schema ---------------------------------------------------------------------------------


async def test_opening_twice_applies_migrations_once(postgres_url: str) -> None:
    """The first open applies every migration and records it; the second applies none."""
    async with opened(postgres_url) as first:
        assert first.applied_migrations == tuple(m.name for m in MIGRATIONS)
    async with opened(postgres_url) as second:
        assert second.applied_migrations == ()
    rows = await in_schema(postgres_url, "SELECT version, name FROM asyncflow_migration")
    assert [(row["version"], row["name"]) for row in rows] == [
        (m.version, m.name) for m in MIGRATIONS
    ]


async def test_stores_opening_a_new_schema_at_once_migrate_it_once(postgres_url: str) -> None:
    """Four stores opening an empty schema together apply each migration exactly once."""
    stores = [PostgresStore(postgres_url, pool=TEST_POOL) for _ in range(4)]
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for store in stores:
                tg.start_soon(store.open)
    try:
        assert sum(len(store.applied_migrations) for store in stores) == len(MIGRATIONS)
    finally:
        for store in stores:
            await store.close()


async def test_a_schema_newer_than_this_version_is_refused(postgres_url: str) -> None:
    """A schema with a migration this version does not know fails to open, saying so."""
    async with opened(postgres_url):
        pass
    await in_schema(postgres_url, "INSERT INTO asyncflow_migration VALUES (999, '0999_x.sql')")
    with pytest.raises(StoreError, match="newer than this asyncflow knows"):
        await PostgresStore(postgres_url, pool=TEST_POOL).open()


async def test_a_search_path_naming_no_schema_is_a_clear_error(postgres_url: str) -> None:
    """A URL whose search_path names a missing schema fails to open, naming the fix."""
    missing = postgres_url.replace("search_path=af_", "search_path=missing_")
    with pytest.raises(StoreError, match=r"no schema of the search_path .* exists"):
        await PostgresStore(missing, pool=TEST_POOL).open()


async def test_an_unreachable_server_is_one_line_with_the_password_masked() -> None:
    """Opening a store on a closed port fails with one StoreError line, password hidden."""
    store = PostgresStore(
        "postgresql://flow:hunter2@127.0.0.1:1/flows", pool=PoolOptions(retries=0)
    )
    with pytest.raises(StoreError) as caught:
        await store.open()
    message = str(caught.value)
    assert message.startswith("open failed on postgresql://flow:***@127.0.0.1:1/flows: ")
    assert "hunter2" not in message
    assert "\n" not in message


async def test_a_database_that_does_not_exist_is_one_store_error() -> None:
    """A URL naming a missing database fails to open with a StoreError naming it."""
    missing = SERVER_URL.rsplit("/", 1)[0] + "/af_no_such_database"
    with pytest.raises(StoreError, match='database "af_no_such_database" does not exist'):
        await PostgresStore(missing, pool=PoolOptions(retries=0)).open()


# --- values ---------------------------------------------------------------------------------

TRICKY_JSON = '{"b":1,"a":[-0.0,1e-07,"\\u0000"],"c":{"z":null,"y":true}}'
"""JSON that jsonb would change: key order, -0.0, an exponent and a NUL character."""


async def test_conf_and_xcom_json_come_back_exactly(postgres_store: PostgresStore) -> None:
    """A conf's key order and an XCom value's text come back exactly as written."""
    conf: dict[str, Any] = {"zeta": 1, "alpha": {"y": 2, "x": 3}}
    await postgres_store.create_run(a_run(conf=conf), [])
    await postgres_store.push_xcom([an_xcom("a", TRICKY_JSON)])
    run = await postgres_store.get_run("etl", "manual__1")
    assert run is not None
    assert list(run.conf) == ["zeta", "alpha"]
    assert list(run.conf["alpha"]) == ["y", "x"]
    [xcom] = await postgres_store.get_xcoms("etl", "manual__1", "a", "return_value")
    assert xcom.value == TRICKY_JSON


async def test_an_xcom_value_that_is_not_json_is_refused(postgres_store: PostgresStore) -> None:
    """XCom values are JSON text: anything else fails that write with a StoreError."""
    await postgres_store.create_run(a_run(), [])
    with pytest.raises(StoreError, match="invalid input syntax for type json"):
        await postgres_store.push_xcom([an_xcom("a", "not json")])


async def test_one_call_naming_an_instance_twice_applies_in_order(
    postgres_store: PostgresStore,
) -> None:
    """Two starts of one try in one call: the first applies, the second finds it running."""
    fresh = an_instance("a")
    await running_run(postgres_store, [fresh])
    [running] = await start(postgres_store, fresh)
    again = finished(running)
    flags = await postgres_store.finish_tries(OWNER, [(again, []), (again, [])])
    assert flags == [True, False]


# --- lost connections -----------------------------------------------------------------------


async def test_reads_survive_connections_killed_server_side(postgres_store: PostgresStore) -> None:
    """After every connection of the pool is terminated by the server, reads still answer."""
    await running_run(postgres_store, [an_instance("a")])
    assert await terminate_connections(postgres_store.url) >= 1
    assert [ti.task_id for ti in await postgres_store.get_task_instances("etl", "manual__1")] == [
        "a"
    ]
    assert await postgres_store.get_run("etl", "manual__1") is not None


async def test_a_transaction_whose_connection_is_killed_mid_use_commits_once(
    postgres_store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose connection the server kills before COMMIT is tried again and applies once."""
    instances = [an_instance(f"t{i}") for i in range(20)]
    await running_run(postgres_store, instances)
    running = await start(postgres_store, *instances)
    real_apply = ops.apply_ops
    killed: list[int] = []

    async def kill_first_then_apply(connection: Any, batch: list[ops.Op]) -> list[object]:
        if not killed:
            killed.append(connection.get_server_pid())
            assert await terminate_connections(postgres_store.url) >= 1
        return await real_apply(connection, batch)

    monkeypatch.setattr(ops, "apply_ops", kill_first_then_apply)
    before = postgres_store.stats.transactions
    flags = await postgres_store.finish_tries(
        OWNER, [(finished(ti), [an_xcom(ti.task_id)]) for ti in running]
    )
    assert flags == [True] * 20
    assert killed
    assert postgres_store.stats.transactions - before == 1
    stored_all = await postgres_store.get_task_instances("etl", "manual__1")
    assert {ti.state for ti in stored_all} == {TaskState.SUCCESS}
    assert len(await postgres_store.get_run_xcoms("etl", "manual__1")) == 20


async def test_a_commit_cut_off_before_it_applied_is_tried_again_and_applies_once(
    postgres_store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection dies as COMMIT is sent: the server says it never applied; it applies once."""
    real_commit = asyncpg.transaction.Transaction.commit
    killed: list[int] = []

    async def kill_then_commit(self: asyncpg.transaction.Transaction) -> None:
        if not killed:
            killed.append(await terminate_connections(postgres_store.url))
        await real_commit(self)

    monkeypatch.setattr(asyncpg.transaction.Transaction, "commit", kill_then_commit)
    assert await postgres_store.create_run(a_run(), [])
    monkeypatch.undo()
    assert killed[0] >= 1
    assert [run.run_id for run in await postgres_store.list_runs()] == ["manual__1"]


async def test_a_commit_whose_answer_was_lost_stands_with_its_result(
    postgres_store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COMMIT applied but its answer was lost: the server says it committed; it is not redone."""
    real_commit = asyncpg.transaction.Transaction.commit
    lost: list[bool] = []

    async def commit_then_lose(self: asyncpg.transaction.Transaction) -> None:
        await real_commit(self)
        if not lost:
            lost.append(True)
            raise ConnectionResetError("the answer to COMMIT was lost")

    monkeypatch.setattr(asyncpg.transaction.Transaction, "commit", commit_then_lose)
    assert await postgres_store.create_run(a_run(), [])  # True: it was this call that created it
    monkeypatch.undo()
    assert lost == [True]
    assert [run.run_id for run in await postgres_store.list_runs()] == ["manual__1"]


async def test_a_committed_write_is_not_run_again_when_its_connection_dies_on_release(
    postgres_store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool fails to take back a dead connection after COMMIT: the write is not redone."""
    real_reset = asyncpg.Connection.reset
    failed: list[bool] = []

    async def reset_fails_once(self: asyncpg.Connection[asyncpg.Record], **kw: object) -> None:
        if not failed:
            failed.append(True)
            raise ConnectionResetError("the connection died as it went back to the pool")
        await real_reset(self, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncpg.Connection, "reset", reset_fails_once)
    assert await postgres_store.create_run(a_run(), [])  # run again, it would say False
    monkeypatch.undo()
    assert failed == [True]
    assert [run.run_id for run in await postgres_store.list_runs()] == ["manual__1"]


async def test_a_commit_the_server_cannot_account_for_is_never_reported_durable(
    postgres_store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the server cannot say what became of a cut-off COMMIT, the write fails as unknown."""
    real_commit = asyncpg.transaction.Transaction.commit

    async def commit_then_lose(self: asyncpg.transaction.Transaction) -> None:
        await real_commit(self)
        raise ConnectionResetError("the answer to COMMIT was lost")

    async def nobody_knows(*_: object) -> None:
        return None

    monkeypatch.setattr(asyncpg.transaction.Transaction, "commit", commit_then_lose)
    monkeypatch.setattr(postgres_store._connections, "fetchval", nobody_knows)
    with pytest.raises(CommitUnknown, match="whether the write applied is unknown"):
        await postgres_store.create_run(a_run(), [])


async def test_fresh_schemas_keep_tests_apart() -> None:
    """Two stores in two schemas of one database do not see each other's runs."""
    async with (
        fresh_schema() as one_url,
        fresh_schema() as two_url,
        opened(one_url) as one,
        opened(two_url) as two,
    ):
        await one.create_run(a_run(), [])
        assert await two.list_runs() == []
        assert [run.run_id for run in await one.list_runs()] == ["manual__1"]
