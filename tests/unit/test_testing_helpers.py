"""asyncflow.testing's waiting helpers: wait_for_state and the sensor probe of watch_pokes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
import pytest

from asyncflow import DAG, EmptyOperator, Engine, Sensor, TaskState, task
from asyncflow.settings import Settings
from asyncflow.testing import FakeClock, MemoryStore, wait_for_state, watch_pokes

pytestmark = pytest.mark.anyio


class Answers(Sensor):
    """Pokes answer from a list, in order; an exception in it is raised."""

    def __init__(self, *, answers: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answers = answers

    async def poke(self, context: Any) -> bool:
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return bool(answer)


async def test_wait_for_state_returns_the_instance_once_in_the_state() -> None:
    """The instance is returned as seen in the state asked for, while the run goes on."""
    release = anyio.Event()
    with DAG("gated") as built:

        @task
        async def gate() -> None:
            await release.wait()

        gate()
    async with Engine(MemoryStore(), dags=[built]) as engine:
        run = await engine.trigger("gated")
        seen = await wait_for_state(engine, run, "gate", TaskState.RUNNING)
        release.set()
        done = await wait_for_state(engine, run.run_id, "gate", [TaskState.SUCCESS])
    assert (seen.state, seen.try_number) == (TaskState.RUNNING, 1)
    assert done.state is TaskState.SUCCESS


async def test_wait_for_state_reads_a_mapped_instance_by_map_index() -> None:
    """map_index picks one instance of a mapped task."""
    with DAG("mapped") as built:

        @task
        def double(x: int) -> int:
            return 2 * x

        double.expand(x=[1, 2, 3])
    async with Engine(MemoryStore(), dags=[built]) as engine:
        run = await engine.trigger("mapped")
        found = await wait_for_state(engine, run, "double", TaskState.SUCCESS, map_index=2)
    assert found.map_index == 2


async def test_wait_for_state_fails_at_once_when_the_run_ends_in_another_state() -> None:
    """A run that ends without the instance reaching the state fails the wait, naming both."""
    with DAG("broken") as built:

        @task
        def boom() -> None:
            raise RuntimeError("boom")

        boom()
    async with Engine(MemoryStore(), dags=[built]) as engine:
        run = await engine.trigger("broken")
        with anyio.fail_after(5), pytest.raises(AssertionError) as raised:
            await wait_for_state(engine, run, "boom", TaskState.SUCCESS, timeout=60)
    assert str(raised.value) == (
        f"run {run.run_id!r} ended failed with task instance 'boom' (map_index -1) failed, "
        "never success"
    )


async def test_wait_for_state_is_bounded_and_says_what_it_saw() -> None:
    """A state never reached within the timeout fails with the state the instance was in."""
    with DAG("sensing") as built:
        Answers(task_id="wait", answers=[False] * 5, poke_interval=3600)
    async with Engine(MemoryStore(), dags=[built], clock=FakeClock()) as engine:
        run = await engine.trigger("sensing")
        await wait_for_state(engine, run, "wait", TaskState.RUNNING)
        with pytest.raises(TimeoutError) as raised:
            await wait_for_state(engine, run, "wait", TaskState.SUCCESS, timeout=0.05)
    assert str(raised.value) == (
        "task instance 'wait' (map_index -1) was running, not success, after 0.05 s"
    )


async def test_the_probe_records_each_poke_and_signals_the_first_not_yet() -> None:
    """Each poke's answer is recorded; waiting is set by the first poke that said not yet."""
    with DAG("probed") as built:
        sensor = Answers(task_id="wait", answers=[False, True], poke_interval=60)
    probe = watch_pokes(sensor)
    clock = FakeClock()
    async with Engine(MemoryStore(), dags=[built], clock=clock) as engine:
        run = await engine.trigger("probed")
        with anyio.fail_after(5):
            await probe.waiting.wait()
        assert (probe.results, probe.pokes) == ([False], 1)
        clock.advance(3600)
        await wait_for_state(engine, run, "wait", TaskState.SUCCESS)
    assert probe.results == [False, True]
    assert probe.errors == []


async def test_the_probe_sees_a_poke_that_raised() -> None:
    """A poke that raises is recorded as an error and ends the probe's wait."""
    with DAG("raising") as built:
        sensor = Answers(task_id="wait", answers=[ValueError("no such bucket")])
    probe = watch_pokes(sensor)
    async with Engine(MemoryStore(), dags=[built]) as engine:
        run = await engine.trigger("raising")
        with anyio.fail_after(5):
            await probe.waiting.wait()
        await wait_for_state(engine, run, "wait", TaskState.FAILED)
    assert [str(error) for error in probe.errors] == ["no such bucket"]
    assert (probe.results, probe.pokes) == ([], 1)


async def test_autojump_runs_hourly_pokes_without_waiting_and_in_clock_order() -> None:
    """With autojump, pokes an hour apart all happen at once in real time, an hour apart on it."""
    clock = FakeClock()
    poked_at: list[Any] = []

    class Hourly(Sensor):
        async def poke(self, context: Any) -> bool:
            poked_at.append(clock.now())
            return len(poked_at) == 3

    with DAG("hourly") as built:
        Hourly(task_id="wait", poke_interval=3600, mode="reschedule")
    settings = Settings.from_env(poke_jitter=0.0)
    async with Engine(MemoryStore(), dags=[built], clock=clock, settings=settings) as engine:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(clock.autojump)
                result = await engine.run("hourly")
                tg.cancel_scope.cancel()
    assert result.ti("wait").state is TaskState.SUCCESS
    assert [later - poked_at[0] for later in poked_at] == [
        timedelta(0),
        timedelta(hours=1),
        timedelta(hours=2),
    ]


async def test_wait_for_state_takes_a_state_by_name_and_refuses_an_unknown_one() -> None:
    """A state may be given by name; a name that is no state fails at once, listing the states."""
    with DAG("named") as built:
        EmptyOperator(task_id="nothing")
    async with Engine(MemoryStore(), dags=[built]) as engine:
        run = await engine.trigger("named")
        assert (await wait_for_state(engine, run, "nothing", "success")).state == "success"
        with pytest.raises(ValueError, match="state must be one of ") as raised:
            await wait_for_state(engine, run, "nothing", "succes")
    assert str(raised.value).endswith("; got 'succes'")
    assert "up_for_reschedule" in str(raised.value)
