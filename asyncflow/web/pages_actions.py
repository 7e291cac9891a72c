"""The UI's run page and its buttons: mark success or failed, clear, delete, set a task's state.

Each button is a form posted with the session's CSRF token; it needs the op
role. What the action refuses (a run still running, one driven by another
process) is shown on the page it came from, with the reason, and changes nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from asyncflow.states import FINISHED_RUN_STATES, DagRunState, TaskState
from asyncflow.storage.users import Role
from asyncflow.web import actions
from asyncflow.web.auth import Principal
from asyncflow.web.deps import find_dag, find_run
from asyncflow.web.errors import ApiError
from asyncflow.web.page_support import checked_form, context_of, page_user, render, see_other

router = APIRouter(include_in_schema=False)


@router.get("/dags/{dag_id}/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, dag_id: str, run_id: str) -> Response:
    """A run: its state, conf and task instances, with the op's buttons."""
    principal = await page_user(request)
    return await _run_page(request, principal, dag_id, run_id)


async def _run_page(
    request: Request, principal: Principal, dag_id: str, run_id: str, refused: str = ""
) -> Response:
    context = context_of(request)
    find_dag(context, dag_id)
    run = await find_run(context, dag_id, run_id)
    return render(
        request,
        "run.html",
        principal,
        status=409 if refused else 200,
        run=run,
        instances=await context.store.get_task_instances(dag_id, run_id),
        finished=run.state in FINISHED_RUN_STATES,
        running=run.state is DagRunState.RUNNING,
        can_act=principal.role.rank >= Role.OP.rank,
        refused=refused,
    )


@router.post("/dags/{dag_id}/runs/{run_id}/{action}")
async def run_action(request: Request, dag_id: str, run_id: str, action: str) -> Response:
    """Mark the run success or failed, clear its failed tasks, or delete it."""
    principal = await page_user(request, Role.OP)
    await checked_form(request, principal)
    context = context_of(request)
    back = f"/dags/{dag_id}/runs/{run_id}"
    try:
        if action == "mark-success":
            await actions.mark_success(context, dag_id, run_id)
        elif action == "mark-failed":
            await actions.mark_failed(context, dag_id, run_id, "marked failed in the web UI")
        elif action == "clear":
            await actions.clear_run(context, dag_id, run_id)
        elif action == "delete":
            await actions.delete_run(context, dag_id, run_id)
            return see_other(f"/dags/{dag_id}/grid")
        else:
            raise ApiError(404, f"no run action {action!r}")
    except ApiError as exc:
        if exc.status != 409:
            raise
        return await _run_page(request, principal, dag_id, run_id, refused=exc.message)
    return see_other(back)


@router.post("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/{action}")
async def task_action(
    request: Request, dag_id: str, run_id: str, task_id: str, action: str
) -> Response:
    """Clear a task instance, or set its state (success, failed, skipped), with downstream."""
    principal = await page_user(request, Role.OP)
    form = await checked_form(request, principal)
    context = context_of(request)
    downstream = form.get("downstream") == "on"
    index = form.get("map_index", "")
    map_index = int(index) if index.lstrip("-").isdigit() else None
    try:
        if action == "clear":
            await actions.clear_tasks(
                context,
                dag_id,
                run_id,
                task_id,
                downstream=downstream,
                only_failed=form.get("only_failed") == "on",
                map_index=map_index,
            )
        elif action in ("success", "failed", "skipped"):
            await actions.set_task_state(
                context,
                dag_id,
                run_id,
                task_id,
                TaskState(action),
                downstream=downstream,
                map_index=map_index,
            )
        else:
            raise ApiError(404, f"no task action {action!r}")
    except ApiError as exc:
        if exc.status != 409:
            raise
        return await _run_page(request, principal, dag_id, run_id, refused=exc.message)
    return see_other(f"/dags/{dag_id}/runs/{run_id}")
