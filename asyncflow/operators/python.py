"""Operators that call a Python callable: plain, branching and short-circuiting.

A sync callable runs in a worker thread, an ``async def`` on the event loop; the
callable receives the context values it names as parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from asyncflow.context import CallSignature, Context
from asyncflow.exceptions import DagDefinitionError, FailTask
from asyncflow.operator import Operator
from asyncflow.runtime.threads import call
from asyncflow.xcom_arg import iter_xcom_args, resolve_nested


class PythonOperator(Operator):
    """Call ``python_callable(*op_args, **op_kwargs)``; its return value is the XCom result.

    Args:
        python_callable: A function or ``async def`` coroutine function.
        op_args: Positional arguments; task results (XComArgs) inside are resolved.
        op_kwargs: Keyword arguments; task results (XComArgs) inside are resolved.
        multiple_outputs: Push each key of a returned dict as its own XCom too.
        **kwargs: The keywords every task accepts (see :class:`~asyncflow.Operator`).

    Example:
        >>> PythonOperator(task_id="hi", python_callable=lambda: "hi")  # doctest: +SKIP
    """

    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        multiple_outputs: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise DagDefinitionError(
                f"task {self.task_id!r}: python_callable must be callable, got {python_callable!r}"
            )
        self.python_callable = python_callable
        self.op_args: tuple[Any, ...] = tuple(op_args or ())
        self.op_kwargs: dict[str, Any] = dict(op_kwargs or {})
        self.multiple_outputs = multiple_outputs
        self.expand_input: dict[str, Any] | None = None
        self._signature = CallSignature.of(python_callable)
        for arg in iter_xcom_args([self.op_args, self.op_kwargs]):
            arg.operator >> self

    @property
    def is_mapped(self) -> bool:
        """Whether ``.expand()`` made this task expand into one instance per value."""
        return self.expand_input is not None

    async def execute(self, context: Context) -> Any:
        """Resolve the arguments, call the callable and return its result."""
        args = await resolve_nested(self.op_args, context)
        kwargs = await resolve_nested(self.op_kwargs, context)
        kwargs.update(context["ti"].mapped_kwargs)
        kwargs = self._signature.inject(self.python_callable, args, kwargs, context)
        result = await call(self.python_callable, *args, **kwargs)
        if self.multiple_outputs:
            await self._push_outputs(result, context)
        return await self.handle_result(result, context)

    async def handle_result(self, result: Any, context: Context) -> Any:
        """Turn the callable's result into the task's result (subclasses act on it)."""
        return result

    async def _push_outputs(self, result: Any, context: Context) -> None:
        if not isinstance(result, Mapping):
            raise FailTask(
                f"task {self.task_id!r} has multiple_outputs=True but returned "
                f"{type(result).__name__}, not a dict"
            )
        for key, value in result.items():
            if not isinstance(key, str):
                raise FailTask(
                    f"task {self.task_id!r} has multiple_outputs=True, so its dict keys must "
                    f"be strings; got {key!r}"
                )
            await context["ti"].xcom_push(key, value)


class BranchPythonOperator(PythonOperator):
    """Follow only the direct downstream tasks whose ids the callable returns.

    The callable returns a task id, a list of task ids, or ``None`` (follow none);
    every other direct downstream task is skipped.
    """

    ui_color = "#ffefeb"

    async def handle_result(self, result: Any, context: Context) -> Any:
        """Skip the direct downstream tasks not chosen."""
        chosen = _task_ids(result, self.task_id)
        unknown = chosen - self.downstream_task_ids
        if unknown:
            raise FailTask(
                f"branch task {self.task_id!r} returned {sorted(unknown)}, which are not its "
                f"direct downstream tasks {sorted(self.downstream_task_ids)}"
            )
        context["ti"].skip_tasks(self.downstream_task_ids - chosen)
        return result


class ShortCircuitOperator(PythonOperator):
    """Skip everything downstream when the callable returns a falsy value.

    Args:
        ignore_downstream_trigger_rules: When true (the default, as in Airflow)
            every task downstream is skipped; when false only the direct downstream
            tasks are, and the rest follow their trigger rules.
        **kwargs: The keywords of :class:`PythonOperator`.
    """

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    async def handle_result(self, result: Any, context: Context) -> Any:
        """Skip downstream tasks when ``result`` is falsy."""
        if not result:
            if self.ignore_downstream_trigger_rules:
                context["ti"].skip_tasks(_all_downstream(self))
            else:
                context["ti"].skip_tasks(self.downstream_task_ids)
        return result


def _task_ids(result: Any, task_id: str) -> set[str]:
    if result is None:
        return set()
    if isinstance(result, str):
        return {result}
    if isinstance(result, Iterable) and all(isinstance(x, str) for x in result):
        return set(result)
    raise FailTask(
        f"branch task {task_id!r} must return a task id, a list of task ids or None; "
        f"got {type(result).__name__}"
    )


def _all_downstream(task: Operator) -> set[str]:
    seen: set[str] = set()
    stack = list(task.downstream_task_ids)
    while stack:
        task_id = stack.pop()
        if task_id not in seen:
            seen.add(task_id)
            stack.extend(task.dag.task_dict[task_id].downstream_task_ids)
    return seen
