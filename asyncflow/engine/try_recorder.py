"""Recording how a try ended: its outcome committed, then handed to the run loop.

A task's outcome is committed on its own, as soon as it ends (a downstream task
waits for it). Sensors' outcomes are patient writes, batched: a completion storm
(thousands of sensors done together) waits in one coroutine, not one per sensor.
A write the store refuses (the try is no longer current, its run has ended) is
logged ``stale_write_ignored`` and goes no further.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from asyncflow.clock import Clock
from asyncflow.engine.attempts import Attempt
from asyncflow.engine.run_events import RunEvent, TryRecorded
from asyncflow.engine.run_state import NodeState, RunState
from asyncflow.engine.transitions import log_stale
from asyncflow.engine.try_phase import TryEvent, try_kind
from asyncflow.engine.wakeups import WakeRegistry, wake_keys
from asyncflow.records import TaskInstanceRecord
from asyncflow.runtime.task_instance import TaskInstance
from asyncflow.runtime.task_runner import TryOutcome, failed_try
from asyncflow.states import TaskState
from asyncflow.storage.protocol import Store
from asyncflow.xcom_objects import XComObjects

Finishing = tuple[Attempt, RunState, NodeState, TaskInstanceRecord, TryOutcome]


class TryRecorder:
    """Commits tries' outcomes and posts each recorded one to the run loop."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        owner: str,
        objects: XComObjects | None,
        wakeups: WakeRegistry,
        post: Callable[[RunEvent], None],
        start: Callable[[Coroutine[Any, Any, Any]], None],
    ) -> None:
        self.store = store
        self.clock = clock
        self.owner = owner
        self.objects = objects
        self.wakeups = wakeups
        self._post = post
        self._start = start
        self._finishing: list[Finishing] = []  # sensors' outcomes waiting for one write

    async def record(
        self,
        attempt: Attempt,
        run: RunState,
        node: NodeState,
        record: TaskInstanceRecord,
        outcome: TryOutcome,
        ti: TaskInstance,
    ) -> None:
        """Commit a try's outcome, then hand the try to the run loop (or drop it, stale)."""
        if self.objects is not None and outcome.xcoms:
            try:
                outcome = replace(outcome, xcoms=await self.objects.offload(outcome.xcoms))
            except Exception as error:  # object storage unreachable: the try fails
                outcome = failed_try(node.task, ti, error, self.clock.now())
        ended = record.evolve(
            state=outcome.state,
            end_date=self.clock.now(),
            error=outcome.error or record.error,
            next_attempt_at=outcome.next_attempt_at,
            next_poke_at=outcome.next_poke_at,
            first_poke_at=ti.first_poke_at,
            poke_count=ti.poke_count,
            owner=None,
        )
        if outcome.state is TaskState.UP_FOR_RESCHEDULE:
            applied = await self.store.record_reschedule(self.owner, ended, outcome.xcoms)
            self._hand_over(attempt, run, node, ended, outcome, applied, "record_reschedule")
        elif try_kind(ti.task).is_sensor:  # nobody waits on it to the millisecond: batched
            self._finishing.append((attempt, run, node, ended, outcome))
            if len(self._finishing) == 1:
                self._start(self._finish_sensors())
        else:
            applied = await self.store.finish_try(self.owner, ended, outcome.xcoms)
            self._hand_over(attempt, run, node, ended, outcome, applied, "finish_try")

    async def _finish_sensors(self) -> None:
        """Store the outcomes of sensors that ended meanwhile, in one patient call.

        A completion storm (thousands of sensors done together) then waits in
        this one coroutine, not in one per sensor.
        """
        batch, self._finishing = self._finishing, []
        tries = [(ended, outcome.xcoms) for _, _, _, ended, outcome in batch]
        applied = await self.store.finish_tries(self.owner, tries, patient=True)
        for (attempt, run, node, ended, outcome), ok in zip(batch, applied, strict=True):
            self._hand_over(attempt, run, node, ended, outcome, ok, "finish_try")

    def _hand_over(
        self,
        attempt: Attempt,
        run: RunState,
        node: NodeState,
        ended: TaskInstanceRecord,
        outcome: TryOutcome,
        applied: bool,
        write: str,
    ) -> None:
        """Give a recorded try to the run loop, or drop it when the store refused it."""
        if not applied:  # e.g. its run timed out meanwhile: the store has its end already
            attempt.move(TryEvent.STALE)
            self.wakeups.remove(wake_keys(node), ended.key)
            log_stale(write, ended, "the try is no longer current or its run has ended")
            return
        attempt.move(TryEvent.RECORDED)
        self._post(TryRecorded(run, node, ended, outcome, attempt.wake.notified))
