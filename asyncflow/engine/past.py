"""``depends_on_past``: a task runs only once its previous run's instance went well.

As in Airflow: the previous run is the DAG's run with the latest earlier logical
date; its instances of the task (all of them, for a mapped task) must be
``success`` or ``skipped``; with ``wait_for_downstream``, so must those of the
task's direct downstream tasks. A task that the previous run did not have, or a
first run, passes. Until then the task waits, holding no slot, and is looked at
again whenever one of those tasks ends in any run.
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
        self.held: dict[tuple[str, str], list[Held]] = {}  # by the task whose end may free them
        self._holding: set[tuple[str, str, str]] = set()  # (dag_id, run_id, task_id) held

    async def allows(self, run: RunState, node: NodeState) -> bool:
        """Whether the task may run in ``run`` now."""
        dag_id = run.dag.dag_id
        runs = await self.store.list_runs(dag_id)
        earlier = [r for r in runs if r.logical_date < run.record.logical_date]
        if not earlier:
            return True
        previous = max(earlier, key=lambda r: r.logical_date)
        instances = await self.store.get_task_instances(dag_id, previous.run_id)
        watched = _watched(node)
        mine = [ti for ti in instances if ti.task_id in watched]
        return all(ti.state in _WENT_WELL for ti in mine)

    def hold(self, run: RunState, node: NodeState) -> None:
        """Keep the task waiting until :meth:`release` lets it go."""
        self._holding.add((*run.key, node.task.task_id))
        for task_id in _watched(node):
            self.held.setdefault((run.dag.dag_id, task_id), []).append((run, node))

    async def release(self, dag_id: str, task_id: str) -> list[Held]:
        """The held tasks that ``task_id`` ending may free and that may run now.

        Each is let go once, though it may wait under several tasks' ends.
        """
        waiting = self.held.pop((dag_id, task_id), [])
        free, left = [], []
        for pair in waiting:
            run, node = pair
            held = (*run.key, node.task.task_id)
            if held not in self._holding or run.completing:
                self._holding.discard(held)
                continue
            if await self.allows(run, node):
                self._holding.discard(held)
                free.append(pair)
            else:
                left.append(pair)
        if left:
            self.held[(dag_id, task_id)] = left
        return free


def _watched(node: NodeState) -> set[str]:
    """The tasks whose previous instances must have gone well for ``node`` to run."""
    task = node.task
    if task.wait_for_downstream:
        return {task.task_id, *task.downstream_task_ids}
    return {task.task_id}
