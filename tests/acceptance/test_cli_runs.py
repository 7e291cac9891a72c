"""`runs list`, `tasks states`, `logs` and `tasks test`, over runs that `dags test` recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, asyncflow, asyncflow_each, stored_runs, write

RETRIED = """\
from asyncflow import dag, task


@dag(schedule=None)
def retried():
    @task(retries=1, retry_delay=0)
    def flaky(ti):
        print(f"MARKER attempt {ti.try_number}")
        ti.xcom_push("attempts", ti.try_number)
        if ti.try_number == 1:
            raise ValueError("first try fails")
        return "ok"

    @task
    def square(x):
        print(f"MARKER square {x}")
        return x * x

    @task
    def quiet(value):
        return value

    quiet(flaky()) >> square.expand(x=[2, 3])


retried()
"""

FAILING = """\
from asyncflow import dag, task


@dag(schedule=None)
def failing():
    @task
    def explode():
        raise RuntimeError("kaboom")

    explode()


failing()
"""

RETRIED_RUN = "manual__2026-02-01T00:00:00.000000+00:00"
FAILING_RUN = "manual__2026-02-02T00:00:00.000000+00:00"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with one run of `retried` (succeeded on its second try) and one failed run."""
    home = tmp_path_factory.mktemp("runs") / "home"
    write(home / "dags", "retried.py", RETRIED)
    write(home / "dags", "failing.py", FAILING)
    # one after the other: each `dags test` owns the store while it runs
    ok = asyncflow(home, "dags", "test", "retried", "--logical-date", "2026-02-01")
    failed = asyncflow(home, "dags", "test", "failing", "--logical-date", "2026-02-02")
    assert (ok.returncode, failed.returncode) == (0, 1), ok.stderr + failed.stderr
    return home


def test_runs_list_shows_every_run_newest_first(home: Path) -> None:
    """`runs list` prints a table of runs; a DAG id and --state filter it; JSON for scripts."""
    every, failed, as_json = asyncflow_each(
        home,
        ["runs", "list"],
        ["runs", "list", "--state", "failed"],
        ["runs", "list", "retried", "-o", "json"],
    )
    lines = every.stdout.splitlines()
    assert lines[0].split() == [
        "run_id", "dag_id", "state", "run_type", "logical_date", "start", "end"
    ]  # fmt: skip
    assert [line.split()[:5] for line in lines[1:]] == [
        [FAILING_RUN, "failing", "failed", "manual", "2026-02-02T00:00:00Z"],
        [RETRIED_RUN, "retried", "success", "manual", "2026-02-01T00:00:00Z"],
    ]
    assert [line.split()[0] for line in failed.stdout.splitlines()[1:]] == [FAILING_RUN]
    (run,) = json.loads(as_json.stdout)
    assert (run["run_id"], run["state"], run["logical_date"]) == (
        RETRIED_RUN,
        "success",
        "2026-02-01T00:00:00+00:00",
    )


def test_runs_list_of_an_unknown_dag_is_one_line_exit_2(home: Path) -> None:
    """A DAG that has no run and is not in the folder is a mistake, not an empty list."""
    assert_one_line_error(asyncflow(home, "runs", "list", "nope"), "DAG 'nope' not found")


def test_tasks_states_prints_one_line_per_instance(home: Path) -> None:
    """`tasks states` prints each instance with its map index, state and try, upstream first."""
    table, as_json, unknown = asyncflow_each(
        home,
        ["tasks", "states", "retried", RETRIED_RUN],
        ["tasks", "states", "failing", FAILING_RUN, "--output", "json"],
        ["tasks", "states", "retried", "manual__nope"],
    )
    assert table.returncode == 0, table.stderr
    assert [line.split() for line in table.stdout.splitlines()] == [
        ["flaky", "success", "try", "2", "ValueError:", "first", "try", "fails"],
        ["quiet", "success", "try", "1"],
        ["square[0]", "success", "try", "1"],
        ["square[1]", "success", "try", "1"],
    ]
    (explode,) = json.loads(as_json.stdout)
    assert explode["task_id"] == "explode"
    assert (explode["map_index"], explode["state"], explode["try_number"]) == (-1, "failed", 1)
    assert explode["error"] == "RuntimeError: kaboom"
    assert_one_line_error(unknown, "DAG 'retried' has no run 'manual__nope'", "runs list retried")


def test_tasks_xcom_prints_an_instances_values_as_json(home: Path) -> None:
    """`tasks xcom` prints every key of an instance, or one key's value; `states -o json` too."""
    every, one, mapped, states = asyncflow_each(
        home,
        ["tasks", "xcom", "retried", RETRIED_RUN, "flaky"],
        ["tasks", "xcom", "retried", RETRIED_RUN, "flaky", "--key", "return_value"],
        ["tasks", "xcom", "retried", RETRIED_RUN, "square", "--map-index", "1"],
        ["tasks", "states", "retried", RETRIED_RUN, "-o", "json"],
    )
    for done in (every, one, mapped, states):
        assert done.returncode == 0, done.stderr
    assert json.loads(every.stdout) == {"attempts": 2, "return_value": "ok"}
    assert json.loads(one.stdout) == "ok"
    assert json.loads(mapped.stdout) == {"return_value": 9}
    assert {(ti["task_id"], ti["map_index"]): ti["xcom"] for ti in json.loads(states.stdout)} == {
        ("flaky", -1): {"attempts": 2, "return_value": "ok"},
        ("quiet", -1): {"return_value": "ok"},
        ("square", 0): {"return_value": 4},
        ("square", 1): {"return_value": 9},
    }


def test_tasks_xcom_mistakes_are_one_line_exit_2(home: Path) -> None:
    """An unknown run, task or key, or a mapped task without its index: one line, exit 2."""
    no_run, no_task, no_key, no_index = asyncflow_each(
        home,
        ["tasks", "xcom", "retried", "manual__nope", "flaky"],
        ["tasks", "xcom", "retried", RETRIED_RUN, "nope"],
        ["tasks", "xcom", "retried", RETRIED_RUN, "flaky", "--key", "nope"],
        ["tasks", "xcom", "retried", RETRIED_RUN, "square"],
    )
    assert_one_line_error(no_run, "DAG 'retried' has no run 'manual__nope'", "runs list retried")
    assert_one_line_error(no_task, "has no task 'nope'; its tasks: flaky, quiet, square")
    assert_one_line_error(
        no_key, "flaky in run", "has no XCom 'nope'; its keys: attempts, return_value"
    )
    assert_one_line_error(no_index, "task 'square' is mapped into 2 instances", "--map-index")


def test_logs_print_the_latest_try_or_the_one_asked_for(home: Path) -> None:
    """`logs` prints the latest try; --try 1 the failed first one; --map-index one instance."""
    latest, first, mapped, follow, silent = asyncflow_each(
        home,
        ["logs", "retried", RETRIED_RUN, "flaky"],
        ["logs", "retried", RETRIED_RUN, "flaky", "--try", "1"],
        ["logs", "retried", RETRIED_RUN, "square", "--map-index", "1"],
        ["logs", "retried", RETRIED_RUN, "flaky", "--follow"],
        ["logs", "retried", RETRIED_RUN, "quiet"],
    )
    assert latest.returncode == 0, latest.stderr
    assert "MARKER attempt 2" in latest.stdout
    assert "MARKER attempt 1" not in latest.stdout
    assert latest.stdout.splitlines()[-1].endswith("try 2 ended: success")
    assert "MARKER attempt 1" in first.stdout
    assert "ValueError" in first.stdout
    assert first.stdout.splitlines()[-1].endswith("try 1 ended: up_for_retry")
    assert "MARKER square 3" in mapped.stdout
    # --follow on a try that has ended prints it all and exits at once
    assert (follow.returncode, follow.stdout) == (0, latest.stdout)
    # a try that printed nothing has no log file: said on stderr, exit 0
    assert (silent.returncode, silent.stdout) == (0, "")
    assert silent.stderr.startswith("try 1 of quiet wrote no output (no log file ")


def test_logs_mistakes_are_one_line_exit_2(home: Path) -> None:
    """An unknown try or task, or a mapped task without its index: one line, exit 2."""
    no_try, no_task, no_index = asyncflow_each(
        home,
        ["logs", "retried", RETRIED_RUN, "flaky", "--try", "3"],
        ["logs", "retried", RETRIED_RUN, "nope"],
        ["logs", "retried", RETRIED_RUN, "square"],
    )
    assert_one_line_error(no_try, "flaky has had 2 tries", "so no try 3")
    assert_one_line_error(no_task, "has no task 'nope'; its tasks: flaky, quiet, square")
    assert_one_line_error(no_index, "task 'square' is mapped into 2 instances", "--map-index")


def test_tasks_test_runs_one_task_and_records_nothing(home: Path) -> None:
    """`tasks test` runs the task in-process, prints its output and return value, stores nothing."""
    before = stored_runs(home)
    square, quiet = asyncflow_each(
        home,
        ["tasks", "test", "retried", "square", "--map-index", "1"],
        ["tasks", "test", "retried", "quiet", "--logical-date", "2026-03-01"],
    )
    assert square.returncode == 0, square.stderr
    assert square.stdout.splitlines() == [
        "MARKER square 3",
        "Task retried.square: success",
        "Returned value was: 9",
    ]
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.splitlines()[-1] == "Returned value was: None"  # upstream did not run
    assert stored_runs(home) == before
    assert not (home / "logs" / "retried" / "manual__2026-03-01T00:00:00.000000+00:00").exists()


def test_tasks_test_failures_and_mistakes_are_one_line(home: Path) -> None:
    """A task that raises exits 1 with its error; an unknown task or missing --map-index exit 2."""
    failed, no_task, no_index = asyncflow_each(
        home,
        ["tasks", "test", "failing", "explode"],
        ["tasks", "test", "retried", "nope"],
        ["tasks", "test", "retried", "square"],
    )
    assert_one_line_error(failed, "task 'explode' failed: RuntimeError: kaboom", code=1)
    assert_one_line_error(no_task, "DAG 'retried' has no task 'nope'; its tasks: flaky, quiet")
    assert_one_line_error(no_index, "task 'square' is mapped into 2 instances", "0 to 1")
