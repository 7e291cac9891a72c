"""Running one task instance: claim it, run one try (or one poke), record the outcome.

A try is marked running in the store before user code runs (tries launched
together in one write), and its outcome (with the XCom it produced) is
committed before anything acts on it. Each try, and each poke of a sensor,
runs as a task of the executor's :class:`~asyncflow.engine.task_set.TaskSet`.
A retry and a reschedule-mode sensor's next poke go to the timer heap; a
poke-mode sensor between pokes is *held* (its slot kept, a timer entry, no
coroutine: :mod:`asyncflow.engine.attempts`); a sensor waiting on ``wake_on``
keys is registered so ``engine.notify`` reaches it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from asyncflow.clock import Clock
from asyncflow.connections import all_secrets
from asyncflow.engine.attempts import Attempt, HeldAttempts
from asyncflow.engine.dispatcher import Ticket
from asyncflow.engine.poke_queue import PokeQueue
from asyncflow.engine.run_events import RunEvent
from asyncflow.engine.run_state import NodeState, RunState
from asyncflow.engine.task_set import TaskSet
from asyncflow.engine.timers import Timers
from asyncflow.engine.transitions import (
    interrupted_record,
    log_stale,
    running_record,
    timed_out_record,
)
from asyncflow.engine.try_phase import TryEvent, TryKind, TryPhase, try_kind
from asyncflow.engine.try_recorder import TryRecorder
from asyncflow.engine.try_runner import WAITS, TryRunner, keeps_slot
from asyncflow.engine.wakeups import WakeRegistry, wake_keys
from asyncflow.records import TaskInstanceRecord
from asyncflow.runtime.task_instance import TaskInstance
from asyncflow.runtime.task_runner import (
    TryOutcome,
)
from asyncflow.settings import Settings
from asyncflow.states import TaskState
from asyncflow.storage.protocol import Store
from asyncflow.xcom_objects import XComObjects

_NO_LOG: AbstractContextManager[None] = nullcontext()


class InstanceExecutor:
    """Runs task instances handed out by the dispatcher."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        settings: Settings,
        timers: Timers,
        owner: str,
        objects: XComObjects | None,
        logs_folder: Path | None,
        post: Callable[[RunEvent], None],
        release: Callable[[Ticket], None],
        spawn: Callable[..., None],
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.timers = timers
        self.owner = owner
        self.objects = objects
        self.logs_folder = logs_folder
        self.wakeups = WakeRegistry()
        self.runner = TryRunner(
            store=store,
            clock=clock,
            settings=settings,
            objects=objects,
            logs_folder=logs_folder,
            secrets=all_secrets() if logs_folder is not None else (),
        )
        self.running_tasks = self.runner.running  # the watchdog names the task blocking the loop
        self._waiting_sensors: set[anyio.CancelScope] = set()
        self._by_run: dict[tuple[str, str], set[anyio.CancelScope]] = {}
        self._held = HeldAttempts()
        self._starting: list[Ticket] = []
        self.tries = TaskSet()  # each try (each first poke of a sensor) runs as one of these
        # a held poke-mode sensor's next pokes run in a queue's task, not in a task each
        self.pokes = PokeQueue(self._poke_again, self.tries.start, self._poke_waits)
        self._waiting_pokes: dict[Attempt, asyncio.Task[Any]] = {}
        self.recorder = TryRecorder(
            store=store,
            clock=clock,
            owner=owner,
            objects=objects,
            wakeups=self.wakeups,
            post=post,
            start=self.tries.start,
        )
        self._post = post
        self._release = release
        self._spawn = spawn

    @property
    def held(self) -> int:
        """Tries holding a slot with no coroutine: poke-mode sensors between pokes."""
        return len(self._held)

    def launch(self, ticket: Ticket) -> None:
        """Start a try of the ticket's instance (a sensor: its first poke).

        Its running state is committed before it runs, in one write with every
        other try launched meanwhile, so a burst of launches waits in one
        coroutine, not in one each.
        """
        self._starting.append(ticket)
        if len(self._starting) == 1:
            self.tries.start(self._start_tries())

    async def _start_tries(self) -> None:
        tickets, self._starting = self._starting, []
        # tasks start as soon as their try is stored; sensors, which nobody waits
        # on to the millisecond, let their start share a transaction with others
        attempts: dict[bool, list[Attempt]] = {False: [], True: []}
        writes: dict[bool, list[TaskInstanceRecord]] = {False: [], True: []}
        for ticket in tickets:
            run, node, map_index = ticket.payload
            if run.completing:  # the run ended (e.g. timed out) while this waited for a slot
                self._release(ticket)
                continue
            patient = try_kind(node.task).is_sensor
            record, new_try = self._mark_running(node, map_index)
            if new_try:
                writes[patient].append(record)
            attempt = Attempt(ticket)
            self._held.add(attempt)
            attempts[patient].append(attempt)
            keys = wake_keys(node)
            if keys:  # registered from the start of the try until it ends or is parked
                self.wakeups.add(keys, record.key, attempt.wake.set)
        for patient in (False, True):
            stale: set[tuple[str, str, str, int]] = set()
            if writes[patient]:  # if cancelled, stop_holding records them as interrupted
                applied = await self.store.start_tries(self.owner, writes[patient], patient=patient)
                stale = {r.key for r, ok in zip(writes[patient], applied, strict=True) if not ok}
            for attempt in attempts[patient]:
                if stale and self._drop_stale_start(attempt, stale):
                    continue
                if attempt.phase is TryPhase.STARTING:  # not stopped while its start was stored
                    attempt.move(TryEvent.STORED)
                    self.tries.start(self._attempt(attempt))

    def _drop_stale_start(self, attempt: Attempt, stale: set[tuple[str, str, str, int]]) -> bool:
        """Let go of a try the store refused to start (its run ended meanwhile)."""
        _, node, map_index = attempt.payload
        record = node.instances[map_index]
        if record.key not in stale or not self._held.take(attempt):
            return False
        attempt.move(TryEvent.STALE)
        self._let_go(attempt)
        log_stale("start_try", record, "the instance no longer waits for this try")
        return True

    async def _attempt(self, attempt: Attempt) -> None:
        """Run the try (a sensor: its first poke), then hold, record or stop it by its phase."""
        if not self._held.take(attempt):
            return  # stopped (a shutdown, the run's timeout) before it began
        run, node, map_index = attempt.payload
        record = node.instances[map_index]
        scope = anyio.CancelScope()
        try:
            with scope:
                if try_kind(node.task) is TryKind.POKE_SENSOR:
                    self._waiting_sensors.add(scope)  # a shutdown interrupts these at once
                self._by_run.setdefault(run.key, set()).add(scope)
                outcome, ti = await self.runner.run(run, node, record, attempt)
        except anyio.get_cancelled_exc_class():
            attempt.move(TryEvent.STOPPED)
            self._let_go(attempt)
            with anyio.CancelScope(shield=True):
                await self._interrupted(node, record)
            raise
        finally:
            self._waiting_sensors.discard(scope)
            self._forget(run.key, scope)
        if scope.cancelled_caught:
            await self._stopped(attempt, run, node, record)
        else:
            await self._after_try(attempt, run, node, record, outcome, ti)

    async def _poke_again(self, attempt: Attempt) -> None:
        """A held poke-mode sensor's next poke, run by the poke queue (no task of its own).

        A poke that waits is cancelled through the task it waits in (see
        :meth:`_poke_waits`); one that does not wait cannot be interrupted.
        """
        if not self._held.take(attempt):
            return  # stopped (a shutdown, the run's timeout) while it was due
        run, node, map_index = attempt.payload
        record = node.instances[map_index]
        try:
            outcome, ti = await self.runner.poke_again(run, record, attempt)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._stopped(attempt, run, node, record)
            raise
        if outcome is WAITS:
            attempt.move(TryEvent.NOT_DONE)
            assert attempt.pokes is not None
            assert attempt.pokes.next_poke_at is not None
            self._hold(attempt, attempt.pokes.next_poke_at)
        else:
            await self._after_try(attempt, run, node, record, outcome, ti)

    def _poke_waits(self, attempt: Attempt, task: asyncio.Task[Any] | None) -> None:
        """A queued poke now waits in ``task`` (``None``: it ended)."""
        if task is None:
            self._waiting_pokes.pop(attempt, None)
        else:
            self._waiting_pokes[attempt] = task

    async def _after_try(
        self,
        attempt: Attempt,
        run: RunState,
        node: NodeState,
        record: TaskInstanceRecord,
        outcome: TryOutcome,
        ti: TaskInstance,
    ) -> None:
        """Hold a poke-mode sensor until its next poke, or record how the try ended."""
        if keeps_slot(ti.task, outcome):
            attempt.move(TryEvent.NOT_DONE)
            assert outcome.next_poke_at is not None
            attempt.ti = ti
            self._hold(attempt, outcome.next_poke_at)
        else:
            attempt.move(TryEvent.RETURNED)
            await self._returned(attempt, run, node, record, outcome, ti)

    async def _stopped(
        self, attempt: Attempt, run: RunState, node: NodeState, record: TaskInstanceRecord
    ) -> None:
        """A try cancelled by its run's timeout or a shutdown: record how, then free its slot."""
        attempt.move(TryEvent.STOPPED)
        try:  # the slot is free once the interruption is stored: a drain waits for that
            if run.timed_out:
                self._timed_out(node, record, run)
            else:
                await self._interrupted(node, record)
        finally:
            self._let_go(attempt)

    async def _returned(
        self,
        attempt: Attempt,
        run: RunState,
        node: NodeState,
        record: TaskInstanceRecord,
        outcome: TryOutcome,
        ti: TaskInstance,
    ) -> None:
        """Store a try's outcome; a task keeps its slot until then, a sensor frees it first.

        A sensor's outcome is a patient write (it lingers for company), so its
        slot is free before it, and ``store.close()`` commits it on the way out.
        A reschedule keeps its notify keys until it is parked.
        """
        patient = try_kind(ti.task).is_sensor
        if outcome.state is not TaskState.UP_FOR_RESCHEDULE:
            self._forget_keys(attempt)
        if patient:
            self._release(attempt.ticket)
        try:
            await self.recorder.record(attempt, run, node, record, outcome, ti)
        finally:
            if not patient:
                self._release(attempt.ticket)

    def _let_go(self, attempt: Attempt) -> None:
        """The try is over for this process: free its slot and its notify keys."""
        self._release(attempt.ticket)
        self._forget_keys(attempt)

    def _forget_keys(self, attempt: Attempt) -> None:
        _, node, map_index = attempt.payload
        keys = wake_keys(node)
        if keys:
            self.wakeups.remove(keys, node.instances[map_index].key)

    # --- poke mode: holding the slot between pokes ---------------------------------
    def _hold(self, attempt: Attempt, due: datetime) -> None:
        """Keep a poke-mode sensor's slot until its next poke: a timer entry, no coroutine."""
        self._held.add(attempt)
        attempt.wait_id += 1
        if attempt.wake.notified:  # a notify came as the poke ended
            self._resume(attempt)
            return
        if wake_keys(attempt.payload[1]):
            attempt.wake.wait_with(partial(self._resume, attempt))
        self.timers.call_at(due, self._resume_if_waiting, attempt, attempt.wait_id)

    def _resume_if_waiting(self, attempt: Attempt, wait_id: int) -> None:
        if attempt.wait_id == wait_id:
            self._resume(attempt)

    def _resume(self, attempt: Attempt) -> None:
        """Start the held sensor's next poke (its time came, or it was notified)."""
        self._end_wait(attempt)
        attempt.move(TryEvent.DUE)
        self.pokes.push(attempt)

    @staticmethod
    def _end_wait(attempt: Attempt) -> None:
        attempt.wait_id += 1  # its pending timer entry is void
        attempt.wake.stop_waiting()

    async def stop_holding(self, run_key: tuple[str, str] | None = None) -> None:
        """End held tries (of one run, or all) and record how they ended.

        Those of a run past its dagrun_timeout fail; the others (a shutdown) are
        recorded as interrupted, to run again on restart (a sensor with its
        timeout intact).
        """
        records: list[TaskInstanceRecord] = []
        now = self.clock.now()
        for attempt in self._held.snapshot(run_key):
            self._held.take(attempt)
            self._end_wait(attempt)
            attempt.move(TryEvent.STOPPED)
            self._let_go(attempt)
            run, node, map_index = attempt.payload
            record = node.instances[map_index]
            if run.timed_out:  # the store ended it with the run (finish_run)
                node.instances[map_index] = timed_out_record(run, record, now)
                continue
            stopped = interrupted_record(node, record, now)
            if stopped is not None:
                node.instances[map_index] = stopped
                records.append(stopped)
        await self._store_interruptions(records)

    async def _store_interruptions(self, records: list[TaskInstanceRecord]) -> None:
        if not records:
            return
        applied = await self.store.interrupt_tries(self.owner, records)
        for record, ok in zip(records, applied, strict=True):
            if not ok:
                log_stale("interrupt_try", record, "the try had ended or its run had")

    async def stop_run(self, key: tuple[str, str]) -> None:
        """Stop every try of one run (its dagrun_timeout passed); they are recorded failed.

        Held poke-mode sensors are recorded here; a try in progress records
        itself as its coroutine ends.
        """
        for scope in list(self._by_run.get(key, ())):
            scope.cancel()
        for attempt, task in list(self._waiting_pokes.items()):
            if attempt.payload[0].key == key:
                self.tries.cancel(task)
        await self.stop_holding(key)

    def _forget(self, key: tuple[str, str], scope: anyio.CancelScope) -> None:
        scopes = self._by_run.get(key)
        if scopes is not None:
            scopes.discard(scope)
            if not scopes:
                del self._by_run[key]

    def _timed_out(self, node: NodeState, record: TaskInstanceRecord, run: RunState) -> None:
        """A try cancelled because its run exceeded dagrun_timeout failed (the store has it)."""
        node.instances[record.map_index] = timed_out_record(run, record, self.clock.now())

    def interrupt_waiting_sensors(self) -> int:
        """Stop every poke-mode sensor's wait (they resume, timeout intact, on restart)."""
        scopes = list(self._waiting_sensors)
        for scope in scopes:
            scope.cancel()
        waiting = list(self._waiting_pokes.values())
        for task in waiting:
            self.tries.cancel(task)
        held = self.held
        if held:
            self._spawn(self.stop_holding)
        return len(scopes) + len(waiting) + held

    async def _interrupted(self, node: NodeState, record: TaskInstanceRecord) -> None:
        """Record a try stopped by a shutdown; the next try runs, uncounted, on restart."""
        back = interrupted_record(node, record, self.clock.now())
        if back is not None:
            node.instances[record.map_index] = back
            await self._store_interruptions([back])

    def _mark_running(self, node: NodeState, map_index: int) -> tuple[TaskInstanceRecord, bool]:
        """The instance as running (in memory), and whether that starts a new try to store."""
        record, new_try = running_record(
            node.instances[map_index],
            sensor=try_kind(node.task).is_sensor,
            owner=self.owner,
            now=self.clock.now(),
        )
        node.instances[map_index] = record
        return record, new_try
