"""``ExternalTaskSensor``: wait for a task (or a whole run) of another DAG.

The external run is looked up in the engine's own store, by logical date (this
run's, shifted by ``execution_delta`` or computed by ``execution_date_fn``) or
by an explicit ``external_run_id``. Each poke reads a snapshot of it:

- every watched state in ``allowed_states``: done;
- any in ``failed_states``: the sensor fails (``FailTask``; skipped with
  ``soft_fail``), naming the external DAG, task and state;
- any in ``skipped_states``: the sensor is skipped;
- otherwise, or when the run or the task does not exist yet: poke again.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from asyncflow import DagRunResult, DagRunState, FailTask, Sensor, SkipTask, TaskState

# The engine's worker threads, for a sync execution_date_fn (user code).
from asyncflow.threads import call
from sensors._common import Context, as_utc, definition_error, short, to_delta

_TASK_STATES: tuple[str, ...] = tuple(state.value for state in TaskState)
_RUN_STATES: tuple[str, ...] = tuple(state.value for state in DagRunState)

_DateFnForm = Literal["date", "date_context", "date_kwargs"]
_Observed = tuple[str, str | None]  # (what, its state); (.., None) for missing or not yet set


class _FindsRuns(Protocol):
    """What the sensor needs of ``context["ti"]``."""

    async def find_dag_run(
        self, dag_id: str, *, logical_date: datetime | None = None, run_id: str | None = None
    ) -> DagRunResult | None: ...


class ExternalTaskSensor(Sensor):
    """Wait for tasks of another DAG's run (or the run itself) to reach a state.

    Args:
        external_dag_id: The DAG to watch.
        external_task_id: One task to watch; leave it and ``external_task_ids`` out
            to watch the run's own state. A mapped task is watched through all of
            its instances.
        external_task_ids: Several tasks to watch, all of which must be allowed.
        allowed_states: States that end the wait (default ``("success",)``): task
            states when tasks are watched, else DAG run states.
        failed_states: States that fail the sensor (with ``soft_fail``: skip it).
        skipped_states: States that skip the sensor.
        execution_delta: Watch the run whose logical date is this run's minus
            this (``timedelta`` or seconds).
        execution_date_fn: Compute the logical date(s) to watch from this run's:
            called as ``fn(logical_date, context)`` when it takes two positional
            arguments, ``fn(logical_date, **context)`` when it takes ``**kwargs``
            (Airflow's form; ``context=`` is passed too), else ``fn(logical_date)``.
            It returns a datetime (naive means UTC) or a list of them, all of whose
            runs are watched (an empty list watches nothing: done at once, as in
            Airflow). A sync function runs in a worker thread.
        external_run_id: Watch the run with this run id instead.
        **kwargs: The sensor keywords (see :class:`~asyncflow.Sensor`).

    Raises:
        DagDefinitionError: for arguments that contradict each other or name
            unknown states (e.g. the same state allowed and failed).

    Example:
        >>> with DAG("report", schedule="@daily"):  # doctest: +SKIP
        ...     ExternalTaskSensor(
        ...         task_id="etl_loaded",
        ...         external_dag_id="etl",
        ...         external_task_id="load",
        ...         failed_states=["failed", "upstream_failed"],
        ...         execution_delta=timedelta(hours=1),
        ...         mode="reschedule",
        ...     )
    """

    ui_color = "#4db7db"

    def __init__(
        self,
        external_dag_id: str,
        external_task_id: str | None = None,
        *,
        external_task_ids: Collection[str] | None = None,
        allowed_states: Iterable[str] | None = ("success",),
        failed_states: Iterable[str] | None = None,
        skipped_states: Iterable[str] | None = None,
        execution_delta: timedelta | float | None = None,
        execution_date_fn: Callable[..., Any] | None = None,
        external_run_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        task_id = self.task_id
        self.external_dag_id = _name(external_dag_id, "external_dag_id", task_id)
        self.external_task_ids = _task_ids(external_task_id, external_task_ids, task_id)
        of_tasks = bool(self.external_task_ids)
        self.allowed_states = _states(
            allowed_states or ("success",), "allowed_states", of_tasks=of_tasks, task_id=task_id
        )
        self.failed_states = _states(
            failed_states or (), "failed_states", of_tasks=of_tasks, task_id=task_id
        )
        self.skipped_states = _states(
            skipped_states or (), "skipped_states", of_tasks=of_tasks, task_id=task_id
        )
        _no_overlap(
            task_id,
            allowed_states=self.allowed_states,
            failed_states=self.failed_states,
            skipped_states=self.skipped_states,
        )
        _one_way_to_the_run(task_id, execution_delta, execution_date_fn, external_run_id)
        self.execution_delta = (
            None
            if execution_delta is None
            else to_delta(execution_delta, name="execution_delta", task_id=task_id)
        )
        self.execution_date_fn = execution_date_fn
        self._date_fn_form = (
            None if execution_date_fn is None else _date_fn_form(execution_date_fn, task_id)
        )
        self.external_run_id = (
            None if external_run_id is None else _name(external_run_id, "external_run_id", task_id)
        )

    async def poke(self, context: Context) -> bool:
        """Read the external run(s) once; raise on a failed or skipped state.

        Raises:
            FailTask: a watched state is in ``failed_states`` (``SkipTask`` with
                ``soft_fail``).
            SkipTask: a watched state is in ``skipped_states``.
        """
        ti: _FindsRuns = context["ti"]
        if self.external_run_id is not None:
            runs = [await ti.find_dag_run(self.external_dag_id, run_id=self.external_run_id)]
        else:
            dates = await self.external_logical_dates(context)
            runs = [await ti.find_dag_run(self.external_dag_id, logical_date=d) for d in dates]
        observed = [seen for run in runs for seen in self._observe(run)]
        for what, state in observed:
            if state in self.failed_states:
                message = f"{what} is {state}"
                raise SkipTask(message) if self.soft_fail else FailTask(message)
        for what, state in observed:
            if state in self.skipped_states:
                raise SkipTask(f"{what} is {state}")
        return all(state in self.allowed_states for _, state in observed)

    async def external_logical_dates(self, context: Context) -> list[datetime]:
        """The logical dates of the external runs to watch, for this run's context.

        Raises:
            TypeError: ``execution_date_fn`` returned something else than datetimes.

        Example:
            >>> import anyio
            >>> from asyncflow import DAG
            >>> with DAG("report"):
            ...     sensor = ExternalTaskSensor("etl", execution_delta=3600, task_id="etl_done")
            >>> context = {"logical_date": datetime(2024, 1, 2)}
            >>> anyio.run(sensor.external_logical_dates, context)
            [datetime.datetime(2024, 1, 1, 23, 0, tzinfo=datetime.timezone.utc)]
        """
        logical_date = as_utc(context["logical_date"])
        if self.execution_delta is not None:
            return [logical_date - self.execution_delta]
        if self.execution_date_fn is None or self._date_fn_form is None:
            return [logical_date]
        fn = self.execution_date_fn
        if self._date_fn_form == "date_context":
            result = await call(fn, logical_date, context)
        elif self._date_fn_form == "date_kwargs":
            extra = {k: v for k, v in context.items() if k != "logical_date"}
            result = await call(fn, logical_date, **{**extra, "context": context})
        else:
            result = await call(fn, logical_date)
        items = result if isinstance(result, list | tuple) else [result]
        if not all(isinstance(item, datetime) for item in items):
            raise TypeError(
                f"execution_date_fn of sensor {self.task_id!r} must return a datetime or a "
                f"list of datetimes, got {short(result)}"
            )
        return [as_utc(item) for item in items]

    def _observe(self, run: DagRunResult | None) -> list[_Observed]:
        """The watched states of one run; a missing run or task is ``None``."""
        if run is None:
            return [("", None)]
        where = f"of DAG {run.dag_id!r} in run {run.run_id!r}"
        if not self.external_task_ids:
            return [(f"external DAG {run.dag_id!r} run {run.run_id!r}", str(run.state))]
        observed: list[_Observed] = []
        for task_id in self.external_task_ids:
            instances = [t for t in run.task_instances if t.task_id == task_id]
            if not instances:
                observed.append(("", None))
            for t in instances:
                label = task_id if t.map_index < 0 else f"{task_id}[{t.map_index}]"
                state = None if t.state is None else str(t.state)
                observed.append((f"external task {label!r} {where}", state))
        return observed


def _name(value: object, name: str, task_id: str) -> str:
    if not isinstance(value, str) or not value:
        raise definition_error(task_id, f"{name} must be a non-empty string, got {short(value)}")
    return value


def _task_ids(one: str | None, many: Collection[str] | None, task_id: str) -> tuple[str, ...]:
    if one is not None and many is not None:
        raise definition_error(task_id, "pass external_task_id or external_task_ids, not both")
    if one is not None:
        return (_name(one, "external_task_id", task_id),)
    if many is None:
        return ()
    ids = (many,) if isinstance(many, str) else tuple(many)
    if not ids:
        raise definition_error(
            task_id, "external_task_ids is empty: leave it out to watch the whole run"
        )
    for each in ids:
        _name(each, "every external_task_ids item", task_id)
    if len(set(ids)) < len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise definition_error(task_id, f"external_task_ids repeats {', '.join(duplicates)}")
    return ids


def _states(values: Iterable[str], name: str, *, of_tasks: bool, task_id: str) -> frozenset[str]:
    valid, kind = (_TASK_STATES, "task state") if of_tasks else (_RUN_STATES, "DAG run state")
    hint = "" if of_tasks else " (name external_task_id to watch task states)"
    items = (values,) if isinstance(values, str) else tuple(values)
    for item in items:
        if item not in valid:
            raise definition_error(
                task_id,
                f"{name} has {short(item)}, not a {kind}; use one of {', '.join(valid)}{hint}",
            )
    return frozenset(str(item) for item in items)


def _no_overlap(task_id: str, **states: frozenset[str]) -> None:
    names = list(states)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            common = states[first] & states[second]
            if common:
                raise definition_error(
                    task_id, f"{first} and {second} overlap: {', '.join(sorted(common))}"
                )


def _one_way_to_the_run(task_id: str, delta: object, date_fn: object, run_id: object) -> None:
    if delta is not None and date_fn is not None:
        raise definition_error(task_id, "pass execution_delta or execution_date_fn, not both")
    if run_id is not None and (delta is not None or date_fn is not None):
        raise definition_error(
            task_id,
            "external_run_id names the run: leave out execution_delta and execution_date_fn",
        )
    if date_fn is not None and not callable(date_fn):
        raise definition_error(task_id, f"execution_date_fn must be callable, got {short(date_fn)}")


def _date_fn_form(fn: Callable[..., Any], task_id: str) -> _DateFnForm:
    """How to call ``execution_date_fn``, from its parameters (worked out once)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # some builtins have no signature: the plain form
        return "date"
    kinds = [p.kind for p in params]
    positional = sum(
        kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for kind in kinds
    )
    takes_args = inspect.Parameter.VAR_POSITIONAL in kinds
    if positional == 0 and not takes_args:
        raise definition_error(
            task_id, "execution_date_fn must take the logical date as its first argument"
        )
    if positional >= 2 or takes_args:
        return "date_context"
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return "date_kwargs"
    return "date"
