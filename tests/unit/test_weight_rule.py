"""Weight rules: effective priorities summed as Airflow sums them, and their effect on order."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest

from asyncflow import DAG, DagDefinitionError, EmptyOperator, Engine, task
from asyncflow.weight_rule import WeightRule, effective_weights


def diamond(rule: str) -> DAG:
    """A >> [b, c] >> d, weights 1, 2, 3, 4, every task under ``rule``."""
    with DAG(f"diamond_{rule}", default_args={"weight_rule": rule}) as built:
        a, b, c, d = (
            EmptyOperator(task_id=name, priority_weight=w)
            for name, w in zip("abcd", [1, 2, 3, 4], strict=True)
        )
        a >> [b, c] >> d
    return built


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("downstream", {"a": 1 + 2 + 3 + 4, "b": 2 + 4, "c": 3 + 4, "d": 4}),
        ("upstream", {"a": 1, "b": 2 + 1, "c": 3 + 1, "d": 4 + 1 + 2 + 3}),
        ("absolute", {"a": 1, "b": 2, "c": 3, "d": 4}),
    ],
)
def test_effective_weights_sum_each_reachable_task_once(
    rule: str, expected: dict[str, int]
) -> None:
    """A task reached along two paths (d below a) counts once, as in Airflow."""
    assert effective_weights(diamond(rule).task_dict) == expected


def test_the_default_rule_is_downstream_and_a_long_chain_is_summed_without_recursion() -> None:
    """Airflow's default; a 3,000-task chain's root weighs 3,000."""
    with DAG("chain") as built:
        tasks = [EmptyOperator(task_id=f"t{i}") for i in range(3000)]
        for up, down in itertools.pairwise(tasks):
            up >> down
    assert tasks[0].weight_rule is WeightRule.DOWNSTREAM
    weights = effective_weights(built.task_dict)
    assert (weights["t0"], weights["t2999"]) == (3000, 1)


def test_a_misspelt_rule_names_the_closest() -> None:
    """One line naming the task, the rules and the closest one."""
    with DAG("bad_rule"), pytest.raises(DagDefinitionError) as refused:
        EmptyOperator(task_id="t", weight_rule="downstrem")
    assert str(refused.value) == (
        "task 't': weight_rule must be one of downstream, upstream, absolute, "
        "got 'downstrem'; did you mean 'downstream'?"
    )


@pytest.mark.anyio
async def test_with_one_slot_the_task_with_more_downstream_weight_starts_first() -> None:
    """Under the downstream rule a light task with a heavy child starts before heavier leaves."""
    order: list[str] = []
    with DAG("weighted") as built:

        def recorder(name: str, weight: int, **kwargs: Any) -> Any:
            @task(task_id=name, priority_weight=weight, **kwargs)
            async def record() -> None:
                order.append(name)

            return record()

        recorder("parent", 1) >> recorder("child", 10)
        recorder("leaf", 5)
        recorder("flat", 9, weight_rule="absolute")
    async with Engine("memory://", dags=[built], max_active_tasks=1) as engine:
        with anyio.fail_after(10):
            await engine.run("weighted")
    # parent weighs 1 + 10 and goes first; flat (9, absolute) before leaf (5)
    assert order[0] == "parent"
    assert order.index("flat") < order.index("leaf")
