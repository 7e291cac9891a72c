"""What route handlers share: the context, pagination, and finding what a path names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request

from asyncflow.dag import DAG
from asyncflow.records import DagRunRecord, TaskInstanceRecord
from asyncflow.storage.users import Role
from asyncflow.web.auth import Principal, need
from asyncflow.web.context import WebContext
from asyncflow.web.errors import ApiError
from asyncflow.web.models import MAX_PAGE

T = TypeVar("T")


def web_context(request: Request) -> WebContext:
    """The app's context."""
    found: WebContext = request.app.state.context
    return found


Context = Annotated[WebContext, Depends(web_context)]
Viewer = Annotated[Principal, Depends(need(Role.VIEWER))]
Op = Annotated[Principal, Depends(need(Role.OP))]
Admin = Annotated[Principal, Depends(need(Role.ADMIN))]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="Items to skip")]


def page_of(items: Sequence[T], limit: int, offset: int) -> tuple[list[T], int]:
    """One page of ``items`` and their total."""
    return list(items[offset : offset + limit]), len(items)


def find_dag(context: WebContext, dag_id: str) -> DAG:
    """The DAG with this id.

    Raises:
        ApiError: 404 naming it.
    """
    dag = context.dags.get(dag_id)
    if dag is None:
        raise ApiError(404, f"no DAG {dag_id!r} in the DAG folder")
    return dag


async def find_run(context: WebContext, dag_id: str, run_id: str) -> DagRunRecord:
    """The run with this identity.

    Raises:
        ApiError: 404 naming it.
    """
    run = await context.store.get_run(dag_id, run_id)
    if run is None:
        raise ApiError(404, f"DAG {dag_id!r} has no run {run_id!r}")
    return run


async def find_instance(
    context: WebContext, dag_id: str, run_id: str, task_id: str, map_index: int
) -> TaskInstanceRecord:
    """The task instance with this identity.

    Raises:
        ApiError: 404 naming it.
    """
    await find_run(context, dag_id, run_id)
    for ti in await context.store.get_task_instances(dag_id, run_id):
        if ti.task_id == task_id and ti.map_index == map_index:
            return ti
    where = task_id if map_index < 0 else f"{task_id}[{map_index}]"
    raise ApiError(404, f"run {run_id!r} of DAG {dag_id!r} has no task instance {where}")
