"""The TaskFlow API: ``@task`` and its variants turn functions into tasks.

Calling a decorated function inside a DAG creates a task and returns an
:class:`~asyncflow.xcom_arg.XComArg`, a reference to its future result; passing
that reference to another task passes the value and adds the dependency.

Example:
    >>> @dag()
    ... def numbers():
    ...     @task
    ...     def one() -> int:
    ...         return 1
    ...     @task
    ...     async def double(x: int) -> int:
    ...         return 2 * x
    ...     double(one())
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

from asyncflow.context import Context
from asyncflow.dag import current_dag
from asyncflow.exceptions import DagDefinitionError
from asyncflow.operator import Operator
from asyncflow.operators.bash import run_bash
from asyncflow.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from asyncflow.operators.python_isolated import ExternalPythonOperator, PythonVirtualenvOperator
from asyncflow.operators.python_sensor import PythonSensor
from asyncflow.task_group import current_task_group
from asyncflow.xcom_arg import XComArg, iter_xcom_args

P = ParamSpec("P")
R = TypeVar("R")


class TaskDecorator(Generic[P, R]):
    """A function made into a task factory by ``@task`` (or a variant).

    Call it inside a DAG to add a task; ``.expand(...)`` maps it over values,
    ``.partial(...)`` fixes arguments before expanding, ``.override(...)`` changes
    task keywords such as ``task_id`` or ``retries``; ``.function`` is the plain
    function, for unit tests. ``@setup`` and ``@teardown`` (see
    :mod:`asyncflow.setup_teardown_decorators`) set ``is_setup``/``is_teardown``:
    every task it makes is then a setup or teardown task.
    """

    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False

    def __init__(
        self,
        function: Callable[P, R],
        operator_class: Callable[..., Operator],
        operator_kwargs: Mapping[str, Any],
    ) -> None:
        if not callable(function):
            raise DagDefinitionError(f"@task decorates a function, got {function!r}")
        self.function = function
        self.operator_class = operator_class
        self.operator_kwargs = dict(operator_kwargs)
        functools.update_wrapper(self, function)

    def __repr__(self) -> str:
        return f"<task {self.function.__name__}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> XComArg:
        """Add the task to the open DAG with these arguments; returns its future result."""
        task = self._create(op_args=args, op_kwargs=kwargs)
        return XComArg(task)

    def override(self, **operator_kwargs: Any) -> TaskDecorator[P, R]:
        """A copy with other task keywords, e.g. ``add.override(task_id="add_two")(2)``."""
        copy = TaskDecorator(
            self.function, self.operator_class, {**self.operator_kwargs, **operator_kwargs}
        )
        copy.is_setup, copy.is_teardown = self.is_setup, self.is_teardown
        copy.on_failure_fail_dagrun = self.on_failure_fail_dagrun
        return copy

    def partial(self, **kwargs: Any) -> PartialTask:
        """Fix some arguments for every mapped instance; follow with ``.expand(...)``."""
        return PartialTask(self, kwargs)

    def expand(self, **mapped: Any) -> XComArg:
        """Create one task instance per value (per combination for several arguments).

        Each value may be a list, a dict (mapped over its ``(key, value)`` pairs) or
        an upstream task's result that is one. An empty list skips the task.
        """
        return self.partial().expand(**mapped)

    def _create(self, *, op_args: Sequence[Any], op_kwargs: Mapping[str, Any]) -> Operator:
        dag = current_dag()
        kwargs = dict(self.operator_kwargs)
        base_id = kwargs.pop("task_id", None) or self.function.__name__
        group = current_task_group(dag) if dag is not None else None
        full_id = group.child_id if group is not None else str
        task_id = dag.unique_task_id(base_id, full_id) if dag is not None else base_id
        _check_arguments(self.function, task_id, op_args, op_kwargs)
        task = self.operator_class(
            task_id=task_id,
            python_callable=self.function,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )
        if self.is_setup:
            task.as_setup()
        if self.is_teardown:
            task.as_teardown(on_failure_fail_dagrun=self.on_failure_fail_dagrun)
        return task


class PartialTask:
    """A task with some arguments fixed, waiting for ``.expand(...)``."""

    def __init__(self, decorator: TaskDecorator[Any, Any], fixed: Mapping[str, Any]) -> None:
        self.decorator = decorator
        self.fixed = dict(fixed)

    def expand(self, **mapped: Any) -> XComArg:
        """Map the task over ``mapped``; see :meth:`TaskDecorator.expand`."""
        name = self.decorator.function.__name__
        if not mapped:
            raise DagDefinitionError(f"task {name!r}: expand() needs at least one argument")
        overlap = sorted(set(mapped) & set(self.fixed))
        if overlap:
            raise DagDefinitionError(
                f"task {name!r}: {overlap} given to both partial() and expand()"
            )
        for key, value in mapped.items():
            if not isinstance(value, (list, tuple, dict, XComArg)):
                raise DagDefinitionError(
                    f"task {name!r}: expand() needs a list, a dict or a task's result for "
                    f"{key!r}, got {type(value).__name__} {value!r}"
                )
        task = self.decorator._create(op_args=(), op_kwargs={**self.fixed})
        _check_arguments(self.decorator.function, task.task_id, (), {**self.fixed, **mapped})
        task.expand_input = dict(mapped)
        for arg in iter_xcom_args(mapped):
            arg.operator >> task
        return XComArg(task)


def _check_arguments(
    fn: Callable[..., Any], task_id: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> None:
    """Fail at definition when the call cannot bind to the function's parameters."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind_partial(*args, **kwargs)
    except TypeError as error:
        raise DagDefinitionError(f"task {task_id!r}: {error}") from None


class _BashDecoratedOperator(PythonOperator):
    """The callable returns a command line, which runs as an async bash subprocess."""

    async def handle_result(self, result: Any, context: Context) -> Any:
        if not isinstance(result, str) or not result.strip():
            raise DagDefinitionError(
                f"@task.bash {self.task_id!r} must return a non-empty command string, "
                f"got {result!r}"
            )
        ti = context["ti"]
        return await run_bash(
            result,
            env=_bash_env(context),
            cwd=self.operator_kwargs_cwd,
            skip_on_exit_code=(99,),
            task_id=ti.task_id,
        )

    operator_kwargs_cwd: str | None = None


def _bash_env(context: Context) -> dict[str, str]:
    import os

    ti = context["ti"]
    return {
        **os.environ,
        "ASYNCFLOW_CTX_DAG_ID": ti.dag_id,
        "ASYNCFLOW_CTX_RUN_ID": ti.run_id,
        "ASYNCFLOW_CTX_TASK_ID": ti.task_id,
        "ASYNCFLOW_CTX_TRY_NUMBER": str(ti.try_number),
        "ASYNCFLOW_CTX_LOGICAL_DATE": context["ts"],
    }


class _TaskFactory:
    """The ``task`` object: ``@task``, ``@task(...)``, ``@task.branch``, ``@task.bash``..."""

    def _make(
        self, operator_class: Callable[..., Operator], fn: Callable[..., Any] | None, **kwargs: Any
    ) -> Any:
        if fn is not None:
            return TaskDecorator(fn, operator_class, kwargs)
        return lambda f: TaskDecorator(f, operator_class, kwargs)

    @overload
    def __call__(self, python_callable: Callable[P, R]) -> TaskDecorator[P, R]: ...

    @overload
    def __call__(
        self, python_callable: None = None, **kwargs: Any
    ) -> Callable[[Callable[P, R]], TaskDecorator[P, R]]: ...

    def __call__(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """``@task`` or ``@task(retries=2, ...)``: a sync (threaded) or async Python task."""
        return self._make(PythonOperator, python_callable, **kwargs)

    def python(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """The same as ``@task``."""
        return self._make(PythonOperator, python_callable, **kwargs)

    def branch(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """The function returns the task id(s) to follow; other direct downstream tasks skip."""
        return self._make(BranchPythonOperator, python_callable, **kwargs)

    def short_circuit(
        self, python_callable: Callable[..., Any] | None = None, **kwargs: Any
    ) -> Any:
        """A falsy return value skips everything downstream."""
        return self._make(ShortCircuitOperator, python_callable, **kwargs)

    def sensor(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """The function is a sensor's poke: it returns a bool or a ``PokeReturnValue``.

        Takes the sensor keywords (``poke_interval``, ``timeout``, ``mode``,
        ``soft_fail``, ``exponential_backoff``, ``max_wait``, ``wake_on``).
        """
        return self._make(PythonSensor, python_callable, **kwargs)

    def bash(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """The function returns a shell command; it runs as an async subprocess.

        A non-zero exit fails the task (99 skips it); the last stdout line is the result.
        """
        return self._make(_BashDecoratedOperator, python_callable, **kwargs)

    def virtualenv(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """The function runs in a cached virtualenv made for it (``requirements=[...]``).

        Takes :class:`~asyncflow.PythonVirtualenvOperator`'s keywords; the function's
        source crosses to the environment, its arguments and result as JSON.
        """
        return self._make(PythonVirtualenvOperator, python_callable, **kwargs)

    def external_python(
        self, python_callable: Callable[..., Any] | None = None, **kwargs: Any
    ) -> Any:
        """The function runs with another interpreter (``python="/path/bin/python"``).

        Takes :class:`~asyncflow.ExternalPythonOperator`'s keywords.
        """
        return self._make(ExternalPythonOperator, python_callable, **kwargs)


task = _TaskFactory()
"""Decorate a function to make it a task; see :class:`TaskDecorator`."""

__all__ = ["PartialTask", "TaskDecorator", "task"]

_ = Operator  # the decorators create Operator subclasses
