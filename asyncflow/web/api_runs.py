"""``/api/v1/dags/{dag_id}/runs``: listing, triggering and failing runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from asyncflow.states import DagRunState
from asyncflow.web import actions
from asyncflow.web.deps import Context, Limit, Offset, Op, Viewer, find_dag, find_run, page_of
from asyncflow.web.models import DagRun, MarkFailedRequest, Page, TriggerRequest

router = APIRouter(prefix="/dags/{dag_id}/runs", tags=["DAG runs"])


@router.get("", summary="List runs")
async def list_runs(
    context: Context,
    user: Viewer,
    dag_id: str,
    state: Annotated[list[DagRunState] | None, Query()] = None,
    run_type: Annotated[str | None, Query(pattern="^(manual|scheduled|backfill)$")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[DagRun]:
    """The DAG's runs, newest logical date first, filtered by state and run type."""
    find_dag(context, dag_id)
    runs = await context.store.list_runs(dag_id, state or None)
    if run_type is not None:
        runs = [run for run in runs if run.run_type == run_type]
    items, total = page_of(runs, limit, offset)
    return Page[DagRun](
        items=[DagRun.of(r) for r in items], total=total, limit=limit, offset=offset
    )


@router.post("", summary="Trigger a run", status_code=201)
async def trigger(context: Context, user: Op, dag_id: str, body: TriggerRequest) -> DagRun:
    """Create a manual run with ``conf`` (checked against the DAG's params).

    Without an engine in this process the run is stored ``queued`` and the
    engine serving the store starts it within seconds.
    """
    run_id, _ = await actions.trigger(context, dag_id, body.conf, body.logical_date)
    return DagRun.of(await find_run(context, dag_id, run_id))


@router.get("/{run_id}", summary="Get a run")
async def get_run(context: Context, user: Viewer, dag_id: str, run_id: str) -> DagRun:
    """One run."""
    return DagRun.of(await find_run(context, dag_id, run_id))


@router.post("/{run_id}/mark-failed", summary="Mark a run failed")
async def mark_failed(
    context: Context, user: Op, dag_id: str, run_id: str, body: MarkFailedRequest
) -> DagRun:
    """Fail a running run now: running tries stop with ``reason``, waiting ones are skipped.

    Needs the engine running the run in this process (409 otherwise).
    """
    await find_run(context, dag_id, run_id)
    await actions.mark_failed(context, dag_id, run_id, body.reason)
    return DagRun.of(await find_run(context, dag_id, run_id))


@router.post("/{run_id}/mark-success", summary="Mark a run successful")
async def mark_success(context: Context, user: Op, dag_id: str, run_id: str) -> DagRun:
    """Mark the run and every task instance of it ``success``, as Airflow's "Mark success".

    A running run needs the engine running it in this process (409 otherwise):
    its running tries are stopped.
    """
    await find_run(context, dag_id, run_id)
    await actions.mark_success(context, dag_id, run_id)
    return DagRun.of(await find_run(context, dag_id, run_id))


@router.post("/{run_id}/clear", summary="Clear a run")
async def clear(context: Context, user: Op, dag_id: str, run_id: str) -> DagRun:
    """Run a finished run again: its failed, upstream_failed and skipped tasks restart.

    The run is queued; the engine serving the store starts it (409 for a run
    not finished).
    """
    await actions.clear_run(context, dag_id, run_id)
    return DagRun.of(await find_run(context, dag_id, run_id))


@router.delete("/{run_id}", summary="Delete a run", status_code=204)
async def delete(context: Context, user: Op, dag_id: str, run_id: str) -> None:
    """Delete the run with its task instances, XCom values and try logs.

    A running run needs the engine running it in this process, which stops its
    tries first (409 otherwise).
    """
    await find_run(context, dag_id, run_id)
    await actions.delete_run(context, dag_id, run_id)
