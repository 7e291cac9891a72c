"""A process for the restart test: 100 reschedule-mode sensors on a SQLite file.

Usage: python restart_worker.py DB FLAG POKE_LOG start|resume

``start`` triggers the run and serves until killed; ``resume`` opens an engine
on the same file (which resumes the run), waits for it and prints its state.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio

from asyncflow import DAG, Engine, task
from asyncflow.log import configure

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
SENSORS = 100
INTERVAL = 1.0
EXPIRING_TIMEOUT = 2.0


def build(flag: Path, poke_log: Path) -> DAG:
    """The DAG: 100 mapped sensors waiting for ``flag``, and one that only times out."""
    with DAG("restart_sensors") as dag:

        @task.sensor(mode="reschedule", poke_interval=INTERVAL, timeout=600)
        def wait_for_flag(item: int) -> bool:
            with poke_log.open("a") as out:
                out.write(f"wait_for_flag {item} {time.time()}\n")
            return flag.exists()

        @task.sensor(mode="reschedule", poke_interval=INTERVAL, timeout=EXPIRING_TIMEOUT)
        def expiring() -> bool:
            with poke_log.open("a") as out:
                out.write(f"expiring -1 {time.time()}\n")
            return False

        wait_for_flag.expand(item=list(range(SENSORS)))
        expiring()
    return dag


async def main(db: str, flag: Path, poke_log: Path, phase: str) -> None:
    """Run one phase of the restart test."""
    configure()
    async with Engine(f"sqlite:///{db}", dags=[build(flag, poke_log)]) as engine:
        if phase == "start":
            await engine.trigger("restart_sensors", logical_date=LOGICAL_DATE)
            await engine.serve()
        else:
            runs = await engine.store.list_runs("restart_sensors")
            result = await engine.wait(runs[0].run_id, timeout=60)
            print(result.state)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
