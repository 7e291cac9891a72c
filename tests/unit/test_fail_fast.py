"""fail_fast DAGs, as in Airflow: the first task failure fails the run and stops the rest."""

from __future__ import annotations

import anyio
import pytest

from asyncflow import DAG, DagDefinitionError, DagRunState, EmptyOperator, TaskState, task


def test_a_failure_stops_the_running_tasks_and_skips_the_rest() -> None:
    """One task fails: a task still running is stopped and failed, one not started is skipped."""
    with DAG("stop_at_once", fail_fast=True) as built:

        @task
        async def slow() -> None:
            await anyio.sleep_forever()  # would hold the run for ever without fail_fast

        @task
        def broken() -> None:
            raise ValueError("bad input")

        slow() >> EmptyOperator(task_id="after_slow")
        broken()
    result = built.test()  # within a second, not slow's 30 (the suite's timeout bounds it)
    assert result.state is DagRunState.FAILED
    assert result.ti("broken").state is TaskState.FAILED
    slow = result.ti("slow")
    assert slow.state is TaskState.FAILED
    assert slow.error == (
        "task 'broken' failed and DAG 'stop_at_once' is fail_fast: this try was stopped"
    )
    assert result.ti("after_slow").state is TaskState.SKIPPED


def test_without_fail_fast_the_other_tasks_go_on() -> None:
    """The default: a failure fails its downstream only; an independent task still succeeds."""
    with DAG("go_on") as built:

        @task
        def fine() -> int:
            return 1

        @task
        def broken() -> None:
            raise ValueError("bad input")

        fine()
        broken()
    result = built.test()
    assert result.state is DagRunState.FAILED
    assert result.ti("fine").state is TaskState.SUCCESS


def test_a_fail_fast_dag_refuses_another_trigger_rule() -> None:
    """As in Airflow, a fail_fast DAG's tasks keep all_success; another rule is one line."""
    with DAG("strict", fail_fast=True), pytest.raises(DagDefinitionError) as refused:
        EmptyOperator(task_id="cleanup", trigger_rule="all_done")
    assert str(refused.value) == (
        "DAG 'strict' is fail_fast, so task 'cleanup' must keep the trigger rule all_success, "
        "not all_done"
    )
