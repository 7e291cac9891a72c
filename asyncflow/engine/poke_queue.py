"""The due pokes of waiting poke-mode sensors, run one after another in one task.

Most pokes never wait: a condition checked in memory, a cached answer, a sensor
notified of its result. Giving each such poke an asyncio task of its own (and a
cancel scope) costs several times the poke itself, and with a hundred thousand
sensors whose condition turns true together that cost decides how soon the run
ends. So a :class:`PokeQueue` runs due pokes *eagerly*, inside one draining
task: it steps each poke's coroutine until it returns. A poke that does wait
(a request in flight, a thread) keeps the draining task for itself, so that
everything it entered (anyio cancel scopes, context variables) is left in the
task that entered it, and a new draining task takes over the rest of the queue.

A draining task yields to the event loop every :data:`SLICE_SECONDS`, so a long
queue never starves the loop's other work (store commits, the run loop).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

import anyio

T = TypeVar("T")

SLICE_SECONDS = 0.01
"""How long a draining task runs pokes before it lets the event loop turn."""

Poke = Coroutine[Any, Any, None]


class PokeQueue(Generic[T]):
    """A queue of due items, each turned into a poke coroutine and run eagerly.

    Args:
        poke: Makes the coroutine of one item's poke. It must handle its own
            errors: an exception escaping it fails the draining task.
        start: Starts a coroutine as a supervised task in a given context, or
            in a copy of the caller's (the executor's
            :meth:`~asyncflow.engine.task_set.TaskSet.start`).
        suspended: Told which task a poke that waits now runs in (so that it can
            be cancelled); told ``None`` for that item when the poke ends.
    """

    def __init__(
        self,
        poke: Callable[[T], Poke],
        start: Callable[[Poke, contextvars.Context | None], None],
        suspended: Callable[[T, asyncio.Task[Any] | None], None],
    ) -> None:
        self._poke = poke
        self._start = start
        self._suspended = suspended
        self._due: deque[T] = deque()
        self._draining = False

    def __len__(self) -> int:
        return len(self._due)

    def push(self, item: T) -> None:
        """Queue ``item``'s poke; it runs soon, in the order pushed."""
        self._due.append(item)
        if not self._draining:
            self._draining = True
            self._start(self._drain(), None)

    async def _drain(self) -> None:
        # as it is before any poke sets a variable: the context to hand the queue on in
        pristine = contextvars.copy_context()
        handed_over = False
        try:
            slice_ends = time.monotonic() + SLICE_SECONDS
            while self._due:
                item = self._due.popleft()
                poke = self._poke(item)
                try:
                    waiting_on = poke.send(None)
                except StopIteration:
                    if time.monotonic() >= slice_ends:
                        await anyio.lowlevel.checkpoint()
                        slice_ends = time.monotonic() + SLICE_SECONDS
                    continue
                handed_over = True
                await self._go_on_waiting(item, poke, waiting_on, pristine)
                return
        finally:
            if not handed_over:
                self._draining = False

    async def _go_on_waiting(
        self, item: T, poke: Poke, waiting_on: Any, context: contextvars.Context
    ) -> None:
        """The poke waits: this task stays with it; a new task drains the rest."""
        if self._due:
            self._start(self._drain(), context)
        else:
            self._draining = False
        self._suspended(item, asyncio.current_task())
        try:
            await _Resumed(poke, waiting_on)
        finally:
            self._suspended(item, None)


class _Resumed:
    """Awaiting this goes on with a coroutine that already ran up to its first wait.

    It relays what the coroutine yields (the futures it waits on) to the task
    awaiting this, and what the task sends or throws back to the coroutine, the
    way ``await`` itself does.
    """

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Poke, first: Any) -> None:
        self._coro = coro
        self._first = first

    def __await__(self) -> Generator[Any, Any, None]:
        coro, waiting_on = self._coro, self._first
        while True:
            try:
                sent = yield waiting_on
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as error:  # a cancellation, thrown into the task
                try:
                    waiting_on = coro.throw(error)
                except StopIteration:
                    return
            else:
                try:
                    waiting_on = coro.send(sent)
                except StopIteration:
                    return
