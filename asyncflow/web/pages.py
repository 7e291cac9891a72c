"""The UI's pages for DAGs: login, the DAG list with its pause toggle, the trigger form."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from asyncflow.params import Param, param_values
from asyncflow.storage.users import Role
from asyncflow.web import actions
from asyncflow.web.api_misc import set_session_cookie
from asyncflow.web.auth import SESSION_COOKIE, authenticator
from asyncflow.web.deps import find_dag
from asyncflow.web.errors import ApiError
from asyncflow.web.page_support import (
    checked_form,
    context_of,
    page_user,
    render,
    see_other,
)
from asyncflow.web.schedules import next_fire, schedule_text

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "asyncflow_login_csrf"
RECENT_RUNS = 10


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> Response:
    """The login form, with a one-off CSRF cookie it must echo."""
    token = secrets.token_urlsafe(16)
    page = render(request, "login.html", None, next=_local(next), login_csrf=token)
    page.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict")
    return page


@router.post("/login")
async def login_form(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    login_csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password; start a session and go where the user was going."""
    auth = authenticator(request)
    client = request.client.host if request.client else "unknown"
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    try:
        if not expected or not secrets.compare_digest(login_csrf, expected):
            raise ApiError(403, "the login form expired: reload the page and log in again")
        user = await auth.login(username, password, client)
    except ApiError as exc:
        values = {"next": _local(next), "error": exc.message, "login_csrf": expected}
        return render(request, "login.html", None, exc.status, **values)
    cookie, _ = auth.sessions.issue(user.username)
    response = see_other(_local(next))
    set_session_cookie(request, response, cookie)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session."""
    principal = await page_user(request)
    await checked_form(request, principal)
    response = see_other("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
async def dag_list(request: Request) -> Response:
    """Every DAG: schedule, next run, recent runs' states, pause toggle; import errors."""
    principal = await page_user(request)
    context = context_of(request)
    paused = await context.store.get_paused_dag_ids()
    now = context.now()
    rows: list[dict[str, Any]] = []
    for dag_id in sorted(context.dags):
        dag = context.dags[dag_id]
        runs = (await context.store.list_runs(dag_id))[:RECENT_RUNS]
        rows.append(
            {
                "dag_id": dag_id,
                "description": dag.description,
                "schedule": schedule_text(dag),
                "next_run": None if dag_id in paused else next_fire(dag, now),
                "runs": list(reversed(runs)),
                "paused": dag_id in paused,
            }
        )
    return render(
        request,
        "dags.html",
        principal,
        rows=rows,
        import_errors=context.import_errors,
        can_pause=principal.role.rank >= Role.ADMIN.rank,
        can_trigger=principal.role.rank >= Role.OP.rank,
    )


@router.post("/dags/{dag_id}/pause")
async def pause(request: Request, dag_id: str) -> Response:
    """Pause a DAG from the list."""
    principal = await page_user(request, Role.ADMIN)
    await checked_form(request, principal)
    await actions.set_paused(context_of(request), dag_id, True)
    return see_other("/")


@router.post("/dags/{dag_id}/unpause")
async def unpause(request: Request, dag_id: str) -> Response:
    """Unpause a DAG from the list."""
    principal = await page_user(request, Role.ADMIN)
    await checked_form(request, principal)
    await actions.set_paused(context_of(request), dag_id, False)
    return see_other("/")


@router.get("/dags/{dag_id}/trigger", response_class=HTMLResponse)
async def trigger_page(request: Request, dag_id: str) -> Response:
    """The trigger form, its conf filled with the params' defaults."""
    principal = await page_user(request, Role.OP)
    dag = find_dag(context_of(request), dag_id)
    conf = json.dumps(param_values(dag.params, {}), indent=2, default=str)
    return render(request, "trigger.html", principal, **_form(dag_id, dag.params, conf, ""))


@router.post("/dags/{dag_id}/trigger")
async def trigger(request: Request, dag_id: str) -> Response:
    """Trigger with the form's conf, or show the form again with the reason it was refused."""
    principal = await page_user(request, Role.OP)
    form = await checked_form(request, principal)
    context = context_of(request)
    dag = find_dag(context, dag_id)
    conf_text, date_text = form.get("conf", ""), form.get("logical_date", "").strip()
    try:
        conf = json.loads(conf_text or "{}")
        if not isinstance(conf, dict):
            raise ApiError(422, 'conf must be a JSON object, such as {"day": 3}')
        when = datetime.fromisoformat(date_text) if date_text else None
        await actions.trigger(context, dag_id, conf, when)
    except json.JSONDecodeError as exc:
        error = f"conf is not JSON: {exc}"
    except ValueError as exc:
        error = f"logical date is not ISO 8601: {exc}"
    except ApiError as exc:
        error = exc.message
    else:
        return see_other(f"/dags/{dag_id}/grid")
    values = _form(dag_id, dag.params, conf_text, date_text)
    return render(request, "trigger.html", principal, 422, error=error, **values)


def _form(dag_id: str, params: dict[str, Any], conf: str, logical_date: str) -> dict[str, Any]:
    shown = [
        (name, json.dumps(p.schema, default=str) if isinstance(p, Param) else repr(p))
        for name, p in params.items()
    ]
    return {"dag_id": dag_id, "conf": conf, "logical_date": logical_date, "params": shown}


def _local(url: str) -> str:
    """Only a path of this site: a login never sends the browser elsewhere."""
    local = url.startswith("/") and not url.startswith(("//", "/\\"))
    return url if local else "/"
