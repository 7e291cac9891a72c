"""Dynamic task mapping: expand and partial over literals and upstream results."""

from __future__ import annotations

from typing import Any

import pytest

from asyncflow import DagRunState, EmptyOperator, TaskState, dag, task
from asyncflow.settings import Settings


def test_expand_over_a_literal_list_gives_results_in_map_index_order() -> None:
    """Each value gets an instance; downstream receives the results as a list in order."""

    @dag()
    def mapped() -> None:
        @task
        async def double(x: int) -> int:
            return 2 * x

        @task
        def total(values: list[int]) -> int:
            return sum(values)

        total(double.expand(x=[1, 2, 3]))

    result = mapped().test()
    assert [result.ti("double", i).state for i in range(3)] == [TaskState.SUCCESS] * 3
    assert [result.xcom("double", map_index=i) for i in range(3)] == [2, 4, 6]
    assert result.xcom("total") == 12


def test_expand_over_an_upstream_result_with_partial() -> None:
    """partial() fixes an argument; expand() maps over a list returned upstream."""

    @dag()
    def from_upstream() -> None:
        @task
        def numbers() -> list[int]:
            return [10, 20]

        @task
        def add(x: int, y: int) -> int:
            return x + y

        @task
        def collect(values: list[int]) -> list[int]:
            return values

        collect(add.partial(y=1).expand(x=numbers()))

    assert from_upstream().test().xcom("collect") == [11, 21]


def test_expand_over_two_arguments_makes_the_cross_product() -> None:
    """Two mapped arguments give one instance per combination, the last varying fastest."""

    @dag()
    def product() -> None:
        @task
        def pair(a: str, b: int) -> str:
            return f"{a}{b}"

        @task
        def collect(values: list[str]) -> list[str]:
            return values

        collect(pair.expand(a=["x", "y"], b=[1, 2, 3]))

    assert product().test().xcom("collect") == ["x1", "x2", "x3", "y1", "y2", "y3"]


def test_expand_over_a_dict_maps_its_items() -> None:
    """A dict is mapped over its (key, value) pairs."""

    @dag()
    def items() -> None:
        @task
        def show(item: list[Any]) -> str:
            key, value = item
            return f"{key}={value}"

        @task
        def collect(values: list[str]) -> list[str]:
            return values

        collect(show.expand(item={"a": 1, "b": 2}))

    assert items().test().xcom("collect") == ["a=1", "b=2"]


def test_mapping_over_an_empty_list_skips_the_task_and_its_downstream() -> None:
    """An empty list skips the mapped task; all_success downstream is skipped."""

    @dag()
    def empty() -> None:
        @task
        def nothing() -> list[int]:
            return []

        @task
        def each(x: int) -> int:
            return x

        @task
        def after(values: list[int]) -> int:
            return len(values)

        after(each.expand(x=nothing()))

    result = empty().test()
    assert result.ti("each").state is TaskState.SKIPPED
    assert result.ti("after").state is TaskState.SKIPPED
    assert result.state is DagRunState.SUCCESS


def test_mapping_over_a_non_list_fails_the_task_with_a_clear_error() -> None:
    """An upstream value that is not a list or dict fails the mapped task, naming it."""

    @dag()
    def not_a_list() -> None:
        @task
        def number() -> int:
            return 5

        @task
        def each(x: int) -> int:
            return x

        each.expand(x=number())

    result = not_a_list().test()
    ti = result.ti("each")
    assert ti.state is TaskState.FAILED
    assert ti.error == "task 'each' cannot expand over 'x': got int; expand needs a list or a dict"
    assert result.state is DagRunState.FAILED


def test_mapping_beyond_max_map_length_fails_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """More instances than max_map_length fail the task and name the setting to raise."""
    monkeypatch.setenv("ASYNCFLOW_MAX_MAP_LENGTH", "3")
    assert Settings.from_env().max_map_length == 3

    @dag()
    def too_many() -> None:
        @task
        def each(x: int) -> int:
            return x

        each.expand(x=[1, 2, 3, 4])

    ti = too_many().test().ti("each")
    assert ti.state is TaskState.FAILED
    assert ti.error is not None
    assert "4 instances, over the limit of 3; raise it with ASYNCFLOW_MAX_MAP_LENGTH" in ti.error


def test_a_mapped_instance_failure_upstream_fails_the_join() -> None:
    """One failed mapped instance makes an all_success downstream upstream_failed."""

    @dag()
    def one_bad() -> None:
        @task
        def check(x: int) -> int:
            if x == 2:
                raise ValueError("two is bad")
            return x

        check.expand(x=[1, 2, 3]) >> EmptyOperator(task_id="after")

    result = one_bad().test()
    assert result.ti("check", 1).state is TaskState.FAILED
    assert result.ti("check", 0).state is TaskState.SUCCESS
    assert result.ti("after").state is TaskState.UPSTREAM_FAILED


def test_mapped_instances_see_their_map_index() -> None:
    """Each mapped instance's context has its own map_index."""

    @dag()
    def indexes() -> None:
        @task
        def which(x: str, map_index: int) -> str:
            return f"{map_index}:{x}"

        @task
        def collect(values: list[str]) -> list[str]:
            return values

        collect(which.expand(x=["a", "b"]))

    assert indexes().test().xcom("collect") == ["0:a", "1:b"]


def test_mapping_far_past_1024_items_runs_every_instance() -> None:
    """Mapping over 2,000 items runs every instance (no fixed cap of 1,024, as in Airflow).

    The default limit, max_map_length, allows 262,144 (tests/unit/test_settings.py);
    100,000 instances are stored and read back quickly in tests/storage, and run
    in the benchmarks of docs/performance.md.
    """

    @dag()
    def huge() -> None:
        @task
        async def each(x: int) -> None:
            return None

        @task
        async def count(values: list[Any]) -> int:
            return len(values)

        count(each.expand(x=list(range(2_000))))

    result = huge().test()
    assert result.state is DagRunState.SUCCESS
    assert result.ti("each", 1_999).state is TaskState.SUCCESS
    assert result.xcom("count") == 2_000
