"""A run's driver offering its instances to every engine on a shared store.

On a store engines share (:mod:`asyncflow.storage.sharing`), an instance ready
for a try is not run by the driver's own dispatcher: it is offered in the
store, and whichever engine has room claims it (:mod:`.claims`), the driver
included. Offers made while one is being written go together in the next
write, so a thousand ready instances cost one statement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncflow.engine.run_state import NodeState, RunState
from asyncflow.engine.transitions import log_stale
from asyncflow.states import TaskState
from asyncflow.storage.sharing import Offer, SharedStore


class Offers:
    """Instances of driven runs on their way to the store as offers."""

    def __init__(self, store: SharedStore, spawn: Callable[..., Any]) -> None:
        self.store = store
        self._spawn = spawn
        self._pending: list[Offer] = []

    def add(self, run: RunState, node: NodeState, map_index: int) -> None:
        """Offer one instance for its next try (written with the others offered meanwhile)."""
        record = node.instances[map_index]
        task = node.task
        node.instances[map_index] = record.evolve(state=TaskState.SCHEDULED)
        offer = Offer(
            instance=record,
            queue=task.queue,
            pool=task.pool,
            pool_slots=task.pool_slots,
            priority=node.priority,
            dag_limit=run.dag.max_active_tasks,
        )
        self._pending.append(offer)
        if len(self._pending) == 1:
            self._spawn(self._write)

    async def _write(self) -> None:
        batch, self._pending = self._pending, []
        applied = await self.store.offer(batch)
        for offer, ok in zip(batch, applied, strict=True):
            if not ok:
                log_stale("offer", offer.instance, "the instance no longer waits for this try")
