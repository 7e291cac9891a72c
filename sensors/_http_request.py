"""What an HTTP sensor or operator sends, and how its response is judged and described.

:class:`HttpCall` holds one task's request, checked when the DAG is defined and
built once per engine session (an ``httpx.Request`` whose body is bytes, and
its :class:`~sensors._http_transport.WireRequest`, can be sent again and
again). :func:`classify` sorts a status into done, poke again, transient or
fatal. Messages name the method, the endpoint without its query string and the
connection; bodies are cut to one line with the connection's secrets masked,
and request parameters are never shown.
"""

from __future__ import annotations

import inspect
import json as jsonlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from sensors._common import Context, definition_error, short
from sensors._http_client import HttpSession, Verify, request_timeout
from sensors._http_transport import WireRequest

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
BODY_START = 200  # characters of a response body quoted in an error
# What a failed request raises: the pool transport maps every aiohttp error to one.
TRANSPORT_ERRORS = (httpx.TransportError,)
_OPTIONS = "timeout, verify, check_response, allow_redirects"
_SECRET_NAME = re.compile(r"auth|token|key|secret|password|cookie|session", re.IGNORECASE)


class Outcome(StrEnum):
    """How a response's status is taken."""

    OK = "ok"  # 2xx: the request did what was asked
    NOT_READY = "not_ready"  # in response_error_codes_allowlist: not there yet, poke again
    TRANSIENT = "transient"  # 5xx, 408, 429: the server may recover, try again later
    FATAL = "fatal"  # any other status: the request itself is wrong


def classify(status: int, allowlist: frozenset[int] = frozenset()) -> Outcome:
    """Sort a response status; ``allowlist`` holds error statuses that mean "not yet".

    Example:
        >>> [classify(s, frozenset({404})).value for s in (204, 404, 503, 429, 403)]
        ['ok', 'not_ready', 'transient', 'transient', 'fatal']
    """
    if 200 <= status < 300:
        return Outcome.OK
    if status in allowlist:
        return Outcome.NOT_READY
    if status >= 500 or status in (408, 429):
        return Outcome.TRANSIENT
    return Outcome.FATAL


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestOptions:
    """Airflow's ``extra_options`` that apply to one task's requests."""

    timeout: float | None = None  # seconds, instead of the connection's
    verify: Verify | None = None  # instead of the connection's (a pool of its own)
    check_response: bool = True  # False: any status goes to response_check
    follow_redirects: bool = True


def request_options(given: Mapping[str, Any] | None, task_id: str) -> RequestOptions:
    """Check ``extra_options``: ``timeout``, ``verify``, ``check_response``, ``allow_redirects``.

    Raises:
        DagDefinitionError: an unknown option or a value of the wrong type.

    Example:
        >>> request_options({"timeout": 5, "check_response": False}, "poll").timeout
        5.0
    """
    given = _mapping(given, "extra_options", task_id)
    unknown = sorted(set(given) - {"timeout", "verify", "check_response", "allow_redirects"})
    if unknown:
        raise definition_error(task_id, f"extra_options has unknown {unknown} (known: {_OPTIONS})")
    timeout = given.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise definition_error(
            task_id, f"extra_options timeout must be positive seconds, got {short(timeout)}"
        )
    verify = given.get("verify")
    if verify is not None and not isinstance(verify, bool | str):
        raise definition_error(
            task_id, f"extra_options verify must be a bool or a CA bundle path, got {short(verify)}"
        )
    flags = {name: given.get(name, True) for name in ("check_response", "allow_redirects")}
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise definition_error(
                task_id, f"extra_options {name} must be True or False, got {short(value)}"
            )
    return RequestOptions(
        timeout=None if timeout is None else float(timeout),
        verify=verify,
        check_response=flags["check_response"],
        follow_redirects=flags["allow_redirects"],
    )


class HttpCall:
    """One task's request: checked at definition, built once per session, sent per poke."""

    __slots__ = (
        "_prepared",
        "_wire",
        "body",
        "conn_id",
        "endpoint",
        "form",
        "headers",
        "method",
        "options",
        "params",
        "secrets",
    )

    def __init__(
        self,
        *,
        task_id: str,
        http_conn_id: str,
        method: str,
        endpoint: str,
        request_params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        data: Mapping[str, Any] | str | bytes | None,
        json: Any,
        extra_options: Mapping[str, Any] | None,
    ) -> None:
        if not isinstance(http_conn_id, str) or not http_conn_id:
            raise definition_error(
                task_id, f"http_conn_id must be a connection id, got {short(http_conn_id)}"
            )
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise definition_error(
                task_id, f"method must be one of {sorted(METHODS)}, got {short(method)}"
            )
        if not isinstance(endpoint, str):
            raise definition_error(task_id, f"endpoint must be a string, got {short(endpoint)}")
        self.conn_id = http_conn_id
        self.method = method.upper()
        self.endpoint = endpoint
        self.params = dict(_mapping(request_params, "request_params", task_id))
        self.headers = _headers(headers, task_id)
        self.secrets = tuple(v for k, v in self.headers.items() if _SECRET_NAME.search(k) and v)
        self.options = request_options(extra_options, task_id)
        self.form: Mapping[str, Any] | None = None
        self.body: bytes | None = None
        self._set_body(data, json, task_id)
        self._prepared: tuple[HttpSession, httpx.Request] | None = None
        self._wire: tuple[httpx.Request, WireRequest] | None = None

    def _set_body(self, data: object, json: Any, task_id: str) -> None:
        if data is not None and json is not None:
            raise definition_error(task_id, "give data or json, not both")
        if json is not None:
            try:
                self.body = jsonlib.dumps(json, separators=(",", ":")).encode()
            except (TypeError, ValueError) as error:
                raise definition_error(task_id, f"json is not JSON: {error}") from None
            if not any(name.lower() == "content-type" for name in self.headers):
                self.headers["Content-Type"] = "application/json"
        elif isinstance(data, Mapping):
            if self.method in ("GET", "HEAD"):  # as Airflow's HttpHook: query parameters
                self.params = {**dict(data), **self.params}
            else:
                self.form = dict(data)
        elif isinstance(data, str | bytes):
            self.body = data.encode() if isinstance(data, str) else data
        elif data is not None:
            raise definition_error(
                task_id, f"data must be a mapping, a string or bytes, got {short(data)}"
            )

    @property
    def where(self) -> str:
        """``GET jobs/7 (connection 'jobs_api')``: the request, without its query string."""
        return f"{self.method} {self.endpoint.split('?', 1)[0]} (connection {self.conn_id!r})"

    def prepare(self, session: HttpSession) -> httpx.Request:
        """The request for ``session``'s connection, built on first use and kept."""
        prepared = self._prepared
        if prepared is not None and prepared[0] is session:
            return prepared[1]
        timeout = self.options.timeout
        request = session.client.build_request(
            self.method,
            self.endpoint,
            params=self.params or None,
            headers=self.headers or None,
            content=self.body,
            data=self.form,
            timeout=request_timeout(timeout) if timeout else httpx.USE_CLIENT_DEFAULT,
        )
        self._prepared = (session, request)
        return request

    async def send(self, session: HttpSession) -> httpx.Response:
        """Send the request once and read the whole response.

        The prepared request goes straight to the connection's pool; a redirect
        (rare for a status endpoint) is then followed by the full client.

        Raises:
            httpx.TransportError: the request failed (``httpx.UnsupportedProtocol``
                when its URL is not http:// or https://).
        """
        request = self.prepare(session)
        wired = self._wire
        if wired is None or wired[0] is not request:
            wired = self._wire = (request, session.transport.prepare(request))
        response = await session.transport.send(wired[1], request)
        if self.options.follow_redirects and response.has_redirect_location:
            return await session.client.send(request, follow_redirects=True)
        return response

    def status_error(self, response: httpx.Response, session: HttpSession) -> str:
        """``HTTP 403 Forbidden for GET jobs/7 (connection 'api'): <body start>``."""
        head = f"HTTP {response.status_code} {response.reason_phrase} for {self.where}"
        start = body_start(response, session.config.secrets + self.secrets)
        return f"{head}: {start}" if start else head


def body_start(response: httpx.Response, secrets: tuple[str, ...] = ()) -> str:
    """The first :data:`BODY_START` characters of the body on one line, secrets masked.

    Example:
        >>> body_start(httpx.Response(500, text="oops:  token abc123"), ("abc123",))
        'oops: token ***'
    """
    raw = response.content[: BODY_START * 8]
    text = " ".join(raw.decode(response.encoding or "utf-8", errors="replace").split())
    for secret in secrets:
        text = text.replace(secret, "***")
    return text if len(text) <= BODY_START else text[: BODY_START - 3] + "..."


def describe_error(error: BaseException) -> str:
    """A failed request in a few words: the underlying error's class and OS reason.

    The message is not quoted: some name the full URL, query string included.

    Example:
        >>> describe_error(httpx.ConnectError("refused"))
        'ConnectError'
    """
    cause = error.__cause__ if error.__cause__ is not None else error
    reason = cause.strerror if isinstance(cause, OSError) else None
    return f"{type(cause).__name__} ({reason})" if reason else type(cause).__name__


class ResponseCallable:
    """A user's ``response_check`` or ``response_filter``: sync or async, given context.

    It is called with the response first, then the context values it names as
    parameters (all of them when it takes ``**kwargs``), as Airflow does. A sync
    callable runs on the event loop: it gets a response already read into
    memory, so it should only look at it.
    """

    __slots__ = ("fn", "names")

    def __init__(self, fn: Callable[..., Any], what: str, task_id: str) -> None:
        if not callable(fn):
            raise definition_error(task_id, f"{what} must be callable, got {short(fn)}")
        self.fn = fn
        self.names: tuple[str, ...] | None = _context_names(fn, what, task_id)

    async def __call__(self, response: httpx.Response, context: Context) -> Any:
        """Call it; await the result when it is awaitable."""
        if self.names is None:
            result = self.fn(response, **context)
        elif self.names:
            result = self.fn(response, **{n: context[n] for n in self.names if n in context})
        else:
            result = self.fn(response)
        if type(result) is not bool and inspect.isawaitable(result):  # a bool is the common case
            result = await result
        return result


def default_xcom(response: httpx.Response) -> Any:
    """The JSON body when the content type says JSON, else the text.

    Raises:
        ValueError: the content type says JSON but the body is not.
    """
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        return response.json()
    return response.text


def _context_names(fn: Callable[..., Any], what: str, task_id: str) -> tuple[str, ...] | None:
    """The context keys ``fn`` takes after the response; ``None`` for all (``**kwargs``)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # some builtins have no signature: response only
        return ()
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not params or params[0].kind not in (*positional, inspect.Parameter.VAR_POSITIONAL):
        raise definition_error(task_id, f"{what} must take the response as its first argument")
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(p.name for p in params[1:] if p.kind in keyword)


def _mapping(value: object, name: str, task_id: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise definition_error(task_id, f"{name} must be a mapping of names, got {short(value)}")
    return value


def _headers(value: object, task_id: str) -> dict[str, str]:
    headers = _mapping(value, "headers", task_id)
    if not all(isinstance(v, str) for v in headers.values()):
        raise definition_error(task_id, "headers must map names to string values")
    return dict(headers)
