"""Operators that call a Python callable: plain, branching and short-circuiting.

A sync callable runs in a worker thread, an ``async def`` on the event loop; the
callable receives the context values it names as parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from asyncflow.context import Context
from asyncflow.exceptions import FailTask
from asyncflow.operator import Operator
from asyncflow.operators.callable import BoundCallable
from asyncflow.operators.outputs import push_outputs


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
        self.bound = BoundCallable(python_callable, op_args, op_kwargs, task_id=self.task_id)
        self.python_callable = python_callable
        self.op_args = self.bound.args
        self.op_kwargs = self.bound.kwargs
        self.multiple_outputs = multiple_outputs
        for arg in self.bound.xcom_args():
            arg.operator >> self

    async def execute(self, context: Context) -> Any:
        """Resolve the arguments, call the callable and return its result."""
        result = await self.bound(context)
        if self.multiple_outputs:
            await push_outputs(self.task_id, result, context)
        return await self.handle_result(result, context)

    async def handle_result(self, result: Any, context: Context) -> Any:
        """Turn the callable's result into the task's result (subclasses act on it)."""
        return result


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
