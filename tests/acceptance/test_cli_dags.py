"""`dags trigger`, `dags pause`/`unpause` and `dags backfill`, in subprocesses over one home."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_helpers import (
    assert_one_line_error,
    asyncflow,
    asyncflow_each,
    stored_paused,
    stored_runs,
    write,
)

DAILY = """\
from datetime import datetime

from asyncflow import dag, task


@dag(schedule="@daily", start_date=datetime(2026, 1, 1))
def daily():
    @task
    def hello(ds):
        return ds

    hello()


daily()
"""

# fails on 2026-01-02 until a file named "fixed" is next to the DAG file
FLAKY = """\
from datetime import datetime
from pathlib import Path

from asyncflow import dag, task

FIXED = Path(__file__).with_name("fixed")


@dag(schedule="@daily", start_date=datetime(2026, 1, 1))
def flaky():
    @task
    def load(ds):
        if ds == "2026-01-02" and not FIXED.exists():
            raise ValueError(f"no data for {ds}")
        return ds

    load()


flaky()
"""

MANUAL = """\
from asyncflow import dag, task


@dag(schedule=None)
def manual():
    @task
    def one():
        return 1

    one()


manual()
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with a daily DAG, a daily DAG that fails one day, a manual DAG, and a database."""
    home = tmp_path_factory.mktemp("dags") / "home"
    write(home / "dags", "daily.py", DAILY)
    write(home / "dags", "flaky.py", FLAKY)
    write(home / "dags", "manual.py", MANUAL)
    assert asyncflow(home, "db", "init").returncode == 0
    return home


def backfill_rows(stdout: str) -> dict[str, list[str]]:
    """The backfill table's rows by run id (header and summary left out)."""
    return {line.split()[0]: line.split() for line in stdout.splitlines() if "__" in line}


def test_trigger_queues_a_run_and_prints_its_id(home: Path) -> None:
    """`dags trigger` stores a queued manual run with its conf and prints its run id."""
    done = asyncflow(home, "dags", "trigger", "manual", "--conf", '{"n": 3}')
    assert done.returncode == 0, done.stderr
    match = re.fullmatch(
        r"Queued run (manual__\S+) of manual; `asyncflow run` on this database will run it\.\n",
        done.stdout,
    )
    assert match is not None, done.stdout
    (run,) = [r for r in stored_runs(home, "manual") if r.run_id == match.group(1)]
    assert (run.state, run.run_type, run.conf) == ("queued", "manual", {"n": 3})


def test_trigger_and_pause_mistakes_are_one_line_exit_2(home: Path, tmp_path: Path) -> None:
    """An unknown DAG, a reused logical date, or no database: one line, exit 2."""
    assert (
        asyncflow(home, "dags", "trigger", "manual", "--logical-date", "2026-03-01").returncode == 0
    )
    no_database = f"sqlite:///{tmp_path / 'none.db'}"
    unknown, reused, no_db, pause_unknown = asyncflow_each(
        home,
        ["dags", "trigger", "nope"],
        ["dags", "trigger", "manual", "--logical-date", "2026-03-01T00:00:00+00:00"],
        ["dags", "trigger", "manual", "--database-url", no_database],
        ["dags", "pause", "nope"],
    )
    assert_one_line_error(unknown, "DAG 'nope' not found", "known DAGs: daily, flaky, manual")
    assert_one_line_error(reused, "already has run 'manual__2026-03-01T00:00:00.000000+00:00'")
    assert_one_line_error(no_db, f"no database at {tmp_path / 'none.db'}", "db init")
    assert not (tmp_path / "none.db").exists()
    assert_one_line_error(pause_unknown, "DAG 'nope' not found")


def test_pause_and_unpause_show_in_dags_list(home: Path) -> None:
    """`dags pause` is remembered by the database and shown by `dags list`; unpause undoes it."""
    paused = asyncflow(home, "dags", "pause", "daily")
    assert (paused.returncode, paused.stdout) == (0, "DAG daily paused.\n")
    table = asyncflow(home, "dags", "list").stdout.splitlines()
    assert table[0].split()[2] == "paused"
    assert {line.split()[0]: line.split()[-3] for line in table[1:]} == {
        "daily": "yes",
        "flaky": "no",
        "manual": "no",
    }
    unpaused = asyncflow(home, "dags", "unpause", "daily")
    assert (unpaused.returncode, unpaused.stdout) == (0, "DAG daily unpaused.\n")
    assert stored_paused(home) == set()


def test_backfill_runs_each_day_once(home: Path) -> None:
    """Three days make three successful backfill runs; the same backfill again creates nothing."""
    first = asyncflow(home, "dags", "backfill", "daily", "-s", "2026-01-01", "-e", "2026-01-03")
    assert first.returncode == 0, first.stderr
    run_ids = [f"backfill__2026-01-0{d}T00:00:00.000000+00:00" for d in (1, 2, 3)]
    assert backfill_rows(first.stdout) == {
        run_id: [run_id, f"2026-01-0{d}T00:00:00Z", "success", "created"]
        for d, run_id in zip((1, 2, 3), run_ids, strict=True)
    }
    assert first.stdout.splitlines()[-1] == "3 runs (3 created), 3 succeeded, 0 failed"
    assert first.stderr.splitlines()[-1] == "backfill daily: 3/3 runs done, 0 failed"
    again = asyncflow(home, "dags", "backfill", "daily", "-s", "2026-01-01", "-e", "2026-01-03")
    assert again.returncode == 0, again.stderr
    assert [row[3] for row in backfill_rows(again.stdout).values()] == ["existing"] * 3
    assert sorted(r.run_id for r in stored_runs(home, "daily")) == run_ids


def test_backfill_with_a_failed_run_exits_1_until_rerun(home: Path) -> None:
    """A failed day exits 1 and stays failed; --rerun-failed runs it again once it can succeed."""
    args = ["dags", "backfill", "flaky", "--start-date", "2026-01-01", "--end-date", "2026-01-02"]
    failed = asyncflow(home, *args)
    assert failed.returncode == 1, failed.stderr
    states = {row[1][:10]: row[2] for row in backfill_rows(failed.stdout).values()}
    assert states == {"2026-01-01": "success", "2026-01-02": "failed"}
    assert failed.stdout.splitlines()[-1] == "2 runs (2 created), 1 succeeded, 1 failed"
    (home / "dags" / "fixed").touch()
    rerun = asyncflow(home, *args, "--rerun-failed", "--output", "json")
    assert rerun.returncode == 0, rerun.stderr
    assert [(r["state"], r["backfill"]) for r in json.loads(rerun.stdout)] == [
        ("success", "existing"),
        ("success", "rerun"),
    ]


def test_backfill_mistakes_are_one_line_exit_2(home: Path) -> None:
    """Reversed dates, or a DAG without a schedule: one line, exit 2."""
    reversed_, manual = asyncflow_each(
        home,
        ["dags", "backfill", "daily", "-s", "2026-01-05", "-e", "2026-01-01"],
        ["dags", "backfill", "manual", "-s", "2026-01-01", "-e", "2026-01-02"],
    )
    assert_one_line_error(reversed_, "--start-date 2026-01-05 is after --end-date 2026-01-01")
    assert_one_line_error(manual, "DAG 'manual' has no schedule")


DOCUMENTED = """\
from asyncflow import DAG, EmptyOperator, TaskGroup

with DAG("documented", description="Loads the day", doc_md="# Loading\\nRuns daily.",
         tags=["etl"], default_args={"owner": "data"}) as built:
    start = EmptyOperator(task_id="start")
    with TaskGroup("load") as load:
        EmptyOperator(task_id="files")
    start >> load
"""


def test_dags_show_prints_the_dag_its_documentation_and_its_tasks(home: Path) -> None:
    """`dags show` prints the settings, the doc_md and the tasks in flow order; json too."""
    write(home / "dags", "documented.py", DOCUMENTED)
    shown = asyncflow(home, "dags", "show", "documented")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "description  Loads the day" in lines
    assert "owners       data" in lines
    assert "# Loading" in lines
    assert [line.split()[0] for line in lines[lines.index("Runs daily.") + 2 :]] == [
        "task_id",
        "start",
        "load.files",
    ]
    listed = asyncflow(home, "dags", "list")
    assert any(line.endswith("Loads the day") for line in listed.stdout.splitlines())
    document = json.loads(asyncflow(home, "dags", "show", "documented", "-o", "json").stdout)
    assert document["doc_md"] == "# Loading\nRuns daily."
    assert document["tasks"][1] == {
        "task_id": "load.files",
        "type": "EmptyOperator",
        "trigger_rule": "all_success",
        "upstream": ["start"],
        "doc_md": None,
    }


def test_dags_show_of_an_unknown_dag_is_one_line(home: Path) -> None:
    """An unknown DAG id exits 2 with one line naming the known ones."""
    assert_one_line_error(asyncflow(home, "dags", "show", "nope"), "DAG 'nope' not found")


PARAMETERISED = """\
from asyncflow import DAG, Param, task

with DAG("parameterised", params={"days": Param(7, type="integer", minimum=1)}) as built:
    @task
    def show(params):
        return params

    show()
"""


def test_a_conf_the_params_refuse_is_one_line_and_queues_nothing(home: Path) -> None:
    """`dags trigger` with a conf a Param refuses exits 2 with one line; no run is stored."""
    write(home / "dags", "parameterised.py", PARAMETERISED)
    done = asyncflow(home, "dags", "trigger", "parameterised", "--conf", '{"days": 0}')
    assert_one_line_error(done, "param 'days' is not valid: 0 is less than the minimum of 1")
    assert stored_runs(home, "parameterised") == []
