"""The guarded transitions of a run (start_run, finish_run), on every backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from storage_records import (
    OWNER,
    STOP_ERROR,
    T0,
    a_run,
    an_instance,
    decided,
    finished,
    rescheduled,
    running_run,
    start,
    stored,
)

from asyncflow.states import DagRunState, TaskState
from asyncflow.storage.protocol import Store

pytestmark = pytest.mark.anyio

AT = T0 + timedelta(minutes=10)
"""When the runs of these tests finish."""


# --- start_run ------------------------------------------------------------------------------


async def test_start_run_starts_a_queued_run(store: Store) -> None:
    """A queued run becomes running with its start_date; nothing else of it changes."""
    run = a_run(conf={"k": 1})
    await store.create_run(run, [an_instance("a")])
    assert await store.start_run("etl", "manual__1", AT)
    assert await store.get_run("etl", "manual__1") == replace(
        run, state=DagRunState.RUNNING, start_date=AT
    )
    assert await store.get_task_instances("etl", "manual__1") == [an_instance("a")]


@pytest.mark.parametrize(
    "state", [DagRunState.RUNNING, DagRunState.SUCCESS, DagRunState.FAILED], ids=str
)
async def test_start_run_is_refused_unless_the_run_is_queued(
    store: Store, state: DagRunState
) -> None:
    """start_run returns False and changes nothing on a running or finished run."""
    run = a_run(state=state, start_date=T0)
    await store.create_run(run, [])
    assert not await store.start_run("etl", "manual__1", AT)
    assert await store.get_run("etl", "manual__1") == run


async def test_start_run_with_a_limit_counts_the_dags_running_runs(store: Store) -> None:
    """With max_active, a queued run starts only while fewer of its DAG's runs are running.

    Another DAG's running runs do not count; a refused run stays queued as it was.
    """
    await running_run(store, run=a_run(run_id="running"))
    await running_run(store, run=a_run(dag_id="other", run_id="busy"))
    waiting = a_run(run_id="waiting", offset_days=1)
    await store.create_run(waiting, [])
    assert not await store.start_run("etl", "waiting", AT, max_active=1)
    assert await store.get_run("etl", "waiting") == waiting
    assert await store.start_run("etl", "waiting", AT, max_active=2)
    started = await store.get_run("etl", "waiting")
    assert started is not None
    assert (started.state, started.start_date) == (DagRunState.RUNNING, AT)


async def test_start_run_of_an_unknown_run_is_refused(store: Store) -> None:
    """start_run of a run that was never created returns False."""
    assert not await store.start_run("etl", "ghost", AT)
    assert await store.get_run("etl", "ghost") is None


# --- finish_run -----------------------------------------------------------------------------


@pytest.mark.parametrize("state", [DagRunState.SUCCESS, DagRunState.FAILED], ids=str)
async def test_finish_run_ends_a_running_run_and_leaves_its_instances(
    store: Store, state: DagRunState
) -> None:
    """Without stop_error a running run ends in the state at the time, instances untouched."""
    run = await running_run(store, [an_instance("a"), an_instance("b")])
    [running] = await start(store, an_instance("a"))
    assert await store.finish_run("etl", "manual__1", state, AT)
    assert await store.get_run("etl", "manual__1") == replace(run, state=state, end_date=AT)
    assert await store.get_task_instances("etl", "manual__1") == [running, an_instance("b")]


@pytest.mark.parametrize("state", [DagRunState.QUEUED, DagRunState.SUCCESS, DagRunState.FAILED])
async def test_finish_run_is_refused_unless_the_run_is_running(
    store: Store, state: DagRunState
) -> None:
    """finish_run returns False and changes nothing (not even with stop_error) off a running run."""
    run = a_run(state=state)
    await store.create_run(run, [an_instance("a")])
    assert not await store.finish_run(
        "etl", "manual__1", DagRunState.FAILED, AT, stop_error=STOP_ERROR
    )
    assert await store.get_run("etl", "manual__1") == run
    assert await store.get_task_instances("etl", "manual__1") == [an_instance("a")]


async def test_finish_run_of_an_unknown_run_is_refused(store: Store) -> None:
    """finish_run of a run that was never created returns False."""
    assert not await store.finish_run("etl", "ghost", DagRunState.SUCCESS, AT)


async def test_a_second_finish_run_is_refused_and_changes_nothing(store: Store) -> None:
    """Once finished, a run keeps its first outcome: a later finish_run returns False."""
    await running_run(store, [an_instance("a")])
    [running] = await start(store, an_instance("a"))
    assert await store.finish_run("etl", "manual__1", DagRunState.SUCCESS, AT)
    later = AT + timedelta(minutes=1)
    assert not await store.finish_run(
        "etl", "manual__1", DagRunState.FAILED, later, stop_error=STOP_ERROR
    )
    run = await store.get_run("etl", "manual__1")
    assert run is not None
    assert (run.state, run.end_date) == (DagRunState.SUCCESS, AT)
    assert await stored(store) == running


async def test_finish_run_with_stop_error_ends_every_unfinished_instance(store: Store) -> None:
    """A run stopped early fails its running try with the error and skips the other unfinished.

    Instances already finished (success, failed, skipped, upstream_failed) keep
    what they had.
    """
    tasks = ["running", "none", "scheduled", "retry", "resched", "ok", "bad", "skip", "upf"]
    await running_run(
        store,
        [an_instance(t, state=TaskState.SCHEDULED if t == "scheduled" else None) for t in tasks],
    )
    running, retry, resched, ok, bad = await start(
        store, *(an_instance(t) for t in ("running", "retry", "resched", "ok", "bad"))
    )
    assert await store.finish_try(OWNER, finished(retry, TaskState.UP_FOR_RETRY))
    assert await store.record_reschedule(OWNER, rescheduled(resched))
    assert await store.finish_try(OWNER, finished(ok))
    assert await store.finish_try(OWNER, finished(bad, TaskState.FAILED))
    decisions = [
        decided(an_instance("skip")),
        decided(an_instance("upf"), TaskState.UPSTREAM_FAILED),
    ]
    assert await store.decide_instances(decisions) == [True, True]
    before = {ti.task_id: ti for ti in await store.get_task_instances("etl", "manual__1")}

    assert await store.finish_run("etl", "manual__1", DagRunState.FAILED, AT, stop_error=STOP_ERROR)

    after = {ti.task_id: ti for ti in await store.get_task_instances("etl", "manual__1")}
    assert after["running"] == replace(
        running, state=TaskState.FAILED, end_date=AT, owner=None, error=STOP_ERROR
    )
    skipped = {"state": TaskState.SKIPPED, "end_date": AT, "owner": None}
    assert after["none"] == replace(before["none"], start_date=AT, **skipped)
    assert after["scheduled"] == replace(before["scheduled"], start_date=AT, **skipped)
    assert after["retry"] == replace(before["retry"], **skipped)  # its try's start_date kept
    assert after["resched"] == replace(before["resched"], **skipped)
    for task_id in ("ok", "bad", "skip", "upf"):
        assert after[task_id] == before[task_id]
    run = await store.get_run("etl", "manual__1")
    assert run is not None
    assert (run.state, run.end_date) == (DagRunState.FAILED, AT)
