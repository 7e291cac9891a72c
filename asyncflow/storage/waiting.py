"""The sensors waiting between pokes: one page of them, for the web UI's sensors view.

A reschedule-mode sensor between pokes is a row in state ``up_for_reschedule``
with its next poke time; this reads a page of them, soonest poke first, with the
total, without reading every run. :func:`waiting_page` works on any store by
walking the running runs; the SQLite store has one query for it
(``sqlite/waiting.py``), measured in ``benchmarks/sensors_page.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from asyncflow.records import TaskInstanceRecord
from asyncflow.states import DagRunState, TaskState
from asyncflow.storage.protocol import Store


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingPage:
    """One page of waiting sensors and how many wait in all."""

    total: int
    instances: list[TaskInstanceRecord]


async def waiting_page(store: Store, dag_id: str | None, limit: int, offset: int) -> WaitingPage:
    """Sensors waiting for their next poke, soonest first, read run by run.

    Args:
        store: any store.
        dag_id: only this DAG's sensors (default: every DAG's).
        limit: the page's size.
        offset: how many to pass over first.
    """
    waiting: list[TaskInstanceRecord] = []
    for run in await store.list_runs(dag_id, [DagRunState.RUNNING]):
        waiting.extend(
            ti
            for ti in await store.get_task_instances(run.dag_id, run.run_id)
            if ti.state == TaskState.UP_FOR_RESCHEDULE
        )
    never = datetime.max.replace(tzinfo=UTC)
    waiting.sort(key=lambda ti: (ti.next_poke_at or never, ti.dag_id, ti.run_id, ti.task_id))
    return WaitingPage(total=len(waiting), instances=waiting[offset : offset + limit])
