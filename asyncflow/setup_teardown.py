"""Setup and teardown tasks, as in Airflow: a resource made, used, and always torn down.

A **setup** task makes something (a cluster, a temporary table); a **teardown**
task removes it. ``teardown.as_teardown(setups=setup)`` marks both and links
``setup >> teardown``; the teardown's trigger rule becomes
``all_done_setup_success``, so it runs once everything upstream has finished,
even when the work between them failed, as long as one of its setups
succeeded (it is skipped when its setups were all skipped, and
``upstream_failed`` when none succeeded).

A run's state ignores teardowns: a run whose work succeeded succeeds even when a
teardown fails, and a run whose work failed fails even though its teardown
succeeded, unless the teardown was made with ``on_failure_fail_dagrun=True``
(:func:`run_state_tasks`). ``>>`` on a task group ignores the group's teardowns
(:func:`group_leaves`), and ``with teardown.as_teardown(setups=setup):`` puts
every task made in the block between the two (its *scope*).

Example:
    >>> from asyncflow import DAG, EmptyOperator
    >>> with DAG("cluster") as cluster:
    ...     create = EmptyOperator(task_id="create")
    ...     query = EmptyOperator(task_id="query")
    ...     delete = EmptyOperator(task_id="delete")
    ...     create >> query >> delete.as_teardown(setups=create)
    <EmptyOperator 'delete'>
    >>> create.is_setup, delete.is_teardown, str(delete.trigger_rule)
    (True, True, 'all_done_setup_success')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Self

from asyncflow.exceptions import DagDefinitionError
from asyncflow.trigger_rules import TriggerRule

if TYPE_CHECKING:
    from asyncflow.dag import DAG
    from asyncflow.operator import Operator

__all__ = ["SetupTeardownMixin", "group_leaves", "run_state_tasks", "validate_setup_teardown"]


class SetupTeardownMixin:
    """``as_setup``, ``as_teardown`` and the ``with`` scope of a setup or teardown task.

    Attributes:
        is_setup: Whether the task makes a resource its teardowns remove.
        is_teardown: Whether the task removes what its setups made.
        on_failure_fail_dagrun: Whether a teardown's failure fails the run (off:
            teardowns do not decide a run's state).
    """

    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False

    if TYPE_CHECKING:  # what Operator, which mixes this in, defines
        task_id: str
        dag: DAG
        trigger_rule: TriggerRule
        upstream_task_ids: set[str]
        downstream_task_ids: set[str]

        def set_upstream(self, other: Any) -> None:
            """Make ``other`` run before this task."""

    def as_setup(self) -> Self:
        """Mark this task as a setup task; returns it, so ``a.as_setup() >> b`` reads on.

        Raises:
            DagDefinitionError: if the task is already a teardown.
        """
        if self.is_teardown:
            raise DagDefinitionError(
                f"task {self.task_id!r} is a teardown task, so it cannot also be a setup task"
            )
        self.is_setup = True
        return self

    def as_teardown(self, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> Self:
        """Mark this task as a teardown task of ``setups``; returns it.

        Args:
            setups: A task, a task's result or a list of them: each is marked as a
                setup task and linked upstream of this one.
            on_failure_fail_dagrun: Let this teardown's failure fail the run (by
                default a teardown does not decide the run's state).

        Raises:
            DagDefinitionError: if the task is already a setup task, or ``setups``
                holds something other than tasks.
        """
        if self.is_setup:
            raise DagDefinitionError(
                f"task {self.task_id!r} is a setup task, so it cannot also be a teardown task"
            )
        self.is_teardown = True
        self.trigger_rule = TriggerRule.ALL_DONE_SETUP_SUCCESS
        if on_failure_fail_dagrun is not None:
            if not isinstance(on_failure_fail_dagrun, bool):
                raise DagDefinitionError(
                    f"task {self.task_id!r}: on_failure_fail_dagrun must be True or False, "
                    f"got {on_failure_fail_dagrun!r}"
                )
            self.on_failure_fail_dagrun = on_failure_fail_dagrun
        for setup in _tasks_of(setups, self.task_id):
            setup.as_setup()
            self.set_upstream(setup)
        return self

    # --- the scope: tasks made inside ``with teardown:`` sit between it and its setups ----
    def __enter__(self) -> Self:
        if not (self.is_setup or self.is_teardown):
            raise DagDefinitionError(
                f"task {self.task_id!r}: `with` takes a setup or teardown task "
                "(use .as_setup() or .as_teardown(setups=...) first)"
            )
        self._scope_stack().append(set(self.dag.task_dict))
        return self

    def __exit__(self, *exc_info: object) -> None:
        before = self._scope_stack().pop()
        if exc_info[0] is not None:
            return
        tasks = self.dag.task_dict
        setups, teardowns = self._scope_ends()
        ends = {t.task_id for t in (*setups, *teardowns)}
        # nested setups and teardowns are inside too: an inner resource lives within the outer
        inside = set(tasks) - before - ends
        for task_id in sorted(inside):
            task = tasks[task_id]
            if not task.upstream_task_ids & inside:
                for setup in setups:
                    task.set_upstream(setup)
            if not task.downstream_task_ids & inside:
                for teardown in teardowns:
                    teardown.set_upstream(task)

    def _scope_ends(self) -> tuple[list[Operator], list[Operator]]:
        """This task's setups and teardowns: itself and its partners on the other side."""
        tasks = self.dag.task_dict
        me = tasks[self.task_id]
        if self.is_setup:
            teardowns = [tasks[t] for t in sorted(self.downstream_task_ids)]
            return [me], [t for t in teardowns if t.is_teardown]
        setups = [tasks[t] for t in sorted(self.upstream_task_ids)]
        return [s for s in setups if s.is_setup], [me]

    def _scope_stack(self) -> list[set[str]]:
        stack: list[set[str]] | None = self.__dict__.get("_setup_teardown_scopes")
        if stack is None:
            stack = self.__dict__["_setup_teardown_scopes"] = []
        return stack


def _tasks_of(value: Any, task_id: str) -> list[Operator]:
    """The tasks ``setups=`` names: a task, a task's result (``.operator``) or a list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        return [task for item in value for task in _tasks_of(item, task_id)]
    operator = getattr(value, "operator", value)  # an XComArg stands for its task
    if isinstance(operator, SetupTeardownMixin):
        return [operator]  # type: ignore[list-item]
    raise DagDefinitionError(
        f"task {task_id!r}: as_teardown(setups=...) takes tasks or their results, "
        f"got {type(value).__name__} {value!r}"
    )


def validate_setup_teardown(dag: DAG) -> None:
    """Check the rule Airflow sets on setups: their work tasks use ``all_success``.

    Raises:
        DagDefinitionError: naming a setup's downstream work task with another rule.
    """
    for task in dag.task_dict.values():
        if not task.is_setup:
            continue
        for down_id in sorted(task.downstream_task_ids):
            down = dag.task_dict[down_id]
            if not down.is_teardown and down.trigger_rule != TriggerRule.ALL_SUCCESS:
                raise DagDefinitionError(
                    f"DAG {dag.dag_id!r}: task {down_id!r} follows setup task "
                    f"{task.task_id!r}, so its trigger_rule must be all_success, not "
                    f"{str(down.trigger_rule)!r}; put a task with all_success between them"
                )


def run_state_tasks(tasks: Mapping[str, Operator]) -> list[Operator]:
    """The tasks whose final states decide a run's state: its leaves, teardowns aside.

    A teardown (unless ``on_failure_fail_dagrun``) is left out, and a task whose
    only downstream tasks are such teardowns counts as a leaf, as in Airflow.
    A DAG of nothing but teardowns falls back on its plain leaves.
    """

    def ignored(task: Operator) -> bool:
        return task.is_teardown and not task.on_failure_fail_dagrun

    leaves = [
        task
        for task in tasks.values()
        if not ignored(task) and all(ignored(tasks[d]) for d in task.downstream_task_ids)
    ]
    return leaves or [task for task in tasks.values() if not task.downstream_task_ids]


def group_leaves(tasks: list[Operator]) -> list[Operator]:
    """A task group's leaves for ``>>``: teardowns give way to the work they follow.

    A leaf that is a teardown is replaced by its upstream tasks in the group that
    have no other downstream task in the group but teardowns (never its setups),
    as Airflow's ``TaskGroup.get_leaves`` does.
    """
    by_id = {task.task_id: task for task in tasks}
    found: dict[str, Operator] = {}
    for task in tasks:
        if task.downstream_task_ids & by_id.keys():
            continue
        if not task.is_teardown:
            found[task.task_id] = task
        else:
            found.update((t.task_id, t) for t in _work_before(task, by_id))
    return list(found.values())


def _work_before(teardown: Operator, by_id: Mapping[str, Operator]) -> Iterator[Operator]:
    for up_id in sorted(teardown.upstream_task_ids & by_id.keys()):
        up = by_id[up_id]
        if up.is_teardown:
            yield from _work_before(up, by_id)
        elif up.is_setup:
            continue  # the setup-to-teardown edge is not a path of work
        elif not any(
            not by_id[d].is_teardown
            for d in up.downstream_task_ids & by_id.keys()
            if d != teardown.task_id
        ):
            yield up
