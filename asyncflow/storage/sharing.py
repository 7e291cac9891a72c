"""What a store that many engines share offers beyond :class:`~.protocol.Store`.

On such a store (PostgreSQL) each run is *driven* by one engine at a time: it
decides the run's trigger rules, *offers* instances for a try and records the
run's end. Any engine *claims* offered instances it has room for (in its named
queues, within the pools' slots across every engine) and runs their tries. A
try's outcome reaches the run's driver as a notice; an engine that dies leaves
its claimed tries to be recovered and its runs to be adopted by the others.

Notices are the store's own (PostgreSQL's LISTEN/NOTIFY): an idle engine wakes
at once for an offer, a try's end, a run queued by another process, or a key
notified anywhere, without polling.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from asyncflow.records import DagRunRecord, EngineIdentity, TaskInstanceRecord

InstanceKey = tuple[str, str, str, int]
"""``(dag_id, run_id, task_id, map_index)``."""

OFFERED = "asyncflow_offered"
"""Notice channel: an instance was offered; the payload is its queue."""
ENDED = "asyncflow_ended"
"""Notice channel: a try's outcome was recorded; the payload is its instance key (JSON)."""
RUNS = "asyncflow_runs"
"""Notice channel: a run was queued for an engine to start; the payload is its dag_id."""
WAKE = "asyncflow_wake"
"""Notice channel: ``engine.notify(key)``; the payload is ``[sender engine id, key]`` (JSON)."""
STOPPED = "asyncflow_stopped"
"""Notice channel: a run's driver ended it early (its dagrun_timeout, marked failed or
success, deleted); the payload is ``[dag_id, run_id, error]`` (JSON). Every engine
stops its tries of that run."""
RECONNECTED = "asyncflow_reconnected"
"""Not a channel: told to the listener's callback after its connection was lost and
made again, since notices sent meanwhile were missed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """An instance its run's driver offers for a try, and where it may run."""

    instance: TaskInstanceRecord  # as the driver knows it (the try before the one offered)
    queue: str
    pool: str | None
    pool_slots: int
    priority: int  # higher is claimed first; equal ones first offered, first claimed
    dag_limit: int | None = None  # the DAG's max_active_tasks, held across every engine


@dataclass(frozen=True, slots=True)
class EndedInstance:
    """An instance whose try ended, as stored, with the tasks a successful branch skipped."""

    record: TaskInstanceRecord
    skipped_task_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class Reaped:
    """What a look at the engines' leases found."""

    dead: tuple[str, ...]  # engines whose lease had expired, dropped just now
    next_expiry: float | None  # seconds until another engine's lease expires, if any


Notice = Callable[[str, str], None]
"""Called with ``(channel, payload)`` for each notice, on the event loop."""


@runtime_checkable
class SharedStore(Protocol):
    """The part of a store that lets many engines share its work."""

    @property
    def shares_work(self) -> bool:
        """Whether engines on this store share runs and claim each other's offers."""
        ...

    async def offer(self, offers: Sequence[Offer]) -> list[bool]:
        """Offer instances for a try; per offer, whether it applied.

        An offer applies while the instance waits for a try (never run, up for
        retry or reschedule) in the try its driver knows, on a running run.
        """
        ...

    async def claim(
        self, owner: str, queues: Sequence[str], limit: int, pools: Mapping[str, int]
    ) -> list[TaskInstanceRecord]:
        """Claim up to ``limit`` offered instances in ``queues``, best first.

        Each is ``queued`` and owned by ``owner`` when returned. An instance in
        a pool is claimed only while the pool (``pools`` gives its slots) has
        room for it across every engine (pools missing from ``pools`` are
        left), one of a DAG with ``max_active_tasks`` only while the DAG has
        fewer instances in flight across every engine.
        """
        ...

    async def unclaim(self, owner: str, instances: Sequence[TaskInstanceRecord]) -> None:
        """Offer claimed instances again (an engine that cannot run them)."""
        ...

    async def ended_instances(self, keys: Sequence[InstanceKey]) -> list[EndedInstance]:
        """The instances with these keys as stored (keys not found are left out)."""
        ...

    async def reap(self, owner: EngineIdentity) -> Reaped:
        """Drop the engines whose lease has expired; who they were, and when the next expires."""
        ...

    async def orphaned_instances(self) -> list[TaskInstanceRecord]:
        """Instances claimed or running in an engine that holds no lease, on running runs."""
        ...

    async def adopt_runs(self, owner: str, dag_ids: Sequence[str]) -> list[DagRunRecord]:
        """Drive from now on the running runs of ``dag_ids`` whose driver holds no lease."""
        ...

    async def publish(self, channel: str, payload: str) -> None:
        """Send a notice to every engine listening (this one included)."""
        ...

    async def listen(self, on_notice: Notice) -> None:
        """Call ``on_notice`` for every notice until cancelled.

        When the connection is lost it is made again, and ``on_notice(RECONNECTED, "")``
        says that notices sent meanwhile were missed.
        """
        ...


def wake_payload(sender: str, key: str) -> str:
    """The payload of a :data:`WAKE` notice: who notified, and the key."""
    return json.dumps([sender, key])
