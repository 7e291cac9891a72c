"""What the built-in sensors share: the context type, UTC times and definition errors.

The sensors use asyncflow's public names (``from asyncflow import ...``). From the
core's internals they take only ``asyncflow.threads.call`` (imported where
it is used).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from asyncflow import DagDefinitionError

Context = dict[str, Any]
"""The context mapping a poke receives (``logical_date``, ``ti``, ...)."""


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; a naive one is taken to be UTC.

    Example:
        >>> as_utc(datetime(2024, 1, 1)).isoformat()
        '2024-01-01T00:00:00+00:00'
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def definition_error(task_id: str, message: str) -> DagDefinitionError:
    """The one-line error for a sensor argument given wrongly, naming the task.

    Example:
        >>> str(definition_error("wait", "delta must be a timedelta"))
        "task 'wait': delta must be a timedelta"
    """
    return DagDefinitionError(f"task {task_id!r}: {message}")


def to_delta(value: object, *, name: str, task_id: str) -> timedelta:
    """Read a duration given as a ``timedelta`` or seconds; negative ones are allowed.

    Raises:
        DagDefinitionError: ``value`` is of another type (``bool`` included) or not finite.

    Example:
        >>> to_delta(90, name="delta", task_id="wait")
        datetime.timedelta(seconds=90)
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or abs(value) >= timedelta.max.total_seconds():
            raise definition_error(
                task_id, f"{name} must be a finite number of seconds, got {value!r}"
            )
        return timedelta(seconds=value)
    raise definition_error(
        task_id, f"{name} must be a timedelta or a number of seconds, got {short(value)}"
    )


def short(value: object) -> str:
    """``repr(value)``, cut to fit in a one-line message."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
