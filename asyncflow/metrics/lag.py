"""How late the event loop runs a timer: a heartbeat coroutine that times its own sleeps.

Every ``interval`` seconds the heartbeat notes when it should wake next and
sleeps; how late it actually woke is the loop's lag at that moment (what every
timer, poke and try waited beyond its time). Between beats, :meth:`behind`
says how overdue the next beat is: read from another thread (``asyncflow run
--metrics-port`` scrapes in one), it shows a loop that is blocked while it is
blocked, not only after.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio

HEARTBEAT_SECONDS = 0.5
"""How often the heartbeat runs: two timer wake-ups a second, whatever the load."""


class LoopLag:
    """The event loop's lag, measured by a heartbeat.

    Args:
        observe: called with each beat's lateness in seconds.
        interval: seconds between beats.
    """

    def __init__(
        self, observe: Callable[[float], None], interval: float = HEARTBEAT_SECONDS
    ) -> None:
        self._observe = observe
        self.interval = interval
        self.last = 0.0  # the last beat's lateness
        self._due: float | None = None  # when the next beat is due (monotonic); None: stopped

    async def run(self) -> None:
        """Beat until cancelled."""
        try:
            while True:
                due = self._due = time.monotonic() + self.interval
                await anyio.sleep(self.interval)
                self.last = max(0.0, time.monotonic() - due)
                self._observe(self.last)
        finally:
            self._due = None

    def behind(self) -> float:
        """Seconds the loop is behind now: the overdue time of the next beat, or the last lag."""
        due = self._due
        if due is None:
            return 0.0
        return max(self.last, time.monotonic() - due)
