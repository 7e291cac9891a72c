"""The suite's guard (tests/conftest.py): a blocking call on the event loop fails the test."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from asyncflow import DAG, Engine, Sensor, TaskState, task
from asyncflow.testing import MemoryStore, wait_for_state

pytestmark = pytest.mark.anyio


async def test_a_task_sleeping_on_the_loop_fails_with_the_blocking_call_named() -> None:
    """An async task calling time.sleep is stopped by the guard, which names the call."""
    with DAG("sleepy") as built:

        @task
        async def naughty() -> None:
            time.sleep(0.001)  # noqa: ASYNC251 - the blocking call the guard must catch

        naughty()
    async with Engine(MemoryStore(), dags=[built]) as engine:
        run = await engine.trigger("sleepy")
        failed = await wait_for_state(engine, run, "naughty", TaskState.FAILED)
    assert failed.error is not None
    assert "Blocking call to time.sleep" in failed.error


async def test_a_sensor_poking_through_a_worker_thread_is_allowed() -> None:
    """The same call in a worker thread (anyio.to_thread) does not block the loop: it passes."""

    class Patient(Sensor):
        async def poke(self, context: object) -> bool:
            await anyio.to_thread.run_sync(time.sleep, 0.001)
            return True

    with DAG("threaded") as built:
        Patient(task_id="wait")
    async with Engine(MemoryStore(), dags=[built]) as engine:
        run = await engine.trigger("threaded")
        await wait_for_state(engine, run, "wait", TaskState.SUCCESS)


async def test_the_tests_own_code_is_not_policed() -> None:
    """A blocking call made by the test itself, with no asyncflow code on the stack, passes."""
    time.sleep(0)  # noqa: ASYNC251 - a test inspecting something synchronously is its business


@pytest.mark.allow_blocking("shows that the marker turns the guard off")
async def test_a_test_marked_allow_blocking_may_block() -> None:
    """A test marked allow_blocking may block the loop, even from asyncflow's code."""
    with DAG("allowed") as built:

        @task
        async def naughty() -> None:
            time.sleep(0.001)  # noqa: ASYNC251 - allowed by the marker

        naughty()
    async with Engine(MemoryStore(), dags=[built]) as engine:
        run = await engine.trigger("allowed")
        await wait_for_state(engine, run, "naughty", TaskState.SUCCESS)


def test_allow_blocking_without_a_reason_fails_the_test_saying_so(
    pytester: pytest.Pytester,
) -> None:
    """@pytest.mark.allow_blocking with no reason fails the test, asking for one."""
    pytester.makeconftest((Path(__file__).parents[1] / "conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    allow_blocking(reason): blocks on purpose\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.anyio
        @pytest.mark.allow_blocking()
        async def test_unexplained():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-n", "0")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.allow_blocking needs a reason: why the test blocks the loop*"]
    )
