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
    """Each task's effective priority under its own rule."""
    downstream = _closure(tasks, lambda task: task.downstream_task_ids)
    upstream = _closure(tasks, lambda task: task.upstream_task_ids)
    weights = {}
    for task_id, task in tasks.items():
        if task.weight_rule is WeightRule.DOWNSTREAM:
            others: Iterable[str] = downstream(task_id)
        elif task.weight_rule is WeightRule.UPSTREAM:
            others = upstream(task_id)
        else:
            others = ()
        weights[task_id] = task.priority_weight + sum(tasks[t].priority_weight for t in others)
    return weights


def _closure(
    tasks: Mapping[str, Operator], neighbours: Callable[[Operator], Iterable[str]]
) -> Callable[[str], frozenset[str]]:
    """Every task reachable from one through ``neighbours``, worked out once per task."""
    memo: dict[str, frozenset[str]] = {}

    def reach(task_id: str) -> frozenset[str]:
        if task_id not in memo:
            found: set[str] = set()
            stack = list(neighbours(tasks[task_id]))
            while stack:  # iterative: a chain of thousands of tasks must not recurse
                next_id = stack.pop()
                if next_id in found:
                    continue
                found.add(next_id)
                if next_id in memo:
                    found |= memo[next_id]
                else:
                    stack.extend(neighbours(tasks[next_id]))
            memo[task_id] = frozenset(found)
        return memo[task_id]

    return reach
