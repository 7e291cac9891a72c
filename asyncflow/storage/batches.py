"""A SQL store's batch of writes: operations, the order they apply in, and failures.

A write call becomes one :class:`Op`: either rows for a fixed sequence of
statements (its *shape*), which consecutive operations of the same shape share
(one ``executemany`` or one array-valued statement per statement of the
shape), or a function of its own for an operation whose caller needs a result
of its own (a row count).

A *guarded* operation's first statement is a transition (an ``UPDATE`` whose
``WHERE`` states its precondition): each of its rows applies or matches
nothing, and the operation's result is one flag per row. Its later statements
(the XCom a try produced) apply only when all its rows did, or, for an
operation that says which transition row each later row belongs to
(``tied``: many tries finished in one operation), only when that row did.

:func:`flush_isolating` commits a batch the group commit hands over: when one
operation's fault fails the transaction (:class:`OperationFailed`), the batch
is split in halves, each its own transaction, until the failing operation
stands alone, so only its caller gets the error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from asyncflow.storage.group_commit import PendingWrite

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Op:
    """One write call, encoded: either statements to merge or a function to run."""

    name: str  # the Store method, for error messages
    shape: tuple[str, ...] = ()  # the statements, in order; same shape -> mergeable
    rows: tuple[list[Row], ...] = ()  # the rows for each statement of the shape
    # an operation that needs a result of its own; it gets the backend's connection
    apply: Callable[[Any], Awaitable[object]] | None = None
    guarded: bool = False  # the first statement is a transition: a flag per row
    # a guarded operation's later rows, per later statement: the position of the
    # transition row each belongs to (it applies only if that one did); empty: all of them
    tied: tuple[list[int], ...] = ()


class Connection(Protocol):
    """What a batch needs of a backend's connection: one statement over many rows."""

    def executemany(self, sql: str, rows: list[Row], /) -> Awaitable[object]:
        """Run ``sql`` once per row."""
        ...


C = TypeVar("C", bound=Connection)

GuardedApply = Callable[[C, str, list[list[Row]]], Awaitable[list[list[bool]]]]
"""Applies a transition's rows (grouped by operation); which of each one's rows matched."""

ExecuteMany = Callable[[C, str, list[Row]], Awaitable[object]]
"""Runs one statement over many rows (a backend's faster way than ``executemany``)."""


async def _executemany(connection: Connection, sql: str, rows: list[Row]) -> object:
    return await connection.executemany(sql, rows)


async def apply_ops(
    connection: C,
    ops: list[Op],
    guarded: GuardedApply[C],
    execute_many: ExecuteMany[C] = _executemany,
) -> list[object]:
    """Apply operations in order, merging each run of one shape.

    In a run of one shape, a guarded first statement goes to ``guarded``, the
    backend's way to learn which rows applied; every other statement is one
    ``execute_many`` (by default the connection's ``executemany``), with the
    rows of the operations whose transition applied.

    Returns:
        Each operation's result, in order: a list of flags for a guarded one,
        ``None`` for another merged one, its own for one with ``apply``.
    """
    results: list[object] = []
    start = 0
    while start < len(ops):
        op = ops[start]
        if op.apply is not None:
            results.append(await op.apply(connection))
            start += 1
            continue
        end = start + 1
        while end < len(ops) and ops[end].apply is None and ops[end].shape == op.shape:
            end += 1
        results.extend(await _apply_merged(connection, ops[start:end], guarded, execute_many))
        start = end
    return results


async def _apply_merged(
    connection: C, ops: list[Op], guarded: GuardedApply[C], execute_many: ExecuteMany[C]
) -> list[object]:
    shape = ops[0].shape
    flags: list[list[bool]] | None = None
    if ops[0].guarded:
        flags = await guarded(connection, shape[0], [op.rows[0] for op in ops])
    for index in range(1 if flags is not None else 0, len(shape)):
        rows: list[Row] = []
        for position, op in enumerate(ops):
            if flags is None:
                rows.extend(op.rows[index])
            elif op.tied:
                applied = flags[position]
                rows.extend(
                    row
                    for row, owner in zip(op.rows[index], op.tied[index - 1], strict=True)
                    if applied[owner]
                )
            elif all(flags[position]):
                rows.extend(op.rows[index])
        if rows:
            await execute_many(connection, shape[index], rows)
    return [None] * len(ops) if flags is None else list(flags)


class OperationFailed(Exception):
    """Applying a batch failed because of one of its operations (the ``__cause__``)."""


Transaction = Callable[[list[Op]], Awaitable[list[object]]]
CallerError = Callable[[str, Exception], Exception]


async def flush_isolating(
    batch: list[PendingWrite[Op]], transaction: Transaction, caller_error: CallerError
) -> None:
    """Commit a batch in one transaction, splitting it to isolate a failing write.

    Args:
        batch: the writes, in queue order; each is settled here.
        transaction: applies and commits operations, returning their results;
            raises :class:`OperationFailed` for an operation's fault, anything
            else for a failure of the whole batch.
        caller_error: the error a caller sees for its operation's failure.
    """
    try:
        results = await transaction([write.payload for write in batch])
    except OperationFailed as failed:
        if len(batch) > 1:
            middle = len(batch) // 2
            await flush_isolating(batch[:middle], transaction, caller_error)
            await flush_isolating(batch[middle:], transaction, caller_error)
            return
        cause = failed.__cause__
        assert isinstance(cause, Exception)  # set by the transaction
        batch[0].fail(caller_error(batch[0].payload.name, cause))
    except Exception as exc:
        for write in batch:
            write.fail(caller_error(write.payload.name, exc))
    else:
        for write, result in zip(batch, results, strict=True):
            write.succeed(result)
