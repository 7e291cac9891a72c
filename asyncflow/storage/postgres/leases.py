"""Engines sharing a PostgreSQL store: each registered with a lease it renews.

Unlike a SQLite file, a PostgreSQL database has any number of owners. An engine
that acquires the store gets a row in the ``engine`` table (who it is, since
when, and when its lease expires) and renews that lease by heartbeat. Lease
times are the server's clock (``clock_timestamp()``), the one clock every host
shares, so engines on hosts whose clocks drift still agree on who is alive.

The row is the lease: releasing deletes it, and an engine that takes over the
work of one whose lease has expired deletes that row in the same transaction,
so a late heartbeat of the presumed-dead engine finds no row and learns that it
lost its lease (:class:`~asyncflow.exceptions.LeaseLost`) instead of renewing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asyncflow.exceptions import LeaseLost, StoreInUse
from asyncflow.records import EngineIdentity
from asyncflow.storage.postgres.connections import Connection, Connections, Record
from asyncflow.storage.postgres.sqlfiles import QUERIES

_REGISTER = QUERIES["register_engine"]
_LOCK = QUERIES["lock_engine_registry"]
_DROP_EXPIRED = QUERIES["drop_expired_engines"]
_LIVE_OTHER = QUERIES["live_engine_other_than"]
_RENEW = QUERIES["renew_lease"]
_RELEASE = QUERIES["release_engine"]
_LIST = QUERIES["list_engines"]

LEASE_TTL_SECONDS = 30.0
"""How long an engine's lease lasts past its last heartbeat, unless set otherwise."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineLease:
    """One engine registered on the store, and its lease as the server last renewed it."""

    engine: EngineIdentity
    heartbeat_at: datetime  # the server's time of the last renewal
    lease_expires_at: datetime  # the engine is presumed dead after this
    live: bool  # the lease had not expired when it was read


async def register(
    connections: Connections, owner: EngineIdentity, ttl: float, *, exclusive: bool
) -> datetime:
    """Register ``owner`` (or renew it if registered); when its lease expires.

    Engines whose lease has expired are dropped first (presumed dead). With
    ``exclusive`` (a store that shares no work), an engine is refused while
    another holds a live lease: it would take over the first's running tries as
    if a dead process had left them.

    Raises:
        StoreInUse: ``exclusive`` and another engine holds a live lease (named).
    """

    async def work(connection: Connection) -> datetime:
        await connection.execute(_LOCK)
        await connection.execute(_DROP_EXPIRED, owner.id)
        if exclusive:
            holder = await connection.fetchrow(_LIVE_OTHER, owner.id)
            if holder is not None:
                raise _in_use(connections.shown, holder)
        row = await connection.fetchrow(
            _REGISTER, owner.id, owner.host, owner.pid, owner.started_at, ttl
        )
        assert row is not None
        expires: datetime = row[0]
        return expires

    return await connections.transaction("acquire", work)


def _in_use(shown: str, holder: Record) -> StoreInUse:
    who = EngineIdentity(
        id=holder["id"], host=holder["host"], pid=holder["pid"], started_at=holder["started_at"]
    )
    return StoreInUse(
        f"the PostgreSQL store {shown} is in use by the engine {who.describe()}; engines do "
        "not share this store's work (it is exclusive): stop that one first, or let it run "
        "your DAGs (asyncflow dags trigger)"
    )


async def renew(connections: Connections, owner: EngineIdentity, ttl: float) -> datetime:
    """Renew ``owner``'s lease for ``ttl`` seconds from now; when it expires.

    Raises:
        LeaseLost: ``owner`` has no lease (released, or taken over after it expired).
    """
    rows = await connections.fetch("renew_lease", _RENEW, owner.id, ttl)
    if not rows:
        raise LeaseLost(
            f"the engine {owner.id} ({owner.describe()}) has no lease on "
            f"{connections.shown} any more: it was released or taken over after it expired"
        )
    expires: datetime = rows[0][0]
    return expires


async def release(connections: Connections, owner: EngineIdentity) -> None:
    """Delete ``owner``'s lease (idempotent)."""
    await connections.fetch("release", _RELEASE, owner.id)


async def engines(connections: Connections) -> list[EngineLease]:
    """Every engine registered on the store, the longest-running first."""
    rows = await connections.fetch("engines", _LIST)
    return [
        EngineLease(
            engine=EngineIdentity(
                id=row["id"], host=row["host"], pid=row["pid"], started_at=row["started_at"]
            ),
            heartbeat_at=row["heartbeat_at"],
            lease_expires_at=row["lease_expires_at"],
            live=row["live"],
        )
        for row in rows
    ]
