"""Scale-out benchmark: one run shared by 1, 2 and 4 `asyncflow run` processes on PostgreSQL.

Two workloads, each in a fresh schema per process count:

- ``tasks``: ``--tasks`` tasks that each await ``--io-ms`` of I/O; the time from
  trigger to the run's end, and its speed-up over one process;
- ``sensors``: ``--sensors`` reschedule-mode sensors poking every ``--interval``
  seconds; after they have all poked once, a window of ``--window`` seconds
  counts pokes and the database's committed transactions (pokes per second,
  transactions per poke); then their condition turns true and the time until the
  run ends is measured.

Each process is a real ``asyncflow run`` (``--max-active-tasks`` slots each), so
the figures include everything a deployment pays: claims, notices, group commit.

Run: ``.venv/bin/python benchmarks/scale_out.py tasks --tasks 10000 --io-ms 50``
or ``.venv/bin/python benchmarks/scale_out.py sensors --sensors 100000``.
Needs a PostgreSQL server (``--url``, default the test server's). Prints a table
and writes ``benchmarks/results/scale_out-<workload>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from _bench import write_results

SERVER = os.environ.get("ASYNCFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

TASKS_DAG = """
import anyio
from asyncflow import DAG, task

with DAG("scale_tasks") as dag:
    for i in range({count}):

        @task(task_id=f"io_{{i}}")
        async def io() -> None:
            await anyio.sleep({io_seconds})

        io()
"""

SENSORS_DAG = """
from pathlib import Path
from asyncflow import DAG, task

FLAG = Path({flag!r})

with DAG("scale_sensors") as dag:
    for i in range({count}):

        @task.sensor(task_id=f"wait_{{i}}", mode="reschedule", poke_interval={interval},
                     timeout=86400)
        def wait() -> bool:
            return FLAG.exists()

        wait()
"""


def schema_url(server: str) -> tuple[str, str]:
    """A new schema name and a store URL whose tables live in it."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    joiner = "&" if "?" in server else "?"
    return name, f"{server}{joiner}search_path={name}&application_name={name}"


async def admin(server: str, sql: str) -> None:
    connection = await asyncpg.connect(server)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def fetchval(url: str, sql: str) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


def asyncflow(*args: str, env: dict[str, str], **popen: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "asyncflow.cli", *args], env=env, **popen)


class Cluster:
    """``processes`` `asyncflow run` processes on one schema, their logs in ``folder``."""

    def __init__(self, url: str, dags: Path, folder: Path, processes: int, slots: int) -> None:
        self.url = url
        self.folder = folder
        clean = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCFLOW_")}
        self.env = clean | {
            "ASYNCFLOW_HOME": str(folder),
            "ASYNCFLOW_DATABASE_URL": url,
            "ASYNCFLOW_DAGS_FOLDER": str(dags),
        }
        self.logs = [(folder / f"engine{n}.log").open("wb") for n in range(processes)]
        self.processes = [
            asyncflow(
                "run",
                "--max-active-tasks",
                str(slots),
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            for log in self.logs
        ]

    async def wait_registered(self) -> None:
        """Until every process holds its lease (it is serving)."""
        while await fetchval(self.url, "SELECT count(*) FROM engine") < len(self.processes):
            self.check_alive()
            await asyncio.sleep(0.1)

    def check_alive(self) -> None:
        """Stop the benchmark, showing its log, if a process has exited."""
        for n, process in enumerate(self.processes):
            if process.poll() is not None:
                log = (self.folder / f"engine{n}.log").read_text()[-3000:]
                raise SystemExit(f"engine {n} exited {process.returncode}:\n{log}")

    def trigger(self, dag_id: str) -> None:
        """Queue a run of ``dag_id`` as a user would (`asyncflow dags trigger`)."""
        done = subprocess.run(
            [sys.executable, "-m", "asyncflow.cli", "dags", "trigger", dag_id],
            env=self.env,
            capture_output=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(done.stderr.decode())

    async def run_state(self) -> str:
        """The state of the one run."""
        return str(await fetchval(self.url, "SELECT state FROM dag_run LIMIT 1"))

    async def wait_finished(self, poll: float = 0.02) -> str:
        """Until the run has ended; its state."""
        while (state := await self.run_state()) not in ("success", "failed"):
            self.check_alive()
            await asyncio.sleep(poll)
        return state

    def stop(self) -> None:
        """SIGTERM every process and wait for it (killed after a minute)."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in self.logs:
            log.close()


async def one_cluster(args: argparse.Namespace, processes: int) -> dict[str, Any]:
    name, url = schema_url(args.url)
    await admin(args.url, f"CREATE SCHEMA {name}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            dags = folder / "dags"
            dags.mkdir()
            flag = folder / "flag"
            if args.workload == "tasks":
                source = TASKS_DAG.format(count=args.tasks, io_seconds=args.io_ms / 1000)
            else:
                source = SENSORS_DAG.format(
                    count=args.sensors, interval=args.interval, flag=str(flag)
                )
            (dags / "scale.py").write_text(source)
            init = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "asyncflow.cli", "db", "init", "--database-url", url],
                capture_output=True,
                check=False,
            )
            if init.returncode:
                raise SystemExit(init.stderr.decode())
            cluster = Cluster(url, dags, folder, processes, args.max_active_tasks)
            try:
                await cluster.wait_registered()
                if args.workload == "tasks":
                    return await measure_tasks(cluster)
                return await measure_sensors(cluster, args, flag)
            finally:
                cluster.stop()
    finally:
        await admin(args.url, f"DROP SCHEMA {name} CASCADE")


async def measure_tasks(cluster: Cluster) -> dict[str, Any]:
    started = time.perf_counter()
    await asyncio.to_thread(cluster.trigger, "scale_tasks")
    state = await cluster.wait_finished()
    return {"seconds": time.perf_counter() - started, "state": state}


async def pokes_and_commits(url: str) -> tuple[int, int]:
    connection = await asyncpg.connect(url)
    try:
        pokes = await connection.fetchval("SELECT coalesce(sum(poke_count), 0) FROM task_instance")
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        commits = await connection.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(pokes), int(commits)
    finally:
        await connection.close()


async def measure_sensors(cluster: Cluster, args: argparse.Namespace, flag: Path) -> dict[str, Any]:
    started = time.perf_counter()
    await asyncio.to_thread(cluster.trigger, "scale_sensors")
    parked_sql = "SELECT count(*) FROM task_instance WHERE poke_count >= 1"
    while await fetchval(cluster.url, parked_sql) < args.sensors:
        cluster.check_alive()
        await asyncio.sleep(0.2)
    first_round = time.perf_counter() - started
    pokes_before, commits_before = await pokes_and_commits(cluster.url)
    await asyncio.sleep(args.window)
    pokes_after, commits_after = await pokes_and_commits(cluster.url)
    pokes = pokes_after - pokes_before
    await asyncio.to_thread(flag.touch)
    raised = time.perf_counter()
    state = await cluster.wait_finished(poll=0.1)
    return {
        "first_round_seconds": first_round,
        "pokes_per_second": pokes / args.window,
        "transactions_per_poke": (commits_after - commits_before) / pokes if pokes else None,
        "end_after_true_seconds": time.perf_counter() - raised,
        "state": state,
    }


def print_table(workload: str, rows: list[dict[str, Any]]) -> None:
    if workload == "tasks":
        header = ("processes", "seconds", "speed-up", "state")
        base = rows[0]["seconds"]
        lines = [
            (str(r["processes"]), f"{r['seconds']:.2f}", f"{base / r['seconds']:.2f}x", r["state"])
            for r in rows
        ]
    else:
        header = ("processes", "first round s", "pokes/s", "tx/poke", "end after true s", "state")
        lines = [
            (
                str(r["processes"]),
                f"{r['first_round_seconds']:.1f}",
                f"{r['pokes_per_second']:.0f}",
                "-" if r["transactions_per_poke"] is None else f"{r['transactions_per_poke']:.3f}",
                f"{r['end_after_true_seconds']:.1f}",
                r["state"],
            )
            for r in rows
        ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    for line in [header, *lines]:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))


async def main(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()[0]
    rows = []
    for processes in args.processes:
        rows.append({"processes": processes, **await one_cluster(args, processes)})
    print_table(args.workload, rows)
    if args.workload == "tasks":
        for row in rows:
            row["speed_up"] = rows[0]["seconds"] / row["seconds"]
    out = write_results(f"scale_out-{args.workload}", args, load_before, {"runs": rows})
    print(f"wrote {out}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=["tasks", "sensors"])
    parser.add_argument(
        "--url", default=SERVER, help="PostgreSQL server (a schema is made per run)"
    )
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--max-active-tasks", type=int, default=1024, help="slots per process")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--io-ms", type=float, default=50.0)
    parser.add_argument("--sensors", type=int, default=100_000)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between pokes")
    parser.add_argument("--window", type=float, default=30.0, help="seconds of pokes measured")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
