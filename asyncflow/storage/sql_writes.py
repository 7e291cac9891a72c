"""The writes both SQL stores make the same way: guarded transitions and XCom, queued.

A SQL store (SQLite, PostgreSQL) checks and encodes a write's records in the
caller's task and queues one :class:`~asyncflow.storage.batches.Op` with its
:class:`WriteQueue`, which counts it and hands it to group commit. The
transitions of task instances and the XCom writes are the same in both stores
but for the row builders and the SQL, so they live once here, in
:class:`SqlTransitions`, which a store class mixes in, naming its ``_codec``
(the module of row builders, :class:`RowCodec`) and ``_queries``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, Protocol, cast

from asyncflow.records import StoreStats, TaskInstanceRecord, XComRecord
from asyncflow.storage import checks
from asyncflow.storage.batches import Op, Row
from asyncflow.storage.group_commit import Flush, GroupCommit


class RowCodec(Protocol):
    """A SQL store's row builders: the parameters of each transition, in its SQL's order."""

    def start_try_row(self, ti: TaskInstanceRecord, owner: str) -> Row:
        """The ``start_try`` parameters."""
        ...

    def finish_try_row(self, ti: TaskInstanceRecord, owner: str) -> Row:
        """The ``finish_try`` parameters."""
        ...

    def reschedule_row(self, ti: TaskInstanceRecord, owner: str) -> Row:
        """The ``record_reschedule`` parameters."""
        ...

    def interrupt_row(self, ti: TaskInstanceRecord, owner: str) -> Row:
        """The ``interrupt_try`` parameters."""
        ...

    def decide_row(self, ti: TaskInstanceRecord) -> Row:
        """The ``decide_instance`` parameters."""
        ...

    def recover_row(self, read: TaskInstanceRecord, ti: TaskInstanceRecord) -> Row:
        """The ``recover_try`` parameters."""
        ...

    def xcom_row(self, xcom: XComRecord) -> Row:
        """The ``upsert_xcom`` parameters."""
        ...


class WriteQueue:
    """A SQL store's writes on their way to group commit: counted, and only while open.

    Args:
        flush: commits a batch (the store's transaction, see :class:`GroupCommit`).
        linger: seconds a ``patient`` write may wait for others to share its transaction.
        check_open: raises the store's error when it is not open, naming the operation.
    """

    def __init__(self, flush: Flush[Op], linger: float, check_open: Callable[[str], None]) -> None:
        self.stats = StoreStats()
        self.commits: GroupCommit[Op] = GroupCommit(flush, self._committed)
        self._linger = linger
        self._check_open = check_open

    def _committed(self, seconds: float, writes: int) -> None:
        observe = self.stats.on_commit
        if observe is not None:
            observe(seconds, writes)

    async def submit(self, op: Op, *, patient: bool = False) -> object:
        """Queue one write; its result once committed (``patient``: it may linger)."""
        self._check_open(op.name)
        self.stats.writes += 1
        return await self.commits.submit(op, linger=self._linger if patient else 0.0)

    async def submit_many(self, ops: list[Op], *, patient: bool = False) -> list[object]:
        """Queue writes together (one wait for all); their results once committed."""
        self._check_open(ops[0].name if ops else "write")
        self.stats.writes += len(ops)
        return await self.commits.submit_many(ops, linger=self._linger if patient else 0.0)


class SqlTransitions:
    """The guarded transitions and XCom writes of the Store protocol, for a SQL store.

    The store class sets ``_codec`` and ``_queries`` and, once built, ``_queue``.
    """

    _codec: ClassVar[RowCodec]
    _queries: ClassVar[Mapping[str, str]]
    _queue: WriteQueue

    @property
    def stats(self) -> StoreStats:
        """Write calls and the transactions that committed them."""
        return self._queue.stats

    async def start_tries(
        self, owner: str, instances: Sequence[TaskInstanceRecord], *, patient: bool = False
    ) -> list[bool]:
        """Start a try of each instance whose guard holds (``patient``: it may linger)."""
        rows = [self._codec.start_try_row(checks.utc_instance(ti), owner) for ti in instances]
        return await self._transition("start_tries", "start_try", rows, patient=patient)

    async def record_reschedule(
        self, owner: str, instance: TaskInstanceRecord, xcoms: Sequence[XComRecord] = ()
    ) -> bool:
        """Record a reschedule-mode sensor's unfinished poke and its XCom, if still its try.

        Only the columns a poke changes are written; the write lingers (it is
        ``patient``) so that the pokes of many sensors share a transaction.

        Raises:
            ValueError: the instance is not ``up_for_reschedule`` with a
                ``next_poke_at``, or an XCom value is another instance's.
        """
        checks.check_reschedule(instance)
        checks.check_xcoms(instance, xcoms, "record_reschedule")
        row = self._codec.reschedule_row(checks.utc_instance(instance), owner)
        op = self._with_xcoms("record_reschedule", "record_reschedule", row, xcoms)
        [applied] = cast("list[bool]", await self._queue.submit(op, patient=True))
        return applied

    async def finish_try(
        self,
        owner: str,
        instance: TaskInstanceRecord,
        xcoms: Sequence[XComRecord] = (),
        *,
        patient: bool = False,
    ) -> bool:
        """Record a try's outcome and its XCom together, if it is still the current try."""
        [applied] = await self.finish_tries(owner, [(instance, xcoms)], patient=patient)
        return applied

    async def finish_tries(
        self,
        owner: str,
        tries: Sequence[tuple[TaskInstanceRecord, Sequence[XComRecord]]],
        *,
        patient: bool = False,
    ) -> list[bool]:
        """Record many tries' outcomes, each on its own guard, in one batch and one wait.

        The tries are one queued operation: a completion storm's thousands of
        sensors cost one write to group commit, not one each. Each try's XCom
        is written only if its own transition applied.
        """
        if not tries:
            return []
        codec = self._codec
        rows: list[Row] = []
        xcom_rows: list[Row] = []
        tied: list[int] = []  # the try each XCom row belongs to
        for position, (instance, xcoms) in enumerate(tries):
            checks.check_xcoms(instance, xcoms, "finish_try")
            rows.append(codec.finish_try_row(checks.utc_instance(instance), owner))
            for xcom in xcoms:
                xcom_rows.append(codec.xcom_row(xcom))
                tied.append(position)
        shape = (self._queries["finish_try"], self._queries["upsert_xcom"])
        op = Op("finish_try", shape, (rows, xcom_rows), guarded=True, tied=(tied,))
        return cast("list[bool]", await self._queue.submit(op, patient=patient))

    async def interrupt_tries(
        self, owner: str, instances: Sequence[TaskInstanceRecord]
    ) -> list[bool]:
        """Record tries a shutdown stopped (each only while it is still the current try)."""
        rows = [self._codec.interrupt_row(checks.utc_instance(ti), owner) for ti in instances]
        return await self._transition("interrupt_tries", "interrupt_try", rows)

    async def decide_instances(self, instances: Sequence[TaskInstanceRecord]) -> list[bool]:
        """End instances that never ran (each only while it has no state)."""
        rows = [self._codec.decide_row(checks.utc_instance(ti)) for ti in instances]
        return await self._transition("decide_instances", "decide_instance", rows)

    async def recover_tries(
        self, changes: Sequence[tuple[TaskInstanceRecord, TaskInstanceRecord]]
    ) -> list[bool]:
        """End tries a stopped engine left in flight (each only while still as read)."""
        rows = [self._codec.recover_row(read, checks.utc_instance(new)) for read, new in changes]
        return await self._transition("recover_tries", "recover_try", rows)

    async def push_xcom(self, xcoms: Sequence[XComRecord]) -> None:
        """Upsert XCom values by ``(dag_id, run_id, task_id, map_index, key)``."""
        rows = [self._codec.xcom_row(xcom) for xcom in xcoms]
        await self._queue.submit(Op("push_xcom", (self._queries["upsert_xcom"],), (rows,)))

    async def _transition(
        self, name: str, query: str, rows: list[Row], *, patient: bool = False
    ) -> list[bool]:
        """Queue a guarded statement's rows; which of them applied."""
        op = Op(name, (self._queries[query],), (rows,), guarded=True)
        return cast("list[bool]", await self._queue.submit(op, patient=patient))

    def _with_xcoms(self, name: str, query: str, row: Row, xcoms: Sequence[XComRecord]) -> Op:
        """A guarded one-row transition whose XCom is written only if it applies."""
        shape = (self._queries[query], self._queries["upsert_xcom"])
        return Op(name, shape, ([row], [self._codec.xcom_row(x) for x in xcoms]), guarded=True)
