"""A page of waiting sensors from a SQLite store in two statements (count, page).

No index serves them on purpose: migration 0003 dropped the ``next_poke_at``
index because writing it cost about 40 % of every reschedule poke, and
``benchmarks/sensors_page.py`` shows a page read within the sensors view's
500 ms budget at 100,000 waiting sensors without it.
"""

from __future__ import annotations

from datetime import datetime

from asyncflow.records import TaskInstanceRecord
from asyncflow.states import TaskState
from asyncflow.storage.sqlite.codec import Row
from asyncflow.storage.sqlite.sqlfiles import QUERIES
from asyncflow.storage.sqlite.store import SqliteStore
from asyncflow.storage.waiting import WaitingPage

_COUNT = QUERIES["count_waiting_sensors"]
_PAGE = QUERIES["page_waiting_sensors"]


async def sqlite_waiting_page(
    store: SqliteStore, dag_id: str | None, limit: int, offset: int
) -> WaitingPage:
    """Sensors waiting for their next poke, soonest first; see :func:`waiting_page`."""
    counted = await store._read("count_waiting_sensors", _COUNT, (dag_id,))
    rows = await store._read("page_waiting_sensors", _PAGE, (dag_id, limit, offset))
    return WaitingPage(total=int(counted[0][0]), instances=[_instance(row) for row in rows])


def _instance(row: Row) -> TaskInstanceRecord:
    dag_id, run_id, task_id, map_index, try_number, next_poke, first_poke, pokes = row
    return TaskInstanceRecord(
        dag_id=str(dag_id),
        run_id=str(run_id),
        task_id=str(task_id),
        map_index=int(map_index),
        state=TaskState.UP_FOR_RESCHEDULE,
        try_number=int(try_number),
        next_poke_at=datetime.fromisoformat(next_poke) if next_poke else None,
        first_poke_at=datetime.fromisoformat(first_poke) if first_poke else None,
        poke_count=int(pokes),
    )
