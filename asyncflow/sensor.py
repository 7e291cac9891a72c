"""Sensors: tasks that wait for a condition by poking it, and the pure poke decisions.

Subclass :class:`Sensor` and define ``async def poke(self, context)`` returning a
bool or a :class:`PokeReturnValue`. How the wait happens depends on ``mode``:

- ``"poke"``: the sensor keeps its slot and sleeps on the event loop between
  pokes; nothing is written to the store per poke.
- ``"reschedule"``: between pokes the sensor holds no slot and no coroutine; it
  is an ``up_for_reschedule`` row with its next poke time, first poke time and
  poke count, and a restarted process resumes it.

Both modes take every decision with :func:`decide_after_poke`, one pure function,
so ``timeout``, ``soft_fail``, backoff and XCom behave the same in either.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from asyncflow.context import Context
from asyncflow.exceptions import DagDefinitionError
from asyncflow.operator import Operator
from asyncflow.retry import to_timedelta

DEFAULT_POKE_INTERVAL = timedelta(seconds=60)
DEFAULT_TIMEOUT = timedelta(days=7)


class SensorMode(StrEnum):
    """How a sensor waits between pokes."""

    POKE = "poke"  # keeps its slot; sleeps on the loop
    RESCHEDULE = "reschedule"  # frees its slot; a row in the store until the next poke


@dataclass(frozen=True, slots=True)
class PokeReturnValue:
    """What a poke may return instead of a bool: whether it is done, and a result.

    ``xcom_value`` becomes the sensor's return value (its XCom result) when done.
    """

    is_done: bool
    xcom_value: Any = None

    def __bool__(self) -> bool:
        return self.is_done


class Verdict(StrEnum):
    """The outcome of one poke."""

    DONE = "done"  # the condition holds: the sensor succeeds
    WAIT = "wait"  # poke again at next_poke_at
    TIMED_OUT = "timed_out"  # the timeout passed: fail (or skip with soft_fail)


@dataclass(frozen=True, slots=True, kw_only=True)
class PokeDecision:
    """What happens after a poke."""

    verdict: Verdict
    next_poke_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitPolicy:
    """The keywords that shape a sensor's wait, checked and converted once."""

    poke_interval: timedelta
    timeout: timedelta
    exponential_backoff: bool
    max_wait: timedelta | None
    jitter: float  # fraction of poke_interval spread around it (0 disables)


_DONE = PokeDecision(verdict=Verdict.DONE)  # decisions are immutable: these are shared
_TIMED_OUT = PokeDecision(verdict=Verdict.TIMED_OUT)


def decide_after_poke(
    policy: WaitPolicy,
    *,
    done: bool,
    now: datetime,
    first_poke_at: datetime,
    poke_count: int,
    seed: str,
    not_before: datetime | None = None,
) -> PokeDecision:
    """Decide what follows a poke, the same way in every mode.

    Args:
        policy: The sensor's wait keywords.
        done: What the poke returned.
        now: When the poke ended.
        first_poke_at: When the sensor first poked (its timeout counts from here,
            across reschedules and retries).
        poke_count: Pokes so far, this one included.
        seed: Identity of the sensor instance, for deterministic jitter.
        not_before: The sensor knows it cannot succeed before this time (a time
            sensor's target): when it is still ahead, the next poke is exactly
            then, whatever the interval.
    """
    if done:
        return _DONE
    deadline = first_poke_at + policy.timeout
    if now >= deadline:
        return _TIMED_OUT
    if not_before is not None and not_before > now:
        next_at = not_before  # the sensor knows when it can succeed: poke exactly then
    else:
        next_at = now + poke_delay(policy, poke_count=poke_count, seed=seed)
    return PokeDecision(verdict=Verdict.WAIT, next_poke_at=min(next_at, deadline))


def poke_delay(policy: WaitPolicy, *, poke_count: int, seed: str) -> timedelta:
    """The wait before the next poke.

    Without backoff: ``poke_interval`` spread by ``jitter`` so sensors started
    together drift apart. With ``exponential_backoff``: Airflow's growth, from
    half the interval doubling with every poke, with deterministic jitter in
    ``[base, 2 * base)``; capped by ``max_wait``.
    """
    interval = policy.poke_interval.total_seconds()
    fraction = _fraction(seed, poke_count)
    if policy.exponential_backoff:
        exponent = min(poke_count - 2, 64)
        base = max(interval * (2.0**exponent), 1.0)
        seconds = base + base * fraction
    else:
        seconds = interval * (1 + policy.jitter * (fraction - 0.5))
    delay = timedelta(seconds=min(seconds, 10**9))
    if policy.max_wait is not None:
        delay = min(delay, policy.max_wait)
    return delay


@functools.lru_cache(maxsize=256)
def _shared_policy(policy: WaitPolicy) -> WaitPolicy:
    return policy


def _fraction(seed: str, poke_count: int) -> float:
    """A deterministic number in [0, 1) from the sensor's identity and poke count."""
    # CRC-32 is enough to spread pokes and far cheaper than a cryptographic hash
    return zlib.crc32(f"{seed}#{poke_count}".encode()) / 2**32


class Sensor(Operator):
    """Base class of sensors: define ``async def poke(self, context)``.

    Args:
        poke_interval: Time between pokes (``timedelta`` or seconds; default 60 s).
        timeout: Wall-clock time from the first poke after which the sensor fails
            with ``SensorTimeout`` (default 7 days); counted across reschedules
            and retries, and never retried.
        mode: ``"poke"`` (keep the slot, sleep on the loop) or ``"reschedule"``
            (free the slot between pokes; survives restarts).
        soft_fail: On timeout, mark the sensor ``skipped`` instead of failed.
        exponential_backoff: Grow the time between pokes (with jitter).
        max_wait: Cap on the time between pokes.
        wake_on: Keys that ``engine.notify(key)`` uses to make it poke at once.
        **kwargs: The keywords every task accepts (see :class:`~asyncflow.Operator`);
            ``execution_timeout`` limits one poke.

    Example:
        >>> class MarkerSensor(Sensor):
        ...     async def poke(self, context):
        ...         return Path("/data/_SUCCESS").exists()
    """

    ui_color = "#e6f1f2"

    def __init__(
        self,
        *,
        poke_interval: timedelta | float = DEFAULT_POKE_INTERVAL,
        timeout: timedelta | float = DEFAULT_TIMEOUT,
        mode: SensorMode | str = SensorMode.POKE,
        soft_fail: bool = False,
        exponential_backoff: bool = False,
        max_wait: timedelta | float | None = None,
        wake_on: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        where = f"task {self.task_id!r}"
        self.poke_interval = _positive_delta(poke_interval, "poke_interval", where)
        self.timeout = _positive_delta(timeout, "timeout", where)
        self.max_wait = to_timedelta(max_wait, name="max_wait", owner=where)
        try:
            self.mode = SensorMode(mode)
        except ValueError:
            raise DagDefinitionError(
                f"{where}: mode must be 'poke' or 'reschedule', got {mode!r}"
            ) from None
        for name, value in (("soft_fail", soft_fail), ("exponential_backoff", exponential_backoff)):
            if not isinstance(value, bool):
                raise DagDefinitionError(f"{where}: {name} must be True or False, got {value!r}")
        self.soft_fail = soft_fail
        self.exponential_backoff = exponential_backoff
        if isinstance(wake_on, str):
            wake_on = (wake_on,)
        self.wake_on: tuple[str, ...] = tuple(wake_on)
        if not all(isinstance(key, str) and key for key in self.wake_on):
            raise DagDefinitionError(f"{where}: wake_on must be a list of non-empty strings")

    def wait_policy(self, jitter: float) -> WaitPolicy:
        """The sensor's wait keywords as one value, with the engine's jitter setting.

        Equal policies are one shared object: the instances of a mapped sensor
        (a hundred thousand of them) all wait by the same one.
        """
        return _shared_policy(
            WaitPolicy(
                poke_interval=self.poke_interval,
                timeout=self.timeout,
                exponential_backoff=self.exponential_backoff,
                max_wait=self.max_wait,
                jitter=jitter,
            )
        )

    async def poke(self, context: Context) -> bool | PokeReturnValue:
        """Check the condition once; ``True`` (or ``PokeReturnValue(True, ...)``) ends the wait."""
        raise DagDefinitionError(
            f"{type(self).__name__} must define `async def poke(self, context)`"
        )

    def not_before(self, context: Context) -> datetime | None:
        """The earliest time a next poke can succeed, if the sensor knows it.

        Time sensors return their target so that, in reschedule mode, their single
        wake-up is at that time and no poke is wasted. ``None`` by default.
        """
        return None

    @classmethod
    def _engine_base(cls) -> type[Operator]:
        """A mapped sensor's template keeps its mode, interval and timeout: it waits."""
        return Sensor

    async def execute(self, context: Context) -> Any:
        """Sensors are run by the engine's poke loop, not by ``execute``."""
        raise DagDefinitionError(
            f"sensor {self.task_id!r} is run by the engine's poke loop; call poke() to test it"
        )


def _positive_delta(value: object, name: str, where: str) -> timedelta:
    delta = to_timedelta(value, name=name, owner=where)  # type: ignore[arg-type]
    if delta is None or delta <= timedelta(0):
        raise DagDefinitionError(f"{where}: {name} must be positive, got {value!r}")
    return delta
