"""Engines sharing one PostgreSQL database: claims, queues, pools, notices, schedules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from postgres_server import fresh_schema, terminate_connections

from asyncflow import DAG, DagRunState, Engine, TaskState, task
from asyncflow.engine.cluster import Cluster
from asyncflow.settings import Settings
from asyncflow.storage.postgres import PostgresStore
from asyncflow.testing import wait_for_state

pytestmark = pytest.mark.anyio


@pytest.fixture
async def url() -> AsyncIterator[str]:
    """A store URL in a fresh schema of the test server."""
    async with fresh_schema() as url:
        yield url


def cluster_of(engine: Engine) -> Cluster:
    """The engine's part in the cluster (it has one: its store is PostgreSQL)."""
    assert engine.cluster is not None
    return engine.cluster


def naps(count: int, *, seconds: float = 0.05, **keywords: Any) -> DAG:
    """A DAG of ``count`` parallel tasks that each await ``seconds`` of I/O."""
    with DAG("naps") as built:
        for i in range(count):

            @task(task_id=f"nap{i}", **keywords)
            async def nap() -> None:
                await anyio.sleep(seconds)

            nap()
    return built


async def test_two_engines_share_the_instances_of_one_run(url: str) -> None:
    """Two engines with four slots each both claim instances of one run; each runs once."""
    built = naps(40)
    async with (
        Engine(url, dags=[built], max_active_tasks=4) as first,
        Engine(url, dags=[built], max_active_tasks=4) as second,
    ):
        with anyio.fail_after(30):
            result = await first.run("naps")
        claimed = [cluster_of(first).claimer.claimed, cluster_of(second).claimer.claimed]
    assert result.state is DagRunState.SUCCESS
    assert {(ti.state, ti.try_number) for ti in result.task_instances} == {(TaskState.SUCCESS, 1)}
    assert sum(claimed) == 40
    assert min(claimed) > 0, claimed


async def test_a_run_driven_by_one_engine_is_awaited_from_another(url: str) -> None:
    """A run triggered through one engine finishes; the other engine's wait sees it end."""
    built = naps(5)
    async with (
        Engine(url, dags=[built]) as first,
        Engine(url, dags=[built]) as second,
    ):
        handle = await first.trigger("naps")
        with anyio.fail_after(30):
            result = await second.wait(handle)
    assert result.state is DagRunState.SUCCESS


async def test_an_instance_runs_only_on_an_engine_that_takes_its_queue(url: str) -> None:
    """A task in queue "gpu" waits, offered, until an engine taking "gpu" joins, which runs it."""
    ran_on: list[str] = []
    with DAG("queued") as built:

        @task
        async def everywhere() -> None:
            ran_on.append("default")

        @task(queue="gpu")
        async def on_gpu() -> None:
            ran_on.append("gpu")

        everywhere() >> on_gpu()
    quick = Settings.from_env(postgres_lease_ttl_seconds=3)  # an idle engine claims every 1 s
    async with Engine(url, dags=[built], settings=quick) as cpu:
        handle = await cpu.trigger("queued")
        await wait_for_state(cpu, handle, "on_gpu", TaskState.SCHEDULED)
        async with Engine(url, dags=[built], queues=["gpu"], settings=quick) as gpu:
            with anyio.fail_after(30):
                result = await cpu.wait(handle)
            gpu_claims = cluster_of(gpu).claimer.claimed
    assert result.state is DagRunState.SUCCESS
    assert ran_on == ["default", "gpu"]
    assert gpu_claims == 1
    assert cluster_of(cpu).claimer.claimed == 1


@pytest.mark.parametrize(
    ("dag_keywords", "task_keywords", "most_at_once"),
    [
        ({}, {"pool": "db"}, 2),  # the pool's 2 slots
        ({"max_active_tasks": 3}, {}, 3),  # the DAG's limit
        ({"max_active_tasks": 3}, {"pool": "db"}, 2),  # both: the smaller
    ],
    ids=["pool", "dag", "pool-and-dag"],
)
async def test_pools_and_dag_limits_hold_across_engines(
    url: str, dag_keywords: dict[str, int], task_keywords: dict[str, str], most_at_once: int
) -> None:
    """A pool of 2 slots, a DAG's max_active_tasks of 3: never exceeded across two engines."""
    running = [0]
    most = [0]
    with DAG("limited", **dag_keywords) as built:
        for i in range(12):

            @task(task_id=f"t{i}", **task_keywords)
            async def use_db() -> None:
                running[0] += 1
                most[0] = max(most[0], running[0])
                await anyio.sleep(0.05)
                running[0] -= 1

            use_db()
    async with (
        Engine(url, dags=[built], pools={"db": 2}) as first,
        Engine(url, dags=[built], pools={"db": 2}) as second,
    ):
        with anyio.fail_after(30):
            result = await first.run("limited")
        claimed = [cluster_of(first).claimer.claimed, cluster_of(second).claimer.claimed]
    assert result.state is DagRunState.SUCCESS
    assert most[0] == most_at_once
    assert sum(claimed) == 12


async def test_a_dags_max_active_runs_holds_across_engines(url: str) -> None:
    """Two engines each triggering three runs of a DAG with max_active_runs=1 run one at a time."""
    running = [0]
    most = [0]
    with DAG("one_at_a_time", max_active_runs=1) as built:

        @task
        async def hold() -> None:
            running[0] += 1
            most[0] = max(most[0], running[0])
            await anyio.sleep(0.1)
            running[0] -= 1

        hold()
    async with (
        Engine(url, dags=[built]) as first,
        Engine(url, dags=[built]) as second,
        anyio.create_task_group() as serving,
    ):
        serving.start_soon(first.serve)
        serving.start_soon(second.serve)
        handles = [await engine.trigger("one_at_a_time") for engine in (first, second) * 3]
        # the other engine may have started a run first: then every handle says queued
        assert sum(h.state is DagRunState.RUNNING for h in handles) <= 1
        with anyio.fail_after(30):
            results = [await first.wait(handle) for handle in handles]
        serving.cancel_scope.cancel()
    assert [r.state for r in results] == [DagRunState.SUCCESS] * 6
    assert most[0] == 1


async def test_a_run_marked_failed_stops_its_tries_in_every_engine(url: str) -> None:
    """Tries of a run running in the other engine are stopped too when its driver fails it."""
    started, stopped = anyio.Event(), anyio.Event()
    running: list[str] = []
    with DAG("endless") as built:
        for i in range(8):  # each engine claims 4 (2 slots and 2 to come), runs 2

            @task(task_id=f"t{i}")
            async def endless() -> None:
                running.append("x")
                if len(running) == 4:
                    started.set()
                try:
                    await anyio.sleep_forever()
                finally:
                    running.pop()
                    if not running:
                        stopped.set()

            endless()
    async with (
        Engine(url, dags=[built], max_active_tasks=2) as first,
        Engine(url, dags=[built], max_active_tasks=2) as second,
    ):
        handle = await first.trigger("endless")
        with anyio.fail_after(20):
            await started.wait()
            assert cluster_of(second).claimer.claimed > 0
            assert await first.mark_failed(handle, "stopped by the operator")
            await stopped.wait()
            result = await second.wait(handle)
    assert result.state is DagRunState.FAILED
    assert {(ti.state, ti.error) for ti in result.task_instances} == {
        (TaskState.FAILED, "stopped by the operator"),  # the four that ran, in both engines
        (TaskState.SKIPPED, None),  # the four that waited for a slot
    }


async def test_notify_on_one_engine_wakes_a_sensor_waiting_in_another(url: str) -> None:
    """engine.notify(key) on the driving engine wakes a poke-mode sensor held by the other."""
    ready = anyio.Event()
    with DAG("woken") as built:

        @task.sensor(poke_interval=600, wake_on=["orders"], queue="sensors")
        def orders_landed() -> bool:
            return ready.is_set()

        orders_landed()
    async with (
        Engine(url, dags=[built]) as driver,
        Engine(url, dags=[built], queues=["sensors"]) as watcher,
    ):
        handle = await driver.trigger("woken")
        await wait_for_state(driver, handle, "orders_landed", TaskState.RUNNING)
        ready.set()
        await driver.notify("orders")
        with anyio.fail_after(10):
            result = await driver.wait(handle)
        assert cluster_of(watcher).claimer.claimed == 1
    assert result.state is DagRunState.SUCCESS


async def test_two_engines_on_one_schedule_create_each_run_once(url: str) -> None:
    """Two engines serving one schedule create each of its runs once, and each run succeeds."""
    # three hours of whole hours before now: exactly three intervals have ended
    start = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    with DAG("hourly", schedule="@hourly", start_date=start, catchup=True) as built:

        @task
        async def tick() -> None:
            pass

        tick()
    async with (
        Engine(url, dags=[built]) as first,
        Engine(url, dags=[built]) as second,
        anyio.create_task_group() as serving,
    ):
        serving.start_soon(first.serve)
        serving.start_soon(second.serve)
        with anyio.move_on_after(30):
            for _ in range(1500):
                runs = await first.store.list_runs("hourly")
                if len(runs) == 3 and all(r.state is DagRunState.SUCCESS for r in runs):
                    break
                await anyio.sleep(0.02)
        serving.cancel_scope.cancel()
    assert [r.state for r in runs] == [DagRunState.SUCCESS] * 3, runs
    assert len({run.run_id for run in runs}) == 3


async def test_a_run_of_an_engine_that_stops_is_adopted_by_another(url: str) -> None:
    """When the engine driving a run stops, another adopts the run and finishes it."""
    settings = Settings.from_env(postgres_lease_ttl_seconds=3)
    release = anyio.Event()
    with DAG("handover") as built:

        @task(queue="slow")
        async def slow() -> None:
            await release.wait()

        @task
        async def after() -> str:
            return "done"

        slow() >> after()
    worker_queues = ["slow", "default"]
    async with Engine(url, dags=[built], settings=settings, queues=worker_queues) as worker:
        async with Engine(url, dags=[built], settings=settings) as driver:
            handle = await driver.trigger("handover")
            await wait_for_state(driver, handle, "slow", TaskState.RUNNING)
        # the driver has gone; the worker, still running "slow", adopts the run at once
        release.set()
        with anyio.fail_after(10):
            result = await worker.wait(handle)
    assert result.state is DagRunState.SUCCESS
    assert result.xcom("after") == "done"
    assert isinstance(worker.store, PostgresStore)


async def test_two_engines_ride_out_every_connection_being_killed(url: str) -> None:
    """Every connection of both engines killed mid-run (the listeners too): the run succeeds."""
    started = anyio.Event()
    with DAG("survives") as built:
        for i in range(20):

            @task(task_id=f"t{i}")
            async def step() -> None:
                started.set()
                await anyio.sleep(0.2)

            step()
    settings = Settings.from_env(postgres_lease_ttl_seconds=3)
    async with (
        Engine(url, dags=[built], max_active_tasks=5, settings=settings) as first,
        Engine(url, dags=[built], max_active_tasks=5, settings=settings) as second,
    ):
        handle = await first.trigger("survives")
        with anyio.fail_after(10):
            await started.wait()
        assert await terminate_connections(url) >= 4  # two pools and two listeners
        with anyio.move_on_after(30):
            await second.wait(handle)
        result = await second.get_run(handle)
        assert result.state is DagRunState.SUCCESS, (
            [(ti.task_id, ti.state) for ti in result.task_instances],
            first.stats,
            second.stats,
        )
    assert result.state is DagRunState.SUCCESS
    assert {(ti.state, ti.try_number) for ti in result.task_instances} == {(TaskState.SUCCESS, 1)}
