"""``@setup`` and ``@teardown``: TaskFlow's way to make setup and teardown tasks.

``@setup`` on a function (or on a ``@task``/``@task.bash``... decorated one)
makes every task it creates a setup task; ``@teardown`` a teardown task, with
``@teardown(on_failure_fail_dagrun=True)`` to let its failure fail the run. Link
a teardown to its setups with ``.as_teardown(setups=...)`` on the result, or
with ``>>``, as in Airflow (see :mod:`asyncflow.setup_teardown`).

Example:
    >>> from asyncflow import dag, setup, task, teardown
    >>> @dag(schedule=None)
    ... def with_cluster():
    ...     @setup
    ...     def create() -> str:
    ...         return "cluster-1"
    ...     @task
    ...     def query(cluster: str) -> int:
    ...         return 42
    ...     @teardown
    ...     def delete(cluster: str) -> None:
    ...         pass
    ...     cluster = create()
    ...     query(cluster) >> delete(cluster)
    >>> with_cluster().test().state
    <DagRunState.SUCCESS: 'success'>
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, overload

from asyncflow.exceptions import DagDefinitionError
from asyncflow.task import TaskDecorator, task

__all__ = ["setup", "teardown"]


def setup(func: Callable[..., Any]) -> TaskDecorator[Any, Any]:
    """Make the tasks ``func`` creates setup tasks (``func`` may already be a ``@task``).

    Raises:
        DagDefinitionError: if ``func`` is not a function or a task decorator.
    """
    decorator = _as_task(func, "setup")
    decorator.is_setup = True
    return decorator


@overload
def teardown(func: Callable[..., Any], /) -> TaskDecorator[Any, Any]: ...


@overload
def teardown(
    *, on_failure_fail_dagrun: bool = False
) -> Callable[[Callable[..., Any]], TaskDecorator[Any, Any]]: ...


def teardown(
    func: Callable[..., Any] | None = None, /, *, on_failure_fail_dagrun: bool = False
) -> Any:
    """Make the tasks ``func`` creates teardown tasks; ``@teardown`` or ``@teardown(...)``.

    Args:
        func: The function, or a ``@task``-decorated one.
        on_failure_fail_dagrun: Let a failure of the teardown fail the run.

    Raises:
        DagDefinitionError: if ``func`` is not a function or a task decorator, or
            ``on_failure_fail_dagrun`` is not a bool.
    """
    if not isinstance(on_failure_fail_dagrun, bool):
        raise DagDefinitionError(
            f"@teardown: on_failure_fail_dagrun must be True or False, "
            f"got {on_failure_fail_dagrun!r}"
        )

    def decorate(fn: Callable[..., Any]) -> TaskDecorator[Any, Any]:
        decorator = _as_task(fn, "teardown")
        decorator.is_teardown = True
        decorator.on_failure_fail_dagrun = on_failure_fail_dagrun
        return decorator

    return decorate(func) if func is not None else decorate


def _as_task(func: Callable[..., Any], name: str) -> TaskDecorator[Any, Any]:
    if isinstance(func, TaskDecorator):
        if func.is_setup or func.is_teardown:
            raise DagDefinitionError(
                f"@{name} on {func.function.__name__!r}: it is already a "
                f"{'setup' if func.is_setup else 'teardown'} task"
            )
        return func.override()
    if inspect.isfunction(func):
        made: TaskDecorator[Any, Any] = task(func)
        return made
    raise DagDefinitionError(
        f"@{name} decorates a function or a @task, got {type(func).__name__} {func!r}"
    )
