"""The sensors view's rows: stored waiting sensors joined with what their DAGs say."""

from __future__ import annotations

from asyncflow.sensor import Sensor
from asyncflow.storage.waiting import WaitingPage, waiting_page
from asyncflow.web.context import WebContext
from asyncflow.web.models import WaitingSensor


async def read_page(
    context: WebContext, dag_id: str | None, limit: int, offset: int
) -> WaitingPage:
    """One page of waiting sensors, by the store's fastest way to read it."""
    from asyncflow.storage.sqlite import SqliteStore

    if isinstance(context.store, SqliteStore):
        from asyncflow.storage.sqlite.waiting import sqlite_waiting_page

        return await sqlite_waiting_page(context.store, dag_id, limit, offset)
    return await waiting_page(context.store, dag_id, limit, offset)


async def waiting_sensors(
    context: WebContext, dag_id: str | None, limit: int, offset: int
) -> tuple[list[WaitingSensor], int]:
    """One page of the sensors waiting between pokes, soonest poke first, and their total."""
    page = await read_page(context, dag_id, limit, offset)
    now = context.now()
    rows: list[WaitingSensor] = []
    for ti in page.instances:
        dag = context.dags.get(ti.dag_id)
        task = dag.task_dict.get(ti.task_id) if dag is not None else None
        sensor = task if isinstance(task, Sensor) else None
        timeout_at = (
            ti.first_poke_at + sensor.timeout
            if sensor is not None and ti.first_poke_at is not None
            else None
        )
        rows.append(
            WaitingSensor(
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                map_index=ti.map_index,
                mode=str(sensor.mode) if sensor is not None else "reschedule",
                pokes=ti.poke_count,
                next_poke_at=ti.next_poke_at,
                timeout_at=timeout_at,
                seconds_left=None if timeout_at is None else (timeout_at - now).total_seconds(),
                wake_on=list(sensor.wake_on) if sensor is not None else [],
            )
        )
    return rows, page.total
