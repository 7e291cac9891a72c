"""engine.actions: clearing, setting task states, marking success and deleting runs."""

from __future__ import annotations

import anyio
import pytest

from asyncflow import DAG, DagRunState, EmptyOperator, Engine, TaskState, task
from asyncflow.exceptions import DagRunNotFound, EngineError
from asyncflow.testing import MemoryStore

pytestmark = pytest.mark.anyio


def flaky_dag(calls: dict[str, int]) -> DAG:
    """Load fails on its first two calls; report runs after it; numbers maps over load's list."""
    with DAG("flaky", default_args={"retries": 1, "retry_delay": 0}) as built:

        @task
        def load() -> list[int]:
            calls["load"] = calls.get("load", 0) + 1
            if calls["load"] <= 2:
                raise RuntimeError(f"load failed, call {calls['load']}")
            return list(range(calls["load"]))

        @task
        def double(x: int) -> int:
            return 2 * x

        loaded = load()
        loaded >> EmptyOperator(task_id="report")
        double.expand(x=loaded)
    return built


async def test_clearing_a_failed_task_with_downstream_runs_them_again() -> None:
    """The failed task's next try is try 3, with retries anew; its mapped task expands anew."""
    calls: dict[str, int] = {}
    async with Engine(MemoryStore(), dags=[flaky_dag(calls)]) as engine:
        first = await engine.run("flaky")
        assert first.state is DagRunState.FAILED
        assert first.ti("report").state is TaskState.UPSTREAM_FAILED
        changes = await engine.actions.clear(first, ["load"], downstream=True)
        assert sorted(changes.clear) == [("load", -1), ("report", -1)]
        assert changes.expand_again == ("double",)
        with anyio.fail_after(10):
            again = await engine.wait(first)
    assert again.state is DagRunState.SUCCESS
    assert (again.ti("load").try_number, again.ti("load").error) == (3, None)
    assert again.ti("report").state is TaskState.SUCCESS
    assert [again.xcom("double", map_index=i) for i in range(3)] == [0, 2, 4]


async def test_marking_a_failed_task_success_runs_what_it_held_back() -> None:
    """After load is set to success by hand, report (upstream_failed) runs and the run succeeds."""
    with DAG("held") as dag:

        @task
        def load() -> None:
            raise RuntimeError("nope")

        load() >> EmptyOperator(task_id="report")
    async with Engine(MemoryStore(), dags=[dag]) as engine:
        first = await engine.run("held")
        changes = await engine.actions.set_task_state(first, "load", TaskState.SUCCESS)
        assert (changes.marks, changes.clear) == (
            (("load", -1, TaskState.SUCCESS),),
            (("report", -1),),
        )
        with anyio.fail_after(10):
            again = await engine.wait(first)
    assert again.state is DagRunState.SUCCESS
    assert again.ti("load").state is TaskState.SUCCESS
    assert again.ti("report").state is TaskState.SUCCESS


async def test_marking_a_leaf_failed_fails_a_successful_run() -> None:
    """The run is queued to decide again how it ends: a leaf set to failed fails it."""
    with DAG("fine") as dag:
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
    async with Engine(MemoryStore(), dags=[dag]) as engine:
        first = await engine.run("fine")
        assert first.state is DagRunState.SUCCESS
        await engine.actions.set_task_state(first, "b", TaskState.FAILED)
        with anyio.fail_after(10):
            again = await engine.wait(first)
        assert again.state is DagRunState.FAILED
        unchanged = await engine.actions.set_task_state(first, "b", TaskState.FAILED)
        assert unchanged.empty
        assert (await engine.get_run(first)).state is DagRunState.FAILED


def waiting_dag(started: anyio.Event) -> DAG:
    """A sensor that never finds its condition, then a task after it."""
    with DAG("waiting") as built:

        @task.sensor(poke_interval=60, timeout=3600)
        def never() -> bool:
            started.set()
            return False

        never() >> EmptyOperator(task_id="after")
    return built


async def test_a_running_run_is_not_cleared_and_nothing_changes() -> None:
    """Clearing or setting states of a running run is refused in one line; it keeps running."""
    started = anyio.Event()
    async with Engine(MemoryStore(), dags=[waiting_dag(started)]) as engine:
        run = await engine.trigger("waiting")
        with anyio.fail_after(10):
            await started.wait()
        message = "is running: only a finished run can be cleared"
        with pytest.raises(EngineError, match=message):
            await engine.actions.clear(run, ["never"])
        with pytest.raises(EngineError, match="only a finished run can be changed by hand"):
            await engine.actions.set_task_state(run, "never", TaskState.SUCCESS)
        now = await engine.get_run(run)
        assert now.state is DagRunState.RUNNING
        assert now.ti("never").state is TaskState.RUNNING
        await engine.mark_failed(run, "done with the test")


async def test_marking_a_running_run_success_stops_its_sensor_and_ends_it() -> None:
    """A waiting sensor's run marked success ends success, every instance success."""
    started = anyio.Event()
    async with Engine(MemoryStore(), dags=[waiting_dag(started)]) as engine:
        run = await engine.trigger("waiting")
        with anyio.fail_after(10):
            await started.wait()
            assert await engine.actions.mark_success(run)
            result = await engine.wait(run)
        assert engine.stats.running == 0
        assert not await engine.actions.mark_success(run), "successful already"
    assert result.state is DagRunState.SUCCESS
    assert result.ti("never").state is TaskState.SUCCESS
    assert result.ti("after").state is TaskState.SUCCESS


async def test_deleting_runs_running_or_finished() -> None:
    """A finished run is deleted; a running one is stopped first, then deleted."""
    started = anyio.Event()
    with DAG("fine") as fine:
        EmptyOperator(task_id="a")
    store = MemoryStore()
    async with Engine(store, dags=[fine, waiting_dag(started)]) as engine:
        done = await engine.run("fine")
        waiting = await engine.trigger("waiting")
        with anyio.fail_after(10):
            await started.wait()
            await engine.actions.delete(waiting)
        await engine.actions.delete(done)
        for gone in (done, waiting):
            with pytest.raises(DagRunNotFound):
                await engine.get_run(gone)
        assert engine.stats.running == 0
        assert await store.list_runs() == []


async def test_clearing_work_runs_its_setup_and_teardown_again() -> None:
    """The cluster is made again before the cleared query and deleted after it."""
    calls: list[str] = []
    with DAG("cluster") as dag:

        @task
        def create() -> None:
            calls.append("create")

        @task
        def query() -> None:
            calls.append("query")
            if calls.count("query") == 1:
                raise RuntimeError("the query failed")

        @task
        def delete() -> None:
            calls.append("delete")

        made = create()
        made >> query() >> delete().as_teardown(setups=made)
    async with Engine(MemoryStore(), dags=[dag]) as engine:
        first = await engine.run("cluster")
        assert first.state is DagRunState.FAILED
        await engine.actions.clear(first, ["query"])
        with anyio.fail_after(10):
            again = await engine.wait(first)
    assert again.state is DagRunState.SUCCESS
    assert calls == ["create", "query", "delete", "create", "query", "delete"]
    assert {again.ti(t).try_number for t in ("create", "query", "delete")} == {2}
