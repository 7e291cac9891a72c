"""Keeping an engine's lease on a store whose ownership expires (PostgreSQL).

A SQLite store is owned through a file lock that lasts as long as the process;
a PostgreSQL store through a lease that another engine may take over once it
has expired (its owner presumed dead). An engine on such a store renews its
lease three times per lease period, so one late renewal costs nothing. A
renewal that fails for a passing reason (the database restarting) is tried
again at the next beat; a lease found gone stops the engine, since another
engine may be running its work by now.
"""

from __future__ import annotations

import anyio

from asyncflow.exceptions import LeaseLost, StoreError
from asyncflow.log import get_logger
from asyncflow.records import EngineIdentity
from asyncflow.storage.protocol import Store

log = get_logger("asyncflow.engine")

BEATS_PER_LEASE = 3


async def keep_lease(store: Store, owner: EngineIdentity, ttl: float) -> None:
    """Renew ``owner``'s lease every ``ttl / 3`` seconds, until cancelled.

    Raises:
        LeaseLost: the lease is gone (taken over after it expired); the engine stops.
    """
    interval = ttl / BEATS_PER_LEASE
    while True:
        await anyio.sleep(interval)
        try:
            await store.renew_lease(owner)
        except LeaseLost as lost:
            log.error(
                "engine_lease_lost",
                owner=owner.id,
                error=str(lost),
                hint="another engine may be running this engine's work: this engine stops",
            )
            raise
        except StoreError as error:
            log.warning("lease_renewal_failed", owner=owner.id, error=str(error))
