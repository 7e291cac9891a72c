"""The engine's metrics on a real SQLite file (and PostgreSQL): sensors, pokes and commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from postgres_server import fresh_schema
from prometheus_client.parser import text_string_to_metric_families

from asyncflow import DAG, DagRunState, EmptyOperator, Engine, Sensor

pytestmark = pytest.mark.anyio


class Gate(Sensor):
    """Not done until the class is opened; a notify on ``open`` makes it poke at once."""

    opened = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(poke_interval=3600, wake_on=["open"], **kwargs)

    async def poke(self, context: Any) -> bool:
        return Gate.opened


def scrape(engine: Engine) -> dict[str, float]:
    """The exposition's samples, keyed ``name{label=value}`` (labels sorted)."""
    found = {}
    for family in text_string_to_metric_families(engine.metrics.exposition()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A SQLite file, or a fresh schema of the test PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'metrics.db'}"
        return
    async with fresh_schema() as url:
        yield url


async def test_a_run_with_both_sensor_modes_shows_in_the_exposition(store_url: str) -> None:
    """Waiting sensors, instances, runs, pokes and group commits are what the engine did."""
    Gate.opened = False
    with DAG("gates") as built:
        poke = Gate(task_id="poke", mode="poke")
        reschedule = Gate(task_id="reschedule", mode="reschedule")
        [poke, reschedule] >> EmptyOperator(task_id="after")
    async with Engine(store_url, dags=[built]) as engine:
        started = await engine.trigger("gates")
        with anyio.fail_after(20):
            while True:
                waiting = scrape(engine)
                if waiting["asyncflow_task_instances{state=up_for_reschedule}"] == 1:
                    break
                await anyio.sleep(0.01)  # the gauges have no event to await
        assert waiting["asyncflow_sensors_waiting{mode=poke}"] == 1
        assert waiting["asyncflow_sensors_waiting{mode=reschedule}"] == 1
        assert waiting["asyncflow_task_instances{state=running}"] == 1
        assert waiting["asyncflow_task_instances{state=none}"] == 1
        assert waiting["asyncflow_dag_runs{state=running}"] == 1
        assert waiting["asyncflow_store_commit_duration_seconds_count"] >= 1
        Gate.opened = True
        await engine.notify("open")
        with anyio.fail_after(20):
            assert (await engine.wait(started)).state is DagRunState.SUCCESS
    done = scrape(engine)
    stats = engine.store.stats
    assert done["asyncflow_pokes_total{mode=poke}"] == 2
    assert done["asyncflow_pokes_total{mode=reschedule}"] == 2
    assert done["asyncflow_poke_duration_seconds_count{mode=reschedule}"] == 2
    assert done["asyncflow_dag_runs_finished_total{state=success}"] == 1
    assert done["asyncflow_sensors_waiting{mode=poke}"] == 0
    assert done["asyncflow_task_instances{state=success}"] == 0  # the run is no longer held
    # every write went through group commit: one observation per transaction
    assert done["asyncflow_store_commit_batch_size_sum"] == stats.writes
    assert done["asyncflow_store_commit_batch_size_count"] == stats.transactions
    assert done["asyncflow_store_commit_duration_seconds_count"] == stats.transactions
    assert done["asyncflow_store_commit_duration_seconds_sum"] > 0
