"""The context a running task sees, and how it is passed to the task's callable.

A task receives context values by naming them as parameters
(``def f(ti, params, logical_date)``) or with ``**context``;
:func:`get_current_context` returns the same mapping anywhere inside a running
task, in a worker thread too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from asyncflow.exceptions import AsyncflowError

Context = dict[str, Any]
"""The context mapping: ``dag``, ``dag_run``, ``run_id``, ``logical_date``, ``ti``..."""

CONTEXT_KEYS: frozenset[str] = frozenset(
    {
        "dag",
        "dag_run",
        "run_id",
        "logical_date",
        "data_interval_start",
        "data_interval_end",
        "ds",
        "ds_nodash",
        "ts",
        "ts_nodash",
        "params",
        "conf",
        "ti",
        "task_instance",
        "task",
        "map_index",
        "try_number",
    }
)

_current: ContextVar[Context | None] = ContextVar("asyncflow_current_context", default=None)


def get_current_context() -> Context:
    """The context of the task running now.

    Raises:
        AsyncflowError: when called outside a running task.

    Example:
        >>> @task
        ... def report():
        ...     return get_current_context()["run_id"]  # doctest: +SKIP
    """
    context = _current.get()
    if context is None:
        raise AsyncflowError(
            "get_current_context() was called outside a running task; call it from inside "
            "a task's callable"
        )
    return context


def set_current_context(context: Context | None) -> Any:
    """Make ``context`` current; returns the token to restore the previous one."""
    return _current.set(context)


def reset_current_context(token: Any) -> None:
    """Restore the context that was current before :func:`set_current_context`."""
    _current.reset(token)


@dataclass(frozen=True, slots=True)
class CallSignature:
    """Which context values a callable asks for, worked out once when it is wrapped."""

    names: frozenset[str]  # parameters named like context keys
    takes_kwargs: bool  # has **kwargs: receives every context key it does not bind
    positional: tuple[str, ...] = ()  # names that positional arguments bind, in order

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> CallSignature:
        """Inspect ``fn``'s parameters (once: calls then need no ``inspect``)."""
        params = inspect.signature(fn).parameters.values()
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        names = frozenset(
            p.name
            for p in params
            if p.name in CONTEXT_KEYS
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        )
        by_position = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        positional = tuple(p.name for p in params if p.kind in by_position)
        return cls(names=names, takes_kwargs=takes_kwargs, positional=positional)

    def inject(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], context: Context
    ) -> dict[str, Any]:
        """``kwargs`` plus the context values ``fn`` asks for and was not given."""
        if not self.names and not self.takes_kwargs:
            return kwargs
        bound = {*self.positional[: len(args)], *kwargs}
        extra = {
            k: v
            for k, v in context.items()
            if k not in bound and (k in self.names or self.takes_kwargs)
        }
        return {**extra, **kwargs}
