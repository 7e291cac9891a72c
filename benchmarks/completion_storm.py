"""Completion storm: N poke-mode sensors whose condition turns true together, then one reducer.

Run: ``.venv/bin/python benchmarks/completion_storm.py [--n 100000] [--interval 2]
[--wait 4] [--spread 0] [--store sqlite|memory]``.

One DAG: ``waiter.expand(i=range(n))``, a ``@task.sensor`` in poke mode whose
poke returns ``PokeReturnValue(True, xcom_value=i)`` once the condition holds,
then ``total(values)``, one task over the mapped results (the list of ``n``
values in map_index order). Once every sensor has poked once (``t0``, the end
of the ramp), every condition turns true at ``true_at = t0 + wait`` (or spread
over ``[true_at, true_at + spread]``, scrambled across the sensors). So the
engine records ``n`` successes and their XComs within about one poke interval,
expands nothing more, and runs the reducer over ``n`` values: the storm.

- **end after true**: the run's ``end_date`` as the engine recorded it minus
  the moment the last condition turned true. Target: at most the poke interval
  + 1 s. The floor ends, by construction, within one interval (plus jitter).
- **peak RSS per sensor**: ``ru_maxrss`` at the end (ramp, waiting, storm,
  reducer and the run's result included) minus the RSS once the engine is open
  and the DAG defined, over ``n``. Target: within 3x the floor's.

The **floor** runs first in a fresh interpreter (this script re-invoked with
``--floor``): ``n`` bare asyncio coroutines ``while not cond(i): await
asyncio.sleep(interval ± the engine's jitter)``, each storing its value in a
list, then the sum of that list: the same work with no orchestrator. Prints a
table and writes ``benchmarks/results/completion-storm-<store>.json``.
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
from dataclasses import dataclass, field
from typing import Any

from _bench import floor_in_subprocess, print_side_by_side, rss_bytes, write_results

from asyncflow import DAG, DagRunState, Engine, PokeReturnValue, ProcessSetup, task
from asyncflow.log import configure
from asyncflow.settings import Settings

JITTER = Settings.from_env().poke_jitter  # the engine's spread of poke intervals (default 0.1)
GOLDEN = 0.6180339887498949  # scrambles due times across the sensors


def peak_rss_bytes() -> int:
    """The process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass(slots=True)
class Probe:
    """The sensors' conditions: all false until every sensor has poked once, then due."""

    n: int
    wait: float
    spread: float
    seen: bytearray = field(default_factory=bytearray)
    first_pokes: int = 0
    pokes: int = 0
    started: float = 0.0
    t0: float | None = None
    last_done: float = 0.0  # when the last poke that found its condition true ended

    def __post_init__(self) -> None:
        self.seen = bytearray(self.n)
        self.started = time.time()

    @property
    def last_true(self) -> float:
        """When the last condition turned (or turns) true."""
        assert self.t0 is not None, "the ramp has not ended"
        return self.t0 + self.wait + self.spread

    def poke(self, i: int) -> bool:
        """One poke of sensor ``i``: whether its condition holds now."""
        self.pokes += 1
        if not self.seen[i]:
            self.seen[i] = 1
            self.first_pokes += 1
            if self.first_pokes == self.n:
                self.t0 = time.time()
        if self.t0 is None:
            return False
        now = time.time()
        done = now >= self.t0 + self.wait + self.spread * ((i * GOLDEN) % 1.0)
        if done:
            self.last_done = now
        return done


def figures(probe: Probe, ended: float, baseline_rss: int, cpu: float) -> dict[str, Any]:
    """The metrics of one run, from its probe and the moment the run ended."""
    assert probe.t0 is not None
    peak = peak_rss_bytes()
    return {
        "n": probe.n,
        "ramp_s": probe.t0 - probe.started,
        "end_after_true_s": ended - probe.last_true,
        "last_done_after_true_s": probe.last_done - probe.last_true,
        "wall_s": time.time() - probe.started,
        "cpu_s": time.process_time() - cpu,
        "pokes": probe.pokes,
        "baseline_rss_mib": baseline_rss / 2**20,
        "peak_rss_mib": peak / 2**20,
        "peak_rss_per_sensor_b": (peak - baseline_rss) / probe.n,
    }


def storm_dag(probe: Probe, interval: float) -> DAG:
    """``n`` mapped poke-mode sensors, then one task over their results."""
    with DAG("completion_storm") as built:

        @task.sensor(poke_interval=interval, mode="poke")
        async def waiter(i: int) -> PokeReturnValue:
            return PokeReturnValue(probe.poke(i), xcom_value=i)

        @task
        async def total(values: list[int]) -> int:
            return sum(values)

        total(waiter.expand(i=list(range(probe.n))))
    return built


async def run_asyncflow(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """The storm on an engine opened as ``asyncflow run`` opens its own."""
    probe = Probe(args.n, args.wait, args.spread)
    dag = storm_dag(probe, args.interval)
    engine = Engine(
        url,
        dags=[dag],
        max_active_tasks=args.n + 16,  # a waiting poke-mode sensor holds a slot
        process=ProcessSetup.everything(),
    )
    async with engine:
        baseline, cpu = rss_bytes(), time.process_time()
        probe.started = time.time()
        result = await engine.run(dag.dag_id)
        assert result.state is DagRunState.SUCCESS, result.state
        assert result.xcom("total") == args.n * (args.n - 1) // 2, result.xcom("total")
        assert result.end_date is not None
        out = figures(probe, result.end_date.timestamp(), baseline, cpu)
        out["returned_after_true_s"] = time.time() - probe.last_true
        out["transactions"] = engine.store.stats.transactions
        return out


async def run_floor(args: argparse.Namespace) -> dict[str, Any]:
    """The same work as bare asyncio coroutines: no orchestrator at all."""
    probe = Probe(args.n, args.wait, args.spread)
    values: list[int | None] = [None] * args.n

    async def waiter(i: int) -> None:
        while not probe.poke(i):  # noqa: ASYNC110 - polling is the workload
            await asyncio.sleep(args.interval * (1 + JITTER * (random.random() - 0.5)))
        values[i] = i

    baseline, cpu = rss_bytes(), time.process_time()
    async with asyncio.TaskGroup() as tg:
        for i in range(args.n):
            tg.create_task(waiter(i))
    assert sum(v for v in values if v is not None) == args.n * (args.n - 1) // 2
    return figures(probe, time.time(), baseline, cpu)


ROWS: list[tuple[str, str]] = [
    ("ramp: start -> every sensor poked once (s)", "ramp_s"),
    ("last sensor done after the last condition turned true (s)", "last_done_after_true_s"),
    ("run end after the last condition turned true (s)", "end_after_true_s"),
    ("wall time (s)", "wall_s"),
    ("CPU, user+sys (s)", "cpu_s"),
    ("pokes", "pokes"),
    ("RSS before the run (MiB)", "baseline_rss_mib"),
    ("peak RSS (MiB)", "peak_rss_mib"),
    ("peak RSS per sensor (bytes)", "peak_rss_per_sensor_b"),
]


def print_table(args: argparse.Namespace, flow: dict[str, Any], floor: dict[str, Any]) -> None:
    """The two runs side by side."""
    print(
        f"completion storm, store={args.store}, n={args.n:,}, interval={args.interval:g}s, "
        f"wait={args.wait:g}s, spread={args.spread:g}s, python {platform.python_version()}, "
        f"{os.cpu_count()} cpus"
    )
    print_side_by_side(ROWS, flow, floor, _cell)


def _cell(key: str, value: float) -> str:
    return f"{value:,.0f}" if isinstance(value, int) or abs(value) >= 1000 else f"{value:.2f}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--wait", type=float, default=None, help="default: 2 intervals")
    parser.add_argument("--spread", type=float, default=0.0)
    parser.add_argument("--floor", action="store_true", help="internal: run the floor only")
    args = parser.parse_args()
    args.wait = 2 * args.interval if args.wait is None else args.wait
    return args


def main() -> None:
    """Run the floor (in a subprocess) and asyncflow, print the table and write the JSON."""
    args = parse_args()
    if args.floor:
        print(json.dumps(asyncio.run(run_floor(args))))
        return
    configure(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/storm.db" if args.store == "sqlite" else "memory://"
        load_before = os.getloadavg()[0]  # other work on the machine skews wall-clock figures
        floor = floor_in_subprocess(__file__, args, ("n", "interval", "wait", "spread"))
        flow = asyncio.run(run_asyncflow(args, url))
    print_table(args, flow, floor)
    ratio = flow["peak_rss_per_sensor_b"] / floor["peak_rss_per_sensor_b"]
    target = args.interval + 1
    print(f"asyncflow / floor, peak RSS per sensor: {ratio:.2f}x (target 3x)")
    print(f"run end after true: {flow['end_after_true_s']:.2f} s (target {target:g} s)")
    print(f"machine load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    figures = {"jitter": JITTER, "asyncflow": flow, "floor": floor, "ratio": ratio}
    out = write_results(f"completion-storm-{args.store}", args, load_before, figures)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
