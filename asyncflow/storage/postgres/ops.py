"""The PostgreSQL store's write operations, and how a batch of them is applied.

Operations are :class:`~asyncflow.storage.batches.Op` s. Consecutive ones of
one shape share a statement: a transition's rows travel as one array per
column into a single ``UPDATE ... FROM unnest(...) RETURNING`` whose returned
positions say which rows applied, so a batch of a thousand finished tries is
one round trip whether or not some are stale; the statements after it (the
XCom of the tries that applied) go as one ``executemany``.

A transition applied once per row in a row-by-row store sees the rows before
it; one array-valued ``UPDATE`` does not, and updates a row named twice only
once. So a run of rows is cut where an instance repeats, and each part is its
own statement, in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asyncflow.records import Reopening
from asyncflow.storage import batches
from asyncflow.storage.postgres.codec import Row, columns, instance_key
from asyncflow.storage.postgres.connections import Connection
from asyncflow.storage.postgres.sqlfiles import QUERIES

_INSERT_RUN = QUERIES["insert_run"]
_INSERT_INSTANCES = QUERIES["insert_task_instances"]
_DELETE_RUN_XCOMS = QUERIES["delete_run_xcoms"]
_DELETE_PLACEHOLDER = QUERIES["delete_placeholder"]
_START_RUN = QUERIES["start_run"]
_LOCK_ACTIVE_RUNS = QUERIES["lock_active_runs"]
_START_RUN_WITHIN = QUERIES["start_run_within"]
_FINISH_RUN = QUERIES["finish_run"]
_STOP_UNFINISHED = QUERIES["stop_unfinished"]
_REOPEN_RUN = QUERIES["reopen_run"]
_NOTIFY_RUN_QUEUED = QUERIES["notify_run_queued"]
_CLEAR_INSTANCES = QUERIES["clear_instances"]
_DELETE_INSTANCES_XCOMS = QUERIES["delete_instances_xcoms"]
_DELETE_TASKS_INSTANCES = QUERIES["delete_tasks_instances"]
_DELETE_TASKS_XCOMS = QUERIES["delete_tasks_xcoms"]
_MARK_INSTANCES = QUERIES["mark_instances"]
_MARK_RUN_SUCCESS = QUERIES["mark_run_success"]
_MARK_INSTANCES_SUCCESS = QUERIES["mark_instances_success"]
_DELETE_RUN = QUERIES["delete_run"]

Op = batches.Op
Apply = Callable[[Connection], Awaitable[object]]


async def apply_ops(connection: Connection, ops: list[Op]) -> list[object]:
    """Apply operations in order, each run of one shape in one statement per statement.

    Returns:
        Each operation's result, in order: a list of flags for a guarded one,
        ``None`` for another merged one.

    Raises:
        asyncpg.PostgresError: a statement failed.
    """
    return await batches.apply_ops(connection, ops, _apply_guarded)


async def _apply_guarded(
    connection: Connection, sql: str, per_op: list[list[Row]]
) -> list[list[bool]]:
    """Apply a transition's rows; which of each operation's rows matched."""
    rows = [row for op_rows in per_op for row in op_rows]
    applied = [False] * len(rows)
    for start, end in _without_repeats(rows):
        records = await connection.fetch(sql, *columns(rows[start:end]))
        for record in records:
            applied[start + record[0] - 1] = True
    flags, start = [], 0
    for op_rows in per_op:
        flags.append(applied[start : start + len(op_rows)])
        start += len(op_rows)
    return flags


def _without_repeats(rows: list[Row]) -> list[tuple[int, int]]:
    """Cut ``rows`` into consecutive parts ``[start, end)`` that name no instance twice."""
    parts: list[tuple[int, int]] = []
    seen: set[Row] = set()
    start = 0
    for index, row in enumerate(rows):
        key = instance_key(row)
        if key in seen:
            parts.append((start, index))
            seen.clear()
            start = index
        seen.add(key)
    if start < len(rows):
        parts.append((start, len(rows)))
    return parts


def _count(status: str) -> int:
    """The row count of a command's status (``"UPDATE 3"``, ``"INSERT 0 1"``)."""
    return int(status.rsplit(" ", 1)[-1])


async def insert_instances(connection: Connection, rows: list[Row]) -> None:
    """Insert task instances, every one in a single statement."""
    if rows:
        await connection.execute(_INSERT_INSTANCES, *columns(rows))


async def insert_run(run_row: Row, instance_rows: list[Row], connection: Connection) -> bool:
    """Insert a run and its instances; ``False``, inserting nothing, when the run exists."""
    if _count(await connection.execute(_INSERT_RUN, *run_row)) == 0:
        return False
    await insert_instances(connection, instance_rows)
    return True


async def delete_run_xcoms(key: Row, connection: Connection) -> int:
    """Delete a run's XCom values; returns how many there were."""
    return _count(await connection.execute(_DELETE_RUN_XCOMS, *key))


async def start_run(row: Row, connection: Connection) -> bool:
    """A queued run starts; whether it was queued (and, given a limit, had room under it)."""
    if len(row) == 4:
        return _count(await connection.execute(_START_RUN, *row)) == 1
    await connection.execute(_LOCK_ACTIVE_RUNS, row[0])
    return _count(await connection.execute(_START_RUN_WITHIN, *row)) == 1


async def finish_run(row: Row, stop: Row | None, connection: Connection) -> bool:
    """A running run ends (its unfinished instances too, given ``stop``); whether it ran."""
    if _count(await connection.execute(_FINISH_RUN, *row)) != 1:
        return False
    if stop is not None:
        await connection.execute(_STOP_UNFINISHED, *stop)
    return True


async def reopen_run(
    key: Row, reopening: Reopening, placeholders: list[Row], connection: Connection
) -> bool:
    """A finished run is queued to run again with its instances changed; whether it was finished.

    Engines waiting for queued runs are told, as for a run ``dags trigger`` queued.
    """
    if _count(await connection.execute(_REOPEN_RUN, *key)) != 1:
        return False
    if reopening.clear:
        tasks, indexes = (list(column) for column in zip(*reopening.clear, strict=True))
        await connection.execute(_CLEAR_INSTANCES, *key, tasks, indexes)
        await connection.execute(_DELETE_INSTANCES_XCOMS, *key, tasks, indexes)
    if reopening.expand_again:
        again = list(reopening.expand_again)
        await connection.execute(_DELETE_TASKS_INSTANCES, *key, again)
        await connection.execute(_DELETE_TASKS_XCOMS, *key, again)
        await insert_instances(connection, placeholders)
    if reopening.marks:
        tasks, indexes, states = (list(column) for column in zip(*reopening.marks, strict=True))
        states = [str(state) for state in states]
        await connection.execute(_MARK_INSTANCES, *key, reopening.at, tasks, indexes, states)
    await connection.execute(_NOTIFY_RUN_QUEUED, key[0])
    return True


async def mark_run_success(row: Row, connection: Connection) -> bool:
    """A run and its instances are marked success; whether it was not already."""
    if _count(await connection.execute(_MARK_RUN_SUCCESS, *row)) != 1:
        return False
    await connection.execute(_MARK_INSTANCES_SUCCESS, *row)
    return True


async def delete_run(key: Row, connection: Connection) -> bool:
    """A run that is not running is deleted with its instances and XCom; whether it was."""
    return _count(await connection.execute(_DELETE_RUN, *key)) == 1


async def expand_task(placeholder: Row, instance_rows: list[Row], connection: Connection) -> bool:
    """Replace an undecided placeholder by the mapped instances; whether it was there."""
    if _count(await connection.execute(_DELETE_PLACEHOLDER, *placeholder)) != 1:
        return False
    await insert_instances(connection, instance_rows)
    return True
