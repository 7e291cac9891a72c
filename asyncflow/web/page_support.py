"""What the UI's pages share: templates, the logged-in user, form CSRF checks."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from asyncflow.storage.users import Role
from asyncflow.web.auth import Principal, authenticator
from asyncflow.web.context import WebContext
from asyncflow.web.errors import ApiError

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


class LoginRequired(Exception):
    """The page needs a session: the browser goes to the login page, then back."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def context_of(request: Request) -> WebContext:
    """The app's context."""
    found: WebContext = request.app.state.context
    return found


async def page_user(request: Request, role: Role = Role.VIEWER) -> Principal:
    """The session's user, who must have ``role``.

    Raises:
        LoginRequired: no session (or an expired one).
        ApiError: 403 for a lower role.
    """
    principal = await authenticator(request).principal(request)
    if principal is None or principal.csrf is None:
        raise LoginRequired(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
    if principal.role.rank < role.rank:
        raise ApiError(403, f"this needs the {role} role; {principal.username} is {principal.role}")
    return principal


async def checked_form(request: Request, principal: Principal) -> dict[str, str]:
    """The posted form, once its ``csrf_token`` matches the session's.

    Raises:
        ApiError: 403 when it is missing or wrong.
    """
    form = await request.form()
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not secrets.compare_digest(sent, principal.csrf or ""):
        raise ApiError(403, "missing or wrong CSRF token in the form: reload the page")
    return {key: value for key, value in form.items() if isinstance(value, str)}


def render(
    request: Request, name: str, principal: Principal | None, status: int = 200, **values: Any
) -> HTMLResponse:
    """A page from its template, with the user and CSRF token every page needs."""
    values |= {"user": principal, "csrf": principal.csrf if principal else ""}
    return templates.TemplateResponse(request, name, values, status_code=status)


def see_other(url: str) -> Response:
    """Go to ``url`` after a form (303, so the browser GETs it)."""
    return RedirectResponse(url, status_code=303)


def install_page_handlers(app: FastAPI) -> None:
    """Send browsers without a session to the login page."""

    async def to_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return see_other(f"/login?next={quote(exc.next_url, safe='')}")

    app.add_exception_handler(LoginRequired, to_login)
