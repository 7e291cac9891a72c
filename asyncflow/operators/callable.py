"""``BoundCallable``: a user's Python callable with its arguments, called as a task.

Shared by :class:`~asyncflow.PythonOperator` and the Python sensor: the task
results (XComArgs) inside the arguments are resolved, a mapped instance's values
are added, the context values the callable names are injected, and a sync
callable runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from asyncflow.context import CallSignature, Context
from asyncflow.exceptions import DagDefinitionError
from asyncflow.threads import call, is_async_callable
from asyncflow.xcom_arg import XComArg, iter_xcom_args, resolve_nested


class BoundCallable:
    """``fn(*args, **kwargs)`` as a task instance calls it."""

    __slots__ = ("args", "fn", "is_async", "kwargs", "signature")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any] | None,
        kwargs: Mapping[str, Any] | None,
        *,
        task_id: str,
    ) -> None:
        if not callable(fn):
            raise DagDefinitionError(
                f"task {task_id!r}: python_callable must be callable, got {fn!r}"
            )
        self.fn = fn
        self.args: tuple[Any, ...] = tuple(args or ())
        self.kwargs: dict[str, Any] = dict(kwargs or {})
        self.signature = CallSignature.of(fn)
        self.is_async = is_async_callable(fn)

    def xcom_args(self) -> Iterator[XComArg]:
        """The task results referenced by the arguments (each is an upstream task)."""
        return iter_xcom_args([self.args, self.kwargs])

    async def __call__(self, context: Context) -> Any:
        """Resolve the arguments and call the callable with the context it asks for."""
        args = await resolve_nested(self.args, context) if self.args else ()
        kwargs = await resolve_nested(self.kwargs, context) if self.kwargs else {}
        mapped = context["ti"].mapped_kwargs
        if mapped:  # a mapped instance's own values (see own_mapped_kwargs)
            for name, value in mapped.items():
                if name.isidentifier():
                    kwargs[name] = value
        kwargs = self.signature.inject(args, kwargs, context)
        if self.is_async:
            return await self.fn(*args, **kwargs)
        return await call(self.fn, *args, **kwargs)


def own_mapped_kwargs(context: Context) -> dict[str, Any]:
    """The mapped values that are this callable's own keyword arguments.

    A mapped task group's values are keyed ``"<group_id>.<name>"``, never an
    identifier: they reach the callable through the group function's arguments.
    """
    return {k: v for k, v in context["ti"].mapped_kwargs.items() if k.isidentifier()}
