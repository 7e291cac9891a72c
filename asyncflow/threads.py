"""Running sync user code in worker threads, so it never blocks the event loop.

The engine installs one bounded :class:`anyio.CapacityLimiter` for every sync
callable it runs; outside an engine anyio's default limiter applies.

It sits below the model, not in :mod:`asyncflow.runtime`: operators
(``PythonOperator``, ``@task``) and the sensor library call sync code through
:func:`call` too, and neither may depend on the runtime.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import anyio
import anyio.to_thread

worker_limiter: ContextVar[anyio.CapacityLimiter | None] = ContextVar(
    "asyncflow_worker_limiter", default=None
)


def is_async_callable(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` returns an awaitable (``async def`` or a class with one)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Await ``fn`` on the loop if it is async, else run it in a worker thread.

    Context variables (the running task's context among them) are visible in the thread.
    """
    if is_async_callable(fn):
        return await fn(*args, **kwargs)
    result = await anyio.to_thread.run_sync(
        functools.partial(fn, *args, **kwargs),
        limiter=worker_limiter.get(),
        abandon_on_cancel=True,  # a timeout must not wait for a thread that ignores it
    )
    if inspect.isawaitable(result):
        return await result
    return result
