"""The scheduler: creates each DAG's scheduled runs as their data intervals end.

It sleeps until the next interval ends (no polling loop), waking early when a
DAG is added or unpaused. Each sleep is capped at a few seconds (``max_sleep``, the
``scheduler_poll_seconds`` setting), so a wall clock that
jumps forwards or backwards is noticed within that time, and so are runs that
another process (``asyncflow dags trigger``) queued in the store and pauses it
wrote (a paused DAG's queued runs wait for it to be unpaused); runs are identified
by their logical date, so a clock going back never creates a run twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

import anyio

from asyncflow.clock import Clock
from asyncflow.dag import DAG
from asyncflow.log import get_logger
from asyncflow.schedule import NoSchedule
from asyncflow.storage.protocol import Store
from asyncflow.timetable import DataInterval, Timing, due_intervals, next_due_at

log = get_logger("asyncflow.scheduler")

MAX_SLEEP = timedelta(seconds=5)  # the default cap: how soon runs queued elsewhere start
SCHEDULED_TYPES = frozenset({"scheduled", "backfill"})

CreateRun = Callable[[DAG, DataInterval], Awaitable[None]]


def timing_of(dag: DAG) -> Timing:
    """The timetable's view of a DAG's scheduling keywords."""
    return dag.timing


class Scheduler:
    """Creates scheduled runs for every unpaused DAG with a schedule."""

    def __init__(
        self,
        *,
        clock: Clock,
        store: Store,
        dags: Mapping[str, DAG],
        paused: set[str],
        create_run: CreateRun,
        adopt_queued: Callable[[set[str]], Awaitable[None]],
        max_sleep: timedelta = MAX_SLEEP,
    ) -> None:
        self.clock = clock
        self.store = store
        self.dags = dags
        self.paused = paused
        self._create_run = create_run
        self._adopt_queued = adopt_queued
        self.max_sleep = max_sleep
        self._last: dict[str, DataInterval | None] = {}
        self._wake = anyio.Event()

    def wake(self) -> None:
        """Look at the DAGs again now (one was added, changed or unpaused)."""
        self._wake.set()

    async def run(self) -> None:
        """Schedule forever (cancel to stop)."""
        while True:
            self._wake = anyio.Event()
            due = await self.tick()
            now = self.clock.now()
            until = now + self.max_sleep if due is None else min(due, now + self.max_sleep)
            await self.clock.sleep_until(until, self._wake)

    async def tick(self) -> datetime | None:
        """Create every run that is due now; return when the next one will be."""
        await self._follow_pauses()
        await self._adopt_queued(self.paused)
        now = self.clock.now()
        soonest: datetime | None = None
        for dag in list(self.dags.values()):
            if dag.dag_id in self.paused or isinstance(dag.schedule, NoSchedule):
                continue
            next_at = await self._schedule(dag, now)
            if next_at is not None and (soonest is None or next_at < soonest):
                soonest = next_at
        return soonest

    async def _follow_pauses(self) -> None:
        """Apply pauses and unpauses written to the store (by ``asyncflow dags pause``)."""
        stored = await self.store.get_paused_dag_ids()
        for dag_id in sorted(stored - self.paused):
            log.info("dag_paused", dag_id=dag_id)
        for dag_id in sorted(self.paused - stored):
            log.info("dag_unpaused", dag_id=dag_id)
        self.paused.clear()
        self.paused.update(stored)

    async def _schedule(self, dag: DAG, now: datetime) -> datetime | None:
        timing = timing_of(dag)
        last = await self._last_interval(dag)
        for interval in due_intervals(timing, last, now):
            await self._create_run(dag, interval)
            last = self._last[dag.dag_id] = interval
        return next_due_at(timing, last, now)

    async def _last_interval(self, dag: DAG) -> DataInterval | None:
        if dag.dag_id not in self._last:
            runs = await self.store.list_runs(dag.dag_id)
            latest = next((r for r in runs if r.run_type in SCHEDULED_TYPES), None)
            self._last[dag.dag_id] = (
                None
                if latest is None
                else DataInterval(
                    latest.data_interval_start or latest.logical_date,
                    latest.data_interval_end or latest.logical_date,
                )
            )
        return self._last[dag.dag_id]
