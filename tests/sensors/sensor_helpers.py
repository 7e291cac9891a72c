"""Helpers for the sensor library's tests: their modes, their bound, their stored poke counts.

A sensor's pokes are watched with :func:`asyncflow.testing.watch_pokes`.
"""

from __future__ import annotations

from asyncflow import Engine

MODES = ["poke", "reschedule"]
LIMIT = 10  # seconds: the bound on every wait, far above what any test needs


async def poke_counts(engine: Engine, dag_id: str, run_id: str) -> dict[str, int]:
    """The stored poke count of every task instance of a run, by task id."""
    records = await engine.store.get_task_instances(dag_id, run_id)
    return {record.task_id: record.poke_count for record in records}
