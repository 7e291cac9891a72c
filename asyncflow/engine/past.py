"""``depends_on_past``: a task runs only once its previous run's instance went well.

As in Airflow: the previous run is the DAG's run with the latest earlier logical
date; its instances of the task (all of them, for a mapped task) must be
``success`` or ``skipped``. A task that the previous run did not have, or a
first run, passes. Until then the task waits, holding no slot, and is looked at
again whenever that task ends in any run.
"""

from __future__ import annotations

from asyncflow.engine.run_state import NodeState, RunState
from asyncflow.states import TaskState
from asyncflow.storage.protocol import Store

_WENT_WELL = frozenset({TaskState.SUCCESS, TaskState.SKIPPED})

Held = tuple[RunState, NodeState]


class PastGate:
    """Holds tasks with ``depends_on_past`` until their previous instance succeeded."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.held: dict[tuple[str, str], list[Held]] = {}

    async def allows(self, run: RunState, node: NodeState) -> bool:
        """Whether the task may run in ``run`` now."""
        dag_id, task_id = run.dag.dag_id, node.task.task_id
        runs = await self.store.list_runs(dag_id)
        earlier = [r for r in runs if r.logical_date < run.record.logical_date]
        if not earlier:
            return True
        previous = max(earlier, key=lambda r: r.logical_date)
        instances = await self.store.get_task_instances(dag_id, previous.run_id)
        mine = [ti for ti in instances if ti.task_id == task_id]
        return all(ti.state in _WENT_WELL for ti in mine)

    def hold(self, run: RunState, node: NodeState) -> None:
        """Keep the task waiting until :meth:`release` lets it go."""
        self.held.setdefault((run.dag.dag_id, node.task.task_id), []).append((run, node))

    async def release(self, dag_id: str, task_id: str) -> list[Held]:
        """The held instances of this task that may run now (they are no longer held)."""
        waiting = self.held.get((dag_id, task_id), [])
        free = [pair for pair in waiting if not pair[0].completing and await self.allows(*pair)]
        left = [pair for pair in waiting if pair not in free and not pair[0].completing]
        if left:
            self.held[(dag_id, task_id)] = left
        else:
            self.held.pop((dag_id, task_id), None)
        return free
