"""Helpers for the sensor library's tests: watching a sensor's pokes and reading its counts."""

from __future__ import annotations

from typing import Any

import anyio

from asyncflow import Engine, Sensor

MODES = ["poke", "reschedule"]
LIMIT = 10  # seconds: the bound on every wait, far above what any test needs


class Probe:
    """What a watched sensor's pokes said; ``waiting`` is set once one said not done."""

    def __init__(self) -> None:
        self.results: list[bool] = []
        self.waiting = anyio.Event()


def watch(sensor: Sensor) -> Probe:
    """Record every poke of ``sensor`` (the engine calls ``sensor.poke``, so wrap it)."""
    probe = Probe()
    poke = sensor.poke

    async def observed(context: Any) -> Any:
        result = await poke(context)
        probe.results.append(bool(result))
        if not result:
            probe.waiting.set()
        return result

    sensor.poke = observed  # type: ignore[method-assign]
    return probe


async def poke_counts(engine: Engine, dag_id: str, run_id: str) -> dict[str, int]:
    """The stored poke count of every task instance of a run, by task id."""
    records = await engine.store.get_task_instances(dag_id, run_id)
    return {record.task_id: record.poke_count for record in records}
