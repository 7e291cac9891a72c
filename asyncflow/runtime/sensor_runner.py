"""The poke loop of a sensor: one code path for poke and reschedule mode.

Each poke runs under the sensor's ``execution_timeout``; its result goes to
:func:`asyncflow.sensor.decide_after_poke`. Then poke mode sleeps on the event
loop (waking early on ``engine.notify``), and reschedule mode ends the try
with :class:`~asyncflow.runtime.task_runner.RescheduleTask` so the sensor
holds no slot and no coroutine until its next poke.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anyio

from asyncflow.clock import Clock
from asyncflow.context import Context
from asyncflow.exceptions import SensorTimeout
from asyncflow.runtime.task_instance import TaskInstance
from asyncflow.runtime.task_runner import RescheduleTask, with_timeout
from asyncflow.sensor import PokeReturnValue, Sensor, SensorMode, Verdict, decide_after_poke


class Wake:
    """Lets ``engine.notify`` cut a poke-mode sensor's sleep short."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = anyio.Event()

    def set(self) -> None:
        """Make the sensor poke now."""
        self.event.set()

    def rearm(self) -> anyio.Event:
        """A fresh event for the next sleep."""
        self.event = anyio.Event()
        return self.event


async def sensor_loop(
    sensor: Sensor,
    ti: TaskInstance,
    context: Context,
    *,
    clock: Clock,
    jitter: float,
    wake: Wake,
) -> Any:
    """Poke until done; return the poke's XCom value (``PokeReturnValue.xcom_value``).

    Raises:
        SensorTimeout: when a not-done poke ends after the timeout.
        RescheduleTask: in reschedule mode, after a not-done poke.
    """
    policy = sensor.wait_policy(jitter)
    seed = f"{ti.dag_id}#{ti.task_id}#{ti.run_id}#{ti.map_index}"
    first_poke_at = ti.first_poke_at
    while True:
        if first_poke_at is None:
            first_poke_at = ti.first_poke_at = clock.now()
        woken = wake.rearm()  # armed before the poke: a notify during it is not lost
        result = await with_timeout(sensor, sensor.poke(context), what="poke of sensor")
        done, value = _read(result)
        ti.poke_count += 1
        now = clock.now()
        decision = decide_after_poke(
            policy,
            done=done,
            now=now,
            first_poke_at=first_poke_at,
            poke_count=ti.poke_count,
            seed=seed,
            not_before=sensor.not_before(context),
        )
        if decision.verdict is Verdict.DONE:
            return value
        if decision.verdict is Verdict.TIMED_OUT:
            raise SensorTimeout(_timeout_message(sensor, first_poke_at, now, ti.poke_count))
        assert decision.next_poke_at is not None
        if woken.is_set():
            continue  # notified while poking: poke again now, in either mode
        if sensor.mode is SensorMode.RESCHEDULE:
            raise RescheduleTask(decision.next_poke_at)
        await clock.sleep_until(decision.next_poke_at, woken)


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
