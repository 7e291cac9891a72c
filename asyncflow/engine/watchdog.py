"""Warns when one coroutine blocks the event loop, naming its DAG, run and task.

A daemon thread samples which asyncio task is running on the loop
(``asyncio.current_task`` with an explicit loop only reads a dict) a few times
per threshold. When the same task is running at every sample for longer than
the threshold, and the loop's heartbeat coroutine has not run meanwhile, that
task is blocking the loop. A loop that is merely busy with many short steps
changes task between samples and is not reported. A block is reported once
when it passes the threshold (``event_loop_blocked``, so one that never ends is
still seen) and again when it ends, with how long it really lasted
(``event_loop_unblocked``).

The cyclic garbage collector stops the loop too, inside whatever task happens
to allocate. Its pauses are timed through ``gc.callbacks``; when they make up
all but ``threshold`` of a block, the block is reported as the collector's,
not blamed on the task (with a hundred thousand waiting sensors a full
collection can take longer than the threshold).
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Mapping
from typing import Any

import anyio

from asyncflow.log import get_logger

log = get_logger("asyncflow.watchdog")

TaskLabel = tuple[str, str, str]  # (dag_id, run_id, task_id)


class GcPauses:
    """Adds up the time the cyclic GC stops the interpreter (a ``gc.callbacks`` entry)."""

    def __init__(self) -> None:
        self._total = 0.0
        self._started: float | None = None

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        """Note the start or the end of a collection."""
        now = time.monotonic()
        if phase == "start":
            self._started = now
        elif self._started is not None:
            self._total += now - self._started
            self._started = None

    def spent(self) -> float:
        """Seconds of collection so far, including one in progress."""
        started = self._started
        return self._total + (time.monotonic() - started if started is not None else 0.0)


class LoopWatchdog:
    """Detects a coroutine that holds the event loop longer than ``threshold`` seconds."""

    def __init__(self, threshold: float, running: Mapping[asyncio.Task[Any], TaskLabel]) -> None:
        self.threshold = threshold
        self._running = running
        self._beat = time.monotonic()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gc = GcPauses()
        self.blocks = 0

    async def run(self) -> None:
        """Beat until cancelled, with the sampling thread alive meanwhile."""
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        thread = threading.Thread(target=self._watch, name="asyncflow-watchdog", daemon=True)
        gc.callbacks.append(self._gc)
        thread.start()
        try:
            while True:
                self._beat = time.monotonic()
                await anyio.sleep(self.threshold / 2)
        finally:
            self._stop.set()
            # the thread wakes at once to report a block still open; wait for that line
            thread.join(timeout=self.threshold)
            gc.callbacks.remove(self._gc)

    def _watch(self) -> None:
        assert self._loop is not None
        holder: asyncio.Task[Any] | None = None
        since = gc_since = 0.0
        seen = False  # this block was classified already (reported, or the collector's)
        reported: TaskLabel | None = None  # the label of a block reported, to report its end
        while not self._stop.wait(self.threshold / 4):
            now = time.monotonic()
            current = asyncio.current_task(self._loop)
            if current is None or current is not holder or self._beat > since:
                if reported is not None:
                    self._report_end(reported, self._ended(since, now) - since)
                holder, since, gc_since = current, now, self._gc.spent()
                seen, reported = False, None
                continue
            blocked = now - since
            if seen or blocked <= self.threshold or now - self._beat <= self.threshold:
                continue
            seen = True
            collecting = self._gc.spent() - gc_since
            if blocked - collecting <= self.threshold:
                log.info(
                    "event_loop_paused_by_gc",
                    blocked_ms=round(blocked * 1000),
                    gc_ms=round(collecting * 1000),
                )
                continue
            self.blocks += 1
            reported = self._report(current, blocked)
        if reported is not None:  # the engine stopped before the next sample saw the end
            self._report_end(reported, self._ended(since, time.monotonic()) - since)

    def _ended(self, since: float, now: float) -> float:
        """When a block that began at ``since`` ended: the loop ran the heartbeat first thing."""
        return self._beat if self._beat > since else now

    def _report(self, current: asyncio.Task[Any], blocked: float) -> TaskLabel:
        label = self._running.get(current)
        if label is None:
            # the engine's own work on a large run; worth knowing, not a user's mistake
            log.info("event_loop_busy", blocked_ms=round(blocked * 1000), by=current.get_name())
            return ("", "", current.get_name())
        dag_id, run_id, task_id = label
        log.warning(
            "event_loop_blocked",
            blocked_ms=round(blocked * 1000),
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            hint="the task ran blocking code on the event loop; make it a plain def (it then "
            "runs in a worker thread) or await an async equivalent",
        )
        return label

    @staticmethod
    def _report_end(label: TaskLabel, blocked: float) -> None:
        """The block reported earlier is over: say how long it really lasted."""
        dag_id, run_id, task_id = label
        if not dag_id:
            log.info("event_loop_busy_ended", blocked_ms=round(blocked * 1000), by=task_id)
            return
        log.warning(
            "event_loop_unblocked",
            blocked_ms=round(blocked * 1000),
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
        )
