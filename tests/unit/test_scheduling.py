"""The scheduler on a fake clock: scheduled runs, catchup, max_active_runs and pausing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from asyncflow import DAG, DagRunState, EmptyOperator, Engine, task
from asyncflow.engine.new_runs import queue_manual_run
from asyncflow.engine.scheduler import MAX_SLEEP
from asyncflow.settings import Settings
from asyncflow.storage import Store, open_store
from asyncflow.testing import FakeClock, MemoryStore

pytestmark = pytest.mark.anyio

START = datetime(2026, 1, 1, tzinfo=UTC)


def daily(dag_id: str, *, catchup: bool, seen: list[Any], **kwargs: Any) -> DAG:
    """A daily DAG whose one task records its data interval."""
    with DAG(dag_id, schedule="@daily", start_date=START, catchup=catchup, **kwargs) as built:

        @task
        def record(data_interval_start: datetime, data_interval_end: datetime, run_id: str) -> None:
            seen.append((data_interval_start, data_interval_end, run_id))

        record()
    return built


@asynccontextmanager
async def serving(engine: Engine) -> AsyncIterator[None]:
    """Run engine.serve() for the duration of the block."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(engine.serve)
        yield
        tg.cancel_scope.cancel()


@asynccontextmanager
async def asking(url: str) -> AsyncIterator[Store]:
    """The store as another process's CLI reaches it: opened, not owned."""
    store = open_store(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def settle(engine: Engine, dag_id: str, count: int) -> list[Any]:
    """Wait (bounded) until the DAG has ``count`` finished runs; return them."""
    with anyio.fail_after(10):
        while True:
            runs = await engine.store.list_runs(dag_id)
            finished = [r for r in runs if r.state in (DagRunState.SUCCESS, DagRunState.FAILED)]
            if len(finished) >= count:
                return finished
            await anyio.lowlevel.checkpoint()  # the in-memory store: no real time needed


async def test_catchup_creates_every_missed_run_oldest_first() -> None:
    """Five days after start_date with catchup, four daily runs are created and run."""
    seen: list[Any] = []
    clock = FakeClock(START + timedelta(days=4, hours=6))
    async with (
        Engine(MemoryStore(), dags=[daily("etl", catchup=True, seen=seen)], clock=clock) as engine,
        serving(engine),
    ):
        runs = await settle(engine, "etl", 4)
    assert sorted(r.run_id for r in runs) == [
        f"scheduled__2026-01-0{d}T00:00:00.000000+00:00" for d in (1, 2, 3, 4)
    ]
    assert sorted(seen)[0][:2] == (START, START + timedelta(days=1))
    assert all(r.run_type == "scheduled" for r in runs)


async def test_without_catchup_only_the_latest_interval_runs_then_the_next_on_time() -> None:
    """catchup=False runs the latest interval, then the next when it ends."""
    seen: list[Any] = []
    clock = FakeClock(START + timedelta(days=4, hours=6))
    async with (
        Engine(MemoryStore(), dags=[daily("etl", catchup=False, seen=seen)], clock=clock) as engine,
        serving(engine),
    ):
        first = await settle(engine, "etl", 1)
        with anyio.fail_after(5):  # the scheduler naps at most a minute at a time
            await clock.sleeping_until(clock.now() + MAX_SLEEP)
        clock.advance(START + timedelta(days=5) - clock.now())
        runs = await settle(engine, "etl", 2)
    assert first[0].logical_date == START + timedelta(days=3)
    assert sorted(r.logical_date for r in runs) == [
        START + timedelta(days=3),
        START + timedelta(days=4),
    ]


async def test_max_active_runs_queues_the_rest() -> None:
    """With max_active_runs=1 catchup runs one at a time, oldest first."""
    gate, first_started = anyio.Event(), anyio.Event()
    order: list[str] = []
    with DAG("slow", schedule="@daily", start_date=START, catchup=True, max_active_runs=1) as built:

        @task
        async def step(run_id: str) -> None:
            order.append(run_id)
            first_started.set()
            await gate.wait()

        step()
    clock = FakeClock(START + timedelta(days=3, hours=1))
    async with Engine(MemoryStore(), dags=[built], clock=clock) as engine, serving(engine):
        with anyio.fail_after(5):
            await first_started.wait()
        states = [r.state for r in await engine.store.list_runs("slow")]
        assert sorted(states) == ["queued", "queued", "running"]
        gate.set()
        await settle(engine, "slow", 3)
    assert order == sorted(order)
    assert len(order) == 3


async def test_a_paused_dag_creates_no_runs_until_unpaused() -> None:
    """Pausing is remembered by the store; unpausing schedules again."""
    seen: list[Any] = []
    store = MemoryStore()
    clock = FakeClock(START + timedelta(days=2, hours=1))
    async with Engine(store, dags=[daily("etl", catchup=True, seen=seen)], clock=clock) as engine:
        await engine.pause("etl")
    async with (
        Engine(store, dags=[daily("etl", catchup=True, seen=seen)], clock=clock) as engine,
        serving(engine),
    ):
        await anyio.lowlevel.checkpoint()
        assert await engine.scheduler.tick() is None  # nothing to schedule while paused
        assert await engine.store.list_runs("etl") == []
        await engine.unpause("etl")
        runs = await settle(engine, "etl", 2)
    assert len(runs) == 2


async def test_manual_dags_are_never_scheduled() -> None:
    """A DAG with schedule=None gets no scheduled runs."""
    with DAG("manual", start_date=START) as built:
        EmptyOperator(task_id="a")
    async with Engine(
        MemoryStore(), dags=[built], clock=FakeClock(START + timedelta(days=9))
    ) as engine:
        assert await engine.scheduler.tick() is None
        assert await engine.store.list_runs("manual") == []


async def test_a_run_queued_by_another_engine_is_picked_up_by_the_serving_one(
    tmp_path: Path,
) -> None:
    """queue() stores a run; the serving engine starts it on its next scheduler tick."""
    store = f"sqlite:///{tmp_path / 'af.db'}"
    ran: list[str] = []
    with DAG("on_demand") as built:

        @task
        def work(run_id: str) -> None:
            ran.append(run_id)

        work()
    clock = FakeClock()
    async with Engine(store, dags=[built], clock=clock) as server, serving(server):
        with anyio.fail_after(5):
            await clock.sleeping_until(clock.now() + MAX_SLEEP)
        async with asking(store) as cli_side:
            queued = await queue_manual_run(cli_side, built, {"x": 1}, None, datetime.now(UTC))
        assert queued is not None
        assert queued.state is DagRunState.QUEUED
        assert ran == []
        clock.advance(MAX_SLEEP)
        with anyio.fail_after(10):
            result = await server.wait(queued.run_id)
    assert result.state is DagRunState.SUCCESS
    assert result.conf == {"x": 1}
    assert ran == [queued.run_id]


async def test_scheduler_poll_seconds_sets_how_soon_queued_runs_start(tmp_path: Path) -> None:
    """With ``scheduler_poll_seconds=1`` the scheduler naps a second: a queued run starts then."""
    store = f"sqlite:///{tmp_path / 'af.db'}"
    with DAG("prompt") as built:
        EmptyOperator(task_id="a")
    clock = FakeClock()
    settings = Settings.from_env(scheduler_poll_seconds=1.0)
    async with (
        Engine(store, dags=[built], clock=clock, settings=settings) as server,
        serving(server),
    ):
        with anyio.fail_after(5):
            await clock.sleeping_until(clock.now() + timedelta(seconds=1))
        async with asking(store) as cli_side:
            queued = await queue_manual_run(cli_side, built, None, None, datetime.now(UTC))
        assert queued is not None
        clock.advance(timedelta(seconds=1))
        with anyio.fail_after(10):
            result = await server.wait(queued.run_id)
    assert result.state is DagRunState.SUCCESS


async def test_a_queued_run_of_a_paused_dag_waits_for_the_unpause(tmp_path: Path) -> None:
    """Runs queued for a paused DAG stay queued until another process unpauses it."""
    store = f"sqlite:///{tmp_path / 'af.db'}"
    with DAG("held") as built:
        EmptyOperator(task_id="a")
    clock = FakeClock()
    async with asking(store) as cli_side:
        await cli_side.set_dag_paused("held", True)
        queued = await queue_manual_run(cli_side, built, None, None, datetime.now(UTC))
    assert queued is not None
    async with Engine(store, dags=[built], clock=clock) as server, serving(server):
        with anyio.fail_after(5):
            await clock.sleeping_until(clock.now() + MAX_SLEEP)
        assert (await server.get_run(queued.run_id)).state is DagRunState.QUEUED
        async with asking(store) as cli_side:  # what `asyncflow dags unpause` does
            await cli_side.set_dag_paused("held", False)
        clock.advance(MAX_SLEEP)
        with anyio.fail_after(10):
            result = await server.wait(queued.run_id)
    assert result.state is DagRunState.SUCCESS
