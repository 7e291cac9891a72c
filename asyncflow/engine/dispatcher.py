"""The dispatcher: ready task instances in priority order, under every limit.

The engine's ``max_active_tasks`` bounds them all; each ticket also names its
own limits: the DAG's ``max_active_tasks``, its pool's slots (a task may take
several: ``pool_slots``), the task's ``max_active_tis_per_dag`` and
``max_active_tis_per_dagrun``. A ticket blocked by one of its limits is parked
under that limit, so it never holds up tickets of other DAGs, pools or tasks;
when the limit frees room, its best parked ticket comes back. Every operation
is O(log n) per limit; nothing scans the waiting tickets.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

Limit = tuple[str, ...]  # ("dag", dag_id), ("pool", name), ("task", dag_id, task_id)...


@dataclass(frozen=True, slots=True)
class Bound:
    """One limit a ticket is under: its name, its capacity, and how much of it the ticket takes."""

    limit: Limit
    capacity: int
    takes: int = 1


@dataclass(slots=True, eq=False)
class Ticket:
    """One task instance waiting for a slot, and the limits it is under."""

    priority: int  # higher goes first
    bounds: tuple[Bound, ...]
    payload: Any  # what the launcher needs to start it
    seq: int = field(default=0)

    def sort_key(self) -> tuple[int, int]:
        """Higher priority first, then first come, first served."""
        return (-self.priority, self.seq)


class Dispatcher:
    """Hands tickets to ``launch`` in priority order as slots become free."""

    def __init__(
        self,
        *,
        max_active: int,
        pools: Mapping[str, int],
        launch: Callable[[Ticket], None],
    ) -> None:
        self.max_active = max_active
        self.pools = dict(pools)
        self._launch = launch
        self._ready: list[tuple[tuple[int, int], Ticket]] = []
        self._parked: dict[Limit, list[tuple[tuple[int, int], Ticket]]] = {}
        self._seq = itertools.count()
        self.running = 0
        self.paused = False
        self.idle = anyio.Event()  # set whenever nothing is running
        self._used: Counter[Limit] = Counter()
        self.on_release: Callable[[], None] | None = None  # told whenever a slot comes free

    @property
    def waiting(self) -> int:
        """Tickets submitted and not yet launched."""
        return len(self._ready) + sum(len(h) for h in self._parked.values())

    def used(self, limit: Limit) -> int:
        """Slots of ``limit`` taken by launched tickets (a pool's: ``("pool", name)``)."""
        return self._used.get(limit, 0)

    def submit(self, ticket: Ticket) -> None:
        """Queue a ticket; it launches at once if every limit has room."""
        ticket.seq = next(self._seq)
        heapq.heappush(self._ready, (ticket.sort_key(), ticket))
        self._pump()

    def release(self, ticket: Ticket) -> None:
        """Give back the slots a launched ticket held, and launch what now fits."""
        self.running -= 1
        if self.running == 0:
            self.idle.set()
        for bound in ticket.bounds:
            self._used[bound.limit] -= bound.takes
            if not self._used[bound.limit]:
                del self._used[bound.limit]  # per-run limits come and go: keep none idle
            self._unpark(bound.limit)
        self._pump()
        if self.on_release is not None:
            self.on_release()

    def drop_waiting(self) -> list[Ticket]:
        """Take every ticket not launched yet out of the queue (a shutdown gives them back)."""
        tickets = [ticket for _, ticket in self._ready]
        tickets += [ticket for parked in self._parked.values() for _, ticket in parked]
        self._ready.clear()
        self._parked.clear()
        return tickets

    def pause(self) -> None:
        """Stop launching tickets (a shutdown); those submitted stay queued in memory."""
        self.paused = True

    def _pump(self) -> None:
        while self._ready and self.running < self.max_active and not self.paused:
            _, ticket = heapq.heappop(self._ready)
            blocked = self._blocked_by(ticket)
            if blocked is None:
                self._start(ticket)
            else:
                heapq.heappush(self._parked.setdefault(blocked, []), (ticket.sort_key(), ticket))

    def _unpark(self, limit: Limit) -> None:
        parked = self._parked.get(limit)
        while parked:
            _, ticket = heapq.heappop(parked)
            other = self._blocked_by(ticket)
            if other is None or other == limit:
                heapq.heappush(self._ready, (ticket.sort_key(), ticket))
                break
            # blocked by its other limit too: wait there, and let the next one try this slot
            heapq.heappush(self._parked.setdefault(other, []), (ticket.sort_key(), ticket))
        if parked is not None and not parked:
            del self._parked[limit]

    def _blocked_by(self, ticket: Ticket) -> Limit | None:
        for bound in ticket.bounds:
            if self._used[bound.limit] + bound.takes > bound.capacity:
                return bound.limit
        return None

    def _start(self, ticket: Ticket) -> None:
        if self.running == 0:
            self.idle = anyio.Event()
        self.running += 1
        for bound in ticket.bounds:
            self._used[bound.limit] += bound.takes
        self._launch(ticket)
