"""A run cleared or marked from another process (a separate ``asyncflow web``), on real stores.

The other process changes the finished run in the store alone; the engine
serving the store starts the queued run and decides what is left, on SQLite
(one owner, the other a plain reader and writer) and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from postgres_server import fresh_schema

from asyncflow import DAG, DagRunState, EmptyOperator, Engine, TaskState, task
from asyncflow.engine.run_actions import RunActions
from asyncflow.results import DagRunResult
from asyncflow.settings import Settings
from asyncflow.storage import open_store

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgres"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A store URL of each backend: a SQLite file in tmp_path, a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/actions.db"
    else:
        async with fresh_schema() as pg_url:
            yield pg_url


def etl(calls: list[int]) -> DAG:
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


async def changed_elsewhere(url: str, dag: DAG, change: str, run: DagRunResult) -> None:
    """What a separate web process does: the store alone, no engine."""
    settings = Settings.from_env()
    other = open_store(url, settings)
    await other.open()
    try:
        actions = RunActions(
            store=other, dags={dag.dag_id: dag}, now=lambda: datetime.now(UTC), logs_folder=None
        )
        if change == "clear":
            await actions.clear(run, ["extract"], downstream=True)
        else:
            await actions.set_task_state(run, "extract", TaskState.SUCCESS)
    finally:
        await other.close()


@pytest.mark.parametrize("change", ["clear", "success"])
async def test_the_serving_engine_finishes_a_run_changed_elsewhere(url: str, change: str) -> None:
    """After a clear (extract runs try 2) or a success mark, load runs and the run succeeds."""
    calls: list[int] = []
    dag = etl(calls)
    async with Engine(url, dags=[dag], task_logs=False) as engine:
        first = await engine.run("etl")
        assert first.state is DagRunState.FAILED
        await changed_elsewhere(url, dag, change, first)
        async with anyio.create_task_group() as tg:
            tg.start_soon(engine.serve)
            with anyio.fail_after(15):
                again = await engine.wait(first)
            tg.cancel_scope.cancel()
    assert again.state is DagRunState.SUCCESS
    assert again.ti("load").state is TaskState.SUCCESS
    if change == "clear":
        assert (again.ti("extract").try_number, again.xcom("extract"), calls) == (2, 2, [1, 2])
    else:
        assert (again.ti("extract").try_number, calls) == (1, [1])
