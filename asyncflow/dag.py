"""The DAG: a named graph of tasks, how it is scheduled, and the ``@dag`` decorator.

A DAG is built by creating tasks inside ``with DAG(...)`` (or inside an ``@dag``
function) and linking them with ``>>``, ``<<`` or :func:`chain`. Mistakes are
reported when the DAG is defined, never when it runs: a duplicate task id at
once, a cycle when the ``with`` block (or the ``@dag`` function) ends.

Example:
    >>> from asyncflow import DAG, EmptyOperator
    >>> with DAG("hello") as hello:
    ...     EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
    <asyncflow.operators.empty.EmptyOperator ...>
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol

from asyncflow.exceptions import (
    CycleError,
    DagDefinitionError,
    DuplicateTaskIdError,
    EngineError,
)
from asyncflow.params import check_defaults
from asyncflow.retry import to_timedelta
from asyncflow.schedule import NoSchedule, Schedule, parse_schedule
from asyncflow.setup_teardown import validate_setup_teardown
from asyncflow.task_keywords import check_unknown_dag_keywords
from asyncflow.timetable import Timing

if TYPE_CHECKING:
    from asyncflow.operator import Operator
    from asyncflow.results import DagRunResult
    from asyncflow.task_group import TaskGroup

P = ParamSpec("P")
DagCallback = Callable[[dict[str, Any]], Any]

_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,250}$")
_dag_stack: ContextVar[tuple[DAG, ...]] = ContextVar("asyncflow_dag_stack", default=())
CreatedDag = tuple["DAG", str | None]  # a DAG and the file whose top-level code created it
_created: ContextVar[list[CreatedDag] | None] = ContextVar("asyncflow_created_dags", default=None)


class DagTestRunner(Protocol):
    """What ``DAG.test()`` calls: one DagRun to the end on a temporary store."""

    def __call__(
        self, dag: DAG, *, conf: Mapping[str, Any] | None, logical_date: datetime | None
    ) -> DagRunResult:
        """Run ``dag`` once with ``conf`` and return the finished run's result."""
        ...


# DAG.test() needs an engine, and the model must not import the engine (dependencies
# point down, model <- storage <- runtime <- engine): asyncflow/__init__.py, which
# imports both, installs the engine's runner here before any DAG exists.
_test_runner: DagTestRunner | None = None


def set_test_runner(runner: DagTestRunner) -> None:
    """Make ``DAG.test()`` run DAGs with ``runner`` (the ``asyncflow`` package does, once)."""
    global _test_runner
    _test_runner = runner


@contextmanager
def recording_created_dags() -> Iterator[list[CreatedDag]]:
    """Record every DAG created inside the block, with the module file that created it.

    The file is the one whose top-level code is nearest on the stack: a DAG made
    by an ``@dag`` function called from a DAG file belongs to that file. The DAG
    folder loader uses this to find DAGs whether or not they are assigned.
    """
    found: list[CreatedDag] = []
    token = _created.set(found)
    try:
        yield found
    finally:
        _created.reset(token)


def _creating_module_file() -> str | None:
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name != "<module>":
        frame = frame.f_back  # type: ignore[assignment]
    return frame.f_code.co_filename if frame is not None else None


def validate_id(value: object, *, what: str, owner: str = "") -> str:
    """Check a DAG or task id: letters, digits, ``_``, ``.`` and ``-``, at most 250.

    Raises:
        DagDefinitionError: naming the bad id and what is allowed.
    """
    prefix = f"{owner}: " if owner else ""
    if not isinstance(value, str):
        raise DagDefinitionError(f"{prefix}{what} must be a string, got {type(value).__name__}")
    if not _ID_PATTERN.match(value):
        raise DagDefinitionError(
            f"{prefix}invalid {what} {value!r}: use 1 to 250 letters, digits, '_', '.' or '-'"
        )
    return value


def current_dag() -> DAG | None:
    """The DAG whose ``with`` block (or ``@dag`` function) is being run, if any."""
    stack = _dag_stack.get()
    return stack[-1] if stack else None


def as_utc(value: datetime) -> datetime:
    """A naive datetime means UTC; an aware one is converted to UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DAG:
    """A directed acyclic graph of tasks, with its schedule and run settings.

    Args:
        dag_id: Unique name of the DAG.
        schedule: ``None`` (manual only), a cron string, a preset such as
            ``"@daily"``, ``"@once"``, or a ``timedelta``.
        start_date: First logical date the schedule may produce (naive means UTC;
            a zoned datetime keeps its zone for cron schedules).
        end_date: Last logical date the schedule may produce.
        catchup: Create the runs missed since ``start_date``.
        default_args: Defaults for the keywords of every task in the DAG.
        max_active_runs: Runs of this DAG allowed to be running at once.
        max_active_tasks: Task instances of this DAG running at once (``None``: no
            limit of its own, only the engine's).
        dagrun_timeout: A run still running after this long fails.
        params: Default run parameters (plain values or :class:`~asyncflow.Param` s,
            checked against their schemas); a run's ``conf`` updates them.
        tags: Labels for listing and filtering.
        description: One line saying what the DAG does.
        doc_md: Documentation shown with the DAG.
        dag_display_name: The name shown for the DAG (default: its id).
        on_success_callback: Called (or each of a list) with the run's context and
            ``reason`` when a run succeeds.
        on_failure_callback: The same when a run fails (``reason``:
            ``"task_failure"``, ``"timed_out"`` or why it was failed).
        fail_fast: When a task fails, the run fails at once: its running tasks
            are stopped and failed, the rest skipped. Every task must keep the
            default trigger rule (``all_success``), as Airflow requires.
        max_consecutive_failed_dag_runs: Pause the DAG once this many of its
            newest runs have all failed (0, the default: never).
        **airflow_only: Airflow keywords that change nothing here, kept in
            :attr:`airflow_only` (see
            :data:`~asyncflow.task_keywords.DAG_AIRFLOW_ONLY`); templating, DAG
            callbacks and the others of
            :data:`~asyncflow.task_keywords.DAG_NOT_YET` are refused until
            honoured, and any other unknown keyword fails naming the closest one.

    Example:
        >>> from datetime import datetime
        >>> with DAG("etl", schedule="@daily", start_date=datetime(2026, 1, 1)) as etl:
        ...     pass
        >>> etl.dag_id
        'etl'
    """

    def __init__(
        self,
        dag_id: str,
        *,
        schedule: str | timedelta | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        catchup: bool = False,
        default_args: Mapping[str, Any] | None = None,
        max_active_runs: int = 16,
        max_active_tasks: int | None = None,
        dagrun_timeout: timedelta | float | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Iterable[str] = (),
        description: str | None = None,
        doc_md: str | None = None,
        dag_display_name: str | None = None,
        on_success_callback: DagCallback | list[DagCallback] | None = None,
        on_failure_callback: DagCallback | list[DagCallback] | None = None,
        fail_fast: bool = False,
        max_consecutive_failed_dag_runs: int = 0,
        **airflow_only: Any,
    ) -> None:
        self.dag_id = validate_id(dag_id, what="dag_id")
        # Airflow keywords with no use here are kept as given; any other is refused
        self.airflow_only = check_unknown_dag_keywords(type(self), dag_id, airflow_only)
        self.doc_md = doc_md
        self.dag_display_name = dag_display_name or self.dag_id
        owner = f"DAG {dag_id!r}"
        self.on_success_callback = _callbacks(on_success_callback, "on_success_callback", owner)
        self.on_failure_callback = _callbacks(on_failure_callback, "on_failure_callback", owner)
        self.fail_fast = _bool(fail_fast, "fail_fast", owner)
        self.max_consecutive_failed_dag_runs = _non_negative(
            max_consecutive_failed_dag_runs, "max_consecutive_failed_dag_runs", owner
        )
        self.schedule: Schedule = parse_schedule(schedule, dag_id=dag_id)
        self.start_date = _optional_datetime(start_date, "start_date", owner)
        self.end_date = _optional_datetime(end_date, "end_date", owner)
        self.catchup = _bool(catchup, "catchup", owner)
        self.default_args: dict[str, Any] = dict(_mapping(default_args, "default_args", owner))
        self.max_active_runs = _positive(max_active_runs, "max_active_runs", owner)
        self.max_active_tasks = (
            None
            if max_active_tasks is None
            else _positive(max_active_tasks, "max_active_tasks", owner)
        )
        self.dagrun_timeout = to_timedelta(dagrun_timeout, name="dagrun_timeout", owner=owner)
        self.params: dict[str, Any] = dict(_mapping(params, "params", owner))
        check_defaults(self.params, owner, scheduled=not isinstance(self.schedule, NoSchedule))
        if isinstance(tags, str):
            raise DagDefinitionError(f"{owner}: tags must be a list of strings, not one string")
        self.tags: tuple[str, ...] = tuple(tags)
        self.description = description
        self.fileloc: str | None = None
        self.task_dict: dict[str, Operator] = {}
        self.task_group_dict: dict[str, TaskGroup] = {}  # by full group id
        # upstream task id -> downstream task id -> what the edge shows (Airflow's shape)
        self.edge_info: dict[str, dict[str, dict[str, str]]] = {}
        created = _created.get()
        if created is not None:
            created.append((self, _creating_module_file()))

    def __repr__(self) -> str:
        return f"<DAG {self.dag_id!r}: {len(self.task_dict)} tasks>"

    def __enter__(self) -> DAG:
        _dag_stack.set((*_dag_stack.get(), self))
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        _dag_stack.set(_dag_stack.get()[:-1])
        if exc_type is None:
            self.validate()

    @property
    def tasks(self) -> list[Operator]:
        """Every task of the DAG, in the order they were created."""
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        """Every task id of the DAG, in the order they were created."""
        return list(self.task_dict)

    @property
    def roots(self) -> list[Operator]:
        """Tasks without upstream tasks."""
        return [t for t in self.task_dict.values() if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[Operator]:
        """Tasks without downstream tasks; their outcome decides the run's."""
        return [t for t in self.task_dict.values() if not t.downstream_task_ids]

    @property
    def timing(self) -> Timing:
        """The timetable's view of the DAG's scheduling keywords."""
        return Timing(
            schedule=self.schedule,
            start_date=self.start_date,
            end_date=self.end_date,
            catchup=self.catchup,
        )

    def has_task(self, task_id: str) -> bool:
        """Whether the DAG has a task with this id."""
        return task_id in self.task_dict

    def get_task(self, task_id: str) -> Operator:
        """The task with this id.

        Raises:
            KeyError: naming the DAG and the missing task.
        """
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise KeyError(f"DAG {self.dag_id!r} has no task {task_id!r}") from None

    def get_edge_info(self, upstream_task_id: str, downstream_task_id: str) -> dict[str, str]:
        """What the edge between two tasks shows (``{"label": ...}``), ``{}`` when nothing."""
        return self.edge_info.get(upstream_task_id, {}).get(downstream_task_id, {})

    def set_edge_info(
        self, upstream_task_id: str, downstream_task_id: str, info: dict[str, str]
    ) -> None:
        """Record what the edge between two tasks shows (a :class:`~asyncflow.Label` does)."""
        self.edge_info.setdefault(upstream_task_id, {})[downstream_task_id] = dict(info)

    def add_task(self, task: Operator) -> None:
        """Attach a task; called by the task's constructor.

        Raises:
            DuplicateTaskIdError: when the DAG has a task with the same id.
        """
        if task.task_id in self.task_dict:
            raise DuplicateTaskIdError(
                f"DAG {self.dag_id!r}: duplicate task_id {task.task_id!r}; "
                "every task in a DAG needs its own task_id"
            )
        if self.fail_fast and task.trigger_rule != "all_success":
            raise DagDefinitionError(
                f"DAG {self.dag_id!r} is fail_fast, so task {task.task_id!r} must keep the "
                f"trigger rule all_success, not {task.trigger_rule}"
            )
        if task.task_id in self.task_group_dict:
            raise DuplicateTaskIdError(
                f"DAG {self.dag_id!r}: task_id {task.task_id!r} is the id of a task group; "
                "tasks and groups share one namespace"
            )
        self.task_dict[task.task_id] = task

    def unique_task_id(self, base: str, full_id: Callable[[str], str] = str) -> str:
        """``base`` if free, else ``base__1``, ``base__2``... as Airflow names reused tasks.

        ``full_id`` gives the id a name gets where the task is made (in a task
        group: prefixed with the group's id); the name returned is unprefixed.
        """
        candidate, n = base, 0
        while full_id(candidate) in self.task_dict or full_id(candidate) in self.task_group_dict:
            n += 1
            candidate = f"{base}__{n}"
        return candidate

    def validate(self) -> None:
        """Check the graph is acyclic and its setup tasks are followed as Airflow requires.

        Raises:
            CycleError: naming the tasks on the cycle, in order.
            DagDefinitionError: a setup's work task with a rule other than all_success.
        """
        cycle = _find_cycle(self.task_dict)
        if cycle:
            path = " >> ".join([*cycle, cycle[0]])
            raise CycleError(f"DAG {self.dag_id!r} has a cycle: {path}")
        validate_setup_teardown(self)

    def topological_order(self) -> list[Operator]:
        """Tasks ordered so that every task comes after its upstream tasks."""
        indegree = {tid: len(t.upstream_task_ids) for tid, t in self.task_dict.items()}
        ready = [tid for tid, n in indegree.items() if n == 0]
        order: list[Operator] = []
        while ready:
            task = self.task_dict[ready.pop()]
            order.append(task)
            for child in task.downstream_task_ids:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        return order

    def test(
        self, conf: Mapping[str, Any] | None = None, logical_date: datetime | None = None
    ) -> DagRunResult:
        """Run one DagRun to the end in a fresh event loop with a temporary store.

        Inside a running event loop this raises; use ``await engine.run(dag)`` there.

        Example:
            >>> result = hello.test()  # doctest: +SKIP
            >>> result.state
            'success'
        """
        if _test_runner is None:
            raise EngineError("dag.test() has no runner: import asyncflow, which installs it")
        return _test_runner(self, conf=conf, logical_date=logical_date)


def dag(
    dag_id: str | None = None, **dag_kwargs: Any
) -> Callable[[Callable[P, object]], Callable[P, DAG]]:
    """Turn a function that creates tasks into a DAG factory.

    Takes the keywords of :class:`DAG`; ``dag_id`` defaults to the function's name.
    Calling the decorated function builds and returns the DAG; the function's
    parameters become the DAG's default ``params``.

    Example:
        >>> @dag(schedule=None)
        ... def pipeline():
        ...     pass
        >>> pipeline().dag_id
        'pipeline'
    """
    if callable(dag_id):
        raise DagDefinitionError("@dag needs parentheses: write @dag() or @dag(schedule=...)")

    def decorate(fn: Callable[P, object]) -> Callable[P, DAG]:
        @functools.wraps(fn)
        def build(*args: P.args, **kwargs: P.kwargs) -> DAG:
            new = DAG(dag_id or fn.__name__, **dag_kwargs)
            new.fileloc = getattr(fn, "__code__", None) and fn.__code__.co_filename
            if new.description is None and fn.__doc__:
                new.description = fn.__doc__.strip().splitlines()[0]
            with new:
                fn(*args, **kwargs)
            return new

        return build

    return decorate


def _find_cycle(tasks: Mapping[str, Operator]) -> list[str]:
    """Task ids on one cycle, in dependency order, or an empty list."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(tasks, white)
    for start in tasks:
        if color[start] != white:
            continue
        path: list[str] = [start]
        iterators: list[Iterator[str]] = [iter(sorted(tasks[start].downstream_task_ids))]
        color[start] = grey
        while iterators:
            child = next(iterators[-1], None)
            if child is None:
                color[path.pop()] = black
                iterators.pop()
            elif color[child] == grey:
                return path[path.index(child) :]
            elif color[child] == white:
                color[child] = grey
                path.append(child)
                iterators.append(iter(sorted(tasks[child].downstream_task_ids)))
    return []


def _callbacks(value: object, name: str, owner: str) -> list[DagCallback]:
    listed = value if isinstance(value, (list, tuple)) else [] if value is None else [value]
    for callback in listed:
        if not callable(callback):
            raise DagDefinitionError(f"{owner}: {name} must be callable, got {callback!r}")
    return list(listed)


def _optional_datetime(value: object, name: str, owner: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise DagDefinitionError(
            f"{owner}: {name} must be a datetime, got {type(value).__name__} {value!r}"
        )
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _bool(value: object, name: str, owner: str) -> bool:
    if not isinstance(value, bool):
        raise DagDefinitionError(f"{owner}: {name} must be True or False, got {value!r}")
    return value


def _non_negative(value: object, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DagDefinitionError(f"{owner}: {name} must be a whole number >= 0, got {value!r}")
    return value


def _positive(value: object, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DagDefinitionError(f"{owner}: {name} must be a positive whole number, got {value!r}")
    return value


def _mapping(value: object, name: str, owner: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DagDefinitionError(f"{owner}: {name} must be a dict, got {type(value).__name__}")
    return value
