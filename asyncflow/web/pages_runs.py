"""The UI's pages for runs: the grid, the graph, a task instance, the waiting sensors."""

from __future__ import annotations

import json
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from asyncflow.records import DagRunRecord, TaskInstanceRecord
from asyncflow.storage.users import Role
from asyncflow.web import logs
from asyncflow.web.context import WebContext
from asyncflow.web.deps import find_dag, find_instance, find_run
from asyncflow.web.graph import sections
from asyncflow.web.page_support import context_of, page_user, render
from asyncflow.web.sensors import waiting_sensors
from asyncflow.xcom import decode

router = APIRouter(include_in_schema=False)
GRID_RUNS = 12
SENSORS_PAGE = 50


@router.get("/dags/{dag_id}/grid", response_class=HTMLResponse)
async def grid(request: Request, dag_id: str) -> Response:
    """Runs (columns, oldest left) by tasks (rows), refreshed every few seconds."""
    principal = await page_user(request)
    values = await _grid(context_of(request), dag_id)
    can_trigger = principal.role.rank >= Role.OP.rank
    return render(request, "grid.html", principal, can_trigger=can_trigger, **values)


@router.get("/dags/{dag_id}/grid/cells", response_class=HTMLResponse)
async def grid_cells(request: Request, dag_id: str) -> Response:
    """The grid's table alone, for htmx to swap in."""
    principal = await page_user(request)
    return render(request, "grid_cells.html", principal, **await _grid(context_of(request), dag_id))


async def _grid(context: WebContext, dag_id: str) -> dict[str, Any]:
    dag = find_dag(context, dag_id)
    runs = list(reversed((await context.store.list_runs(dag_id))[:GRID_RUNS]))
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for run in runs:
        instances = await context.store.get_task_instances(dag_id, run.run_id)
        cells[run.run_id] = _cells(instances)
    return {"dag_id": dag_id, "runs": runs, "task_ids": list(dag.task_dict), "cells": cells}


def _cells(instances: list[TaskInstanceRecord]) -> dict[str, dict[str, Any]]:
    """Per task: its state, or for a mapped task the count of its instances per state."""
    by_task: dict[str, list[TaskInstanceRecord]] = {}
    for ti in instances:
        by_task.setdefault(ti.task_id, []).append(ti)
    cells: dict[str, dict[str, Any]] = {}
    for task_id, tis in by_task.items():
        if len(tis) == 1 and tis[0].map_index < 0:
            cells[task_id] = {"mapped": False, "state": str(tis[0].state or "none")}
        else:
            counts = Counter(str(ti.state or "none") for ti in tis)
            cells[task_id] = {"mapped": True, "counts": sorted(counts.items())}
    return cells


@router.get("/dags/{dag_id}/graph", response_class=HTMLResponse)
async def graph(request: Request, dag_id: str) -> Response:
    """The DAG by levels, task groups collapsible, coloured by the latest run (kept live)."""
    principal = await page_user(request)
    context = context_of(request)
    dag = find_dag(context, dag_id)
    runs = await context.store.list_runs(dag_id)
    run = runs[0] if runs else None
    states: dict[str, str] = {}
    if run is not None:
        for ti in await context.store.get_task_instances(dag_id, run.run_id):
            states.setdefault(ti.task_id, str(ti.state or "none"))
    return render(
        request,
        "graph.html",
        principal,
        dag_id=dag_id,
        run=run,
        states=states,
        sections=sections(dag),
    )


@router.get("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}", response_class=HTMLResponse)
async def instance(
    request: Request,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int = -1,
    try_number: Annotated[int | None, Query(alias="try")] = None,
) -> Response:
    """A task instance: its tries, a try's log (followed live while it runs), its XCom."""
    principal = await page_user(request)
    context = context_of(request)
    run: DagRunRecord = await find_run(context, dag_id, run_id)
    ti = await find_instance(context, dag_id, run.run_id, task_id, map_index)
    siblings = await context.store.get_task_instances(dag_id, run_id)
    mapped = sorted(t.map_index for t in siblings if t.task_id == task_id and t.map_index >= 0)
    number = try_number or ti.try_number
    log_text, follow = "", ""
    if number >= 1:
        path = logs.log_path(context, ti, number)
        if logs.try_over(ti, number):
            log_text = logs.read_log(path, None)
        else:
            follow = (
                f"/api/v1/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/tries/{number}/log/follow"
                f"?map_index={map_index}"
            )
    xcoms = [
        {"key": x.key, "value": json.dumps(decode(x.value), default=str)}
        for x in await context.store.get_run_xcoms(dag_id, run_id)
        if x.task_id == task_id and x.map_index == map_index
    ]
    return render(
        request,
        "instance.html",
        principal,
        ti=ti,
        map_indexes=mapped,
        tries=list(range(1, ti.try_number + 1)),
        try_number=number,
        log=log_text,
        follow=follow,
        xcoms=xcoms,
    )


@router.get("/sensors", response_class=HTMLResponse)
async def sensors(
    request: Request,
    dag_id: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Every reschedule-mode sensor between pokes, soonest first, a page at a time."""
    principal = await page_user(request)
    wanted = dag_id or None
    rows, total = await waiting_sensors(context_of(request), wanted, SENSORS_PAGE, offset)
    return render(
        request,
        "sensors.html",
        principal,
        sensors=rows,
        total=total,
        dag_id=wanted,
        offset=offset,
        limit=SENSORS_PAGE,
    )
