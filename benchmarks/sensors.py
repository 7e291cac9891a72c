"""Sensors benchmark: N mapped sensors in one DAG run, against a bare-asyncio floor.

Run: ``.venv/bin/python benchmarks/sensors.py --mode poke|reschedule [--n 100000]
[--interval 5] [--wait 15] [--spread 5] [--store sqlite|memory] [--task-logs]``.

One ``@task.sensor`` is expanded over ``n`` items. Once every sensor has poked
once (``t0``, the end of the ramp), sensor ``i``'s condition turns true at
``t0 + wait + spread * frac(i * golden ratio)``: spread over one interval by
default and scrambled, so due times are not correlated with the sensors' poke
phases (which follow launch order) and the ideal lag is uniform in
``[0, interval]``. The poke is an async time comparison. First, the same
workload runs as ``n`` bare asyncio coroutines (``while not cond(i): await
asyncio.sleep(interval with the same jitter)``) in a fresh subprocess (the script
re-invoked with ``--floor``), so neither pollutes the other's memory. Steady-state
figures are taken over the waiting window ``[t0, t0 + wait]``. Prints a table and
writes ``benchmarks/results/sensors-<mode>-<store>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import resource
import tempfile
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from _bench import floor_in_subprocess, print_side_by_side, rss_bytes, write_results

from asyncflow import DAG, DagRunState, Engine, ProcessSetup, task
from asyncflow.log import configure
from asyncflow.settings import Settings

# engines are opened as `asyncflow run` opens its own (GC thresholds, watchdog, capture)
SERVED = ProcessSetup.everything()
JITTER = Settings.from_env().poke_jitter  # the engine's spread of poke intervals (default 0.1)
GOLDEN = 0.6180339887498949  # scrambles due times across the sensors


@dataclass(slots=True)
class Snapshot:
    """Counters at one instant."""

    wall: float
    cpu: float
    pokes: int
    transactions: int
    rss: int


@dataclass(slots=True)
class Probe:
    """The sensors' conditions and the counters every poke updates."""

    n: int
    interval: float
    wait: float
    spread: float
    transactions: Callable[[], int] = lambda: 0
    pokes: int = 0
    first_pokes: int = 0
    t0: float | None = None
    seen: bytearray = field(default_factory=bytearray)
    marks: dict[str, Snapshot] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.seen = bytearray(self.n)

    def due(self, i: int) -> float:
        """When sensor ``i``'s condition turns true (after the ramp)."""
        assert self.t0 is not None
        return self.t0 + self.wait + self.spread * ((i * GOLDEN) % 1.0)

    def poke(self, i: int) -> bool:
        """One poke of sensor ``i``: count it and compare the clock to its due time."""
        self.pokes += 1
        if not self.seen[i]:
            self.seen[i] = 1
            self.first_pokes += 1
            if self.first_pokes == self.n:
                self._ramp_done()
        return self.t0 is not None and time.time() >= self.due(i)

    def mark(self, name: str) -> None:
        """Record the counters now under ``name``."""
        self.marks[name] = Snapshot(
            time.time(), time.process_time(), self.pokes, self.transactions(), rss_bytes()
        )

    def _ramp_done(self) -> None:
        self.t0 = time.time()
        self.mark("t0")
        asyncio.get_running_loop().call_later(self.wait, self.mark, "waited")


def summarise(probe: Probe, done_at: list[float]) -> dict[str, Any]:
    """The metrics of one run, from its probe's marks and the sensors' completion times."""
    end = Snapshot(time.time(), time.process_time(), probe.pokes, probe.transactions(), 0)
    start, t0, waited = probe.marks["start"], probe.marks["t0"], probe.marks["waited"]
    lags = sorted(done - probe.due(i) for i, done in enumerate(done_at))
    steady_pokes = waited.pokes - t0.pokes
    steady_cpu = waited.cpu - t0.cpu
    n = probe.n
    transactions = end.transactions - start.transactions
    return {
        "n": n,
        "wall_s": end.wall - start.wall,
        "ramp_s": t0.wall - start.wall,
        "cpu_s": end.cpu - start.cpu,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "baseline_rss_mib": start.rss / 2**20,
        "waiting_rss_mib": waited.rss / 2**20,
        "rss_per_sensor_b": (waited.rss - start.rss) / n,
        "pokes": probe.pokes,
        "cpu_per_poke_us": (end.cpu - start.cpu) / probe.pokes * 1e6,
        "steady_pokes": steady_pokes,
        "steady_poke_rate": steady_pokes / (waited.wall - t0.wall),
        "steady_cpu_per_poke_us": steady_cpu / max(steady_pokes, 1) * 1e6,
        "steady_cpu_load": steady_cpu / (waited.wall - t0.wall),
        "lag_p50_s": lags[len(lags) // 2],
        "lag_p99_s": lags[int(0.99 * (len(lags) - 1))],
        "lag_max_s": lags[-1],
        "transactions": transactions,
        "transactions_per_poke": transactions / probe.pokes,
        "steady_transactions_per_poke": (waited.transactions - t0.transactions)
        / max(steady_pokes, 1),
    }


def sensor_dag(probe: Probe, mode: str, interval: float) -> DAG:
    """One sensor task expanded over ``probe.n`` items."""
    with DAG("sensors") as built:

        @task.sensor(poke_interval=interval, mode=mode)
        async def waiter(i: int) -> bool:
            return probe.poke(i)

        waiter.expand(i=list(range(probe.n)))
    return built


async def run_asyncflow(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    """The workload on an engine: one run of the mapped sensor, to the end."""
    probe = Probe(args.n, args.interval, args.wait, args.spread)
    dag = sensor_dag(probe, args.mode, args.interval)
    limit = args.n + 16 if args.mode == "poke" else 1024  # a waiting poke sensor holds a slot
    settings = Settings.from_env(task_logs_folder=tmp / "logs")
    engine = Engine(
        url,
        dags=[dag],
        max_active_tasks=limit,
        settings=settings,
        task_logs=args.task_logs,
        process=SERVED,
    )
    async with engine:
        probe.transactions = lambda: engine.store.stats.transactions
        probe.mark("start")
        result = await engine.run(dag.dag_id)
        assert result.state is DagRunState.SUCCESS, result.state
        done_at = [_timestamp(result.ti("waiter", i).end_date) for i in range(args.n)]
        return summarise(probe, done_at)


def _timestamp(moment: datetime | None) -> float:
    assert moment is not None, "a sensor that succeeded has an end_date"
    return moment.timestamp()


async def run_floor(args: argparse.Namespace) -> dict[str, Any]:
    """The same workload as bare asyncio coroutines: no orchestrator at all."""
    probe = Probe(args.n, args.interval, args.wait, args.spread)
    done_at = array("d", bytes(8 * args.n))

    async def waiter(i: int) -> None:
        while not probe.poke(i):  # noqa: ASYNC110 - polling is the workload
            await asyncio.sleep(args.interval * (1 + JITTER * (random.random() - 0.5)))
        done_at[i] = time.time()

    probe.mark("start")
    async with asyncio.TaskGroup() as tg:
        for i in range(args.n):
            tg.create_task(waiter(i))
    return summarise(probe, list(done_at))


ROWS: list[tuple[str, str]] = [
    ("wall time (s)", "wall_s"),
    ("ramp: start -> every sensor poked once (s)", "ramp_s"),
    ("CPU, user+sys (s)", "cpu_s"),
    ("peak RSS (MiB)", "peak_rss_mib"),
    ("RSS per sensor while waiting (bytes)", "rss_per_sensor_b"),
    ("total pokes", "pokes"),
    ("CPU per poke, whole run (us)", "cpu_per_poke_us"),
    ("CPU per poke, steady wait (us)", "steady_cpu_per_poke_us"),
    ("steady poke rate (/s)", "steady_poke_rate"),
    ("steady CPU load (cores)", "steady_cpu_load"),
    ("completion lag p50 (s)", "lag_p50_s"),
    ("completion lag p99 (s)", "lag_p99_s"),
    ("completion lag max (s)", "lag_max_s"),
    ("store transactions", "transactions"),
    ("transactions per poke, whole run", "transactions_per_poke"),
    ("transactions per poke, steady wait", "steady_transactions_per_poke"),
]


def _cell(key: str, value: Any) -> str:
    if isinstance(value, int) or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4f}" if "transactions" in key else f"{value:.2f}"


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def print_table(args: argparse.Namespace, flow: dict[str, Any], floor: dict[str, Any]) -> None:
    print(
        f"asyncflow sensors, mode={args.mode}, store={args.store}, n={args.n:,}, "
        f"interval={args.interval:g}s (nominal {args.n / args.interval:,.0f} pokes/s), "
        f"wait={args.wait:g}s, spread={args.spread:g}s, task logs {_on(args.task_logs)}, "
        f"python {platform.python_version()}, "
        f"{os.cpu_count()} cpus"
    )
    print_side_by_side(ROWS, flow, floor, _cell)


def ratios(flow: dict[str, Any], floor: dict[str, Any]) -> dict[str, float]:
    """Ratios asyncflow / floor of memory per sensor and CPU per poke."""
    return {
        key: flow[key] / floor[key]
        for key in ("rss_per_sensor_b", "cpu_per_poke_us", "steady_cpu_per_poke_us")
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["poke", "reschedule"], default="poke")
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--wait", type=float, default=None, help="default: 3 intervals")
    parser.add_argument("--spread", type=float, default=None, help="default: 1 interval")
    parser.add_argument("--task-logs", action="store_true", help="a log file per try (off)")
    parser.add_argument("--floor", action="store_true", help="internal: run the floor only")
    args = parser.parse_args()
    args.wait = 3 * args.interval if args.wait is None else args.wait
    args.spread = args.interval if args.spread is None else args.spread
    return args


def main() -> None:
    """Run the floor (in a subprocess) and asyncflow, print the table and write the JSON."""
    args = parse_args()
    if args.floor:
        print(json.dumps(asyncio.run(run_floor(args))))
        return
    configure(logging.WARNING)
    load_before = os.getloadavg()[0]  # other work on the machine skews wall-clock figures
    floor = floor_in_subprocess(__file__, args, ("n", "interval", "wait", "spread"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/sensors.db" if args.store == "sqlite" else "memory://"
        flow = asyncio.run(run_asyncflow(args, url, Path(tmp)))
    print_table(args, flow, floor)
    ratio = ratios(flow, floor)
    for key, value in ratio.items():
        print(f"asyncflow / floor, {key}: {value:.2f}x")
    print(f"machine load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    figures = {"jitter": JITTER, "asyncflow": flow, "floor": floor, "ratios": ratio}
    out = write_results(f"sensors-{args.mode}-{args.store}", args, load_before, figures)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
