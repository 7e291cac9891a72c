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
