"""Task instances of the active runs counted by kind and state, as they change.

Each task of an active run keeps its instances in an :class:`InstanceTable`: a
``dict`` by map index whose ``__setitem__`` moves one count from the old
record's state to the new one's. The engine already assigns every change of an
instance into that dict, so the counts follow without a hook at each place a
state changes, and reading them (a scrape) costs the same with ten or a
hundred thousand waiting sensors: a few dozen integers. When a run ends its
tables are detached, taking their instances out of the counts.

Every key is there from the start, so the counts never grow: a scrape served
from another thread reads a dict whose size does not change under it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from asyncflow.operator import Operator
from asyncflow.records import TaskInstanceRecord
from asyncflow.sensor import Sensor, SensorMode
from asyncflow.states import TaskState

CountKey = tuple[TaskState | None, bool]
"""An instance's state, and whether it has a next poke time (a reschedule-mode sensor's wait)."""

Counts = dict[CountKey, int]

STATES: tuple[TaskState | None, ...] = (None, *TaskState)
"""Every state an instance can have; ``None``: not yet considered."""


class InstanceKind(StrEnum):
    """What an instance runs, as far as counting it goes."""

    TASK = "task"  # anything but a sensor
    POKE = "poke"  # a poke-mode sensor: keeps its slot while it waits
    RESCHEDULE = "reschedule"  # a reschedule-mode sensor: a row in the store between pokes


def kind_of(task: Operator) -> InstanceKind:
    """The kind of ``task``'s instances."""
    if not isinstance(task, Sensor):
        return InstanceKind.TASK
    return InstanceKind.POKE if task.mode is SensorMode.POKE else InstanceKind.RESCHEDULE


class InstanceTable(dict[int, TaskInstanceRecord]):
    """A task's instances by map index, counted in ``counts`` while attached.

    Only ``table[i] = record`` and the constructor count: the engine changes
    instances that way and no other.
    """

    __slots__ = ("_counts",)

    def __init__(self, records: Mapping[int, TaskInstanceRecord], counts: Counts) -> None:
        super().__init__(records)
        self._counts: Counts | None = counts
        for record in records.values():
            counts[(record.state, record.next_poke_at is not None)] += 1

    def __setitem__(self, map_index: int, record: TaskInstanceRecord) -> None:
        counts = self._counts
        if counts is not None:
            old = self.get(map_index)
            if old is not None:
                counts[(old.state, old.next_poke_at is not None)] -= 1
            counts[(record.state, record.next_poke_at is not None)] += 1
        dict.__setitem__(self, map_index, record)

    def detach(self) -> None:
        """Take the instances out of the counts; later changes are not counted."""
        counts, self._counts = self._counts, None
        if counts is not None:
            for record in self.values():
                counts[(record.state, record.next_poke_at is not None)] -= 1

    def renewed(self, records: Mapping[int, TaskInstanceRecord]) -> InstanceTable:
        """A table of ``records`` counted where this one was, this one detached."""
        counts = self._counts
        self.detach()
        return InstanceTable(records, counts if counts is not None else _empty())


def _empty() -> Counts:
    return {(state, resumed): 0 for state in STATES for resumed in (False, True)}


class InstanceTally:
    """The instances of an engine's active runs, counted by kind and state.

    Example:
        >>> tally = InstanceTally()
        >>> table = tally.table(task, {-1: record})  # doctest: +SKIP
        >>> tally.by_state()[None]  # doctest: +SKIP
        1
    """

    def __init__(self) -> None:
        self.counts: dict[InstanceKind, Counts] = {kind: _empty() for kind in InstanceKind}

    def table(self, task: Operator, records: Mapping[int, TaskInstanceRecord]) -> InstanceTable:
        """A counted table for ``task``'s instances."""
        return InstanceTable(records, self.counts[kind_of(task)])

    def by_state(self) -> dict[TaskState | None, int]:
        """How many instances have each state, every state listed."""
        totals = dict.fromkeys(STATES, 0)
        for counts in self.counts.values():
            for (state, _), count in list(counts.items()):
                totals[state] += count
        return totals

    def sensors_waiting(self) -> dict[SensorMode, int]:
        """Sensors whose wait has begun and not ended, by mode.

        Poke mode: running (poking, or holding its slot until the next poke).
        Reschedule mode: running its first poke, or with a next poke time and
        not finished (between pokes, queued for the next one or poking).
        """
        poke = self.counts[InstanceKind.POKE]
        reschedule = self.counts[InstanceKind.RESCHEDULE]
        waiting = reschedule[(TaskState.RUNNING, False)] + sum(
            reschedule[(state, True)]
            for state in (TaskState.UP_FOR_RESCHEDULE, TaskState.QUEUED, TaskState.RUNNING)
        )
        running = poke[(TaskState.RUNNING, False)] + poke[(TaskState.RUNNING, True)]
        return {SensorMode.POKE: running, SensorMode.RESCHEDULE: waiting}


def detach_all(tables: Iterable[Mapping[int, TaskInstanceRecord]]) -> None:
    """Take a finished run's instances out of the counts (tables not counted are skipped)."""
    for table in tables:
        if isinstance(table, InstanceTable):
            table.detach()
