"""``HttpSensor`` and ``HttpOperator``: poll an HTTP API until it says done, or call it once.

Both follow Airflow's HTTP provider (same names and keywords) and talk through
the connection named by ``http_conn_id`` (default ``http_default``), an
``ASYNCFLOW_CONN_<ID>`` URI::

    ASYNCFLOW_CONN_JOBS_API='https://ada:s3cret@jobs.example.com/api/v2?timeout=10&header.X-Api-Key=abc123'

- scheme, host, port and path: the base URL every ``endpoint`` is joined to;
- login and password: HTTP basic auth on every request;
- ``header.<Name>=<value>`` (one per header): headers on every request;
- ``timeout``: seconds for connecting, each read and each write (default 30);
- ``verify``: ``true`` (default), ``false`` or the path of a CA bundle;
- ``max_connections``: requests in flight at once on the connection (default
  100); the others wait for a free connection.

Any other extra fails the task, naming it. Proxies come from the environment
(``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``). Every sensor and
operator of a connection shares one ``httpx.AsyncClient`` per engine, over one
aiohttp connection pool; none opens a client of its own. Neither keeps cookies
(they serve every task of the engine).

How a sensor's poke ends:

- 2xx, and ``response_check`` (if given) returns true: done;
- a status in ``response_error_codes_allowlist`` (default ``["404"]``, as in
  Airflow): not done, poke again;
- connection refused, a timeout, 5xx, 408 or 429: not done, with a warning
  (``http_poke_transient``); with ``fail_on_transient=True`` the poke raises
  :class:`HttpError` instead, so ``retries`` apply, which is Airflow's behaviour;
- any other status (a 4xx): the task fails at once with the status and the start
  of the body (it is skipped with ``soft_fail``).

A missing or malformed connection fails the task with one line naming it.
Passwords, basic-auth tokens and secret-named headers never appear in logs or
errors; request parameters and query strings are never shown at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from asyncflow import AsyncflowError, FailTask, Operator, PokeReturnValue, Sensor, SkipTask
from asyncflow.log import get_logger
from sensors._common import Context, definition_error, short
from sensors._extras import is_extra_module, require_extra

try:
    import httpx

    from sensors._http_client import session_for
    from sensors._http_request import (
        TRANSPORT_ERRORS,
        HttpCall,
        Outcome,
        ResponseCallable,
        body_start,
        classify,
        default_xcom,
        describe_error,
    )
except ModuleNotFoundError as missing:  # the classes still import; constructing one says why not
    if not is_extra_module(missing.name, "http"):
        raise

__all__ = ["HttpError", "HttpOperator", "HttpSensor"]

log = get_logger("sensors.http")


class HttpError(AsyncflowError):
    """A request failed in a way a later try may fix (5xx, a network error); ``retries`` apply.

    Example:
        >>> str(HttpError("HTTP 503 Service Unavailable for GET jobs/7 (connection 'api')"))
        "HTTP 503 Service Unavailable for GET jobs/7 (connection 'api')"
    """


class HttpSensor(Sensor):
    """Poll an HTTP endpoint until it answers 2xx and ``response_check`` agrees.

    Args:
        endpoint: The path joined to the connection's base URL (``"jobs/42"``).
        http_conn_id: The HTTP connection to call.
        method: The HTTP method (default ``GET``).
        request_params: Query parameters (Airflow's name).
        headers: Headers added to the connection's.
        data: A form (a mapping; for ``GET`` it becomes query parameters, as in
            Airflow) or a raw body (``str`` or ``bytes``).
        json: A JSON body (not with ``data``).
        response_check: ``check(response, **context) -> bool | PokeReturnValue``,
            sync or ``async``; it receives the ``httpx.Response`` and the context
            values it names (all with ``**context``). A sync check runs on the
            event loop, so it should only look at the response.
        response_error_codes_allowlist: Error statuses that mean "not there yet"
            (``["404"]`` by default; ``[]`` makes a 404 fail the task).
        extra_options: ``timeout`` (seconds), ``verify`` (bool or CA bundle path;
            a pool of its own), ``check_response`` (False: any status goes to
            ``response_check``), ``allow_redirects`` (default True).
        fail_on_transient: Raise :class:`HttpError` on a refused connection, a
            timeout, 5xx, 408 or 429 (so ``retries`` apply, as in Airflow) instead
            of poking again.
        **kwargs: The sensor keywords (see :class:`~asyncflow.Sensor`).

    Raises:
        DagDefinitionError: an argument of the wrong type or an unknown option.

    Example:
        >>> with DAG("export"):  # doctest: +SKIP
        ...     HttpSensor(
        ...         task_id="export_done",
        ...         http_conn_id="jobs_api",
        ...         endpoint="exports/42",
        ...         response_check=lambda response: response.json()["state"] == "done",
        ...         poke_interval=30,
        ...         mode="reschedule",
        ...     )
    """

    ui_color = "#e2e6f4"

    def __init__(
        self,
        endpoint: str,
        *,
        http_conn_id: str = "http_default",
        method: str = "GET",
        request_params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | str | bytes | None = None,
        json: Any = None,
        response_check: Callable[..., Any] | None = None,
        response_error_codes_allowlist: Iterable[str | int] | None = None,
        extra_options: Mapping[str, Any] | None = None,
        fail_on_transient: bool = False,
        **kwargs: Any,
    ) -> None:
        require_extra("http", type(self).__name__)
        super().__init__(**kwargs)
        self.call = HttpCall(
            task_id=self.task_id,
            http_conn_id=http_conn_id,
            method=method,
            endpoint=endpoint,
            request_params=request_params,
            headers=headers,
            data=data,
            json=json,
            extra_options=extra_options,
        )
        self.endpoint = endpoint
        self.http_conn_id = http_conn_id
        self.method = self.call.method
        self.response_check = response_check
        self._check = (
            None
            if response_check is None
            else ResponseCallable(response_check, "response_check", self.task_id)
        )
        self.response_error_codes_allowlist = _allowlist(
            response_error_codes_allowlist, self.task_id
        )
        if not isinstance(fail_on_transient, bool):
            raise definition_error(
                self.task_id,
                f"fail_on_transient must be True or False, got {short(fail_on_transient)}",
            )
        self.fail_on_transient = fail_on_transient

    async def poke(self, context: Context) -> bool | PokeReturnValue:
        """Send the request once and judge the response (see the module's rules).

        Raises:
            FailTask: a 4xx (or another status not allowed), a bad connection or URL.
            SkipTask: instead of ``FailTask`` for a status, with ``soft_fail``.
            HttpError: a transient failure, with ``fail_on_transient``.
        """
        call = self.call
        session = await session_for(call.conn_id, verify=call.options.verify)
        try:
            response = await call.send(session)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            raise FailTask(f"cannot send {call.where}: {describe_error(error)}") from None
        except TRANSPORT_ERRORS as error:
            reason = describe_error(error)
            return self._transient(context, f"{reason} for {call.where}", error=reason)
        if call.options.check_response:
            outcome = classify(response.status_code, self.response_error_codes_allowlist)
            if outcome is Outcome.NOT_READY:
                return False
            if outcome is Outcome.TRANSIENT:
                message = call.status_error(response, session)
                return self._transient(context, message, status=response.status_code)
            if outcome is Outcome.FATAL:
                message = call.status_error(response, session)
                raise SkipTask(message) if self.soft_fail else FailTask(message)
        if self._check is None:
            return True
        result = await self._check(response, context)
        return result if isinstance(result, PokeReturnValue) else bool(result)

    def _transient(self, context: Context, message: str, **facts: Any) -> bool:
        if self.fail_on_transient:
            raise HttpError(message)
        _task_log(self, context).warning(
            "http_poke_transient",
            conn_id=self.call.conn_id,
            method=self.call.method,
            endpoint=self.call.endpoint.split("?", 1)[0],
            **facts,
        )
        return False


class HttpOperator(Operator):
    """Call an HTTP API once; its XCom result is the JSON body, the text, or ``response_filter``'s.

    Args:
        endpoint: The path joined to the connection's base URL.
        http_conn_id: The HTTP connection to call.
        method: The HTTP method (default ``POST``).
        data: A form (a mapping; for ``GET`` it becomes query parameters, as in
            Airflow) or a raw body (``str`` or ``bytes``).
        json: A JSON body (not with ``data``).
        request_params: Query parameters.
        headers: Headers added to the connection's.
        response_check: ``check(response, **context) -> bool`` (sync or async);
            false fails the try with :class:`HttpError` (``retries`` apply).
        response_filter: ``filter(response, **context) -> value`` (sync or async):
            its result is the XCom value instead of the body.
        extra_options: As for :class:`HttpSensor`.
        **kwargs: The keywords every task accepts (see :class:`~asyncflow.Operator`).

    A 2xx answer succeeds; 5xx, 408, 429 and network errors raise
    :class:`HttpError` (``retries`` apply); any other status fails the task at
    once with the status and the start of the body.

    Example:
        >>> with DAG("exports"):  # doctest: +SKIP
        ...     start = HttpOperator(
        ...         task_id="start_export",
        ...         http_conn_id="jobs_api",
        ...         endpoint="exports",
        ...         json={"table": "orders"},
        ...         response_filter=lambda response: response.json()["id"],
        ...         retries=3,
        ...     )
    """

    ui_color = "#f4a460"

    def __init__(
        self,
        endpoint: str = "",
        *,
        http_conn_id: str = "http_default",
        method: str = "POST",
        data: Mapping[str, Any] | str | bytes | None = None,
        json: Any = None,
        request_params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        response_check: Callable[..., Any] | None = None,
        response_filter: Callable[..., Any] | None = None,
        extra_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        require_extra("http", type(self).__name__)
        super().__init__(**kwargs)
        self.call = HttpCall(
            task_id=self.task_id,
            http_conn_id=http_conn_id,
            method=method,
            endpoint=endpoint,
            request_params=request_params,
            headers=headers,
            data=data,
            json=json,
            extra_options=extra_options,
        )
        self.endpoint = endpoint
        self.http_conn_id = http_conn_id
        self.method = self.call.method
        self.response_check = response_check
        self.response_filter = response_filter
        self._check = (
            None
            if response_check is None
            else ResponseCallable(response_check, "response_check", self.task_id)
        )
        self._filter = (
            None
            if response_filter is None
            else ResponseCallable(response_filter, "response_filter", self.task_id)
        )

    async def execute(self, context: Context) -> Any:
        """Send the request through the connection's shared client; return the XCom value.

        Raises:
            FailTask: a status that is neither 2xx nor transient, a bad connection or URL.
            HttpError: 5xx, 408, 429, a network error, or ``response_check`` said no.
        """
        call = self.call
        session = await session_for(call.conn_id, verify=call.options.verify)
        request = call.prepare(session)
        try:
            response = await session.client.send(
                request, follow_redirects=call.options.follow_redirects
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            raise FailTask(f"cannot send {call.where}: {describe_error(error)}") from None
        except TRANSPORT_ERRORS as error:
            raise HttpError(f"{describe_error(error)} for {call.where}") from None
        if call.options.check_response:
            outcome = classify(response.status_code)
            if outcome is Outcome.TRANSIENT:
                raise HttpError(call.status_error(response, session))
            if outcome is not Outcome.OK:
                raise FailTask(call.status_error(response, session))
        if self._check is not None and not await self._check(response, context):
            raise HttpError(f"response_check returned false for {call.where}")
        if self._filter is not None:
            return await self._filter(response, context)
        try:
            return default_xcom(response)
        except ValueError:
            start = body_start(response, session.config.secrets + call.secrets)
            raise HttpError(f"{call.where} answered JSON that does not parse: {start}") from None


def _allowlist(codes: Iterable[str | int] | None, task_id: str) -> frozenset[int]:
    if codes is None:
        return frozenset({404})
    if isinstance(codes, str | int):
        codes = [codes]
    found = set()
    for code in codes:
        text = str(code) if not isinstance(code, bool) else ""
        if not text.isdigit() or not 100 <= int(text) <= 599:
            raise definition_error(
                task_id,
                f"response_error_codes_allowlist holds HTTP statuses like '404', got {short(code)}",
            )
        found.add(int(text))
    return frozenset(found)


def _task_log(task: Operator, context: Context) -> Any:
    """The logger bound to the running try's identity."""
    ti = context.get("ti")
    if ti is None:
        return log.bind(task_id=task.task_id)
    return log.bind(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        try_number=ti.try_number,
    )
