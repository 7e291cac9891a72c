"""Which instances of a finished run a clear or a hand-set state changes: pure decisions.

Airflow's semantics, on the instances of one run as stored:

- **clear** resets the chosen tasks' instances (and, with ``downstream``,
  every task after them) to wait for a new try, with their setups and
  teardowns: a task's setups upstream of it whose teardown comes after it (or
  that have none), and those setups' teardowns. A mapped task cleared as a
  whole expands again from its input when it runs, since that input may
  change. ``only_failed`` keeps to failed and upstream_failed instances.
- **rerun** (a failed run run again) clears what failed, was upstream_failed
  or skipped.
- **set state** marks the chosen instances (and, with ``downstream``, those
  after them) ``success``, ``failed`` or ``skipped``; marking ``success`` also
  clears the failed and upstream_failed instances downstream, so they run now
  that their upstream has succeeded.

Each answers a :class:`~asyncflow.records.Reopening` for the store's
``reopen_run``: the run is queued and an engine decides what is left.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from asyncflow.dag import DAG
from asyncflow.exceptions import EngineError, TaskInstanceNotFound
from asyncflow.records import Reopening, TaskInstanceRecord
from asyncflow.states import TaskState

RERUN_STATES = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.SKIPPED})
"""What a failed run run again clears (``backfill --rerun-failed``, "clear" on a run)."""

FAILED_STATES = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED})
"""What ``only_failed`` clears, and what marking ``success`` clears downstream."""

MARKABLE_STATES = (TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED)
"""The states an instance may be set to by hand."""

_Instances = dict[tuple[str, int], TaskInstanceRecord]


def with_downstream(dag: DAG, task_ids: Iterable[str]) -> list[str]:
    """The tasks and every task after them, in dependency order.

    Raises:
        TaskInstanceNotFound: a task id is not the DAG's.
    """
    chosen = set(task_ids)
    _require_tasks(dag, chosen)
    for task_id in list(chosen):
        chosen |= _reachable(dag, task_id, downstream=True)
    return [task.task_id for task in dag.topological_order() if task.task_id in chosen]


def plan_clear(
    dag: DAG,
    instances: Sequence[TaskInstanceRecord],
    task_ids: Collection[str],
    *,
    at: datetime,
    downstream: bool = False,
    map_indexes: Collection[int] | None = None,
    only_failed: bool = False,
) -> Reopening:
    """Clear the tasks' instances (``map_indexes`` of the named tasks only, when given).

    Raises:
        TaskInstanceNotFound: a task id is not the DAG's, or a map index is not the run's.
    """
    by_key = _by_key(instances)
    chosen = with_downstream(dag, task_ids) if downstream else _in_order(dag, task_ids)
    chosen = _in_order(dag, {*chosen, *setups_and_teardowns(dag, chosen)})
    _require_indexes(dag, by_key, task_ids, map_indexes)
    clear: list[tuple[str, int]] = []
    again: list[str] = []
    for task_id in chosen:
        whole = map_indexes is None or task_id not in task_ids
        mine = [ti for (t, _), ti in by_key.items() if t == task_id]
        if not whole and map_indexes is not None:
            mine = [ti for ti in mine if ti.map_index in map_indexes]
        if only_failed:
            mine = [ti for ti in mine if ti.state in FAILED_STATES]
        if whole and not only_failed and dag.task_dict[task_id].is_mapped:
            again.append(task_id)
        else:
            clear.extend((ti.task_id, ti.map_index) for ti in mine)
    return Reopening(at=at, clear=tuple(clear), expand_again=tuple(again))


def setups_and_teardowns(dag: DAG, task_ids: Iterable[str]) -> set[str]:
    """The setups and teardowns that clearing these tasks clears too, as in Airflow.

    For a setup: its teardowns. For a teardown: nothing more. For another
    task: each setup upstream of it that has a teardown after it (or has no
    teardown), and that setup's teardowns.
    """
    tasks = dag.task_dict
    more: set[str] = set()
    for task_id in task_ids:
        task = tasks[task_id]
        if task.is_setup:
            more.update(_teardowns_of(dag, task_id))
            continue
        if task.is_teardown:  # cleaning up again does not make the resource again
            continue
        after = _reachable(dag, task_id, downstream=True)
        for up in _reachable(dag, task_id, downstream=False):
            if not tasks[up].is_setup:
                continue
            teardowns = _teardowns_of(dag, up)
            if not teardowns or teardowns & after:
                more.add(up)
                more.update(teardowns)
    return more


def _teardowns_of(dag: DAG, setup_id: str) -> set[str]:
    tasks = dag.task_dict
    return {t for t in tasks[setup_id].downstream_task_ids if tasks[t].is_teardown}


def _reachable(dag: DAG, task_id: str, *, downstream: bool) -> set[str]:
    """Every task after (or before) this one, itself excluded."""
    seen: set[str] = set()
    todo = [task_id]
    while todo:
        task = dag.task_dict[todo.pop()]
        for nxt in task.downstream_task_ids if downstream else task.upstream_task_ids:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def plan_rerun(instances: Sequence[TaskInstanceRecord], *, at: datetime) -> Reopening:
    """Clear what failed, was upstream_failed or skipped, to run a finished run again."""
    clear = tuple((ti.task_id, ti.map_index) for ti in instances if ti.state in RERUN_STATES)
    return Reopening(at=at, clear=clear)


def plan_set_state(
    dag: DAG,
    instances: Sequence[TaskInstanceRecord],
    task_id: str,
    state: TaskState,
    *,
    at: datetime,
    downstream: bool = False,
    map_indexes: Collection[int] | None = None,
) -> Reopening:
    """Set a task's instances (and with ``downstream`` those after it) to ``state``.

    Raises:
        EngineError: ``state`` is not one an instance may be set to.
        TaskInstanceNotFound: the task is not the DAG's, or a map index is not the run's.
    """
    if state not in MARKABLE_STATES:
        allowed = ", ".join(MARKABLE_STATES)
        raise EngineError(f"a task instance can be set to {allowed}, not {str(state)!r}")
    by_key = _by_key(instances)
    _require_indexes(dag, by_key, [task_id], map_indexes)
    marked = with_downstream(dag, [task_id]) if downstream else [task_id]
    marks = [
        (ti.task_id, ti.map_index, state)
        for (t, index), ti in by_key.items()
        if t in marked
        and (t != task_id or map_indexes is None or index in map_indexes)
        and ti.state is not state
    ]
    clear: list[tuple[str, int]] = []
    if state is TaskState.SUCCESS:
        after = [t for t in with_downstream(dag, [task_id]) if t not in marked]
        clear = [
            (t, index)
            for (t, index), ti in by_key.items()
            if t in after and ti.state in FAILED_STATES
        ]
    return Reopening(at=at, clear=tuple(clear), marks=tuple(marks))


def _by_key(instances: Sequence[TaskInstanceRecord]) -> _Instances:
    return {(ti.task_id, ti.map_index): ti for ti in instances}


def _in_order(dag: DAG, task_ids: Collection[str]) -> list[str]:
    _require_tasks(dag, task_ids)
    return [task.task_id for task in dag.topological_order() if task.task_id in task_ids]


def _require_tasks(dag: DAG, task_ids: Collection[str]) -> None:
    unknown = sorted(set(task_ids) - dag.task_dict.keys())
    if unknown:
        raise TaskInstanceNotFound(f"DAG {dag.dag_id!r} has no task {', '.join(unknown)}")
    if not task_ids:
        raise TaskInstanceNotFound(f"name at least one task of DAG {dag.dag_id!r}")


def _require_indexes(
    dag: DAG, by_key: _Instances, task_ids: Collection[str], map_indexes: Collection[int] | None
) -> None:
    _require_tasks(dag, task_ids)
    for task_id in task_ids if map_indexes is not None else ():
        missing = sorted(i for i in map_indexes or () if (task_id, i) not in by_key)
        if missing:
            indexes = ", ".join(map(str, missing))
            raise TaskInstanceNotFound(f"task {task_id!r} has no map index {indexes} in this run")
