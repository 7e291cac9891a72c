"""The body of a try the executor has started: user code, its context and its log.

:meth:`TryRunner.run` runs a whole try (a sensor: its first poke). A poke-mode
sensor's later pokes take :meth:`TryRunner.poke_again`, the path a hundred
thousand waiting sensors take every interval: the try's context, log and wait
policy are kept from its first poke, and a poke that is not done goes straight
back to waiting; only a poke that ends the try goes through the try's full
ending (XCom, callbacks, the failure rules of :func:`run_try`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

from asyncflow.clock import Clock
from asyncflow.context import Context, reset_current_context, set_current_context
from asyncflow.engine.attempts import Attempt
from asyncflow.engine.run_state import NodeState, RunState
from asyncflow.engine.try_context import build_context
from asyncflow.engine.try_phase import TryKind, try_kind
from asyncflow.mapped_operator import unmap
from asyncflow.operator import Operator
from asyncflow.records import TaskInstanceRecord
from asyncflow.runtime.sensor_runner import PokeObserver, SensorPokes
from asyncflow.runtime.task_instance import TaskInstance
from asyncflow.runtime.task_runner import (
    TryOutcome,
    failed_try,
    one_line,
    run_try,
    task_log,
)
from asyncflow.sensor import Sensor, Verdict
from asyncflow.settings import Settings
from asyncflow.states import TaskState
from asyncflow.storage.protocol import Store
from asyncflow.task_logs import TryLog, capturing, try_log_path
from asyncflow.xcom_objects import XComObjects

_NO_LOG: AbstractContextManager[None] = nullcontext()
WAITS = TryOutcome(state=TaskState.UP_FOR_RESCHEDULE)
"""What :meth:`TryRunner.poke_again` returns for a poke that was not done."""


class TryRunner:
    """Runs the user code of tries, each in its context and captured in its log.

    ``running`` maps the asyncio task running a try's code to the try's
    ``(dag_id, run_id, task_id)``, for the blocked-loop watchdog's warnings.
    """

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        settings: Settings,
        objects: XComObjects | None,
        logs_folder: Path | None,
        secrets: tuple[str, ...],
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.objects = objects
        self.logs_folder = logs_folder
        self.secrets = secrets
        self.running: dict[asyncio.Task[Any], tuple[str, str, str]] = {}
        self.observe_poke: PokeObserver | None = None  # the engine's metrics count pokes

    async def run(
        self, run: RunState, node: NodeState, record: TaskInstanceRecord, attempt: Attempt
    ) -> tuple[TryOutcome, TaskInstance]:
        """Run the try (a sensor: its first poke) and say how it ended."""
        ti = attempt.ti or self._task_instance(node, record)
        with self._running(record), self._capture(record) as log:
            outcome = self._unmap(ti) or await self._body(run, ti, attempt)
            self._log_end(log, ti, outcome)
        self._warn_unwritable(attempt, log, ti)
        return outcome, ti

    async def poke_again(
        self, run: RunState, record: TaskInstanceRecord, attempt: Attempt
    ) -> tuple[TryOutcome, TaskInstance]:
        """The next poke of a poke-mode sensor's try (begun by :meth:`run`).

        The hot path of every waiting sensor: no context manager without task
        logs, no outcome built for a poke that is not done (it returns
        :data:`WAITS` with the next poke time in ``attempt.pokes.next_poke_at``).
        The context and the log are made again for each poke rather than kept:
        a hundred thousand waiting sensors would hold them all.
        """
        pokes = attempt.pokes
        assert pokes is not None, "a sensor's first poke is run by run()"
        current = asyncio.current_task()
        assert current is not None
        self.running[current] = (record.dag_id, record.run_id, record.task_id)
        try:
            context = build_context(run, pokes.ti)
            if self.logs_folder is None:
                return await self._poke_once(pokes, context, None), pokes.ti
            with self._capture(record) as log:
                outcome = await self._poke_once(pokes, context, log)
            self._warn_unwritable(attempt, log, pokes.ti)
            return outcome, pokes.ti
        finally:
            del self.running[current]

    async def _poke_once(
        self, pokes: SensorPokes, context: Context, log: TryLog | None
    ) -> TryOutcome:
        token = set_current_context(context)
        try:
            decision, value = await pokes.poke(context)
        except Exception as error:  # the try's ending decides what the error means
            outcome = await self._end_poking(pokes, context, _raise, error)
        else:
            if decision.verdict is Verdict.WAIT:
                pokes.next_poke_at = decision.next_poke_at
                return WAITS
            outcome = await self._end_poking(pokes, context, pokes.conclude, decision, value)
        finally:
            reset_current_context(token)
        self._log_end(log, pokes.ti, outcome)
        return outcome

    async def _end_poking(
        self, pokes: SensorPokes, context: Context, end: Any, *args: Any
    ) -> TryOutcome:
        async def ending() -> Any:
            return end(*args)

        return await run_try(pokes.sensor, pokes.ti, context, now=self.clock.now, body=ending)

    def _task_instance(self, node: NodeState, record: TaskInstanceRecord) -> TaskInstance:
        return TaskInstance(
            task=node.task,
            dag_id=record.dag_id,
            run_id=record.run_id,
            task_id=record.task_id,
            map_index=record.map_index,
            try_number=record.try_number,
            store=self.store,
            xcom_max_bytes=self.settings.xcom_max_bytes,
            mapped_kwargs=node.expansion.kwargs_for(record.map_index) if node.expansion else {},
            first_poke_at=record.first_poke_at,
            poke_count=record.poke_count,
            interrupted_tries=record.interrupted_tries,
            objects=self.objects,
        )

    @contextmanager
    def _running(self, record: TaskInstanceRecord) -> Iterator[None]:
        current = asyncio.current_task()
        if current is None:  # pragma: no cover - tries always run in a task
            yield
            return
        self.running[current] = (record.dag_id, record.run_id, record.task_id)
        try:
            yield
        finally:
            self.running.pop(current, None)

    def _capture(self, record: TaskInstanceRecord) -> AbstractContextManager[TryLog | None]:
        """Capture the try's output in its log file (when task logs are on).

        The file is opened only when something is written; a sensor's next poke
        captures into the same file.
        """
        if self.logs_folder is None:
            return _NO_LOG
        # the path and the header are worked out only if the try writes something:
        # most pokes of a waiting sensor never do
        return capturing(
            partial(_log_path, self.logs_folder, record), self.secrets, partial(_header, record)
        )

    @staticmethod
    def _log_end(log: TryLog | None, ti: TaskInstance, outcome: TryOutcome) -> None:
        if log is not None and log.written and not keeps_slot(ti.task, outcome):
            log.line(f"try {ti.try_number} ended: {outcome.state}")

    @staticmethod
    def _warn_unwritable(attempt: Attempt, log: TryLog | None, ti: TaskInstance) -> None:
        if log is not None and log.error is not None and not attempt.log_failed:
            attempt.log_failed = True
            task_log(ti).warning(
                "try_log_unwritable",
                path=str(log.path),
                error=one_line(log.error),
                hint="the try's output was dropped; check the disk and ASYNCFLOW_HOME/logs",
            )

    def _unmap(self, ti: TaskInstance) -> TryOutcome | None:
        """Give a classic mapped instance its own operator (a failed try if it rejects them)."""
        template = ti.task
        if template.partial_kwargs is None or not template.is_mapped:
            return None  # not mapped, a TaskFlow task (its callable takes the values) or done
        try:
            ti.task = unmap(template, ti.mapped_kwargs)
        except Exception as error:  # the operator's own checks of its mapped values
            return failed_try(template, ti, error, self.clock.now())
        return None

    async def _body(self, run: RunState, ti: TaskInstance, attempt: Attempt) -> TryOutcome:
        context = build_context(run, ti)
        task = ti.task
        if not isinstance(task, Sensor):  # narrows the type for SensorPokes
            return await run_try(task, ti, context, now=self.clock.now)
        pokes = SensorPokes(
            task,
            ti,
            clock=self.clock,
            jitter=self.settings.poke_jitter,
            wake=attempt.wake,
            observe=self.observe_poke,
        )
        attempt.pokes = pokes
        return await run_try(
            task, ti, context, now=self.clock.now, body=lambda: pokes.until_wait(context)
        )


def keeps_slot(task: Operator, outcome: TryOutcome) -> bool:
    """A not-done poke of a poke-mode sensor: the try goes on, holding its slot."""
    return outcome.state is TaskState.UP_FOR_RESCHEDULE and try_kind(task) is TryKind.POKE_SENSOR


def _log_path(folder: Path, record: TaskInstanceRecord) -> Path:
    return try_log_path(
        folder, record.dag_id, record.run_id, record.task_id, record.map_index, record.try_number
    )


def _header(record: TaskInstanceRecord) -> str:
    index = f"[{record.map_index}]" if record.map_index >= 0 else ""
    return f"try {record.try_number} of {record.task_id}{index} in {record.run_id}"


def _raise(error: BaseException) -> Any:
    raise error
