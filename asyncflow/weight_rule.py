"""Priority weight rules, as Airflow has them: how a task's effective priority is summed.

When slots are short, the instance with the highest effective priority starts
first. Airflow's rules, for ``priority_weight`` ``w``:

- ``downstream`` (the default): ``w`` plus the weights of every task
  downstream of it, directly or not, so that what unblocks the most runs first;
- ``upstream``: ``w`` plus the weights of every task upstream of it, so that a
  run nearly done finishes first;
- ``absolute``: ``w`` alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

from asyncflow.exceptions import DagDefinitionError

if TYPE_CHECKING:
    from asyncflow.operator import Operator


class WeightRule(StrEnum):
    """How a task's effective priority is summed (Airflow's names)."""

    DOWNSTREAM = "downstream"  # its weight plus every downstream task's
    UPSTREAM = "upstream"  # its weight plus every upstream task's
    ABSOLUTE = "absolute"  # its weight alone


def parse_weight_rule(value: object, where: str) -> WeightRule:
    """``value`` as a :class:`WeightRule`; a wrong one fails naming the closest.

    Raises:
        DagDefinitionError: not one of Airflow's rules.
    """
    if isinstance(value, str) and value in _RULES:
        return WeightRule(value)
    closest = difflib.get_close_matches(str(value), _RULES, n=1)
    hint = f"; did you mean {closest[0]!r}?" if closest else ""
    raise DagDefinitionError(
        f"{where}: weight_rule must be one of {', '.join(_RULES)}, got {value!r}{hint}"
    )


_RULES = [rule.value for rule in WeightRule]


def effective_weights(tasks: Mapping[str, Operator]) -> dict[str, int]:
    """Each task's effective priority under its own rule.

    The tasks reachable from each are kept as bit sets (Python ints), built
    along the topological order, so a chain of thousands of tasks costs
    milliseconds, and a task reached along several paths counts once.
    """
    # only tasks with an edge can be reached: a wide DAG of loose tasks needs no bits
    linked = [t for t, task in tasks.items() if task.upstream_task_ids or task.downstream_task_ids]
    bit = {task_id: 1 << i for i, task_id in enumerate(linked)}
    order = [task_id for task_id in _topological(tasks) if task_id in bit]
    downstream = _reach(tasks, reversed(order), bit, lambda task: task.downstream_task_ids)
    upstream = _reach(tasks, order, bit, lambda task: task.upstream_task_ids)
    by_weight: dict[int, int] = {}
    for task_id in linked:
        weight = tasks[task_id].priority_weight
        by_weight[weight] = by_weight.get(weight, 0) | bit[task_id]
    weights = {}
    for task_id, task in tasks.items():
        if task_id not in bit or task.weight_rule is WeightRule.ABSOLUTE:
            others = 0
        elif task.weight_rule is WeightRule.DOWNSTREAM:
            others = downstream[task_id]
        else:
            others = upstream[task_id]
        summed = sum(w * (others & mask).bit_count() for w, mask in by_weight.items() if others)
        weights[task_id] = task.priority_weight + summed
    return weights


def _topological(tasks: Mapping[str, Operator]) -> list[str]:
    waiting = {task_id: len(task.upstream_task_ids) for task_id, task in tasks.items()}
    ready = [task_id for task_id, count in waiting.items() if count == 0]
    order = []
    while ready:
        task_id = ready.pop()
        order.append(task_id)
        for child in tasks[task_id].downstream_task_ids:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return order


def _reach(
    tasks: Mapping[str, Operator],
    order: Iterable[str],
    bit: Mapping[str, int],
    neighbours: Callable[[Operator], Iterable[str]],
) -> dict[str, int]:
    """The tasks reachable from each through ``neighbours``, as bit sets (neighbours first)."""
    reach: dict[str, int] = {}
    for task_id in order:
        found = 0
        for other in neighbours(tasks[task_id]):
            found |= bit[other] | reach[other]
        reach[task_id] = found
    return reach
