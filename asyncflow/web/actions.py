"""What the web app asks of runs, done by the engine in this process or asked through the store.

With an engine in the process (``asyncflow standalone``, or an app mounted
beside an embedded :class:`~asyncflow.Engine`) the engine does it. A separate
``asyncflow web`` process owns nothing: a trigger is stored as a ``queued``
run and a pause as the DAG's flag, which the engine serving the store picks up
within seconds, exactly as ``asyncflow dags trigger`` and ``dags pause`` do.
A clear, a task state set by hand, marking a finished run successful and
deleting one change the store there: a cleared run is queued, and the engine
serving the store starts it. What only the engine driving a run can do (mark a
running run failed or successful, delete it, wake sensors) answers 409 there,
saying to use the engine's own process.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from asyncflow.engine import Engine
from asyncflow.engine.new_runs import manual_run, queue_manual_run
from asyncflow.engine.run_actions import RunActions
from asyncflow.exceptions import (
    AsyncflowError,
    DagNotFound,
    DagRunNotFound,
    StoreError,
    TaskInstanceNotFound,
)
from asyncflow.records import Reopening
from asyncflow.results import DagRunResult
from asyncflow.states import TaskState
from asyncflow.web.context import WebContext
from asyncflow.web.deps import find_dag
from asyncflow.web.errors import ApiError

NEEDS_ENGINE = (
    "needs the engine that runs this store: use `asyncflow standalone` or an app mounted "
    "beside the engine (`asyncflow web` in a separate process cannot {what})"
)


async def trigger(
    context: WebContext, dag_id: str, conf: Mapping[str, Any], logical_date: datetime | None
) -> tuple[str, str]:
    """Create a manual run; its ``(run_id, state)``.

    Raises:
        ApiError: 404 for an unknown DAG, 409 when the run exists, 422 for a conf
            the DAG's params refuse (the message says which).
    """
    dag = find_dag(context, dag_id)
    now = context.now()
    try:
        run_id = manual_run(dag, conf, logical_date, now).run_id
        if logical_date is not None and await context.store.get_run(dag_id, run_id):
            raise ApiError(409, f"DAG {dag_id!r} already has run {run_id!r}")
        result = await _create(context.engine, context, dag_id, conf, logical_date, now)
    except StoreError:
        raise
    except AsyncflowError as exc:
        raise ApiError(422, str(exc)) from None
    return result.run_id, str(result.state)


async def _create(
    engine: Engine | None,
    context: WebContext,
    dag_id: str,
    conf: Mapping[str, Any],
    logical_date: datetime | None,
    now: datetime,
) -> DagRunResult:
    if engine is not None and dag_id in engine.dags:
        return await engine.trigger(dag_id, conf=conf, logical_date=logical_date)
    queued = await queue_manual_run(
        context.store, find_dag(context, dag_id), conf, logical_date, now
    )
    if queued is None:
        raise ApiError(409, f"DAG {dag_id!r} already has this run; pass another logical_date")
    return queued


async def set_paused(context: WebContext, dag_id: str, paused: bool) -> None:
    """Pause or unpause a DAG (its schedule creates no runs while paused)."""
    find_dag(context, dag_id)
    if context.engine is not None:
        await (context.engine.pause if paused else context.engine.unpause)(dag_id)
    else:
        await context.store.set_dag_paused(dag_id, paused)


def run_actions(context: WebContext) -> RunActions:
    """The engine's run actions, or the store's alone in a separate web process."""
    if context.engine is not None:
        return context.engine.actions
    return RunActions(
        store=context.store, dags=context.dags, now=context.now, logs_folder=context.logs_folder
    )


@contextmanager
def answered() -> Iterator[None]:
    """Errors of a run action as the API answers them: 404 for what is not there, else 409."""
    try:
        yield
    except StoreError:
        raise
    except (DagNotFound, DagRunNotFound, TaskInstanceNotFound) as exc:
        raise ApiError(404, str(exc)) from None
    except AsyncflowError as exc:
        raise ApiError(409, str(exc)) from None


async def mark_failed(context: WebContext, dag_id: str, run_id: str, reason: str) -> bool:
    """Fail a running run now; ``False`` when it had finished.

    Raises:
        ApiError: 409 without an engine in this process, or when the run is
            driven by another process.
    """
    if context.engine is None:
        raise ApiError(409, "marking a run failed " + NEEDS_ENGINE.format(what="stop its tries"))
    with answered():
        return await context.engine.mark_failed(run_id, reason, dag_id=dag_id)


async def mark_success(context: WebContext, dag_id: str, run_id: str) -> bool:
    """Mark a run and all its task instances successful; ``False`` when it was already.

    Raises:
        ApiError: 404 for an unknown run; 409 for a run running in another process.
    """
    with answered():
        return await run_actions(context).mark_success(run_id, dag_id=dag_id)


async def delete_run(context: WebContext, dag_id: str, run_id: str) -> None:
    """Delete a run with its task instances, XCom and logs.

    Raises:
        ApiError: 404 for an unknown run; 409 for a run running in another process.
    """
    with answered():
        await run_actions(context).delete(run_id, dag_id=dag_id)


async def notify(context: WebContext, key: str) -> int:
    """Wake the sensors waiting on ``key``; how many woke.

    Raises:
        ApiError: 409 without an engine in this process.
    """
    if context.engine is None:
        raise ApiError(409, "notify " + NEEDS_ENGINE.format(what="wake its sensors"))
    return await context.engine.notify(key)


async def clear_run(context: WebContext, dag_id: str, run_id: str) -> Reopening:
    """Run a finished run again: its failed, upstream_failed and skipped tasks restart.

    Raises:
        ApiError: 404 for an unknown run; 409 when the run is not finished.
    """
    with answered():
        return await run_actions(context).rerun(run_id, dag_id=dag_id)


async def clear_tasks(
    context: WebContext,
    dag_id: str,
    run_id: str,
    task_id: str,
    *,
    downstream: bool,
    only_failed: bool,
    map_index: int | None,
) -> Reopening:
    """Clear a task's instances of a finished run (and those downstream) to run them again.

    Raises:
        ApiError: 404 for an unknown run, task or map index; 409 when the run
            is not finished.
    """
    with answered():
        return await run_actions(context).clear(
            run_id,
            [task_id],
            dag_id=dag_id,
            downstream=downstream,
            only_failed=only_failed,
            map_indexes=None if map_index is None else [map_index],
        )


async def set_task_state(
    context: WebContext,
    dag_id: str,
    run_id: str,
    task_id: str,
    state: TaskState,
    *,
    downstream: bool,
    map_index: int | None,
) -> Reopening:
    """Set a task's instances of a finished run (and those downstream) to ``state``.

    Raises:
        ApiError: 404 for an unknown run, task or map index; 409 when the run
            is not finished.
    """
    with answered():
        return await run_actions(context).set_task_state(
            run_id,
            task_id,
            state,
            dag_id=dag_id,
            downstream=downstream,
            map_indexes=None if map_index is None else [map_index],
        )
