"""Sensors on the engine: poke and reschedule mode, timeouts, retries, slots and notify."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

from asyncflow import (
    DAG,
    DagRunState,
    EmptyOperator,
    Engine,
    PokeReturnValue,
    Sensor,
    TaskState,
    dag,
    task,
)
from asyncflow.exceptions import DagDefinitionError
from asyncflow.testing import FakeClock, MemoryStore, wait_for_state

pytestmark = pytest.mark.anyio

MODES = ["poke", "reschedule"]


class CountingSensor(Sensor):
    """Done on poke number ``done_at``; counts its pokes."""

    def __init__(self, *, done_at: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.done_at = done_at
        self.pokes = 0

    async def poke(self, context: Any) -> PokeReturnValue:
        self.pokes += 1
        return PokeReturnValue(self.pokes >= self.done_at, xcom_value=f"poked {self.pokes}")


async def run(built: DAG, *, limit: float = 10, **engine_kwargs: Any) -> Any:
    """Run ``built`` on a fresh in-memory engine and a fake clock that jumps when idle.

    Poke intervals, sensor timeouts and retry delays pass on the fake clock; the
    run is bounded by ``limit`` seconds of real time.
    """
    clock = FakeClock()
    async with Engine(MemoryStore(), dags=[built], clock=clock, **engine_kwargs) as engine:
        with anyio.fail_after(limit):
            async with anyio.create_task_group() as tg:
                tg.start_soon(clock.autojump)
                result = await engine.run(built.dag_id)
                tg.cancel_scope.cancel()
    return result


@pytest.mark.parametrize("mode", MODES)
async def test_sensor_succeeds_with_its_xcom_value(mode: str) -> None:
    """A sensor done on its third poke succeeds with the poke's xcom_value, in both modes."""
    with DAG(f"count_{mode}") as built:
        sensor = CountingSensor(task_id="wait", done_at=3, poke_interval=60, mode=mode)
    result = await run(built)
    assert result.state is DagRunState.SUCCESS
    ti = result.ti("wait")
    assert (ti.state, ti.try_number) == (TaskState.SUCCESS, 1)
    assert result.xcom("wait") == "poked 3"
    assert sensor.pokes == 3


async def test_poke_mode_writes_nothing_per_poke() -> None:
    """Twenty pokes in poke mode cost the same store writes as one."""
    writes = []
    for pokes in (1, 20):
        with DAG(f"quiet_{pokes}") as built:
            CountingSensor(task_id="wait", done_at=pokes, poke_interval=60)
        clock = FakeClock()
        async with Engine(MemoryStore(), dags=[built], clock=clock) as engine:
            before = engine.store.stats.writes
            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(clock.autojump)
                    await engine.run(built.dag_id)
                    tg.cancel_scope.cancel()
            writes.append(engine.store.stats.writes - before)
    assert writes[0] == writes[1]


async def test_reschedule_mode_frees_its_slot_and_is_a_row_between_pokes() -> None:
    """Between pokes a reschedule sensor is up_for_reschedule with its times in the store."""
    with DAG("resched") as built:
        CountingSensor(task_id="wait", done_at=2, poke_interval=60, mode="reschedule")
    clock = FakeClock()
    async with Engine(MemoryStore(), dags=[built], clock=clock) as engine:
        started = await engine.trigger("resched")
        await wait_for_state(engine, started, "wait", TaskState.UP_FOR_RESCHEDULE)
        record = (await engine.store.get_task_instances("resched", started.run_id))[0]
        assert record.state is TaskState.UP_FOR_RESCHEDULE
        assert record.poke_count == 1
        assert record.first_poke_at is not None
        assert record.next_poke_at is not None
        assert record.next_poke_at > record.first_poke_at
        assert engine.stats.running == 0
        clock.advance(3600)  # past the next poke, whatever its jitter
        with anyio.fail_after(5):
            done = await engine.wait(started.run_id)
    assert done.ti("wait").state is TaskState.SUCCESS
    assert done.ti("wait").try_number == 1


@pytest.mark.parametrize("mode", MODES)
async def test_timeout_fails_without_retry(mode: str) -> None:
    """A sensor that times out fails with SensorTimeout and is not retried."""
    with DAG(f"late_{mode}") as built:
        CountingSensor(
            task_id="wait",
            done_at=10**9,
            poke_interval=60,
            timeout=300,
            mode=mode,
            retries=3,
            retry_delay=0,
        )
    ti = (await run(built)).ti("wait")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert ti.error is not None
    assert ti.error.startswith("SensorTimeout: sensor 'wait' timed out: not done after")


@pytest.mark.parametrize("mode", MODES)
async def test_soft_fail_skips_the_sensor_and_its_all_success_downstream(mode: str) -> None:
    """With soft_fail a timeout skips the sensor; all_success downstream is skipped too."""
    with DAG(f"soft_{mode}") as built:
        wait = CountingSensor(
            task_id="wait",
            done_at=10**9,
            poke_interval=60,
            timeout=300,
            mode=mode,
            soft_fail=True,
        )
        wait >> EmptyOperator(task_id="after")
    result = await run(built)
    assert result.ti("wait").state is TaskState.SKIPPED
    assert result.ti("after").state is TaskState.SKIPPED
    assert result.state is DagRunState.SUCCESS


@pytest.mark.parametrize("mode", MODES)
async def test_poke_errors_follow_retries_and_keep_the_first_poke_time(mode: str) -> None:
    """An error in a poke is retried; the retry keeps the timeout's start."""
    firsts: list[Any] = []

    with DAG(f"flaky_{mode}") as built:

        @task.sensor(poke_interval=60, mode=mode, retries=1, retry_delay=0)
        def flaky(ti: Any) -> bool:
            firsts.append(ti.try_number)
            if ti.try_number == 1:
                raise ConnectionError("endpoint down")
            return True

        flaky()
    async with Engine("memory://", dags=[built]) as engine:
        with anyio.fail_after(10):
            result = await engine.run(built.dag_id)
        record = (await engine.store.get_task_instances(built.dag_id, result.run_id))[0]
    assert (result.ti("flaky").state, result.ti("flaky").try_number) == (TaskState.SUCCESS, 2)
    assert result.ti("flaky").error == "ConnectionError: endpoint down"
    assert record.first_poke_at is not None
    assert record.first_poke_at <= result.ti("flaky").start_date


async def test_a_retry_does_not_reset_the_timeout() -> None:
    """A sensor whose first try failed times out counting from its first try's poke."""
    with DAG("no_reset") as built:

        @task.sensor(poke_interval=60, timeout=600, retries=1, retry_delay=700)
        def never(ti: Any) -> bool:
            if ti.try_number == 1:
                raise ConnectionError("down")
            return False

        never()
    ti = (await run(built)).ti("never")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 2)
    assert ti.error is not None
    assert "SensorTimeout" in ti.error


async def test_execution_timeout_limits_one_poke() -> None:
    """A poke over execution_timeout fails that try; the wait as a whole is not limited."""
    with DAG("slow_poke") as built:

        @task.sensor(poke_interval=60, execution_timeout=0.05)  # a real-time limit
        async def hangs() -> bool:
            await anyio.sleep_forever()
            return True

        hangs()
    ti = (await run(built)).ti("hangs")
    assert ti.state is TaskState.FAILED
    assert ti.error == (
        "TimeoutError: poke of sensor 'hangs' ran longer than its execution_timeout of 0.05s"
    )


@pytest.mark.parametrize(("mode", "overlaps"), [("reschedule", True), ("poke", False)])
async def test_slot_accounting_with_one_slot(mode: str, overlaps: bool) -> None:
    """With one slot, a reschedule sensor lets another task run while it waits; poke does not."""
    events: list[str] = []

    class Recorder(Sensor):
        async def poke(self, context: Any) -> bool:
            events.append("poke")
            return events.count("poke") >= 3

    with DAG(f"slots_{mode}") as built:
        Recorder(task_id="wait", poke_interval=60, mode=mode, priority_weight=10)

        @task
        async def other() -> None:
            events.append("other")

        other()
    await run(built, max_active_tasks=1)
    ran_between = events.index("other") < len(events) - 1 - events[::-1].index("poke")
    assert ran_between is overlaps, events


async def test_waiting_poke_sensors_keep_their_slots_but_no_coroutines() -> None:
    """Between pokes, poke-mode sensors hold their slots and are timer entries, not tasks."""
    poked: set[int] = set()
    all_poked = anyio.Event()
    go = False

    with DAG("held_slots") as built:

        @task.sensor(poke_interval=3600, wake_on=["go"])
        async def wait(item: int) -> bool:
            poked.add(item)
            if len(poked) == 50:
                all_poked.set()
            return go

        wait.expand(item=list(range(50)))
    async with Engine("memory://", dags=[built]) as engine:
        tasks_before = len(asyncio.all_tasks())
        started = await engine.trigger("held_slots")
        with anyio.fail_after(5):
            await all_poked.wait()
        assert engine.stats.running == 50
        assert len(asyncio.all_tasks()) < tasks_before + 5
        go = True
        assert await engine.notify("go") == 50
        with anyio.fail_after(5):
            result = await engine.wait(started.run_id)
    assert {result.ti("wait", i).state for i in range(50)} == {TaskState.SUCCESS}
    assert {result.ti("wait", i).try_number for i in range(50)} == {1}


@pytest.mark.parametrize("mode", MODES)
async def test_notify_wakes_a_waiting_sensor_at_once(mode: str) -> None:
    """A sensor with poke_interval=60 and wake_on=[key] finishes within 1 s of notify(key)."""
    ready = anyio.Event()

    with DAG(f"notified_{mode}") as built:

        @task.sensor(poke_interval=60, mode=mode, wake_on=["orders"])
        def landed() -> bool:
            if not ready.is_set():
                ready.set()
                return False
            return True

        landed()
    async with Engine("memory://", dags=[built]) as engine:
        started = await engine.trigger(built.dag_id)
        with anyio.fail_after(5):
            await ready.wait()  # the first poke is under way and will say not done
        assert await engine.notify("orders") == 1
        with anyio.fail_after(1):
            result = await engine.wait(started.run_id)
    assert result.ti("landed").state is TaskState.SUCCESS


async def test_notify_of_an_unknown_key_wakes_nobody() -> None:
    """notify() returns 0 when no sensor waits on the key."""
    async with Engine("memory://") as engine:
        assert await engine.notify("nobody") == 0


@pytest.mark.parametrize("mode", MODES)
async def test_mapped_sensors_each_wait_for_their_own_item(mode: str) -> None:
    """A sensor expanded over 500 items runs 500 instances, each with its value."""
    with DAG(f"mapped_{mode}") as built:

        @task.sensor(poke_interval=60, mode=mode)
        def ready(item: int, ti: Any) -> PokeReturnValue:
            return PokeReturnValue(ti.map_index == item, xcom_value=item * 2)

        @task
        def total(values: list[int]) -> int:
            return sum(values)

        total(ready.expand(item=list(range(500))))
    result = await run(built, limit=60)
    assert result.xcom("total") == sum(range(500)) * 2


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"mode": "sometimes"}, "mode must be 'poke' or 'reschedule', got 'sometimes'"),
        ({"poke_interval": 0}, "poke_interval must be positive"),
        ({"timeout": -1}, "timeout must not be negative"),
        ({"soft_fail": "yes"}, "soft_fail must be True or False"),
        ({"wake_on": [""]}, "wake_on must be a list of non-empty strings"),
    ],
    ids=["mode", "interval", "timeout", "soft_fail", "wake_on"],
)
def test_bad_sensor_keywords_fail_at_definition(kwargs: dict[str, Any], fragment: str) -> None:
    """Sensor keywords of the wrong value fail when the DAG is defined, naming the task."""
    with DAG("bad_sensor"), pytest.raises(DagDefinitionError) as info:
        CountingSensor(task_id="s", done_at=1, **kwargs)
    assert "task 's'" in str(info.value)
    assert fragment in str(info.value)


def test_task_sensor_decorator_makes_a_sensor() -> None:
    """@task.sensor builds a sensor with its keywords, usable with dag.test()."""

    @dag()
    def decorated() -> None:
        @task.sensor(poke_interval=60, timeout=300)
        def ok() -> PokeReturnValue:
            return PokeReturnValue(True, xcom_value={"state": "SUCCEEDED"})

        ok()

    result = decorated().test()
    assert result.xcom("ok") == {"state": "SUCCEEDED"}
