"""Many short-lived tasks, started cheaply and owned by one supervising coroutine.

A poke of a waiting sensor, or one try of a no-op task, is a few microseconds of
work; starting it through an anyio task group costs more than that (a task
handle, its own cancel scope and bookkeeping per task). A :class:`TaskSet`
starts each as a bare asyncio task instead, while keeping the structure anyio
gives: the set's :meth:`supervise` coroutine runs in the engine's task group,
and no task of the set outlives it. When it is cancelled it cancels its tasks
and waits for them (they record their interruption as they end); when a task
fails with an unexpected error, the error is raised from :meth:`supervise`, so
it fails the engine's task group exactly as a failing task-group child would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import anyio


class TaskSet:
    """Bare asyncio tasks under one supervisor (see the module docstring)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._error: BaseException | None = None
        self._failed: anyio.Event | None = None

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` as a task of this set, starting on the next loop iteration."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and self._error is None:
            self._error = error
            if self._failed is not None:
                self._failed.set()

    async def supervise(self) -> None:
        """Own the tasks until cancelled; raise the first unexpected error of one."""
        self._failed = anyio.Event()
        if self._error is not None:
            self._failed.set()
        try:
            await self._failed.wait()
            assert self._error is not None
            raise self._error
        finally:
            with anyio.CancelScope(shield=True):
                await self._stop_all()

    async def _stop_all(self) -> None:
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
