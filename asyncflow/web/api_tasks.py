"""Task instances of a run, their XCom values and their per-try logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, StreamingResponse

from asyncflow.states import TaskState
from asyncflow.web import actions, logs
from asyncflow.web.deps import (
    Context,
    Limit,
    Offset,
    Op,
    Viewer,
    find_instance,
    find_run,
    page_of,
)
from asyncflow.web.errors import ApiError
from asyncflow.web.models import (
    ClearTaskRequest,
    Page,
    SetTaskStateRequest,
    TaskChanges,
    TaskInstance,
    XCom,
)
from asyncflow.xcom import decode

router = APIRouter(prefix="/dags/{dag_id}/runs/{run_id}", tags=["Task instances"])
MapIndex = Annotated[int, Query(ge=-1, le=10**9, description="-1 for a task that is not mapped")]


@router.get("/tasks", summary="List task instances")
async def list_instances(
    context: Context,
    user: Viewer,
    dag_id: str,
    run_id: str,
    task_id: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[TaskInstance]:
    """The run's task instances by task id then map index (one per mapped instance)."""
    await find_run(context, dag_id, run_id)
    instances = await context.store.get_task_instances(dag_id, run_id)
    if task_id is not None:
        instances = [ti for ti in instances if ti.task_id == task_id]
    items, total = page_of(instances, limit, offset)
    return Page[TaskInstance](
        items=[TaskInstance.of(ti) for ti in items], total=total, limit=limit, offset=offset
    )


@router.get("/tasks/{task_id}", summary="Get a task instance")
async def get_instance(
    context: Context, user: Viewer, dag_id: str, run_id: str, task_id: str, map_index: MapIndex = -1
) -> TaskInstance:
    """One task instance."""
    return TaskInstance.of(await find_instance(context, dag_id, run_id, task_id, map_index))


@router.post("/tasks/{task_id}/clear", summary="Clear a task instance")
async def clear(
    context: Context, user: Op, dag_id: str, run_id: str, task_id: str, body: ClearTaskRequest
) -> TaskChanges:
    """Clear a task's instances of a finished run (with ``include_downstream``, those after too).

    They run again with new tries: the run is queued and the engine serving the
    store starts it. A mapped task cleared whole expands anew from its input.
    409 for a run that has not finished.
    """
    changes = await actions.clear_tasks(
        context,
        dag_id,
        run_id,
        task_id,
        downstream=body.include_downstream,
        only_failed=body.only_failed,
        map_index=body.map_index,
    )
    return TaskChanges.of(changes, await find_run(context, dag_id, run_id))


@router.patch("/tasks/{task_id}", summary="Set a task instance's state")
async def set_state(
    context: Context, user: Op, dag_id: str, run_id: str, task_id: str, body: SetTaskStateRequest
) -> TaskChanges:
    """Set a task's instances of a finished run to ``success``, ``failed`` or ``skipped``.

    With ``include_downstream`` the tasks after it are set too. The run is
    queued to decide again how it ends; after ``success``, the failed and
    upstream_failed tasks downstream run again. 409 for a run that has not finished.
    """
    changes = await actions.set_task_state(
        context,
        dag_id,
        run_id,
        task_id,
        TaskState(body.state),
        downstream=body.include_downstream,
        map_index=body.map_index,
    )
    return TaskChanges.of(changes, await find_run(context, dag_id, run_id))


@router.get("/xcom", summary="List XCom values")
async def list_xcom(
    context: Context,
    user: Viewer,
    dag_id: str,
    run_id: str,
    task_id: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[XCom]:
    """The run's XCom values, by task id, map index and key."""
    await find_run(context, dag_id, run_id)
    values = await context.store.get_run_xcoms(dag_id, run_id)
    if task_id is not None:
        values = [x for x in values if x.task_id == task_id]
    items, total = page_of(values, limit, offset)
    return Page[XCom](
        items=[XCom(task_id=x.task_id, map_index=x.map_index, key=x.key, value=decode(x.value))
               for x in items],
        total=total,
        limit=limit,
        offset=offset,
    )  # fmt: skip


@router.get("/tasks/{task_id}/xcom/{key}", summary="Get an XCom value")
async def get_xcom(
    context: Context,
    user: Viewer,
    dag_id: str,
    run_id: str,
    task_id: str,
    key: str,
    map_index: MapIndex = -1,
) -> XCom:
    """One XCom value."""
    await find_run(context, dag_id, run_id)
    found = await context.store.get_xcom(dag_id, run_id, task_id, key, map_index)
    if found is None:
        raise ApiError(404, f"{task_id} pushed no XCom {key!r} in run {run_id!r}")
    return XCom(task_id=task_id, map_index=map_index, key=key, value=decode(found.value))


@router.get(
    "/tasks/{task_id}/tries/{try_number}/log",
    summary="Get a try's log",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def get_log(
    context: Context,
    user: Viewer,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int,
    map_index: MapIndex = -1,
    tail: Annotated[int | None, Query(ge=0, le=100_000, description="Last lines only")] = None,
) -> PlainTextResponse:
    """The try's log as text (empty when the try wrote nothing)."""
    ti = await find_instance(context, dag_id, run_id, task_id, map_index)
    return PlainTextResponse(logs.read_log(logs.log_path(context, ti, try_number), tail))


@router.get(
    "/tasks/{task_id}/tries/{try_number}/log/follow",
    summary="Follow a try's log (server-sent events)",
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def follow_log(
    context: Context,
    user: Viewer,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int,
    map_index: MapIndex = -1,
) -> StreamingResponse:
    """Each line as a ``data:`` event as the try writes it, then ``event: end`` with its state."""
    ti = await find_instance(context, dag_id, run_id, task_id, map_index)
    path = logs.log_path(context, ti, try_number)
    return StreamingResponse(
        logs.follow(context, ti, try_number, path), media_type="text/event-stream"
    )
