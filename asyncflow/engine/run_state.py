"""The in-memory state of one active DAG run, and incremental readiness.

Each task keeps counts of its direct upstream instances' outcomes. When an
instance finishes, only its direct downstream tasks are updated and
re-decided with :func:`asyncflow.trigger_rules.decide`; nothing rescans the run.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import groupby
from typing import Any

import anyio

from asyncflow.dag import DAG
from asyncflow.metrics.tally import InstanceTable, InstanceTally
from asyncflow.operator import Operator
from asyncflow.records import DagRunRecord, TaskInstanceRecord
from asyncflow.setup_teardown import run_state_tasks
from asyncflow.states import FAILED_TASK_STATES, FINISHED_TASK_STATES, DagRunState, TaskState
from asyncflow.trigger_rules import Decision, UpstreamCounts, decide
from asyncflow.weight_rule import effective_weights

_DECIDED_STATE = {
    Decision.SKIP: TaskState.SKIPPED,
    Decision.UPSTREAM_FAILED: TaskState.UPSTREAM_FAILED,
}


@dataclass(slots=True)
class Expansion:
    """The values a mapped task was expanded over; instance i gets combination i."""

    keys: tuple[str, ...]
    values: tuple[Sequence[Any], ...]

    @property
    def length(self) -> int:
        """Number of mapped instances: the product of the value list lengths."""
        return math.prod(len(v) for v in self.values)

    def kwargs_for(self, map_index: int) -> dict[str, Any]:
        """The mapped arguments of one instance (the last argument varies fastest)."""
        out: dict[str, Any] = {}
        rest = map_index
        for key, values in zip(reversed(self.keys), reversed(self.values), strict=True):
            rest, i = divmod(rest, len(values))
            out[key] = values[i]
        return out


@dataclass(slots=True, eq=False)
class NodeState:
    """One task of the run: its upstream counts, decision and instances."""

    task: Operator
    counts: UpstreamCounts
    decision: Decision = Decision.WAIT
    instances: dict[int, TaskInstanceRecord] = field(default_factory=dict)
    unfinished: int = 1
    expansion: Expansion | None = None
    priority: int = 1  # effective priority: priority_weight summed by the task's weight_rule

    @property
    def size(self) -> int:
        """How many instances count for downstream tasks (1 until expanded)."""
        return len(self.instances)


@dataclass(slots=True, eq=False)
class RunState:
    """An active DAG run held in memory while the engine drives it."""

    dag: DAG
    record: DagRunRecord
    nodes: dict[str, NodeState]
    unfinished_nodes: int
    done: anyio.Event = field(default_factory=anyio.Event)
    completing: bool = False
    # set when the run is failed early (its dagrun_timeout passed, or it was
    # marked failed): the error of each running try that is stopped
    stop_error: str | None = None
    base_context: dict[str, Any] | None = None  # the context shared by its instances
    # a run another engine drives, of which this one runs claimed instances only
    # (engines sharing a store): its tries' outcomes decide nothing here
    guest: bool = False

    @property
    def timed_out(self) -> bool:
        """Whether its running tries are being stopped as failed (see ``stop_error``)."""
        return self.stop_error is not None

    @classmethod
    def new(
        cls,
        dag: DAG,
        record: DagRunRecord,
        instances: Iterable[TaskInstanceRecord],
        tally: InstanceTally | None = None,
    ) -> RunState:
        """The state of a run whose instances are all still to be decided.

        With a ``tally``, its instances are counted there until the run ends.
        """
        by_task: dict[str, dict[int, TaskInstanceRecord]] = {}
        for ti in instances:
            by_task.setdefault(ti.task_id, {})[ti.map_index] = ti
        weights = effective_weights(dag.task_dict)
        if tally is not None:
            by_task = {
                t.task_id: tally.table(t, by_task.get(t.task_id, {}))
                for t in dag.task_dict.values()
            }
        nodes = {
            task_id: NodeState(
                task=task,
                counts=UpstreamCounts(
                    total=len(task.upstream_task_ids), setups=_setup_count(dag, task)
                ),
                instances=by_task.get(task_id, {}),
                unfinished=len(by_task.get(task_id, {})),
                priority=weights[task_id],
            )
            for task_id, task in dag.task_dict.items()
        }
        return cls(dag=dag, record=record, nodes=nodes, unfinished_nodes=len(nodes))

    @classmethod
    def restore(
        cls,
        dag: DAG,
        record: DagRunRecord,
        instances: Iterable[TaskInstanceRecord],
        tally: InstanceTally | None = None,
    ) -> RunState:
        """The state of a run read back from the store (after a restart).

        Upstream counts are rebuilt from the stored outcomes; a task that has an
        instance with any state was decided before; the others are decided by
        :meth:`settle`.
        """
        run = cls.new(dag, record, instances, tally)
        run.unfinished_nodes = 0
        for node in run.nodes.values():
            node.unfinished = sum(
                ti.state not in FINISHED_TASK_STATES for ti in node.instances.values()
            )
            run.unfinished_nodes += node.unfinished > 0
            if any(ti.state is not None for ti in node.instances.values()):
                node.decision = Decision.RUN if node.unfinished or _ran(node) else Decision.SKIP
        for node in run.nodes.values():
            ups = [run.nodes[up] for up in node.task.upstream_task_ids]
            counts = UpstreamCounts(
                total=sum(up.size for up in ups),
                setups=sum(up.size for up in ups if up.task.is_setup),
            )
            for up in ups:
                for ti in up.instances.values():
                    if ti.state in FINISHED_TASK_STATES:
                        counts = counts.add(ti.state, setup=up.task.is_setup)
            node.counts = counts
        return run

    def settle(self, *, at: datetime) -> tuple[list[TaskInstanceRecord], list[NodeState]]:
        """Decide every undecided task of a restored run, in dependency order.

        Returns the records that changed (skips, upstream failures) and the
        tasks that may now run, as :meth:`propagate` does.
        """
        writes: list[TaskInstanceRecord] = []
        runnable: list[NodeState] = []
        for task in self.dag.topological_order():
            node = self.nodes[task.task_id]
            if node.decision is not Decision.WAIT:
                continue
            _, decision = self._decide(node)
            if decision is Decision.RUN:
                runnable.append(node)
            elif decision is not Decision.WAIT:
                ended = self._end_undecided(node, _DECIDED_STATE[decision], at, writes)
                self._spread(deque(ended), at, writes, runnable)
        return writes, runnable

    @property
    def key(self) -> tuple[str, str]:
        """``(dag_id, run_id)``."""
        return (self.record.dag_id, self.record.run_id)

    def initial_decisions(self) -> list[tuple[NodeState, Decision]]:
        """Decide every task without upstream tasks (they run at once)."""
        return [self._decide(node) for node in self.nodes.values() if node.counts.total == 0]

    def _decide(self, node: NodeState) -> tuple[NodeState, Decision]:
        node.decision = decide(node.task.trigger_rule, node.counts)
        return node, node.decision

    def propagate(
        self,
        finished: Iterable[tuple[str, TaskState]],
        forced_skips: Iterable[str] = (),
        *,
        at: datetime,
    ) -> tuple[list[TaskInstanceRecord], list[NodeState]]:
        """Feed finished instances to their downstream tasks, transitively.

        ``finished`` holds ``(task_id, state)`` per instance that ended. Tasks in
        ``forced_skips`` (a branch not taken) are skipped if still undecided.
        Returns the instance records that changed (skipped or upstream_failed, to
        be written) and the tasks that may now run, in the order decided.

        Consecutive instances of one task that ended in one state (a storm of
        mapped sensors done together) are counted downstream in one step: a
        trigger rule's decision before every upstream has finished depends only
        on whether a state was seen at all, so counting them one by one decides
        the same.
        """
        queue: deque[tuple[str, TaskState, int]] = deque(
            (task_id, state, len(list(same))) for (task_id, state), same in groupby(finished)
        )
        writes: list[TaskInstanceRecord] = []
        runnable: list[NodeState] = []
        for task_id in forced_skips:
            node = self.nodes[task_id]
            if node.decision is Decision.WAIT:
                node.decision = Decision.SKIP
                queue.extend(self._end_undecided(node, TaskState.SKIPPED, at, writes))
        self._spread(queue, at, writes, runnable)
        return writes, runnable

    def _spread(
        self,
        queue: deque[tuple[str, TaskState, int]],
        at: datetime,
        writes: list[TaskInstanceRecord],
        runnable: list[NodeState],
    ) -> None:
        """Count ``(task_id, state, how many)`` downstream, transitively (see propagate)."""
        while queue:
            task_id, state, count = queue.popleft()
            parent = self.nodes[task_id].task
            for child_id in parent.downstream_task_ids:
                child = self.nodes[child_id]
                if child.decision is not Decision.WAIT:
                    continue
                child.counts = child.counts.add(state, count, setup=parent.is_setup)
                _, decision = self._decide(child)
                if decision is Decision.RUN:
                    runnable.append(child)
                elif decision is not Decision.WAIT:
                    queue.extend(self._end_undecided(child, _DECIDED_STATE[decision], at, writes))

    def _end_undecided(
        self, node: NodeState, state: TaskState, at: datetime, writes: list[TaskInstanceRecord]
    ) -> list[tuple[str, TaskState, int]]:
        for map_index, ti in node.instances.items():
            record = ti.evolve(state=state, start_date=at, end_date=at)
            node.instances[map_index] = record
            writes.append(record)
        node.unfinished = 0
        self.unfinished_nodes -= 1
        return [(node.task.task_id, state, len(node.instances))] if node.instances else []

    def end_placeholder(
        self, node: NodeState, state: TaskState, at: datetime, error: str | None
    ) -> TaskInstanceRecord:
        """End a mapped task that never expanded (empty input, or bad input)."""
        record = replace(node.instances[-1], state=state, start_date=at, end_date=at, error=error)
        node.instances[-1] = record
        node.unfinished = 0
        self.unfinished_nodes -= 1
        return record

    def expand(self, node: NodeState, expansion: Expansion) -> list[TaskInstanceRecord]:
        """Replace a mapped task's placeholder by one instance per combination."""
        template = node.instances[-1]
        length = expansion.length
        node.expansion = expansion
        expanded = {i: template.evolve(map_index=i) for i in range(length)}
        old = node.instances
        node.instances = old.renewed(expanded) if isinstance(old, InstanceTable) else expanded
        node.unfinished = length
        for child_id in node.task.downstream_task_ids:
            child = self.nodes[child_id]
            counts = child.counts
            extra = length - 1
            setups = counts.setups + extra if node.task.is_setup else counts.setups
            child.counts = replace(counts, total=counts.total + extra, setups=setups)
        return list(node.instances.values())

    def instance_ended(self, node: NodeState, record: TaskInstanceRecord) -> bool:
        """Record a finished instance; True when it was the task's last one."""
        node.instances[record.map_index] = record
        node.unfinished -= 1
        if node.unfinished == 0:
            self.unfinished_nodes -= 1
            return True
        return False

    def final_state(self) -> DagRunState:
        """FAILED when any leaf instance failed or was upstream_failed, else SUCCESS.

        Teardowns are not leaves here, as in Airflow (see
        :func:`~asyncflow.setup_teardown.run_state_tasks`).
        """
        for task in run_state_tasks(self.dag.task_dict):
            instances = self.nodes[task.task_id].instances.values()
            if any(ti.state in FAILED_TASK_STATES for ti in instances):
                return DagRunState.FAILED
        return DagRunState.SUCCESS

    def all_instances(self) -> list[TaskInstanceRecord]:
        """Every instance record, ordered by task_id then map_index."""
        return [
            ti
            for task_id in sorted(self.nodes)
            for _, ti in sorted(self.nodes[task_id].instances.items())
        ]


def _setup_count(dag: DAG, task: Operator) -> int:
    """How many of ``task``'s direct upstream tasks are setup tasks."""
    return sum(dag.task_dict[up].is_setup for up in task.upstream_task_ids)


def _ran(node: NodeState) -> bool:
    """Whether any instance of the task ran (as opposed to being skipped unrun)."""
    return any(
        ti.state not in (TaskState.SKIPPED, TaskState.UPSTREAM_FAILED) or ti.try_number > 0
        for ti in node.instances.values()
    )
