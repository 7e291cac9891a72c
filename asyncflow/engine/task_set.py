"""Many short-lived tasks, started cheaply and owned by one supervising coroutine.

A poke of a waiting sensor, or one try of a no-op task, is a few microseconds of
work; starting it through an anyio task group costs more than that (a task
handle, its own cancel scope and bookkeeping per task). A :class:`TaskSet`
starts each as a bare asyncio task instead, while keeping the structure anyio
gives: the set's :meth:`supervise` coroutine runs in the engine's task group,
and no task of the set outlives it. When it is cancelled it cancels its tasks
through anyio cancel scopes, so a task inside a shielded scope (a group-commit
flush, the write recording its interruption) finishes that part first, as it
would in a task group, and waits for them; when a task
fails with an unexpected error, the error is raised from :meth:`supervise`, so
it fails the engine's task group exactly as a failing task-group child would.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any

import anyio


class TaskSet:
    """Bare asyncio tasks under one supervisor (see the module docstring)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scopes: dict[asyncio.Task[Any], anyio.CancelScope] = {}
        self._unstarted: dict[asyncio.Task[Any], Coroutine[Any, Any, Any]] = {}
        self._error: BaseException | None = None
        self._failed: anyio.Event | None = None

    def __len__(self) -> int:
        return len(self._tasks)

    def start(
        self, coro: Coroutine[Any, Any, Any], context: contextvars.Context | None = None
    ) -> None:
        """Run ``coro`` as a task of this set, starting on the next loop iteration.

        ``context``: the context variables it runs in (default: a copy of the caller's).
        """
        task = asyncio.get_running_loop().create_task(self._run(coro), context=context)
        self._tasks.add(task)
        self._unstarted[task] = coro
        task.add_done_callback(self._ended)

    async def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        # a native task.cancel() would break through anyio's shields; a scope does not
        task = asyncio.current_task()
        assert task is not None
        del self._unstarted[task]
        with anyio.CancelScope() as scope:
            self._scopes[task] = scope
            await coro

    def cancel(self, task: asyncio.Task[Any]) -> None:
        """Cancel one task of the set (through its scope, as :meth:`supervise` would)."""
        scope = self._scopes.get(task)
        if scope is not None:
            scope.cancel()

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._scopes.pop(task, None)
        self._unstarted.pop(task, None)
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
                scope = self._scopes.get(task)
                if scope is not None:
                    scope.cancel()
                else:  # not begun: none of it will run
                    unstarted = self._unstarted.pop(task, None)
                    if unstarted is not None:
                        unstarted.close()
                    task.cancel()
            await asyncio.wait(tasks)
