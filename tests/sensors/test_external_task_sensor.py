"""ExternalTaskSensor against real runs of another DAG in the same engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from sensor_helpers import LIMIT, MODES

from asyncflow import (
    DAG,
    DagDefinitionError,
    DagRunResult,
    DagRunState,
    EmptyOperator,
    Engine,
    SkipTask,
    TaskState,
    task,
)
from asyncflow.testing import watch_pokes
from sensors import ExternalTaskSensor

pytestmark = pytest.mark.anyio

DAY = datetime(2024, 1, 1, tzinfo=UTC)
RUN_OF_DAY = "manual__2024-01-01T00:00:00.000000+00:00"
QUICK = {"poke_interval": 0.01}


def upstream(gate: anyio.Event | None = None, *, outcome: str = "success") -> DAG:
    """DAG "up": task "extract" (waits for ``gate``, then succeeds, fails or skips) >> "load"."""
    with DAG("up") as built:

        @task
        async def extract() -> str:
            if gate is not None:
                await gate.wait()
            if outcome == "fail":
                raise ValueError("source unreachable")
            if outcome == "skip":
                raise SkipTask("nothing today")
            return "rows"

        extract() >> EmptyOperator(task_id="load")
    return built


async def start(engine: Engine, built: DAG, logical_date: datetime = DAY) -> str:
    """Add ``built`` to the engine, start a run at ``logical_date``; its run id."""
    engine.add_dag(built)
    return (await engine.trigger(built.dag_id, logical_date=logical_date)).run_id


async def finish(engine: Engine, built: DAG, run_id: str) -> DagRunResult:
    """Wait, bounded, for the run of ``built`` to end."""
    with anyio.fail_after(LIMIT):
        return await engine.wait(run_id, dag_id=built.dag_id)


@pytest.mark.parametrize("mode", MODES)
async def test_waits_for_the_external_task_then_succeeds(mode: str) -> None:
    """The sensor pokes while the external task runs and succeeds once it has succeeded."""
    gate = anyio.Event()
    with DAG(f"down_{mode}") as down:
        sensor = ExternalTaskSensor("up", "extract", task_id="wait", mode=mode, **QUICK)
    probe = watch_pokes(sensor)
    async with Engine("memory://") as engine:
        up_run = await start(engine, upstream(gate))
        down_run = await start(engine, down)
        with anyio.fail_after(LIMIT):
            await probe.waiting.wait()
        gate.set()
        result = await finish(engine, down, down_run)
        assert (await engine.get_run(up_run, dag_id="up")).ti("extract").state == "success"
    assert result.ti("wait").state is TaskState.SUCCESS
    assert probe.results[0] is False
    assert probe.results[-1] is True


async def test_a_run_that_does_not_exist_yet_is_waited_for() -> None:
    """With no external run at its logical date the sensor pokes until one is triggered."""
    with DAG("down") as down:
        sensor = ExternalTaskSensor("up", "extract", task_id="wait", **QUICK)
    probe = watch_pokes(sensor)
    async with Engine("memory://") as engine:
        engine.add_dag(upstream())
        down_run = await start(engine, down)
        with anyio.fail_after(LIMIT):
            await probe.waiting.wait()
        await engine.trigger("up", logical_date=DAY)
        result = await finish(engine, down, down_run)
    assert result.ti("wait").state is TaskState.SUCCESS


async def test_without_a_task_id_it_waits_for_the_whole_run() -> None:
    """With no external task the sensor waits for the external run's own state."""
    gate = anyio.Event()
    with DAG("down") as down:
        sensor = ExternalTaskSensor("up", task_id="wait", **QUICK)
    probe = watch_pokes(sensor)
    async with Engine("memory://") as engine:
        up_run = await start(engine, upstream(gate))
        down_run = await start(engine, down)
        with anyio.fail_after(LIMIT):
            await probe.waiting.wait()
        gate.set()
        result = await finish(engine, down, down_run)
        assert (await engine.get_run(up_run, dag_id="up")).state is DagRunState.SUCCESS
    assert result.ti("wait").state is TaskState.SUCCESS


async def test_several_external_tasks_must_all_be_allowed() -> None:
    """With external_task_ids the sensor is done only when every listed task is."""
    gate = anyio.Event()
    with DAG("down") as down:
        sensor = ExternalTaskSensor(
            "up", external_task_ids=["extract", "load"], task_id="wait", **QUICK
        )
    probe = watch_pokes(sensor)
    async with Engine("memory://") as engine:
        await start(engine, upstream(gate))
        down_run = await start(engine, down)
        with anyio.fail_after(LIMIT):
            await probe.waiting.wait()
        gate.set()
        result = await finish(engine, down, down_run)
    assert result.ti("wait").state is TaskState.SUCCESS


@pytest.mark.parametrize(
    ("soft_fail", "state"), [(False, TaskState.FAILED), (True, TaskState.SKIPPED)]
)
async def test_a_failed_external_task_fails_the_sensor_naming_it(
    soft_fail: bool, state: TaskState
) -> None:
    """An external task in failed_states fails the sensor at once (skips it with soft_fail)."""
    with DAG("down") as down:
        ExternalTaskSensor(
            "up",
            "extract",
            failed_states=["failed", "upstream_failed"],
            soft_fail=soft_fail,
            retries=2,
            task_id="wait",
            **QUICK,
        )
    async with Engine("memory://") as engine:
        await start(engine, upstream(outcome="fail"))
        result = await finish(engine, down, await start(engine, down))
    ti = result.ti("wait")
    assert (ti.state, ti.try_number) == (state, 1)
    if not soft_fail:
        assert ti.error == (
            f"FailTask: external task 'extract' of DAG 'up' in run {RUN_OF_DAY!r} is failed"
        )


async def test_a_failed_external_run_fails_the_sensor_naming_it() -> None:
    """Without a task id, a run state in failed_states fails the sensor, naming DAG and run."""
    with DAG("down") as down:
        ExternalTaskSensor("up", failed_states=["failed"], task_id="wait", **QUICK)
    async with Engine("memory://") as engine:
        await start(engine, upstream(outcome="fail"))
        result = await finish(engine, down, await start(engine, down))
    assert result.ti("wait").error == (f"FailTask: external DAG 'up' run {RUN_OF_DAY!r} is failed")


async def test_a_skipped_external_task_skips_the_sensor() -> None:
    """An external task in skipped_states skips the sensor and its all_success downstream."""
    with DAG("down") as down:
        wait = ExternalTaskSensor(
            "up", "extract", skipped_states=["skipped"], task_id="wait", **QUICK
        )
        wait >> EmptyOperator(task_id="after")
    async with Engine("memory://") as engine:
        await start(engine, upstream(outcome="skip"))
        result = await finish(engine, down, await start(engine, down))
    assert result.ti("wait").state is TaskState.SKIPPED
    assert result.ti("after").state is TaskState.SKIPPED
    assert result.state is DagRunState.SUCCESS


async def test_an_explicit_run_id_picks_the_run_whatever_its_date() -> None:
    """external_run_id watches that run, though its logical date differs from this run's."""
    with DAG("down") as down:
        ExternalTaskSensor("up", "extract", external_run_id=RUN_OF_DAY, task_id="wait", **QUICK)
    async with Engine("memory://") as engine:
        await start(engine, upstream(), DAY)
        down_run = await start(engine, down, DAY + timedelta(days=30))
        result = await finish(engine, down, down_run)
    assert result.ti("wait").state is TaskState.SUCCESS


async def test_execution_delta_shifts_the_logical_date_watched() -> None:
    """With execution_delta=1h, a run at 01:00 watches the external run at 00:00."""
    with DAG("down") as down:
        ExternalTaskSensor(
            "up", "extract", execution_delta=timedelta(hours=1), task_id="wait", **QUICK
        )
    async with Engine("memory://") as engine:
        await start(engine, upstream(), DAY)
        result = await finish(engine, down, await start(engine, down, DAY + timedelta(hours=1)))
    assert result.ti("wait").state is TaskState.SUCCESS


def shift_back(logical_date: datetime, context: dict[str, Any]) -> datetime:
    """An execution_date_fn of Airflow's (date, context) form: one hour earlier."""
    assert context["dag"].dag_id == "down"
    return logical_date - timedelta(hours=1)


def both_hours(logical_date: datetime, **context: Any) -> list[datetime]:
    """An execution_date_fn of Airflow's keyword form, watching two runs."""
    assert context["context"]["logical_date"] == logical_date
    return [logical_date - timedelta(hours=1), logical_date - timedelta(hours=2)]


@pytest.mark.parametrize(
    "date_fn",
    [
        shift_back,
        lambda logical_date: (logical_date - timedelta(hours=1)).replace(tzinfo=None),
        both_hours,
        lambda logical_date: [],
    ],
    ids=["date-and-context", "date-only-naive", "keywords-list", "empty-list-watches-nothing"],
)
async def test_execution_date_fn_chooses_the_runs_watched(
    date_fn: Callable[..., Any],
) -> None:
    """execution_date_fn is called in Airflow's forms; a list watches all its runs."""
    with DAG("down") as down:
        ExternalTaskSensor("up", "extract", execution_date_fn=date_fn, task_id="wait", **QUICK)
    async with Engine("memory://") as engine:
        await start(engine, upstream(), DAY - timedelta(hours=1))
        await start(engine, upstream(), DAY - timedelta(hours=2))
        result = await finish(engine, down, await start(engine, down, DAY))
    assert result.ti("wait").state is TaskState.SUCCESS


async def test_a_bad_execution_date_fn_result_fails_the_poke() -> None:
    """A date function returning something else than datetimes fails the try, saying so."""
    with DAG("down") as down:
        ExternalTaskSensor(
            "up", "extract", execution_date_fn=lambda d: "yesterday", task_id="wait", **QUICK
        )
    async with Engine("memory://") as engine:
        result = await finish(engine, down, await start(engine, down))
    assert result.ti("wait").error == (
        "TypeError: execution_date_fn of sensor 'wait' must return a datetime or a list of "
        "datetimes, got 'yesterday'"
    )


async def test_a_mapped_external_task_is_watched_through_every_instance() -> None:
    """Every instance of a mapped task counts: one failed instance fails or blocks the sensor."""
    with DAG("up") as up:

        @task
        def part(n: int) -> int:
            if n == 2:
                raise ValueError("bad part")
            return n

        @task
        def good(n: int) -> int:
            return n

        part.expand(n=[0, 1, 2])
        good.expand(n=[0, 1, 2])
    with DAG("down") as down:
        ExternalTaskSensor("up", "good", task_id="all_good", **QUICK)
        ExternalTaskSensor("up", "part", failed_states=["failed"], task_id="sees_failure", **QUICK)
        ExternalTaskSensor("up", "part", task_id="never_done", timeout=0.1, **QUICK)
    async with Engine("memory://") as engine:
        await finish(engine, up, await start(engine, up))
        result = await finish(engine, down, await start(engine, down))
    assert result.ti("all_good").state is TaskState.SUCCESS
    assert result.ti("sees_failure").error == (
        f"FailTask: external task 'part[2]' of DAG 'up' in run {RUN_OF_DAY!r} is failed"
    )
    never = result.ti("never_done")
    assert never.state is TaskState.FAILED
    assert never.error is not None
    assert never.error.startswith("SensorTimeout:")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"external_dag_id": ""}, "external_dag_id must be a non-empty string, got ''"),
        (
            {"external_task_id": "a", "external_task_ids": ["b"]},
            "pass external_task_id or external_task_ids, not both",
        ),
        (
            {"external_task_ids": []},
            "external_task_ids is empty: leave it out to watch the whole run",
        ),
        ({"external_task_ids": ["a", "b", "a"]}, "external_task_ids repeats a"),
        (
            {"external_task_id": "a", "allowed_states": ["success"], "failed_states": ["success"]},
            "allowed_states and failed_states overlap: success",
        ),
        (
            {"external_task_id": "a", "failed_states": ["skipped"], "skipped_states": ["skipped"]},
            "failed_states and skipped_states overlap: skipped",
        ),
        (
            {"external_task_id": "a", "allowed_states": ["done"]},
            "allowed_states has 'done', not a task state; use one of scheduled, queued, "
            "running, success, failed, skipped, upstream_failed, up_for_retry, up_for_reschedule",
        ),
        (
            {"skipped_states": ["skipped"]},
            "skipped_states has 'skipped', not a DAG run state; use one of queued, running, "
            "success, failed (name external_task_id to watch task states)",
        ),
        (
            {"execution_delta": timedelta(hours=1), "execution_date_fn": shift_back},
            "pass execution_delta or execution_date_fn, not both",
        ),
        (
            {"external_run_id": RUN_OF_DAY, "execution_delta": 3600},
            "external_run_id names the run: leave out execution_delta and execution_date_fn",
        ),
        (
            {"execution_date_fn": "yesterday"},
            "execution_date_fn must be callable, got 'yesterday'",
        ),
        (
            {"execution_date_fn": lambda: DAY},
            "execution_date_fn must take the logical date as its first argument",
        ),
        (
            {"execution_delta": "1h"},
            "execution_delta must be a timedelta or a number of seconds, got '1h'",
        ),
    ],
    ids=[
        "empty-dag-id",
        "task-id-and-ids",
        "empty-ids",
        "duplicate-ids",
        "allowed-failed-overlap",
        "failed-skipped-overlap",
        "unknown-task-state",
        "task-state-for-a-run",
        "delta-and-fn",
        "run-id-and-delta",
        "fn-not-callable",
        "fn-without-a-date",
        "delta-string",
    ],
)
def test_bad_arguments_fail_at_definition(kwargs: dict[str, Any], message: str) -> None:
    """Contradicting or unknown arguments fail when the DAG is defined, in one line."""
    kwargs = {"external_dag_id": "up", **kwargs}
    with DAG("bad_external"), pytest.raises(DagDefinitionError) as info:
        ExternalTaskSensor(task_id="wait", **kwargs)
    assert str(info.value) == f"task 'wait': {message}"
