"""Helpers for testing DAGs and engine code without a database or real waiting.

``MemoryStore`` passes the same conformance suite as the SQLite store
(``tests/storage``), so a test run against it tells the truth about the real
backends. ``FakeClock`` replaces the engine's clock: retries, reschedule-mode
sensors and poke intervals wait for :meth:`FakeClock.advance`, not for time.
:func:`wait_for_state` waits, bounded, until a task instance reaches a state;
:func:`watch_pokes` records what each poke of a sensor said.

Example:
    >>> from asyncflow.testing import FakeClock, MemoryStore
    >>> clock = FakeClock()
    >>> engine = Engine(store=MemoryStore(), clock=clock)  # doctest: +SKIP
    >>> clock.advance(300)  # a retry_delay of 5 minutes has passed  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.lowlevel

from asyncflow.engine.engine import Engine
from asyncflow.engine.runs import RunRef
from asyncflow.results import DagRunResult, TaskInstanceResult
from asyncflow.sensor import Sensor
from asyncflow.states import DagRunState, TaskState
from asyncflow.storage.memory import MemoryStore

__all__ = ["FakeClock", "MemoryStore", "SensorProbe", "wait_for_state", "watch_pokes"]

_POLL_FIRST = 0.001  # seconds between the first looks at the run; doubled up to _POLL_MOST
_POLL_MOST = 0.05


class FakeClock:
    """A clock that moves only when told to; implements the engine's ``Clock``.

    Args:
        start: The time it reads until the first :meth:`advance` (aware UTC).
    """

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self._now = start
        self._sleepers: list[tuple[datetime, anyio.Event]] = []
        self._changed = anyio.Event()

    def now(self) -> datetime:
        """The fake current time."""
        return self._now

    def advance(self, delta: timedelta | float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        for deadline, wake in list(self._sleepers):
            if deadline <= self._now:
                wake.set()

    async def sleep_until(self, deadline: datetime, wake: anyio.Event) -> None:
        """Return once :meth:`advance` reaches ``deadline`` or ``wake`` is set."""
        if deadline <= self._now:
            return
        entry = (deadline, wake)
        self._sleepers.append(entry)
        self._changed.set()
        try:
            await wake.wait()
        finally:
            self._sleepers.remove(entry)

    async def autojump(self, settle: int = 50) -> None:
        """Move time to the next sleeper's deadline whenever the loop has gone quiet; forever.

        Run it in a task group beside the code under test (cancel it when done),
        as trio's ``MockClock(autojump_threshold=0)``: a DAG whose sensors poke
        every hour runs in milliseconds, in the order real time would give.
        "Quiet" is ``settle`` turns of the event loop with a sleeper still
        waiting; work in worker threads is not waited for (time passes meanwhile,
        as it would).

        Example:
            >>> async with anyio.create_task_group() as tg:  # doctest: +SKIP
            ...     tg.start_soon(clock.autojump)
            ...     result = await engine.run("hourly_check")
            ...     tg.cancel_scope.cancel()
        """
        while True:
            while not self._sleepers:
                self._changed = anyio.Event()
                await self._changed.wait()
            for _ in range(settle):
                await anyio.lowlevel.checkpoint()
            if self._sleepers:
                earliest = min(deadline for deadline, _ in self._sleepers)
                if earliest > self._now:
                    self.advance(earliest - self._now)

    async def sleeping_until(self, deadline: datetime) -> None:
        """Wait until some coroutine sleeps until ``deadline`` (e.g. a retry is parked).

        Bound it with ``anyio.fail_after`` in tests.
        """
        while not any(d == deadline for d, _ in self._sleepers):
            self._changed = anyio.Event()
            await self._changed.wait()


async def wait_for_state(
    engine: Engine,
    run: RunRef,
    task_id: str,
    state: TaskState | str | Collection[TaskState | str],
    *,
    map_index: int = -1,
    timeout: float = 10,  # noqa: ASYNC109 - a bound is the point: every wait here has one
) -> TaskInstanceResult:
    """Wait until task instance ``task_id`` of ``run`` is in ``state`` (or one of several).

    The engine's view of the run (``engine.get_run``: from memory, or from a
    store engines share) is read at once, then at growing intervals of 1 ms to
    50 ms of real time (the fake clock does not move on its own: what is waited
    for is the engine's work, not a schedule). The run's end is awaited as an
    event: when the run finishes with the instance in another state, this fails
    at once instead of waiting out ``timeout``.

    Args:
        engine: An open engine running the run.
        run: What ``engine.trigger`` returned, or a run_id.
        task_id: The task's id.
        state: The state to wait for (a ``TaskState`` or its name), or several:
            the first reached returns.
        map_index: The instance of a mapped task (``-1``: not mapped).
        timeout: Seconds of real time to wait at most.

    Returns:
        The instance as it was when seen in ``state``.

    Raises:
        TimeoutError: it was not in ``state`` after ``timeout`` seconds (the
            message names the state it was in).
        AssertionError: the run finished with the instance in another state.
        ValueError: ``state`` names no task instance state.

    Example:
        >>> started = await engine.trigger("files")  # doctest: +SKIP
        >>> await wait_for_state(engine, started, "wait", TaskState.UP_FOR_RESCHEDULE)
        ... # doctest: +SKIP
    """
    wanted = _states(state)
    seen: list[TaskInstanceResult | None] = [None]
    try:
        with anyio.fail_after(timeout):
            return await _watch(engine, run, task_id, map_index, wanted, seen)
    except TimeoutError:
        last = seen[0].state if seen[0] is not None else "not created"
        raise TimeoutError(
            f"task instance {task_id!r} (map_index {map_index}) was {last}, not "
            f"{_names(wanted)}, after {timeout} s"
        ) from None


async def _watch(
    engine: Engine,
    run: RunRef,
    task_id: str,
    map_index: int,
    wanted: set[TaskState],
    seen: list[TaskInstanceResult | None],
) -> TaskInstanceResult:
    """Look at the run until the instance is in a wanted state or the run has ended."""
    ended = anyio.Event()
    outcome: list[DagRunResult] = []
    async with anyio.create_task_group() as tg:

        async def until_finished() -> None:
            await engine.wait(run)
            ended.set()

        tg.start_soon(until_finished)
        pause = _POLL_FIRST
        while not outcome:
            last_look = ended.is_set()  # the run's final state is read after it ended
            result = await engine.get_run(run)
            found = seen[0] = _instance(result, task_id, map_index)
            reached = found is not None and found.state in wanted
            if reached or last_look or result.state in (DagRunState.SUCCESS, DagRunState.FAILED):
                outcome.append(result)
                tg.cancel_scope.cancel()
                break
            with anyio.move_on_after(pause):
                await ended.wait()
            pause = min(pause * 2, _POLL_MOST)
    found = seen[0]
    if found is None or found.state not in wanted:  # the run ended first
        raise AssertionError(
            f"run {outcome[0].run_id!r} ended {outcome[0].state} with task instance "
            f"{task_id!r} (map_index {map_index}) "
            f"{found.state if found is not None else 'never created'}, never {_names(wanted)}"
        )
    return found


def _states(state: TaskState | str | Collection[TaskState | str]) -> set[TaskState]:
    """The states asked for, as TaskStates; a name that is none fails saying which are."""
    asked = [state] if isinstance(state, str) else list(state)
    try:
        return {TaskState(s) for s in asked}
    except ValueError:
        names = ", ".join(s.value for s in TaskState)
        raise ValueError(f"wait_for_state: state must be one of {names}; got {state!r}") from None


def _instance(result: DagRunResult, task_id: str, map_index: int) -> TaskInstanceResult | None:
    try:
        return result.ti(task_id, map_index)
    except KeyError:
        return None  # not created yet: a mapped task not expanded, say


def _names(states: set[TaskState]) -> str:
    return " or ".join(sorted(s.value for s in states))


class SensorProbe:
    """What a watched sensor's pokes said, in order (see :func:`watch_pokes`).

    Attributes:
        results: Each finished poke's answer, truthy or not, as a ``bool``.
        waiting: Set once a poke said "not yet" (or raised): the sensor is waiting.
        errors: The exceptions pokes raised.
    """

    def __init__(self) -> None:
        self.results: list[bool] = []
        self.errors: list[BaseException] = []
        self.waiting = anyio.Event()

    @property
    def pokes(self) -> int:
        """Pokes made so far (those that raised included)."""
        return len(self.results) + len(self.errors)


def watch_pokes(sensor: Sensor) -> SensorProbe:
    """Record every poke of ``sensor`` from now on, in the probe returned.

    The engine calls ``sensor.poke``, so the sensor's ``poke`` is wrapped: it
    behaves as before and the probe sees each answer. A poke that raises sets
    ``waiting`` too, so a test awaiting it sees the error instead of hanging.

    Example:
        >>> with DAG("files"):  # doctest: +SKIP
        ...     sensor = FileSensor("in/*.csv", task_id="wait")
        >>> probe = watch_pokes(sensor)  # doctest: +SKIP
        >>> with anyio.fail_after(10):  # doctest: +SKIP
        ...     await probe.waiting.wait()
    """
    probe = SensorProbe()
    poke = sensor.poke

    async def observed(context: Any) -> Any:
        try:
            result = await poke(context)
        except BaseException as error:
            probe.errors.append(error)
            probe.waiting.set()
            raise
        probe.results.append(bool(result))
        if not result:
            probe.waiting.set()
        return result

    sensor.poke = observed  # type: ignore[method-assign]
    return probe
