"""This engine's part among the engines that share one store's work.

Four duties, each a coroutine of the engine's task group:

- *listen*: the store's notices wake the right part at once: an offer wakes
  the claimer, a try's end reaches its run's driver, a queued run is started
  by one engine, a key notified anywhere wakes the sensors waiting on it here;
- *claim* (:class:`~.claims.Claimer`): offered instances while there is room;
- *deliver*: tries of runs driven here that ended in any engine are read back
  and handed to the run loop, exactly as a try ended here would be (the run
  loop drops a try it has already seen, wherever it ran);
- *reap*: when another engine's lease expires (it died), its claimed tries
  are recovered (offered again, or retried as try N+1, or failed when out of
  retries) and its runs adopted, with their sensors' first poke, poke count
  and next poke kept. The reaper sleeps until the next lease could expire, so
  a dead engine's work resumes within a moment of its lease's end.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import anyio

from asyncflow.clock import Clock
from asyncflow.dag import DAG
from asyncflow.engine.claims import Claimer
from asyncflow.engine.driver import IN_FLIGHT_STATES, RunDriver
from asyncflow.engine.offers import Offers
from asyncflow.engine.recovery import interrupt_orphans
from asyncflow.engine.run_events import RunEvent, TryInterrupted, TryRecorded
from asyncflow.engine.run_state import RunState
from asyncflow.engine.runs import RunBook
from asyncflow.exceptions import StoreError
from asyncflow.log import get_logger
from asyncflow.records import DagRunRecord, EngineIdentity, TaskInstanceRecord
from asyncflow.runtime.task_runner import TryOutcome
from asyncflow.settings import Settings
from asyncflow.states import TaskState
from asyncflow.storage.protocol import Store
from asyncflow.storage.sharing import (
    ENDED,
    OFFERED,
    RECONNECTED,
    RUNS,
    STOPPED,
    WAKE,
    EndedInstance,
    InstanceKey,
    SharedStore,
    wake_payload,
)
from asyncflow.xcom_objects import XComObjects

log = get_logger("asyncflow.engine")

_RECORDED = frozenset(
    {
        TaskState.SUCCESS,
        TaskState.FAILED,
        TaskState.SKIPPED,
        TaskState.UP_FOR_RETRY,
        TaskState.UP_FOR_RESCHEDULE,
    }
)
STOP_ERROR_CHARS = 2_000
"""A stopped run's error, as told to the other engines, at most (a notice is < 8 KB)."""
READ_BATCH = 5_000
"""Ended instances read back in one statement at most."""
RECOVER_EVERY = 10
"""Reaper passes between looks for orphaned tries when no engine was found dead."""
BEATS_PER_LEASE = 3
"""Reaper passes (a third of the lease TTL each) between re-reads of the tries in flight
of the runs this engine drives, in case the notice of one's end was lost."""


@dataclass(slots=True)
class Hooks:
    """What the cluster calls back in the engine."""

    post: Callable[[RunEvent], None]  # hand an event to the run loop
    adopt_run: Callable[[DAG, DagRunRecord], Awaitable[RunState]]
    start_queued: Callable[[], Awaitable[None]]  # start runs queued in the store
    notify_here: Callable[[str], int]  # wake this engine's sensors waiting on a key
    stop_guest: Callable[[tuple[str, str], str], Awaitable[None]]  # stop tries of a run


@dataclass(slots=True)
class _Pending:
    """Ended instances heard of and not yet read back."""

    keys: set[InstanceKey] = field(default_factory=set)
    wanted: anyio.Event = field(default_factory=anyio.Event)


class Cluster:
    """Listens, claims, delivers and reaps for one engine on a shared store."""

    def __init__(
        self,
        *,
        store: Store,
        shared: SharedStore,
        identity: EngineIdentity,
        clock: Clock,
        claimer: Claimer,
        dags: Mapping[str, DAG],
        active: Mapping[tuple[str, str], RunState],
        hooks: Hooks,
        lease_ttl: float,
    ) -> None:
        self.store = store
        self.shared = shared
        self.identity = identity
        self.clock = clock
        self.claimer = claimer
        self.dags = dags
        self.active = active
        self.hooks = hooks
        self.lease_ttl = lease_ttl
        self._ended = _Pending()
        self._runs_wanted = anyio.Event()
        self._reap_wanted = anyio.Event()
        self._stops: dict[tuple[str, str], str] = {}  # runs ended early elsewhere: their error
        self._stops_wanted = anyio.Event()

    # --- starting ----------------------------------------------------------------------
    async def take_over(self) -> None:
        """At start: drop dead engines, recover their tries, adopt runs nobody drives."""
        await self.shared.reap(self.identity)
        await self._recover()
        await self._adopt()

    async def run(self) -> None:
        """Listen, claim, deliver and reap until cancelled."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.shared.listen, self._on_notice, name="asyncflow-notices")
            tg.start_soon(self.claimer.run, name="asyncflow-claims")
            tg.start_soon(self._deliver_ended, name="asyncflow-ended")
            tg.start_soon(self._start_queued, name="asyncflow-queued-runs")
            tg.start_soon(self._reap, name="asyncflow-reaper")
            tg.start_soon(self._stop_guests, name="asyncflow-stopped-runs")

    async def left(self) -> None:
        """This engine has released its lease: tell the others, who adopt its runs now."""
        await self.shared.publish(RUNS, "")

    async def run_stopped(self, run: RunState) -> None:
        """This engine ended a run early: tell the others, who stop their tries of it."""
        payload = json.dumps([*run.key, (run.stop_error or "")[:STOP_ERROR_CHARS]])
        try:
            await self.shared.publish(STOPPED, payload)
        except StoreError as error:  # its tries elsewhere end on their own; their reports are stale
            log.warning("run_stop_not_told", dag_id=run.key[0], run_id=run.key[1], error=str(error))

    async def notify(self, key: str) -> None:
        """Tell every other engine to wake its sensors waiting on ``key``."""
        await self.shared.publish(WAKE, wake_payload(self.identity.id, key))

    # --- notices -------------------------------------------------------------------------
    def _on_notice(self, channel: str, payload: str) -> None:
        if channel == OFFERED:
            self.claimer.wake_for(payload)
        elif channel == ENDED:
            dag_id, run_id, task_id, map_index = json.loads(payload)
            if (dag_id, run_id) in self.active:
                self._ended.keys.add((dag_id, run_id, task_id, map_index))
                self._ended.wanted.set()
        elif channel == RUNS:  # a run queued, or an engine left: start or adopt runs
            self._runs_wanted.set()
            self._reap_wanted.set()
        elif channel == WAKE:
            sender, key = json.loads(payload)
            if sender != self.identity.id:
                self.hooks.notify_here(key)
        elif channel == STOPPED:
            dag_id, run_id, error = json.loads(payload)
            if (dag_id, run_id) not in self.active:  # its driver, here, stopped them already
                self._stops[(dag_id, run_id)] = error
                self._stops_wanted.set()
        elif channel == RECONNECTED:  # notices were missed meanwhile: look again
            self.recheck(self.active.values())
            self.claimer.wake()
            self._runs_wanted.set()

    def recheck(self, runs: Iterable[RunState]) -> None:
        """Read back every instance of ``runs`` that is in flight, as if its end was heard of."""
        for run in runs:
            for node in run.nodes.values():
                for ti in node.instances.values():
                    if ti.state in IN_FLIGHT_STATES:
                        self._ended.keys.add(ti.key)
        if self._ended.keys:
            self._ended.wanted.set()

    # --- delivering ended tries to their runs ------------------------------------------
    async def _deliver_ended(self) -> None:
        while True:
            await self._ended.wanted.wait()
            keys, self._ended = list(self._ended.keys), _Pending()
            for start in range(0, len(keys), READ_BATCH):
                try:
                    ended = await self.shared.ended_instances(keys[start : start + READ_BATCH])
                except StoreError as error:
                    log.warning("ended_read_failed", error=str(error))
                    self._ended.keys.update(keys[start:])
                    self._ended.wanted.set()
                    await anyio.sleep(self.lease_ttl / 3)
                    break
                for instance in ended:
                    self._deliver(instance)

    def _deliver(self, ended: EndedInstance) -> None:
        record = ended.record
        run = self.active.get((record.dag_id, record.run_id))
        if run is None or run.completing:
            return
        node = run.nodes.get(record.task_id)
        if node is None:
            return
        if record.state is None:
            self.hooks.post(TryInterrupted(run, node, record))
            return
        if record.state not in _RECORDED:
            return
        outcome = TryOutcome(
            state=record.state,
            error=record.error,
            next_attempt_at=record.next_attempt_at,
            next_poke_at=record.next_poke_at,
            skipped_task_ids=ended.skipped_task_ids,
        )
        self.hooks.post(TryRecorded(run, node, record, outcome, notified=False, remote=True))

    async def _stop_guests(self) -> None:
        while True:
            await self._stops_wanted.wait()
            self._stops_wanted = anyio.Event()
            stops, self._stops = self._stops, {}
            for key, error in stops.items():
                await self.hooks.stop_guest(key, error)

    # --- runs queued by other processes ----------------------------------------------
    async def _start_queued(self) -> None:
        while True:
            await self._runs_wanted.wait()
            self._runs_wanted = anyio.Event()
            try:
                await self.hooks.start_queued()
            except StoreError as error:
                log.warning("queued_runs_failed", error=str(error))

    # --- dead engines ------------------------------------------------------------------
    async def _reap(self) -> None:
        passes = 0
        while True:
            wait = self.lease_ttl / 3
            try:
                reaped = await self.shared.reap(self.identity)
                passes += 1
                if reaped.dead:
                    log.warning("engines_presumed_dead", engines=list(reaped.dead))
                if reaped.dead or passes % RECOVER_EVERY == 0:
                    await self._recover()
                    await self._adopt()
                if passes % BEATS_PER_LEASE == 0:  # a notice lost with a connection, at worst
                    self.recheck(self.active.values())
                if reaped.next_expiry is not None:
                    wait = min(wait, reaped.next_expiry + 0.05)
            except StoreError as error:
                log.warning("reap_failed", error=str(error))
            with anyio.move_on_after(wait):
                await self._reap_wanted.wait()
            if self._reap_wanted.is_set():  # an engine left: look for its runs at once
                self._reap_wanted = anyio.Event()
                passes = RECOVER_EVERY - 1

    async def _recover(self) -> None:
        """End or offer again the tries of engines that hold no lease (recorded as interrupted)."""
        orphans = await self.shared.orphaned_instances()
        changes = []
        now = self.clock.now()
        for ti in orphans:
            change = _recovered(ti, self.dags.get(ti.dag_id), now)
            if change is not None:
                changes.append((ti, change))
        if changes:
            applied = await self.store.recover_tries(changes)
            log.warning(
                "orphaned_tries_recovered",
                recovered=sum(applied),
                instances=[f"{t.dag_id}/{t.run_id}/{t.task_id}/{t.map_index}" for t, _ in changes],
            )

    async def _adopt(self) -> None:
        """Drive the running runs (of DAGs known here) that no live engine drives."""
        adopted = await self.shared.adopt_runs(self.identity.id, sorted(self.dags))
        runs = []
        for record in adopted:
            runs.append(await self.hooks.adopt_run(self.dags[record.dag_id], record))
            log.warning("dag_run_adopted", dag_id=record.dag_id, run_id=record.run_id)
        # a try that ended between the read of a run and its adoption was heard of by no one
        self.recheck(runs)


def _recovered(ti: TaskInstanceRecord, dag: DAG | None, now: datetime) -> TaskInstanceRecord | None:
    """An orphaned instance as recovered; ``None`` when this engine cannot tell.

    A claim not started yet is offered again; a try that was running is
    interrupted (retried, or failed when out of retries).
    """
    if ti.state is TaskState.QUEUED:
        return ti.evolve(state=TaskState.SCHEDULED, owner=None)
    if dag is None or not dag.has_task(ti.task_id):
        return None  # an engine that knows the DAG recovers it
    _, changes = interrupt_orphans(dag, [ti], now=now)
    return changes[0][1] if changes else None


def join_cluster(
    store: Store,
    *,
    identity: EngineIdentity,
    clock: Clock,
    settings: Settings,
    queues: tuple[str, ...],
    driver: RunDriver,
    runs: RunBook,
    objects: XComObjects | None,
    paused: set[str],
) -> Cluster | None:
    """An engine's part in sharing the store's work; ``None`` on a store that shares none.

    Wires the engine for sharing: its driver offers instead of running, its
    dispatcher wakes the claimer when a slot frees, its run book adopts rather
    than resumes every running run.
    """
    if not isinstance(store, SharedStore) or not store.shares_work:
        return None
    dispatcher = driver.dispatcher
    ttl = store.lease_ttl or 30.0
    claimer = Claimer(
        store=store,
        shared=store,
        owner=identity.id,
        queues=queues,
        dispatcher=dispatcher,
        dags=runs.dags,
        active=runs.active,
        objects=objects,
        max_map_length=settings.max_map_length,
        idle_interval=ttl / 3,
    )
    dispatcher.on_release = claimer.wake
    driver.offers = Offers(store, driver.spawn)
    runs.shared = True
    hooks = Hooks(
        post=driver.post,
        adopt_run=runs.adopt,
        start_queued=lambda: runs.adopt_queued(paused),
        notify_here=driver.executor.wakeups.notify,
        stop_guest=partial(_stop_guest, claimer, driver),
    )
    cluster = Cluster(
        store=store,
        shared=store,
        identity=identity,
        clock=clock,
        claimer=claimer,
        dags=runs.dags,
        active=runs.active,
        hooks=hooks,
        lease_ttl=ttl,
    )
    driver.on_stopped = cluster.run_stopped
    return cluster


async def _stop_guest(
    claimer: Claimer, driver: RunDriver, key: tuple[str, str], error: str
) -> None:
    """Stop this engine's tries of a run its driver ended early; the store has their end."""
    run = claimer.guest(key)
    if run is None:
        return
    run.stop_error = error or f"run {key[1]!r} was ended by its driver; this try was stopped"
    log.info("guest_tries_stopped", dag_id=key[0], run_id=key[1])
    await driver.executor.stop_run(key)
