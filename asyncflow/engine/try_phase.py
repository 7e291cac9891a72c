"""The life of one try in the executor, as an explicit state machine.

A try is launched when the dispatcher gives its instance a slot, and ends when
its outcome is recorded or the try is stopped. Between, a poke-mode sensor
alternates between a running poke and *holding* its slot with no coroutine.
:func:`next_phase` is the whole transition table: a pure function, tested as a
table, that refuses any move the table does not list, so an executor bug shows
up as an error at the move rather than as a try in two places at once.

::

    STARTING --stored--> RUNNING --returned--> RECORDING --recorded--> DONE
        |                 |   ^                    |
        |           not_done  due                  stale --> STOPPED
        |                 v   |
        |                HOLDING
        |
        +-- stale / stopped --> STOPPED   (RUNNING and HOLDING: stopped too)
"""

from __future__ import annotations

from enum import StrEnum

from asyncflow.exceptions import EngineError
from asyncflow.operator import Operator
from asyncflow.sensor import Sensor, SensorMode


class TryKind(StrEnum):
    """What kind of try a task's instances run: the one place the executor asks."""

    TASK = "task"  # one call of execute(); its slot is held until its outcome is stored
    POKE_SENSOR = "poke_sensor"  # pokes until done, holding its slot between pokes
    RESCHEDULE_SENSOR = "reschedule_sensor"  # one poke per slot; a row in the store between

    @property
    def is_sensor(self) -> bool:
        """Whether the try pokes (its start and end are patient writes)."""
        return self is not TryKind.TASK


def try_kind(task: Operator) -> TryKind:
    """The kind of try ``task`` runs."""
    if not isinstance(task, Sensor):
        return TryKind.TASK
    return TryKind.POKE_SENSOR if task.mode is SensorMode.POKE else TryKind.RESCHEDULE_SENSOR


class TryPhase(StrEnum):
    """Where a try is in the executor."""

    STARTING = "starting"  # has a slot; its running state is being stored
    RUNNING = "running"  # its coroutine runs (a sensor: one poke)
    HOLDING = "holding"  # a poke-mode sensor between pokes: slot kept, a timer entry
    RECORDING = "recording"  # its outcome is being stored
    DONE = "done"  # its outcome is stored (ended, up for retry or rescheduled)
    STOPPED = "stopped"  # let go: a shutdown, its run's timeout, or a write the store refused


class TryEvent(StrEnum):
    """What happens to a try."""

    STORED = "stored"  # its running state is stored: it may run
    NOT_DONE = "not_done"  # a poke-mode sensor's poke found the condition not met
    DUE = "due"  # a holding sensor's next poke is due (its time came, or a notify)
    RETURNED = "returned"  # the try (or a sensor's last poke) has an outcome to store
    RECORDED = "recorded"  # the outcome is stored
    STALE = "stale"  # the store refused the try's write: its run or instance moved on
    STOPPED = "stopped"  # a shutdown or the run's timeout stopped it


_TABLE: dict[tuple[TryPhase, TryEvent], TryPhase] = {
    (TryPhase.STARTING, TryEvent.STORED): TryPhase.RUNNING,
    (TryPhase.STARTING, TryEvent.STALE): TryPhase.STOPPED,
    (TryPhase.STARTING, TryEvent.STOPPED): TryPhase.STOPPED,
    (TryPhase.RUNNING, TryEvent.NOT_DONE): TryPhase.HOLDING,
    (TryPhase.RUNNING, TryEvent.RETURNED): TryPhase.RECORDING,
    (TryPhase.RUNNING, TryEvent.STOPPED): TryPhase.STOPPED,
    (TryPhase.HOLDING, TryEvent.DUE): TryPhase.RUNNING,
    (TryPhase.HOLDING, TryEvent.STOPPED): TryPhase.STOPPED,
    (TryPhase.RECORDING, TryEvent.RECORDED): TryPhase.DONE,
    (TryPhase.RECORDING, TryEvent.STALE): TryPhase.STOPPED,
}


def next_phase(phase: TryPhase, event: TryEvent) -> TryPhase:
    """The phase a try in ``phase`` moves to on ``event``.

    Raises:
        EngineError: the table has no such move (an executor bug, never a user's).
    """
    try:
        return _TABLE[(phase, event)]
    except KeyError:
        raise EngineError(f"a try cannot go from {phase} on {event}") from None
