"""``Label``: text on the dependency edges it sits on (Airflow's ``Label``).

``a >> Label("valid") >> b`` makes ``b`` run after ``a``, as ``a >> b`` does, and
records ``{"label": "valid"}`` for the edge (``dag.get_edge_info("a", "b")``).
A label takes tasks, task results, task groups and lists on either side; a group
contributes its leaves upstream and its roots downstream, as with ``>>``.

Example:
    >>> from asyncflow import DAG, EmptyOperator, Label
    >>> with DAG("checks") as checks:
    ...     check = EmptyOperator(task_id="check")
    ...     ok, ko = EmptyOperator(task_id="ok"), EmptyOperator(task_id="ko")
    ...     check >> Label("valid") >> ok
    ...     check >> Label("invalid") >> ko
    <EmptyOperator 'ok'>
    <EmptyOperator 'ko'>
    >>> checks.get_edge_info("check", "ko")
    {'label': 'invalid'}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asyncflow.dependency_mixin import DependencyMixin
from asyncflow.exceptions import DagDefinitionError
from asyncflow.task_group import TaskGroup
from asyncflow.xcom_arg import XComArg

if TYPE_CHECKING:
    from asyncflow.operator import Operator


class Label(DependencyMixin):
    """Text shown on the edges between the tasks before it and the tasks after it.

    Args:
        label: The text.

    Raises:
        DagDefinitionError: ``label`` is not a non-empty string.

    Example:
        >>> with DAG("report"):  # doctest: +SKIP
        ...     [extract, transform] >> Label("when both are done") >> load
    """

    def __init__(self, label: str) -> None:
        if not isinstance(label, str) or not label:
            raise DagDefinitionError(f"Label takes a non-empty string, got {label!r}")
        self.label = label
        self._upstream: list[Any] = []  # tasks, results, groups, as given
        self._downstream: list[Any] = []

    def __repr__(self) -> str:
        return f"Label({self.label!r})"

    def set_upstream(self, other: Any) -> None:
        """Put ``other`` (a task, a result, a group or a list) before the label."""
        for item in _flat(other):
            if isinstance(item, TaskGroup):
                item.set_downstream(self)  # each leaf comes back here as a task
                continue
            task = _task(item)
            self._upstream.append(task)
            for down in self._downstream:
                task.set_downstream(down, edge_modifier=self)

    def set_downstream(self, other: Any) -> None:
        """Put ``other`` (a task, a result, a group or a list) after the label."""
        for item in _flat(other):
            self._downstream.append(item)
            for up in self._upstream:
                up.set_downstream(item, edge_modifier=self)

    def add_edge_info(self, upstream: Operator, downstream: Operator) -> None:
        """Record this label on the edge ``upstream >> downstream`` (linking calls it)."""
        upstream.dag.set_edge_info(upstream.task_id, downstream.task_id, {"label": self.label})


def _flat(value: Any) -> list[Any]:
    if isinstance(value, list | tuple | set | frozenset):
        return [item for inner in value for item in _flat(inner)]
    if isinstance(value, Label):
        raise DagDefinitionError(
            f"{value!r} cannot be linked to another label: put a task between them"
        )
    return [value]


def _task(value: Any) -> Operator:
    if isinstance(value, XComArg):
        return value.operator
    if not hasattr(value, "task_id") or not hasattr(value, "set_downstream"):
        raise DagDefinitionError(
            f"cannot set a dependency on {type(value).__name__} {value!r}: "
            "use a task, a task's result, a task group or a list of them"
        )
    task: Operator = value
    return task
