"""Mapping classic operators and sensors: ``SomeOperator.partial(task_id=...).expand(...)``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from asyncflow import (
    DAG,
    BashOperator,
    DagRunState,
    Engine,
    Operator,
    PokeReturnValue,
    Sensor,
    TaskState,
    task,
)
from asyncflow.cli.task_test import CannotTest, run_task_once
from asyncflow.exceptions import DagDefinitionError
from asyncflow.settings import Settings
from asyncflow.testing import FakeClock, MemoryStore


class Scale(Operator):
    """Returns ``value * factor``; rejects a negative value when it is built."""

    def __init__(self, *, value: int, factor: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if value < 0:
            raise ValueError(f"Scale needs a value >= 0, got {value}")
        self.value = value
        self.factor = factor

    async def execute(self, context: Any) -> int:
        return self.value * self.factor


class ReadyAfter(Sensor):
    """Done on its ``pokes``-th poke, returning its label."""

    def __init__(self, *, label: str, pokes: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label
        self.pokes = pokes

    async def poke(self, context: Any) -> PokeReturnValue:
        done = context["ti"].poke_count + 1 >= self.pokes
        return PokeReturnValue(done, xcom_value=f"{self.label} after {self.pokes}")


def test_partial_and_expand_over_a_literal_list_run_one_operator_per_value() -> None:
    """Each instance is built with the shared and its own keywords; results keep their order."""
    with DAG("scaled") as built:
        Scale.partial(task_id="scale", factor=10).expand(value=[1, 2, 3])
    result = built.test()
    assert result.state is DagRunState.SUCCESS
    assert [result.xcom("scale", map_index=i) for i in range(3)] == [10, 20, 30]
    assert list(built.task_dict) == ["scale"]


def test_expand_over_an_upstream_result_feeds_a_classic_operator() -> None:
    """Mapping over an upstream task's list adds the dependency and passes each value."""
    with DAG("from_upstream") as built:

        @task
        def values() -> list[int]:
            return [4, 5]

        @task
        def collect(scaled: list[int]) -> list[int]:
            return scaled

        collect(Scale.partial(task_id="scale", factor=2).expand(value=values()))
    result = built.test()
    assert result.xcom("collect") == [8, 10]
    assert built.get_task("scale").upstream_task_ids == {"values"}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["poke", "reschedule"])
async def test_mapped_sensors_wait_in_their_mode_each_with_its_own_value(mode: str) -> None:
    """A mapped Sensor subclass pokes per instance, in poke and in reschedule mode."""
    with DAG(f"mapped_{mode}") as built:
        ReadyAfter.partial(task_id="wait", mode=mode, poke_interval=60).expand(
            label=["a", "b"], pokes=[1, 3]
        )
    clock = FakeClock()
    async with Engine(MemoryStore(), dags=[built], clock=clock) as engine:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(clock.autojump)
                result = await engine.run(built.dag_id)
                tg.cancel_scope.cancel()
    assert result.state is DagRunState.SUCCESS
    values = [result.xcom("wait", map_index=i) for i in range(4)]
    assert values == ["a after 1", "a after 3", "b after 1", "b after 3"]
    assert built.get_task("wait").mode == mode


def test_bash_operator_maps_over_commands() -> None:
    """BashOperator.partial().expand(bash_command=...) runs each command."""
    with DAG("echoes") as built:
        BashOperator.partial(task_id="say").expand(bash_command=["echo one", "echo two"])
    result = built.test()
    assert [result.xcom("say", map_index=i) for i in range(2)] == ["one", "two"]


def test_a_value_the_operator_rejects_fails_only_that_instance() -> None:
    """The operator's own check runs per instance; its message is the instance's error."""
    with DAG("rejected") as built:
        Scale.partial(task_id="scale").expand(value=[1, -1, 2])
    result = built.test()
    assert result.state is DagRunState.FAILED
    states = [result.ti("scale", i).state for i in range(3)]
    assert states == [TaskState.SUCCESS, TaskState.FAILED, TaskState.SUCCESS]
    assert result.ti("scale", 1).error == "ValueError: Scale needs a value >= 0, got -1"


def test_an_empty_list_skips_the_mapped_operator() -> None:
    """Mapping a classic operator over nothing skips it, as for TaskFlow tasks."""
    with DAG("nothing") as built:
        Scale.partial(task_id="scale").expand(value=[])
    assert built.test().ti("scale").state is TaskState.SKIPPED


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Scale.partial(factor=2), "Scale.partial() needs task_id="),
        (lambda: Scale.partial(task_id="s").expand(), "task 's': expand() needs at least one"),
        (
            lambda: Scale.partial(task_id="s", value=1).expand(value=[2]),
            "task 's': ['value'] given to both partial() and expand()",
        ),
        (
            lambda: ReadyAfter.partial(task_id="s").expand(label=["a"], mode=["poke"]),
            "task 's': ['mode'] cannot be mapped (every instance shares them); give them to "
            "partial()",
        ),
        (
            lambda: Scale.partial(task_id="s").expand(value=3),
            "task 's': expand() needs a list, a dict or a task's result for 'value', got int 3",
        ),
    ],
)
def test_mapping_mistakes_fail_at_definition(build: Any, message: str) -> None:
    """Each mistake is one clear error when the DAG is defined, and adds no task."""
    with DAG("mistakes") as built, pytest.raises(DagDefinitionError) as raised:
        build()
    assert str(raised.value).startswith(message)
    assert built.task_dict == {}


def test_partial_rejects_an_upstream_result() -> None:
    """Upstream results go to expand(); partial() takes plain values only."""
    with DAG("upstream_in_partial") as built:

        @task
        def factor() -> int:
            return 2

        source = factor()
        with pytest.raises(DagDefinitionError) as raised:
            Scale.partial(task_id="s", factor=source)
    assert "Scale.partial() takes plain values; pass an upstream task's result to expand()" in str(
        raised.value
    )
    assert list(built.task_dict) == ["factor"]


@pytest.mark.anyio
async def test_tasks_test_runs_one_instance_on_its_own_operator() -> None:
    """`asyncflow tasks test` builds the operator of the chosen map index and runs it."""
    with DAG("tested") as built:
        Scale.partial(task_id="scale", factor=3).expand(value=[1, -1, 2])
    scale = built.get_task("scale")
    settings = Settings.from_env()
    now = datetime.now(UTC)
    result = await run_task_once(scale, logical_date=now, settings=settings, map_index=2)
    assert (result.state, result.return_value) == (TaskState.SUCCESS, 6)
    with pytest.raises(CannotTest) as raised:
        await run_task_once(scale, logical_date=now, settings=settings, map_index=1)
    assert str(raised.value) == "task 'scale'[1]: Scale needs a value >= 0, got -1"
