"""Metrics benchmark: the cost of one scrape with many waiting sensors, and of counting.

Run: ``.venv/bin/python benchmarks/metrics_scrape.py [--sensors N ...]``.
For each N, opens an engine (memory store) with N poke-mode and N
reschedule-mode sensors waiting, then times ``engine.metrics.exposition()``
(the whole text a scrape returns). A scrape reads counts the engine keeps as it
goes, so its time should not grow with N.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from typing import Any

import anyio

from asyncflow import DAG, Engine, Sensor
from asyncflow.log import configure


class Waiting(Sensor):
    """Never done; pokes once an hour."""

    def __init__(self, *, n: int = 0, **kwargs: Any) -> None:
        super().__init__(poke_interval=3600, **kwargs)
        self.n = n

    async def poke(self, context: Any) -> bool:
        """Not yet."""
        return False


def sensors_dag(count: int) -> DAG:
    """``count`` sensors of each mode, mapped."""
    with DAG(f"waiting_{count}") as built:
        Waiting.partial(task_id="poke", mode="poke").expand(n=list(range(count)))
        Waiting.partial(task_id="reschedule", mode="reschedule").expand(n=list(range(count)))
    return built


async def scrape_times(count: int, scrapes: int) -> dict[str, float]:
    """Median and max milliseconds of one exposition with ``count`` sensors of each mode waiting."""
    dag = sensors_dag(count)
    async with Engine("memory://", dags=[dag], max_active_tasks=count * 2 + 10) as engine:
        await engine.trigger(dag.dag_id)
        with anyio.fail_after(600):
            # the gauges are what is measured: polled, as a scraper would
            while engine.metrics.tally.sensors_waiting() != {"poke": count, "reschedule": count}:  # noqa: ASYNC110
                await anyio.sleep(0.1)
        times = []
        for _ in range(scrapes):
            started = time.perf_counter()
            engine.metrics.exposition()
            times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(times), "max_ms": max(times)}


def main() -> None:
    """Time scrapes for each number of sensors and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sensors", type=int, nargs="+", default=[10, 1_000, 10_000])
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()
    configure(logging.WARNING)
    print("sensors waiting (each mode)  scrape median  scrape max")
    for count in args.sensors:
        result = anyio.run(scrape_times, count, args.scrapes)
        print(f"{count:>27,}  {result['median_ms']:>10.3f} ms  {result['max_ms']:>7.3f} ms")


if __name__ == "__main__":
    main()
