"""``/api/v1/dags``: the DAGs, their import errors, pausing."""

from __future__ import annotations

from fastapi import APIRouter

from asyncflow.dag import DAG
from asyncflow.web import actions
from asyncflow.web.backfill import create_backfill
from asyncflow.web.deps import Admin, Context, Limit, Offset, Op, Viewer, find_dag, page_of
from asyncflow.web.models import Backfill, BackfillRequest, Dag, DagImportError, Page
from asyncflow.web.schedules import schedule_text

router = APIRouter(prefix="/dags", tags=["DAGs"])


def dag_model(dag: DAG, paused: set[str]) -> Dag:
    """The API's view of a DAG."""
    return Dag(
        dag_id=dag.dag_id,
        schedule=schedule_text(dag),
        paused=dag.dag_id in paused,
        description=dag.description,
        tags=sorted(dag.tags),
        tasks=list(dag.task_dict),
        file=dag.fileloc,
    )


@router.get("", summary="List DAGs")
async def list_dags(
    context: Context, user: Viewer, limit: Limit = 100, offset: Offset = 0
) -> Page[Dag]:
    """The DAGs of the DAG folder, by id, with whether each is paused."""
    paused = await context.store.get_paused_dag_ids()
    dags = [dag_model(context.dags[d], paused) for d in sorted(context.dags)]
    items, total = page_of(dags, limit, offset)
    return Page[Dag](items=items, total=total, limit=limit, offset=offset)


@router.get("/import-errors", summary="List import errors")
async def import_errors(
    context: Context, user: Viewer, limit: Limit = 100, offset: Offset = 0
) -> Page[DagImportError]:
    """The DAG files that failed to import, each with its one-line error."""
    errors = [DagImportError(file=f, error=e) for f, e in sorted(context.import_errors.items())]
    items, total = page_of(errors, limit, offset)
    return Page[DagImportError](items=items, total=total, limit=limit, offset=offset)


@router.get("/{dag_id}", summary="Get a DAG")
async def get_dag(context: Context, user: Viewer, dag_id: str) -> Dag:
    """One DAG."""
    return dag_model(find_dag(context, dag_id), await context.store.get_paused_dag_ids())


@router.post("/{dag_id}/pause", summary="Pause a DAG")
async def pause(context: Context, user: Admin, dag_id: str) -> Dag:
    """Stop the DAG's schedule from creating runs; runs already created carry on."""
    await actions.set_paused(context, dag_id, True)
    return await get_dag(context, user, dag_id)


@router.post("/{dag_id}/unpause", summary="Unpause a DAG")
async def unpause(context: Context, user: Admin, dag_id: str) -> Dag:
    """Let the DAG's schedule create runs again."""
    await actions.set_paused(context, dag_id, False)
    return await get_dag(context, user, dag_id)


@router.post("/{dag_id}/backfill", summary="Create a backfill", status_code=201)
async def backfill(context: Context, user: Op, dag_id: str, body: BackfillRequest) -> Backfill:
    """Create a run for each data interval in the range that has none; returns at once.

    Without an engine in this process the runs are stored ``queued`` for the
    engine serving the store.
    """
    created, existing = await create_backfill(context, dag_id, body.start_date, body.end_date)
    return Backfill(dag_id=dag_id, created=created, existing=existing)
