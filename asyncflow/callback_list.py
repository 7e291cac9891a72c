"""Several callbacks in one ``on_*_callback`` of a task, as Airflow takes a list of them.

``on_failure_callback=[SmtpNotifier(...), HttpNotifier(...)]`` calls each in
order with the same context; one that raises does not stop the others, and
their errors come back together as one :class:`CallbacksFailed` line.

Example:
    >>> import anyio
    >>> seen = []
    >>> both = CallbackList([lambda c: seen.append(1), lambda c: seen.append(2)])
    >>> anyio.run(both, {})
    >>> seen
    [1, 2]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from asyncflow.exceptions import AsyncflowError
from asyncflow.threads import call

__all__ = ["CallbackList", "CallbacksFailed"]


class CallbacksFailed(AsyncflowError):
    """One or more callbacks of a list raised; the message names each error."""


class CallbackList:
    """Callables called one after the other with the same context."""

    __slots__ = ("callbacks",)

    def __init__(self, callbacks: Sequence[Callable[..., Any]]) -> None:
        self.callbacks = tuple(callbacks)

    def __repr__(self) -> str:
        return f"CallbackList({list(self.callbacks)!r})"

    async def __call__(self, context: dict[str, Any]) -> None:
        """Call every callback (sync ones in a worker thread); raise once if any failed."""
        errors = []
        for callback in self.callbacks:
            try:
                await call(callback, context)
            except Exception as error:  # the others still run, as in Airflow
                name = getattr(callback, "__name__", repr(callback))
                errors.append(f"{name}: {type(error).__name__}: {error}")
        if errors:
            raise CallbacksFailed(
                f"{len(errors)} of {len(self.callbacks)} callbacks failed: " + "; ".join(errors)
            )
