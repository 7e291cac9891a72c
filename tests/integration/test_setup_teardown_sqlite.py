"""Setup and teardown on a real SQLite file: the engine runs them, and a restart keeps the rule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from asyncflow import DAG, DagRunState, EmptyOperator, Engine, FailTask, TaskState, task
from asyncflow.engine.run_state import RunState
from asyncflow.records import DagRunRecord, TaskInstanceRecord
from asyncflow.trigger_rules import Decision

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def cluster_dag() -> DAG:
    """A DAG where create >> query (fails) >> delete, delete being create's teardown."""
    with DAG("cluster_sqlite") as built:

        @task
        def query() -> None:
            raise FailTask("query failed")

        create = EmptyOperator(task_id="create")
        create >> query() >> EmptyOperator(task_id="delete").as_teardown(setups=create)
    return built


async def test_the_engine_runs_the_teardown_after_failed_work(tmp_path: Path) -> None:
    """On SQLite the teardown runs after the failed query, and the stored run has failed."""
    url = f"sqlite:///{tmp_path / 'st.db'}"
    async with Engine(url, dags=[cluster_dag()]) as engine:
        with anyio.fail_after(10):
            result = await engine.run("cluster_sqlite")
    async with Engine(url) as reopened:
        stored = await reopened.get_run(result.run_id)
    assert stored.state is DagRunState.FAILED
    assert [stored.ti(t).state for t in ("create", "query", "delete")] == [
        TaskState.SUCCESS,
        TaskState.FAILED,
        TaskState.SUCCESS,
    ]
    delete, query = stored.ti("delete"), stored.ti("query")
    assert delete.start_date is not None
    assert query.end_date is not None
    assert delete.start_date >= query.end_date


def test_a_restored_run_still_knows_which_upstream_was_the_setup() -> None:
    """A run read back after a restart counts its setups again, so its teardown may run."""
    built = cluster_dag()
    record = DagRunRecord(
        dag_id="cluster_sqlite",
        run_id="r",
        run_type="manual",
        state=DagRunState.RUNNING,
        logical_date=NOW,
        queued_at=NOW,
    )
    done = {"create": TaskState.SUCCESS, "query": TaskState.FAILED, "delete": None}
    instances = [
        TaskInstanceRecord(dag_id="cluster_sqlite", run_id="r", task_id=t, state=s)
        for t, s in done.items()
    ]
    run = RunState.restore(built, record, instances)
    assert run.nodes["delete"].counts.setup_success == 1
    _, runnable = run.settle(at=NOW)
    assert [node.task.task_id for node in runnable] == ["delete"]
    assert run.nodes["delete"].decision is Decision.RUN
