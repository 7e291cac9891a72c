"""Backfills: a run per interval in the range, in order, idempotent, failed runs rerun on demand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from asyncflow import DAG, DagRunState, Engine, TaskState, task
from asyncflow.testing import FakeClock, MemoryStore

pytestmark = pytest.mark.anyio

START = datetime(2026, 1, 1, tzinfo=UTC)


def build(calls: list[str], fail_on: set[str]) -> DAG:
    """A daily DAG whose task fails on the logical dates (ds) in ``fail_on``."""
    with DAG("daily", schedule="@daily", start_date=START, max_active_runs=2) as built:

        @task
        def load(ds: str) -> str:
            calls.append(ds)
            if ds in fail_on:
                raise RuntimeError(f"no data for {ds}")
            return ds

        load()
    return built


async def test_backfill_runs_every_interval_in_order_with_progress() -> None:
    """Three days give three backfill runs, reported as they finish."""
    calls: list[str] = []
    progress: list[tuple[int, int, int]] = []
    async with Engine(MemoryStore(), dags=[build(calls, set())], clock=FakeClock()) as engine:
        with anyio.fail_after(10):
            results = await engine.backfill(
                "daily",
                datetime(2026, 1, 2),
                datetime(2026, 1, 4),
                on_progress=lambda *p: progress.append(p),
            )
    assert [r.run_id for r in results] == [
        f"backfill__2026-01-0{d}T00:00:00.000000+00:00" for d in (2, 3, 4)
    ]
    assert all(r.state is DagRunState.SUCCESS for r in results)
    assert all(r.run_type == "backfill" for r in results)
    assert sorted(calls) == ["2026-01-02", "2026-01-03", "2026-01-04"]
    assert progress == [(1, 3, 0), (2, 3, 0), (3, 3, 0)]


async def test_backfill_is_idempotent() -> None:
    """A second backfill of the same range creates no run and runs no task."""
    calls: list[str] = []
    async with Engine(MemoryStore(), dags=[build(calls, set())], clock=FakeClock()) as engine:
        with anyio.fail_after(10):
            first = await engine.backfill("daily", START, datetime(2026, 1, 2))
            again = await engine.backfill("daily", START, datetime(2026, 1, 2))
        runs = await engine.store.list_runs("daily")
    assert [r.run_id for r in again] == [r.run_id for r in first]
    assert len(runs) == 2
    assert len(calls) == 2


async def test_failed_runs_are_rerun_only_when_asked() -> None:
    """A failed backfill run stays failed, unless rerun_failed runs its failed tasks again."""
    calls: list[str] = []
    fail_on = {"2026-01-02"}
    async with Engine(MemoryStore(), dags=[build(calls, fail_on)], clock=FakeClock()) as engine:
        with anyio.fail_after(10):
            first = await engine.backfill("daily", START, datetime(2026, 1, 2))
            assert [r.state for r in first] == [DagRunState.SUCCESS, DagRunState.FAILED]
            same = await engine.backfill("daily", START, datetime(2026, 1, 2))
            assert same[1].state is DagRunState.FAILED
            fail_on.clear()
            rerun = await engine.backfill("daily", START, datetime(2026, 1, 2), rerun_failed=True)
    assert [r.state for r in rerun] == [DagRunState.SUCCESS, DagRunState.SUCCESS]
    assert rerun[1].ti("load").state is TaskState.SUCCESS
    assert calls.count("2026-01-01") == 1
    assert calls.count("2026-01-02") == 2


async def test_backfill_of_a_manual_dag_has_nothing_to_run() -> None:
    """A DAG without a schedule has no intervals to backfill."""
    with DAG("manual", start_date=START) as built:

        @task
        def nothing(**context: Any) -> None:
            return None

        nothing()
    async with Engine(MemoryStore(), dags=[built], clock=FakeClock()) as engine:
        assert await engine.backfill("manual", START, datetime(2026, 2, 1)) == []
