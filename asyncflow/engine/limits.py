"""The limits a task instance runs under, from its DAG, its pool and its task's keywords.

Pure functions of the model: :func:`bounds_of` lists a ticket's limits for the
dispatcher; :func:`pool_problem` says why an instance can never run in the
engine's pools (a pool it does not have, or more ``pool_slots`` than the pool).
"""

from __future__ import annotations

from collections.abc import Mapping

from asyncflow.engine.dispatcher import Bound
from asyncflow.engine.run_state import RunState
from asyncflow.operator import Operator


def bounds_of(run: RunState, task: Operator, pools: Mapping[str, int]) -> tuple[Bound, ...]:
    """Every limit an instance of ``task`` in ``run`` is under, besides the engine's."""
    dag_id, run_id = run.key
    bounds = []
    if run.dag.max_active_tasks is not None:
        bounds.append(Bound(("dag", dag_id), run.dag.max_active_tasks))
    if task.pool is not None:
        bounds.append(Bound(("pool", task.pool), pools[task.pool], task.pool_slots))
    if task.max_active_tis_per_dag is not None:
        bounds.append(Bound(("task", dag_id, task.task_id), task.max_active_tis_per_dag))
    if task.max_active_tis_per_dagrun is not None:
        limit = ("run_task", dag_id, run_id, task.task_id)
        bounds.append(Bound(limit, task.max_active_tis_per_dagrun))
    return tuple(bounds)


def pool_problem(task: Operator, pools: Mapping[str, int]) -> str | None:
    """Why instances of ``task`` can never get their pool's slots; ``None`` when they can."""
    if task.pool is None:
        return None
    if task.pool not in pools:
        known = ", ".join(sorted(pools)) or "none"
        return (
            f"task {task.task_id!r} uses pool {task.pool!r}, which the engine does not "
            f"have (pools: {known}); pass pools={{{task.pool!r}: N}} to Engine"
        )
    if task.pool_slots > pools[task.pool]:
        return (
            f"task {task.task_id!r} takes {task.pool_slots} slots of pool {task.pool!r}, "
            f"which has {pools[task.pool]}; lower pool_slots or give the pool more slots"
        )
    return None
