"""Changing a run by hand (reopen_run, mark_run_success, delete_run), on every backend."""

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
    an_xcom,
    decided,
    finished,
    rescheduled,
    running_run,
    start,
    stored,
)

from asyncflow.records import Reopening, TaskInstanceRecord
from asyncflow.states import DagRunState, TaskState
from asyncflow.storage.protocol import Store

pytestmark = pytest.mark.anyio

AT = T0 + timedelta(minutes=10)
"""When the runs of these tests finish."""

LATER = T0 + timedelta(hours=1)
"""When they are changed by hand."""


async def finished_run(store: Store, state: DagRunState) -> dict[str, TaskInstanceRecord]:
    """A run that ended in ``state`` with one instance in each finished state; them by task."""
    tasks = ["ok", "bad", "retry_then_bad", "skip", "upf"]
    await running_run(store, [an_instance(t) for t in tasks])
    ok, bad, flaky = await start(
        store, an_instance("ok"), an_instance("bad"), an_instance("retry_then_bad")
    )
    assert await store.finish_try(OWNER, finished(ok), [an_xcom("ok", "1")])
    assert await store.finish_try(OWNER, finished(bad, TaskState.FAILED), [an_xcom("bad", "2")])
    assert await store.finish_try(OWNER, finished(flaky, TaskState.UP_FOR_RETRY))
    [flaky] = await start(store, an_instance("retry_then_bad"), try_number=2)
    assert await store.finish_try(OWNER, replace(finished(flaky, TaskState.FAILED), error="boom"))
    decisions = [
        decided(an_instance("skip")),
        decided(an_instance("upf"), TaskState.UPSTREAM_FAILED),
    ]
    assert await store.decide_instances(decisions) == [True, True]
    assert await store.finish_run("etl", "manual__1", state, AT)
    return await by_task(store)


async def by_task(store: Store) -> dict[str, TaskInstanceRecord]:
    """The default run's instances by task id."""
    return {ti.task_id: ti for ti in await store.get_task_instances("etl", "manual__1")}


def was_cleared(before: TaskInstanceRecord) -> TaskInstanceRecord:
    """What a cleared instance looks like: waiting, its try number kept, retries fresh."""
    return replace(
        before,
        state=None,
        end_date=None,
        next_attempt_at=None,
        next_poke_at=None,
        first_poke_at=None,
        poke_count=0,
        error=None,
        interrupted_tries=before.try_number,
    )


# --- reopen_run: clearing -----------------------------------------------------------------


@pytest.mark.parametrize("state", [DagRunState.SUCCESS, DagRunState.FAILED], ids=str)
async def test_reopen_run_queues_the_run_and_clears_the_instances_named(
    store: Store, state: DagRunState
) -> None:
    """The run is queued again; named instances wait for a new try, the others are kept."""
    before = await finished_run(store, state)
    clear = (("bad", -1), ("retry_then_bad", -1), ("upf", -1))
    assert await store.reopen_run("etl", "manual__1", Reopening(at=LATER, clear=clear))
    run = await store.get_run("etl", "manual__1")
    assert run is not None
    assert (run.state, run.end_date) == (DagRunState.QUEUED, None)
    after = await by_task(store)
    for task_id in ("bad", "retry_then_bad", "upf"):
        assert after[task_id] == was_cleared(before[task_id])
    assert (after["ok"], after["skip"]) == (before["ok"], before["skip"])
    assert (after["bad"].try_number, after["retry_then_bad"].interrupted_tries) == (1, 2)


async def test_reopen_run_deletes_the_xcom_of_cleared_instances_only(store: Store) -> None:
    """A cleared instance's XCom goes with it; a kept instance's stays."""
    await finished_run(store, DagRunState.FAILED)
    assert await store.reopen_run("etl", "manual__1", Reopening(at=LATER, clear=(("bad", -1),)))
    assert await store.get_run_xcoms("etl", "manual__1") == [an_xcom("ok", "1")]


async def test_a_cleared_instance_takes_its_next_try(store: Store) -> None:
    """After reopen_run and start_run, a cleared instance's next try (number plus one) starts."""
    await finished_run(store, DagRunState.FAILED)
    assert await store.reopen_run("etl", "manual__1", Reopening(at=LATER, clear=(("bad", -1),)))
    assert await store.start_run("etl", "manual__1", LATER)
    bad = await stored(store, "bad")
    assert await store.start_tries(OWNER, [replace(bad, try_number=2, start_date=LATER)]) == [True]
    assert (await stored(store, "bad")).state is TaskState.RUNNING


async def test_a_cleared_sensor_loses_its_poke_history(store: Store) -> None:
    """A sensor stopped by a dagrun timeout loses its next poke, first poke and count on clear.

    So the cleared sensor neither pokes on the old timer nor times out early.
    """
    await running_run(store, [an_instance("sensor")])
    [sensor] = await start(store, an_instance("sensor"))
    assert await store.record_reschedule(OWNER, rescheduled(sensor))
    assert await store.finish_run("etl", "manual__1", DagRunState.FAILED, AT, stop_error=STOP_ERROR)
    stopped = await stored(store, "sensor")
    assert stopped.next_poke_at is not None
    assert stopped.poke_count == 1
    clear = Reopening(at=LATER, clear=(("sensor", -1),))
    assert await store.reopen_run("etl", "manual__1", clear)
    assert await stored(store, "sensor") == was_cleared(stopped)


async def test_reopen_run_expands_a_mapped_task_again(store: Store) -> None:
    """A mapped task named in expand_again is one undecided placeholder again, its XCom gone."""
    mapped = [an_instance("m", i) for i in range(3)]
    await running_run(store, [an_instance("src"), an_instance("m")])
    assert await store.expand_task("etl", "manual__1", "m", mapped)
    tries = await start(store, *mapped)
    for ti in tries:
        assert await store.finish_try(OWNER, finished(ti), [an_xcom("m", "7", ti.map_index)])
    assert await store.finish_run("etl", "manual__1", DagRunState.SUCCESS, AT)
    assert await store.reopen_run("etl", "manual__1", Reopening(at=LATER, expand_again=("m",)))
    instances = await store.get_task_instances("etl", "manual__1")
    assert [(ti.task_id, ti.map_index, ti.state) for ti in instances] == [
        ("m", -1, None),
        ("src", -1, None),
    ]
    assert await store.get_run_xcoms("etl", "manual__1") == []
    assert await store.start_run("etl", "manual__1", LATER)
    assert await store.expand_task("etl", "manual__1", "m", mapped[:2])


# --- reopen_run: marks -----------------------------------------------------------------------


async def test_reopen_run_sets_the_states_marked(store: Store) -> None:
    """A mark sets an instance's state and ends it then; a success mark drops the error."""
    before = await finished_run(store, DagRunState.FAILED)
    marks = (("retry_then_bad", -1, TaskState.SUCCESS), ("ok", -1, TaskState.FAILED))
    assert await store.reopen_run("etl", "manual__1", Reopening(at=LATER, marks=marks))
    after = await by_task(store)
    flaky = before["retry_then_bad"]
    assert after["retry_then_bad"] == replace(
        flaky, state=TaskState.SUCCESS, end_date=LATER, error=None
    )
    assert after["ok"] == replace(before["ok"], state=TaskState.FAILED, end_date=LATER)
    assert await store.get_run_xcoms("etl", "manual__1") == [
        an_xcom("bad", "2"),
        an_xcom("ok", "1"),
    ]


async def test_a_mark_on_an_instance_that_never_ran_starts_it_then(store: Store) -> None:
    """An instance skipped before it ran, marked success, has its start date too."""
    before = await finished_run(store, DagRunState.FAILED)
    marks = (("upf", -1, TaskState.SUCCESS),)
    assert await store.reopen_run("etl", "manual__1", Reopening(at=LATER, marks=marks))
    upf = (await by_task(store))["upf"]
    assert (upf.state, upf.start_date, upf.end_date) == (
        TaskState.SUCCESS,
        before["upf"].start_date,
        LATER,
    )


@pytest.mark.parametrize("state", [DagRunState.QUEUED, DagRunState.RUNNING], ids=str)
async def test_reopen_run_is_refused_unless_the_run_is_finished(
    store: Store, state: DagRunState
) -> None:
    """reopen_run returns False and changes nothing on a queued or running run."""
    run = a_run(state=state)
    failed = an_instance("a", state=TaskState.FAILED, try_number=1, end_date=T0)
    await store.create_run(run, [failed])
    reopening = Reopening(at=LATER, clear=(("a", -1),), marks=(("a", -1, TaskState.SUCCESS),))
    assert not await store.reopen_run("etl", "manual__1", reopening)
    assert await store.get_run("etl", "manual__1") == run
    assert await store.get_task_instances("etl", "manual__1") == [failed]


async def test_reopen_run_of_an_unknown_run_is_refused(store: Store) -> None:
    """reopen_run of a run that was never created returns False."""
    assert not await store.reopen_run("etl", "ghost", Reopening(at=LATER))


# --- mark_run_success ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "state", [DagRunState.QUEUED, DagRunState.RUNNING, DagRunState.FAILED], ids=str
)
async def test_mark_run_success_marks_the_run_and_every_instance(
    store: Store, state: DagRunState
) -> None:
    """Every instance not successful ends successful then, its owner and error cleared."""
    await running_run(store, [an_instance("done"), an_instance("busy"), an_instance("todo")])
    done, busy = await start(store, an_instance("done"), an_instance("busy"))
    assert await store.finish_try(OWNER, finished(done))
    if state is DagRunState.FAILED:
        assert await store.finish_run("etl", "manual__1", state, AT, stop_error=STOP_ERROR)
    kept = await stored(store, "done")
    assert await store.mark_run_success("etl", "manual__1", LATER)
    run = await store.get_run("etl", "manual__1")
    assert run is not None
    assert run.state is DagRunState.SUCCESS
    assert run.end_date == (AT if state is DagRunState.FAILED else LATER)
    after = await by_task(store)
    assert after["done"] == kept
    for task_id in ("busy", "todo"):
        ti = after[task_id]
        assert (ti.state, ti.owner, ti.error, ti.start_date is not None) == (
            TaskState.SUCCESS,
            None,
            None,
            True,
        )
    assert not await store.finish_try(OWNER, finished(busy, TaskState.FAILED))


async def test_mark_run_success_of_a_successful_or_unknown_run_is_refused(store: Store) -> None:
    """A run successful already, or never created, is not marked again."""
    await finished_run(store, DagRunState.SUCCESS)
    before = await by_task(store)
    assert not await store.mark_run_success("etl", "manual__1", LATER)
    assert await by_task(store) == before
    assert not await store.mark_run_success("etl", "ghost", LATER)


# --- delete_run ----------------------------------------------------------------------------


@pytest.mark.parametrize("state", [DagRunState.SUCCESS, DagRunState.QUEUED], ids=str)
async def test_delete_run_deletes_the_run_its_instances_and_xcom(
    store: Store, state: DagRunState
) -> None:
    """A run that is not running goes with everything it had; other runs stay."""
    if state is DagRunState.SUCCESS:
        await finished_run(store, state)
    else:
        await store.create_run(a_run(), [an_instance("a")])
    await store.create_run(a_run(run_id="manual__2"), [an_instance("a", run_id="manual__2")])
    assert await store.delete_run("etl", "manual__1")
    assert await store.get_run("etl", "manual__1") is None
    assert await store.get_task_instances("etl", "manual__1") == []
    assert await store.get_run_xcoms("etl", "manual__1") == []
    assert [r.run_id for r in await store.list_runs("etl")] == ["manual__2"]
    assert await store.create_run(a_run(), [an_instance("a")])


async def test_delete_run_is_refused_for_a_running_or_unknown_run(store: Store) -> None:
    """A running run is not deleted (its engine must end it first); nor is one never created."""
    await running_run(store, [an_instance("a")])
    assert not await store.delete_run("etl", "manual__1")
    assert (await store.get_run("etl", "manual__1")) is not None
    assert await store.get_task_instances("etl", "manual__1") != []
    assert not await store.delete_run("etl", "ghost")
