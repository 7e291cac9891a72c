"""Dynamic task mapping: what a mapped task expands over, read from its inputs.

A mapped task's ``expand`` arguments are literal lists (or dicts) or references
to upstream results (an :class:`~asyncflow.xcom_arg.XComArg`), read from the
store once the upstream task has ended; a mapped upstream gives the list of its
instances' results in map_index order.
"""

from __future__ import annotations

from typing import Any

from asyncflow.engine.run_state import Expansion, NodeState, RunState
from asyncflow.exceptions import MappingError
from asyncflow.storage.protocol import Store
from asyncflow.xcom_arg import XComArg
from asyncflow.xcom_objects import XComObjects, load


async def resolve_expansion(
    store: Store, objects: XComObjects | None, run: RunState, node: NodeState, limit: int
) -> Expansion:
    """The values the task expands over, checked.

    Raises:
        MappingError: an input is not a list or a dict, or the expansion has more
            than ``limit`` instances.
    """
    task = node.task
    expand_input: dict[str, Any] = getattr(task, "expand_input", None) or {}
    keys, values = [], []
    for key, source in expand_input.items():
        value = (
            await _mapped_value(store, objects, run, source)
            if isinstance(source, XComArg)
            else source
        )
        if isinstance(value, dict):
            value = list(value.items())
        if not isinstance(value, (list, tuple)):
            raise MappingError(
                f"task {task.task_id!r} cannot expand over {key!r}: got "
                f"{type(value).__name__}; expand needs a list or a dict"
            )
        keys.append(key)
        values.append(value)
    expansion = Expansion(keys=tuple(keys), values=tuple(values))
    if expansion.length > limit:
        raise MappingError(
            f"task {task.task_id!r} would expand into {expansion.length:,} instances, over "
            f"the limit of {limit:,}; raise it with ASYNCFLOW_MAX_MAP_LENGTH"
        )
    return expansion


async def _mapped_value(
    store: Store, objects: XComObjects | None, run: RunState, source: XComArg
) -> Any:
    dag_id, run_id = run.key
    upstream = source.operator
    if upstream.is_mapped:
        records = await store.get_xcoms(dag_id, run_id, upstream.task_id, source.key)
        return [await load(r.value, objects) for r in records]
    record = await store.get_xcom(dag_id, run_id, upstream.task_id, source.key, -1)
    return None if record is None else await load(record.value, objects)
