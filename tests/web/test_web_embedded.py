"""The web app of an embedded engine: runs, logs, XCom, waking sensors, marking failed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import pytest
from web_support import op_client

from asyncflow import DAG, BashOperator, Engine, task
from asyncflow.settings import Settings

pytestmark = pytest.mark.anyio


@dataclass
class Signals:
    """What the test DAGs' tasks read and tell."""

    opened: bool = False  # the gate sensor's condition
    started: anyio.Event = field(default_factory=anyio.Event)  # set by each try of forever


def embedded_dags(signals: Signals) -> list[DAG]:
    with DAG("embedded") as embedded:

        @task.sensor(mode="reschedule", poke_interval=3600, wake_on=["go"])
        def gate() -> bool:
            return signals.opened

        gate() >> BashOperator(task_id="say", bash_command="echo first; echo hello-from-bash")
    with DAG("slow") as slow:

        @task
        async def forever() -> None:
            signals.started.set()
            await anyio.sleep_forever()

        forever()
    return [embedded, slow]


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[tuple[Engine, httpx.AsyncClient, Signals]]:
    """An open engine on a SQLite file, its app, and an op's client of it."""
    signals = Signals()
    settings = Settings.from_env({"ASYNCFLOW_HOME": str(tmp_path)})
    engine = Engine(f"sqlite:///{tmp_path}/e.db", dags=embedded_dags(signals), settings=settings)
    async with engine, op_client(engine) as client:
        yield engine, client, signals


async def _waiting_sensors(client: httpx.AsyncClient) -> dict[str, object]:
    with anyio.fail_after(10):
        while True:
            body: dict[str, object] = (await client.get("/api/v1/sensors")).json()
            if body["total"]:
                return body
            await anyio.sleep(0.05)


async def test_trigger_notify_and_read_logs_and_xcom(
    embedded: tuple[Engine, httpx.AsyncClient, Signals],
) -> None:
    """A triggered run waits on its sensor until a notify wakes it; its logs and XCom read back."""
    engine, client, signals = embedded
    answer = await client.post("/api/v1/dags/embedded/runs", json={})
    assert answer.status_code == 201
    run_id = answer.json()["run_id"]
    waiting = await _waiting_sensors(client)
    [sensor] = waiting["items"]  # type: ignore[misc]
    assert sensor["task_id"] == "gate"
    assert sensor["mode"] == "reschedule"
    assert sensor["wake_on"] == ["go"]
    assert sensor["seconds_left"] > 0
    signals.opened = True
    woken = await client.post("/api/v1/notify/go")
    assert woken.json() == {"key": "go", "woken": 1}
    result = await engine.wait(run_id, timeout=20)
    assert result.state == "success"
    base = f"/api/v1/dags/embedded/runs/{run_id}/tasks/say"
    log = await client.get(f"{base}/tries/1/log")
    assert "hello-from-bash" in log.text
    tail = await client.get(f"{base}/tries/1/log", params={"tail": 2})
    assert "first" not in tail.text
    assert "hello-from-bash" in tail.text
    followed = await client.get(f"{base}/tries/1/log/follow")
    assert "data: " in followed.text
    assert followed.text.endswith("event: end\ndata: success\n\n")
    value = await client.get(f"{base}/xcom/return_value")
    assert value.json()["value"] == "hello-from-bash"
    missing = await client.get(f"{base}/tries/2/log")
    assert missing.status_code == 404
    assert "has had 1 tries" in missing.json()["error"]["message"]


async def test_mark_failed_from_the_api(
    embedded: tuple[Engine, httpx.AsyncClient, Signals],
) -> None:
    """Marking a running run failed stops its try and fails the run; again answers the same."""
    engine, client, _ = embedded
    run_id = (await client.post("/api/v1/dags/slow/runs", json={})).json()["run_id"]
    path = f"/api/v1/dags/slow/runs/{run_id}/mark-failed"
    marked = await client.post(path, json={"reason": "stopped from the web"})
    assert marked.status_code == 200
    result = await engine.wait(run_id, timeout=10)
    assert result.state == "failed"
    assert result.ti("forever").error == "stopped from the web"
    health = await client.get("/api/v1/health")
    assert health.json()["engine_in_process"] is True


async def test_metrics_for_viewers_only(
    embedded: tuple[Engine, httpx.AsyncClient, Signals],
) -> None:
    """The engine's Prometheus metrics are at /metrics for a token, not for anonymous callers."""
    _, client, _ = embedded
    scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    assert "asyncflow_" in scraped.text
    anonymous = await client.get("/metrics", headers={"Authorization": ""})
    assert anonymous.status_code == 401


async def test_clear_reruns_a_finished_run(
    embedded: tuple[Engine, httpx.AsyncClient, Signals],
) -> None:
    """Clearing a failed run runs its failed task again; a running run cannot be cleared."""
    engine, client, signals = embedded
    run_id = (await client.post("/api/v1/dags/slow/runs", json={})).json()["run_id"]
    path = f"/api/v1/dags/slow/runs/{run_id}"
    refused = await client.post(f"{path}/clear")
    assert refused.status_code == 409
    assert "only a finished run can be cleared" in refused.json()["error"]["message"]
    with anyio.fail_after(10):
        await signals.started.wait()
    await client.post(f"{path}/mark-failed", json={"reason": "first"})
    assert (await engine.wait(run_id, timeout=10)).state == "failed"
    signals.started = anyio.Event()
    cleared = await client.post(f"{path}/clear")
    assert cleared.status_code == 200
    assert cleared.json()["state"] == "running"
    with anyio.fail_after(10):
        await signals.started.wait()
    await client.post(f"{path}/mark-failed", json={"reason": "second"})
    result = await engine.wait(run_id, timeout=10)
    assert result.ti("forever").try_number == 2
