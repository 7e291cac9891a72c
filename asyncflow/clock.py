"""Where the engine reads the time and sleeps, so tests can substitute a fake clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol

import anyio


class Clock(Protocol):
    """The time source of an engine."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep_until(self, deadline: datetime, wake: anyio.Event) -> None:
        """Return at ``deadline`` or as soon as ``wake`` is set, whichever is first.

        Reaching the deadline may set ``wake`` too: callers arm a fresh event for
        each sleep.
        """
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)

    async def sleep_until(self, deadline: datetime, wake: anyio.Event) -> None:
        """Sleep on the event loop until ``deadline`` or until ``wake`` is set.

        A loop timer sets ``wake`` at the deadline. This is the hot path of every
        waiting sensor, and a timer costs a fraction of a cancel scope whose
        deadline has to cancel the task (the engine runs on asyncio only).
        """
        seconds = (deadline - self.now()).total_seconds()
        if seconds <= 0:
            return
        timer = asyncio.get_running_loop().call_later(seconds, wake.set)
        try:
            await wake.wait()
        finally:
            timer.cancel()
