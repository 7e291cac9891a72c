"""Mapping classic operators: ``SomeOperator.partial(task_id=..., ...).expand(arg=[...])``.

As in Airflow, ``partial`` fixes the keywords every instance shares (``task_id``
among them) and ``expand`` gives the ones that vary: lists, dicts or an
upstream task's result. The DAG holds one *template* task: an instance of the
operator class that carries only the keywords the engine reads (retries, pool,
trigger rule and, for a sensor, its mode, interval and timeout), so a mapped
sensor waits like any other sensor of its mode. Each instance runs on its own
operator, built by :func:`unmap` from the partial and mapped keywords when its
try starts; building it is where the operator's own checks run, so a value it
rejects fails that instance's try with the operator's message.

Example:
    >>> from asyncflow import DAG, BashOperator
    >>> with DAG("echo") as echo:
    ...     BashOperator.partial(task_id="say").expand(bash_command=["echo a", "echo b"])
    XComArg(<BashOperator 'say'>)
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from asyncflow.exceptions import DagDefinitionError
from asyncflow.xcom_arg import XComArg, contains_xcom_arg, iter_xcom_args

if TYPE_CHECKING:
    from asyncflow.operator import Operator

_detached: ContextVar[bool] = ContextVar("asyncflow_unmapping", default=False)


def building_detached() -> bool:
    """Whether an operator being built now is one mapped instance's (not added to its DAG)."""
    return _detached.get()


@contextmanager
def _detached_build() -> Iterator[None]:
    token = _detached.set(True)
    try:
        yield
    finally:
        _detached.reset(token)


class OperatorPartial:
    """An operator class with its shared keywords, waiting for ``.expand(...)``."""

    def __init__(self, operator_class: type[Operator], kwargs: Mapping[str, Any]) -> None:
        task_id = kwargs.get("task_id")
        name = operator_class.__name__
        if not isinstance(task_id, str):
            raise DagDefinitionError(f"{name}.partial() needs task_id=")
        if contains_xcom_arg(dict(kwargs)):
            raise DagDefinitionError(
                f"task {task_id!r}: {name}.partial() takes plain values; pass an upstream "
                "task's result to expand()"
            )
        self.operator_class = operator_class
        self.kwargs = dict(kwargs)

    def expand(self, **mapped: Any) -> XComArg:
        """Create one instance of the task per value (per combination for several keywords).

        Each value is a list, a dict (mapped over its ``(key, value)`` pairs) or an
        upstream task's result that is one. An empty list skips the task.

        Raises:
            DagDefinitionError: no keyword, a keyword given twice or one the engine
                must know before the task runs (``task_id``, ``mode``, ``pool``...),
                or a value that cannot be mapped over.
        """
        task_id = self.kwargs["task_id"]
        _check_mapped(self.operator_class, task_id, self.kwargs, mapped)
        template = _template(self.operator_class, self.kwargs)
        template.expand_input = dict(mapped)
        template.partial_kwargs = dict(self.kwargs)
        for arg in iter_xcom_args(mapped):
            arg.operator >> template
        return XComArg(template)


def unmap(template: Operator, mapped_kwargs: Mapping[str, Any]) -> Operator:
    """The operator one mapped instance runs: the class built with all its keywords.

    Raises:
        Exception: whatever the operator's constructor raises for these values.
    """
    kwargs = {**(template.partial_kwargs or {}), **mapped_kwargs, "dag": template.dag}
    with _detached_build():
        task = type(template)(**kwargs)
    task.upstream_task_ids = template.upstream_task_ids
    task.downstream_task_ids = template.downstream_task_ids
    return task


def _template(operator_class: type[Operator], kwargs: Mapping[str, Any]) -> Operator:
    """An instance of ``operator_class`` initialised by the engine's base classes only."""
    template = operator_class.__new__(operator_class)
    base = operator_class._engine_base()
    accepted = _keywords(base)
    base.__init__(template, **{k: v for k, v in kwargs.items() if k in accepted})
    return template


def _keywords(cls: type[Operator]) -> set[str]:
    """The keywords of ``cls.__init__`` and of the bases it passes ``**kwargs`` on to."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters.values()
        names.update(p.name for p in parameters if p.kind is p.KEYWORD_ONLY)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names


def _check_mapped(
    operator_class: type[Operator],
    task_id: str,
    fixed: Mapping[str, Any],
    mapped: Mapping[str, Any],
) -> None:
    if not mapped:
        raise DagDefinitionError(f"task {task_id!r}: expand() needs at least one argument")
    overlap = sorted(set(mapped) & set(fixed))
    if overlap:
        raise DagDefinitionError(
            f"task {task_id!r}: {overlap} given to both partial() and expand()"
        )
    engine_keywords = sorted(set(mapped) & (_keywords(operator_class._engine_base()) | {"dag"}))
    if engine_keywords:
        raise DagDefinitionError(
            f"task {task_id!r}: {engine_keywords} cannot be mapped (every instance shares "
            "them); give them to partial()"
        )
    for key, value in mapped.items():
        if not isinstance(value, (list, tuple, dict, XComArg)):
            raise DagDefinitionError(
                f"task {task_id!r}: expand() needs a list, a dict or a task's result for "
                f"{key!r}, got {type(value).__name__} {value!r}"
            )
