"""``Operator``: the base of every task, its common keywords and its dependencies.

Subclass it and define ``async def execute(self, context)`` (or a plain ``def
execute``, as Airflow's operators have: it runs in a worker thread); the return
value is the task's XCom result. Every keyword below may also come from the DAG's
``default_args``; a keyword given to the task wins.

Example:
    >>> from asyncflow import DAG, Operator
    >>> class Hello(Operator):
    ...     async def execute(self, context):
    ...         return f"hello from {context['task'].task_id}"
    >>> with DAG("greet") as greet:
    ...     Hello(task_id="hello")
    <Hello 'hello'>
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from asyncflow.callback_list import CallbackList
from asyncflow.dag import DAG, current_dag, validate_id
from asyncflow.dependency_mixin import DependencyMixin
from asyncflow.edge_label import Label
from asyncflow.exceptions import DagDefinitionError
from asyncflow.mapped_operator import OperatorPartial, building_detached
from asyncflow.retry import to_timedelta
from asyncflow.setup_teardown import SetupTeardownMixin
from asyncflow.task_group import TaskGroup, current_task_group
from asyncflow.task_keywords import check_unknown_keywords
from asyncflow.trigger_rules import TriggerRule, parse_trigger_rule
from asyncflow.weight_rule import WeightRule, parse_weight_rule
from asyncflow.xcom_arg import XComArg

if TYPE_CHECKING:
    from asyncflow.context import Context

Callback = Callable[[dict[str, Any]], Any]

_UNSET: Any = object()

# keyword -> default, for every keyword that default_args may fill
TASK_DEFAULTS: dict[str, Any] = {
    "retries": 0,
    "retry_delay": timedelta(seconds=300),
    "retry_exponential_backoff": False,
    "max_retry_delay": None,
    "execution_timeout": None,
    "trigger_rule": TriggerRule.ALL_SUCCESS,
    "pool": None,
    "priority_weight": 1,
    "depends_on_past": False,
    "on_success_callback": None,
    "on_failure_callback": None,
    "on_retry_callback": None,
    "owner": "asyncflow",
    "doc_md": None,
    "queue": "default",
    "do_xcom_push": True,
    "on_execute_callback": None,
    "on_skipped_callback": None,
    "pool_slots": 1,
    "max_active_tis_per_dag": None,
    "max_active_tis_per_dagrun": None,
    "weight_rule": WeightRule.DOWNSTREAM,
    "wait_for_downstream": False,
}


class Operator(DependencyMixin, SetupTeardownMixin):
    """Base class of every task: subclass it and define ``async def execute``.

    Args:
        task_id: Unique name of the task in its DAG.
        dag: The DAG to attach to (default: the DAG whose ``with`` block is open).
        retries: Tries after the first one before the task fails.
        retry_delay: Wait before a retry (``timedelta`` or seconds).
        retry_exponential_backoff: Double the wait on every retry, with jitter.
        max_retry_delay: Cap on the wait between tries.
        execution_timeout: Limit on one try; over it the try fails.
        trigger_rule: When the task runs, from its upstream tasks' outcomes.
        pool: Name of an engine pool whose slots bound this task's concurrency.
        priority_weight: Higher runs first when slots are short (summed with
            other tasks' by ``weight_rule``).
        depends_on_past: Run only if this task succeeded in the previous run.
        on_success_callback: Called with the context after success (this and
            every ``on_*_callback`` may be a list of callables, called in order).
        on_failure_callback: Called with the context after the final failure.
        on_retry_callback: Called with the context when a try fails and will be retried.
        owner: Who owns the task (shown, not enforced).
        doc_md: Documentation shown with the task (``doc``, ``doc_json``,
            ``doc_yaml`` and ``doc_rst`` are kept as given too).
        task_display_name: The name shown for the task (default: its id).
        params: Task parameters: the ``params`` this task sees are the DAG's,
            then these, then the run's conf.
        queue: The named queue whose engines run the task (default ``"default"``).
        do_xcom_push: Store the return value as XCom ``return_value`` (default on).
        on_execute_callback: Called with the context as a try starts.
        on_skipped_callback: Called with the context when the task is skipped.
        pool_slots: Slots of its pool one instance takes (default 1).
        max_active_tis_per_dag: Instances of this task running at once across
            all runs of its DAG (default: no limit of its own).
        max_active_tis_per_dagrun: Instances of this task running at once in one
            run (a mapped task's, say).
        weight_rule: ``"downstream"`` (the default, as in Airflow), ``"upstream"``
            or ``"absolute"``: see :mod:`asyncflow.weight_rule`.
        wait_for_downstream: ``depends_on_past``, and the previous run's
            instances of this task's direct downstream tasks must have gone well too.

    ``as_setup()`` and ``as_teardown(setups=...)`` make it a setup or teardown
    task (see :mod:`asyncflow.setup_teardown`).
        **airflow_only: Airflow keywords that change nothing here, kept in
            :attr:`airflow_only` (see
            :data:`~asyncflow.task_keywords.AIRFLOW_ONLY` for each and why);
            any other unknown keyword fails naming the closest valid one.
    """

    ui_color: ClassVar[str] = "#fff"
    expand_input: dict[str, Any] | None = None  # set by .expand(): argument -> values
    # set by SomeOperator.partial(...).expand(...): the keywords every instance shares
    partial_kwargs: dict[str, Any] | None = None
    mapped_group: TaskGroup | None = None  # the mapped task group whose instances it is in

    def __init__(
        self,
        *,
        task_id: str,
        dag: DAG | None = None,
        retries: int = _UNSET,
        retry_delay: timedelta | float = _UNSET,
        retry_exponential_backoff: bool = _UNSET,
        max_retry_delay: timedelta | float | None = _UNSET,
        execution_timeout: timedelta | float | None = _UNSET,
        trigger_rule: TriggerRule | str = _UNSET,
        pool: str | None = _UNSET,
        priority_weight: int = _UNSET,
        depends_on_past: bool = _UNSET,
        on_success_callback: Callback | list[Callback] | None = _UNSET,
        on_failure_callback: Callback | list[Callback] | None = _UNSET,
        on_retry_callback: Callback | list[Callback] | None = _UNSET,
        owner: str = _UNSET,
        doc_md: str | None = _UNSET,
        doc: str | None = None,
        doc_json: str | None = None,
        doc_yaml: str | None = None,
        doc_rst: str | None = None,
        task_display_name: str | None = None,
        params: Mapping[str, Any] | None = None,
        queue: str = _UNSET,
        do_xcom_push: bool = _UNSET,
        on_execute_callback: Callback | list[Callback] | None = _UNSET,
        on_skipped_callback: Callback | list[Callback] | None = _UNSET,
        pool_slots: int = _UNSET,
        max_active_tis_per_dag: int | None = _UNSET,
        max_active_tis_per_dagrun: int | None = _UNSET,
        weight_rule: WeightRule | str = _UNSET,
        wait_for_downstream: bool = _UNSET,
        **airflow_only: Any,
    ) -> None:
        dag = dag if dag is not None else current_dag()
        task_id = validate_id(task_id, what="task_id", owner=_owner_of(dag))
        # Airflow keywords with no use here are kept as given; any other is refused
        self.airflow_only = check_unknown_keywords(type(self), task_id, airflow_only)
        if dag is None:
            raise DagDefinitionError(
                f"task {task_id!r} was created outside a DAG: create it inside "
                "`with DAG(...)` or an @dag function, or pass dag="
            )
        # a mapped instance's own operator copies its template, group and all
        group = None if building_detached() else current_task_group(dag)
        self.task_id = group.child_id(task_id) if group is not None else task_id
        self.task_group: TaskGroup | None = group
        defaults = group.default_args if group is not None else dag.default_args
        given = {
            "retries": retries,
            "retry_delay": retry_delay,
            "retry_exponential_backoff": retry_exponential_backoff,
            "max_retry_delay": max_retry_delay,
            "execution_timeout": execution_timeout,
            "trigger_rule": trigger_rule,
            "pool": pool,
            "priority_weight": priority_weight,
            "depends_on_past": depends_on_past,
            "on_success_callback": on_success_callback,
            "on_failure_callback": on_failure_callback,
            "on_retry_callback": on_retry_callback,
            "owner": owner,
            "doc_md": doc_md,
            "queue": queue,
            "do_xcom_push": do_xcom_push,
            "on_execute_callback": on_execute_callback,
            "on_skipped_callback": on_skipped_callback,
            "pool_slots": pool_slots,
            "max_active_tis_per_dag": max_active_tis_per_dag,
            "max_active_tis_per_dagrun": max_active_tis_per_dagrun,
            "weight_rule": weight_rule,
            "wait_for_downstream": wait_for_downstream,
        }
        values: dict[str, Any] = {
            key: value if value is not _UNSET else defaults.get(key, TASK_DEFAULTS[key])
            for key, value in given.items()
        }
        where = f"task {self.task_id!r}"
        self.dag: DAG = dag
        self.retries: int = _non_negative_int(values["retries"], "retries", where)
        self.retry_delay: timedelta = _required_delta(values["retry_delay"], "retry_delay", where)
        self.retry_exponential_backoff: bool = _flag(
            values["retry_exponential_backoff"], "retry_exponential_backoff", where
        )
        self.max_retry_delay = to_timedelta(
            values["max_retry_delay"], name="max_retry_delay", owner=where
        )
        self.execution_timeout = to_timedelta(
            values["execution_timeout"], name="execution_timeout", owner=where
        )
        self.trigger_rule: TriggerRule = parse_trigger_rule(
            values["trigger_rule"], task_id=self.task_id
        )
        self.pool: str | None = _optional_str(values["pool"], "pool", where)
        self.priority_weight: int = _int(values["priority_weight"], "priority_weight", where)
        self.wait_for_downstream: bool = _flag(
            values["wait_for_downstream"], "wait_for_downstream", where
        )
        # as in Airflow, waiting for the past run's downstream implies depending on the past
        self.depends_on_past: bool = self.wait_for_downstream or _flag(
            values["depends_on_past"], "depends_on_past", where
        )
        self.on_success_callback: Callback | None = _callback(
            values["on_success_callback"], "on_success_callback", where
        )
        self.on_failure_callback: Callback | None = _callback(
            values["on_failure_callback"], "on_failure_callback", where
        )
        self.on_retry_callback: Callback | None = _callback(
            values["on_retry_callback"], "on_retry_callback", where
        )
        self.on_execute_callback: Callback | None = _callback(
            values["on_execute_callback"], "on_execute_callback", where
        )
        self.on_skipped_callback: Callback | None = _callback(
            values["on_skipped_callback"], "on_skipped_callback", where
        )
        self.owner: str = str(values["owner"])
        self.doc_md: str | None = values["doc_md"]
        self.doc, self.doc_json, self.doc_yaml, self.doc_rst = doc, doc_json, doc_yaml, doc_rst
        self.task_display_name: str = task_display_name or self.task_id
        self.queue: str = _optional_str(values["queue"], "queue", where) or "default"
        self.do_xcom_push: bool = _flag(values["do_xcom_push"], "do_xcom_push", where)
        self.params: dict[str, Any] = dict(_params(params, where))
        self.pool_slots: int = _positive_int(values["pool_slots"], "pool_slots", where)
        self.max_active_tis_per_dag: int | None = _optional_positive(
            values["max_active_tis_per_dag"], "max_active_tis_per_dag", where
        )
        self.max_active_tis_per_dagrun: int | None = _optional_positive(
            values["max_active_tis_per_dagrun"], "max_active_tis_per_dagrun", where
        )
        self.weight_rule: WeightRule = parse_weight_rule(values["weight_rule"], where)
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        if not building_detached():  # a mapped instance's own operator is not a DAG task
            dag.add_task(self)
            if group is not None:
                group.add(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.task_id!r}>"

    async def execute(self, context: Context) -> Any:
        """Do the task's work; the return value becomes its XCom ``return_value``.

        Raise :class:`~asyncflow.SkipTask` to skip, :class:`~asyncflow.FailTask` to
        fail without retries; any other exception fails this try.
        """
        raise DagDefinitionError(
            f"{type(self).__name__} must define `async def execute(self, context)`"
        )

    @property
    def output(self) -> XComArg:
        """This task's return value, to pass to another task (Airflow's ``.output``)."""
        return XComArg(self)

    # --- mapping -----------------------------------------------------------------
    @classmethod
    def partial(cls, **kwargs: Any) -> OperatorPartial:
        """Fix the keywords every mapped instance shares (``task_id`` too); then ``.expand``.

        Example:
            >>> with DAG("echo"):
            ...     BashOperator.partial(task_id="say").expand(bash_command=["echo a"])
            XComArg(<BashOperator 'say'>)
        """
        return OperatorPartial(cls, kwargs)

    @classmethod
    def _engine_base(cls) -> type[Operator]:
        """The base class whose keywords the engine reads (a mapped task's template has them).

        A classmethod, not an ``issubclass`` test in :mod:`asyncflow.mapped_operator`,
        so that mapping knows nothing of the operator classes built on it.
        """
        return Operator

    @property
    def is_mapped(self) -> bool:
        """Whether ``.expand()`` made this task expand into one instance per value."""
        return self.expand_input is not None

    @property
    def task_type(self) -> str:
        """The class name, as shown in listings."""
        return type(self).__name__

    # --- dependencies ------------------------------------------------------------
    @property
    def upstream_list(self) -> list[Operator]:
        """The direct upstream tasks."""
        return [self.dag.task_dict[t] for t in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[Operator]:
        """The direct downstream tasks."""
        return [self.dag.task_dict[t] for t in sorted(self.downstream_task_ids)]

    def set_downstream(self, other: Any, edge_modifier: Label | None = None) -> None:
        """Make ``other`` (a task, an XComArg, a task group or a list) run after this task.

        ``other`` may be a :class:`~asyncflow.Label`, to link what follows it; an
        ``edge_modifier`` label is recorded on every edge made.
        """
        self._relate(other, edge_modifier, downstream=True)

    def set_upstream(self, other: Any, edge_modifier: Label | None = None) -> None:
        """Make ``other`` (a task, an XComArg, a task group or a list) run before this task.

        ``other`` may be a :class:`~asyncflow.Label`, to link what precedes it; an
        ``edge_modifier`` label is recorded on every edge made.
        """
        self._relate(other, edge_modifier, downstream=False)

    def _relate(self, other: Any, edge_modifier: Label | None, *, downstream: bool) -> None:
        if isinstance(other, Label):  # the label links this task to what is on its far side
            (other.set_upstream if downstream else other.set_downstream)(self)
            return
        for task in _as_operators(other, upstream=not downstream):
            up, down = (self, task) if downstream else (task, self)
            _link(up, down, edge_modifier)


def chain(*elements: Any) -> None:
    """Link tasks in series: ``chain(a, b, c)`` is ``a >> b >> c``.

    An element may be a list: ``chain(a, [b, c], d)`` runs ``b`` and ``c`` after
    ``a`` and ``d`` after both. Two adjacent lists must have the same length and
    are linked pairwise, as in Airflow.

    Example:
        >>> chain(extract, [clean, validate], load)  # doctest: +SKIP
    """
    for up, down in itertools.pairwise(elements):
        if isinstance(up, Sequence) and isinstance(down, Sequence):
            if len(up) != len(down):
                raise DagDefinitionError(
                    f"chain() links two adjacent lists pairwise, so they need the same length; "
                    f"got {len(up)} and {len(down)}"
                )
            for a, b in zip(up, down, strict=True):
                _link_any(a, b)
        else:
            _link_any(up, down)


def _link_any(up: Any, down: Any) -> None:
    if isinstance(down, Label):  # chain(a, Label("x"), b): the label links a to b
        down.set_upstream(up)
        return
    if isinstance(up, Label):
        up.set_downstream(down)
        return
    for a in _as_operators(up, upstream=True):
        for b in _as_operators(down, upstream=False):
            _link(a, b)


def _link(up: Operator, down: Operator, edge_modifier: Label | None = None) -> None:
    if up.dag is not down.dag:
        raise DagDefinitionError(
            f"cannot link task {up.task_id!r} of DAG {up.dag.dag_id!r} to task "
            f"{down.task_id!r} of DAG {down.dag.dag_id!r}: tasks must share a DAG"
        )
    if up is down:
        raise DagDefinitionError(f"DAG {up.dag.dag_id!r} has a cycle: {up.task_id} >> {up.task_id}")
    up.downstream_task_ids.add(down.task_id)
    down.upstream_task_ids.add(up.task_id)
    if edge_modifier is not None:
        edge_modifier.add_edge_info(up, down)


def _as_operators(value: Any, *, upstream: bool) -> list[Operator]:
    """The tasks a dependency on ``value`` links: a group's leaves upstream, its roots down."""
    if isinstance(value, Operator):
        return [value]
    if isinstance(value, XComArg):
        return [value.operator]
    if isinstance(value, TaskGroup):
        return value.leaves if upstream else value.roots
    if isinstance(value, (list, tuple, set, frozenset)):
        return [op for item in value for op in _as_operators(item, upstream=upstream)]
    raise DagDefinitionError(
        f"cannot set a dependency on {type(value).__name__} {value!r}: "
        "use a task, a task's result, a task group or a list of them"
    )


def _owner_of(dag: DAG | None) -> str:
    return f"DAG {dag.dag_id!r}" if dag is not None else ""


def _non_negative_int(value: object, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DagDefinitionError(f"{where}: {name} must be a whole number >= 0, got {value!r}")
    return value


def _positive_int(value: object, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DagDefinitionError(f"{where}: {name} must be a whole number >= 1, got {value!r}")
    return value


def _optional_positive(value: object, name: str, where: str) -> int | None:
    return None if value is None else _positive_int(value, name, where)


def _int(value: object, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DagDefinitionError(f"{where}: {name} must be a whole number, got {value!r}")
    return value


def _flag(value: object, name: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise DagDefinitionError(f"{where}: {name} must be True or False, got {value!r}")
    return value


def _optional_str(value: object, name: str, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise DagDefinitionError(f"{where}: {name} must be a string, got {value!r}")
    return value


def _required_delta(value: object, name: str, where: str) -> timedelta:
    delta = to_timedelta(value, name=name, owner=where)  # type: ignore[arg-type]
    if delta is None:
        raise DagDefinitionError(f"{where}: {name} must be a timedelta or seconds, not None")
    return delta


def _params(value: object, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DagDefinitionError(f"{where}: params must be a mapping, got {value!r}")
    return value


def _callback(value: object, name: str, where: str) -> Callback | None:
    if isinstance(value, (list, tuple)):  # several, as Airflow takes them: called in order
        for item in value:
            _callback(item, name, where)
        return None if not value else value[0] if len(value) == 1 else CallbackList(value)
    if value is not None and not callable(value):
        raise DagDefinitionError(f"{where}: {name} must be callable, got {value!r}")
    return value
