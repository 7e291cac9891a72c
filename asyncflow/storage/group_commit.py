"""Group commit: many concurrent writers, one transaction, led by a waiter.

Every write call becomes a :class:`PendingWrite` in a FIFO queue and its caller
waits for it. There is no background writer task. Instead the first caller whose
write finds no leader becomes the *leader*: it lets the event loop run once (so
writers started together join the batch), takes every pending write, hands the
batch to the backend's ``flush`` callable (which commits it in one transaction
and settles each write), then wakes the first waiter still queued to lead the
next batch. Writes queued while a batch commits therefore form the next batch,
and a busy store commits in a few large transactions instead of one per call.

Linger. A write that nobody needs at once (a reschedule-mode sensor recording
its poke) is submitted with ``linger=seconds``: its batch may start up to that
long after it was queued, so writes arriving meanwhile share the transaction.
A leader whose pending writes all linger waits until the earliest of their
deadlines; a write submitted without linger, or :meth:`GroupCommit.drain`,
ends that wait at once, and the lingering writes commit with it. So lingering
writes never delay the others, and a lingering write waits at most its own
linger plus the batch in flight.

Why a leader rather than a writer task in a task group owned by the store: a
task group must be entered and exited by the same task, which would tie
``open()`` and ``close()`` to one task and leave a writer running between them;
the leader needs neither, and an idle store holds no task at all.

Cancellation. The leader flushes inside a shielded cancel scope, so a batch is
never abandoned half way (its other writers are waiting on it); a cancelled
leader sees its cancellation once the batch has committed. Lingering is not
shielded: a leader cancelled while it lingers stops at once. A waiter cancelled
while queued or lingering leaves its write queued (it may still commit) and
passes the leadership on if it held it or had just been handed it, so no batch
is left without a leader while a live writer waits. :meth:`GroupCommit.drain`
flushes whatever is left, e.g. on close.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

from asyncflow.exceptions import StoreError

T = TypeVar("T")

RESCHEDULE_LINGER_SECONDS = 0.05
"""How long a sensor's reschedule write may wait for others to share its transaction.

Its poke already happened and its next poke is set by time, so the wait delays
nothing but the moment the poke is durable (a crash in between means one more
poke after the restart), and it turns a transaction per handful of pokes into
one per hundred or more at a few thousand pokes a second.
"""


class PendingWrite(Generic[T]):
    """One caller's write, waiting in the queue for the batch that commits it.

    Attributes:
        payload: what the backend needs to apply the write.
    """

    __slots__ = ("_error", "_result", "_wake", "abandoned", "finished", "payload")

    def __init__(self, payload: T) -> None:
        self.payload = payload
        self.finished = False
        self.abandoned = False  # its caller was cancelled while waiting
        self._result: object = None
        self._error: BaseException | None = None
        # made when a caller first waits on it: a storm's writes mostly settle unwaited
        self._wake: anyio.Event | None = None

    def succeed(self, result: object = None) -> None:
        """Settle the write as committed, with the value its caller gets back."""
        self._settle(result, None)

    def fail(self, error: BaseException) -> None:
        """Settle the write as failed; its caller gets ``error`` raised."""
        self._settle(None, error)

    def outcome(self) -> object:
        """The result of a settled write, or raise its error."""
        if self._error is not None:
            raise self._error
        return self._result

    def _settle(self, result: object, error: BaseException | None) -> None:
        if not self.finished:
            self.finished = True
            self._result, self._error = result, error
            if self._wake is not None:
                self._wake.set()


Flush = Callable[[list[PendingWrite[T]]], Awaitable[None]]
BatchObserver = Callable[[float, int], None]
"""Told of each batch flushed: the seconds its flush took and how many writes it held."""


class GroupCommit(Generic[T]):
    """Batches the writes of concurrent callers; the backend commits each batch.

    Args:
        flush: commits a batch (in order) and settles every write in it with
            :meth:`PendingWrite.succeed` or :meth:`PendingWrite.fail`. A write
            it leaves unsettled fails with a ``StoreError``.
        observe: told of each batch once flushed (the engine's metrics).

    Example:
        >>> commits = GroupCommit(flush)  # doctest: +SKIP
        >>> await commits.submit(op)  # committed now, with whatever else is queued
        >>> await commits.submit(op, linger=0.1)  # may wait 0.1 s for company
    """

    def __init__(self, flush: Flush[T], observe: BatchObserver | None = None) -> None:
        self._flush = flush
        self._observe = observe
        self._pending: deque[PendingWrite[T]] = deque()
        self._leading = False  # a leader is lingering or flushing
        # The loop time by which the pending writes' batch must start: -inf when
        # one of them does not linger, +inf when nothing is pending.
        self._due = math.inf
        # Events are created in the loop that waits on them: nothing here is
        # bound to a loop before the first write, so a store can be built outside one.
        self._hurry: anyio.Event | None = None  # set to end the leader's linger early
        self._idle: anyio.Event | None = None

    @property
    def pending(self) -> int:
        """How many writes wait for a batch."""
        return len(self._pending)

    async def submit(self, payload: T, *, linger: float = 0.0) -> object:
        """Queue a write and return its result once the batch holding it committed.

        Args:
            payload: the write, as the flush understands it.
            linger: how many seconds the batch may wait for other writes to join
                before it starts; 0 (the default) starts it as soon as possible.

        Raises:
            BaseException: whatever the flush settled this write with.
        """
        [write] = await self._submit([payload], linger)
        return write.outcome()

    async def submit_many(self, payloads: list[T], *, linger: float = 0.0) -> list[object]:
        """Queue several writes together (they share a batch); their results, in order.

        One caller waits for all of them, so a burst of writes costs one waiting
        coroutine, not one each.

        Raises:
            BaseException: what the flush settled the first failed write with.
        """
        return [write.outcome() for write in await self._submit(payloads, linger)]

    async def _submit(self, payloads: list[T], linger: float) -> list[PendingWrite[T]]:
        writes = [PendingWrite(payload) for payload in payloads]
        self._pending.extend(writes)
        due = anyio.current_time() + linger if linger > 0 else -math.inf
        if writes and due < self._due:
            self._due = due
            if self._hurry is not None:
                self._hurry.set()  # the lingering leader waits less, or not at all
        try:
            for write in writes:
                while not write.finished:
                    if self._leading:
                        wake = write._wake
                        # unmade, or woken to lead but another leader came first
                        if wake is None or wake.is_set():
                            wake = write._wake = anyio.Event()
                        await wake.wait()
                    else:
                        await self._lead()
        except BaseException:
            for write in writes:
                write.abandoned = True
            self._wake_next_leader()
            raise
        return writes

    async def drain(self) -> None:
        """Return once every write queued so far is settled, flushing them if needed."""
        while self._pending or self._leading:
            if self._pending:
                self._due = -math.inf  # nothing lingers any more
            if self._leading and self._idle is not None:
                if self._hurry is not None:
                    self._hurry.set()
                await self._idle.wait()
            else:
                await self._lead()

    async def _lead(self) -> None:
        self._leading = True
        idle = self._idle = anyio.Event()
        try:
            await self._linger()
            with anyio.CancelScope(shield=True):
                await anyio.lowlevel.checkpoint()  # let writers started with us join
                while self._pending:
                    batch = list(self._pending)
                    self._pending.clear()
                    self._due = math.inf
                    await self._flush_batch(batch)
                    if self._live_waiter() is not None:
                        break  # a waiting caller leads the next batch
        finally:
            self._leading = False
            idle.set()
            self._wake_next_leader()

    async def _linger(self) -> None:
        """Wait until the pending writes' batch is due (a later write may bring it forward)."""
        while self._pending and (due := self._due) > anyio.current_time():
            hurry = self._hurry = anyio.Event()
            try:
                with anyio.CancelScope(deadline=due):
                    await hurry.wait()
            finally:
                self._hurry = None

    async def _flush_batch(self, batch: list[PendingWrite[T]]) -> None:
        started = time.perf_counter()
        try:
            await self._flush(batch)
        except Exception as exc:
            for write in batch:
                write.fail(exc)
        if self._observe is not None:
            self._observe(time.perf_counter() - started, len(batch))
        for write in batch:
            write.fail(StoreError("the store's flush left this write unsettled"))

    def _live_waiter(self) -> PendingWrite[T] | None:
        return next((write for write in self._pending if not write.abandoned), None)

    def _wake_next_leader(self) -> None:
        if self._leading:
            return
        waiter = self._live_waiter()
        if waiter is not None:
            if waiter._wake is None:
                waiter._wake = anyio.Event()
            waiter._wake.set()
