"""The poke loop of a sensor: one code path for poke and reschedule mode.

Each poke runs under the sensor's ``execution_timeout``; its result goes to
:func:`asyncflow.sensor.decide_after_poke`. A poke that is not done ends the
call with :class:`~asyncflow.runtime.task_runner.RescheduleTask` in both modes:
the engine keeps a poke-mode sensor's slot and calls the loop again at the next
poke time (the wait is a timer entry on the event loop, not a sleeping
coroutine stack), while a reschedule-mode sensor gives its slot back and waits
as a row in the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from asyncflow.clock import Clock
from asyncflow.context import Context
from asyncflow.exceptions import SensorTimeout
from asyncflow.runtime.task_instance import TaskInstance
from asyncflow.runtime.task_runner import RescheduleTask, with_timeout
from asyncflow.sensor import (
    PokeDecision,
    PokeReturnValue,
    Sensor,
    SensorMode,
    Verdict,
    decide_after_poke,
)

PokeObserver = Callable[[SensorMode, float], None]
"""Told of each poke: the sensor's mode and how many seconds the poke took."""


class Wake:
    """Lets ``engine.notify`` make a sensor poke now.

    During a poke a notify is remembered (the loop pokes again at once after a
    not-done poke); between pokes it calls what :meth:`wait_with` was given.
    """

    __slots__ = ("_resume", "notified")

    def __init__(self) -> None:
        self.notified = False
        self._resume: Callable[[], None] | None = None

    def set(self) -> None:
        """Make the sensor poke now (or right after the poke in progress)."""
        resume, self._resume = self._resume, None
        if resume is None:
            self.notified = True
        else:
            resume()

    def wait_with(self, resume: Callable[[], None]) -> None:
        """Between pokes: a notify calls ``resume`` (once)."""
        self._resume = resume

    def stop_waiting(self) -> None:
        """The wait is over (the next poke started, or the try ended)."""
        self._resume = None


class SensorPokes:
    """One try of a sensor, poke after poke: what stays the same between its pokes.

    Args:
        sensor: The sensor (its poke and wait keywords).
        ti: The try's task instance (poke count, first poke time).
        clock: The engine's clock.
        jitter: The engine's spread of poke intervals.
        wake: The try's notify hook.
        observe: Called after each poke, however it ended, with the sensor's
            mode and the seconds it took (the engine's metrics).
    """

    __slots__ = ("_observe", "_policy", "_seed", "clock", "next_poke_at", "sensor", "ti", "wake")

    def __init__(
        self,
        sensor: Sensor,
        ti: TaskInstance,
        *,
        clock: Clock,
        jitter: float,
        wake: Wake,
        observe: PokeObserver | None = None,
    ) -> None:
        self.sensor = sensor
        self.ti = ti
        self.clock = clock
        self.wake = wake
        self._observe = observe
        self._policy = sensor.wait_policy(jitter)
        self._seed = f"{ti.dag_id}#{ti.task_id}#{ti.run_id}#{ti.map_index}"
        self.next_poke_at: datetime | None = None  # set by the engine after a not-done poke

    async def poke(self, context: Context) -> tuple[PokeDecision, Any]:
        """Poke, again at once if notified meanwhile; the decision and the poke's XCom value.

        The value is ``PokeReturnValue.xcom_value`` (``None`` for a plain ``True``).
        """
        sensor, ti, wake = self.sensor, self.ti, self.wake
        while True:
            if ti.first_poke_at is None:
                ti.first_poke_at = self.clock.now()
            wake.notified = False  # cleared before the poke: a notify during it is not lost
            started = time.perf_counter()
            try:
                if sensor.execution_timeout is None:
                    result = await sensor.poke(context)
                else:
                    result = await with_timeout(sensor, sensor.poke(context), what="poke of sensor")
            finally:
                if self._observe is not None:
                    self._observe(sensor.mode, time.perf_counter() - started)
            done, value = _read(result)
            ti.poke_count += 1
            decision = decide_after_poke(
                self._policy,
                done=done,
                now=self.clock.now(),
                first_poke_at=ti.first_poke_at,
                poke_count=ti.poke_count,
                seed=self._seed,
                not_before=sensor.not_before(context),
            )
            if decision.verdict is Verdict.WAIT and wake.notified:
                continue  # notified while poking: poke again now, in either mode
            return decision, value

    def conclude(self, decision: PokeDecision, value: Any) -> Any:
        """The try's end as a task body ends: the XCom value, or the exception to raise.

        Raises:
            SensorTimeout: the poke was not done and the timeout has passed.
            RescheduleTask: the poke was not done: poke again at the time decided.
        """
        if decision.verdict is Verdict.DONE:
            return value
        first = self.ti.first_poke_at
        assert first is not None
        if decision.verdict is Verdict.TIMED_OUT:
            now = self.clock.now()
            raise SensorTimeout(_timeout_message(self.sensor, first, now, self.ti.poke_count))
        assert decision.next_poke_at is not None
        raise RescheduleTask(decision.next_poke_at)

    async def until_wait(self, context: Context) -> Any:
        """Poke (see :meth:`poke`) and :meth:`conclude`: the body of a try that pokes once."""
        return self.conclude(*await self.poke(context))


async def sensor_loop(
    sensor: Sensor,
    ti: TaskInstance,
    context: Context,
    *,
    clock: Clock,
    jitter: float,
    wake: Wake,
) -> Any:
    """Poke, again at once if notified meanwhile; return the XCom value of a done poke.

    The value is ``PokeReturnValue.xcom_value`` (``None`` for a plain ``True``).

    Raises:
        SensorTimeout: when a not-done poke ends after the timeout.
        RescheduleTask: after a not-done poke, with the time of the next one.
    """
    pokes = SensorPokes(sensor, ti, clock=clock, jitter=jitter, wake=wake)
    return await pokes.until_wait(context)


def _read(result: object) -> tuple[bool, Any]:
    if isinstance(result, PokeReturnValue):
        return result.is_done, result.xcom_value
    return bool(result), None


def _timeout_message(sensor: Sensor, first: datetime, now: datetime, pokes: int) -> str:
    waited = (now - first).total_seconds()
    return (
        f"sensor {sensor.task_id!r} timed out: not done after {waited:g}s "
        f"(timeout {sensor.timeout.total_seconds():g}s, {pokes} pokes since {first.isoformat()})"
    )
