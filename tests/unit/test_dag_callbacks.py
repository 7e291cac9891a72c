"""A DAG's on_success_callback / on_failure_callback, called as its run ends, as in Airflow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from asyncflow import DAG, DagDefinitionError, DagRunState, Engine, task
from asyncflow.testing import FakeClock, MemoryStore


def recorder(calls: list[tuple[str, str, str]], name: str) -> Any:
    def callback(context: dict[str, Any]) -> None:
        calls.append((name, context["reason"], context["dag_run"].run_id))

    callback.__name__ = name
    return callback


def test_a_successful_run_calls_each_success_callback_with_the_reason() -> None:
    """Each callback of a list is called once the run succeeded, told why; failure ones are not."""
    calls: list[tuple[str, str, str]] = []
    with DAG(
        "good",
        on_success_callback=[recorder(calls, "first"), recorder(calls, "second")],
        on_failure_callback=recorder(calls, "failed"),
    ) as built:

        @task
        def fine() -> int:
            return 1

        fine()
    result = built.test()
    assert result.state is DagRunState.SUCCESS
    assert calls == [("first", "success", result.run_id), ("second", "success", result.run_id)]


def test_a_failed_run_calls_the_failure_callback_and_a_broken_one_changes_nothing() -> None:
    """A task failure gives reason task_failure; a callback that raises is only logged."""
    calls: list[tuple[str, str, str]] = []

    async def broken(context: dict[str, Any]) -> None:
        raise RuntimeError("the pager is down")

    with DAG("bad", on_failure_callback=[broken, recorder(calls, "page")]) as built:

        @task
        def fails() -> None:
            raise ValueError("no")

        fails()
    result = built.test()
    assert result.state is DagRunState.FAILED
    assert calls == [("page", "task_failure", result.run_id)]


@pytest.mark.anyio
async def test_a_run_past_its_timeout_tells_the_callback_timed_out() -> None:
    """A run failed by its dagrun_timeout calls on_failure_callback with reason timed_out."""
    calls: list[tuple[str, str, str]] = []
    started = anyio.Event()
    with DAG(
        "slow",
        dagrun_timeout=timedelta(minutes=1),
        on_failure_callback=recorder(calls, "late"),
    ) as built:

        @task
        async def forever() -> None:
            started.set()
            await anyio.sleep_forever()

        forever()
    clock = FakeClock()
    async with Engine(MemoryStore(), dags=[built], clock=clock) as engine:
        run = await engine.trigger("slow")
        with anyio.fail_after(5):
            await started.wait()
            await clock.sleeping_until(clock.now() + timedelta(minutes=1))
        clock.advance(timedelta(minutes=1))
        with anyio.fail_after(5):
            await engine.wait(run)
    assert calls == [("late", "timed_out", run.run_id)]


def test_a_callback_that_is_not_callable_is_refused() -> None:
    """One line naming the DAG and the keyword."""
    with pytest.raises(DagDefinitionError, match="DAG 'x': on_success_callback must be callable"):
        DAG("x", on_success_callback=["not a function"])  # type: ignore[list-item]
