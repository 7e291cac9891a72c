"""Where the engine reads the time and sleeps, so tests can substitute a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

import anyio


class Clock(Protocol):
    """The time source of an engine."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep_until(self, deadline: datetime, wake: anyio.Event) -> None:
        """Return at ``deadline`` or as soon as ``wake`` is set, whichever is first."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)

    async def sleep_until(self, deadline: datetime, wake: anyio.Event) -> None:
        """Sleep on the event loop until ``deadline`` or until ``wake`` is set."""
        seconds = (deadline - self.now()).total_seconds()
        if seconds <= 0:
            return
        with anyio.move_on_after(seconds):
            await wake.wait()
