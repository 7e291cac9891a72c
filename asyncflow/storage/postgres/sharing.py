"""Engines sharing a PostgreSQL store's work: offers, claims, recovery and notices.

See :mod:`asyncflow.storage.sharing` for the model. Here, in SQL terms: an offer
sets instances ``scheduled`` with their queue, pool and priority; a claim is one
``UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)``, so engines claiming at
once each get different instances and never wait for one another. A pool's
slots are counted and taken under an advisory lock per pool, so its limit holds
across every engine. Triggers of migration 0002 send the notices; one
connection per engine, outside the pool, listens for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import cast

import anyio
import asyncpg

from asyncflow.log import get_logger
from asyncflow.records import DagRunRecord, EngineIdentity, TaskInstanceRecord
from asyncflow.storage.postgres import codec
from asyncflow.storage.postgres.connections import (
    Connection,
    Connections,
    Record,
    is_lost_connection,
)
from asyncflow.storage.postgres.sqlfiles import QUERIES
from asyncflow.storage.sharing import (
    ENDED,
    OFFERED,
    RECONNECTED,
    RUNS,
    STOPPED,
    WAKE,
    EndedInstance,
    InstanceKey,
    Notice,
    Offer,
    Reaped,
)
from asyncflow.xcom import decode

log = get_logger("asyncflow.storage")

CHANNELS = (OFFERED, ENDED, RUNS, WAKE, STOPPED)
SKIPPED_KEY = "skipmixin_key"  # the XCom key under which a branch stores what it skipped

_Q = QUERIES


def offer_row(offer: Offer) -> codec.Row:
    """The ``offer_instances`` parameters of an offer."""
    ti = offer.instance
    return (
        ti.dag_id,
        ti.run_id,
        ti.task_id,
        ti.map_index,
        ti.try_number,
        offer.queue,
        offer.pool,
        offer.pool_slots,
        offer.priority,
        offer.dag_limit,
    )


def _keys(instances: Sequence[TaskInstanceRecord] | Sequence[InstanceKey]) -> list[list[object]]:
    rows = [
        (i.dag_id, i.run_id, i.task_id, i.map_index) if isinstance(i, TaskInstanceRecord) else i
        for i in instances
    ]
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[], [], [], []]


async def claim(
    connections: Connections,
    owner: str,
    queues: Sequence[str],
    limit: int,
    pools: Mapping[str, int],
) -> list[TaskInstanceRecord]:
    """Claim offered instances: those under no limit first, then the limited ones.

    A DAG's ``max_active_tasks`` and a pool's slots are counted across every
    engine, each under an advisory lock, and their instances taken while there is room.
    """

    async def work(connection: Connection) -> list[TaskInstanceRecord]:
        rows = list(await connection.fetch(_Q["claim_instances"], owner, list(queues), limit))
        room = _Room(connection, pools)
        for dag_id, dag_limit in await connection.fetch(_Q["limited_dags"], list(queues)):
            if len(rows) >= limit:
                break
            rows += await _claim_in_dag(
                connection, owner, queues, limit - len(rows), dag_id, dag_limit, room
            )
        for pool in sorted(pools):
            if len(rows) >= limit:
                break
            rows += await _claim_in_pool(connection, owner, queues, limit - len(rows), pool, room)
        return [codec.instance_from_record(row) for row in rows]

    return await connections.transaction("claim", work)


class _Room:
    """The free slots of each pool in one claim's transaction, counted once under its lock."""

    def __init__(self, connection: Connection, pools: Mapping[str, int]) -> None:
        self.connection = connection
        self.pools = pools
        self._free: dict[str, int] = {}

    async def free(self, pool: str) -> int:
        """The pool's free slots now (0 for a pool this engine does not have)."""
        if pool not in self.pools:
            return 0
        if pool not in self._free:
            await self.connection.execute(_Q["lock_pool"], pool)
            used = int(await self.connection.fetchval(_Q["pool_slots_in_use"], pool))
            self._free[pool] = self.pools[pool] - used
        return self._free[pool]

    async def take(self, row: Record) -> bool:
        """Take the row's pool slots if its pool has room (always, for a row in no pool)."""
        pool = row["pool"]
        if pool is None:
            return True
        if row["pool_slots"] > await self.free(pool):
            return False
        self._free[pool] -= row["pool_slots"]
        return True


async def _claim_in_dag(
    connection: Connection,
    owner: str,
    queues: Sequence[str],
    limit: int,
    dag_id: str,
    dag_limit: int,
    room: _Room,
) -> list[Record]:
    await connection.execute(_Q["lock_dag"], dag_id)
    free = dag_limit - int(await connection.fetchval(_Q["dag_tasks_in_flight"], dag_id))
    if free <= 0:
        return []
    candidates = await connection.fetch(
        _Q["limited_offers"], list(queues), dag_id, min(limit, free)
    )
    taken = [_key(row) for row in candidates if await room.take(row)]
    return await _claim_keys(connection, owner, taken)


async def _claim_in_pool(
    connection: Connection, owner: str, queues: Sequence[str], limit: int, pool: str, room: _Room
) -> list[Record]:
    free = await room.free(pool)
    if free <= 0:
        return []
    candidates = await connection.fetch(_Q["pooled_offers"], list(queues), pool, min(limit, free))
    taken = []
    for row in candidates:
        if not await room.take(row):
            break  # the best one waits for room rather than be overtaken by smaller ones
        taken.append(_key(row))
    return await _claim_keys(connection, owner, taken)


def _key(row: Record) -> InstanceKey:
    return (row["dag_id"], row["run_id"], row["task_id"], row["map_index"])


async def _claim_keys(connection: Connection, owner: str, keys: list[InstanceKey]) -> list[Record]:
    if not keys:
        return []
    return list(await connection.fetch(_Q["claim_by_key"], owner, *_keys(keys)))


async def unclaim(
    connections: Connections, owner: str, instances: Sequence[TaskInstanceRecord]
) -> None:
    """Offer claimed instances again."""
    await connections.fetch("unclaim", _Q["unclaim_instances"], owner, *_keys(instances))


async def ended_instances(
    connections: Connections, keys: Sequence[InstanceKey]
) -> list[EndedInstance]:
    """Instances by key as stored, each with what a successful branch skipped."""
    rows = await connections.fetch(
        "ended_instances", _Q["instances_by_key"], *_keys(keys), SKIPPED_KEY
    )
    ended = []
    for row in rows:
        record = codec.instance_from_record(cast(Record, tuple(row)[:16]))
        skipped = frozenset(decode(row["skipped"])["skipped"]) if row["skipped"] else frozenset()
        ended.append(EndedInstance(record, skipped))
    return ended


async def reap(connections: Connections, owner: EngineIdentity) -> Reaped:
    """Drop engines past their lease (under the registry's lock) and time the next expiry."""

    async def work(connection: Connection) -> Reaped:
        await connection.execute(_Q["lock_engine_registry"])
        dead = [
            row[0] for row in await connection.fetch(_Q["drop_expired_engines_returning"], owner.id)
        ]
        left: timedelta | None = await connection.fetchval(_Q["next_lease_expiry"], owner.id)
        return Reaped(tuple(dead), None if left is None else max(left.total_seconds(), 0.0))

    return await connections.transaction("reap", work)


async def orphaned_instances(connections: Connections) -> list[TaskInstanceRecord]:
    """Instances claimed or running in an engine that holds no lease, on running runs."""
    rows = await connections.fetch("orphaned_instances", _Q["orphaned_instances"])
    return [codec.instance_from_record(row) for row in rows]


async def adopt_runs(
    connections: Connections, owner: str, dag_ids: Sequence[str]
) -> list[DagRunRecord]:
    """Become the driver of running runs of ``dag_ids`` whose driver holds no lease."""
    rows = await connections.fetch("adopt_runs", _Q["adopt_runs"], owner, list(dag_ids))
    return [codec.run_from_record(row) for row in rows]


async def publish(connections: Connections, channel: str, payload: str) -> None:
    """Send one notice."""
    await connections.fetch("publish", _Q["notify"], channel, payload)


async def listen(connections: Connections, on_notice: Notice, *, pause: float = 0.5) -> None:
    """Listen on every channel until cancelled; reconnect (and say so) when the link is lost."""
    reconnecting = False
    while True:
        try:
            connection = await connections.connect("listen")
        except Exception as exc:  # the server is down for longer than the retries
            log.warning("notice_listener_reconnecting", error=str(exc))
            await anyio.sleep(pause)
            continue
        try:
            await _listen_on(connection, on_notice, reconnecting)
        except Exception as exc:
            if not is_lost_connection(exc):
                raise
            log.warning("notice_listener_lost", error=" ".join(str(exc).split()))
        finally:
            with anyio.CancelScope(shield=True):
                await connection.close(timeout=2)
        reconnecting = True
        await anyio.sleep(pause)


async def _listen_on(
    connection: asyncpg.Connection[Record], on_notice: Notice, reconnecting: bool
) -> None:
    lost = anyio.Event()
    names: dict[str, str] = {}  # the channel as named in this schema -> its name here

    def deliver(_: object, __: int, channel: str, payload: object) -> None:
        on_notice(names[channel], str(payload))

    connection.add_termination_listener(lambda _: lost.set())
    for channel in CHANNELS:
        names[await connection.fetchval(_Q["channel"], channel)] = channel
    for channel in names:
        await connection.add_listener(channel, deliver)
    if reconnecting:
        on_notice(RECONNECTED, "")
    while not lost.is_set():
        # the server may go without a word (a host lost): a cheap query now and
        # then finds out, as the termination listener cannot
        with anyio.move_on_after(5):
            await lost.wait()
        if not lost.is_set():
            await connection.fetchval(_Q["ping"])
    raise ConnectionResetError("the connection listening for notices was lost")
