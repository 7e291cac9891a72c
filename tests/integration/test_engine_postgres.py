"""The engine on a real PostgreSQL database: a run, its retries, mapping, XCom, sensors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from postgres_server import fresh_schema

from asyncflow import DAG, DagRunState, EmptyOperator, Engine, TaskState, dag, task
from asyncflow.exceptions import LeaseLost
from asyncflow.settings import Settings
from asyncflow.storage.postgres import PostgresStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def url() -> AsyncIterator[str]:
    """A store URL in a fresh schema of the test server."""
    async with fresh_schema() as url:
        yield url


def mixed(pokes: list[int]) -> Any:
    """A DAG whose task fails once, maps over its result, and waits on a sensor poked thrice."""

    @dag()
    def mixed() -> None:
        @task(retries=1, retry_delay=0)
        def flaky(ti: Any) -> list[int]:
            if ti.try_number == 1:
                raise RuntimeError("first try fails")
            return [1, 2, 3]

        @task
        async def double(x: int) -> int:
            return 2 * x

        @task.sensor(poke_interval=0.05, mode="reschedule", timeout=30)
        def ready() -> bool:
            pokes.append(1)
            return len(pokes) == 3

        @task
        def total(values: list[int]) -> dict[str, int]:
            return {"total": sum(values)}

        ready() >> total(double.expand(x=flaky()))

    return mixed()


async def test_a_run_with_retries_mapping_and_a_reschedule_sensor_succeeds(url: str) -> None:
    """On PostgreSQL a run retries, maps and reschedules; a new engine reads it all back."""
    pokes: list[int] = []
    async with Engine(url, dags=[mixed(pokes)]) as engine:
        with anyio.fail_after(30):
            first = await engine.run("mixed", conf={"source": "s3"})
    async with Engine(url) as reopened:
        again = await reopened.get_run(first.run_id)
    assert again.state is DagRunState.SUCCESS
    assert again.conf == {"source": "s3"}
    flaky = again.ti("flaky")
    assert (flaky.state, flaky.try_number, flaky.error) == (
        TaskState.SUCCESS,
        2,
        "RuntimeError: first try fails",
    )
    assert [again.xcom("double", map_index=i) for i in range(3)] == [2, 4, 6]
    assert again.xcom("total") == {"total": 12}
    assert again.ti("ready").state is TaskState.SUCCESS
    assert len(pokes) == 3


async def test_a_thousand_parallel_tasks_share_transactions(url: str) -> None:
    """1,000 parallel tasks on PostgreSQL commit their state changes in far fewer transactions."""

    @dag()
    def wide() -> None:
        for i in range(1000):
            EmptyOperator(task_id=f"t{i}")

    async with Engine(url, dags=[wide()]) as engine:
        before = engine.store.stats.transactions
        with anyio.fail_after(30):
            result = await engine.run("wide")
        used = engine.store.stats.transactions - before
    assert result.state is DagRunState.SUCCESS
    assert all(ti.state is TaskState.SUCCESS for ti in result.task_instances)
    assert used < 100, used


async def test_a_serving_engine_keeps_its_lease_past_the_ttl(url: str) -> None:
    """An engine renews its lease by heartbeat: after several lease periods it is still live."""
    settings = Settings.from_env(postgres_lease_ttl_seconds=0.3)
    with DAG("waits") as built:

        @task
        async def nap() -> None:
            await anyio.sleep(1.0)  # more than three lease periods

        nap()
    async with Engine(url, dags=[built], settings=settings) as engine:
        with anyio.fail_after(10):
            result = await engine.run("waits")
        assert isinstance(engine.store, PostgresStore)
        (lease,) = await engine.store.engines()
        assert lease.engine == engine.identity
        assert lease.live
    assert result.state is DagRunState.SUCCESS


async def test_an_engine_whose_lease_was_taken_stops_with_lease_lost(url: str) -> None:
    """An engine that finds its lease gone (taken over after it expired) stops, saying why."""
    settings = Settings.from_env(postgres_lease_ttl_seconds=0.3)

    async def serve_until_lost() -> None:
        async with Engine(url, settings=settings) as engine:
            assert isinstance(engine.store, PostgresStore)
            await engine.store.release(engine.identity)  # as a takeover deletes the row
            with anyio.fail_after(5):
                await engine.serve()

    with pytest.raises(BaseException) as stopped:  # noqa: PT011 - checked just below
        await serve_until_lost()
    errors = (
        stopped.value.exceptions
        if isinstance(stopped.value, BaseExceptionGroup)
        else [stopped.value]
    )
    assert any(isinstance(error, LeaseLost) for error in errors), errors
