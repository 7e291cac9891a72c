"""engine.mark_failed: a running run fails now; running tries fail, the rest are skipped."""

from __future__ import annotations

import anyio
import pytest

from asyncflow import DAG, DagRunState, EmptyOperator, Engine, TaskState, task
from asyncflow.exceptions import EngineError
from asyncflow.states import FINISHED_TASK_STATES
from asyncflow.testing import MemoryStore

pytestmark = pytest.mark.anyio


def stuck_dag(started: anyio.Event) -> DAG:
    """A DAG of three tasks in a row: quick, slow (never ends by itself), after."""
    with DAG("stuck") as built:

        @task
        def quick() -> str:
            return "done"

        @task
        async def slow() -> None:
            started.set()
            await anyio.sleep_forever()

        quick() >> slow() >> EmptyOperator(task_id="after")
    return built


async def test_marking_a_run_failed_fails_running_tries_and_skips_the_rest() -> None:
    """The running task fails with the reason, the one not yet run is skipped, done ones stay."""
    started = anyio.Event()
    store = MemoryStore()
    async with Engine(store, dags=[stuck_dag(started)]) as engine:
        run = await engine.trigger("stuck")
        with anyio.fail_after(5):
            await started.wait()
            assert await engine.mark_failed(run, "interrupted by the operator")
            result = await engine.wait(run)
        assert result.state is DagRunState.FAILED
        assert not await engine.mark_failed(run, "again"), "a finished run is left as it is"
    await store.open()
    states = {ti.task_id: ti for ti in await store.get_task_instances("stuck", run.run_id)}
    assert states["quick"].state is TaskState.SUCCESS
    assert states["slow"].state is TaskState.FAILED
    assert states["slow"].error == "interrupted by the operator"
    assert states["after"].state is TaskState.SKIPPED
    assert all(ti.state in FINISHED_TASK_STATES for ti in states.values())
    (stored,) = await store.list_runs("stuck")
    assert stored.state is DagRunState.FAILED


async def test_only_the_engine_running_a_run_can_mark_it_failed() -> None:
    """A run this engine does not drive (queued for another process) is refused in one line."""
    store = MemoryStore()
    async with Engine(store, dags=[stuck_dag(anyio.Event())]) as engine:
        queued = await engine.queue("stuck")
        with pytest.raises(EngineError, match="this engine is not running it"):
            await engine.mark_failed(queued, "nope")
