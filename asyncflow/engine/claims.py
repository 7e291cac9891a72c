"""Claiming offered instances on a shared store, and running them here.

The claimer takes as many offered instances as the engine has free slots (and
a few more, to start the moment a slot comes free), in its queues, whenever it
may find some: an offer was made (a notice), a slot
came free, or a lease period passed with nothing heard. A claimed instance goes
to the engine's own dispatcher like any other; its try is run by the executor.

An instance of a run this engine drives joins that run's state. One of a run
driven elsewhere joins a *guest* run: the DAG, the run's record and the
instances claimed, which is all a try needs (its context, its XCom pulls
through the store). Its outcome is written to the store, which tells the
run's driver; the guest run decides nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

import anyio

from asyncflow.dag import DAG
from asyncflow.engine.dispatcher import Dispatcher, Ticket
from asyncflow.engine.expansion import resolve_expansion
from asyncflow.engine.limits import bounds_of
from asyncflow.engine.run_state import RunState
from asyncflow.exceptions import EngineError, MappingError, StoreError
from asyncflow.log import get_logger
from asyncflow.records import TaskInstanceRecord
from asyncflow.storage.protocol import Store
from asyncflow.storage.sharing import SharedStore
from asyncflow.xcom_objects import XComObjects

log = get_logger("asyncflow.engine")

MAX_CLAIM = 500
"""Instances claimed in one statement at most, so that other engines get their share."""
PREFETCH = 64
"""Instances claimed ahead of free slots at most (fewer for an engine with fewer slots),
so that a slot coming free starts the next instance at once; a claim is made when half
of them have been launched, so that claims come in batches rather than one per slot."""
GUEST_RUNS = 256
"""Guest runs kept for the next claims of their instances (the least recently used go)."""


class Claimer:
    """Claims offered instances while the engine has room, and hands them to its dispatcher."""

    def __init__(
        self,
        *,
        store: Store,
        shared: SharedStore,
        owner: str,
        queues: Sequence[str],
        dispatcher: Dispatcher,
        dags: Mapping[str, DAG],
        active: Mapping[tuple[str, str], RunState],
        objects: XComObjects | None,
        max_map_length: int,
        idle_interval: float,
    ) -> None:
        self.store = store
        self.shared = shared
        self.owner = owner
        self.queues = tuple(queues)
        self.dispatcher = dispatcher
        self.dags = dags
        self.active = active
        self.objects = objects
        self.max_map_length = max_map_length
        self.idle_interval = idle_interval
        self.claimed = 0  # instances claimed since the engine opened
        self.prefetch = min(dispatcher.max_active, PREFETCH)
        self._wanted = anyio.Event()
        self._guests: OrderedDict[tuple[str, str], RunState] = OrderedDict()

    def wake(self) -> None:
        """There may be offers to claim (an offer was made, or a slot came free)."""
        self._wanted.set()

    def wake_for(self, queue: str) -> None:
        """An instance was offered in ``queue``: claim if it is one of this engine's."""
        if queue in self.queues:
            self._wanted.set()

    async def run(self) -> None:
        """Claim at once, then whenever woken or after ``idle_interval`` seconds, until cancelled.

        The first claim takes what was offered before this engine started listening.
        """
        self._wanted.set()
        while True:
            with anyio.move_on_after(self.idle_interval):
                await self._wanted.wait()
            self._wanted = anyio.Event()
            try:
                await self._claim_while_room()
            except StoreError as error:  # the database is restarting: try again later
                log.warning("claim_failed", owner=self.owner, error=str(error))

    def _room(self) -> int:
        """How many to claim now.

        None while enough wait here for a slot; else up to the free slots and the prefetch.
        """
        dispatcher = self.dispatcher
        if dispatcher.paused or dispatcher.waiting > self.prefetch // 2:
            return 0
        return dispatcher.max_active + self.prefetch - dispatcher.running - dispatcher.waiting

    async def _claim_while_room(self) -> None:
        while (room := min(self._room(), MAX_CLAIM)) > 0:
            records = await self.shared.claim(self.owner, self.queues, room, self.dispatcher.pools)
            self.claimed += len(records)
            await self._place(records)
            if len(records) < room:
                return

    async def give_back(self) -> None:
        """Offer again what was claimed and not launched (the engine is stopping)."""
        tickets = self.dispatcher.drop_waiting()
        records = [ticket.payload[1].instances[ticket.payload[2]] for ticket in tickets]
        if records:
            await self.shared.unclaim(self.owner, records)

    async def _place(self, records: list[TaskInstanceRecord]) -> None:
        foreign: list[TaskInstanceRecord] = []
        for record in records:
            run = await self._run_of(record)
            if run is None:
                foreign.append(record)
                continue
            node = run.nodes[record.task_id]
            node.instances[record.map_index] = record
            if record.map_index >= 0 and node.expansion is None:
                try:
                    node.expansion = await resolve_expansion(
                        self.store, self.objects, run, node, self.max_map_length
                    )
                except MappingError as error:  # the driver checked it; it cannot change
                    log.error("claimed_instance_unmappable", error=str(error))
            self.dispatcher.submit(
                Ticket(
                    priority=node.priority,
                    bounds=bounds_of(run, node.task, self.dispatcher.pools),
                    payload=(run, node, record.map_index),
                )
            )
        if foreign:
            await self.shared.unclaim(self.owner, foreign)
            log.warning(
                "claim_returned",
                owner=self.owner,
                instances=len(foreign),
                reason="this engine does not have their DAG or task",
            )

    def guest(self, key: tuple[str, str]) -> RunState | None:
        """The guest run of this key (a run driven elsewhere, some of whose tries run here)."""
        return self._guests.get(key)

    async def _run_of(self, record: TaskInstanceRecord) -> RunState | None:
        """The run the claimed instance belongs to here: driven, guest, or none (unknown DAG)."""
        key = (record.dag_id, record.run_id)
        run = self.active.get(key)
        if run is not None:
            return run
        run = self._guests.get(key)
        if run is not None:
            self._guests.move_to_end(key)
            return run
        dag = self.dags.get(record.dag_id)
        if dag is None or not dag.has_task(record.task_id):
            return None
        stored = await self.store.get_run(*key)
        if stored is None:
            return None
        run = RunState.new(dag, stored, ())
        run.guest = True
        self._guests[key] = run
        if len(self._guests) > GUEST_RUNS:
            self._guests.popitem(last=False)
        return run


def checked_queues(queues: Iterable[str] | None) -> tuple[str, ...]:
    """The named queues an engine takes work from (``("default",)`` when not given).

    Raises:
        EngineError: a queue name is not a non-empty string, or none is given.
    """
    if queues is None:
        return ("default",)
    if isinstance(queues, str):
        queues = [q.strip() for q in queues.split(",")]
    names = tuple(queues)
    for name in names:
        if not isinstance(name, str) or not name:
            raise EngineError(f"queue names are non-empty strings, got {name!r}")
    if not names:
        raise EngineError("queues is empty: name at least one queue to take work from")
    return names
