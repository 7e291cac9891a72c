"""The poll-for-job example: a real job process, a reschedule sensor, a branch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from asyncflow import DAG, DagRunState, TaskState

EXAMPLE = Path(__file__).parents[2] / "examples" / "poll_for_job.py"


def load() -> DAG:
    """The example's DAG, imported from its file."""
    spec = importlib.util.spec_from_file_location("poll_for_job_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.poll_for_job()
    assert isinstance(built, DAG)
    return built


@pytest.mark.slow
@pytest.mark.parametrize(
    ("outcome", "taken", "skipped", "message"),
    [
        ("succeed", "publish", "alert", "published 1234 rows"),
        ("fail", "alert", "publish", "job failed: out of memory on executor 3"),
    ],
)
def test_the_sensor_returns_the_final_state_and_the_branch_follows_it(
    outcome: str, taken: str, skipped: str, message: str
) -> None:
    """The sensor returns the job's final state and the branch takes the matching path."""
    result = load().test(conf={"job_seconds": 0.5, "outcome": outcome})
    assert result.state is DagRunState.SUCCESS
    status = result.xcom("job_finished")
    assert status["state"] == ("SUCCEEDED" if outcome == "succeed" else "FAILED")
    sensor = result.ti("job_finished")
    assert sensor.state is TaskState.SUCCESS
    assert sensor.try_number == 1
    assert result.ti(taken).state is TaskState.SUCCESS
    assert result.ti(skipped).state is TaskState.SKIPPED
    assert result.xcom(taken) == message
