"""Who is asking: session cookies with CSRF tokens, API tokens, roles, login throttling.

A browser logs in with a form and gets a signed session cookie
(itsdangerous) carrying the username, a CSRF token and when it was issued; it
expires after the context's ``session_age``. Every state-changing request made
with a session must repeat the CSRF token (header ``X-CSRF-Token`` or form field
``csrf_token``), so another site cannot make a logged-in browser act.
Scripts send ``Authorization: Bearer <token>`` instead (no cookie, so no CSRF).
Failed logins are counted per username and client; past the limit within the
window, login answers 429 until the window has passed.
"""

from __future__ import annotations

import secrets
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from asyncflow.storage.users import Role, UserRecord
from asyncflow.web.context import WebContext
from asyncflow.web.errors import ApiError
from asyncflow.web.users import password_matches, token_hash

SESSION_COOKIE = "asyncflow_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """The user a request acts as, and how it proved it."""

    username: str
    role: Role
    csrf: str | None  # the session's CSRF token; None for an API token


def _signer(secret: str, now: Callable[[], datetime]) -> URLSafeTimedSerializer:
    """A serializer whose timestamps come from ``now``, so tests can expire sessions."""

    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(now().timestamp())

    return URLSafeTimedSerializer(secret, salt="asyncflow-session", signer=ClockedSigner)


class Sessions:
    """Issues and reads session cookies."""

    def __init__(self, context: WebContext) -> None:
        self._context = context
        self._signer = _signer(context.secret_key, context.now)

    def issue(self, username: str) -> tuple[str, str]:
        """A new session's cookie value and its CSRF token."""
        csrf = secrets.token_urlsafe(24)
        return str(self._signer.dumps({"u": username, "c": csrf})), csrf

    def read(self, cookie: str) -> tuple[str, str] | None:
        """``(username, csrf)`` of a valid, unexpired cookie, else ``None``."""
        max_age = int(self._context.session_age.total_seconds())
        try:
            data: Any = self._signer.loads(cookie, max_age=max_age)
        except SignatureExpired:
            return None
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str):
            return None
        return data["u"], str(data.get("c", ""))


class LoginThrottle:
    """Counts failed logins per (username, client) in a sliding window."""

    def __init__(self, context: WebContext) -> None:
        self._context = context
        self._failures: defaultdict[tuple[str, str], deque[datetime]] = defaultdict(deque)

    def retry_after(self, username: str, client: str) -> int:
        """Seconds until this pair may try again (0: now)."""
        failures = self._recent(username, client)
        if len(failures) < self._context.login_attempts:
            return 0
        left = failures[0] + self._context.login_window - self._context.now()
        return max(1, int(left.total_seconds()) + 1)

    def failed(self, username: str, client: str) -> None:
        """Count a failed login."""
        self._recent(username, client).append(self._context.now())

    def succeeded(self, username: str, client: str) -> None:
        """Forget the pair's failures."""
        self._failures.pop((username, client), None)

    def _recent(self, username: str, client: str) -> deque[datetime]:
        failures = self._failures[(username, client)]
        start = self._context.now() - self._context.login_window
        while failures and failures[0] <= start:
            failures.popleft()
        return failures


class Authenticator:
    """Checks passwords, sessions and tokens against the store's users."""

    def __init__(self, context: WebContext) -> None:
        self.context = context
        self.sessions = Sessions(context)
        self.throttle = LoginThrottle(context)

    async def login(self, username: str, password: str, client: str) -> UserRecord:
        """The user whose password this is.

        Raises:
            ApiError: 429 when this user and client failed too often lately, 401
                when the username or password is wrong (one message for both).
        """
        wait = self.throttle.retry_after(username, client)
        if wait:
            raise ApiError(
                429,
                f"too many failed logins for {username!r}: try again in {wait} s",
                {"Retry-After": str(wait)},
            )
        user = await self.context.users.get_user(username)
        if user is None or not password_matches(user.password_hash, password):
            self.throttle.failed(username, client)
            raise ApiError(401, "wrong username or password")
        self.throttle.succeeded(username, client)
        return user

    async def principal(self, request: Request) -> Principal | None:
        """Who the request acts as, or ``None`` when it proves nobody."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            token = await self.context.users.find_token(token_hash(header[7:].strip()))
            if token is None:
                return None
            user = await self.context.users.get_user(token.username)
            return (
                None
                if user is None
                else Principal(username=user.username, role=user.role, csrf=None)
            )
        cookie = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.read(cookie) if cookie else None
        if session is None:
            return None
        user = await self.context.users.get_user(session[0])
        if user is None:
            return None
        return Principal(username=user.username, role=user.role, csrf=session[1])


def authenticator(request: Request) -> Authenticator:
    """The app's authenticator."""
    found: Authenticator = request.app.state.auth
    return found


def need(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the request's principal, who must have ``role`` or a higher one.

    State-changing requests made with a session must carry its CSRF token.
    """

    async def check(request: Request) -> Principal:
        principal = await authenticator(request).principal(request)
        if principal is None:
            raise ApiError(401, "log in first, or send an API token (Authorization: Bearer ...)")
        if principal.role.rank < role.rank:
            raise ApiError(
                403, f"this needs the {role} role; {principal.username} is {principal.role}"
            )
        if principal.csrf is not None and request.method not in SAFE_METHODS:
            await _check_csrf(request, principal.csrf)
        return principal

    return check


async def _check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent, expected):
        raise ApiError(403, f"missing or wrong CSRF token: send the {CSRF_HEADER} header")
