"""One heap of wake-ups served by one sleeping coroutine.

Retries, reschedule-mode sensors and poke-mode sensors between pokes do not
sleep in coroutines of their own: they push ``(due, callback, args)`` here. A
single coroutine sleeps until the earliest due time, or until an earlier entry
is pushed, and calls what is due.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any

import anyio

from asyncflow.clock import Clock


class Timers:
    """A heap of ``(due, callback, args)`` entries and the loop that fires them."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # keyed by POSIX timestamps: a float compares several times faster than a datetime
        self._heap: list[tuple[float, int, datetime, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._wake = anyio.Event()

    def __len__(self) -> int:
        return len(self._heap)

    def call_at(self, due: datetime, callback: Callable[..., None], *args: Any) -> None:
        """Call ``callback(*args)`` (synchronously, on the loop) at ``due`` or soon after.

        Arguments are kept apart from the callback so that an entry costs one
        tuple, not a closure (a hundred thousand waiting sensors are entries here).
        """
        earliest = self._heap[0][0] if self._heap else None
        at = due.timestamp()
        heapq.heappush(self._heap, (at, next(self._seq), due, callback, args))
        if earliest is None or at < earliest:
            self._wake.set()

    async def run(self) -> None:
        """Fire entries as they come due, forever (cancel to stop)."""
        while True:
            self._fire_due()
            wake = self._wake = anyio.Event()
            if self._heap:
                await self._clock.sleep_until(self._heap[0][2], wake)
            else:
                await wake.wait()

    def _fire_due(self) -> None:
        now = self._clock.now().timestamp()
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, _, callback, args = heapq.heappop(heap)
            callback(*args)
