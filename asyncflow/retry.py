"""How long a failed task waits before its next try, with Airflow's semantics.

Pure functions: no clock, no randomness. The jitter of exponential backoff comes
from a SHA-1 hash of a caller-given seed (Airflow hashes
``dag_id#task_id#logical_date#try_number``), so the same failed try always
waits the same time, in any process, while different task instances spread out.

Airflow's rule (``TaskInstance.next_retry_datetime``), which this follows:

* without backoff the delay is ``retry_delay``, and ``max_retry_delay`` is not
  applied;
* with backoff, ``min_backoff = ceil(retry_delay_seconds * 2 ** (try_number - 1))``,
  at least 1 s; the delay is ``min_backoff + hash % min_backoff`` whole seconds,
  so in ``[min_backoff, 2 * min_backoff)``; then it is capped at 24 hours
  (Airflow's ``[core] max_task_retry_delay``) and at ``max_retry_delay``.

One deliberate difference: with backoff and ``retry_delay`` of zero, Airflow
waits 1 s (its floor exists only to avoid a modulo by zero); asyncflow retries
at once, as it does without backoff.
"""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta
from typing import Final

from asyncflow.exceptions import DagDefinitionError

__all__ = ["MAX_RETRY_DELAY", "retry_delay", "to_timedelta"]

MAX_RETRY_DELAY: Final = timedelta(hours=24)
"""The ceiling on an exponential-backoff delay, as Airflow's ``max_task_retry_delay``."""

_MICROSECONDS: Final = 1_000_000
# 2**128 µs is ~10**25 years: past this exponent every delay is over any ceiling,
# so the big-int arithmetic never grows with try_number.
_MAX_EXPONENT: Final = 128


def retry_delay(
    *,
    try_number: int,
    base: timedelta,
    exponential: bool,
    max_delay: timedelta | None,
    seed: str,
    ceiling: timedelta = MAX_RETRY_DELAY,
) -> timedelta:
    """Return how long to wait before retrying the try that just failed.

    Args:
        try_number: The number of the try that failed, 1 for the first.
        base: The task's ``retry_delay`` (not negative).
        exponential: The task's ``retry_exponential_backoff``.
        max_delay: The task's ``max_retry_delay``; caps the backoff delay only,
            as in Airflow. ``None`` means no cap of its own.
        seed: Identifies the failed try for the jitter, e.g.
            ``"etl#load#scheduled__2024-01-01T00:00:00+00:00#2"``.
        ceiling: The global cap on a backoff delay (24 hours by default).

    Returns:
        ``base`` without backoff. With backoff, whole seconds in
        ``[m, 2m)`` with ``m = ceil(base_seconds * 2 ** (try_number - 1))`` (at
        least 1 s when ``base`` is positive, 0 when it is zero), chosen by the
        hash of ``seed``, then capped by ``ceiling`` and ``max_delay``.

    Raises:
        ValueError: ``try_number`` is below 1 or ``base`` is negative.

    Example:
        >>> retry_delay(try_number=3, base=timedelta(seconds=10), exponential=True,
        ...             max_delay=None, seed="etl#load#manual__2024-01-01#3")
        datetime.timedelta(seconds=73)
    """
    if try_number < 1:
        raise ValueError(f"try_number must be 1 or more, got {try_number}")
    if base < timedelta(0):
        raise ValueError(f"base must not be negative, got {base}")
    if not exponential or not base:
        return base
    base_us = base // timedelta(microseconds=1)
    exponent = min(try_number - 1, _MAX_EXPONENT)
    min_backoff = -(-(base_us << exponent) // _MICROSECONDS)  # ceil in seconds: >= 1
    digest = hashlib.sha1(seed.encode("utf-8"), usedforsecurity=False).hexdigest()
    seconds = min_backoff + int(digest, 16) % min_backoff
    limit = ceiling if max_delay is None else min(ceiling, max_delay)
    # Compare in whole seconds first: `seconds` may be far beyond timedelta's range.
    if seconds >= math.ceil(limit.total_seconds()):
        return limit
    return min(timedelta(seconds=seconds), limit)


def to_timedelta(
    value: timedelta | int | float | None, *, name: str, owner: str
) -> timedelta | None:
    """Read a duration given as a ``timedelta`` or a number of seconds.

    Args:
        value: A ``timedelta``, seconds as ``int`` or ``float``, or ``None``.
        name: The parameter's name, for the message (e.g. ``"retry_delay"``).
        owner: Who has the parameter, for the message (e.g. ``"task 'load'"``).

    Returns:
        The duration, or ``None`` when ``value`` is ``None``.

    Raises:
        DagDefinitionError: ``value`` is negative, not finite, too large, or of
            another type (``bool`` included), e.g. ``task 'load': retry_delay
            must be a timedelta or a number of seconds, got 'five'``.

    Example:
        >>> to_timedelta(90, name="retry_delay", owner="task 'load'")
        datetime.timedelta(seconds=90)
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        delta = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise DagDefinitionError(f"{owner}: {name} must be a finite number, got {value!r}")
        try:
            delta = timedelta(seconds=value)
        except OverflowError:
            raise DagDefinitionError(
                f"{owner}: {name} is too large for a timedelta, got {value!r} seconds"
            ) from None
    else:
        raise DagDefinitionError(
            f"{owner}: {name} must be a timedelta or a number of seconds, got {_short(value)}"
        )
    if delta < timedelta(0):
        shown = f"-{-value}" if isinstance(value, timedelta) else repr(value)  # -0:00:01
        raise DagDefinitionError(f"{owner}: {name} must not be negative, got {shown}")
    return delta


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
