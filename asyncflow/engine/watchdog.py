"""Warns when the event loop is blocked, naming the task that blocked it.

A heartbeat coroutine stamps the time every few milliseconds; a daemon thread
checks the stamp. When it is older than the threshold the loop is blocked, and
the thread reads which asyncio task is running on it (``asyncio.current_task``
with an explicit loop only reads a dict) to name the DAG, run and task.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

import anyio
import structlog

log = structlog.get_logger("asyncflow.watchdog")


class LoopWatchdog:
    """Detects an event loop blocked for longer than ``threshold`` seconds."""

    def __init__(self, threshold: float, running: Mapping[asyncio.Task[Any], tuple[str, str, str]]) -> None:
        self.threshold = threshold
        self._running = running
        self._beat = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.blocks = 0

    async def run(self) -> None:
        """Beat until cancelled, with the checking thread alive meanwhile."""
        self._loop = asyncio.get_running_loop()
        self._beat = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="asyncflow-watchdog", daemon=True)
        self._thread.start()
        try:
            while True:
                self._beat = time.monotonic()
                await anyio.sleep(self.threshold / 4)
        finally:
            self._stop.set()

    def _watch(self) -> None:
        reported_beat = 0.0
        while not self._stop.wait(self.threshold / 4):
            beat = self._beat
            blocked = time.monotonic() - beat
            if blocked > self.threshold and beat != reported_beat:
                reported_beat = beat
                self.blocks += 1
                self._report(blocked)

    def _report(self, blocked: float) -> None:
        assert self._loop is not None
        current = asyncio.current_task(self._loop)
        label = self._running.get(current) if current is not None else None
        if label is None:
            log.warning("event_loop_blocked", blocked_ms=round(blocked * 1000), by=None)
            return
        dag_id, run_id, task_id = label
        log.warning(
            "event_loop_blocked",
            blocked_ms=round(blocked * 1000),
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            hint="a task called blocking code on the event loop; make it a plain def (it then "
            "runs in a worker thread) or await an async equivalent",
        )
