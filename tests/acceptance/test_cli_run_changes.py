"""`tasks clear`, `tasks set-state`, `runs mark-success` and `runs delete` on a finished run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_helpers import (
    assert_one_line_error,
    asyncflow,
    asyncflow_each,
    read_store,
    stored_instances,
    stored_runs,
    write,
)

from asyncflow.records import DagRunRecord
from asyncflow.states import DagRunState, TaskState
from asyncflow.storage.protocol import Store

FLOW = """\
from asyncflow import dag, task


@dag(schedule=None)
def flow():
    @task
    def explode():
        raise RuntimeError("kaboom")

    @task
    def after():
        return 1

    explode() >> after()


flow()
"""

RUN = "manual__2026-03-01T00:00:00.000000+00:00"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home with one failed run of `flow`: explode failed, after upstream_failed."""
    home = tmp_path / "home"
    write(home / "dags", "flow.py", FLOW)
    done = asyncflow(home, "dags", "test", "flow", "--logical-date", "2026-03-01")
    assert done.returncode == 1, done.stderr
    return home


def states(home: Path) -> dict[str, TaskState | None]:
    """The run's instance states by task id."""
    return {ti.task_id: ti.state for ti in stored_instances(home, "flow", RUN)}


def test_clear_with_downstream_queues_the_run_and_set_state_marks(home: Path) -> None:
    """Clear resets explode and after and queues the run; set-state then marks explode."""
    cleared = asyncflow(home, "tasks", "clear", "flow", RUN, "-t", "explode", "--downstream")
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.splitlines() == [
        "cleared  explode",
        "cleared  after",
        f"Run {RUN} is queued: the engine serving the database runs it.",
    ]
    assert states(home) == {"explode": None, "after": None}
    assert [r.state for r in stored_runs(home, "flow")] == [DagRunState.QUEUED]
    marked = asyncflow(home, "runs", "mark-success", "flow", RUN)
    assert marked.stdout == f"Run {RUN} marked success.\n", marked.stderr
    set_failed = asyncflow(home, "tasks", "set-state", "flow", RUN, "explode", "failed")
    assert set_failed.returncode == 0, set_failed.stderr
    assert set_failed.stdout.splitlines()[0] == "failed   explode"
    assert states(home) == {"explode": TaskState.FAILED, "after": TaskState.SUCCESS}


def test_delete_takes_the_run_and_its_logs(home: Path) -> None:
    """`runs delete --yes` deletes the run, its instances and its try logs."""
    logs = home / "logs" / "flow" / RUN
    assert logs.is_dir()
    done = asyncflow(home, "runs", "delete", "flow", RUN, "--yes")
    assert done.stdout == f"Run {RUN} deleted.\n", done.stderr
    assert stored_runs(home, "flow") == []
    assert not logs.exists()


def test_bad_input_is_one_line_and_changes_nothing(home: Path) -> None:
    """An unknown task, run or map index is exit 2 in one line; a running run is exit 1."""
    unknown_task, unknown_run, bad_index = asyncflow_each(
        home,
        ["tasks", "clear", "flow", RUN, "-t", "nope"],
        ["tasks", "set-state", "flow", "manual__nope", "explode", "success"],
        ["tasks", "clear", "flow", RUN, "-t", "explode", "--map-index", "3"],
    )
    assert_one_line_error(unknown_task, "DAG 'flow' has no task nope")
    assert_one_line_error(unknown_run, "DAG 'flow' has no run 'manual__nope'")
    assert_one_line_error(bad_index, "task 'explode' has no map index 3 in this run")
    assert states(home) == {"explode": TaskState.FAILED, "after": TaskState.UPSTREAM_FAILED}

    async def add_running(store: Store) -> None:
        now = datetime.now(UTC)
        running = DagRunRecord(
            dag_id="flow",
            run_id="manual__running",
            run_type="manual",
            state=DagRunState.RUNNING,
            logical_date=now,
            queued_at=now,
            start_date=now,
        )
        assert await store.create_run(running, [])

    read_store(home, add_running)
    refused = asyncflow(home, "runs", "delete", "flow", "manual__running", "--yes")
    assert_one_line_error(refused, "is running in another process", code=1)
    assert [r.run_id for r in stored_runs(home, "flow")] == ["manual__running", RUN]
