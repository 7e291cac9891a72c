"""Task groups: Airflow's ``TaskGroup`` and ``@task_group``, a named box of tasks.

Inside ``with TaskGroup("extract"):`` every task's id is prefixed with the
group's (``extract.clean``; nested groups chain: ``extract.files.clean``)
unless ``prefix_group_id=False``; the group's ``default_args`` fill the
keywords of its tasks, over the DAG's and outer groups' own. ``>>`` and ``<<``
take a group as they take a task: upstream of a group means upstream of its
*roots* (its tasks with no upstream inside it), downstream of a group means
downstream of its *leaves* (its tasks with no downstream inside it), as they
are when ``>>`` is written.

Example:
    >>> from asyncflow import DAG, EmptyOperator, TaskGroup
    >>> with DAG("etl") as etl:
    ...     start = EmptyOperator(task_id="start")
    ...     with TaskGroup("extract") as extract:
    ...         a = EmptyOperator(task_id="a")
    ...         b = EmptyOperator(task_id="b")
    ...     start >> extract >> EmptyOperator(task_id="end")
    <EmptyOperator 'end'>
    >>> sorted(etl.get_task("end").upstream_task_ids)
    ['extract.a', 'extract.b']
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from asyncflow.dag import DAG, current_dag, validate_id
from asyncflow.dependency_mixin import DependencyMixin
from asyncflow.exceptions import DagDefinitionError, DuplicateTaskIdError
from asyncflow.setup_teardown import group_leaves
from asyncflow.xcom_arg import MappedGroupInput, XComArg, iter_xcom_args

if TYPE_CHECKING:
    from asyncflow.operator import Operator

P = ParamSpec("P")
R = TypeVar("R")

_group_stack: ContextVar[tuple[TaskGroup, ...]] = ContextVar(
    "asyncflow_task_group_stack", default=()
)


def current_task_group(dag: DAG) -> TaskGroup | None:
    """The innermost open ``with TaskGroup(...)`` block of ``dag``, if any."""
    for group in reversed(_group_stack.get()):
        if group.dag is dag:
            return group
    return None


class TaskGroup(DependencyMixin):
    """A named group of tasks in a DAG (Airflow's ``TaskGroup``); a context manager.

    Args:
        group_id: The group's name, unique in the DAG (ids and group ids share one
            namespace); letters, digits, ``_``, ``-`` and ``.``.
        prefix_group_id: Prefix the ids of the tasks and groups inside with this
            group's id and a dot (default: on, as in Airflow).
        default_args: Defaults for the keywords of the tasks inside, over the DAG's
            ``default_args`` and those of enclosing groups.
        tooltip: Shown with the group.
        ui_color: The group's background in a graph.
        ui_fgcolor: The group's label colour in a graph.
        parent_group: The group this one is in (default: the open ``with`` block's).
        dag: The DAG (default: the DAG whose ``with`` block is open).
        add_suffix_on_collision: When the id is taken, use ``id__1``, ``id__2``...
            instead of failing (what ``@task_group`` does for a function called twice).

    Example:
        >>> with DAG("etl"):  # doctest: +SKIP
        ...     with TaskGroup("load", default_args={"retries": 2}) as load:
        ...         ...
    """

    def __init__(
        self,
        group_id: str,
        *,
        prefix_group_id: bool = True,
        default_args: Mapping[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str = "CornflowerBlue",
        ui_fgcolor: str = "#000",
        parent_group: TaskGroup | None = None,
        dag: DAG | None = None,
        add_suffix_on_collision: bool = False,
    ) -> None:
        dag = dag if dag is not None else current_dag()
        if dag is None:
            raise DagDefinitionError(
                f"task group {group_id!r} was created outside a DAG: create it inside "
                "`with DAG(...)` or an @dag function, or pass dag="
            )
        label = validate_id(group_id, what="group_id", owner=f"DAG {dag.dag_id!r}")
        if default_args is not None and not isinstance(default_args, Mapping):
            raise DagDefinitionError(
                f"task group {label!r}: default_args must be a mapping, got {default_args!r}"
            )
        self.dag = dag
        self.parent_group = parent_group if parent_group is not None else current_task_group(dag)
        self.prefix_group_id = prefix_group_id
        self.tooltip = tooltip
        self.ui_color = ui_color
        self.ui_fgcolor = ui_fgcolor
        self.own_default_args: dict[str, Any] = dict(default_args or {})
        self.children: dict[str, Operator | TaskGroup] = {}
        self._label = self._free_label(label, add_suffix_on_collision)
        self.group_id = self._full_id(self._label)
        groups = _groups_of(dag)
        groups[self.group_id] = self
        if self.parent_group is not None:
            self.parent_group.children[self.group_id] = self

    def __repr__(self) -> str:
        return f"<TaskGroup {self.group_id!r}>"

    def __enter__(self) -> TaskGroup:
        self._token = _group_stack.set((*_group_stack.get(), self))
        return self

    def __exit__(self, *exc_info: object) -> None:
        _group_stack.reset(self._token)

    # --- ids and defaults ---------------------------------------------------------
    def child_id(self, label: str) -> str:
        """The id a task or group named ``label`` gets inside this group."""
        return f"{self.group_id}.{label}" if self.prefix_group_id else label

    @property
    def default_args(self) -> dict[str, Any]:
        """The DAG's ``default_args`` overlaid by every enclosing group's, this one's last."""
        outer = (
            self.parent_group.default_args
            if self.parent_group is not None
            else dict(self.dag.default_args)
        )
        return outer | self.own_default_args

    def add(self, task: Operator) -> None:
        """Put ``task`` in this group (its constructor calls this)."""
        self.children[task.task_id] = task

    # --- what the group holds -----------------------------------------------------
    def iter_tasks(self) -> Iterator[Operator]:
        """Every task in this group and its nested groups, in the order they were made."""
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                yield from child.iter_tasks()
            else:
                yield child

    @property
    def roots(self) -> list[Operator]:
        """The group's tasks with no upstream task inside the group."""
        tasks = list(self.iter_tasks())
        inside = {task.task_id for task in tasks}
        return [task for task in tasks if not task.upstream_task_ids & inside]

    @property
    def leaves(self) -> list[Operator]:
        """The group's tasks with no downstream task inside the group, teardowns aside.

        A teardown leaf gives way to the work it follows, as in Airflow (see
        :func:`~asyncflow.setup_teardown.group_leaves`).
        """
        return group_leaves(list(self.iter_tasks()))

    # --- dependencies ---------------------------------------------------------------
    def set_downstream(self, other: Any) -> None:
        """Make ``other`` run after every leaf of this group."""
        for leaf in self.leaves:
            leaf.set_downstream(other)

    def set_upstream(self, other: Any) -> None:
        """Make every root of this group run after ``other``."""
        for root in self.roots:
            root.set_upstream(other)

    def _full_id(self, label: str) -> str:
        parent = self.parent_group
        return parent.child_id(label) if parent is not None else label

    def _free_label(self, label: str, add_suffix: bool) -> str:
        candidate, n = label, 0
        while _id_taken(self.dag, self._full_id(candidate)):
            if not add_suffix:
                raise DuplicateTaskIdError(
                    f"DAG {self.dag.dag_id!r}: the id {self._full_id(label)!r} of a task group "
                    "is taken by another group or task; give the group its own group_id"
                )
            n += 1
            candidate = f"{label}__{n}"
        return candidate


def _groups_of(dag: DAG) -> dict[str, TaskGroup]:
    groups: dict[str, TaskGroup] = dag.task_group_dict
    return groups


def _id_taken(dag: DAG, full_id: str) -> bool:
    return full_id in dag.task_dict or full_id in dag.task_group_dict


@overload
def task_group(python_callable: Callable[P, R], /) -> TaskGroupFactory[P, R]: ...


@overload
def task_group(
    python_callable: None = None,
    /,
    *,
    group_id: str | None = None,
    prefix_group_id: bool = True,
    default_args: Mapping[str, Any] | None = None,
    tooltip: str = "",
    ui_color: str = "CornflowerBlue",
    ui_fgcolor: str = "#000",
) -> Callable[[Callable[P, R]], TaskGroupFactory[P, R]]: ...


def task_group(
    python_callable: Callable[P, R] | None = None,
    /,
    *,
    group_id: str | None = None,
    prefix_group_id: bool = True,
    default_args: Mapping[str, Any] | None = None,
    tooltip: str = "",
    ui_color: str = "CornflowerBlue",
    ui_fgcolor: str = "#000",
) -> Any:
    """Make a function build a task group each time it is called (Airflow's ``@task_group``).

    The group is named after the function (``group_id`` overrides; a second call
    gets ``name__1``). Calling the function returns what it returns, so a
    group that ends in a task's result passes that result on; a function that
    returns nothing gives the :class:`TaskGroup`, to use with ``>>``.
    ``.expand(...)`` (after ``.partial(...)``, maybe) maps the whole group: see
    :class:`TaskGroupFactory`.

    Example:
        >>> from asyncflow import dag, task, task_group
        >>> @dag()
        ... def pipeline():
        ...     @task_group
        ...     def prepare(n):
        ...         @task
        ...         def double(x):
        ...             return 2 * x
        ...         return double(n)
        ...     @task
        ...     def show(x):
        ...         print(x)
        ...     show(prepare(21))
        >>> sorted(pipeline().task_ids)
        ['prepare.double', 'show']
    """
    group_kwargs: dict[str, Any] = {
        "group_id": group_id,
        "prefix_group_id": prefix_group_id,
        "default_args": default_args,
        "tooltip": tooltip,
        "ui_color": ui_color,
        "ui_fgcolor": ui_fgcolor,
    }

    def decorate(fn: Callable[P, R]) -> TaskGroupFactory[P, R]:
        return TaskGroupFactory(fn, group_kwargs)

    return decorate(python_callable) if python_callable is not None else decorate


class TaskGroupFactory(Generic[P, R]):
    """A function made into a task group factory by ``@task_group``.

    Calling it builds one group; ``.expand(x=[...])`` builds a *mapped* group, as
    in Airflow: the function is called once with each mapped argument standing for
    one instance's value, and every task it makes is mapped over the same values,
    so instance ``i`` of each task belongs to group instance ``i``. Inside the
    group, a task's result passed to another task is the same instance's value;
    outside it, the list of every instance's value in map_index order. Unlike
    Airflow, a task waits for every instance of its upstream tasks in the group,
    not only its own (so one failed instance fails that task's other instances
    upstream too). ``.partial(y=...)`` fixes arguments every instance shares.

    Example:
        >>> from asyncflow import dag, task, task_group
        >>> @dag()
        ... def grid():
        ...     @task_group
        ...     def cell(x, scale):
        ...         @task
        ...         def square(x):
        ...             return x * x
        ...         @task
        ...         def times(y, scale):
        ...             return y * scale
        ...         return times(square(x), scale)
        ...     @task
        ...     def total(values):
        ...         return sum(values)
        ...     total(cell.partial(scale=10).expand(x=[1, 2, 3]))
        >>> grid().test().xcom("total")
        140
    """

    def __init__(self, function: Callable[P, R], group_kwargs: Mapping[str, Any]) -> None:
        functools.update_wrapper(self, function)
        self.function = function
        self.group_kwargs = dict(group_kwargs)

    def __repr__(self) -> str:
        return f"<task_group {self.function.__name__}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R | TaskGroup:
        """Build the group in the open DAG; what the function returns, else the group."""
        with self._group() as group:
            returned = self.function(*args, **kwargs)
        return returned if returned is not None else group

    def override(self, **group_kwargs: Any) -> TaskGroupFactory[P, R]:
        """A copy with other group keywords, e.g. ``cell.override(group_id="c2")``."""
        return TaskGroupFactory(self.function, {**self.group_kwargs, **group_kwargs})

    def partial(self, **fixed: Any) -> MappedTaskGroupPartial:
        """Fix arguments every instance of a mapped group shares; then ``.expand(...)``."""
        return MappedTaskGroupPartial(self, fixed)

    def expand(self, **mapped: Any) -> Any:
        """Build the group mapped over ``mapped`` (lists, dicts or task results)."""
        return self.partial().expand(**mapped)

    def _group(self) -> TaskGroup:
        kwargs = self.group_kwargs
        return TaskGroup(
            kwargs["group_id"] or self.function.__name__,
            prefix_group_id=kwargs["prefix_group_id"],
            default_args=kwargs["default_args"],
            tooltip=kwargs["tooltip"] or (self.function.__doc__ or "").strip(),
            ui_color=kwargs["ui_color"],
            ui_fgcolor=kwargs["ui_fgcolor"],
            add_suffix_on_collision=True,
        )


class MappedTaskGroupPartial:
    """A task group with some arguments fixed, waiting for ``.expand(...)``."""

    def __init__(self, factory: TaskGroupFactory[Any, Any], fixed: Mapping[str, Any]) -> None:
        self.factory = factory
        self.fixed = dict(fixed)

    def expand(self, **mapped: Any) -> Any:
        """Build the mapped group (see :class:`TaskGroupFactory`)."""
        fn = self.factory.function
        name = f"task group {fn.__name__!r}"
        _check_group_arguments(fn, name, self.fixed, mapped)
        with self.factory._group() as group:
            inputs = {key: MappedGroupInput(group.child_id(key)) for key in mapped}
            returned = fn(**self.fixed, **inputs)
        expand_input = {group.child_id(key): value for key, value in mapped.items()}
        for task in group.iter_tasks():
            if task.expand_input is not None:
                raise DagDefinitionError(
                    f"task {task.task_id!r} is mapped inside the mapped {name}; "
                    "mapping a task within a mapped group is not supported yet"
                )
            task.expand_input = dict(expand_input)
            task.mapped_group = group
        for root in group.roots:
            for arg in iter_xcom_args(mapped):
                arg.operator >> root
        return returned if returned is not None else group


def _check_group_arguments(
    fn: Callable[..., Any], name: str, fixed: Mapping[str, Any], mapped: Mapping[str, Any]
) -> None:
    if not mapped:
        raise DagDefinitionError(f"{name}: expand() needs at least one argument")
    overlap = sorted(set(fixed) & set(mapped))
    if overlap:
        raise DagDefinitionError(f"{name}: {overlap} given to both partial() and expand()")
    for key, value in mapped.items():
        if not isinstance(value, (list, tuple, dict, XComArg)):
            raise DagDefinitionError(
                f"{name}: expand() needs a list, a dict or a task's result for {key!r}, "
                f"got {type(value).__name__} {value!r}"
            )
    try:
        inspect.signature(fn).bind(**fixed, **mapped)
    except TypeError as error:
        raise DagDefinitionError(f"{name}: {error}") from None
