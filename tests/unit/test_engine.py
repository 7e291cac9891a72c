"""The Engine's public API: trigger, wait, get_run, run; limits, pools, priority, readiness."""

from __future__ import annotations

import gc
import time
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from structlog.testing import capture_logs

from asyncflow import DAG, DagRunState, EmptyOperator, Engine, ProcessSetup, TaskState, dag, task
from asyncflow.exceptions import DagNotFound, DagRunNotFound, EngineError
from asyncflow.settings import Settings

pytestmark = pytest.mark.anyio

WATCHED = ProcessSetup(watchdog=True)  # the loop watchdog is an opt-in


def gated_dag(dag_id: str, gate: anyio.Event, started: anyio.Event | None = None) -> DAG:
    """A DAG whose only task sets ``started`` and waits for ``gate``."""
    with DAG(dag_id) as built:

        @task
        async def hold() -> str:
            if started is not None:
                started.set()
            await gate.wait()
            return "released"

        hold()
    return built


async def test_trigger_returns_at_once_and_wait_returns_the_finished_run() -> None:
    """trigger() returns a running run; wait() returns it finished with results."""
    gate, running = anyio.Event(), anyio.Event()
    async with Engine("memory://", dags=[gated_dag("gated", gate, running)]) as engine:
        started = await engine.trigger("gated")
        assert started.state is DagRunState.RUNNING
        assert started.run_id.startswith("manual__")
        with anyio.fail_after(5):
            await running.wait()
        now = await engine.get_run(started.run_id)
        assert now.ti("hold").state is TaskState.RUNNING
        gate.set()
        with anyio.fail_after(5):
            done = await engine.wait(started.run_id)
    assert done.state is DagRunState.SUCCESS
    assert done.xcom("hold") == "released"
    assert done.end_date is not None


async def test_wait_times_out_with_timeout_error() -> None:
    """wait(timeout=...) raises TimeoutError while the run is still going."""
    gate = anyio.Event()
    async with Engine("memory://", dags=[gated_dag("slow", gate)]) as engine:
        started = await engine.trigger("slow")
        with pytest.raises(TimeoutError, match=r"still running after 0\.05 s"):
            await engine.wait(started.run_id, timeout=0.05)
        gate.set()
        with anyio.fail_after(5):
            assert (await engine.wait(started.run_id)).state is DagRunState.SUCCESS


async def test_triggering_the_same_logical_date_twice_returns_the_same_run() -> None:
    """A second trigger with the same logical date is a no-op returning the first run."""
    when = datetime(2026, 5, 1, tzinfo=UTC)
    runs = 0

    @dag()
    def once() -> None:
        @task
        def count() -> None:
            nonlocal runs
            runs += 1

        count()

    async with Engine("memory://", dags=[once()]) as engine:
        first = await engine.run("once", logical_date=when)
        second = await engine.trigger("once", logical_date=when)
    assert first.run_id == second.run_id == "manual__2026-05-01T00:00:00.000000+00:00"
    assert second.state is DagRunState.SUCCESS
    assert runs == 1


async def test_run_accepts_a_dag_object_and_conf() -> None:
    """run(dag, conf=...) registers the DAG and passes conf into params."""

    @dag(params={"who": "nobody"})
    def greet() -> None:
        @task
        def hello(params: dict[str, Any]) -> str:
            return f"hello {params['who']}"

        hello()

    async with Engine("memory://") as engine:
        result = await engine.run(greet(), conf={"who": "ada"})
    assert result.xcom("hello") == "hello ada"
    assert result.conf == {"who": "ada"}


async def test_unknown_dag_and_run_ids_raise_clear_errors() -> None:
    """Unknown ids raise errors that name them."""
    async with Engine("memory://") as engine:
        with pytest.raises(DagNotFound, match="no DAG 'missing' is known to the engine"):
            await engine.trigger("missing")
        with pytest.raises(DagRunNotFound, match="no run 'manual__x' in the store"):
            await engine.get_run("manual__x")


async def test_conf_must_be_a_json_object() -> None:
    """A conf that is not a dict or not JSON is refused before a run is created."""

    @dag()
    def strict() -> None:
        EmptyOperator(task_id="a")

    async with Engine("memory://", dags=[strict()]) as engine:
        with pytest.raises(EngineError, match="conf for DAG 'strict' must be a dict"):
            await engine.trigger("strict", conf=["x"])  # type: ignore[arg-type]
        with pytest.raises(EngineError, match="conf for DAG 'strict' must be JSON"):
            await engine.trigger("strict", conf={"when": object()})


async def test_engine_must_be_open_to_trigger() -> None:
    """Using an engine outside its async with block says how to open it."""

    @dag()
    def closed() -> None:
        EmptyOperator(task_id="a")

    engine = Engine("memory://", dags=[closed()])
    with pytest.raises(EngineError, match="async with Engine"):
        await engine.trigger("closed")


def test_engine_rejects_bad_limits() -> None:
    """max_active_tasks and pool sizes must be positive whole numbers."""
    with pytest.raises(EngineError, match="max_active_tasks must be a positive whole number"):
        Engine("memory://", max_active_tasks=0)
    with pytest.raises(EngineError, match="pool 'io' needs a positive whole number of slots"):
        Engine("memory://", pools={"io": 0})


def concurrency_dag(dag_id: str, width: int, **task_kwargs: Any) -> tuple[DAG, list[int]]:
    """A DAG of ``width`` independent tasks recording the peak number running at once."""
    peak = [0, 0]  # [running now, peak]
    with DAG(dag_id, max_active_tasks=task_kwargs.pop("dag_limit", None)) as built:
        for i in range(width):

            @task(task_id=f"t{i}", **task_kwargs)
            async def work() -> None:
                peak[0] += 1
                peak[1] = max(peak[1], peak[0])
                for _ in range(50):  # loop turns in which the engine may start others
                    await anyio.lowlevel.checkpoint()
                peak[0] -= 1

            work()
    return built, peak


async def test_global_max_active_tasks_bounds_concurrency() -> None:
    """No more than the engine's max_active_tasks instances run at once."""
    built, peak = concurrency_dag("wide", 20)
    async with Engine("memory://", dags=[built], max_active_tasks=3) as engine:
        with anyio.fail_after(10):
            result = await engine.run("wide")
    assert result.state is DagRunState.SUCCESS
    assert peak[1] == 3


async def test_dag_max_active_tasks_bounds_its_own_tasks() -> None:
    """A DAG's max_active_tasks bounds its instances under a larger global limit."""
    built, peak = concurrency_dag("limited", 12, dag_limit=2)
    async with Engine("memory://", dags=[built]) as engine:
        with anyio.fail_after(10):
            await engine.run("limited")
    assert peak[1] == 2


async def test_pool_slots_bound_tasks_in_the_pool() -> None:
    """Tasks in a pool never exceed its slots."""
    built, peak = concurrency_dag("pooled", 12, pool="db")
    async with Engine("memory://", dags=[built], pools={"db": 4}) as engine:
        with anyio.fail_after(10):
            await engine.run("pooled")
    assert peak[1] == 4


async def test_unknown_pool_fails_the_task_naming_the_pool() -> None:
    """A task in a pool the engine does not have fails with a clear error."""

    @dag()
    def nopool() -> None:
        EmptyOperator(task_id="a", pool="gpu")

    async with Engine("memory://", dags=[nopool()], pools={"db": 1}) as engine:
        with anyio.fail_after(5):
            result = await engine.run("nopool")
    ti = result.ti("a")
    assert ti.state is TaskState.FAILED
    assert ti.error == (
        "task 'a' uses pool 'gpu', which the engine does not have (pools: db); "
        "pass pools={'gpu': N} to Engine"
    )


async def test_higher_priority_weight_runs_first_when_slots_are_short() -> None:
    """With one slot, queued instances start in priority_weight order."""
    order: list[str] = []
    gate = anyio.Event()
    with DAG("priorities") as built:

        @task
        async def first() -> None:
            await gate.wait()

        blocker = first()
        for name, weight in [("low", 1), ("high", 10), ("mid", 5)]:

            @task(task_id=name, priority_weight=weight)
            async def record(ti: Any) -> None:
                order.append(ti.task_id)

            record()
        del blocker
    async with Engine("memory://", dags=[built], max_active_tasks=1) as engine:
        started = await engine.trigger("priorities")
        gate.set()
        with anyio.fail_after(5):
            await engine.wait(started.run_id)
    assert order == ["high", "mid", "low"]


async def test_readiness_is_incremental(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trigger rules are evaluated once per root and once per edge, never by rescanning."""
    import asyncflow.engine.run_state as run_state

    calls = 0
    real = run_state.decide

    def counting(rule: Any, counts: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(rule, counts)

    monkeypatch.setattr(run_state, "decide", counting)
    width = 200
    with DAG("fan") as built:
        root = EmptyOperator(task_id="root")
        for i in range(width):
            root >> EmptyOperator(task_id=f"mid{i}") >> EmptyOperator(task_id=f"leaf{i}")
    async with Engine("memory://", dags=[built]) as engine:
        with anyio.fail_after(10):
            result = await engine.run("fan")
    assert result.state is DagRunState.SUCCESS
    edges = 2 * width
    assert calls == 1 + edges


@pytest.mark.allow_blocking("the watchdog is shown a task that blocks the loop")
async def test_blocking_the_loop_is_reported_with_the_task() -> None:
    """A task blocking the loop 300 ms is named as it passes the threshold and when it ends."""

    @dag()
    def blocker() -> None:
        @task
        async def naughty() -> None:
            time.sleep(0.3)  # noqa: ASYNC251 - blocking on purpose

        naughty()

    with capture_logs() as logs:
        async with Engine("memory://", dags=[blocker()], process=WATCHED) as engine:
            with anyio.fail_after(5):
                result = await engine.run("blocker")
    warnings = [e for e in logs if e["event"] == "event_loop_blocked"]
    assert warnings, logs
    assert warnings[0]["task_id"] == "naughty"
    assert warnings[0]["dag_id"] == "blocker"
    assert warnings[0]["run_id"] == result.run_id
    assert warnings[0]["blocked_ms"] >= 100
    (ended,) = [e for e in logs if e["event"] == "event_loop_unblocked"]
    assert (ended["task_id"], ended["run_id"]) == ("naughty", result.run_id)
    assert 250 <= ended["blocked_ms"] < 5000  # the whole 300 ms block, not the threshold


def _cyclic_gc_work() -> list[dict[str, list[int]]]:
    """Two million containers for the collector to walk, built in a fifth of the time.

    Automatic collections are held off while they are made: each full one would walk
    the growing graph again, which made the build take seconds instead of 0.2 s.
    """
    gc.disable()
    try:
        graph = [{"x": [i]} for i in range(1_000_000)]
    finally:
        gc.enable()
    return graph


def _spin(seconds: float) -> None:
    """Hold the loop (on purpose) for ``seconds`` of busy work."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.mark.slow  # two million objects (built in a thread) so that a collection takes long
async def test_a_garbage_collection_pause_is_not_blamed_on_the_task() -> None:
    """A long cyclic-GC pause that lands inside a task is reported as the collector's."""
    graph = await anyio.to_thread.run_sync(_cyclic_gc_work)

    @dag()
    def collecting() -> None:
        @task
        async def innocent() -> None:
            _spin(0.1)  # seen running by the watchdog before the collection starts
            gc.collect()  # where an automatic full collection would land
            _spin(0.02)

        innocent()

    settings = Settings.from_env(loop_block_warning_seconds=0.2)
    try:
        with capture_logs() as logs:
            async with Engine(
                "memory://", dags=[collecting()], settings=settings, process=WATCHED
            ) as engine:
                with anyio.fail_after(30):
                    await engine.run("collecting")
    finally:
        del graph
    assert not [e for e in logs if e["event"] == "event_loop_blocked"], logs
    (paused,) = [e for e in logs if e["event"] == "event_loop_paused_by_gc"]
    assert paused["gc_ms"] >= paused["blocked_ms"] - 200


async def test_a_busy_loop_of_short_tasks_is_not_reported_as_blocked() -> None:
    """Thousands of short async tasks keep the loop busy without a blocked warning."""

    @dag()
    def busy() -> None:
        @task
        async def tiny(x: int) -> int:
            return x

        tiny.expand(x=list(range(5000)))

    with capture_logs() as logs:
        async with Engine("memory://", dags=[busy()], process=WATCHED) as engine:
            with anyio.fail_after(30):
                await engine.run("busy")
    assert not [e for e in logs if e["event"] == "event_loop_blocked"]


async def test_an_error_in_the_body_passes_through_unwrapped() -> None:
    """An exception raised inside `async with Engine()` reaches the caller as itself."""
    with pytest.raises(KeyError, match="raised in the body"):
        async with Engine("memory://"):
            raise KeyError("raised in the body")


async def test_an_error_in_the_body_interrupts_running_tasks() -> None:
    """Leaving the engine with an error cancels running tries instead of waiting for them."""
    gate, running = anyio.Event(), anyio.Event()

    async def leave_with_an_error() -> None:
        async with Engine("memory://", dags=[gated_dag("stuck", gate, running)]) as engine:
            await engine.trigger("stuck")
            await running.wait()
            raise RuntimeError("stop now")

    with pytest.raises(RuntimeError, match="stop now"), anyio.fail_after(5):
        await leave_with_an_error()
