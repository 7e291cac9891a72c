"""``>>`` and ``<<`` for every dependency end: tasks, task groups and edge labels.

A class gets the four operators from :class:`DependencyMixin` by defining
``set_downstream`` and ``set_upstream``; ``a >> b`` returns ``b`` so that
``a >> b >> c`` reads left to right, and a list on the left (``[a, b] >> c``)
comes back through the reflected operators.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self


class DependencyMixin:
    """``>>``/``<<`` (and their reflections) in terms of ``set_downstream``/``set_upstream``.

    Example:
        >>> from asyncflow import DAG, EmptyOperator
        >>> with DAG("pair"):
        ...     EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
        <EmptyOperator 'b'>
    """

    if TYPE_CHECKING:  # what a class that mixes this in defines

        def set_downstream(self, other: Any) -> None:
            """Make ``other`` run after this end."""

        def set_upstream(self, other: Any) -> None:
            """Make ``other`` run before this end."""

    def __rshift__(self, other: Any) -> Any:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> Self:
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> Self:
        self.set_downstream(other)
        return self
