"""Late writes on a real SQLite file: a try's report that arrives after its run ended is dropped.

Each test holds one of the engine's writes back until the run's dagrun_timeout
has been recorded, as a slow group commit (a long linger) would, then checks
that the store kept the run as the timeout left it: no sensor success on a
failed run, no mapped instances expanded on it, no sensor left waiting for ever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from asyncflow import DAG, DagRunState, Engine, PokeReturnValue, TaskState, task
from asyncflow.records import TaskInstanceRecord, XComRecord
from asyncflow.storage.sqlite import SqliteStore
from asyncflow.testing import FakeClock

pytestmark = pytest.mark.anyio

TIMEOUT = timedelta(minutes=10)


class LateStore(SqliteStore):
    """A real SQLite store whose chosen write waits until the run has been finished."""

    def __init__(self, path: Path, late: str) -> None:
        super().__init__(path)
        self.late = late
        self.reached = anyio.Event()  # the late write has been made and is held back
        self.run_finished = anyio.Event()
        self.answered = anyio.Event()  # the late write has been applied or refused

    async def finish_run(
        self, dag_id: str, run_id: str, state: DagRunState, at: datetime, **kwargs: Any
    ) -> bool:
        applied = await super().finish_run(dag_id, run_id, state, at, **kwargs)
        self.run_finished.set()
        return applied

    @asynccontextmanager
    async def _held(self, name: str) -> AsyncIterator[None]:
        if name != self.late:
            yield
            return
        self.reached.set()
        await self.run_finished.wait()
        yield
        self.answered.set()

    async def end_run_elsewhere(self, dag_id: str, run_id: str) -> None:
        """Fail the run as another writer would (an operator's mark failed elsewhere)."""
        await super().finish_run(
            dag_id, run_id, DagRunState.FAILED, datetime.now(UTC), stop_error="ended elsewhere"
        )

    async def finish_tries(
        self,
        owner: str,
        tries: Sequence[tuple[TaskInstanceRecord, Sequence[XComRecord]]],
        *,
        patient: bool = False,
    ) -> list[bool]:
        async with self._held("finish_try"):
            return await super().finish_tries(owner, tries, patient=patient)

    async def record_reschedule(
        self, owner: str, instance: TaskInstanceRecord, xcoms: Sequence[XComRecord] = ()
    ) -> bool:
        async with self._held("record_reschedule"):
            return await super().record_reschedule(owner, instance, xcoms)

    async def expand_task(
        self, dag_id: str, run_id: str, task_id: str, instances: Sequence[TaskInstanceRecord]
    ) -> bool:
        if self.late == "expand_task":  # the run ends elsewhere just before the expansion
            await self.end_run_elsewhere(dag_id, run_id)
            self.run_finished.set()
        applied = await super().expand_task(dag_id, run_id, task_id, instances)
        self.answered.set()
        return applied


def sensor_then_mapped(mode: str, done: bool) -> DAG:
    """A sensor whose first poke returns ``done`` with [1, 2, 3], then a task mapped over it."""
    with DAG("late", dagrun_timeout=TIMEOUT) as built:

        @task.sensor(mode=mode, poke_interval=3600)
        async def landed() -> PokeReturnValue:
            return PokeReturnValue(is_done=done, xcom_value=[1, 2, 3])

        @task
        def double(x: int) -> int:
            return 2 * x

        double.expand(x=landed())
    return built


async def run_past_timeout(store: LateStore, dag: DAG) -> tuple[Any, list[dict[str, Any]]]:
    """Trigger the DAG, time its run out while the late write is held; the result and logs."""
    clock = FakeClock()
    with capture_logs() as logs:
        async with Engine(store, dags=[dag], clock=clock) as engine:
            run = await engine.trigger("late")
            with anyio.fail_after(5):
                await store.reached.wait()
                await clock.sleeping_until(clock.now() + TIMEOUT)
            clock.advance(TIMEOUT)
            with anyio.fail_after(5):
                await engine.wait(run.run_id)
                await store.answered.wait()
            result = await engine.get_run(run.run_id)
    return result, logs


def stale(logs: list[dict[str, Any]], write: str) -> list[dict[str, Any]]:
    """The stale_write_ignored events of one kind of write."""
    return [e for e in logs if e["event"] == "stale_write_ignored" and e["write"] == write]


async def test_a_sensor_success_after_the_run_timed_out_is_dropped(tmp_path: Path) -> None:
    """A sensor's success reported after its run failed lands nowhere: no XCom, no expansion."""
    store = LateStore(tmp_path / "af.db", late="finish_try")
    result, logs = await run_past_timeout(store, sensor_then_mapped("poke", done=True))
    assert result.state is DagRunState.FAILED
    sensor = result.ti("landed")
    assert sensor.state is TaskState.FAILED
    assert sensor.error is not None
    assert "exceeded its dagrun_timeout" in sensor.error
    assert result.xcom("landed") is None
    assert [(ti.task_id, ti.map_index, ti.state) for ti in result.task_instances] == [
        ("double", -1, TaskState.SKIPPED),
        ("landed", -1, TaskState.FAILED),
    ]
    assert len(stale(logs, "finish_try")) == 1


async def test_a_reschedule_after_the_run_timed_out_leaves_no_sensor_waiting(
    tmp_path: Path,
) -> None:
    """A reschedule-mode poke recorded after the run failed does not make the sensor wait again."""
    store = LateStore(tmp_path / "af.db", late="record_reschedule")
    result, logs = await run_past_timeout(store, sensor_then_mapped("reschedule", done=False))
    assert result.state is DagRunState.FAILED
    assert result.ti("landed").state is TaskState.FAILED
    assert all(ti.state is not TaskState.UP_FOR_RESCHEDULE for ti in result.task_instances)
    assert len(stale(logs, "record_reschedule")) == 1


async def test_a_mapped_expansion_after_the_run_ended_elsewhere_adds_no_instances(
    tmp_path: Path,
) -> None:
    """A downstream task expanded after another writer failed its run gets no instances.

    The engine notices the refusal, finds the run failed in the store, and ends
    it here too: its waiters get the run as the store has it.
    """
    store = LateStore(tmp_path / "af.db", late="expand_task")
    with capture_logs() as logs:
        async with Engine(store, dags=[sensor_then_mapped("poke", done=True)]) as engine:
            run = await engine.trigger("late")
            with anyio.fail_after(5):
                await engine.wait(run)
                await store.answered.wait()
            result = await engine.get_run(run)
    assert result.state is DagRunState.FAILED
    assert result.ti("landed").state is TaskState.SUCCESS
    assert [(ti.task_id, ti.map_index, ti.state) for ti in result.task_instances] == [
        ("double", -1, TaskState.SKIPPED),
        ("landed", -1, TaskState.SUCCESS),
    ]
    assert len(stale(logs, "expand_task")) == 1
    assert [e["event"] for e in logs].count("dag_run_ended_elsewhere") == 1
