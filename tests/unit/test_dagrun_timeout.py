"""dagrun_timeout: a run still going after it fails; its running tries stop, the rest skip."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from asyncflow import DAG, DagRunState, EmptyOperator, Engine, TaskState, task
from asyncflow.testing import FakeClock, MemoryStore

pytestmark = pytest.mark.anyio


async def test_a_run_past_its_timeout_fails_and_stops_its_tasks() -> None:
    """The running task is failed with the reason; tasks not yet run are skipped; done ones stay."""
    started = anyio.Event()
    with DAG("bounded", dagrun_timeout=timedelta(minutes=10)) as built:

        @task
        async def slow() -> None:
            started.set()
            await anyio.sleep_forever()

        @task
        def quick() -> str:
            return "done"

        quick() >> slow() >> EmptyOperator(task_id="after")
    clock = FakeClock()
    async with Engine(MemoryStore(), dags=[built], clock=clock) as engine:
        run = await engine.trigger("bounded")
        deadline = clock.now() + timedelta(minutes=10)
        with anyio.fail_after(5):
            await started.wait()
            await clock.sleeping_until(deadline)
        clock.advance(timedelta(minutes=10))
        with anyio.fail_after(5):
            result = await engine.wait(run.run_id)
        stored = await engine.get_run(run.run_id)
    assert result.state is DagRunState.FAILED
    assert result.end_date == deadline
    slow_ti = stored.ti("slow")
    assert slow_ti.state is TaskState.FAILED
    assert slow_ti.error is not None
    assert "exceeded its dagrun_timeout of 0:10:00" in slow_ti.error
    assert stored.ti("after").state is TaskState.SKIPPED
    assert stored.ti("quick").state is TaskState.SUCCESS


async def test_a_poke_sensor_waiting_between_pokes_fails_with_its_run() -> None:
    """A poke-mode sensor holding its slot between pokes is failed by the run's timeout."""
    poked = anyio.Event()
    with DAG("bounded_sensor", dagrun_timeout=timedelta(minutes=10)) as built:

        @task.sensor(poke_interval=3600)
        async def wait() -> bool:
            poked.set()
            return False

        wait()
    clock = FakeClock()
    async with Engine(MemoryStore(), dags=[built], clock=clock) as engine:
        run = await engine.trigger("bounded_sensor")
        with anyio.fail_after(5):
            await poked.wait()
        assert engine.stats.running == 1
        clock.advance(timedelta(minutes=10))
        with anyio.fail_after(5):
            result = await engine.wait(run.run_id)
        assert engine.stats.running == 0
        stored = await engine.get_run(run.run_id)
    assert result.state is DagRunState.FAILED
    wait_ti = stored.ti("wait")
    assert wait_ti.state is TaskState.FAILED
    assert wait_ti.error is not None
    assert "exceeded its dagrun_timeout of 0:10:00" in wait_ti.error


async def test_a_poke_sensor_in_a_later_poke_that_waits_fails_with_its_run() -> None:
    """A poke-mode sensor whose second poke is waiting (not between pokes) is failed too."""
    second_poke = anyio.Event()
    cleaned_up = anyio.Event()
    with DAG("bounded_later_poke", dagrun_timeout=timedelta(minutes=10)) as built:

        @task.sensor(poke_interval=60)
        async def wait(ti: Any) -> bool:
            if ti.poke_count == 0:
                return False
            second_poke.set()
            try:
                await anyio.sleep_forever()
            finally:
                cleaned_up.set()
            return True  # pragma: no cover - cancelled above

        wait()
    clock = FakeClock()
    async with Engine(MemoryStore(), dags=[built], clock=clock) as engine:
        run = await engine.trigger("bounded_later_poke")
        with anyio.fail_after(5):
            while not second_poke.is_set():  # the second poke is due 54-66 s later
                clock.advance(timedelta(seconds=6))
                await anyio.lowlevel.checkpoint()
        clock.advance(timedelta(minutes=10))
        with anyio.fail_after(5):
            result = await engine.wait(run)
            await cleaned_up.wait()
        stored = await engine.get_run(run)
    assert result.state is DagRunState.FAILED
    wait_ti = stored.ti("wait")
    assert wait_ti.state is TaskState.FAILED
    assert wait_ti.error is not None
    assert "exceeded its dagrun_timeout of 0:10:00" in wait_ti.error


async def test_a_run_within_its_timeout_is_not_touched() -> None:
    """A run that ends before its timeout keeps its own outcome."""
    with DAG("fast", dagrun_timeout=60) as built:
        EmptyOperator(task_id="a")
    async with Engine(MemoryStore(), dags=[built], clock=FakeClock()) as engine:
        with anyio.fail_after(5):
            result = await engine.run("fast")
    assert result.state is DagRunState.SUCCESS
