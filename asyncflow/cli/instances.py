"""Finding a run and one of its task instances in the store, with a one-line error when absent."""

from __future__ import annotations

from asyncflow.cli.common import BadInput
from asyncflow.records import DagRunRecord, TaskInstanceRecord
from asyncflow.storage.protocol import Store


async def require_run(store: Store, dag_id: str, run_id: str) -> DagRunRecord:
    """The stored run ``run_id`` of ``dag_id``.

    Raises:
        BadInput: the database has no such run.
    """
    record = await store.get_run(dag_id, run_id)
    if record is None:
        raise BadInput(
            f"DAG {dag_id!r} has no run {run_id!r} in the database "
            f"(see `asyncflow runs list {dag_id}`)"
        )
    return record


async def find_instance(
    store: Store, dag_id: str, run_id: str, task_id: str, map_index: int
) -> TaskInstanceRecord:
    """The stored task instance, or a one-line error saying what is missing.

    Raises:
        BadInput: no such run, no such task in it, or a map index that does not fit
            (missing for a mapped task, given for one that is not mapped).
    """
    await require_run(store, dag_id, run_id)
    instances = await store.get_task_instances(dag_id, run_id)
    for ti in instances:
        if ti.task_id == task_id and ti.map_index == map_index:
            return ti
    indexes = sorted(ti.map_index for ti in instances if ti.task_id == task_id)
    if indexes and indexes[0] >= 0:
        raise BadInput(
            f"task {task_id!r} is mapped into {len(indexes)} instances: "
            f"pass --map-index from {indexes[0]} to {indexes[-1]}"
        )
    if indexes:
        raise BadInput(f"task {task_id!r} is not mapped: leave out --map-index")
    known = ", ".join(sorted({ti.task_id for ti in instances})) or "none"
    raise BadInput(f"run {run_id!r} of DAG {dag_id!r} has no task {task_id!r}; its tasks: {known}")
