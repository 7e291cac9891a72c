"""Running one task instance: claim it, run one try (or one poke), record the outcome.

A try is marked running in the store before user code runs, and its outcome
(with the XCom it produced) is committed before anything acts on it. A retry
and a reschedule-mode sensor's next poke go to the timer heap; a sensor
waiting on ``wake_on`` keys is registered so ``engine.notify`` reaches it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

from asyncflow.clock import Clock
from asyncflow.connections import all_secrets
from asyncflow.context import Context
from asyncflow.engine.dispatcher import Ticket
from asyncflow.engine.run_state import NodeState, RunState
from asyncflow.engine.timers import Timers
from asyncflow.engine.wakeups import WakeRegistry
from asyncflow.runtime.sensor_runner import Wake, sensor_loop
from asyncflow.runtime.task_instance import TaskInstance
from asyncflow.runtime.task_runner import TryOutcome, failed_try, run_try
from asyncflow.sensor import Sensor, SensorMode
from asyncflow.settings import Settings
from asyncflow.states import TaskState
from asyncflow.storage.protocol import Store
from asyncflow.storage.records import TaskInstanceRecord
from asyncflow.task_logs import TryLog, capturing, try_log_path
from asyncflow.xcom_objects import XComObjects

Submit = Callable[[RunState, NodeState, int], None]
Ended = Callable[[RunState, NodeState, TaskInstanceRecord, TryOutcome], Awaitable[None]]


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
        submit: Submit,
        ended: Ended,
        release: Callable[[Ticket], None],
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.timers = timers
        self.owner = owner
        self.objects = objects
        self.logs_folder = logs_folder
        self.secrets = all_secrets() if logs_folder is not None else ()
        self.wakeups = WakeRegistry()
        self.running_tasks: dict[asyncio.Task[Any], tuple[str, str, str]] = {}
        self._waiting_sensors: set[anyio.CancelScope] = set()
        self._by_run: dict[tuple[str, str], set[anyio.CancelScope]] = {}
        self._submit = submit
        self._ended = ended
        self._release = release

    async def run(self, ticket: Ticket) -> None:
        """Run the ticket's instance once, then record and report the outcome."""
        run, node, map_index = ticket.payload
        if run.completing:  # the run ended (e.g. timed out) while this waited for a slot
            self._release(ticket)
            return
        keys: tuple[str, ...] = getattr(node.task, "wake_on", ())
        wake = Wake()
        if keys:  # registered from the start of the try until it ends or is parked
            self.wakeups.add(keys, node.instances[map_index].key, wake.set)
        record = node.instances[map_index]
        scope = anyio.CancelScope()
        try:
            record = await self._mark_running(node, map_index)
            with scope:
                if isinstance(node.task, Sensor) and node.task.mode is SensorMode.POKE:
                    self._waiting_sensors.add(scope)  # a shutdown interrupts these at once
                self._by_run.setdefault(run.key, set()).add(scope)
                outcome, ti = await self._execute(run, node, record, wake)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._interrupted(node, record)
            raise
        finally:
            self._waiting_sensors.discard(scope)
            self._forget(run.key, scope)
            self._release(ticket)
            if keys:
                self.wakeups.remove(keys, record.key)
        if scope.cancelled_caught:
            if run.timed_out:
                await self._timed_out(node, record, run)
            else:
                await self._interrupted(node, record)
            return
        await self._record(run, node, record, outcome, ti, wake)

    async def _record(
        self,
        run: RunState,
        node: NodeState,
        record: TaskInstanceRecord,
        outcome: TryOutcome,
        ti: TaskInstance,
        wake: Wake,
    ) -> None:
        """Commit a try's outcome, then retry, park or report it."""
        map_index = record.map_index
        if self.objects is not None and outcome.xcoms:
            try:
                outcome = replace(outcome, xcoms=await self.objects.offload(outcome.xcoms))
            except Exception as error:  # object storage unreachable: the try fails
                outcome = failed_try(node.task, ti, error, self.clock.now())
        ended = replace(
            record,
            state=outcome.state,
            end_date=self.clock.now(),
            error=outcome.error or record.error,
            next_attempt_at=outcome.next_attempt_at,
            next_poke_at=outcome.next_poke_at,
            first_poke_at=ti.first_poke_at,
            poke_count=ti.poke_count,
            owner=None,
        )
        await self.store.finish_task_instance(ended, outcome.xcoms)
        node.instances[map_index] = ended
        if outcome.state is TaskState.UP_FOR_RESCHEDULE and wake.event.is_set():
            self._poke_now(run, node, map_index)  # notified while the poke was being recorded
        elif outcome.state is TaskState.UP_FOR_RETRY:
            assert outcome.next_attempt_at is not None
            self.timers.call_at(outcome.next_attempt_at, lambda: self._submit(run, node, map_index))
        elif outcome.state is TaskState.UP_FOR_RESCHEDULE:
            self.park(run, node, ended)
        else:
            await self._ended(run, node, ended, outcome)

    def cancel_run(self, key: tuple[str, str]) -> int:
        """Cancel every running try of one run (its dagrun_timeout passed)."""
        scopes = list(self._by_run.get(key, ()))
        for scope in scopes:
            scope.cancel()
        return len(scopes)

    def _forget(self, key: tuple[str, str], scope: anyio.CancelScope) -> None:
        scopes = self._by_run.get(key)
        if scopes is not None:
            scopes.discard(scope)
            if not scopes:
                del self._by_run[key]

    async def _timed_out(self, node: NodeState, record: TaskInstanceRecord, run: RunState) -> None:
        """Record a try cancelled because its run exceeded dagrun_timeout: it failed."""
        ended = replace(
            record,
            state=TaskState.FAILED,
            end_date=self.clock.now(),
            owner=None,
            error=f"run {run.record.run_id!r} exceeded its dagrun_timeout of "
            f"{run.dag.dagrun_timeout}; this try was stopped",
        )
        node.instances[record.map_index] = ended
        await self.store.finish_task_instance(ended)

    def interrupt_waiting_sensors(self) -> int:
        """Stop every poke-mode sensor's wait (they resume, timeout intact, on restart)."""
        scopes = list(self._waiting_sensors)
        for scope in scopes:
            scope.cancel()
        return len(scopes)

    async def _interrupted(self, node: NodeState, record: TaskInstanceRecord) -> None:
        """Record a try stopped by a shutdown; it runs again, not counted, on restart."""
        if record.state is not TaskState.RUNNING:
            return
        if record.next_poke_at is not None and isinstance(node.task, Sensor):
            back = replace(record, state=TaskState.UP_FOR_RESCHEDULE, owner=None)
        else:
            back = replace(
                record,
                state=None,
                try_number=record.try_number - 1,
                owner=None,
                error=f"interrupted: the engine shut down during try {record.try_number}",
            )
        node.instances[record.map_index] = back
        await self.store.set_task_instances([back])

    def park(self, run: RunState, node: NodeState, record: TaskInstanceRecord) -> None:
        """Hold a reschedule-mode sensor as a timer entry until its next poke (or a notify)."""
        assert record.next_poke_at is not None
        due = record.next_poke_at
        keys = getattr(node.task, "wake_on", ())
        if keys:
            self.wakeups.add(keys, record.key, lambda: self._poke_now(run, node, record.map_index))
        self.timers.call_at(due, lambda: self._poke_due(run, node, record.map_index, due))

    def _poke_due(self, run: RunState, node: NodeState, map_index: int, due: datetime) -> None:
        record = node.instances[map_index]
        if record.state is TaskState.UP_FOR_RESCHEDULE and record.next_poke_at == due:
            self._poke_now(run, node, map_index)

    def _poke_now(self, run: RunState, node: NodeState, map_index: int) -> None:
        record = node.instances[map_index]
        if record.state is not TaskState.UP_FOR_RESCHEDULE:
            return  # already queued by the timer or an earlier notify
        self.wakeups.remove(getattr(node.task, "wake_on", ()), record.key)
        node.instances[map_index] = replace(record, state=TaskState.QUEUED)
        self._submit(run, node, map_index)

    async def _mark_running(self, node: NodeState, map_index: int) -> TaskInstanceRecord:
        previous = node.instances[map_index]
        now = self.clock.now()
        if previous.state is TaskState.QUEUED and previous.next_poke_at is not None:
            # a reschedule-mode poke continues its try: no new try, no write until it ends
            record = replace(previous, state=TaskState.RUNNING, owner=self.owner)
            node.instances[map_index] = record
            return record
        first_poke_at = previous.first_poke_at
        if isinstance(node.task, Sensor) and first_poke_at is None:
            first_poke_at = now  # the timeout counts from here, across retries and restarts
        record = replace(
            previous,
            state=TaskState.RUNNING,
            try_number=previous.try_number + 1,
            start_date=now,
            end_date=None,
            next_attempt_at=None,
            first_poke_at=first_poke_at,
            owner=self.owner,
        )
        node.instances[map_index] = record
        await self.store.set_task_instances([record])
        return record

    async def _execute(
        self, run: RunState, node: NodeState, record: TaskInstanceRecord, wake: Wake
    ) -> tuple[TryOutcome, TaskInstance]:
        ti = TaskInstance(
            task=node.task,
            dag_id=record.dag_id,
            run_id=record.run_id,
            task_id=record.task_id,
            map_index=record.map_index,
            try_number=record.try_number,
            store=self.store,
            xcom_max_bytes=self.settings.xcom_max_bytes,
            mapped_kwargs=node.expansion.kwargs_for(record.map_index) if node.expansion else {},
            first_poke_at=record.first_poke_at,
            poke_count=record.poke_count,
            objects=self.objects,
        )
        context = build_context(run, ti)
        current = asyncio.current_task()
        if current is not None:
            self.running_tasks[current] = (record.dag_id, record.run_id, record.task_id)
        try:
            with self._try_log(record) as log:
                if isinstance(node.task, Sensor):
                    outcome = await self._poke(node.task, ti, context, wake)
                else:
                    outcome = await run_try(node.task, ti, context, now=self.clock.now)
                if log is not None and log.written:
                    log.line(f"try {record.try_number} ended: {outcome.state}")
                return outcome, ti
        finally:
            if current is not None:
                self.running_tasks.pop(current, None)

    @contextmanager
    def _try_log(self, record: TaskInstanceRecord) -> Iterator[TryLog | None]:
        """Capture the try's output in its log file (when task logs are on)."""
        if self.logs_folder is None:
            yield None
            return
        folder = self.logs_folder

        def path() -> Path:
            return try_log_path(
                folder,
                record.dag_id,
                record.run_id,
                record.task_id,
                record.map_index,
                record.try_number,
            )

        index = f"[{record.map_index}]" if record.map_index >= 0 else ""
        header = f"try {record.try_number} of {record.task_id}{index} in {record.run_id}"
        with capturing(path, self.secrets, header) as log:
            yield log

    async def _poke(
        self, sensor: Sensor, ti: TaskInstance, context: Context, wake: Wake
    ) -> TryOutcome:
        return await run_try(
            sensor,
            ti,
            context,
            now=self.clock.now,
            body=lambda: sensor_loop(
                sensor, ti, context, clock=self.clock, jitter=self.settings.poke_jitter, wake=wake
            ),
        )


def build_context(run: RunState, ti: TaskInstance) -> Context:
    """The context mapping a task instance sees: the run's part plus its own."""
    base = run.base_context
    if base is None:
        base = run.base_context = run_context(run)
    return {
        **base,
        "params": dict(base["params"]),
        "ti": ti,
        "task_instance": ti,
        "task": ti.task,
        "map_index": ti.map_index,
        "try_number": ti.try_number,
    }


def run_context(run: RunState) -> Context:
    """The part of the context every task instance of a run shares (computed once)."""
    record = run.record
    logical_date: datetime = record.logical_date
    return {
        "dag": run.dag,
        "dag_run": record,
        "run_id": record.run_id,
        "logical_date": logical_date,
        "data_interval_start": record.data_interval_start or logical_date,
        "data_interval_end": record.data_interval_end or logical_date,
        "ds": logical_date.strftime("%Y-%m-%d"),
        "ds_nodash": logical_date.strftime("%Y%m%d"),
        "ts": logical_date.isoformat(),
        "ts_nodash": logical_date.strftime("%Y%m%dT%H%M%S"),
        "params": {**run.dag.params, **record.conf},
        "conf": dict(record.conf),
    }
