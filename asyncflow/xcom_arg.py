"""``XComArg``: a reference to a task's future result.

Calling a ``@task`` function inside a DAG returns an ``XComArg``. Passing it to
another task both passes the value at run time and adds the dependency.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncflow.context import Context
    from asyncflow.operator import Operator

RETURN_VALUE = "return_value"


class XComArg:
    """The future XCom value ``key`` of ``operator`` (its return value by default).

    ``result["name"]`` refers to another key pushed by the same task; ``>>`` and
    ``<<`` work on it as on the task itself.
    """

    __slots__ = ("key", "operator")

    def __init__(self, operator: Operator, key: str = RETURN_VALUE) -> None:
        self.operator = operator
        self.key = key

    def __repr__(self) -> str:
        return f"XComArg({self.operator.task_id!r}, key={self.key!r})"

    @property
    def output(self) -> XComArg:
        """The task's return value (what ``.output`` gives on an operator, mapped ones too)."""
        return XComArg(self.operator)

    @property
    def task_id(self) -> str:
        """The id of the task whose result this is."""
        return self.operator.task_id

    def __getitem__(self, key: str) -> XComArg:
        return XComArg(self.operator, key)

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(
            f"the result of task {self.operator.task_id!r} is only known at run time, so it "
            "cannot be iterated while the DAG is defined; pass it to a task or use .expand()"
        )

    def __rshift__(self, other: Any) -> Any:
        return self.operator >> other

    def __lshift__(self, other: Any) -> Any:
        return self.operator << other

    def __rrshift__(self, other: Any) -> Any:
        return (
            other >> self.operator
            if not isinstance(other, list)
            else self.operator.__rrshift__(other)
        )

    def __rlshift__(self, other: Any) -> Any:
        return self.operator.__rlshift__(other)

    def as_setup(self) -> XComArg:
        """Mark the task as a setup task (see :meth:`asyncflow.Operator.as_setup`)."""
        self.operator.as_setup()
        return self

    def as_teardown(
        self, setups: Any = None, on_failure_fail_dagrun: bool | None = None
    ) -> XComArg:
        """Mark the task as a teardown of ``setups`` (see ``Operator.as_teardown``)."""
        self.operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def __enter__(self) -> XComArg:
        self.operator.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.operator.__exit__(*exc_info)

    async def resolve(self, context: Context) -> Any:
        """The value, read from the store (a list in map_index order for a mapped task).

        Within one instance of a mapped task group, a task's result is that
        instance's own (the same map_index), as in Airflow.
        """
        ti = context["ti"]
        group = getattr(self.operator, "mapped_group", None)
        if group is not None and group is getattr(context.get("task"), "mapped_group", None):
            return await ti.xcom_pull(self.operator.task_id, self.key, ti.map_index)
        return await ti.pull_for_arg(self.operator.task_id, self.key, self.operator.is_mapped)


class MappedGroupInput:
    """An argument of a mapped task group's function: each group instance's own value.

    ``my_group.expand(x=[1, 2])`` calls the function once, with ``x`` standing for
    the value of the instance being run; the group's tasks are expanded under the
    key ``"<group_id>.x"`` (never a parameter name), which this reads back.
    """

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __repr__(self) -> str:
        return f"MappedGroupInput({self.key!r})"

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(
            f"the mapped group value {self.key!r} is only known at run time; pass it to a task"
        )

    async def resolve(self, context: Context) -> Any:
        """This group instance's value."""
        return context["ti"].mapped_kwargs[self.key]


def iter_xcom_args(value: Any) -> Iterator[XComArg]:
    """Every XComArg inside ``value``, looking into lists, tuples, sets and dict values."""
    if isinstance(value, XComArg):
        yield value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from iter_xcom_args(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_xcom_args(item)


async def resolve_nested(value: Any, context: Context) -> Any:
    """``value`` with every XComArg inside replaced by its run-time value."""
    if isinstance(value, XComArg | MappedGroupInput):
        return await value.resolve(context)
    if isinstance(value, list):
        return [await resolve_nested(v, context) for v in value]
    if isinstance(value, tuple):
        return tuple([await resolve_nested(v, context) for v in value])
    if isinstance(value, dict):
        return {k: await resolve_nested(v, context) for k, v in value.items()}
    return value


def contains_xcom_arg(value: Any) -> bool:
    """Whether ``value`` holds an XComArg anywhere inside."""
    return next(iter_xcom_args(value), None) is not None
