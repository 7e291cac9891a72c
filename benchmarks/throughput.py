"""Throughput benchmark: many no-op tasks, a long chain, and trigger-to-first-start latency.

Run: ``.venv/bin/python benchmarks/throughput.py [--store sqlite|memory] [--tasks N]``.
Prints a table and writes ``benchmarks/results/throughput-<store>.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from asyncflow import DAG, DagRunState, EmptyOperator, Engine, ProcessSetup, chain, task
from asyncflow.log import configure

RESULTS = Path(__file__).parent / "results"
# engines are opened as `asyncflow run` opens its own (GC thresholds, watchdog, capture)
SERVED = ProcessSetup.everything()


def wide_dag(width: int) -> DAG:
    """``width`` independent no-op tasks."""
    with DAG(f"wide_{width}") as built:
        for i in range(width):
            EmptyOperator(task_id=f"noop_{i}")
    return built


def chain_dag(length: int) -> DAG:
    """``length`` no-op tasks in series."""
    with DAG(f"chain_{length}") as built:
        chain(*[EmptyOperator(task_id=f"step_{i}") for i in range(length)])
    return built


def first_start_dag(stamps: list[float]) -> DAG:
    """One task that records when it starts."""
    with DAG("first_start") as built:

        @task
        async def first() -> None:
            stamps.append(time.perf_counter())

        first()
    return built


async def run_once(store_url: str, dag: DAG) -> dict[str, Any]:
    """Run ``dag`` once on a fresh engine; return wall time and store transactions."""
    async with Engine(store_url, dags=[dag], process=SERVED) as engine:
        before = engine.store.stats.transactions
        started = time.perf_counter()
        result = await engine.run(dag.dag_id)
        elapsed = time.perf_counter() - started
        transactions = engine.store.stats.transactions - before
    assert result.state is DagRunState.SUCCESS, result.state
    return {"seconds": elapsed, "transactions": transactions, "tasks": len(dag.task_dict)}


async def first_start_latency(store_url: str, repeats: int) -> dict[str, Any]:
    """Time from trigger() being called to the first task's body starting."""
    stamps: list[float] = []
    dag = first_start_dag(stamps)
    latencies = []
    async with Engine(store_url, dags=[dag], process=SERVED) as engine:
        for i in range(repeats):
            when = _logical_date(i)
            began = time.perf_counter()
            started = await engine.trigger(dag.dag_id, logical_date=when)
            await engine.wait(started)
            latencies.append(stamps[-1] - began)
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "max_ms": latencies[-1] * 1000,
        "repeats": repeats,
    }


def _logical_date(i: int) -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)


def main() -> None:
    """Run every scenario, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--chain", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    configure(logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if args.store == "sqlite" else "memory://"
        fresh: Callable[[str], str] = (
            (lambda name: f"sqlite:///{tmp}/{name}.db")
            if args.store == "sqlite"
            else (lambda _: url)
        )
        wide = anyio.run(run_once, fresh("wide"), wide_dag(args.tasks))
        chained = anyio.run(run_once, fresh("chain"), chain_dag(args.chain))
        latency = anyio.run(first_start_latency, fresh("latency"), args.repeats)

    rows = [
        (
            f"{args.tasks:,} independent no-op tasks",
            f"{wide['seconds']:.2f} s",
            f"{args.tasks / wide['seconds']:,.0f} tasks/s",
            f"{wide['transactions']:,} transactions",
        ),
        (
            f"chain of {args.chain:,} no-op tasks",
            f"{chained['seconds']:.2f} s",
            f"{args.chain / chained['seconds']:,.0f} tasks/s",
            f"{chained['transactions']:,} transactions",
        ),
        (
            "trigger -> first task start",
            f"p50 {latency['p50_ms']:.2f} ms",
            f"p99 {latency['p99_ms']:.2f} ms",
            f"{latency['repeats']} runs",
        ),
    ]
    print(
        f"asyncflow throughput, store={args.store}, python {platform.python_version()}, "
        f"{os.cpu_count()} cpus"
    )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"throughput-{args.store}.json"
    out.write_text(
        json.dumps(
            {
                "store": args.store,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "argv": sys.argv[1:],
                "wide": wide,
                "chain": chained,
                "first_start": latency,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
