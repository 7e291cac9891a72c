"""The graph view's layout: tasks by level (each after its upstream), in their top task groups."""

from __future__ import annotations

from dataclasses import dataclass, field

from asyncflow.dag import DAG
from asyncflow.operator import Operator


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphNode:
    """A task as the graph shows it."""

    task_id: str
    upstream: list[str]


@dataclass(slots=True, kw_only=True)
class GraphSection:
    """The tasks of one top-level task group (``group_id`` None: no group), by level."""

    group_id: str | None
    levels: dict[int, list[GraphNode]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """How many tasks it holds."""
        return sum(len(nodes) for nodes in self.levels.values())


def sections(dag: DAG) -> list[GraphSection]:
    """The DAG's tasks: those in no group first, then each top-level group, by level."""
    depth: dict[str, int] = {}

    def level(task_id: str) -> int:
        if task_id not in depth:
            upstream = dag.task_dict[task_id].upstream_task_ids
            depth[task_id] = 1 + max((level(u) for u in upstream), default=-1)
        return depth[task_id]

    found: dict[str | None, GraphSection] = {None: GraphSection(group_id=None)}
    for task_id, task in dag.task_dict.items():
        group = _top_group(task)
        section = found.setdefault(group, GraphSection(group_id=group))
        node = GraphNode(task_id=task_id, upstream=sorted(task.upstream_task_ids))
        section.levels.setdefault(level(task_id), []).append(node)
    for section in found.values():
        section.levels = dict(sorted(section.levels.items()))
    return [s for s in found.values() if s.size]


def _top_group(task: Operator) -> str | None:
    group = task.task_group
    while group is not None and group.parent_group is not None:
        group = group.parent_group
    return None if group is None else group.group_id
