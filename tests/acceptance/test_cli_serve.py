"""`asyncflow run` and `standalone` as subprocesses: triggered runs, DAG files coming and going."""

from __future__ import annotations

import re
import signal
import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import (
    Served,
    assert_one_line_error,
    asyncflow,
    asyncflow_each,
    stored_instances,
    stored_runs,
    wait_until,
    write,
)

from asyncflow import Engine
from asyncflow.exceptions import StoreInUse

MANUAL = """\
from asyncflow import dag, task


@dag(schedule=None)
def manual():
    @task
    def shout(params):
        print(f"MARKER {params.get('word')}")
        return params.get("word")

    shout()


manual()
"""

# a daily DAG that started days ago without catchup: its latest interval is due at once
RECENT = """\
from datetime import UTC, datetime, timedelta

from asyncflow import dag, task


@dag(schedule="@daily", start_date=datetime.now(UTC) - timedelta(days=3), catchup=False)
def {dag_id}():
    @task
    def work():
{body}

    work()


{dag_id}()
"""


def recent(dag_id: str, body: str = "return 1") -> str:
    """A DAG file whose one scheduled run is due when it is loaded; ``body`` is its task's."""
    return RECENT.format(dag_id=dag_id, body=textwrap.indent(textwrap.dedent(body), " " * 8))


def running_run(home: Path, dag_id: str) -> str | None:
    """The id of the DAG's one run while its one task instance is running."""
    runs = stored_runs(home, dag_id) if (home / "asyncflow.db").exists() else []
    states = [ti.state for r in runs for ti in stored_instances(home, dag_id, r.run_id)]
    return runs[0].run_id if states == ["running"] else None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `asyncflow run` serving a home with a manual DAG, for the module."""
    home = tmp_path_factory.mktemp("serve") / "home"
    write(home / "dags", "manual.py", MANUAL)
    server = Served(home)
    yield server
    assert server.stop() == 0, server.err.read_text()


def test_run_prints_where_home_store_dags_and_logs_are(served: Served) -> None:
    """At start, `asyncflow run` prints its home, database, DAG folder and task logs."""
    home = served.home
    lines = [line.split(maxsplit=1) for line in served.out.read_text().splitlines()[1:]]
    assert lines == [
        ["home", str(home)],
        ["database", f"sqlite:///{home / 'asyncflow.db'}"],
        ["DAG", f"folder  {home / 'dags'} (1 DAG)"],
        ["task", f"logs   {home / 'logs'}"],
    ]


def test_a_second_owner_of_the_store_is_refused(served: Served) -> None:
    """A second `run`, a `dags test` or a reset of the served store exit 2 naming the server.

    Reads and requests to the server (`runs list`, `dags unpause`) still work beside it.
    """
    second, reset, test, listed, paused = asyncflow_each(
        served.home,
        ["run"],
        ["db", "reset", "--yes"],
        ["dags", "test", "manual"],
        ["runs", "list"],
        ["dags", "unpause", "manual"],
    )
    holder = f"is in use by the engine pid {served.process.pid} on {socket.gethostname()}, since "
    for refused in (second, reset, test):
        assert_one_line_error(refused, holder, "asyncflow dags trigger")
    assert listed.returncode == 0, listed.stderr
    assert paused.returncode == 0, paused.stderr
    assert (served.home / "asyncflow.db").is_file()  # the refused reset deleted nothing


@pytest.mark.anyio
async def test_an_engine_embedded_elsewhere_is_refused_the_served_store(
    served: Served, tmp_path: Path
) -> None:
    """An Engine in another service, on the served file or a symlink to it, is refused.

    The refusal names the server's pid, so the server's runs are never taken over.
    """
    link = tmp_path / "link.db"
    link.symlink_to(served.home / "asyncflow.db")
    for path in (served.home / "asyncflow.db", link):
        with pytest.raises(StoreInUse, match=f"in use by the engine pid {served.process.pid} on"):
            async with Engine(f"sqlite:///{path}"):
                pytest.fail("a second engine opened the served store")


def test_a_triggered_run_is_run_by_the_server(served: Served) -> None:
    """`dags trigger` queues a run that the serving process runs; its log and XCom can be read."""
    done = asyncflow(served.home, "dags", "trigger", "manual", "--conf", '{"word": "hi"}')
    assert done.returncode == 0, done.stderr
    match = re.search(r"Queued run (\S+) of manual", done.stdout)
    assert match is not None, done.stdout
    run_id = match.group(1)

    def finished() -> str | None:
        (run,) = [r for r in stored_runs(served.home, "manual") if r.run_id == run_id]
        return run.state if run.state in ("success", "failed") else None

    assert wait_until("the triggered run to finish", finished) == "success"
    log, xcom = asyncflow_each(
        served.home,
        ["logs", "manual", run_id, "shout"],
        ["tasks", "xcom", "manual", run_id, "shout", "--key", "return_value"],
    )
    assert "MARKER hi" in log.stdout
    assert (xcom.returncode, xcom.stdout) == (0, '"hi"\n'), xcom.stderr  # read beside the owner


def test_a_new_dag_file_is_loaded_and_its_scheduled_run_runs(served: Served) -> None:
    """A DAG file dropped into the folder is seen without a restart, and its due run runs."""
    write(served.home / "dags", "fresh.py", recent("fresh"))

    def scheduled_success() -> bool:
        runs = stored_runs(served.home, "fresh")
        return any(r.run_type == "scheduled" and r.state == "success" for r in runs)

    wait_until("the new DAG's scheduled run to succeed", scheduled_success)


def test_a_removed_dag_file_makes_its_dag_unknown(served: Served) -> None:
    """Removing a DAG file makes the server forget the DAG (and `dags list` no longer shows it)."""
    path = write(served.home / "dags", "brief.py", MANUAL.replace("manual", "brief"))
    wait_until(
        "brief to be added", lambda: any(e["dag_id"] == "brief" for e in served.events("dag_added"))
    )
    path.unlink()
    wait_until(
        "brief to be removed",
        lambda: any(e["dag_id"] == "brief" for e in served.events("dag_removed")),
    )
    assert "brief" not in asyncflow(served.home, "dags", "list").stdout


def test_a_pause_reaches_the_server(served: Served) -> None:
    """`dags pause` in another process is applied by the serving scheduler within seconds."""
    assert asyncflow(served.home, "dags", "pause", "manual").returncode == 0
    wait_until("the pause to be applied", lambda: served.events("dag_paused"))
    assert [e["dag_id"] for e in served.events("dag_paused")] == ["manual"]


def test_sigterm_lets_the_running_task_finish_and_exits_0(tmp_path: Path) -> None:
    """SIGTERM stops taking work, lets the running try finish within the grace period, exits 0."""
    home = tmp_path / "home"
    release = tmp_path / "release"
    wait_for_release = f"""\
        import pathlib, time
        while not pathlib.Path({str(release)!r}).exists():
            time.sleep(0.05)
        """
    write(home / "dags", "sleepy.py", recent("sleepy", wait_for_release))
    server = Served(home, ASYNCFLOW_SHUTDOWN_GRACE="20")

    run_id = wait_until("the task to be running", lambda: running_run(home, "sleepy"))
    server.process.send_signal(signal.SIGTERM)
    wait_until("the shutdown to start", lambda: server.events("shutdown_requested"))
    release.touch()  # the try ends only now, while the server drains
    started = time.monotonic()
    assert server.wait() == 0, server.err.read_text()
    assert time.monotonic() - started < 20
    (ti,) = stored_instances(home, "sleepy", run_id)
    assert (ti.state, ti.try_number) == ("success", 1)
    assert "Traceback" not in server.err.read_text()
    assert [e["signal"] for e in server.events("shutdown_requested")] == ["SIGTERM"]


def test_sigterm_exits_0_after_the_grace_period_when_a_task_will_not_end(tmp_path: Path) -> None:
    """A try still running when the grace period ends is recorded interrupted; the exit is 0."""
    home = tmp_path / "home"
    write(home / "dags", "stuck.py", recent("stuck", "import time\ntime.sleep(120)"))
    server = Served(home, ASYNCFLOW_SHUTDOWN_GRACE="1")

    run_id = wait_until("the task to be running", lambda: running_run(home, "stuck"))
    started = time.monotonic()
    assert server.stop() == 0, server.err.read_text()
    assert time.monotonic() - started < 15
    (ti,) = stored_instances(home, "stuck", run_id)
    assert (ti.state, ti.try_number, ti.interrupted_tries) == (None, 1, 1)
    assert ti.error == "interrupted: the engine shut down during try 1"
    assert server.events("threads_left_running")


def test_standalone_creates_the_dag_folder_and_says_where_things_are(tmp_path: Path) -> None:
    """`standalone` serves a fresh home, creating its DAG folder, and stops on SIGTERM with 0."""
    home = tmp_path / "fresh"
    server = Served(home, "standalone", "--port", "0")
    assert (home / "dags").is_dir()
    out = server.out.read_text()
    assert out.startswith("asyncflow standalone: scheduler and executor")
    assert f"{home / 'dags'} (0 DAGs)" in out
    assert server.stop() == 0, server.err.read_text()


def test_run_without_a_dag_folder_is_one_line_exit_2(tmp_path: Path) -> None:
    """`run` does not create a missing DAG folder: one line, exit 2."""
    assert_one_line_error(
        asyncflow(tmp_path, "run"), f"DAG folder {tmp_path / 'dags'} does not exist"
    )
