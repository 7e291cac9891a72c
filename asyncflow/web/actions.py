"""What the web app asks of runs, done by the engine in this process or asked through the store.

With an engine in the process (``asyncflow standalone``, or an app mounted
beside an embedded :class:`~asyncflow.Engine`) the engine does it. A separate
``asyncflow web`` process owns nothing: a trigger is stored as a ``queued``
run and a pause as the DAG's flag, which the engine serving the store picks up
within seconds, exactly as ``asyncflow dags trigger`` and ``dags pause`` do.
What only a running engine can do (mark a run failed, clear it, wake sensors) answers 409
there, saying to use the engine's own process.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from asyncflow.engine import Engine
from asyncflow.engine.new_runs import manual_run, queue_manual_run
from asyncflow.exceptions import AsyncflowError, DagRunNotFound, StoreError
from asyncflow.results import DagRunResult
from asyncflow.states import DagRunState
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


async def mark_failed(context: WebContext, dag_id: str, run_id: str, reason: str) -> bool:
    """Fail a running run now; ``False`` when it had finished.

    Raises:
        ApiError: 409 without an engine in this process, or when the run is
            driven by another process.
    """
    if context.engine is None:
        raise ApiError(409, "marking a run failed " + NEEDS_ENGINE.format(what="stop its tries"))
    try:
        return await context.engine.mark_failed(run_id, reason, dag_id=dag_id)
    except DagRunNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except AsyncflowError as exc:
        raise ApiError(409, str(exc)) from None


async def notify(context: WebContext, key: str) -> int:
    """Wake the sensors waiting on ``key``; how many woke.

    Raises:
        ApiError: 409 without an engine in this process.
    """
    if context.engine is None:
        raise ApiError(409, "notify " + NEEDS_ENGINE.format(what="wake its sensors"))
    return await context.engine.notify(key)


async def clear_run(context: WebContext, dag_id: str, run_id: str) -> None:
    """Run a finished run again: its failed, upstream_failed and skipped tasks restart.

    Raises:
        ApiError: 409 without an engine in this process, or when the run is not finished.
    """
    if context.engine is None:
        raise ApiError(409, "clearing a run " + NEEDS_ENGINE.format(what="run it again"))
    dag = find_dag(context, dag_id)
    record = await context.store.get_run(dag_id, run_id)
    if record is None:
        raise ApiError(404, f"DAG {dag_id!r} has no run {run_id!r}")
    if record.state not in (DagRunState.SUCCESS, DagRunState.FAILED):
        raise ApiError(409, f"run {run_id!r} is {record.state}: only a finished run is cleared")
    try:
        await context.engine.runs.rerun(dag, record)
    except DagRunNotFound as exc:  # it was cleared by someone else meanwhile
        raise ApiError(409, str(exc)) from None
