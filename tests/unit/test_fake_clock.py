"""The engine on a fake clock: retries and sensors wait for the clock, not for time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
import pytest

from asyncflow import DagRunState, Engine, TaskState, dag, task
from asyncflow.testing import FakeClock, MemoryStore

pytestmark = pytest.mark.anyio


async def test_a_retry_waits_for_its_delay_on_the_engine_clock() -> None:
    """A retry_delay of 300 s passes when the fake clock advances 300 s, not before."""
    tries: list[int] = []

    @dag()
    def flaky() -> None:
        @task(retries=1, retry_delay=300)
        def once(ti: Any) -> None:
            tries.append(ti.try_number)
            if ti.try_number == 1:
                raise RuntimeError("first try fails")

        once()

    clock = FakeClock()
    async with Engine(MemoryStore(), dags=[flaky()], clock=clock) as engine:
        started = await engine.trigger("flaky")
        due = clock.now() + timedelta(seconds=300)
        with anyio.fail_after(5):
            await clock.sleeping_until(due)
        clock.advance(299)
        assert tries == [1]
        clock.advance(1)
        with anyio.fail_after(5):
            result = await engine.wait(started.run_id)
    assert tries == [1, 2]
    assert result.ti("once").state is TaskState.SUCCESS
    assert result.ti("once").end_date == due


async def test_a_reschedule_sensor_pokes_when_the_clock_reaches_its_time() -> None:
    """A reschedule sensor with a 60 s interval and no jitter pokes again at +60 s."""
    pokes: list[Any] = []

    @dag()
    def waiting() -> None:
        @task.sensor(mode="reschedule", poke_interval=60)
        def ready() -> bool:
            pokes.append(clock.now())
            return len(pokes) == 2

        ready()

    clock = FakeClock()
    from asyncflow.settings import Settings

    settings = Settings.from_env(poke_jitter=0.0)
    async with Engine(MemoryStore(), dags=[waiting()], clock=clock, settings=settings) as engine:
        started = await engine.trigger("waiting")
        with anyio.fail_after(5):
            await clock.sleeping_until(clock.now() + timedelta(seconds=60))
        clock.advance(60)
        with anyio.fail_after(5):
            result = await engine.wait(started.run_id)
    assert result.state is DagRunState.SUCCESS
    assert pokes[1] - pokes[0] == timedelta(seconds=60)
