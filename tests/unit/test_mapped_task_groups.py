"""Mapped task groups as in Airflow: @task_group ... .expand(), run through dag.test()."""

from __future__ import annotations

import pytest

from asyncflow import (
    DAG,
    DagDefinitionError,
    DagRunState,
    EmptyOperator,
    TaskState,
    task,
    task_group,
)


@task
def double(x: int) -> int:
    return 2 * x


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def total(values: list[int]) -> int:
    return sum(values)


@task_group
def cell(x: int, offset: int = 0) -> object:
    doubled = double(x)
    EmptyOperator(task_id="marker")
    return add(doubled, add.override(task_id="shifted")(x, offset))


def test_each_group_instance_sees_its_own_values() -> None:
    """Instance i of every task gets value i; inside the group results pair up by index."""
    with DAG("grid") as built:
        total(cell.partial(offset=100).expand(x=[1, 2, 3]))
    result = built.test()
    assert result.state is DagRunState.SUCCESS
    assert [result.xcom("cell.double", map_index=i) for i in range(3)] == [2, 4, 6]
    assert [result.xcom("cell.shifted", map_index=i) for i in range(3)] == [101, 102, 103]
    assert [result.xcom("cell.add", map_index=i) for i in range(3)] == [103, 106, 109]
    assert [result.ti("cell.marker", i).state for i in range(3)] == [TaskState.SUCCESS] * 3
    assert result.xcom("total") == 318  # outside the group: the list of every instance's value


def test_a_group_maps_over_an_upstream_result() -> None:
    """expand(x=task_result) waits for that task and maps over the list it returned."""

    @task
    def sizes() -> list[int]:
        return [5, 7]

    with DAG("from_result") as built:
        total(cell.expand(x=sizes()))
    assert sorted(built.get_task("cell.double").upstream_task_ids) == ["sizes"]
    result = built.test()
    assert result.xcom("total") == 3 * 5 + 3 * 7


def test_airflows_documented_example_runs() -> None:
    """Airflow's docs: a group of one task mapped over file names, as written there."""

    @task
    def convert_to_yaml(filename: str) -> str:
        return filename.replace(".json", ".yaml")

    with DAG("files") as built:

        @task_group
        def file_transforms(filename: str) -> object:
            return convert_to_yaml(filename)

        file_transforms.expand(filename=["data1.json", "data2.json"])
    result = built.test()
    converted = [result.xcom("file_transforms.convert_to_yaml", map_index=i) for i in (0, 1)]
    assert converted == ["data1.yaml", "data2.yaml"]


def test_an_empty_expansion_skips_the_whole_group() -> None:
    """Mapping a group over an empty list skips each of its tasks, and what follows them."""
    with DAG("empty") as built:
        total(cell.expand(x=[]))
    result = built.test()
    assert result.state is DagRunState.SUCCESS
    assert {ti.state for ti in result.task_instances} == {TaskState.SKIPPED}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: cell.expand(), "task group 'cell': expand\\(\\) needs at least one argument"),
        (
            lambda: cell.partial(x=1).expand(x=[1]),
            r"task group 'cell': \['x'\] given to both partial\(\) and expand\(\)",
        ),
        (lambda: cell.expand(x=3), "expand\\(\\) needs a list, a dict or a task's result for 'x'"),
        (
            lambda: cell.expand(x=[1], y=[1]),
            "task group 'cell': got an unexpected keyword argument 'y'",
        ),
    ],
)
def test_a_bad_expand_fails_in_one_line(make: object, message: str) -> None:
    """Each wrong use of expand() fails where the DAG is defined, naming the group."""
    with DAG("bad"), pytest.raises(DagDefinitionError, match=message):
        make()  # type: ignore[operator]


def test_a_mapped_task_inside_a_mapped_group_is_refused() -> None:
    """Mapping within a mapped group fails saying it is not supported yet."""

    @task_group
    def nested(x: int) -> object:
        return double.expand(x=[x])

    with DAG("nested"), pytest.raises(DagDefinitionError, match="is mapped inside the mapped"):
        nested.expand(x=[1])
