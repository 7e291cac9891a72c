"""engine.stats: the engine's slots and queue depths as a frozen snapshot, read cheaply."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import anyio
import pytest

from asyncflow import DAG, Engine, TaskState, task
from asyncflow.engine.stats import EngineStats, PoolStats
from asyncflow.settings import Settings
from asyncflow.testing import FakeClock, MemoryStore, wait_for_state

pytestmark = pytest.mark.anyio

NO_JITTER = Settings.from_env(poke_jitter=0.0)  # the next poke is due exactly poke_interval on


async def test_a_fresh_engine_is_idle_with_its_pools_empty() -> None:
    """Before any run, nothing runs or waits, and each pool shows its capacity unused."""
    async with Engine(MemoryStore(), max_active_tasks=8, pools={"db": 3}) as engine:
        stats = engine.stats
    assert stats == EngineStats(
        max_active_tasks=8,
        running=0,
        waiting=0,
        held=0,
        timers=0,
        pools={"db": PoolStats(used=0, capacity=3)},
        active_runs=0,
        queued_runs=0,
    )
    assert stats.idle


async def test_stats_are_a_frozen_snapshot() -> None:
    """A snapshot cannot be changed, and its pools mapping is read-only."""
    async with Engine(MemoryStore(), pools={"db": 1}) as engine:
        stats = engine.stats
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.running = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        stats.pools["db"] = PoolStats(used=1, capacity=1)  # type: ignore[index]


async def test_running_waiting_and_pool_slots_are_counted() -> None:
    """Four tasks in a two-slot pool: two run taking the pool's slots, two wait for a slot."""
    release = anyio.Event()
    started: list[int] = []
    with DAG("pooled") as built:

        @task(pool="db")
        async def query(i: int) -> None:
            started.append(i)
            await release.wait()

        query.expand(i=[0, 1, 2, 3])
    async with Engine(MemoryStore(), dags=[built], pools={"db": 2}) as engine:
        run = await engine.trigger("pooled")
        await wait_for_state(engine, run, "query", TaskState.RUNNING, map_index=1)
        stats = engine.stats
        release.set()
        with anyio.fail_after(10):
            await engine.wait(run)
        after = engine.stats
    assert (stats.running, stats.waiting, stats.active_runs) == (2, 2, 1)
    assert stats.pools["db"] == PoolStats(used=2, capacity=2)
    assert (after.running, after.waiting, after.active_runs) == (0, 0, 0)
    assert after.pools["db"].used == 0


async def test_a_poke_sensor_between_pokes_is_held_and_keeps_its_slot() -> None:
    """A poke-mode sensor waiting for its next poke is running, held, with a timer entry."""
    with DAG("held") as built:

        @task.sensor(poke_interval=60, timeout=3600)
        async def wait() -> bool:
            return False

        wait()
    clock = FakeClock()
    async with Engine(MemoryStore(), dags=[built], clock=clock, settings=NO_JITTER) as engine:
        run = await engine.trigger("held")
        with anyio.fail_after(10):
            await clock.sleeping_until(clock.now() + timedelta(seconds=60))
        stats = engine.stats
    assert (stats.running, stats.held, stats.timers, stats.waiting) == (1, 1, 1, 0)
    assert not stats.idle
    assert run.run_id


async def test_a_parked_reschedule_sensor_frees_its_slot_and_leaves_a_timer() -> None:
    """A reschedule-mode sensor between pokes holds no slot: it is one timer entry."""
    with DAG("parked") as built:

        @task.sensor(mode="reschedule", poke_interval=60, timeout=3600)
        async def wait() -> bool:
            return False

        wait()
    clock = FakeClock()
    async with Engine(MemoryStore(), dags=[built], clock=clock, settings=NO_JITTER) as engine:
        run = await engine.trigger("parked")
        await wait_for_state(engine, run, "wait", TaskState.UP_FOR_RESCHEDULE)
        with anyio.fail_after(10):
            await clock.sleeping_until(clock.now() + timedelta(seconds=60))
        stats = engine.stats
    assert (stats.running, stats.held, stats.timers, stats.active_runs) == (0, 0, 1, 1)


async def test_runs_over_max_active_runs_are_counted_as_queued() -> None:
    """A second run of a DAG with max_active_runs=1 is queued while the first runs."""
    release = anyio.Event()
    with DAG("one_at_a_time", max_active_runs=1) as built:

        @task
        async def work() -> None:
            await release.wait()

        work()
    async with Engine(MemoryStore(), dags=[built]) as engine:
        first = await engine.trigger("one_at_a_time", logical_date=None)
        second = await engine.trigger("one_at_a_time", conf={"n": 2})
        await wait_for_state(engine, first, "work", TaskState.RUNNING)
        stats = engine.stats
        release.set()
        with anyio.fail_after(10):
            await engine.wait(second)
    assert (stats.active_runs, stats.queued_runs) == (1, 1)
