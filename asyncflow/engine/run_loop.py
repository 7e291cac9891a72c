"""The run loop: the one coroutine that changes the state of active runs.

Everything that moves a run forward arrives as an event
(:mod:`asyncflow.engine.run_events`): a run to start or resume, a try whose
outcome is stored, a retry or a reschedule-mode sensor's poke coming due (from
the timer heap or a notify), a run's dagrun_timeout, a request to fail a run.
The loop takes the events in batches (all that arrived while it was busy) and
applies them one after the other through the :class:`~.driver.RunDriver`, so
no two changes of a run ever interleave at a store await: trigger rules are
decided, decisions written, instances submitted and runs finished only here.
The tries of one batch that ended in one run are fed to its trigger rules
together, so a completion storm (a hundred thousand sensors done at once) costs
one decision pass and one write per batch, not one each.

The executor owns a try from its launch until its outcome is stored (its
instance record, its slot, a poke-mode sensor held between pokes); it then
hands the try over with a :class:`~.run_events.TryRecorded` event.
"""

from __future__ import annotations

from asyncflow.engine.driver import RunDriver
from asyncflow.engine.run_events import (
    FailRun,
    PokeDue,
    PoolMissing,
    RetryDue,
    RunEvent,
    RunEvents,
    RunResumed,
    RunStarted,
    RunTimedOut,
    TryInterrupted,
    TryRecorded,
)
from asyncflow.engine.run_state import RunState
from asyncflow.states import DagRunState


class RunLoop:
    """Applies run events in batches: the only writer of active runs' state."""

    def __init__(self, driver: RunDriver, events: RunEvents) -> None:
        self.driver = driver
        self.events = events

    async def run(self) -> None:
        """Apply events as they come, forever (the engine's task group cancels it)."""
        while True:
            await self._apply(await self.events.next_batch())

    async def fail(
        self, run: RunState, error: str, *, event: str, state: DagRunState = DagRunState.FAILED
    ) -> bool:
        """End a run by hand through the loop (failed, or ``state``); ``False`` when it was ending.

        ``error`` is what its stopped tries say.
        """
        request = FailRun(run, error, event, state)
        self.events.post(request)
        await request.done.wait()
        return request.failed

    async def _apply(self, batch: list[RunEvent]) -> None:
        driver = self.driver
        ended: dict[RunState, list[TryRecorded]] = {}
        for event in batch:
            if isinstance(event, TryRecorded):
                if driver.recorded(event):
                    ended.setdefault(event.run, []).append(event)
            elif isinstance(event, TryInterrupted):
                driver.interrupted(event)
            elif isinstance(event, RetryDue):
                driver.submit(event.run, event.node, event.map_index)
            elif isinstance(event, PokeDue):
                driver.poke(event)
            elif isinstance(event, RunStarted):
                await driver.start(event.run)
            elif isinstance(event, RunResumed):
                await driver.resume(event.run)
            elif isinstance(event, PoolMissing):
                await driver.fail_unknown_pool(event.run, event.node, event.map_index)
            elif isinstance(event, RunTimedOut):
                await driver.time_out(event.run)
            else:
                await self._fail(event)
        for run, tries in ended.items():
            await driver.instances_ended(run, tries)

    async def _fail(self, request: FailRun) -> None:
        try:
            request.failed = await self.driver.fail_now(
                request.run, request.error, event=request.event, state=request.state
            )
        finally:
            request.done.set()
