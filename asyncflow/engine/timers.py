"""One heap of wake-ups served by one sleeping coroutine.

Retries (and, later, reschedule-mode sensors) do not sleep in coroutines of
their own: they push ``(due, callback)`` here. A single coroutine sleeps until
the earliest due time, or until an earlier entry is pushed, and calls what is due.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime

import anyio

from asyncflow.clock import Clock


class Timers:
    """A heap of ``(due, callback)`` entries and the loop that fires them."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[datetime, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._wake = anyio.Event()

    def __len__(self) -> int:
        return len(self._heap)

    def call_at(self, due: datetime, callback: Callable[[], None]) -> None:
        """Call ``callback`` (synchronously, on the loop) at ``due`` or soon after."""
        earliest = self._heap[0][0] if self._heap else None
        heapq.heappush(self._heap, (due, next(self._seq), callback))
        if earliest is None or due < earliest:
            self._wake.set()

    async def run(self) -> None:
        """Fire entries as they come due, forever (cancel to stop)."""
        while True:
            self._fire_due()
            wake = self._wake = anyio.Event()
            if self._heap:
                await self._clock.sleep_until(self._heap[0][0], wake)
            else:
                await wake.wait()

    def _fire_due(self) -> None:
        now = self._clock.now()
        while self._heap and self._heap[0][0] <= now:
            _, _, callback = heapq.heappop(self._heap)
            callback()
