"""Running one try of one task instance: timeout, context, outcome and retry decision.

The runner never touches the store's task-instance rows: it returns a
:class:`TryOutcome` and the engine records it. XCom values the try produced
travel in the outcome, so they are committed together with its state.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio

from asyncflow.context import Context, reset_current_context, set_current_context
from asyncflow.exceptions import FailTask, SensorTimeout, SkipTask, XComError
from asyncflow.log import Logger, get_logger
from asyncflow.operator import Operator
from asyncflow.records import XComRecord
from asyncflow.retry import retry_delay
from asyncflow.runtime.task_instance import TaskInstance
from asyncflow.states import TaskState
from asyncflow.threads import call, is_async_callable
from asyncflow.xcom_arg import RETURN_VALUE

# The XCom key under which a branch or short-circuit task's success records the
# downstream tasks it skipped (Airflow's key for its equivalent record).
SKIPPED_KEY = "skipmixin_key"

log = get_logger("asyncflow.task")


class RescheduleTask(Exception):
    """Raised by a sensor's poke loop after a not-done poke: poke again at ``at``.

    A reschedule-mode sensor frees its slot until then; a poke-mode one keeps it.
    """

    def __init__(self, at: datetime) -> None:
        super().__init__()
        self.at = at

    def __str__(self) -> str:
        return f"poke again at {self.at.isoformat()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TryOutcome:
    """How one try (or one reschedule-mode poke) ended and what it produced."""

    state: TaskState  # success, skipped, failed, up_for_retry or up_for_reschedule
    error: str | None = None  # one line, for failed and up_for_retry
    next_attempt_at: datetime | None = None  # for up_for_retry
    next_poke_at: datetime | None = None  # for up_for_reschedule
    xcoms: tuple[XComRecord, ...] = ()
    skipped_task_ids: frozenset[str] = field(default_factory=frozenset)


Body = Callable[[], Awaitable[Any]]


async def run_try(
    task: Operator,
    ti: TaskInstance,
    context: Context,
    *,
    now: Callable[[], datetime],
    body: Body | None = None,
) -> TryOutcome:
    """Run one try of ``task`` and classify how it ended.

    ``body`` is what the try does (default: ``task.execute`` under its
    ``execution_timeout``; sensors pass their poke loop). ``SkipTask`` skips;
    ``FailTask``, an XCom that cannot be stored and a sensor timeout fail
    without retry (a timed-out ``soft_fail`` sensor is skipped); any other error
    is retried while tries remain.
    """
    if task.on_execute_callback is not None:
        await _call_back(task.on_execute_callback, "on_execute_callback", context, ti)
    token = set_current_context(context)
    try:
        result = await (body or (lambda: with_timeout(task, execute(task, context))))()
        # a mapped instance always records its result, so downstream lists line up
        if task.do_xcom_push and (result is not None or ti.map_index >= 0):
            ti.xcom_push(RETURN_VALUE, result)
    except RescheduleTask as reschedule:
        outcome = TryOutcome(
            state=TaskState.UP_FOR_RESCHEDULE,
            next_poke_at=reschedule.at,
            xcoms=tuple(ti.pushed.values()),
        )
    except SkipTask as skip:
        task_log(ti).info("task_skipped", reason=str(skip) or None)
        outcome = TryOutcome(state=TaskState.SKIPPED, xcoms=tuple(ti.pushed.values()))
    except (FailTask, XComError, SensorTimeout) as error:
        outcome = _final_failure(task, ti, error)
    except Exception as error:  # any error of user code fails the try
        task_log(ti).error("task_failed", error=one_line(error), traceback=_traceback(error))
        outcome = _failed_try(task, ti, error, now())
    else:
        if ti.skipped_task_ids:  # stored with the success, so a restart skips them too
            ti.xcom_push(SKIPPED_KEY, {"skipped": sorted(ti.skipped_task_ids)})
        outcome = TryOutcome(
            state=TaskState.SUCCESS,
            xcoms=tuple(ti.pushed.values()),
            skipped_task_ids=frozenset(ti.skipped_task_ids),
        )
    finally:
        reset_current_context(token)
    await _run_callback(task, outcome, context, ti)
    return outcome


async def execute(task: Operator, context: Context) -> Any:
    """Run ``task.execute``: awaited when it is ``async def``, in a worker thread when not.

    A classic operator written for Airflow has a plain ``def execute``; in a
    thread it cannot block the event loop.
    """
    run = task.execute
    overridden = "execute" in vars(task)  # set on the instance, not the class
    if is_async_callable(run) if overridden else _async_execute(type(task)):
        return await run(context)
    return await call(run, context)


_ASYNC_EXECUTE: dict[type, bool] = {}


def _async_execute(cls: type[Operator]) -> bool:
    """Whether a class's ``execute`` is ``async def`` (asked once per class, not per try)."""
    known = _ASYNC_EXECUTE.get(cls)
    if known is None:
        known = _ASYNC_EXECUTE[cls] = is_async_callable(cls.execute)
    return known


async def with_timeout(task: Operator, work: Awaitable[Any], *, what: str = "") -> Any:
    """Await ``work`` under the task's ``execution_timeout``.

    Raises:
        TimeoutError: naming the task and the limit.
    """
    timeout = task.execution_timeout
    if timeout is None:
        return await work
    with anyio.move_on_after(timeout.total_seconds()) as scope:
        return await work
    if scope.cancelled_caught:
        raise TimeoutError(
            f"{what or 'task'} {task.task_id!r} ran longer than its execution_timeout of "
            f"{_seconds(timeout)}"
        )
    return None  # pragma: no cover - the scope only exits early through its deadline


def task_log(ti: TaskInstance) -> Logger:
    """A logger bound to one try's identity (bound only when something is logged)."""
    return log.bind(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        try_number=ti.try_number,
    )


def _final_failure(task: Operator, ti: TaskInstance, error: BaseException) -> TryOutcome:
    xcoms = tuple(ti.pushed.values())
    if isinstance(error, SensorTimeout) and getattr(task, "soft_fail", False):
        task_log(ti).info("sensor_soft_failed", reason=one_line(error))
        return TryOutcome(state=TaskState.SKIPPED, xcoms=xcoms)
    task_log(ti).error("task_failed", error=one_line(error), retryable=False)
    return TryOutcome(state=TaskState.FAILED, error=one_line(error), xcoms=xcoms)


def failed_try(task: Operator, ti: TaskInstance, error: BaseException, at: datetime) -> TryOutcome:
    """The outcome of a try that failed with ``error``: up for retry while tries remain."""
    task_log(ti).error("task_failed", error=one_line(error))
    return _failed_try(task, ti, error, at)


def _failed_try(task: Operator, ti: TaskInstance, error: BaseException, at: datetime) -> TryOutcome:
    message = one_line(error)
    xcoms = tuple(ti.pushed.values())
    if ti.counted_tries > task.retries:
        return TryOutcome(state=TaskState.FAILED, error=message, xcoms=xcoms)
    delay = retry_delay(
        try_number=ti.counted_tries,
        base=task.retry_delay,
        exponential=task.retry_exponential_backoff,
        max_delay=task.max_retry_delay,
        seed=f"{ti.dag_id}#{ti.task_id}#{ti.run_id}#{ti.map_index}#{ti.try_number}",
    )
    return TryOutcome(
        state=TaskState.UP_FOR_RETRY, error=message, next_attempt_at=at + delay, xcoms=xcoms
    )


async def _run_callback(
    task: Operator, outcome: TryOutcome, context: Context, ti: TaskInstance
) -> None:
    name = _CALLBACKS.get(outcome.state)
    if name is None:
        return
    callback = getattr(task, name)
    if callback is not None:  # most tries have none: no coroutine made for nothing
        await _call_back(callback, name, context, ti, exception=outcome.error)


_CALLBACKS = {
    TaskState.SUCCESS: "on_success_callback",
    TaskState.FAILED: "on_failure_callback",
    TaskState.UP_FOR_RETRY: "on_retry_callback",
    TaskState.SKIPPED: "on_skipped_callback",
}


async def _call_back(
    callback: Any, name: str, context: Context, ti: TaskInstance, *, exception: str | None = None
) -> None:
    """Call a task's callback with the context; a broken one is logged, never fails the try."""
    token = set_current_context(context)
    try:
        await call(callback, {**context, "exception": exception})
    except Exception as error:  # a broken callback must not change the outcome
        task_log(ti).warning(
            "callback_failed",
            callback=getattr(callback, "__name__", repr(callback)),
            hook=name,
            error=one_line(error),
        )
    finally:
        reset_current_context(token)


def one_line(error: BaseException) -> str:
    """``ExceptionType: first line of the message``, the form users see."""
    text = str(error).strip().splitlines()
    head = text[0] if text else ""
    name = type(error).__name__
    return f"{name}: {head}" if head else name


def _traceback(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)).rstrip()


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():g}s"
