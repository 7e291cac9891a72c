"""Task groups, as Airflow has them: prefixed ids, group default_args, ``>>`` on groups."""

from __future__ import annotations

from typing import Any

import pytest

from asyncflow import (
    DAG,
    DagDefinitionError,
    DagRunState,
    EmptyOperator,
    TaskGroup,
    TaskState,
    chain,
    dag,
    task,
    task_group,
)
from asyncflow.exceptions import DuplicateTaskIdError


def upstream(built: DAG, task_id: str) -> list[str]:
    return sorted(built.get_task(task_id).upstream_task_ids)


# --- ids ------------------------------------------------------------------------------
def test_tasks_in_a_group_get_the_group_id_as_prefix_and_nested_groups_chain() -> None:
    """``g.t``, and ``outer.inner.t`` for a group in a group."""
    with DAG("ids") as built:
        EmptyOperator(task_id="top")
        with TaskGroup("outer") as outer:
            EmptyOperator(task_id="a")
            with TaskGroup("inner") as inner:
                EmptyOperator(task_id="b")
    assert sorted(built.task_ids) == ["outer.a", "outer.inner.b", "top"]
    assert (outer.group_id, inner.group_id) == ("outer", "outer.inner")
    assert built.get_task("outer.inner.b").task_group is inner
    assert [t.task_id for t in outer.iter_tasks()] == ["outer.a", "outer.inner.b"]


def test_prefix_group_id_false_keeps_the_ids_of_what_is_inside() -> None:
    """Without the prefix the tasks, and the groups inside, keep their own ids."""
    with DAG("plain_ids") as built, TaskGroup("outer", prefix_group_id=False):
        EmptyOperator(task_id="a")
        with TaskGroup("inner") as inner:
            EmptyOperator(task_id="b")
    assert sorted(built.task_ids) == ["a", "inner.b"]
    assert inner.group_id == "inner"


def test_a_taskflow_task_called_twice_in_a_group_gets_unique_ids() -> None:
    """The second call in the same group is ``g.t__1``, as in Airflow."""
    with DAG("twice") as built:

        @task
        def t() -> int:
            return 1

        t()
        with TaskGroup("g"):
            t()
            t()
    assert sorted(built.task_ids) == ["g.t", "g.t__1", "t"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: (TaskGroup("g"), TaskGroup("g")),
            "the id 'g' of a task group is taken by another group or task",
        ),
        (
            lambda: (EmptyOperator(task_id="g"), TaskGroup("g")),
            "the id 'g' of a task group is taken by another group or task",
        ),
        (
            lambda: (TaskGroup("g"), EmptyOperator(task_id="g")),
            "task_id 'g' is the id of a task group; tasks and groups share one namespace",
        ),
    ],
)
def test_a_group_id_taken_by_a_group_or_a_task_is_refused(build: Any, message: str) -> None:
    """Groups and tasks share one namespace; a clash names the id and leaves the DAG as it was."""
    with DAG("clash") as built, pytest.raises(DuplicateTaskIdError, match=message):
        build()
    assert set(built.task_ids) <= {"g"}


def test_a_group_outside_a_dag_or_with_bad_arguments_is_refused() -> None:
    """One clear line for a group made outside a DAG, a bad id and non-mapping default_args."""
    with pytest.raises(DagDefinitionError, match="task group 'g' was created outside a DAG"):
        TaskGroup("g")
    with DAG("bad"):
        with pytest.raises(DagDefinitionError, match="group_id"):
            TaskGroup("no spaces")
        with pytest.raises(DagDefinitionError, match="default_args must be a mapping"):
            TaskGroup("g", default_args=["retries"])  # type: ignore[arg-type]


# --- default_args ---------------------------------------------------------------------
def test_group_default_args_lay_over_the_dags_and_the_outer_groups() -> None:
    """The innermost group's defaults win, then outer groups', then the DAG's; a task's own win."""
    with DAG("defaults", default_args={"retries": 1, "priority_weight": 5, "owner": "dag"}):
        with TaskGroup("outer", default_args={"retries": 2, "owner": "outer"}):
            a = EmptyOperator(task_id="a")
            with TaskGroup("inner", default_args={"retries": 3}):
                b = EmptyOperator(task_id="b")
                c = EmptyOperator(task_id="c", retries=0)
        d = EmptyOperator(task_id="d")
    assert (a.retries, a.owner, a.priority_weight) == (2, "outer", 5)
    assert (b.retries, b.owner) == (3, "outer")
    assert c.retries == 0
    assert (d.retries, d.owner) == (1, "dag")


# --- dependencies ---------------------------------------------------------------------
def group_of_three(name: str) -> TaskGroup:
    """A group ``name`` holding ``x >> y`` and a lone ``z``: roots x, z; leaves y, z."""
    with TaskGroup(name) as group:
        x = EmptyOperator(task_id="x")
        x >> EmptyOperator(task_id="y")
        EmptyOperator(task_id="z")
    return group


def test_a_group_downstream_of_a_task_links_its_roots_and_upstream_its_leaves() -> None:
    """``start >> g >> end``: start before g's roots, g's leaves before end."""
    with DAG("edges") as built:
        start, end = EmptyOperator(task_id="start"), EmptyOperator(task_id="end")
        group = group_of_three("g")
        assert [t.task_id for t in group.roots] == ["g.x", "g.z"]
        assert [t.task_id for t in group.leaves] == ["g.y", "g.z"]
        result = start >> group >> end
    assert result is end
    assert upstream(built, "g.x") == upstream(built, "g.z") == ["start"]
    assert upstream(built, "g.y") == ["g.x"]
    assert upstream(built, "end") == ["g.y", "g.z"]


def test_groups_link_to_groups_lists_results_and_chain_as_tasks_do() -> None:
    """Group to group, ``<<``, lists with groups, a task's result and chain() all take groups."""
    with DAG("group_edges") as built:

        @task
        def produce() -> int:
            return 1

        first, second, third = group_of_three("a"), group_of_three("b"), group_of_three("c")
        first >> second
        third << EmptyOperator(task_id="before_c")
        [EmptyOperator(task_id="p"), EmptyOperator(task_id="q")] >> third
        produce() >> first
        last = group_of_three("d")
        chain(third, last, EmptyOperator(task_id="end"))
    assert upstream(built, "b.x") == upstream(built, "b.z") == ["a.y", "a.z"]
    assert upstream(built, "c.x") == ["before_c", "p", "q"]
    assert upstream(built, "a.x") == upstream(built, "a.z") == ["produce"]
    assert upstream(built, "d.x") == ["c.y", "c.z"]
    assert upstream(built, "end") == ["d.y", "d.z"]


# --- @task_group ------------------------------------------------------------------------
def test_the_decorator_returns_what_the_function_returns_or_else_the_group() -> None:
    """A result passes through (with its dependency); no result gives the group for ``>>``."""
    with DAG("decorated") as built:

        @task
        def one() -> int:
            return 1

        @task_group
        def doubled(value: Any) -> Any:
            @task
            def double(x: int) -> int:
                return 2 * x

            return double(value)

        @task_group(group_id="side", default_args={"retries": 4})
        def side_effects() -> None:
            EmptyOperator(task_id="log")

        @task
        def show(x: int) -> int:
            return x

        result = show(doubled(one()))
        group = side_effects()
        assert isinstance(group, TaskGroup)
        group >> result
    assert sorted(built.task_ids) == ["doubled.double", "one", "show", "side.log"]
    assert upstream(built, "doubled.double") == ["one"]
    assert upstream(built, "show") == ["doubled.double", "side.log"]
    assert built.get_task("side.log").retries == 4


def test_a_decorated_group_called_twice_gets_a_suffix() -> None:
    """The second call's group is ``name__1``, its tasks ``name__1.t``."""
    with DAG("called_twice") as built:

        @task_group
        def step() -> None:
            EmptyOperator(task_id="t")

        step() >> step()
    assert sorted(built.task_ids) == ["step.t", "step__1.t"]
    assert upstream(built, "step__1.t") == ["step.t"]


# --- running ----------------------------------------------------------------------------
def test_a_dag_written_as_airflows_task_group_example_runs_with_its_states() -> None:
    """Airflow's task-group tutorial shape runs: values cross groups, a group's retry applies."""
    tries: dict[str, int] = {}

    @dag()
    def task_group_tutorial() -> None:
        @task
        def task_start() -> str:
            return "[Task_start]"

        @task
        def task_1(value: str) -> str:
            return f"[ Task1 {value} ]"

        @task
        def task_2(value: str) -> str:
            return f"[ Task2 {value} ]"

        @task
        def task_3(value: str) -> None:
            print(f"[ Task3 {value} ]")

        @task
        def flaky(ti: Any) -> str:
            tries["flaky"] = ti.try_number
            if ti.try_number == 1:
                raise RuntimeError("first try fails")
            return "ok"

        @task_group(default_args={"retries": 1, "retry_delay": 0})
        def task_group_function(value: str) -> Any:
            flaky()
            return task_3(task_2(task_1(value)))

        @task
        def task_end() -> None:
            print("[ Task_End  ]")

        start = task_start()
        end = task_end()
        for _ in range(3):
            start >> task_group_function(start) >> end

    result = task_group_tutorial().test()
    assert result.state is DagRunState.SUCCESS
    for prefix in ("task_group_function", "task_group_function__1", "task_group_function__2"):
        assert result.ti(f"{prefix}.task_3").state is TaskState.SUCCESS
        assert result.xcom(f"{prefix}.task_2") == "[ Task2 [ Task1 [Task_start] ] ]"
        assert result.ti(f"{prefix}.flaky").try_number == 2
    assert result.ti("task_end").state is TaskState.SUCCESS


def test_a_mapped_task_in_a_group_expands_under_the_groups_id() -> None:
    """``.expand`` inside a group: the instances run as ``g.t`` with their map indexes."""
    with DAG("mapped_in_group") as built:
        with TaskGroup("g"):

            @task
            def square(x: int) -> int:
                return x * x

            squares = square.expand(x=[1, 2, 3])

        @task
        def total(values: list[int]) -> int:
            return sum(values)

        total(squares)
    result = built.test()
    assert result.state is DagRunState.SUCCESS
    assert [result.xcom("g.square", map_index=i) for i in range(3)] == [1, 4, 9]
    assert result.xcom("total") == 14
