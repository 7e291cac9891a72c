"""Engines on a PostgreSQL store hold leases they renew; many share one store.

An ``exclusive=True`` store admits one live engine at a time (a second is
refused, naming the first), as a SQLite file does; by default a store admits
many, each with a lease of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from postgres_server import TEST_POOL
from storage_records import an_identity

from asyncflow.exceptions import LeaseLost, StoreInUse
from asyncflow.records import EngineIdentity
from asyncflow.storage.postgres import PostgresStore

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def opened(
    url: str, lease_ttl: float = 30.0, *, exclusive: bool = False
) -> AsyncIterator[PostgresStore]:
    """Another store object on the same database, as another process would open it."""
    store = PostgresStore(url, pool=TEST_POOL, lease_ttl=lease_ttl, exclusive=exclusive)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def engine_ids(store: PostgresStore) -> list[str]:
    """The ids of the engines registered on the store, oldest first."""
    return [lease.engine.id for lease in await store.engines()]


async def test_a_second_live_engine_is_refused_naming_the_first(postgres_url: str) -> None:
    """By default a second engine is refused while the first's lease is live; nothing changes."""
    async with (
        opened(postgres_url, exclusive=True) as one,
        opened(postgres_url, exclusive=True) as two,
    ):
        await one.acquire(an_identity(pid=1))
        with pytest.raises(StoreInUse, match=r"in use by the engine .*pid 1 on other-host"):
            await two.acquire(an_identity(pid=2))
        assert await engine_ids(one) == [an_identity(pid=1).id]


async def test_an_expired_engine_is_dropped_and_its_store_taken_over(postgres_url: str) -> None:
    """An engine past its lease is presumed dead: the next one acquires and its row is gone."""
    async with opened(postgres_url, lease_ttl=0.000001, exclusive=True) as dead:
        await dead.acquire(an_identity(pid=1))
        async with opened(postgres_url, exclusive=True) as alive:
            await alive.acquire(an_identity(pid=2))
            assert await engine_ids(alive) == [an_identity(pid=2).id]
            with pytest.raises(LeaseLost, match="pid 1 on other-host"):
                await dead.renew_lease(an_identity(pid=1))


async def test_two_engines_both_acquire_a_shared_store(postgres_url: str) -> None:
    """With exclusive=False two engines acquire one store, each with a live lease naming it."""
    first, second = an_identity(pid=1), an_identity(pid=2)
    async with opened(postgres_url) as postgres_store:
        await postgres_store.acquire(first)
        await postgres_store.acquire(second)
        leases = await postgres_store.engines()
        assert [lease.engine for lease in leases] == [first, second]
        assert all(lease.live for lease in leases)
        assert all(lease.lease_expires_at > lease.heartbeat_at for lease in leases)


async def test_engines_of_two_store_objects_share_one_database(postgres_url: str) -> None:
    """Engines acquiring through two store objects (two processes) both hold leases."""
    async with opened(postgres_url) as one, opened(postgres_url) as two:
        await one.acquire(an_identity(pid=1))
        await two.acquire(an_identity(pid=2))
        assert await engine_ids(one) == await engine_ids(two)
        assert len(await engine_ids(one)) == 2


async def test_acquiring_again_keeps_one_lease_and_renews_it(
    postgres_store: PostgresStore,
) -> None:
    """The same identity acquiring twice keeps one row, whose lease moved forward."""
    owner = EngineIdentity.of_this_process()
    await postgres_store.acquire(owner)
    [before] = await postgres_store.engines()
    await postgres_store.acquire(owner)
    [after] = await postgres_store.engines()
    assert after.engine == owner
    assert after.lease_expires_at > before.lease_expires_at


async def test_release_removes_the_lease_row_and_only_its_own(postgres_url: str) -> None:
    """Releasing deletes that engine's row, leaves the others', and is idempotent."""
    first, second = an_identity(pid=1), an_identity(pid=2)
    async with opened(postgres_url) as postgres_store:
        await postgres_store.acquire(first)
        await postgres_store.acquire(second)
        await postgres_store.release(first)
        assert await engine_ids(postgres_store) == [second.id]
        await postgres_store.release(first)
        assert await engine_ids(postgres_store) == [second.id]


async def test_closing_releases_the_leases_it_acquired(postgres_url: str) -> None:
    """Closing a store deletes the lease rows of the engines that acquired through it."""
    async with opened(postgres_url) as keeper:
        await keeper.acquire(an_identity(pid=1))
        async with opened(postgres_url) as leaving:
            await leaving.acquire(an_identity(pid=2))
        assert await engine_ids(keeper) == [an_identity(pid=1).id]


async def test_renewing_moves_the_lease_by_the_ttl_on_the_servers_clock(postgres_url: str) -> None:
    """renew_lease sets the expiry ttl seconds after the server's now, later than before."""
    async with opened(postgres_url, lease_ttl=120) as store:
        owner = an_identity()
        await store.acquire(owner)
        [before] = await store.engines()
        expires = await store.renew_lease(owner)
        [after] = await store.engines()
        assert expires == after.lease_expires_at > before.lease_expires_at
        assert (after.lease_expires_at - after.heartbeat_at).total_seconds() == 120


async def test_a_lease_past_its_ttl_reads_as_not_live(postgres_url: str) -> None:
    """A lease whose ttl has passed is listed as not live (its engine presumed dead)."""
    async with opened(postgres_url, lease_ttl=0.000001) as store:
        await store.acquire(an_identity())
        [lease] = await store.engines()
        assert not lease.live


async def test_renewing_a_released_lease_raises_lease_lost(postgres_store: PostgresStore) -> None:
    """An engine renewing a lease it no longer holds learns so with LeaseLost, naming it."""
    owner = an_identity(pid=77)
    await postgres_store.acquire(owner)
    await postgres_store.release(owner)
    with pytest.raises(LeaseLost, match="pid 77 on other-host"):
        await postgres_store.renew_lease(owner)
