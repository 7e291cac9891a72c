"""Health, login, waking sensors, and the waiting sensors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from asyncflow.exceptions import StoreError
from asyncflow.web import actions
from asyncflow.web.auth import SESSION_COOKIE, authenticator
from asyncflow.web.deps import Context, Limit, Offset, Op, Viewer
from asyncflow.web.models import Health, LoginAnswer, LoginRequest, Notified, Page, WaitingSensor
from asyncflow.web.sensors import waiting_sensors

router = APIRouter()


@router.get("/health", summary="Health", tags=["Monitoring"])
async def health(context: Context) -> Health:
    """Whether the store answers (readable without logging in)."""
    try:
        await context.store.get_paused_dag_ids()
    except StoreError:
        return Health(status="unhealthy", store="unreachable", engine_in_process=False)
    return Health(status="healthy", store="ok", engine_in_process=context.engine is not None)


@router.post("/auth/login", summary="Log in", tags=["Auth"])
async def login(request: Request, response: Response, body: LoginRequest) -> LoginAnswer:
    """Start a session: the cookie carries it; send ``csrf_token`` as ``X-CSRF-Token``."""
    auth = authenticator(request)
    client = request.client.host if request.client else "unknown"
    user = await auth.login(body.username, body.password, client)
    cookie, csrf = auth.sessions.issue(user.username)
    set_session_cookie(request, response, cookie)
    return LoginAnswer(username=user.username, role=str(user.role), csrf_token=csrf)


def set_session_cookie(request: Request, response: Response, cookie: str) -> None:
    """Set the session cookie: HTTP only, same-site, secure over HTTPS."""
    age = int(authenticator(request).context.session_age.total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.post("/notify/{key}", summary="Wake sensors", tags=["Sensors"])
async def notify(context: Context, user: Op, key: str) -> Notified:
    """Wake every sensor waiting on ``key`` (``wake_on=[key]``) for a poke now.

    Needs the engine in this process (409 from a separate ``asyncflow web``).
    """
    return Notified(key=key, woken=await actions.notify(context, key))


@router.get("/sensors", summary="List waiting sensors", tags=["Sensors"])
async def sensors(
    context: Context,
    user: Viewer,
    dag_id: Annotated[str | None, Query(min_length=1, max_length=250)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[WaitingSensor]:
    """Reschedule-mode sensors between pokes, soonest next poke first."""
    items, total = await waiting_sensors(context, dag_id, limit, offset)
    return Page[WaitingSensor](items=items, total=total, limit=limit, offset=offset)
