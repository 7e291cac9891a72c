"""The SQLite store's write operations, and how a batch of them is applied.

Operations are :class:`~asyncflow.storage.batches.Op` s; consecutive ones of
the same shape share one ``executemany`` per statement (or a few many-row
statements, :mod:`asyncflow.storage.sqlite.bulk`). A merged statement reports
only its total row count, so when that falls short the statement is undone to a
savepoint and its rows are applied one by one to learn which ones hold: the
common case, every write current, costs one call.

:func:`apply_ops` applies a batch inside the transaction the store opened; an
exception it raises is the fault of the operations it names, and the store
isolates the one at fault by splitting the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from asyncflow.storage import batches
from asyncflow.storage.sqlite.bulk import execute_rows
from asyncflow.storage.sqlite.codec import Row
from asyncflow.storage.sqlite.sqlfiles import QUERIES

_INSERT_RUN = QUERIES["insert_run"]
_INSERT_INSTANCE = QUERIES["insert_task_instance"]
_DELETE_RUN_XCOMS = QUERIES["delete_run_xcoms"]
_DELETE_PLACEHOLDER = QUERIES["delete_placeholder"]
_START_RUN = QUERIES["start_run"]
_START_RUN_WITHIN = QUERIES["start_run_within"]
_FINISH_RUN = QUERIES["finish_run"]
_STOP_UNFINISHED = QUERIES["stop_unfinished"]
_REOPEN_RUN = QUERIES["reopen_run"]
_CLEAR_INSTANCE = QUERIES["clear_instance"]
_DELETE_INSTANCE_XCOMS = QUERIES["delete_instance_xcoms"]
_DELETE_TASK_INSTANCES = QUERIES["delete_task_instances"]
_DELETE_TASK_XCOMS = QUERIES["delete_task_xcoms"]
_MARK_INSTANCE = QUERIES["mark_instance"]
_MARK_RUN_SUCCESS = QUERIES["mark_run_success"]
_MARK_INSTANCES_SUCCESS = QUERIES["mark_instances_success"]
_DELETE_RUN = QUERIES["delete_run"]

Op = batches.Op


async def apply_ops(writer: aiosqlite.Connection, ops: list[Op]) -> list[object]:
    """Apply operations in order, merging runs of the same shape into executemany calls.

    Returns:
        Each operation's result, in order: a list of flags for a guarded one,
        ``None`` for another merged one.

    Raises:
        sqlite3.Error: a statement failed.
    """
    return await batches.apply_ops(writer, ops, _apply_guarded, execute_rows)


async def _apply_guarded(
    writer: aiosqlite.Connection, sql: str, per_op: list[list[Row]]
) -> list[list[bool]]:
    """Apply a transition's rows; which of each operation's rows matched."""
    rows = [row for op_rows in per_op for row in op_rows]
    if len(rows) <= 1:  # a lone row's count says it all: no savepoint (two thread hops) needed
        applied = [(await writer.execute(sql, row)).rowcount == 1 for row in rows]
        return [applied if op_rows else [] for op_rows in per_op]
    await writer.execute("SAVEPOINT guarded")
    if await execute_rows(writer, sql, rows) == len(rows):
        await writer.execute("RELEASE guarded")
        return [[True] * len(op_rows) for op_rows in per_op]
    await writer.execute("ROLLBACK TO guarded")  # some are stale: learn which, one by one
    flags = []
    for op_rows in per_op:
        applied = []
        for row in op_rows:
            cursor = await writer.execute(sql, row)
            applied.append(cursor.rowcount == 1)
        flags.append(applied)
    await writer.execute("RELEASE guarded")
    return flags


async def insert_run(run_row: Row, instance_rows: list[Row], writer: aiosqlite.Connection) -> bool:
    """Insert a run and its instances; ``False``, inserting nothing, when the run exists."""
    cursor = await writer.execute(_INSERT_RUN, run_row)
    if cursor.rowcount == 0:
        return False
    if instance_rows:
        await writer.executemany(_INSERT_INSTANCE, instance_rows)
    return True


async def delete_run_xcoms(key: Row, writer: aiosqlite.Connection) -> int:
    """Delete a run's XCom values; returns how many there were."""
    cursor = await writer.execute(_DELETE_RUN_XCOMS, key)
    return cursor.rowcount


async def start_run(row: Row, writer: aiosqlite.Connection) -> bool:
    """A queued run starts; whether it was queued (and, given a limit, had room under it)."""
    cursor = await writer.execute(_START_RUN if len(row) == 3 else _START_RUN_WITHIN, row)
    return cursor.rowcount == 1


async def finish_run(row: Row, stop: Row | None, writer: aiosqlite.Connection) -> bool:
    """A running run ends (its unfinished instances too, given ``stop``); whether it ran."""
    cursor = await writer.execute(_FINISH_RUN, row)
    if cursor.rowcount != 1:
        return False
    if stop is not None:
        await writer.execute(_STOP_UNFINISHED, stop)
    return True


@dataclass(frozen=True, slots=True)
class ReopenRows:
    """The statements' parameters of one ``reopen_run``, encoded by the store."""

    key: Row  # (dag_id, run_id)
    cleared: list[Row]  # (dag_id, run_id, task_id, map_index)
    expanded_again: list[Row]  # (dag_id, run_id, task_id)
    placeholders: list[Row]  # insert_task_instance rows
    marks: list[Row]  # mark_instance parameters


async def reopen_run(rows: ReopenRows, writer: aiosqlite.Connection) -> bool:
    """A finished run is queued to run again with its instances changed; whether it was finished."""
    cursor = await writer.execute(_REOPEN_RUN, rows.key)
    if cursor.rowcount != 1:
        return False
    await writer.executemany(_CLEAR_INSTANCE, rows.cleared)
    await writer.executemany(_DELETE_INSTANCE_XCOMS, rows.cleared)
    await writer.executemany(_DELETE_TASK_INSTANCES, rows.expanded_again)
    await writer.executemany(_DELETE_TASK_XCOMS, rows.expanded_again)
    await writer.executemany(_INSERT_INSTANCE, rows.placeholders)
    await writer.executemany(_MARK_INSTANCE, rows.marks)
    return True


async def mark_run_success(row: Row, writer: aiosqlite.Connection) -> bool:
    """A run and its instances are marked success; whether it was not already."""
    cursor = await writer.execute(_MARK_RUN_SUCCESS, row)
    if cursor.rowcount != 1:
        return False
    await writer.execute(_MARK_INSTANCES_SUCCESS, row)
    return True


async def delete_run(key: Row, writer: aiosqlite.Connection) -> bool:
    """A run that is not running is deleted with its instances and XCom; whether it was."""
    cursor = await writer.execute(_DELETE_RUN, key)
    return cursor.rowcount == 1


async def expand_task(
    placeholder: Row, instance_rows: list[Row], writer: aiosqlite.Connection
) -> bool:
    """Replace an undecided placeholder by the mapped instances; whether it was there."""
    cursor = await writer.execute(_DELETE_PLACEHOLDER, placeholder)
    if cursor.rowcount != 1:
        return False
    if instance_rows:
        await writer.executemany(_INSERT_INSTANCE, instance_rows)
    return True
