"""Helpers for testing DAGs and engine code without a database or real waiting.

``MemoryStore`` passes the same conformance suite as the SQLite store
(``tests/storage``), so a test run against it tells the truth about the real
backends. ``FakeClock`` replaces the engine's clock: retries, reschedule-mode
sensors and poke intervals wait for :meth:`FakeClock.advance`, not for time.

Example:
    >>> from asyncflow.testing import FakeClock, MemoryStore
    >>> clock = FakeClock()
    >>> engine = Engine(store=MemoryStore(), clock=clock)  # doctest: +SKIP
    >>> clock.advance(300)  # a retry_delay of 5 minutes has passed  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio

from asyncflow.storage.memory import MemoryStore

__all__ = ["FakeClock", "MemoryStore"]


class FakeClock:
    """A clock that moves only when told to; implements the engine's ``Clock``.

    Args:
        start: The time it reads until the first :meth:`advance` (aware UTC).
    """

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self._now = start
        self._sleepers: list[tuple[datetime, anyio.Event]] = []
        self._changed = anyio.Event()

    def now(self) -> datetime:
        """The fake current time."""
        return self._now

    def advance(self, delta: timedelta | float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        for deadline, wake in list(self._sleepers):
            if deadline <= self._now:
                wake.set()

    async def sleep_until(self, deadline: datetime, wake: anyio.Event) -> None:
        """Return once :meth:`advance` reaches ``deadline`` or ``wake`` is set."""
        if deadline <= self._now:
            return
        entry = (deadline, wake)
        self._sleepers.append(entry)
        self._changed.set()
        try:
            await wake.wait()
        finally:
            self._sleepers.remove(entry)

    async def sleeping_until(self, deadline: datetime) -> None:
        """Wait until some coroutine sleeps until ``deadline`` (e.g. a retry is parked).

        Bound it with ``anyio.fail_after`` in tests.
        """
        while not any(d == deadline for d, _ in self._sleepers):
            self._changed = anyio.Event()
            await self._changed.wait()
