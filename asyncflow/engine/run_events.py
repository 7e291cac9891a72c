"""The events that move active runs forward, and the stream that carries them.

Tries, timers, notifies and the engine's own calls *post* events; the run
loop (:mod:`asyncflow.engine.run_loop`) is their one reader. Posting never
blocks (the stream is unbounded: an event is a few pointers) and never touches
a run's state itself.
"""

from __future__ import annotations

import math
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from asyncflow.engine.run_state import NodeState, RunState
from asyncflow.records import TaskInstanceRecord
from asyncflow.runtime.task_runner import TryOutcome
from asyncflow.states import DagRunState

MAX_BATCH = 10_000
"""Events taken in one batch at most, so a storm still lets other work run between batches."""


@dataclass(frozen=True, slots=True)
class RunStarted:
    """A new run: decide its root tasks."""

    run: RunState


@dataclass(frozen=True, slots=True)
class RunResumed:
    """A run read back from the store after a restart: carry on from where it stood."""

    run: RunState


@dataclass(frozen=True, slots=True)
class TryRecorded:
    """A try's outcome is stored: retry it, park it, or feed it to the trigger rules."""

    run: RunState
    node: NodeState
    record: TaskInstanceRecord  # the instance as stored
    outcome: TryOutcome
    notified: bool  # a notify came while the poke was being recorded
    remote: bool = False  # read back from a shared store: the try may have run in another engine


@dataclass(frozen=True, slots=True)
class TryInterrupted:
    """A try another engine ran was interrupted by its shutdown: the instance runs again."""

    run: RunState
    node: NodeState
    record: TaskInstanceRecord  # the instance as stored, waiting for a try


@dataclass(frozen=True, slots=True)
class RetryDue:
    """An instance up for retry may start its next try."""

    run: RunState
    node: NodeState
    map_index: int


@dataclass(frozen=True, slots=True)
class PokeDue:
    """A reschedule-mode sensor's next poke is due (``due``), or it was notified (``None``)."""

    run: RunState
    node: NodeState
    map_index: int
    due: datetime | None


@dataclass(frozen=True, slots=True)
class PoolMissing:
    """An instance was submitted to a pool the engine does not have: it fails."""

    run: RunState
    node: NodeState
    map_index: int


@dataclass(frozen=True, slots=True)
class RunTimedOut:
    """The run's dagrun_timeout has passed."""

    run: RunState


@dataclass(slots=True, eq=False)
class FailRun:
    """A request to end a run now by hand (mark failed or success), answered in ``failed``."""

    run: RunState
    error: str
    event: str
    state: DagRunState = DagRunState.FAILED
    done: anyio.Event = field(default_factory=anyio.Event)
    failed: bool = False


RunEvent = (
    RunStarted
    | RunResumed
    | TryRecorded
    | TryInterrupted
    | RetryDue
    | PokeDue
    | PoolMissing
    | RunTimedOut
    | FailRun
)


class RunEvents:
    """The stream of run events: any number of posters, one reader.

    The stream exists while the engine is open (:meth:`open`, :meth:`close`).
    """

    def __init__(self) -> None:
        self._send: MemoryObjectSendStream[RunEvent] | None = None
        self._receive: MemoryObjectReceiveStream[RunEvent] | None = None

    def open(self) -> None:
        """Create the stream (the engine is opening)."""
        self._send, self._receive = anyio.create_memory_object_stream[RunEvent](math.inf)

    def close(self) -> None:
        """Close the stream (the engine has closed); events not applied are dropped."""
        if self._send is not None and self._receive is not None:
            self._send.close()
            self._receive.close()
        self._send = self._receive = None

    def post(self, event: RunEvent) -> None:
        """Hand an event to the run loop; never blocks."""
        assert self._send is not None, "the engine is not open"
        self._send.send_nowait(event)

    async def next_batch(self) -> list[RunEvent]:
        """Wait for an event; return it with every other one already waiting (to a limit)."""
        receive = self._receive
        assert receive is not None, "the engine is not open"
        batch = [await receive.receive()]
        with suppress(anyio.WouldBlock):
            while len(batch) < MAX_BATCH:
                batch.append(receive.receive_nowait())
        return batch
