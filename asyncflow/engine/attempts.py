"""An executor's hold on one try: its slot, its notify hook, and the held ones.

A poke-mode sensor's try spans many pokes; between them its :class:`Attempt`
is *held* in :class:`HeldAttempts`: it keeps its ticket (the slot) and its
``TaskInstance`` (poke count, pushed XCom) and waits as one timer entry, with
no coroutine. A try that is started but whose coroutine has not begun yet is
held too, so a shutdown or a run's timeout finds it.
"""

from __future__ import annotations

from collections.abc import Iterator

from asyncflow.engine.dispatcher import Ticket
from asyncflow.engine.run_state import NodeState, RunState
from asyncflow.engine.try_phase import TryEvent, TryPhase, next_phase
from asyncflow.runtime.sensor_runner import SensorPokes, Wake
from asyncflow.runtime.task_instance import TaskInstance

RunKey = tuple[str, str]


class Attempt:
    """One try of one instance while the executor has it: its slot and its notify hook."""

    __slots__ = ("log_failed", "phase", "pokes", "ti", "ticket", "wait_id", "wake")

    def __init__(self, ticket: Ticket) -> None:
        self.ticket = ticket
        self.phase = TryPhase.STARTING
        self.wake = Wake()
        self.ti: TaskInstance | None = None  # set once the first poke has run
        self.wait_id = 0  # which wait a timer entry belongs to (notify may end one early)
        self.log_failed = False  # warned once that its try log cannot be written
        self.pokes: SensorPokes | None = None  # a sensor's try, from its first poke

    def move(self, event: TryEvent) -> None:
        """Move the try to its next phase (see :func:`~.try_phase.next_phase`)."""
        self.phase = next_phase(self.phase, event)

    @property
    def payload(self) -> tuple[RunState, NodeState, int]:
        """The run, task and map index of the instance."""
        payload: tuple[RunState, NodeState, int] = self.ticket.payload
        return payload


class HeldAttempts:
    """The attempts held (holding a slot with no coroutine), by run."""

    def __init__(self) -> None:
        self._by_run: dict[RunKey, set[Attempt]] = {}

    def __len__(self) -> int:
        return sum(len(attempts) for attempts in self._by_run.values())

    def add(self, attempt: Attempt) -> None:
        """Hold ``attempt``."""
        self._by_run.setdefault(attempt.payload[0].key, set()).add(attempt)

    def take(self, attempt: Attempt) -> bool:
        """Stop holding ``attempt``; ``False`` if it was not held (any more)."""
        key = attempt.payload[0].key
        held = self._by_run.get(key)
        if held is None or attempt not in held:
            return False
        held.discard(attempt)
        if not held:
            del self._by_run[key]
        return True

    def of_run(self, key: RunKey) -> int:
        """How many attempts of one run are held."""
        return len(self._by_run.get(key, ()))

    def snapshot(self, key: RunKey | None = None) -> Iterator[Attempt]:
        """The attempts held now (of one run, or all), safe to take while iterating."""
        keys = list(self._by_run) if key is None else [key]
        return iter([a for k in keys for a in list(self._by_run.get(k, ()))])
