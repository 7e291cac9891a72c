"""One try of one task, in this process, recording nothing: what ``asyncflow tasks test`` runs.

As in Airflow's ``tasks test``, the task runs whatever its upstream tasks did
(they do not run), and nothing is written to the database or the task logs:
the try runs through the engine's own runtime
(:func:`~asyncflow.runtime.task_runner.run_try`, the sensor poke loop, the
task's callbacks) against an in-memory store that is thrown away. A result it
pulls from an upstream task, or takes as an argument, is therefore ``None``.
A reschedule-mode sensor pokes in this process until it is done, as if in
poke mode.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio

from asyncflow.clock import SystemClock
from asyncflow.connections import resources_scope
from asyncflow.engine.new_runs import manual_run
from asyncflow.engine.run_state import Expansion, RunState
from asyncflow.engine.try_context import build_context
from asyncflow.mapped_operator import unmap
from asyncflow.operator import Operator
from asyncflow.runtime.sensor_runner import Wake, sensor_loop
from asyncflow.runtime.task_instance import TaskInstance
from asyncflow.runtime.task_runner import TryOutcome, run_try
from asyncflow.sensor import Sensor
from asyncflow.settings import Settings
from asyncflow.states import TaskState
from asyncflow.storage import open_store
from asyncflow.xcom import decode
from asyncflow.xcom_arg import RETURN_VALUE, contains_xcom_arg


class CannotTest(Exception):
    """The task cannot be tested this way; the message says why, on one line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskTestResult:
    """How the try ended and what it returned."""

    state: TaskState  # success, skipped or failed (a try that would be retried failed)
    error: str | None
    return_value: Any


async def run_task_once(
    task: Operator, *, logical_date: datetime, settings: Settings, map_index: int = -1
) -> TaskTestResult:
    """Run one try of ``task`` as a manual run at ``logical_date`` would, recording nothing.

    Args:
        task: A task of a loaded DAG.
        logical_date: The logical date of the pretend run (aware UTC).
        settings: For the XCom size limit and the sensors' poke jitter.
        map_index: The instance of a mapped task to run (its input must be literal).

    Raises:
        CannotTest: a mapped task without a usable ``map_index``.

    Example:
        >>> load = dag.get_task("load")
        >>> await run_task_once(load, logical_date=now, settings=s)  # doctest: +SKIP
        TaskTestResult(state=<TaskState.SUCCESS: 'success'>, error=None, return_value=3)
    """
    mapped_kwargs = mapped_arguments(task, map_index)
    if task.partial_kwargs is not None:  # a classic operator mapped with partial().expand()
        try:
            task = unmap(task, mapped_kwargs)
        except Exception as error:
            raise CannotTest(f"task {task.task_id!r}[{map_index}]: {error}") from None
    store = open_store("memory://")
    await store.open()
    pretend = manual_run(task.dag, None, logical_date, now=datetime.now(UTC))
    run = RunState.new(task.dag, pretend, [])
    ti = TaskInstance(
        task=task,
        dag_id=task.dag.dag_id,
        run_id=run.record.run_id,
        task_id=task.task_id,
        map_index=map_index,
        try_number=1,
        store=store,
        xcom_max_bytes=settings.xcom_max_bytes,
        mapped_kwargs=mapped_kwargs,
    )
    context = build_context(run, ti)
    clock = SystemClock()
    body: Callable[[], Awaitable[Any]] | None = None
    if isinstance(task, Sensor):
        sensor, wake = task, Wake()
        body = lambda: sensor_loop(  # noqa: E731 - the runner takes the poke loop as a callable
            sensor, ti, context, clock=clock, jitter=settings.poke_jitter, wake=wake
        )
    async with resources_scope():
        outcome = await run_try(task, ti, context, now=clock.now, body=body)
        while outcome.state is TaskState.UP_FOR_RESCHEDULE and outcome.next_poke_at:
            await clock.sleep_until(outcome.next_poke_at, anyio.Event())
            outcome = await run_try(task, ti, context, now=clock.now, body=body)
    return _result(outcome)


def mapped_arguments(task: Operator, map_index: int) -> dict[str, Any]:
    """The mapped arguments of instance ``map_index`` of a task mapped over literal values.

    Raises:
        CannotTest: the task is mapped and ``map_index`` is missing or out of range,
            or its values come from an upstream task; or it is not mapped and
            ``map_index`` is given.
    """
    expand_input = task.expand_input
    if expand_input is None:
        if map_index >= 0:
            raise CannotTest(f"task {task.task_id!r} is not mapped: leave out --map-index")
        return {}
    if contains_xcom_arg(expand_input):
        raise CannotTest(
            f"task {task.task_id!r} is mapped over an upstream task's result, which "
            "`tasks test` does not run; use `asyncflow dags test`"
        )
    values = tuple(
        list(v.items()) if isinstance(v, dict) else list(v) for v in expand_input.values()
    )
    expansion = Expansion(keys=tuple(expand_input), values=values)
    if not 0 <= map_index < expansion.length:
        raise CannotTest(
            f"task {task.task_id!r} is mapped into {expansion.length} instances: pass "
            f"--map-index from 0 to {expansion.length - 1}"
        )
    return expansion.kwargs_for(map_index)


def _result(outcome: TryOutcome) -> TaskTestResult:
    pushed = {xcom.key: xcom.value for xcom in outcome.xcoms}
    value = decode(pushed[RETURN_VALUE]) if RETURN_VALUE in pushed else None
    state = TaskState.FAILED if outcome.state is TaskState.UP_FOR_RETRY else outcome.state
    return TaskTestResult(state=state, error=outcome.error, return_value=value)
