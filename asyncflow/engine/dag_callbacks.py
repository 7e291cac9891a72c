"""A DAG's own callbacks: ``on_success_callback`` / ``on_failure_callback`` as its run ends.

As in Airflow, each is called with the run's context plus ``reason``
(``"success"``, ``"task_failure"``, ``"timed_out"`` or why the run was failed),
after the run's end is stored. A callback runs in the engine's task group, not
in the run loop, so a slow one holds nothing up; one that fails is logged and
changes nothing. Closing the engine waits for callbacks in progress, within the
shutdown grace period, so a run's callbacks are not cut off by the end of
``dag.test()`` or ``engine.run()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from asyncflow.engine.run_state import RunState
from asyncflow.engine.try_context import run_context
from asyncflow.log import get_logger
from asyncflow.runtime.task_runner import one_line
from asyncflow.states import DagRunState
from asyncflow.threads import call

log = get_logger("asyncflow.engine")


def callbacks_for(run: RunState, state: DagRunState) -> list[Callable[..., Any]]:
    """The DAG's callbacks for a run that ended in ``state`` (none for other states)."""
    dag = run.dag
    if state is DagRunState.SUCCESS:
        return dag.on_success_callback
    if state is DagRunState.FAILED:
        return dag.on_failure_callback
    return []


def reason_of(run: RunState, state: DagRunState) -> str:
    """Why the run ended, as Airflow's DAG callbacks are told."""
    if state is DagRunState.SUCCESS:
        return "success"
    if run.timed_out:
        return "timed_out"
    return run.stop_error or "task_failure"


class PendingCallbacks:
    """The DAG callbacks in progress, so that closing the engine can wait for them."""

    def __init__(self) -> None:
        self._count = 0
        self._idle: anyio.Event | None = None

    async def run(
        self, run: RunState, state: DagRunState, callbacks: list[Callable[..., Any]]
    ) -> None:
        """Run the callbacks of one run's end, counted until they return."""
        self._count += 1
        try:
            await run_dag_callbacks(run, state, callbacks)
        finally:
            self._count -= 1
            if self._count == 0 and self._idle is not None:
                self._idle.set()

    async def wait(self) -> None:
        """Return once no callback is in progress."""
        while self._count:
            self._idle = anyio.Event()
            await self._idle.wait()


async def run_dag_callbacks(
    run: RunState, state: DagRunState, callbacks: list[Callable[..., Any]]
) -> None:
    """Call each callback with the run's context and ``reason``; log the ones that fail."""
    context = {**run_context(run), "reason": reason_of(run, state)}
    for callback in callbacks:
        try:
            await call(callback, context)
        except Exception as error:  # a broken callback must not break the engine
            log.warning(
                "dag_callback_failed",
                dag_id=run.dag.dag_id,
                run_id=run.record.run_id,
                callback=getattr(callback, "__name__", repr(callback)),
                error=one_line(error),
            )
