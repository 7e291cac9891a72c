"""max_consecutive_failed_dag_runs: a DAG whose newest N runs all failed is paused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import anyio.lowlevel
import pytest

from asyncflow import DAG, DagDefinitionError, DagRunState, Engine, task
from asyncflow.engine.auto_pause import all_failed
from asyncflow.records import DagRunRecord

DAY = datetime(2026, 1, 1, tzinfo=UTC)


def runs(*states: DagRunState) -> list[DagRunRecord]:
    """Runs newest first, with these states."""
    return [
        DagRunRecord(
            dag_id="d",
            run_id=f"r{i}",
            run_type="scheduled",
            logical_date=DAY - timedelta(days=i),
            queued_at=DAY,
            state=state,
        )
        for i, state in enumerate(states)
    ]


F, S, R = DagRunState.FAILED, DagRunState.SUCCESS, DagRunState.RUNNING


@pytest.mark.parametrize(
    ("states", "limit", "paused"),
    [
        ((F, F), 2, True),
        ((F, F, S), 2, True),
        ((F, S, F), 2, False),
        ((F,), 2, False),  # fewer runs than the limit
        ((F, R), 2, False),
        ((F, F, F), 3, True),
    ],
)
def test_only_the_newest_runs_all_failing_pause(
    states: tuple[DagRunState, ...], limit: int, paused: bool
) -> None:
    """The newest ``limit`` runs must all have failed; older ones do not count."""
    assert all_failed(runs(*states), limit) is paused


@pytest.mark.anyio
async def test_the_second_failed_run_in_a_row_pauses_the_dag() -> None:
    """With a limit of 2, one failure leaves the DAG alone and the second pauses it."""
    with DAG("fragile", max_consecutive_failed_dag_runs=2) as built:

        @task
        def broken() -> None:
            raise ValueError("upstream data is gone")

        broken()
    async with Engine("memory://", dags=[built]) as engine:
        with anyio.fail_after(10):
            first = await engine.run("fragile", logical_date=DAY)
        assert first.state is DagRunState.FAILED
        assert "fragile" not in await engine.store.get_paused_dag_ids()
        with anyio.fail_after(10):
            await engine.run("fragile", logical_date=DAY + timedelta(days=1))
            while "fragile" not in await engine.store.get_paused_dag_ids():
                await anyio.lowlevel.checkpoint()
        assert "fragile" in engine.scheduler.paused


def test_a_negative_limit_is_refused() -> None:
    """One line naming the DAG, the keyword and the value."""
    with pytest.raises(DagDefinitionError, match="max_consecutive_failed_dag_runs must be"):
        DAG("x", max_consecutive_failed_dag_runs=-1)
