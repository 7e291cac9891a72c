"""Three `asyncflow run` processes share one run on PostgreSQL; one is SIGKILLed mid-run."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import asyncpg
import pytest
from cli_helpers import Served, assert_one_line_error, asyncflow, wait_until, write
from postgres_server import fresh_schema_for_commands

LEASE_TTL = 2.0
TASKS = 1000
SENSORS = 200

SHARED_WORK = """
    import os
    from pathlib import Path

    import anyio

    from asyncflow import DAG, task

    FLAG = Path({flag!r})

    with DAG("shared_work") as dag:
        for i in range({tasks}):

            @task(task_id=f"t{{i}}", retries=2, retry_delay=0)
            async def work() -> int:
                await anyio.sleep(1.5)
                return os.getpid()

            work()
        for i in range({sensors}):

            @task.sensor(task_id=f"s{{i}}", mode="reschedule", poke_interval=0.5, timeout=120)
            def flag_raised() -> bool:
                return FLAG.exists()

            flag_raised()
"""


@pytest.fixture
def url() -> Iterator[str]:
    """A store URL in a fresh schema of the test server."""
    with fresh_schema_for_commands() as url:
        yield url


def query(url: str, sql: str) -> list[asyncpg.Record]:
    """Rows of one read-only statement on the store's schema (the test's own eyes)."""

    async def read() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(url)
        try:
            return list(await connection.fetch(sql))
        finally:
            await connection.close()

    return anyio.run(read)


@pytest.mark.slow
def test_three_processes_share_a_run_and_survive_a_sigkill(tmp_path: Path, url: str) -> None:
    """1,000 tasks and 200 reschedule sensors on 3 processes, the run's driver SIGKILLed.

    The survivors take over its work within the lease TTL + 1 s, at least two
    processes ran tasks, and every instance ends in success.
    """
    flag = tmp_path / "flag"
    dags = tmp_path / "dags"
    dags.mkdir()
    source = SHARED_WORK.format(flag=str(flag), tasks=TASKS, sensors=SENSORS)
    write(dags, "shared_work.py", textwrap.dedent(source))
    env = {
        "ASYNCFLOW_DATABASE_URL": url,
        "ASYNCFLOW_DAGS_FOLDER": str(dags),
        "ASYNCFLOW_POSTGRES_LEASE_TTL": str(LEASE_TTL),
    }
    assert asyncflow(tmp_path / "cli", "db", "init", **env).returncode == 0
    # room for a third of the work each, so that the driver runs its share
    slots = ["--max-active-tasks", str((TASKS + SENSORS) // 3)]
    engines = [Served(tmp_path / f"engine{n}", "run", *slots, **env) for n in range(3)]
    try:
        triggered = asyncflow(tmp_path / "cli", "dags", "trigger", "shared_work", **env)
        assert triggered.returncode == 0, triggered.stderr

        def driver_running_tries() -> tuple[str, int] | None:
            rows = query(
                url,
                "SELECT r.driver, count(ti.*) AS n FROM dag_run r JOIN task_instance ti "
                "ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id AND ti.owner = r.driver "
                "WHERE ti.state = 'running' GROUP BY r.driver",
            )
            return (rows[0]["driver"], rows[0]["n"]) if rows and rows[0]["n"] >= 10 else None

        driver, _ = wait_until("the driver to run tries", driver_running_tries)
        victim = next(e for e in engines if f":{e.process.pid}:" in driver)
        victim.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        victim.process.wait()

        def taken_over() -> bool:
            left = query(
                url,
                "SELECT (SELECT count(*) FROM task_instance WHERE state IN ('queued', 'running') "
                f"AND owner = '{driver}') + (SELECT count(*) FROM dag_run WHERE state = "
                f"'running' AND driver = '{driver}') AS n",
            )
            return left[0]["n"] == 0

        wait_until("the survivors to take over", taken_over, timeout=LEASE_TTL + 10)
        took = time.monotonic() - killed_at
        flag.touch()

        def finished() -> str | None:
            rows = query(url, "SELECT state FROM dag_run")
            return rows[0]["state"] if rows[0]["state"] in ("success", "failed") else None

        state = wait_until("the run to finish", finished, timeout=90)
        failures = query(
            url,
            "SELECT task_id, state, try_number, error FROM task_instance "
            "WHERE state <> 'success' LIMIT 5",
        )
        assert state == "success", [dict(row) for row in failures]
        states = query(url, "SELECT state, count(*) AS n FROM task_instance GROUP BY state")
        assert {row["state"]: row["n"] for row in states} == {"success": TASKS + SENSORS}
        pids = query(url, "SELECT DISTINCT value::text AS pid FROM xcom WHERE key = 'return_value'")
        assert len(pids) >= 2, pids
        assert took <= LEASE_TTL + 1, f"took over in {took:.2f} s"
    finally:
        for engine in engines:
            if engine.process.poll() is None:
                assert engine.stop() == 0, engine.err.read_text()[-2000:]
    assert os.path.exists(flag)


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (["--queues", "a,,b"], "'a,,b' names an empty queue"),
        (["--max-active-tasks", "0"], "0 is not in the range x>=1"),
        (["--pool", "db"], "'db' is not NAME=SLOTS"),
        (["--pool", "db=0"], "'db=0' is not NAME=SLOTS"),
    ],
)
def test_bad_run_options_are_one_line_errors(
    tmp_path: Path, option: list[str], fragment: str
) -> None:
    """A queue list with an empty name, or no task slots, is refused with one line, exit 2."""
    (tmp_path / "dags").mkdir()
    done = asyncflow(tmp_path, "run", *option)
    assert_one_line_error(done, fragment)
