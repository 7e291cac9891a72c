"""The ``asyncflow`` command line, run in a subprocess with ASYNCFLOW_HOME in a temporary folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from cli_helpers import (
    TIMEOUT,
    assert_one_line_error,
    asyncflow,
    cli_env,
    stored_instances,
    stored_runs,
    wait_until,
    write,
)

from asyncflow import DagRunResult, Engine

EXAMPLES = Path(__file__).parents[2] / "examples"

FAILING = """\
from asyncflow import dag, task


@dag(schedule="@daily")
def failing():
    @task
    def extract():
        return 1

    @task
    def explode(x):
        raise ValueError(f"cannot load {x}")

    @task
    def after(y):
        return y

    after(explode(extract()))


failing()
"""

GREETING = """\
from asyncflow import dag, task


@dag(schedule=None, params={"who": "nobody"})
def greeting():
    @task
    def check(params):
        if params["who"] != "world":
            raise ValueError(f"who is {params['who']}")
        return params["who"]

    check()


greeting()
"""

# first >> sleepy (ten minutes, on the loop or in a thread) >> after
LONG = """\
import time

import anyio

from asyncflow import dag, task


@dag(schedule=None)
def long_async():
    @task
    def first():
        return 1

    @task
    async def sleepy(x):
        await anyio.sleep(600)

    @task
    def after(y):
        return y

    after(sleepy(first()))


@dag(schedule=None)
def long_sync():
    @task
    def first():
        return 1

    @task
    def sleepy(x):
        time.sleep(600)

    @task
    def after(y):
        return y

    after(sleepy(first()))


long_async()
long_sync()
"""

BROKEN = """\
from asyncflow import DAG

with DAG("broken"):
    undefined_name
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """ASYNCFLOW_HOME with DAGs: two examples, a failing one, one using params, a broken file."""
    dags = tmp_path / "home" / "dags"
    dags.mkdir(parents=True)
    for name in ("pass_data_by_return.py", "dynamic_mapping.py"):
        shutil.copy(EXAMPLES / name, dags / name)
    (dags / "failing.py").write_text(FAILING)
    (dags / "greeting.py").write_text(GREETING)
    (dags / "broken.py").write_text(BROKEN)
    return tmp_path / "home"


def stored_run(home: Path, dag_id: str, run_id: str) -> DagRunResult:
    async def read() -> DagRunResult:
        async with Engine(f"sqlite:///{home / 'asyncflow.db'}") as engine:
            return await engine.get_run(run_id, dag_id=dag_id)

    return anyio.run(read)


def test_dags_list_shows_a_table_then_import_errors(home: Path) -> None:
    """`dags list` prints a row per DAG, then the broken file's error, and exits 0."""
    done = asyncflow(home, "dags", "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["dag_id", "schedule", "paused", "tasks", "file", "description"]
    rows = {line.split()[0]: line.split() for line in lines[1:5]}
    assert rows == {
        "dynamic_mapping": ["dynamic_mapping", "None", "no", "5", "dynamic_mapping.py"],
        "failing": ["failing", "0", "0", "*", "*", "*", "no", "3", "failing.py"],
        "greeting": ["greeting", "None", "no", "1", "greeting.py"],
        "pass_data_by_return": [
            "pass_data_by_return",
            "None",
            "no",
            "3",
            "pass_data_by_return.py",
        ],
    }
    errors_at = lines.index("Import errors (1):")
    assert errors_at > 4
    assert lines[errors_at + 1] == (
        "File \"broken.py\", line 4: NameError: name 'undefined_name' is not defined"
    )


def test_dags_list_as_json(home: Path) -> None:
    """`dags list --output json` prints one JSON document with the DAGs and the import errors."""
    done = asyncflow(home, "dags", "list", "--output", "json")
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert [d["dag_id"] for d in listing["dags"]] == [
        "dynamic_mapping",
        "failing",
        "greeting",
        "pass_data_by_return",
    ]
    assert listing["dags"][1]["schedule"] == "0 0 * * *"
    assert listing["dags"][1]["paused"] is False
    assert listing["import_errors"] == [
        {
            "file": str(home / "dags" / "broken.py"),
            "error": "File \"broken.py\", line 4: NameError: name 'undefined_name' is not defined",
        }
    ]


def test_global_options_work_before_and_after_the_sub_command(home: Path, tmp_path: Path) -> None:
    """--dags-folder is taken before the sub-command, after it, and from the environment."""
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(EXAMPLES / "single_task.py", other / "single_task.py")
    for args, env in [
        (["--dags-folder", str(other), "dags", "list"], {}),
        (["dags", "--dags-folder", str(other), "list"], {}),
        (["dags", "list", "--dags-folder", str(other)], {}),
        (["dags", "list"], {"ASYNCFLOW_DAGS_FOLDER": str(other)}),
        (["--dags-folder", "/nowhere", "dags", "list", "--dags-folder", str(other)], {}),
    ]:
        done = asyncflow(home, *args, **env)
        assert done.returncode == 0, (args, done.stderr)
        assert [line.split()[0] for line in done.stdout.splitlines()] == ["dag_id", "single_task"]


def test_dags_test_success_prints_each_task_and_records_the_run(home: Path) -> None:
    """`dags test` prints one line per task instance, exits 0 and records the run in SQLite."""
    done = asyncflow(home, "dags", "test", "dynamic_mapping")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    names = [line.split()[0] for line in lines[:-1]]
    mapped = ["add_one[0]", "add_one[1]", "add_one[2]", "multiply[0]", "multiply[1]"]
    assert sorted(names) == sorted(
        [*mapped, "list_files", "size_of[0]", "size_of[1]", "size_of[2]", "total"]
    )
    assert names[-1] == "total"
    assert all(line.split()[1:4] == ["success", "try", "1"] for line in lines[:-1])
    last = re.fullmatch(r"DAG run (manual__\S+) of dynamic_mapping: success", lines[-1])
    assert last is not None
    assert (home / "asyncflow.db").is_file()
    stored = stored_run(home, "dynamic_mapping", last.group(1))
    assert stored.state == "success"
    assert stored.xcom("total") == (2 + 3 + 4) + (5 + 6 + 7) + (10 + 20)


def test_dags_test_failed_run_exits_1(home: Path) -> None:
    """A run that fails prints the failed task's error and downstream state, and exits 1."""
    done = asyncflow(home, "dags", "test", "failing")
    assert done.returncode == 1, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()}
    assert lines["extract"].split()[1] == "success"
    assert lines["explode"].split()[1:4] == ["failed", "try", "1"]
    assert "cannot load 1" in lines["explode"]
    assert lines["after"].split()[1] == "upstream_failed"
    assert done.stdout.splitlines()[-1].endswith("of failing: failed")


def test_conf_is_passed_to_params(home: Path) -> None:
    """--conf updates the DAG's params for the run; without it the default param is used."""
    done = asyncflow(home, "dags", "test", "greeting", "--conf", '{"who": "world"}')
    assert done.returncode == 0, done.stdout + done.stderr
    default = asyncflow(home, "dags", "test", "greeting")
    assert default.returncode == 1
    assert "ValueError: who is nobody" in default.stdout


def test_logical_date_names_the_run_and_cannot_be_reused(home: Path) -> None:
    """--logical-date sets the run's date; a second run at the same date is refused with exit 2."""
    first = asyncflow(home, "dags", "test", "greeting", "--conf", '{"who": "world"}',
                      "--logical-date", "2026-01-31T06:00:00+00:00")  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "DAG run manual__2026-01-31T06:00:00.000000+00:00 of greeting: success" in first.stdout
    again = asyncflow(home, "dags", "test", "greeting", "--logical-date", "2026-01-31T06:00:00Z")
    assert_one_line_error(again, "already has run", "--logical-date")


def test_bad_json_conf_is_one_line_exit_2(home: Path) -> None:
    """--conf that is not JSON is reported on one line with exit code 2."""
    done = asyncflow(home, "dags", "test", "greeting", "--conf", "{who: world}")
    assert_one_line_error(done, "--conf is not valid JSON")


def test_conf_that_is_not_an_object_is_one_line_exit_2(home: Path) -> None:
    """--conf must be a JSON object, not a list."""
    done = asyncflow(home, "dags", "test", "greeting", "--conf", "[1, 2]")
    assert_one_line_error(done, "--conf must be a JSON object", "list")


def test_unknown_dag_lists_the_known_ones(home: Path) -> None:
    """An unknown DAG id exits 2 and names the DAGs that exist."""
    done = asyncflow(home, "dags", "test", "nope")
    assert_one_line_error(
        done, "DAG 'nope' not found", "dynamic_mapping, failing, greeting, pass_data_by_return"
    )


def test_dag_whose_file_failed_names_the_import_error(home: Path) -> None:
    """Asking for a DAG whose file failed to import says why it is missing."""
    done = asyncflow(home, "dags", "test", "broken")
    assert_one_line_error(done, "may have failed to import", 'File "broken.py", line 4: NameError')


def test_bad_logical_date_is_one_line_exit_2(home: Path) -> None:
    """A --logical-date that is not ISO 8601 exits 2 with one line."""
    done = asyncflow(home, "dags", "test", "greeting", "--logical-date", "31/01/2026")
    assert_one_line_error(done, "--logical-date '31/01/2026' is not an ISO 8601")


def test_missing_dags_folder_is_one_line_exit_2(home: Path) -> None:
    """A DAG folder that does not exist exits 2 with one line naming it."""
    done = asyncflow(home, "dags", "list", "--dags-folder", str(home / "missing"))
    assert_one_line_error(done, str(home / "missing"), "does not exist")


def test_bad_database_url_is_one_line_exit_2(home: Path) -> None:
    """A database URL of an unknown kind exits 2 with one line."""
    done = asyncflow(home, "db", "init", "--database-url", "mysql://db/flows")
    assert_one_line_error(done, "unknown store URL scheme 'mysql'")


def test_usage_mistakes_are_one_line_exit_2(home: Path) -> None:
    """A missing argument or unknown command is one line with exit code 2, as click counts it."""
    assert_one_line_error(asyncflow(home, "dags", "test"), "Missing argument 'DAG_ID'")
    assert_one_line_error(asyncflow(home, "dags", "tset"), "No such command 'tset'")


def test_db_init_is_idempotent(home: Path) -> None:
    """`db init` creates the SQLite file under ASYNCFLOW_HOME and can run again."""
    for _ in range(2):
        done = asyncflow(home, "db", "init")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"Database ready: sqlite:///{home / 'asyncflow.db'}"
    assert (home / "asyncflow.db").is_file()


def test_database_url_option_chooses_the_file(home: Path, tmp_path: Path) -> None:
    """--database-url puts the store where it says, creating the parent folder."""
    target = tmp_path / "elsewhere" / "deep" / "flows.db"
    done = asyncflow(
        home, "--database-url", f"sqlite:///{target}", "dags", "test", "pass_data_by_return"
    )
    assert done.returncode == 0, done.stderr
    assert target.is_file()
    assert not (home / "asyncflow.db").exists()


def test_stdout_holds_only_the_output(home: Path) -> None:
    """Logs go to stderr: a successful run prints only task lines and the run line on stdout."""
    done = asyncflow(home, "dags", "test", "pass_data_by_return", "--verbose")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["extract", "transform", "load"]
    assert lines[-1].startswith("DAG run manual__")
    assert "dag_run_started" in done.stderr


def test_python_dash_m_and_script_agree(home: Path) -> None:
    """The installed `asyncflow` script is the same command as python -m asyncflow.cli."""
    script = Path(sys.executable).parent / "asyncflow"
    if not script.exists():
        pytest.skip("the asyncflow script is not installed next to this interpreter")
    done = subprocess.run(
        [str(script), "dags", "list", "--output", "json"],
        env={**os.environ, "ASYNCFLOW_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(
        asyncflow(home, "dags", "list", "-o", "json").stdout
    )


def test_db_reset_without_yes_and_without_a_terminal_is_refused(home: Path) -> None:
    """`db reset` cannot ask without a terminal: it needs --yes, exits 2 and deletes nothing."""
    assert asyncflow(home, "db", "init").returncode == 0
    done = asyncflow(home, "db", "reset")
    assert_one_line_error(done, "db reset deletes everything in", "pass --yes")
    assert (home / "asyncflow.db").is_file()


def test_db_reset_yes_empties_the_store(home: Path) -> None:
    """`db reset --yes` deletes every run and leaves an empty, usable database."""
    assert asyncflow(home, "dags", "test", "pass_data_by_return").returncode == 0
    done = asyncflow(home, "db", "reset", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Database reset: sqlite:///{home / 'asyncflow.db'}"
    assert stored_runs(home) == []


def running_sleepy(home: Path, dag_id: str, process: subprocess.Popen[str]) -> str | None:
    """The run id once the DAG's `sleepy` task is running in the store (the command still up)."""
    if process.poll() is not None:
        raise AssertionError(f"`dags test` exited {process.returncode}: {process.communicate()[1]}")
    for run in stored_runs(home, dag_id):
        states = {ti.task_id: ti.state for ti in stored_instances(home, dag_id, run.run_id)}
        if states["sleepy"] == "running":
            return run.run_id
    return None


@pytest.mark.parametrize("dag_id", ["long_async", "long_sync"])
def test_ctrl_c_in_dags_test_marks_the_run_failed_and_exits_130(
    tmp_path: Path, dag_id: str
) -> None:
    """Ctrl-C fails the run (running task failed, the rest skipped): one line, exit 130."""
    home = tmp_path / "home"
    write(home / "dags", "long.py", LONG)
    assert asyncflow(home, "db", "init").returncode == 0  # so the store is there to poll
    process = subprocess.Popen(
        [sys.executable, "-m", "asyncflow.cli", "dags", "test", dag_id],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        run_id = wait_until("sleepy to run", lambda: running_sleepy(home, dag_id, process))
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert out == ""
    assert err.splitlines() == [
        f"Interrupted by Ctrl-C: run {run_id} of {dag_id} marked failed "
        "(its running tasks failed, the tasks not yet run skipped)"
    ]
    runs = asyncflow(home, "runs", "list", dag_id, "--output", "json")
    assert [(r["run_id"], r["state"]) for r in json.loads(runs.stdout)] == [(run_id, "failed")]
    states = asyncflow(home, "tasks", "states", dag_id, run_id)
    rows = {line.split()[0]: line.split(maxsplit=2)[1:] for line in states.stdout.splitlines()}
    assert rows["first"][0] == "success"
    assert rows["sleepy"][0] == "failed"
    assert "interrupted by Ctrl-C in `asyncflow dags test`" in rows["sleepy"][1]
    assert rows["after"][0] == "skipped"
    assert "running" not in states.stdout
