"""Restarts on a real SQLite file: graceful shutdown, interrupted tries and resumed sensors."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncflow import DAG, DagRunState, Engine, ProcessSetup, Sensor, TaskState, task
from asyncflow.settings import Settings
from asyncflow.task_logs import try_log_path
from asyncflow.testing import watch_pokes

pytestmark = pytest.mark.anyio


def settings(grace: float) -> Settings:
    """Settings with a short shutdown grace period."""
    return Settings.from_env(shutdown_grace_seconds=grace)


def slow_dag(started: anyio.Event, seconds: float, retries: int = 0) -> DAG:
    """One task that prints its try, sets ``started`` then sleeps ``seconds``."""
    with DAG("slow", default_args={"retries": retries, "retry_delay": 0}) as built:

        @task
        async def work(ti: Any) -> str:
            print(f"work runs as try {ti.try_number}")
            started.set()
            await anyio.sleep(seconds)
            return "done"

        work()
    return built


async def test_graceful_exit_lets_a_running_task_finish(tmp_path: Path) -> None:
    """Leaving the engine while a task runs waits for it within the grace period."""
    url = f"sqlite:///{tmp_path / 'af.db'}"
    started = anyio.Event()
    async with Engine(url, dags=[slow_dag(started, 0.2)], settings=settings(10)) as engine:
        run = await engine.trigger("slow")
        with anyio.fail_after(5):
            await started.wait()
    async with Engine(url) as reader:
        after = await reader.get_run(run.run_id)
    assert after.ti("work").state is TaskState.SUCCESS
    assert after.xcom("work") == "done"


async def test_a_try_past_the_grace_period_is_interrupted_and_runs_again(tmp_path: Path) -> None:
    """A try cut off by a shutdown keeps its number; the restart runs try 2 in its own log file.

    The interrupted try does not count against retries: with ``retries=0`` the
    task still gets its second try.
    """
    url = f"sqlite:///{tmp_path / 'af.db'}"
    started = anyio.Event()
    logs = Settings.from_env().task_logs_folder
    capture = ProcessSetup(capture_output=True)  # what each try prints goes to its log
    with anyio.fail_after(10):
        dags = [slow_dag(started, 60)]
        async with Engine(url, dags=dags, settings=settings(0.05), process=capture) as engine:
            run = await engine.trigger("slow")
            await started.wait()
    async with Engine(url) as reader:
        stopped = await reader.get_run(run.run_id)
    ti = stopped.ti("work")
    assert ti.state is None
    assert ti.try_number == 1
    assert ti.error == "interrupted: the engine shut down during try 1"
    assert stopped.state is DagRunState.RUNNING

    again = anyio.Event()
    async with Engine(url, dags=[slow_dag(again, 0)], process=capture) as engine:
        with anyio.fail_after(10):
            finished = await engine.wait(run.run_id)
    assert finished.state is DagRunState.SUCCESS
    assert (finished.ti("work").state, finished.ti("work").try_number) == (TaskState.SUCCESS, 2)
    first, second = (try_log_path(logs, "slow", run.run_id, "work", -1, n) for n in (1, 2))
    assert "work runs as try 1" in first.read_text()
    assert "try 2" not in first.read_text()
    assert "work runs as try 2" in second.read_text()
    assert "try 1" not in second.read_text()


async def crash_leftover(url: str, retries: int) -> str:
    """A run whose task a dead process left 'running' in the store; returns the run id."""
    started = anyio.Event()
    with anyio.fail_after(10):
        async with Engine(url, dags=[slow_dag(started, 60)], settings=settings(0.01)) as engine:
            run = await engine.trigger("slow")
            await started.wait()
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:  # what a SIGKILL leaves
        db.execute(
            "UPDATE task_instance SET state = 'running', try_number = 1, owner = 'deadhost:1:x', "
            "interrupted_tries = 0 "
            "WHERE dag_id = 'slow' AND run_id = ?",
            (run.run_id,),
        )
    return run.run_id


@pytest.mark.parametrize(
    ("retries", "state", "tries"), [(1, TaskState.SUCCESS, 2), (0, TaskState.FAILED, 1)]
)
async def test_a_try_left_running_by_a_dead_process_is_retried_or_failed(
    tmp_path: Path, retries: int, state: TaskState, tries: int
) -> None:
    """An orphaned running try is recorded interrupted: retried, or failed when out of tries."""
    url = f"sqlite:///{tmp_path / 'af.db'}"
    run_id = await crash_leftover(url, retries)
    async with Engine(url, dags=[slow_dag(anyio.Event(), 0, retries=retries)]) as engine:
        with anyio.fail_after(10):
            result = await engine.wait(run_id)
    ti = result.ti("work")
    assert (ti.state, ti.try_number) == (state, tries)
    assert ti.error == (
        "interrupted: the engine running try 1 stopped without recording its outcome "
        "(owner deadhost:1:x)"
    )


class FlagSensor(Sensor):
    """Done once ``flag`` exists; records every poke's time."""

    def __init__(self, *, flag: Path, pokes: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flag = flag
        self.pokes = pokes

    async def poke(self, context: Any) -> bool:
        self.pokes.append(anyio.current_time())
        return self.flag.exists()


async def test_a_reschedule_sensor_resumes_with_its_times_after_a_restart(tmp_path: Path) -> None:
    """A parked sensor keeps its next poke, first poke and poke count across engines."""
    url = f"sqlite:///{tmp_path / 'af.db'}"
    flag = tmp_path / "flag"
    pokes: list[Any] = []

    def build() -> DAG:
        with DAG("parked") as built:
            FlagSensor(task_id="wait", flag=flag, pokes=pokes, poke_interval=0.5, mode="reschedule")
        return built

    first = build()
    sensor = first.get_task("wait")
    assert isinstance(sensor, FlagSensor)
    probe = watch_pokes(sensor)
    async with Engine(url, dags=[first]) as engine:
        run = await engine.trigger("parked")
        with anyio.fail_after(5):
            await probe.waiting.wait()
    async with Engine(url) as reader:
        parked = (await reader.store.get_task_instances("parked", run.run_id))[0]
    assert parked.state is TaskState.UP_FOR_RESCHEDULE
    assert parked.poke_count == 1
    flag.touch()
    async with Engine(url, dags=[build()]) as engine:
        with anyio.fail_after(10):
            result = await engine.wait(run.run_id)
        record = (await engine.store.get_task_instances("parked", run.run_id))[0]
    assert result.ti("wait").state is TaskState.SUCCESS
    assert record.first_poke_at == parked.first_poke_at
    assert record.poke_count == 2
    assert record.end_date is not None
    assert parked.next_poke_at is not None
    assert record.end_date >= parked.next_poke_at  # not poked before its time


async def test_poke_sensors_waiting_between_pokes_stop_at_once_and_resume(tmp_path: Path) -> None:
    """A graceful exit does not wait for waiting poke-mode sensors; a restart resumes them."""
    url = f"sqlite:///{tmp_path / 'af.db'}"
    flag = tmp_path / "flag"
    pokes: list[Any] = []

    def build() -> DAG:
        with DAG("held") as built:
            for i in range(3):
                FlagSensor(task_id=f"wait{i}", flag=flag, pokes=pokes, poke_interval=3600)
        return built

    first = build()
    probes = [watch_pokes(task) for task in first.tasks if isinstance(task, FlagSensor)]
    with anyio.fail_after(5):  # the grace period is 60 s: nothing may wait for it
        async with Engine(url, dags=[first], settings=settings(60)) as engine:
            run = await engine.trigger("held")
            for probe in probes:
                await probe.waiting.wait()
    async with Engine(url) as reader:
        stopped = await reader.store.get_task_instances("held", run.run_id)
    assert [(r.state, r.try_number, r.interrupted_tries) for r in stopped] == [(None, 1, 1)] * 3
    assert all(r.first_poke_at is not None for r in stopped)
    flag.touch()
    async with Engine(url, dags=[build()]) as engine:
        with anyio.fail_after(10):
            result = await engine.wait(run.run_id)
        resumed = await engine.store.get_task_instances("held", run.run_id)
    assert result.state is DagRunState.SUCCESS
    assert [r.try_number for r in resumed] == [2, 2, 2]  # the interrupted try kept its number
    assert [r.first_poke_at for r in resumed] == [r.first_poke_at for r in stopped]


async def test_an_error_in_the_body_records_waiting_poke_sensors_as_interrupted(
    tmp_path: Path,
) -> None:
    """Leaving the engine with an error still records poke-mode sensors held between pokes."""
    url = f"sqlite:///{tmp_path / 'af.db'}"
    pokes: list[Any] = []
    with DAG("held_error") as built:
        sensor = FlagSensor(
            task_id="wait", flag=tmp_path / "never", pokes=pokes, poke_interval=3600
        )
    probe = watch_pokes(sensor)

    async def serve_then_fail() -> str:
        async with Engine(url, dags=[built]) as engine:
            run = await engine.trigger("held_error")
            with anyio.fail_after(5):
                await probe.waiting.wait()
            raise RuntimeError(f"the service failed during {run.run_id}")

    with pytest.raises(RuntimeError, match="the service failed") as failed:
        await serve_then_fail()
    run_id = str(failed.value).rsplit(" ", 1)[1]
    async with Engine(url) as reader:
        (record,) = await reader.store.get_task_instances("held_error", run_id)
    assert (record.state, record.try_number, record.interrupted_tries) == (None, 1, 1)
    assert record.error == "interrupted: the engine shut down during try 1"


async def test_a_branch_still_skips_after_a_restart_that_lost_its_skips(tmp_path: Path) -> None:
    """A process stopped between a branch's success and its skips: the restart skips, not runs."""
    url = f"sqlite:///{tmp_path / 'af.db'}"
    ran: list[str] = []

    def build() -> DAG:
        with DAG("branchy") as built:

            @task.branch
            def choose() -> str:
                return "left"

            @task
            def left() -> None:
                ran.append("left")

            @task
            def right() -> None:
                ran.append("right")

            choose() >> [left(), right()]
        return built

    async with Engine(url, dags=[build()]) as engine:
        with anyio.fail_after(10):
            first = await engine.run("branchy")
    assert ran == ["left"]
    # the store as a stop right after the branch left it
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        db.execute(
            "UPDATE task_instance SET state = NULL, try_number = 0, start_date = NULL, "
            "end_date = NULL WHERE run_id = ? AND task_id != 'choose'",
            (first.run_id,),
        )
        db.execute(
            "UPDATE dag_run SET state = 'running', end_date = NULL WHERE run_id = ?",
            (first.run_id,),
        )
    ran.clear()
    async with Engine(url, dags=[build()]) as engine:
        with anyio.fail_after(10):
            resumed = await engine.wait(first.run_id)
    assert ran == ["left"]
    assert resumed.ti("right").state is TaskState.SKIPPED
    assert resumed.state is DagRunState.SUCCESS


async def test_a_later_poke_in_flight_at_a_graceful_exit_is_interrupted_at_once(
    tmp_path: Path,
) -> None:
    """A poke-mode sensor whose second poke is waiting on I/O stops at once and is resumable."""
    url = f"sqlite:///{tmp_path / 'af.db'}"
    in_flight = anyio.Event()
    cleaned_up = anyio.Event()
    with DAG("in_flight") as built:

        @task.sensor(poke_interval=0.05)
        async def wait(ti: Any) -> bool:
            if ti.poke_count == 0:
                return False
            in_flight.set()
            try:
                await anyio.sleep_forever()  # e.g. a request that does not answer
            finally:
                cleaned_up.set()
            return True  # pragma: no cover - cancelled above

        wait()
    with anyio.fail_after(5):  # the grace period is 60 s: nothing may wait for it
        async with Engine(url, dags=[built], settings=settings(60)) as engine:
            run = await engine.trigger("in_flight")
            await in_flight.wait()
        await cleaned_up.wait()
    async with Engine(url) as reader:
        (record,) = await reader.store.get_task_instances("in_flight", run.run_id)
    assert (record.state, record.try_number, record.interrupted_tries) == (None, 1, 1)
    assert record.error == "interrupted: the engine shut down during try 1"
