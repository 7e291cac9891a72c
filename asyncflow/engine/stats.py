"""``engine.stats``: a snapshot of the engine's slots and queues, cheap enough to read often.

Every figure is a count the engine keeps anyway (no scan of the waiting task
instances), so reading :attr:`Engine.stats <asyncflow.Engine.stats>` in a test's
loop or a service's health check costs a few attribute reads. For Prometheus,
see ``engine.metrics``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from asyncflow.engine.dispatcher import Dispatcher
from asyncflow.engine.executor import InstanceExecutor
from asyncflow.engine.timers import Timers


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolStats:
    """One pool's slots at the moment of the snapshot.

    Attributes:
        used: Slots taken by task instances running in the pool (a task takes
            its ``pool_slots``).
        capacity: The pool's slots, as given to ``Engine(pools=...)``.
    """

    used: int
    capacity: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineStats:
    """The engine's slots and queue depths at one moment (``engine.stats``).

    Attributes:
        max_active_tasks: The engine's slots (``Engine(max_active_tasks=...)``).
        running: Task instances holding a slot: tries in progress and poke-mode
            sensors between pokes (which keep their slot, as in Airflow).
        waiting: Task instances queued for a slot: the engine's, their DAG's,
            their pool's or their task's limits are full.
        held: Of ``running``, the poke-mode sensors between two pokes (a timer
            entry each, no coroutine).
        timers: Wake-ups due later: reschedule-mode sensors parked until their
            next poke, retries waiting out their ``retry_delay``, poke-mode
            sensors' next pokes (one a notify brought forward stays until its time).
        pools: Each pool's slots by name.
        active_runs: DAG runs this engine is running.
        queued_runs: DAG runs waiting for their DAG's ``max_active_runs``.

    Example:
        >>> stats = engine.stats  # doctest: +SKIP
        >>> stats.running, stats.waiting, stats.pools["db"].used  # doctest: +SKIP
        (4, 12, 2)
    """

    max_active_tasks: int
    running: int
    waiting: int
    held: int
    timers: int
    pools: Mapping[str, PoolStats]
    active_runs: int
    queued_runs: int

    @property
    def idle(self) -> bool:
        """Nothing runs, waits for a slot or is due later."""
        return not (self.running or self.waiting or self.timers)


def snapshot(
    dispatcher: Dispatcher,
    executor: InstanceExecutor,
    timers: Timers,
    *,
    active_runs: int,
    queued_runs: int,
) -> EngineStats:
    """The stats of an engine made of these parts, now."""
    pools = {
        name: PoolStats(used=dispatcher.used(("pool", name)), capacity=capacity)
        for name, capacity in dispatcher.pools.items()
    }
    return EngineStats(
        max_active_tasks=dispatcher.max_active,
        running=dispatcher.running,
        waiting=dispatcher.waiting,
        held=executor.held,
        timers=len(timers),
        pools=MappingProxyType(pools),
        active_runs=active_runs,
        queued_runs=queued_runs,
    )
