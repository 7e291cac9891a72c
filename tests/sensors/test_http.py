"""HttpSensor on a real local server: waiting, transient failures, errors, secrets, one client."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
import structlog.testing
from aiohttp import web
from http_server import ApiServer, free_port, serving
from sensor_helpers import LIMIT, MODES, poke_counts

from asyncflow import DAG, DagDefinitionError, DagRunState, Engine, PokeReturnValue, TaskState
from asyncflow.testing import watch_pokes
from sensors import HttpSensor

pytestmark = pytest.mark.anyio

FAST = {"poke_interval": 0.01, "timeout": LIMIT}


@pytest.fixture
async def api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ApiServer]:
    """A running local server, with http_default pointing at it."""
    async with serving(ApiServer()) as server:
        monkeypatch.setenv("ASYNCFLOW_CONN_HTTP_DEFAULT", server.url)
        yield server


def job(done_from: int) -> Any:
    """A route answering ``{"state": "running"}`` until its ``done_from``-th request."""
    return lambda n, _: web.json_response({"state": "done" if n >= done_from else "running"})


def is_done(response: httpx.Response) -> bool:
    """A sync response_check: the job says it is done."""
    return bool(response.json()["state"] == "done")


async def run(built: DAG, **engine_kwargs: Any) -> Any:
    """Run ``built`` to its end on a fresh in-memory engine, bounded in time."""
    async with Engine("memory://", **engine_kwargs) as engine:
        with anyio.fail_after(LIMIT):
            return await engine.run(built)


@pytest.mark.parametrize("mode", MODES)
async def test_done_once_the_server_says_so(api: ApiServer, mode: str) -> None:
    """The sensor pokes until the job's status flips on the server's third request."""
    api.routes["/jobs/7"] = job(done_from=3)
    with DAG(f"flip_{mode}") as built:
        HttpSensor("jobs/7", task_id="wait", response_check=is_done, mode=mode, **FAST)
    async with Engine("memory://") as engine:
        with anyio.fail_after(LIMIT):
            result = await engine.run(built)
        counts = await poke_counts(engine, built.dag_id, result.run_id)
    assert result.state is DagRunState.SUCCESS
    assert api.hits["/jobs/7"] == 3
    assert counts == {"wait": 3}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("soft_fail", "state"), [(False, TaskState.FAILED), (True, TaskState.SKIPPED)]
)
async def test_timeout_fails_or_soft_fail_skips(
    api: ApiServer, mode: str, soft_fail: bool, state: TaskState
) -> None:
    """A job that never finishes times the sensor out: failed, or skipped with soft_fail."""
    api.routes["/jobs/7"] = job(done_from=10**9)
    with DAG(f"never_{mode}_{soft_fail}") as built:
        HttpSensor(
            "jobs/7",
            task_id="wait",
            response_check=is_done,
            mode=mode,
            poke_interval=0.01,
            timeout=0.3,
            soft_fail=soft_fail,
            retries=1,
        )
    ti = (await run(built)).ti("wait")
    assert (ti.state, ti.try_number) == (state, 1)
    assert api.hits["/jobs/7"] >= 1  # the first poke also opens the client: it may take 0.3 s
    if not soft_fail:
        assert ti.error.startswith("SensorTimeout: sensor 'wait' timed out")


@pytest.mark.parametrize("mode", MODES)
async def test_server_errors_are_transient_with_a_warning(api: ApiServer, mode: str) -> None:
    """Two 503s are not-done pokes, each logged as http_poke_transient; then 200 succeeds."""
    api.routes["/health"] = lambda n, _: web.Response(status=503 if n <= 2 else 200, text="busy")
    with DAG(f"flaky_{mode}") as built:
        HttpSensor("health?token=t0p", task_id="wait", mode=mode, **FAST)
    with structlog.testing.capture_logs() as logs:
        result = await run(built)
    assert result.state is DagRunState.SUCCESS
    warnings = [e for e in logs if e["event"] == "http_poke_transient"]
    assert [(w["status"], w["log_level"], w["endpoint"]) for w in warnings] == [
        (503, "warning", "health")
    ] * 2
    assert {w["task_id"] for w in warnings} == {"wait"}
    assert "t0p" not in str(logs)


async def test_fail_on_transient_raises_so_retries_apply(api: ApiServer) -> None:
    """With fail_on_transient a 503 fails the try (retried), and the retry then succeeds."""
    api.routes["/health"] = lambda n, _: web.Response(status=503 if n == 1 else 200, text="busy")
    with DAG("strict") as built:
        HttpSensor("health", task_id="wait", fail_on_transient=True, retries=1, retry_delay=0)
    ti = (await run(built)).ti("wait")
    assert (ti.state, ti.try_number) == (TaskState.SUCCESS, 2)


@pytest.mark.parametrize("mode", MODES)
async def test_connection_refused_then_success_once_the_server_starts(
    monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Refused connections are transient: the sensor succeeds once a server listens."""
    port = free_port()
    monkeypatch.setenv("ASYNCFLOW_CONN_HTTP_DEFAULT", f"http://127.0.0.1:{port}")
    with DAG(f"refused_{mode}") as built:
        probe = watch_pokes(HttpSensor("jobs/7", task_id="wait", mode=mode, **FAST))
    with structlog.testing.capture_logs() as logs:
        async with Engine("memory://", dags=[built]) as engine:
            with anyio.fail_after(LIMIT):
                started = await engine.trigger(built.dag_id)
                await probe.waiting.wait()
                api = ApiServer()
                api.routes["/jobs/7"] = job(done_from=1)
                async with serving(api, port=port):
                    result = await engine.wait(started.run_id)
    assert result.state is DagRunState.SUCCESS
    assert probe.results[0] is False
    assert probe.results[-1] is True
    refused = [e for e in logs if e["event"] == "http_poke_transient"]
    assert refused
    assert refused[0]["error"].startswith("ClientConnectorError")


@pytest.mark.parametrize(
    ("status", "allowlist", "expected"),
    [
        (403, None, "FailTask: HTTP 403 Forbidden for GET jobs/7 (connection 'http_default'): "),
        (404, [], "FailTask: HTTP 404 Not Found for GET jobs/7 (connection 'http_default'): "),
        (
            400,
            ["404"],
            "FailTask: HTTP 400 Bad Request for GET jobs/7 (connection 'http_default'): ",
        ),
    ],
)
async def test_a_client_error_fails_at_once_with_the_status_and_body_start(
    api: ApiServer, status: int, allowlist: list[str] | None, expected: str
) -> None:
    """A 4xx outside the allowlist fails without retries, quoting the body's start on one line."""
    body = "denied:\n  " + "x" * 500
    api.routes["/jobs/7"] = lambda n, _: web.Response(status=status, text=body)
    with DAG(f"denied_{status}") as built:
        HttpSensor(
            "jobs/7",
            task_id="wait",
            response_error_codes_allowlist=allowlist,
            retries=2,
            **FAST,
        )
    ti = (await run(built)).ti("wait")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert ti.error.startswith(expected + "denied: xxx")
    assert "\n" not in ti.error
    assert len(ti.error) <= len(expected) + 200


@pytest.mark.parametrize("mode", MODES)
async def test_an_allowlisted_404_means_not_there_yet(api: ApiServer, mode: str) -> None:
    """By default (as in Airflow) a 404 is a quiet not-done poke, until the resource appears."""
    api.routes["/exports/1"] = lambda n, _: web.Response(status=404 if n <= 2 else 200)
    with DAG(f"appears_{mode}") as built:
        HttpSensor("exports/1", task_id="wait", mode=mode, **FAST)
    with structlog.testing.capture_logs() as logs:
        result = await run(built)
    assert result.state is DagRunState.SUCCESS
    assert api.hits["/exports/1"] == 3
    assert not [e for e in logs if e["event"] == "http_poke_transient"]


async def test_response_checks_sync_and_async_with_context(api: ApiServer) -> None:
    """A sync check gets the context values it names; an async one may return a PokeReturnValue."""
    api.routes["/jobs/7"] = job(done_from=2)
    api.routes["/jobs/8"] = lambda n, _: web.json_response({"id": "run-8", "state": "done"})
    seen: list[Any] = []

    def named(response: httpx.Response, params: dict[str, Any], map_index: int) -> bool:
        seen.append((params["want"], map_index))
        return bool(response.json()["state"] == params["want"])

    async def everything(response: httpx.Response, **context: Any) -> PokeReturnValue:
        seen.append(context["task"].task_id)
        body = response.json()
        return PokeReturnValue(body["state"] == "done", xcom_value=body["id"])

    with DAG("checks", params={"want": "done"}) as built:
        HttpSensor("jobs/7", task_id="sync", response_check=named, **FAST)
        HttpSensor("jobs/8", task_id="async", response_check=everything, **FAST)
    result = await run(built)
    assert result.state is DagRunState.SUCCESS
    assert seen.count(("done", -1)) == 2
    assert "async" in seen
    assert result.xcom("async") == "run-8"
    assert result.xcom("sync") is None


async def test_check_response_false_hands_any_status_to_the_check(api: ApiServer) -> None:
    """extra_options check_response=False lets response_check judge a 500 (Airflow's rule)."""
    api.routes["/odd"] = lambda n, _: web.Response(status=500, text="finished")
    with DAG("odd") as built:
        HttpSensor(
            "odd",
            task_id="wait",
            response_check=lambda response: response.text == "finished",
            extra_options={"check_response": False},
            **FAST,
        )
    assert (await run(built)).state is DagRunState.SUCCESS


async def test_request_carries_method_params_headers_and_json(api: ApiServer) -> None:
    """The request has the method, query parameters, headers and JSON body given."""
    api.routes["/search"] = lambda n, request: web.json_response(
        {"state": "done" if request.query.get("q") == "orders" else "running"}
    )
    with DAG("shaped") as built:
        HttpSensor(
            "/search",
            task_id="wait",
            method="post",
            request_params={"q": "orders"},
            headers={"X-Trace": "abc"},
            json={"page": 1},
            response_check=is_done,
            **FAST,
        )
    assert (await run(built)).state is DagRunState.SUCCESS
    assert api.headers[0]["X-Trace"] == "abc"
    assert api.headers[0]["Content-Type"] == "application/json"
    assert api.bodies[0] == b'{"page":1}'


async def test_an_endpoint_that_is_not_http_fails_at_once(api: ApiServer) -> None:
    """An absolute endpoint of another scheme fails the task without retries, naming why."""
    with DAG("ftp") as built:
        HttpSensor("ftp://127.0.0.1/jobs/7", task_id="wait", retries=2, **FAST)
    ti = (await run(built)).ti("wait")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert ti.error == (
        "FailTask: cannot send GET ftp://127.0.0.1/jobs/7 (connection 'http_default'): "
        "UnsupportedProtocol"
    )


async def test_a_redirect_is_followed_to_the_jobs_new_place(api: ApiServer) -> None:
    """A 302 from the endpoint is followed (through the connection's client) to a 2xx."""
    api.routes["/jobs/7"] = lambda n, _: web.Response(status=302, headers={"Location": "/v2/7"})
    api.routes["/v2/7"] = job(done_from=1)
    with DAG("moved") as built:
        HttpSensor("jobs/7", task_id="wait", response_check=is_done, **FAST)
    assert (await run(built)).state is DagRunState.SUCCESS
    assert api.hits["/v2/7"] == 1


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        (None, "FailTask: connection 'jobs_api' is not defined: set ASYNCFLOW_CONN_JOBS_API"),
        (
            "http://ada:hunter2@host:notaport/v1",
            "FailTask: connection 'jobs_api' has a URI that does not parse: the port is not a "
            "number",
        ),
        (
            "http://127.0.0.1:9?timout=5",
            "FailTask: connection 'jobs_api' has an unknown extra 'timout'",
        ),
        ("http://127.0.0.1:9?timeout=soon", "FailTask: connection 'jobs_api' has timeout='soon'"),
        (
            "http://127.0.0.1:9?max_connections=0",
            "FailTask: connection 'jobs_api' has max_connections",
        ),
        ("aws://?region_name=eu-west-1", "FailTask: connection 'jobs_api' is of type 'aws'"),
        ("http:///no-host", "FailTask: connection 'jobs_api' has no host"),
    ],
    ids=["missing", "bad-port", "unknown-extra", "bad-timeout", "bad-limit", "not-http", "no-host"],
)
async def test_a_bad_connection_fails_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, uri: str | None, error: str
) -> None:
    """A missing or malformed connection fails the task at once, naming the connection only."""
    monkeypatch.delenv("ASYNCFLOW_CONN_JOBS_API", raising=False)
    if uri is not None:
        monkeypatch.setenv("ASYNCFLOW_CONN_JOBS_API", uri)
    with DAG("misconfigured") as built:
        HttpSensor("jobs/7", task_id="wait", http_conn_id="jobs_api", retries=3, **FAST)
    ti = (await run(built)).ti("wait")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert ti.error.startswith(error)
    assert "\n" not in ti.error
    assert "hunter2" not in ti.error


async def test_credentials_are_sent_but_never_shown(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Basic auth and a secret header go to the server; logs and the error never show them."""
    password, api_key = "s3cr3t-pw", "k3y-4bc"
    token = base64.b64encode(f"ada:{password}".encode()).decode()
    monkeypatch.setenv(
        "ASYNCFLOW_CONN_HTTP_DEFAULT",
        f"http://ada:{password}@127.0.0.1:{api.port}/v1?header.X-Api-Key={api_key}",
    )

    def echo(n: int, request: web.Request) -> web.Response:
        if n == 1:
            return web.Response(status=503, text=f"busy, {request.headers['Authorization']}")
        return web.Response(status=401, text=f"who is {password} / {token} / {api_key}?")

    api.routes["/v1/jobs/7"] = echo
    with DAG("secrets") as built:
        HttpSensor("jobs/7", task_id="wait", **FAST)
    with structlog.testing.capture_logs() as logs:
        ti = (await run(built)).ti("wait")
    assert api.headers[0]["Authorization"] == f"Basic {token}"
    assert api.headers[0]["X-Api-Key"] == api_key
    assert ti.state is TaskState.FAILED
    assert ti.error == (
        "FailTask: HTTP 401 Unauthorized for GET jobs/7 (connection 'http_default'): "
        "who is *** / *** / ***?"
    )
    shown = str(logs) + ti.error
    for secret in (password, token, api_key):
        assert secret not in shown
    assert any(e["event"] == "http_poke_transient" for e in logs)


async def test_a_thousand_sensors_share_one_client_within_the_connection_limit(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 sensors (half in each mode) open one client and never exceed max_connections."""
    monkeypatch.setenv("ASYNCFLOW_CONN_HTTP_DEFAULT", f"{api.url}?max_connections=4")
    api.delay = 0.001
    for i in range(1000):
        api.routes[f"/jobs/{i}"] = job(done_from=1)
    with DAG("crowd") as built:
        for i in range(1000):
            HttpSensor(
                f"jobs/{i}",
                task_id=f"wait_{i}",
                response_check=is_done,
                mode=MODES[i % 2],
                poke_interval=0.05,
                timeout=LIMIT,
            )
    async with Engine("memory://", max_active_tasks=2000) as engine:
        with anyio.fail_after(LIMIT):
            result = await engine.run(built)
        assert engine.resources.opened == 1
    assert result.state is DagRunState.SUCCESS
    assert sum(api.hits.values()) == 1000
    assert 2 <= api.max_in_flight <= 4
    assert len(api.peers) <= 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "FETCH"}, "method must be one of"),
        ({"endpoint": 7}, "endpoint must be a string"),
        ({"data": {"a": 1}, "json": {"b": 2}}, "give data or json, not both"),
        ({"json": {1, 2}}, "json is not JSON"),
        ({"headers": {"X-N": 1}}, "headers must map names to string values"),
        ({"extra_options": {"proxies": {}}}, "extra_options has unknown ['proxies']"),
        ({"extra_options": {"timeout": 0}}, "extra_options timeout must be positive seconds"),
        ({"response_check": "yes"}, "response_check must be callable"),
        ({"response_check": lambda: True}, "must take the response as its first argument"),
        ({"response_error_codes_allowlist": ["4xx"]}, "HTTP statuses like '404'"),
        ({"fail_on_transient": "yes"}, "fail_on_transient must be True or False"),
        ({"http_conn_id": ""}, "http_conn_id must be a connection id"),
    ],
)
def test_wrong_arguments_fail_when_the_dag_is_defined(kwargs: dict[str, Any], message: str) -> None:
    """Each wrong argument is refused at definition with a message naming the task."""
    arguments = {"endpoint": "jobs/7", **kwargs}
    with DAG("wrong"), pytest.raises(DagDefinitionError) as info:
        HttpSensor(task_id="wait", **arguments)
    assert str(info.value).startswith("task 'wait': ")
    assert message in str(info.value)
