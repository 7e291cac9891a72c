"""The engine's Prometheus metrics: what is counted, when, and in which registry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from asyncflow import DAG, DagRunState, EmptyOperator, Engine, Sensor, TaskState
from asyncflow.exceptions import EngineError
from asyncflow.metrics.lag import LoopLag
from asyncflow.metrics.poke_times import PokeTimes, poke_families
from asyncflow.metrics.tally import InstanceTable, InstanceTally, detach_all
from asyncflow.records import TaskInstanceRecord
from asyncflow.sensor import SensorMode
from asyncflow.storage.group_commit import GroupCommit, PendingWrite
from asyncflow.testing import FakeClock, MemoryStore

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
NEXT_POKE = datetime(2026, 1, 1, tzinfo=UTC)


def samples(text: str) -> Samples:
    """Every sample of an exposition by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(engine: Engine, name: str, **labels: str) -> float:
    """One sample of the engine's metrics now."""
    return samples(engine.metrics.exposition())[(name, tuple(sorted(labels.items())))]


async def until(what: str, check: Callable[[], bool], limit: float = 10) -> None:
    """Wait (bounded) until ``check()`` holds, a loop turn at a time: gauges have no event."""
    with anyio.fail_after(limit):
        while not check():
            await anyio.lowlevel.checkpoint()


def record(state: TaskState | None, map_index: int = -1, **fields: Any) -> TaskInstanceRecord:
    """A task instance record of task ``t`` in run ``r`` of DAG ``d``."""
    return TaskInstanceRecord(
        dag_id="d", run_id="r", task_id="t", map_index=map_index, state=state, **fields
    )


class Released(Sensor):
    """Not done until its ``released`` flag is set; waits on the key ``go``."""

    released = False

    def __init__(self, *, label: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("poke_interval", 3600)
        super().__init__(wake_on=["go"], **kwargs)
        self.label = label

    async def poke(self, context: Any) -> bool:
        return Released.released


def empty() -> EmptyOperator:
    """A task ``t`` of a DAG ``d``."""
    with DAG("d"):
        return EmptyOperator(task_id="t")


@pytest.fixture(autouse=True)
def held_sensors() -> None:
    """Each test starts with its Released sensors held."""
    Released.released = False


# --- counting, without an engine --------------------------------------------------
def test_a_table_moves_one_count_per_assignment() -> None:
    """Setting an instance moves its count from the old state to the new; reads cost nothing."""
    tally = InstanceTally()
    table = tally.table(empty(), {-1: record(None)})
    assert tally.by_state()[None] == 1
    table[-1] = record(TaskState.QUEUED)
    table[-1] = record(TaskState.RUNNING)
    counts = tally.by_state()
    assert (counts[None], counts[TaskState.QUEUED], counts[TaskState.RUNNING]) == (0, 0, 1)
    assert sum(counts.values()) == 1


def test_a_detached_table_leaves_the_counts_and_stops_counting() -> None:
    """A finished run's tables are taken out of the counts; later changes are not counted."""
    tally = InstanceTally()
    table = tally.table(empty(), {0: record(None, 0), 1: record(None, 1)})
    detach_all([table, {}])
    table[0] = record(TaskState.FAILED, 0)
    assert set(tally.by_state().values()) == {0}


def test_an_expansion_replaces_the_placeholder_in_the_counts() -> None:
    """A mapped task's renewed table counts its instances instead of its placeholder."""
    tally = InstanceTally()
    table = tally.table(empty(), {-1: record(TaskState.QUEUED)})
    renewed = table.renewed({i: record(None, i) for i in range(3)})
    assert isinstance(renewed, InstanceTable)
    assert tally.by_state()[None] == 3
    assert tally.by_state()[TaskState.QUEUED] == 0


@pytest.mark.parametrize(
    ("mode", "state", "next_poke_at", "waiting"),
    [
        ("poke", TaskState.QUEUED, None, 0),
        ("poke", TaskState.RUNNING, None, 1),
        ("poke", TaskState.UP_FOR_RETRY, None, 0),
        ("reschedule", TaskState.QUEUED, None, 0),
        ("reschedule", TaskState.RUNNING, None, 1),
        ("reschedule", TaskState.UP_FOR_RESCHEDULE, NEXT_POKE, 1),
        ("reschedule", TaskState.QUEUED, NEXT_POKE, 1),
        ("reschedule", TaskState.RUNNING, NEXT_POKE, 1),
        ("reschedule", TaskState.SUCCESS, None, 0),
    ],
)
def test_a_sensor_waits_from_its_first_poke_to_its_end(
    mode: str, state: TaskState, next_poke_at: datetime | None, waiting: int
) -> None:
    """Sensors waiting: poke mode while running; reschedule mode from its first poke to its end."""
    tally = InstanceTally()
    with DAG("d"):
        sensor = Released(task_id="t", mode=mode)
    tally.table(sensor, {-1: record(state, next_poke_at=next_poke_at)})
    assert tally.sensors_waiting() == {
        SensorMode(mode): waiting,
        SensorMode("reschedule" if mode == "poke" else "poke"): 0,
    }


def test_poke_times_are_prometheus_buckets_cumulative_and_inclusive() -> None:
    """A poke on a bucket's bound falls in it; buckets add up to the count, sum is the seconds."""
    times = PokeTimes((0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 2.0):
        times.observe(seconds)
    registry = CollectorRegistry()

    class Pokes:
        def collect(self) -> Any:
            return poke_families({SensorMode.POKE: times})

    registry.register(Pokes())  # type: ignore[arg-type]
    labels = {"mode": "poke"}
    assert registry.get_sample_value("asyncflow_pokes_total", labels) == 4
    assert [
        registry.get_sample_value("asyncflow_poke_duration_seconds_bucket", {**labels, "le": le})
        for le in ("0.1", "1.0", "+Inf")
    ] == [2, 3, 4]
    assert registry.get_sample_value("asyncflow_poke_duration_seconds_sum", labels) == 2.65


async def test_group_commit_tells_each_batch_its_time_and_size() -> None:
    """Every flushed batch is reported once, with the seconds it took and its writes."""
    seen: list[tuple[float, int]] = []

    async def flush(batch: list[PendingWrite[int]]) -> None:
        for write in batch:
            write.succeed()

    commits: GroupCommit[int] = GroupCommit(flush, lambda s, n: seen.append((s, n)))
    await commits.submit_many([1, 2, 3])
    await commits.submit(4)
    assert [n for _, n in seen] == [3, 1]
    assert all(seconds >= 0 for seconds, _ in seen)


@pytest.mark.allow_blocking("the lag gauge is measured on a loop blocked by time.sleep")
async def test_the_heartbeat_shows_a_blocked_loop_while_it_is_blocked() -> None:
    """Read from another thread, a blocked loop is behind while blocked; its lag is observed."""
    lags: list[float] = []
    lag = LoopLag(lags.append, interval=0.01)
    behind: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lag.run)
        await until("a first beat", lambda: bool(lags))
        reader = threading.Timer(0.15, lambda: behind.append(lag.behind()))
        reader.start()
        time.sleep(0.3)  # noqa: ASYNC251 - the loop is blocked on purpose: what the gauge is for
        reader.join(timeout=5)
        await until("a beat after the block", lambda: max(lags) >= 0.2)
        tg.cancel_scope.cancel()
    assert behind[0] >= 0.1
    assert lag.behind() == 0.0  # stopped


# --- on the engine ------------------------------------------------------------------
def sensors_dag(dag_id: str = "sensors") -> DAG:
    """A poke-mode and a reschedule-mode sensor, and a task after both."""
    with DAG(dag_id) as built:
        poke = Released(task_id="poke", mode="poke")
        reschedule = Released(task_id="reschedule", mode="reschedule")
        [poke, reschedule] >> EmptyOperator(task_id="after")
    return built


def waiting(engine: Engine) -> bool:
    """Both sensors are waiting between pokes."""
    counts = engine.metrics.tally.by_state()
    return counts[TaskState.RUNNING] == 1 and counts[TaskState.UP_FOR_RESCHEDULE] == 1


async def test_waiting_sensors_runs_and_instances_are_counted_while_they_wait() -> None:
    """While both sensors wait the gauges say so; once the run ends they are back to zero."""
    async with Engine("memory://", dags=[sensors_dag()]) as engine:
        started = await engine.trigger("sensors")
        await until("both sensors waiting", lambda: waiting(engine))
        now = samples(engine.metrics.exposition())
        assert now[("asyncflow_sensors_waiting", (("mode", "poke"),))] == 1
        assert now[("asyncflow_sensors_waiting", (("mode", "reschedule"),))] == 1
        assert now[("asyncflow_task_instances", (("state", "none"),))] == 1
        assert now[("asyncflow_dag_runs", (("state", "running"),))] == 1
        assert now[("asyncflow_pokes_total", (("mode", "poke"),))] == 1
        assert now[("asyncflow_pokes_total", (("mode", "reschedule"),))] == 1
        Released.released = True
        assert await engine.notify("go") == 2
        with anyio.fail_after(10):
            result = await engine.wait(started)
        assert result.state is DagRunState.SUCCESS
        after = samples(engine.metrics.exposition())
    assert after[("asyncflow_dag_runs_finished_total", (("state", "success"),))] == 1
    assert after[("asyncflow_poke_duration_seconds_count", (("mode", "poke"),))] == 2
    assert after[("asyncflow_pokes_total", (("mode", "reschedule"),))] == 2
    gauges = {
        key: v
        for key, v in after.items()
        if key[0] in ("asyncflow_task_instances", "asyncflow_sensors_waiting", "asyncflow_dag_runs")
    }
    assert set(gauges.values()) == {0}
    assert len(gauges) == len(TaskState) + 1 + 2 + 2


async def test_a_run_marked_failed_leaves_no_count_behind() -> None:
    """Failing a run while its sensors wait takes its instances out and counts a failed run."""
    async with Engine("memory://", dags=[sensors_dag()]) as engine:
        started = await engine.trigger("sensors")
        await until("both sensors waiting", lambda: waiting(engine))
        assert await engine.mark_failed(started, "stopped by the test")
        with anyio.fail_after(10):
            await engine.wait(started)
        assert set(engine.metrics.tally.by_state().values()) == {0}
        assert value(engine, "asyncflow_dag_runs_finished_total", state="failed") == 1


async def test_mapped_sensors_are_counted_each() -> None:
    """Three mapped instances of a poke-mode sensor are three waiting sensors."""
    with DAG("mapped") as built:
        Released.partial(task_id="each", mode="poke", poke_interval=60).expand(
            label=["a", "b", "c"]
        )
    clock = FakeClock()
    async with Engine(MemoryStore(), dags=[built], clock=clock) as engine:
        started = await engine.trigger("mapped")
        await until(
            "three waiting", lambda: engine.metrics.tally.sensors_waiting()[SensorMode.POKE] == 3
        )
        Released.released = True
        clock.advance(3600)  # past every next poke, whatever its jitter
        with anyio.fail_after(10):
            assert (await engine.wait(started)).state is DagRunState.SUCCESS
        assert engine.metrics.tally.sensors_waiting()[SensorMode.POKE] == 0


async def test_each_engine_has_a_registry_of_its_own() -> None:
    """Two engines in one process count apart; prometheus_client's global registry is untouched."""
    with DAG("one") as one:
        EmptyOperator(task_id="t")
    async with (
        Engine("memory://", dags=[one]) as first,
        Engine("memory://", dags=[one]) as second,
    ):
        with anyio.fail_after(10):
            await first.run("one")
        assert value(first, "asyncflow_dag_runs_finished_total", state="success") == 1
        assert value(second, "asyncflow_dag_runs_finished_total", state="success") == 0
    assert not [name for name in REGISTRY._names_to_collectors if name.startswith("asyncflow")]


def test_metrics_go_to_a_registry_given_and_only_once() -> None:
    """Engine(metrics=registry) registers there; a second engine on it is refused, saying why."""
    registry = CollectorRegistry()
    Engine("memory://", metrics=registry)
    assert registry.get_sample_value("asyncflow_dag_runs", {"state": "running"}) == 0
    with pytest.raises(EngineError, match=r"^metrics: this registry has asyncflow's metrics"):
        Engine("memory://", metrics=registry)


def test_metrics_off_register_and_hook_nothing() -> None:
    """Engine(metrics=False) serves an empty exposition and leaves the store's hook unset."""
    engine = Engine("memory://", metrics=False)
    assert engine.metrics.exposition() == ""
    assert engine.store.stats.on_commit is None


def test_a_wrong_metrics_argument_is_named() -> None:
    """Anything but a bool or a CollectorRegistry is refused with what was given."""
    with pytest.raises(EngineError, match=r"^metrics must be True, False or a prometheus_client"):
        Engine("memory://", metrics="yes")  # type: ignore[arg-type]


async def test_the_asgi_app_serves_the_exposition() -> None:
    """engine.metrics.asgi_app() answers GET with the text exposition, and the lifespan protocol."""
    engine = Engine("memory://")
    app = engine.metrics.asgi_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'asyncflow_dag_runs{state="running"} 0.0' in response.text
    sent: list[dict[str, Any]] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with anyio.fail_after(5):
        await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
