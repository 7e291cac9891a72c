"""HttpNotifier against a real local HTTP server: the webhook's request, failures and secrets."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator

import anyio
import pytest
import structlog
from aiohttp import web
from http_server import ApiServer, serving
from sensor_helpers import LIMIT

from asyncflow import DAG, DagDefinitionError, DagRunResult, DagRunState, Engine, FailTask, task
from sensors import HttpNotifier

pytestmark = pytest.mark.anyio
TOKEN = "tok-3141592"


@pytest.fixture
async def hooks(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ApiServer]:
    """A running local server; the chat connection points at it with a secret header."""
    async with serving(ApiServer()) as server:
        monkeypatch.setenv(
            "ASYNCFLOW_CONN_CHAT", f"{server.url}/api?header.Authorization=Bearer%20{TOKEN}"
        )
        yield server


@task
def load() -> None:
    raise FailTask("table locked")


async def run(built: DAG) -> DagRunResult:
    """Run ``built`` to its end on a fresh in-memory engine, bounded in time."""
    async with Engine("memory://") as engine:
        with anyio.fail_after(LIMIT):
            return await engine.run(built)


def accepted(n: int, request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def test_a_failure_posts_the_rendered_json_with_the_connections_headers(
    hooks: ApiServer,
) -> None:
    """The task's failure POSTs the rendered JSON to the endpoint, with the connection's auth."""
    hooks.routes["/api/hooks/alerts"] = accepted
    notifier = HttpNotifier(
        http_conn_id="chat",
        endpoint="hooks/alerts",
        json={"text": "{{ dag.dag_id }}.{{ ti.task_id }}: {{ exception }}", "n": 1},
        headers={"X-Run": "{{ run_id }}"},
    )
    with DAG("nightly") as built:
        load.override(on_failure_callback=notifier)()
    result = await run(built)
    assert result.state is DagRunState.FAILED
    assert hooks.hits["/api/hooks/alerts"] == 1
    assert json.loads(hooks.bodies[0]) == {"text": "nightly.load: FailTask: table locked", "n": 1}
    assert hooks.headers[0]["Authorization"] == f"Bearer {TOKEN}"
    assert hooks.headers[0]["X-Run"] == result.run_id
    assert hooks.headers[0]["Content-Type"] == "application/json"


async def test_a_dag_callback_posts_too(hooks: ApiServer) -> None:
    """As a DAG's on_failure_callback, the notifier sees the run's reason."""
    hooks.routes["/api/runs"] = accepted
    notifier = HttpNotifier(http_conn_id="chat", endpoint="runs", json={"why": "{{ reason }}"})
    with DAG("nightly", on_failure_callback=notifier) as built:
        load()
    await run(built)
    assert json.loads(hooks.bodies[0]) == {"why": "task_failure"}


async def test_a_refusing_webhook_is_logged_without_the_token(hooks: ApiServer) -> None:
    """A 500 answer fails the callback with the status in one logged line; no token shown."""
    hooks.routes["/api/hooks/alerts"] = lambda n, r: web.Response(status=500, text="down")
    notifier = HttpNotifier(http_conn_id="chat", endpoint="hooks/alerts", json={"a": 1})
    with DAG("nightly") as built:
        load.override(on_failure_callback=notifier)()
    with structlog.testing.capture_logs() as events:
        result = await run(built)
    assert result.state is DagRunState.FAILED
    (failed,) = [e for e in events if e["event"] == "callback_failed"]
    assert failed["error"] == (
        "HttpNotifierError: HttpNotifier: HTTP 500 Internal Server Error for "
        "POST hooks/alerts (connection 'chat'): down"
    )
    assert TOKEN not in repr(events)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "FETCH"}, "HttpNotifier: method must be one of"),
        ({"data": "x", "json": {"a": 1}}, "HttpNotifier: give data or json, not both"),
        ({"json": {"a": object()}}, "HttpNotifier: json is not JSON"),
        ({"http_conn_id": ""}, "HttpNotifier: http_conn_id must be a connection id"),
    ],
)
def test_a_bad_keyword_fails_where_the_notifier_is_made(kwargs: dict, message: str) -> None:
    """A keyword given wrongly fails at construction with one line naming it."""
    with pytest.raises(DagDefinitionError, match=message):
        HttpNotifier(**kwargs)


def test_without_the_http_extra_the_notifier_says_what_to_install() -> None:
    """With httpx missing, `sensors` imports and HttpNotifier() fails naming the extra."""
    child = (
        "import sys\n"
        "sys.modules['httpx'] = None\n"
        "from sensors import HttpNotifier\n"
        "try:\n"
        "    HttpNotifier(endpoint='x')\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "MissingExtraError HttpNotifier needs the http extra (httpx is not installed): "
        "pip install 'asyncflow[http]'"
    )
