"""Which instances a clear, a rerun or a state set by hand changes (engine.clearing), as tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from asyncflow import DAG, EmptyOperator, task
from asyncflow.engine.clearing import plan_clear, plan_rerun, plan_set_state, with_downstream
from asyncflow.exceptions import EngineError, TaskInstanceNotFound
from asyncflow.records import TaskInstanceRecord
from asyncflow.states import TaskState

AT = datetime(2026, 1, 1, tzinfo=UTC)
S, F, U, K = TaskState.SUCCESS, TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.SKIPPED


def diamond() -> DAG:
    """A >> [b, c] >> d, and e on its own; m is mapped over a's result, after a."""
    with DAG("diamond") as dag:
        a, b, c, d, _e = (EmptyOperator(task_id=t) for t in "abcde")
        a >> [b, c] >> d

        @task
        def m(x: int) -> int:
            return x

        a >> m.expand(x=[1, 2])
    return dag


def instances(**states: TaskState | None) -> list[TaskInstanceRecord]:
    """One instance per keyword (``m0``, ``m1`` are m's mapped instances)."""
    out = []
    for name, state in states.items():
        task_id, index = (name[0], int(name[1:])) if name[1:] else (name, -1)
        out.append(
            TaskInstanceRecord(
                dag_id="diamond",
                run_id="r",
                task_id=task_id,
                map_index=index,
                state=state,
                try_number=1,
            )
        )
    return out


RAN = instances(a=S, b=F, c=S, d=U, e=K, m0=S, m1=F)
DOWN_FROM_A = [("a", -1), ("b", -1), ("c", -1), ("d", -1), ("m", 0), ("m", 1)]


@pytest.mark.parametrize(
    ("task_ids", "expected"),
    [
        (["a"], ["a", "b", "c", "m", "d"]),
        (["b"], ["b", "d"]),
        (["d"], ["d"]),
        (["e"], ["e"]),
        (["b", "c"], ["b", "c", "d"]),
    ],
)
def test_downstream_is_every_task_after_in_dependency_order(
    task_ids: list[str], expected: list[str]
) -> None:
    """with_downstream follows every path down and lists the tasks in dependency order."""
    order = with_downstream(diamond(), task_ids)
    assert sorted(order) == sorted(expected)
    position = {t: i for i, t in enumerate(order)}
    for parent, child in [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "m")]:
        if parent in position and child in position:
            assert position[parent] < position[child]


@pytest.mark.parametrize(
    ("task_ids", "options", "clear", "again"),
    [
        (["b"], {}, [("b", -1)], []),
        (["b"], {"downstream": True}, [("b", -1), ("d", -1)], []),
        (["a"], {"downstream": True}, [("a", -1), ("b", -1), ("c", -1), ("d", -1)], ["m"]),
        (["a"], {"downstream": True, "only_failed": True}, [("b", -1), ("d", -1), ("m", 1)], []),
        (["m"], {}, [], ["m"]),
        (["m"], {"map_indexes": [1]}, [("m", 1)], []),
        (["m"], {"only_failed": True}, [("m", 1)], []),
        (["c"], {"only_failed": True}, [], []),
    ],
)
def test_plan_clear(
    task_ids: list[str],
    options: dict[str, object],
    clear: list[tuple[str, int]],
    again: list[str],
) -> None:
    """A clear resets the chosen instances; a mapped task cleared whole expands again."""
    plan = plan_clear(diamond(), RAN, task_ids, at=AT, **options)  # type: ignore[arg-type]
    assert sorted(plan.clear) == sorted(clear)
    assert list(plan.expand_again) == again
    assert plan.marks == ()


def test_plan_rerun_clears_failed_upstream_failed_and_skipped() -> None:
    """A failed run run again clears failed, upstream_failed and skipped instances only."""
    plan = plan_rerun(RAN, at=AT)
    assert sorted(plan.clear) == [("b", -1), ("d", -1), ("e", -1), ("m", 1)]
    assert (plan.expand_again, plan.marks) == ((), ())


@pytest.mark.parametrize(
    ("task_id", "state", "options", "marks", "clear"),
    [
        ("b", S, {}, [("b", -1, S)], [("d", -1)]),
        ("b", S, {"downstream": True}, [("b", -1, S), ("d", -1, S)], []),
        ("c", F, {}, [("c", -1, F)], []),
        ("c", S, {}, [], [("d", -1)]),
        ("a", K, {"downstream": True}, [(t, i, K) for t, i in DOWN_FROM_A], []),
        ("m", S, {"map_indexes": [1]}, [("m", 1, S)], []),
    ],
)
def test_plan_set_state(
    task_id: str,
    state: TaskState,
    options: dict[str, object],
    marks: list[tuple[str, int, TaskState]],
    clear: list[tuple[str, int]],
) -> None:
    """Marks change the instances not in the state yet; success clears failed ones downstream."""
    plan = plan_set_state(diamond(), RAN, task_id, state, at=AT, **options)  # type: ignore[arg-type]
    assert sorted(plan.marks) == sorted(marks)
    assert sorted(plan.clear) == sorted(clear)


def test_a_state_that_is_not_a_finished_one_is_refused() -> None:
    """Only success, failed and skipped can be set by hand."""
    with pytest.raises(EngineError, match="can be set to success, failed, skipped, not 'running'"):
        plan_set_state(diamond(), RAN, "a", TaskState.RUNNING, at=AT)


@pytest.mark.parametrize(
    ("task_ids", "map_indexes", "message"),
    [
        (["zz"], None, "DAG 'diamond' has no task zz"),
        ([], None, "name at least one task of DAG 'diamond'"),
        (["m"], [5], "task 'm' has no map index 5 in this run"),
        (["a"], [0], "task 'a' has no map index 0 in this run"),
    ],
)
def test_unknown_tasks_and_map_indexes_are_named(
    task_ids: list[str], map_indexes: list[int] | None, message: str
) -> None:
    """A clear of a task or map index the run does not have names it."""
    with pytest.raises(TaskInstanceNotFound, match=message):
        plan_clear(diamond(), RAN, task_ids, at=AT, map_indexes=map_indexes)


def cluster() -> DAG:
    """Create >> query >> report >> delete (create's teardown); warm >> report; other apart.

    warm is a setup with no teardown; other >> side >> drop is a setup, work and teardown
    of their own.
    """
    with DAG("cluster") as dag:
        create, query, report, delete = (
            EmptyOperator(task_id=t) for t in ("create", "query", "report", "delete")
        )
        create >> query >> report >> delete.as_teardown(setups=create)
        EmptyOperator(task_id="warm").as_setup() >> report
        other, side, drop = (EmptyOperator(task_id=t) for t in ("other", "side", "drop"))
        other >> side >> drop.as_teardown(setups=other)
    return dag


@pytest.mark.parametrize(
    ("task_id", "cleared"),
    [
        ("query", {"create", "query", "delete"}),
        ("report", {"create", "warm", "report", "delete"}),
        ("create", {"create", "delete"}),
        ("delete", {"delete"}),
        ("side", {"other", "side", "drop"}),
    ],
)
def test_clearing_a_task_clears_its_setups_and_teardowns(task_id: str, cleared: set[str]) -> None:
    """A task's setups and teardowns are cleared with it; a setup's teardowns with it.

    As in Airflow: the setups upstream that have a teardown after the task, or none.
    """
    dag = cluster()
    ran = [
        TaskInstanceRecord(dag_id="cluster", run_id="r", task_id=t, state=S, try_number=1)
        for t in dag.task_dict
    ]
    plan = plan_clear(dag, ran, [task_id], at=AT)
    assert {t for t, _ in plan.clear} == cleared
