"""The engine on a real SQLite file: persistence across engines and group commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncflow import DagRunState, EmptyOperator, Engine, TaskState, dag, task

pytestmark = pytest.mark.anyio


@dag()
def persisted() -> None:
    @task(retries=1, retry_delay=0)
    def flaky(ti: Any) -> dict[str, int]:
        if ti.try_number == 1:
            raise RuntimeError("first try fails")
        return {"rows": 3}

    @task
    async def load(data: dict[str, int]) -> int:
        return data["rows"]

    load(flaky())


async def test_a_finished_run_is_read_back_by_a_new_engine(tmp_path: Path) -> None:
    """States, tries, errors and XCom of a run survive closing the engine."""
    url = f"sqlite:///{tmp_path / 'af.db'}"
    async with Engine(url, dags=[persisted()]) as engine:
        with anyio.fail_after(10):
            first = await engine.run("persisted", conf={"source": "s3"})
    async with Engine(url) as reopened:
        again = await reopened.get_run(first.run_id)
    assert again.state is DagRunState.SUCCESS
    assert again.conf == {"source": "s3"}
    flaky = again.ti("flaky")
    assert (flaky.state, flaky.try_number) == (TaskState.SUCCESS, 2)
    assert flaky.error == "RuntimeError: first try fails"
    assert again.xcom("flaky") == {"rows": 3}
    assert again.xcom("load") == 3
    assert again.ti("load").start_date == first.ti("load").start_date


async def test_concurrent_state_changes_share_transactions(tmp_path: Path) -> None:
    """1,000 parallel tasks commit their 2,000 state changes in far fewer transactions."""

    @dag()
    def wide() -> None:
        for i in range(1000):
            EmptyOperator(task_id=f"t{i}")

    async with Engine(f"sqlite:///{tmp_path / 'wide.db'}", dags=[wide()]) as engine:
        before = engine.store.stats.transactions
        with anyio.fail_after(30):
            result = await engine.run("wide")
        used = engine.store.stats.transactions - before
    assert result.state is DagRunState.SUCCESS
    assert all(ti.state is TaskState.SUCCESS for ti in result.task_instances)
    assert used < 100, used


async def test_a_run_id_shared_by_two_dags_needs_the_dag_id(tmp_path: Path) -> None:
    """Two DAGs with a run at the same logical date are told apart by dag_id."""
    from datetime import UTC, datetime

    from asyncflow.exceptions import DagRunNotFound

    @dag()
    def first() -> None:
        EmptyOperator(task_id="a")

    @dag()
    def second() -> None:
        EmptyOperator(task_id="b")

    when = datetime(2026, 1, 1, tzinfo=UTC)
    async with Engine(f"sqlite:///{tmp_path / 'two.db'}", dags=[first(), second()]) as engine:
        one = await engine.run("first", logical_date=when)
        await engine.run("second", logical_date=when)
        with pytest.raises(DagRunNotFound, match="exists in several DAGs"):
            await engine.get_run(one.run_id)
        assert (await engine.get_run(one.run_id, dag_id="second")).dag_id == "second"


async def test_a_lingering_reschedule_write_holds_no_slot(tmp_path: Path) -> None:
    """With one slot, a task starts while a reschedule sensor's poke is still being stored."""
    from asyncflow.storage.sqlite import SqliteStore

    poked, started = anyio.Event(), anyio.Event()

    @dag()
    def one_slot() -> None:
        @task.sensor(poke_interval=60, mode="reschedule", priority_weight=10)
        async def wait() -> bool:
            poked.set()
            return False

        @task
        async def other() -> None:
            started.set()

        wait()
        other()

    store = SqliteStore(tmp_path / "af.db", linger=3)  # a lone patient write waits 3 s
    async with Engine(store, dags=[one_slot()], max_active_tasks=1) as engine:
        await engine.trigger("one_slot")
        with anyio.fail_after(10):  # the sensor's own start lingers too
            await poked.wait()
        with anyio.fail_after(1.5):  # not the 3 s of the poke's write
            await started.wait()


async def test_a_notify_while_a_reschedule_is_stored_is_not_lost(tmp_path: Path) -> None:
    """notify() during the write of a not-done poke makes the sensor poke again at once."""
    from asyncflow.storage.sqlite import SqliteStore

    poked = anyio.Event()

    @dag()
    def notified() -> None:
        @task.sensor(poke_interval=60, mode="reschedule", wake_on=["go"])
        async def wait(ti: Any) -> bool:
            poked.set()
            return ti.poke_count >= 1

        wait()

    store = SqliteStore(tmp_path / "af.db", linger=0.5)
    async with Engine(store, dags=[notified()]) as engine:
        run = await engine.trigger("notified")
        with anyio.fail_after(5):
            await poked.wait()
        assert await engine.notify("go") == 1
        with anyio.fail_after(5):
            result = await engine.wait(run.run_id)
    assert result.ti("wait").state is TaskState.SUCCESS
