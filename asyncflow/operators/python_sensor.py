"""``PythonSensor``: a sensor whose poke is a Python callable (what ``@task.sensor`` makes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from asyncflow.context import Context
from asyncflow.operators.callable import BoundCallable
from asyncflow.sensor import PokeReturnValue, Sensor


class PythonSensor(Sensor):
    """Poke by calling ``python_callable``; it returns a bool or a ``PokeReturnValue``.

    Args:
        python_callable: The poke, a function or ``async def`` (a sync one runs in a
            worker thread).
        op_args: Positional arguments; task results (XComArgs) inside are resolved.
        op_kwargs: Keyword arguments; task results (XComArgs) inside are resolved.
        **kwargs: The sensor keywords (see :class:`~asyncflow.Sensor`).

    Example:
        >>> @task.sensor(poke_interval=30, mode="reschedule")  # doctest: +SKIP
        ... async def job_done(job_id: str) -> PokeReturnValue:
        ...     state = await api.state(job_id)
        ...     return PokeReturnValue(state in {"SUCCEEDED", "FAILED"}, xcom_value=state)
    """

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bound = BoundCallable(python_callable, op_args, op_kwargs, task_id=self.task_id)
        self.python_callable = python_callable
        for arg in self.bound.xcom_args():
            arg.operator >> self

    async def poke(self, context: Context) -> bool | PokeReturnValue:
        """Call the callable once."""
        result = await self.bound(context)
        return result if isinstance(result, PokeReturnValue) else bool(result)
