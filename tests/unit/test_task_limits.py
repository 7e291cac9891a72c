"""Per-task limits from Airflow: pool_slots, max_active_tis_per_dag and _per_dagrun."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from asyncflow import DAG, DagDefinitionError, DagRunState, EmptyOperator, Engine, TaskState, task

pytestmark = pytest.mark.anyio


def mapped_dag(dag_id: str, width: int, **task_kwargs: Any) -> tuple[DAG, list[int]]:
    """One task mapped ``width`` wide, recording the peak number of instances running at once."""
    peak = [0, 0]  # [running now, peak]
    with DAG(dag_id) as built:

        @task(**task_kwargs)
        async def work(i: int) -> None:
            peak[0] += 1
            peak[1] = max(peak[1], peak[0])
            for _ in range(50):  # loop turns in which the engine may start others
                await anyio.lowlevel.checkpoint()
            peak[0] -= 1

        work.expand(i=list(range(width)))
    return built, peak


async def test_pool_slots_take_that_many_slots_of_the_pool() -> None:
    """Instances taking 2 slots of a 5-slot pool run at most 2 at a time."""
    built, peak = mapped_dag("heavy", 8, pool="db", pool_slots=2)
    async with Engine("memory://", dags=[built], pools={"db": 5}) as engine:
        with anyio.fail_after(10):
            result = await engine.run("heavy")
    assert result.state is DagRunState.SUCCESS
    assert peak[1] == 2


async def test_more_pool_slots_than_the_pool_has_fails_the_task_saying_so() -> None:
    """A task that could never fit its pool fails at once, naming both numbers."""
    built, _ = mapped_dag("too_heavy", 1, pool="db", pool_slots=3)
    async with Engine("memory://", dags=[built], pools={"db": 2}) as engine:
        with anyio.fail_after(10):
            result = await engine.run("too_heavy")
    assert result.state is DagRunState.FAILED
    error = result.ti("work", 0).error
    assert error == (
        "task 'work' takes 3 slots of pool 'db', which has 2; "
        "lower pool_slots or give the pool more slots"
    )


async def test_max_active_tis_per_dagrun_bounds_one_runs_instances() -> None:
    """A mapped task with max_active_tis_per_dagrun=3 runs at most 3 instances of a run at once."""
    built, peak = mapped_dag("per_run", 10, max_active_tis_per_dagrun=3)
    async with Engine("memory://", dags=[built]) as engine:
        with anyio.fail_after(10):
            result = await engine.run("per_run")
    assert result.state is DagRunState.SUCCESS
    assert peak[1] == 3


async def test_max_active_tis_per_dag_bounds_instances_across_runs() -> None:
    """Two runs of a task limited to 2 per DAG run at most 2 instances between them."""
    built, peak = mapped_dag("per_dag", 6, max_active_tis_per_dag=2)
    async with Engine("memory://", dags=[built]) as engine:
        first = await engine.trigger("per_dag")
        second = await engine.trigger("per_dag", conf={"second": True})
        with anyio.fail_after(10):
            results = [await engine.wait(first), await engine.wait(second)]
    assert [r.state for r in results] == [DagRunState.SUCCESS, DagRunState.SUCCESS]
    assert all(r.ti("work", i).state is TaskState.SUCCESS for r in results for i in range(6))
    assert peak[1] == 2


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("pool_slots", 0),
        ("pool_slots", "2"),
        ("max_active_tis_per_dag", 0),
        ("max_active_tis_per_dagrun", -1),
    ],
)
async def test_a_limit_that_is_not_a_positive_whole_number_is_refused(
    keyword: str, value: Any
) -> None:
    """One line naming the task, the keyword and the value."""
    with DAG("bad_limit"), pytest.raises(DagDefinitionError) as refused:
        EmptyOperator(task_id="t", **{keyword: value})
    assert str(refused.value) == f"task 't': {keyword} must be a whole number >= 1, got {value!r}"
