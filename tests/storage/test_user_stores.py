"""Web users, API tokens and the waiting-sensors page on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from asyncflow.records import DagRunRecord, TaskInstanceRecord
from asyncflow.states import DagRunState, TaskState
from asyncflow.storage.protocol import Store
from asyncflow.storage.sqlite import SqliteStore
from asyncflow.storage.sqlite.waiting import sqlite_waiting_page
from asyncflow.storage.users import Role, TokenRecord, UserRecord
from asyncflow.storage.waiting import WaitingPage, waiting_page
from asyncflow.web.users import users_of

pytestmark = pytest.mark.anyio

WHEN = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def a_user(name: str, role: Role = Role.VIEWER) -> UserRecord:
    return UserRecord(username=name, password_hash=f"hash-of-{name}", role=role, created_at=WHEN)


async def test_users_are_created_once_listed_and_read_back(store: Store) -> None:
    """A username is taken once; users list by name and read back exactly as stored."""
    users = users_of(store)
    assert await users.create_user(a_user("zoe", Role.ADMIN))
    assert await users.create_user(a_user("amy"))
    assert not await users.create_user(a_user("zoe"))
    assert [u.username for u in await users.list_users()] == ["amy", "zoe"]
    assert await users.get_user("zoe") == a_user("zoe", Role.ADMIN)
    assert await users.get_user("nobody") is None


async def test_deleting_a_user_deletes_its_tokens(store: Store) -> None:
    """A token is found by its hash until its user is deleted; deleting twice says so."""
    users = users_of(store)
    await users.create_user(a_user("amy", Role.OP))
    token = TokenRecord(token_hash="ab" * 32, username="amy", name="ci", created_at=WHEN)
    await users.add_token(token)
    assert await users.find_token("ab" * 32) == token
    assert await users.delete_user("amy")
    assert await users.find_token("ab" * 32) is None
    assert not await users.delete_user("amy")


async def _page(store: Store, dag_id: str | None, limit: int, offset: int) -> WaitingPage:
    if isinstance(store, SqliteStore):
        return await sqlite_waiting_page(store, dag_id, limit, offset)
    return await waiting_page(store, dag_id, limit, offset)


async def test_waiting_sensors_page_soonest_first(store: Store) -> None:
    """Only sensors between pokes are listed, soonest poke first, by DAG, a page at a time."""
    for dag_id, minutes in (("a", [30, 10, 20]), ("b", [5])):
        run = DagRunRecord(
            dag_id=dag_id,
            run_id="r",
            run_type="manual",
            state=DagRunState.RUNNING,
            logical_date=WHEN,
            queued_at=WHEN,
        )
        waiting = [
            TaskInstanceRecord(
                dag_id=dag_id,
                run_id="r",
                task_id=f"s{i}",
                state=TaskState.UP_FOR_RESCHEDULE,
                try_number=1,
                next_poke_at=WHEN + timedelta(minutes=m),
                first_poke_at=WHEN,
                poke_count=2,
            )
            for i, m in enumerate(minutes)
        ]
        done = TaskInstanceRecord(dag_id=dag_id, run_id="r", task_id="done", state=None)
        await store.create_run(run, [*waiting, done])
    page = await _page(store, None, 2, 1)
    assert page.total == 4
    assert [(ti.dag_id, ti.task_id) for ti in page.instances] == [("a", "s1"), ("a", "s2")]
    assert page.instances[0].next_poke_at == WHEN + timedelta(minutes=10)
    assert page.instances[0].poke_count == 2
    only_b = await _page(store, "b", 10, 0)
    assert (only_b.total, [ti.task_id for ti in only_b.instances]) == (1, ["s0"])
