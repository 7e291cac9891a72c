"""depends_on_past: a task waits for its instance in the previous run to succeed or skip."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import anyio.lowlevel
import pytest

from asyncflow import DAG, DagRunState, Engine, TaskState, task
from asyncflow.testing import wait_for_state

pytestmark = pytest.mark.anyio

DAY1 = datetime(2026, 1, 1, tzinfo=UTC)
DAY2 = datetime(2026, 1, 2, tzinfo=UTC)


async def let_the_engine_turn(turns: int = 200) -> None:
    """Give the engine many turns of the loop: on the in-memory store, all it would do."""
    for _ in range(turns):
        await anyio.lowlevel.checkpoint()


def build(gate: anyio.Event, outcome: dict[str, bool], order: list[str]) -> DAG:
    """A DAG whose `load` depends on its past; on day 1 it waits for ``gate``."""
    with DAG("incremental") as built:

        @task(depends_on_past=True)
        async def load(ds: str) -> None:
            if ds == "2026-01-01":
                await gate.wait()
                if not outcome["ok"]:
                    raise RuntimeError("day 1 failed")
            order.append(ds)

        load()
    return built


async def test_a_later_run_waits_until_the_previous_instance_succeeds() -> None:
    """Day 2's task starts only after day 1's has succeeded."""
    gate, order = anyio.Event(), []
    async with Engine("memory://", dags=[build(gate, {"ok": True}, order)]) as engine:
        first = await engine.trigger("incremental", logical_date=DAY1)
        second = await engine.trigger("incremental", logical_date=DAY2)
        await wait_for_state(engine, first, "load", TaskState.RUNNING)
        await let_the_engine_turn()
        assert (await engine.get_run(second.run_id)).ti("load").state is None
        gate.set()
        with anyio.fail_after(5):
            await engine.wait(first.run_id)
            done = await engine.wait(second.run_id)
    assert done.state is DagRunState.SUCCESS
    assert order == ["2026-01-01", "2026-01-02"]


async def test_a_failed_previous_instance_keeps_the_task_waiting() -> None:
    """After day 1's task failed, day 2's never starts (as in Airflow, until cleared)."""
    gate, order = anyio.Event(), []
    gate.set()
    async with Engine("memory://", dags=[build(gate, {"ok": False}, order)]) as engine:
        with anyio.fail_after(5):
            failed = await engine.run("incremental", logical_date=DAY1)
        second = await engine.trigger("incremental", logical_date=DAY2)
        await let_the_engine_turn()
        waiting = await engine.get_run(second.run_id)
    assert failed.ti("load").state is TaskState.FAILED
    assert waiting.ti("load").state is None
    assert order == []


async def test_the_first_run_does_not_wait() -> None:
    """With no earlier run, a depends_on_past task runs at once."""
    gate, order = anyio.Event(), []
    async with Engine("memory://", dags=[build(gate, {"ok": True}, order)]) as engine:
        with anyio.fail_after(5):
            result = await engine.run("incremental", logical_date=DAY2)
    assert result.state is DagRunState.SUCCESS


async def test_wait_for_downstream_also_waits_for_the_previous_runs_downstream_task() -> None:
    """Day 2's `load` starts only once day 1's `publish` (downstream of load) has ended well."""
    publish_gate, order = anyio.Event(), []
    with DAG("downstream_wait") as built:

        @task(wait_for_downstream=True)
        async def load(ds: str) -> str:
            order.append(f"load {ds}")
            return ds

        @task
        async def publish(ds: str) -> None:
            if ds == "2026-01-01":
                await publish_gate.wait()
            order.append(f"publish {ds}")

        load() >> publish()
    assert built.get_task("load").depends_on_past  # implied, as in Airflow
    async with Engine("memory://", dags=[built]) as engine:
        first = await engine.trigger("downstream_wait", logical_date=DAY1)
        second = await engine.trigger("downstream_wait", logical_date=DAY2)
        with anyio.fail_after(5):
            while "load 2026-01-01" not in order:
                await anyio.lowlevel.checkpoint()
        await let_the_engine_turn()  # day 1's publish still runs
        assert (await engine.get_run(second)).ti("load").state is None
        publish_gate.set()
        with anyio.fail_after(5):
            await engine.wait(first)
            done = await engine.wait(second)
    assert done.state is DagRunState.SUCCESS
    assert order.index("publish 2026-01-01") < order.index("load 2026-01-02")
