"""Changing runs by hand through the API: mark success, delete, clear a task, set its state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from web_support import RUN, Web, op_client, seed_run

from asyncflow import DAG, DagRunState, EmptyOperator, Engine, TaskState, task
from asyncflow.settings import Settings
from asyncflow.storage.users import Role
from asyncflow.task_logs import run_log_folder

pytestmark = pytest.mark.anyio

BASE = f"/api/v1/dags/etl/runs/{RUN}"


async def states(web: Web) -> dict[str, TaskState | None]:
    """The seeded run's instance states by task id."""
    return {ti.task_id: ti.state for ti in await web.context.store.get_task_instances("etl", RUN)}


# --- a separate web process: the store alone -------------------------------------------------


async def test_clearing_a_task_with_downstream_queues_the_run_for_the_engine(web: Web) -> None:
    """Without an engine here, cleared instances wait and the run is queued for the serving one."""
    await seed_run(web, DagRunState.FAILED, TaskState.FAILED)
    async with web.as_role(Role.OP) as client:
        answer = await client.post(f"{BASE}/tasks/extract/clear", json={"include_downstream": True})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["cleared"] == [
        {"task_id": "extract", "map_index": -1},
        {"task_id": "load", "map_index": -1},
    ]
    assert body["run"]["state"] == "queued"
    assert await states(web) == {"extract": None, "load": None}


async def test_setting_a_state_marks_it_and_clears_what_failed_downstream(web: Web) -> None:
    """Extract set to success by hand: load (upstream_failed) is cleared to run."""
    await seed_run(web, DagRunState.FAILED, TaskState.FAILED)
    async with web.as_role(Role.OP) as client:
        answer = await client.patch(f"{BASE}/tasks/extract", json={"state": "success"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["marked"] == [{"task_id": "extract", "map_index": -1, "state": "success"}]
    assert body["cleared"] == [{"task_id": "load", "map_index": -1}]
    assert await states(web) == {"extract": TaskState.SUCCESS, "load": None}


async def test_a_finished_run_is_marked_success_and_deleted(web: Web) -> None:
    """Mark success sets the run and every instance; delete takes it and its instances away."""
    await seed_run(web, DagRunState.FAILED, TaskState.FAILED)
    async with web.as_role(Role.OP) as client:
        marked = await client.post(f"{BASE}/mark-success")
        assert marked.status_code == 200, marked.text
        assert marked.json()["state"] == "success"
        assert await states(web) == {"extract": TaskState.SUCCESS, "load": TaskState.SUCCESS}
        deleted = await client.delete(BASE)
        assert deleted.status_code == 204, deleted.text
        gone = await client.get(BASE)
    assert gone.status_code == 404
    assert await web.context.store.get_task_instances("etl", RUN) == []


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("POST", f"{BASE}/mark-success", None, "is running in another process"),
        ("DELETE", BASE, None, "only the engine running it can delete it"),
        ("POST", f"{BASE}/tasks/extract/clear", {}, "only a finished run can be cleared"),
        ("PATCH", f"{BASE}/tasks/extract", {"state": "failed"}, "can be changed by hand"),
    ],
)
async def test_a_run_running_elsewhere_is_left_alone(
    web: Web, method: str, path: str, body: object, message: str
) -> None:
    """Each action on a run another process drives answers 409 saying why; nothing changes."""
    await seed_run(web, DagRunState.RUNNING, TaskState.RUNNING)
    async with web.as_role(Role.OP) as client:
        answer = await client.request(method, path, json=body)
    assert answer.status_code == 409, answer.text
    assert message in answer.json()["error"]["message"]
    run = await web.context.store.get_run("etl", RUN)
    assert run is not None
    assert run.state is DagRunState.RUNNING
    assert await states(web) == {"extract": TaskState.RUNNING, "load": None}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", f"{BASE}/tasks/nope/clear", {}, 404, "DAG 'etl' has no task nope"),
        ("PATCH", f"{BASE}/tasks/nope", {"state": "success"}, 404, "DAG 'etl' has no task nope"),
        (
            "POST",
            f"{BASE}/tasks/extract/clear",
            {"map_index": 3},
            404,
            "task 'extract' has no map index 3 in this run",
        ),
        ("PATCH", f"{BASE}/tasks/extract", {"state": "running"}, 422, "state"),
        ("PATCH", f"{BASE}/tasks/extract", {}, 422, "state"),
        ("DELETE", "/api/v1/dags/etl/runs/ghost", None, 404, "no run 'ghost'"),
    ],
)
async def test_bad_requests_are_named_and_change_nothing(
    web: Web, method: str, path: str, body: object, status: int, message: str
) -> None:
    """An unknown task, map index or run, or a state that cannot be set, is refused by name."""
    await seed_run(web, DagRunState.FAILED, TaskState.FAILED)
    async with web.as_role(Role.OP) as client:
        answer = await client.request(method, path, json=body)
    assert answer.status_code == status, answer.text
    assert message in answer.text
    assert await states(web) == {"extract": TaskState.FAILED, "load": TaskState.UPSTREAM_FAILED}


# --- an engine in the process --------------------------------------------------------------


def failing_dag(calls: list[int]) -> DAG:
    """Extract fails on its first call; load after it."""
    with DAG("etl") as dag:

        @task
        def extract() -> int:
            calls.append(len(calls) + 1)
            if len(calls) == 1:
                raise RuntimeError("first call fails")
            return len(calls)

        extract() >> EmptyOperator(task_id="load")
    return dag


@pytest.fixture
async def engine_client(tmp_path: Path) -> AsyncIterator[tuple[Engine, httpx.AsyncClient]]:
    """An engine on a SQLite file with task logs, and an op's client of its app."""
    settings = Settings.from_env({"ASYNCFLOW_HOME": str(tmp_path)})
    engine = Engine(f"sqlite:///{tmp_path}/e.db", dags=[failing_dag([])], settings=settings)
    async with engine, op_client(engine) as client:
        yield engine, client


async def test_the_engine_runs_a_cleared_task_again_at_once(
    engine_client: tuple[Engine, httpx.AsyncClient],
) -> None:
    """Clearing the failed task with downstream reruns both: the run ends success on try 2."""
    engine, client = engine_client
    first = await engine.run("etl")
    assert first.state is DagRunState.FAILED
    path = f"/api/v1/dags/etl/runs/{first.run_id}/tasks/extract/clear"
    answer = await client.post(path, json={"include_downstream": True})
    assert answer.status_code == 200, answer.text
    with anyio.fail_after(10):
        again = await engine.wait(first)
    assert again.state is DagRunState.SUCCESS
    assert (again.ti("extract").try_number, again.xcom("extract")) == (2, 2)
    assert again.ti("load").state is TaskState.SUCCESS


async def test_deleting_a_run_takes_its_try_logs_too(
    engine_client: tuple[Engine, httpx.AsyncClient],
) -> None:
    """After DELETE, the run's log folder is gone and its id is free for a new run."""
    engine, client = engine_client
    first = await engine.run("etl")
    logs = engine.settings.task_logs_folder
    folder = run_log_folder(logs, "etl", first.run_id)
    assert "try 1 of extract" in (folder / "extract" / "1.log").read_text()
    answer = await client.delete(f"/api/v1/dags/etl/runs/{first.run_id}")
    assert answer.status_code == 204, answer.text
    assert not folder.exists()
    assert (await client.get(f"/api/v1/dags/etl/runs/{first.run_id}")).status_code == 404
