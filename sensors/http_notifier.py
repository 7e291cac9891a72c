"""``HttpNotifier``: a webhook as a callback, as Airflow's HTTP provider's notifier sends it.

It sends one request (``POST`` by default, usually with a JSON body) through the
HTTP connection ``http_conn_id``, on the engine's shared client for that
connection (see :mod:`sensors.http` for the connection's URI and extras). The
endpoint, body and headers are Jinja2 templates rendered with the callback's
context. A 2xx answer is success; any other status or a network error raises
:class:`HttpNotifierError` with the status and the start of the body, which
the engine logs as the callback's failure. Tokens in the connection or in
secret-named headers (``Authorization``, ``X-Api-Key``...) never appear in logs
or errors.

Needs the http extra (``pip install 'asyncflow[http]'``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asyncflow import AsyncflowError, BaseNotifier, DagDefinitionError
from sensors._extras import is_extra_module, require_extra

try:
    from sensors._http_client import session_for
    from sensors._http_request import TRANSPORT_ERRORS, HttpCall, Outcome, classify, describe_error
except ModuleNotFoundError as missing:  # the class still imports; constructing one says why not
    if not is_extra_module(missing.name, "http"):
        raise

__all__ = ["HttpNotifier", "HttpNotifierError"]

_WHO = "HttpNotifier"


class HttpNotifierError(AsyncflowError):
    """The webhook did not take the notification (a non-2xx status or a network error)."""


class HttpNotifier(BaseNotifier):
    """Send an HTTP request when called back (Airflow's ``HttpNotifier``, same keywords).

    Args:
        http_conn_id: The HTTP connection (its base URL, auth and headers).
        endpoint: The path joined to the connection's base URL.
        method: The HTTP method (default ``POST``).
        data: A form (a mapping) or a raw body (``str`` or ``bytes``).
        json: A JSON body (not with ``data``); strings in it are templates.
        headers: Headers added to the connection's.
        extra_options: ``timeout``, ``verify``, ``check_response`` and
            ``allow_redirects``, as for :class:`~sensors.HttpOperator`.

    Raises:
        DagDefinitionError: a keyword given wrongly (one line naming it).

    Example:
        >>> from sensors import HttpNotifier
        >>> hook = HttpNotifier(
        ...     http_conn_id="chat",
        ...     endpoint="hooks/alerts",
        ...     json={"text": "{{ dag.dag_id }}: task {{ ti.task_id }} failed"},
        ... )
    """

    template_fields = ("http_conn_id", "endpoint", "data", "json", "headers", "extra_options")

    def __init__(
        self,
        *,
        http_conn_id: str = "http_default",
        endpoint: str = "",
        method: str = "POST",
        data: Mapping[str, Any] | str | bytes | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        extra_options: Mapping[str, Any] | None = None,
    ) -> None:
        require_extra("http", _WHO)
        super().__init__()
        self.http_conn_id = http_conn_id
        self.endpoint = endpoint
        self.method = method
        self.data = data
        self.json = json
        self.headers = dict(headers or {})
        self.extra_options = dict(extra_options or {})
        self._call()  # a bad keyword fails here, where the DAG is defined

    def _call(self) -> HttpCall:
        try:
            return HttpCall(
                task_id=_WHO,
                http_conn_id=self.http_conn_id,
                method=self.method,
                endpoint=self.endpoint,
                request_params=None,
                headers=self.headers,
                data=self.data,
                json=self.json,
                extra_options=self.extra_options,
            )
        except (
            DagDefinitionError
        ) as error:  # "task 'HttpNotifier': ..." reads as "HttpNotifier: ..."
            raise DagDefinitionError(f"{_WHO}: {str(error).partition(': ')[2]}") from None

    async def notify(self, context: Mapping[str, Any]) -> None:
        """Send the rendered request on the connection's shared client.

        Raises:
            HttpNotifierError: a status other than 2xx, or the request failed.
        """
        call = self._call()
        session = await session_for(call.conn_id, verify=call.options.verify)
        try:
            response = await call.send(session)
        except TRANSPORT_ERRORS as error:
            raise HttpNotifierError(f"{_WHO}: {describe_error(error)} for {call.where}") from None
        if call.options.check_response and classify(response.status_code) is not Outcome.OK:
            raise HttpNotifierError(f"{_WHO}: {call.status_error(response, session)}")
