"""HttpOperator against a real local server: XCom values, filters, checks, retries and failures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from aiohttp import web
from http_server import BODY, ApiServer, free_port, serving
from sensor_helpers import LIMIT

from asyncflow import DAG, DagRunResult, Engine, TaskState
from sensors import HttpOperator

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ApiServer]:
    """A running local server, with http_default pointing at it."""
    async with serving(ApiServer()) as server:
        monkeypatch.setenv("ASYNCFLOW_CONN_HTTP_DEFAULT", server.url)
        yield server


async def run(built: DAG) -> DagRunResult:
    """Run ``built`` to its end on a fresh in-memory engine, bounded in time."""
    async with Engine("memory://") as engine:
        with anyio.fail_after(LIMIT):
            return await engine.run(built)


def echo(n: int, request: web.Request) -> web.Response:
    """Answer with what was asked: method, query and the JSON body."""
    body = json.loads(request[BODY] or b"null")
    return web.json_response({"method": request.method, "query": dict(request.query), "body": body})


async def test_a_json_answer_is_the_xcom_value(api: ApiServer) -> None:
    """A POST with a JSON body returns the parsed JSON answer as the task's result."""
    api.routes["/exports"] = echo
    with DAG("post") as built:
        HttpOperator(
            "exports", task_id="start", json={"table": "orders"}, request_params={"v": "2"}
        )
    result = await run(built)
    assert result.xcom("start") == {
        "method": "POST",
        "query": {"v": "2"},
        "body": {"table": "orders"},
    }


async def test_a_text_answer_is_the_xcom_value_and_get_data_is_the_query(api: ApiServer) -> None:
    """A text answer is returned as text; a GET's data mapping goes in the query, as in Airflow."""
    api.routes["/hello"] = lambda n, request: web.Response(text=f"hello {request.query['who']}")
    with DAG("get") as built:
        HttpOperator("hello", task_id="greet", method="GET", data={"who": "ada"})
    assert (await run(built)).xcom("greet") == "hello ada"


async def test_response_filter_and_check_get_the_response_and_context(api: ApiServer) -> None:
    """response_filter's value is the result; both callables get the context values they name."""
    api.routes["/exports"] = lambda n, _: web.json_response({"id": "exp-1", "state": "queued"})

    def accepted(response: httpx.Response, params: dict[str, Any]) -> bool:
        return bool(response.json()["state"] == params["expected"])

    async def export_id(response: httpx.Response, **context: Any) -> str:
        return f"{context['task'].task_id}:{response.json()['id']}"

    with DAG("filtered", params={"expected": "queued"}) as built:
        HttpOperator("exports", task_id="start", response_check=accepted, response_filter=export_id)
    assert (await run(built)).xcom("start") == "start:exp-1"


async def test_a_failed_response_check_fails_the_try(api: ApiServer) -> None:
    """response_check returning false fails the try with a message naming the request."""
    api.routes["/exports"] = lambda n, _: web.json_response({"state": "rejected"})
    with DAG("rejected") as built:
        HttpOperator("exports", task_id="start", response_check=lambda response: False)
    ti = (await run(built)).ti("start")
    assert ti.state is TaskState.FAILED
    assert ti.error == (
        "HttpError: response_check returned false for POST exports (connection 'http_default')"
    )


async def test_a_server_error_is_retried(api: ApiServer) -> None:
    """A 502 fails the first try with its status; the retry gets 200 and succeeds."""
    api.routes["/exports"] = lambda n, _: (
        web.Response(status=502, text="bad gateway") if n == 1 else web.json_response({"ok": 1})
    )
    with DAG("retried") as built:
        HttpOperator("exports", task_id="start", retries=1, retry_delay=0)
    result = await run(built)
    ti = result.ti("start")
    assert (ti.state, ti.try_number) == (TaskState.SUCCESS, 2)
    assert result.xcom("start") == {"ok": 1}
    assert api.hits["/exports"] == 2


async def test_a_client_error_fails_without_retries(api: ApiServer) -> None:
    """A 422 fails the task at once with the status and the start of the body."""
    api.routes["/exports"] = lambda n, _: web.Response(status=422, text="table: required")
    with DAG("invalid") as built:
        HttpOperator("exports", task_id="start", retries=3, retry_delay=0)
    ti = (await run(built)).ti("start")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert ti.error == (
        "FailTask: HTTP 422 Unprocessable Entity for POST exports (connection 'http_default'): "
        "table: required"
    )


async def test_a_refused_connection_is_a_retryable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing listening the try fails with HttpError naming the cause, and is retried."""
    monkeypatch.setenv("ASYNCFLOW_CONN_HTTP_DEFAULT", f"http://127.0.0.1:{free_port()}")
    with DAG("refused") as built:
        HttpOperator("exports", task_id="start", retries=1, retry_delay=0)
    ti = (await run(built)).ti("start")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 2)
    assert ti.error is not None
    assert ti.error.startswith("HttpError: ClientConnectorError (")
    assert ti.error.endswith("for POST exports (connection 'http_default')")


async def test_operators_on_one_connection_share_its_client(api: ApiServer) -> None:
    """Twenty operators on one connection use its single client."""
    api.routes["/exports"] = echo
    with DAG("shared") as built:
        for i in range(20):
            HttpOperator("exports", task_id=f"call_{i}")
    async with Engine("memory://") as engine:
        with anyio.fail_after(LIMIT):
            await engine.run(built)
        assert engine.resources.opened == 1


async def test_an_endpoint_that_is_not_http_fails_without_retries(api: ApiServer) -> None:
    """An absolute endpoint of another scheme fails the task at once, naming why."""
    with DAG("ftp") as built:
        HttpOperator("ftp://127.0.0.1/exports", task_id="start", retries=2, retry_delay=0)
    ti = (await run(built)).ti("start")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert ti.error == (
        "FailTask: cannot send POST ftp://127.0.0.1/exports (connection 'http_default'): "
        "UnsupportedProtocol"
    )
