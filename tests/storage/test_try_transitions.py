"""The guards of a try's transitions, on every backend: a write that no longer applies is refused.

start_tries starts a try only from a state that waits for one, after the try
before it; finish_try, record_reschedule and interrupt_tries land only on the
current try, held by their owner (or nobody); all of them only while the run
runs. A refused write returns False and changes nothing, its XCom included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from storage_records import (
    OTHER_OWNER,
    OWNER,
    STOP_ERROR,
    T0,
    a_run,
    an_instance,
    an_xcom,
    finished,
    interrupted,
    rescheduled,
    running_run,
    seed,
    start,
    started,
    stored,
)

from asyncflow.records import TaskInstanceRecord
from asyncflow.states import DagRunState, TaskState
from asyncflow.storage.protocol import Store

pytestmark = pytest.mark.anyio

WAITING = [None, TaskState.SCHEDULED, TaskState.QUEUED]
"""States a try starts from that no try reached (try_number 0)."""


# --- start_tries ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [*WAITING, TaskState.UP_FOR_RETRY, TaskState.UP_FOR_RESCHEDULE],
    ids=lambda state: str(state or "none"),
)
async def test_a_try_starts_from_a_state_that_waits_for_one(
    store: Store, state: TaskState | None
) -> None:
    """start_tries applies to an instance waiting for a try whose try_number is one below."""
    before = await seed(store, state, "a")
    new = started(before, before.try_number + 1, lease_expires_at=T0 + timedelta(minutes=5))
    assert await store.start_tries(OWNER, [new]) == [True]
    assert await stored(store) == new


async def test_start_tries_writes_the_new_try_and_keeps_the_instances_history(
    store: Store,
) -> None:
    """A new try sets state, try, start, first poke, owner and lease; clears end and next attempt.

    What the record says of anything else (poke_count, error, interrupted
    tries, next_poke_at) is not written: the stored instance keeps it.
    """
    retrying = await seed(store, TaskState.UP_FOR_RETRY, "a")
    new = started(
        retrying,
        2,
        first_poke_at=T0 + timedelta(hours=3),
        lease_expires_at=T0 + timedelta(hours=4),
        poke_count=99,
        error="ignored",
        interrupted_tries=7,
        next_poke_at=T0 + timedelta(hours=5),
        state=TaskState.SUCCESS,  # ignored: a started try is running
        owner="ignored",  # the owner is start_tries' argument
    )
    assert await store.start_tries(OWNER, [new]) == [True]
    assert await stored(store) == replace(
        retrying,
        state=TaskState.RUNNING,
        try_number=2,
        start_date=new.start_date,
        end_date=None,
        next_attempt_at=None,
        first_poke_at=T0 + timedelta(hours=3),
        owner=OWNER,
        lease_expires_at=T0 + timedelta(hours=4),
    )


REFUSED_STARTS = {
    "running": (TaskState.RUNNING, 2),
    "success": (TaskState.SUCCESS, 2),
    "failed": (TaskState.FAILED, 2),
    "skipped": (TaskState.SKIPPED, 1),
    "upstream_failed": (TaskState.UPSTREAM_FAILED, 1),
    "try 2 before try 1": (None, 2),
    "try 1 again after a retry": (TaskState.UP_FOR_RETRY, 1),
    "try 3 after try 1": (TaskState.UP_FOR_RETRY, 3),
    "try 1 again between pokes": (TaskState.UP_FOR_RESCHEDULE, 1),
}
"""Case: (the instance's state, reached with try 1 if it ran; the try the write starts)."""


@pytest.mark.parametrize("case", REFUSED_STARTS)
async def test_a_try_does_not_start_from_another_state_or_try(store: Store, case: str) -> None:
    """start_tries returns False, changing nothing, unless the instance waits for that very try."""
    state, try_number = REFUSED_STARTS[case]
    before = await seed(store, state, "a")
    new = started(before, try_number, owner=OTHER_OWNER)
    assert await store.start_tries(OTHER_OWNER, [new]) == [False]
    assert await stored(store) == before


@pytest.mark.parametrize("state", [DagRunState.QUEUED, DagRunState.SUCCESS, DagRunState.FAILED])
async def test_no_try_starts_unless_the_run_is_running(store: Store, state: DagRunState) -> None:
    """start_tries returns False on a queued or finished run, its instances untouched."""
    await store.create_run(a_run(), [an_instance("a")])
    if state is not DagRunState.QUEUED:
        assert await store.start_run("etl", "manual__1", T0)
        assert await store.finish_run("etl", "manual__1", state, T0)
    assert await store.start_tries(OWNER, [started(an_instance("a"))]) == [False]
    assert await stored(store) == an_instance("a")


async def test_a_mixed_start_tries_batch_applies_only_its_good_records(store: Store) -> None:
    """Each record of one start_tries call gets its own flag; only the applicable ones start."""
    await running_run(store, [an_instance(t) for t in "abcd"])
    [running_b] = await start(store, an_instance("b"))
    batch = [
        started(an_instance("a")),  # applies
        started(an_instance("b"), 2),  # b's try 1 is still running
        started(an_instance("c"), 2),  # c's next try is 1
        started(an_instance("d")),  # applies
        started(an_instance("ghost")),  # no such instance
        started(an_instance("a", run_id="other")),  # no such run
        started(an_instance("a")),  # a started just before, in this very call
    ]
    assert await store.start_tries(OWNER, batch) == [True, False, False, True, False, False, False]
    assert await store.get_task_instances("etl", "manual__1") == [
        batch[0],
        running_b,
        an_instance("c"),
        batch[3],
    ]


@pytest.mark.parametrize("patient", [False, True])
async def test_finish_tries_applies_each_try_on_its_own_guard(store: Store, patient: bool) -> None:
    """One finish_tries call: each try lands with its XCom or not, as if finished alone."""
    await running_run(store, [an_instance(t) for t in "abc"])
    running_a, running_b = await start(store, an_instance("a"), an_instance("b"))
    tries = [
        (finished(running_a), [an_xcom("a", "1")]),  # current: applies
        (finished(running_b), [an_xcom("b", "2")]),  # current, but another owner's report
        (finished(started(an_instance("c"))), [an_xcom("c", "3")]),  # c never started
    ]
    flags = await store.finish_tries(OWNER, tries[:1], patient=patient)
    flags += await store.finish_tries(OTHER_OWNER, tries[1:2], patient=patient)
    flags += await store.finish_tries(OWNER, tries[2:], patient=patient)
    assert flags == [True, False, False]
    assert [x.task_id for x in await store.get_run_xcoms("etl", "manual__1")] == ["a"]
    assert [(await stored(store, t)).state for t in "abc"] == [
        TaskState.SUCCESS,
        TaskState.RUNNING,
        None,
    ]


async def test_finish_tries_of_one_call_share_a_batch_and_keep_their_own_flags(
    store: Store,
) -> None:
    """Current and stale tries in one finish_tries call get a flag each, in order."""
    await running_run(store, [an_instance(t) for t in "abcd"])
    running = await start(store, an_instance("a"), an_instance("b"), an_instance("d"))
    tries = [
        (finished(running[0]), [an_xcom("a")]),
        (finished(started(an_instance("c"))), [an_xcom("c")]),  # never started: stale
        (finished(running[1]), []),
        (finished(running[2]), [an_xcom("d")]),
    ]
    assert await store.finish_tries(OWNER, tries) == [True, False, True, True]
    assert [x.task_id for x in await store.get_run_xcoms("etl", "manual__1")] == ["a", "d"]


async def test_finish_tries_of_a_storm_apply_in_many_row_statements(store: Store) -> None:
    """Thousands of tries in one call, a few stale among them: each flag and XCom as alone."""
    mapped = [an_instance("sense", map_index=i) for i in range(2_100)]
    await running_run(store, mapped)
    running = await start(store, *mapped)
    stale = {7, 2_048, 2_099}  # in the first full statement, a later one and the last
    tries = [
        (
            finished(ti if i not in stale else replace(ti, try_number=2)),
            [an_xcom("sense", str(i), i)],
        )
        for i, ti in enumerate(running)
    ]
    flags = await store.finish_tries(OWNER, tries, patient=True)
    assert [i for i, ok in enumerate(flags) if not ok] == sorted(stale)
    xcoms = await store.get_run_xcoms("etl", "manual__1")
    assert sorted(x.map_index for x in xcoms) == [i for i in range(2_100) if i not in stale]
    assert all(x.value == str(x.map_index) for x in xcoms)


# --- finish_try, record_reschedule, interrupt_tries -------------------------------------------

Report = Callable[[Store, str, TaskInstanceRecord], Awaitable[bool]]


async def report_finish(store: Store, owner: str, current: TaskInstanceRecord) -> bool:
    """Report the try's success with an XCom."""
    xcom = an_xcom(current.task_id, '"done"')
    return await store.finish_try(owner, finished(current), [xcom])


async def report_reschedule(store: Store, owner: str, current: TaskInstanceRecord) -> bool:
    """Report a poke that did not finish, with an XCom."""
    xcom = an_xcom(current.task_id, '"poked"')
    return await store.record_reschedule(owner, rescheduled(current, 2), [xcom])


async def report_interrupt(store: Store, owner: str, current: TaskInstanceRecord) -> bool:
    """Report the try stopped by a shutdown."""
    [applied] = await store.interrupt_tries(owner, [interrupted(current)])
    return applied


REPORTS: dict[str, tuple[Report, Callable[[TaskInstanceRecord], TaskInstanceRecord]]] = {
    "finish_try": (report_finish, finished),
    "record_reschedule": (report_reschedule, lambda ti: rescheduled(ti, 2)),
    "interrupt_tries": (report_interrupt, interrupted),
}
"""Each try-ending transition, and the record of the instance once it applied."""


@pytest.mark.parametrize("transition", REPORTS)
@pytest.mark.parametrize("owner", [OWNER, None], ids=["its-owner", "no-owner"])
async def test_a_try_report_lands_on_the_current_try(
    store: Store, transition: str, owner: str | None
) -> None:
    """The current try's report applies when the try is its reporter's or nobody's.

    Nobody holds a reschedule-mode sensor between pokes (up_for_reschedule).
    """
    state = TaskState.RUNNING if owner else TaskState.UP_FOR_RESCHEDULE
    current = await seed(store, state, "a")
    report, outcome = REPORTS[transition]
    assert await report(store, OWNER, current)
    assert await stored(store) == outcome(current)
    written = await store.get_run_xcoms("etl", "manual__1")
    assert len(written) == (0 if transition == "interrupt_tries" else 1)


async def on_another_owners_try(store: Store) -> TaskInstanceRecord:
    """Try 1 of ``a`` runs, held by another engine."""
    await running_run(store, [an_instance("a")])
    [theirs] = await start(store, an_instance("a"), owner=OTHER_OWNER)
    return theirs


async def on_an_older_try(store: Store) -> TaskInstanceRecord:
    """Try 2 of ``a`` runs; the report is of try 1."""
    retrying = await seed(store, TaskState.UP_FOR_RETRY, "a")
    await start(store, retrying, try_number=2)
    return started(retrying, 1)


async def on_a_finished_instance(store: Store) -> TaskInstanceRecord:
    """Try 1 of ``a`` succeeded; a second report of it arrives."""
    done = await seed(store, TaskState.SUCCESS, "a")
    return started(done, 1)


async def on_an_instance_that_never_ran(store: Store) -> TaskInstanceRecord:
    """``a`` has no try yet; the report claims try 0."""
    return started(await seed(store, None, "a"), 0)


async def on_an_unknown_instance(store: Store) -> TaskInstanceRecord:
    """The report names a task the run does not have."""
    await seed(store, TaskState.RUNNING, "a")
    return started(an_instance("ghost"))


STALE = {
    "another owner": on_another_owners_try,
    "an older try": on_an_older_try,
    "a finished instance": on_a_finished_instance,
    "no try yet": on_an_instance_that_never_ran,
    "an unknown instance": on_an_unknown_instance,
}


@pytest.mark.parametrize("transition", REPORTS)
@pytest.mark.parametrize("case", STALE)
async def test_a_stale_try_report_is_refused(store: Store, transition: str, case: str) -> None:
    """A report on another owner's, an older, a finished or no try returns False; no XCom lands."""
    reported = await STALE[case](store)
    before = await store.get_task_instances("etl", "manual__1")
    report, _ = REPORTS[transition]
    assert not await report(store, OWNER, reported)
    assert await store.get_task_instances("etl", "manual__1") == before
    assert await store.get_run_xcoms("etl", "manual__1") == []


@pytest.mark.parametrize("transition", REPORTS)
@pytest.mark.parametrize("stop_error", [None, STOP_ERROR], ids=["finished", "stopped"])
async def test_a_try_report_after_its_run_finished_is_refused(
    store: Store, transition: str, stop_error: str | None
) -> None:
    """Once the run ended (normally or stopped early) a report of its try changes nothing."""
    current = await seed(store, TaskState.RUNNING, "a")
    assert await store.finish_run("etl", "manual__1", DagRunState.FAILED, T0, stop_error=stop_error)
    before = await stored(store)
    report, _ = REPORTS[transition]
    assert not await report(store, OWNER, current)
    assert await stored(store) == before
    assert await store.get_run_xcoms("etl", "manual__1") == []


# --- the late writes, one by one ------------------------------------------------------------


async def test_a_sensor_success_after_the_dagrun_timeout_is_dropped_with_its_xcom(
    store: Store,
) -> None:
    """A sensor's success arriving after the run timed out is refused; its XCom is not written.

    The sensor stays failed with the timeout's error, as finish_run left it.
    """
    sensor = await seed(store, TaskState.RUNNING, "sensor")
    timeout = T0 + timedelta(hours=1)
    assert await store.finish_run(
        "etl", "manual__1", DagRunState.FAILED, timeout, stop_error=STOP_ERROR
    )
    late = finished(sensor, end_date=timeout + timedelta(seconds=1))
    assert not await store.finish_try(OWNER, late, [an_xcom("sensor", '"found it"')])
    assert await stored(store, "sensor") == replace(
        sensor, state=TaskState.FAILED, end_date=timeout, owner=None, error=STOP_ERROR
    )
    assert await store.get_xcom("etl", "manual__1", "sensor", "return_value", -1) is None


async def test_a_poke_between_reschedules_after_the_dagrun_timeout_is_dropped(
    store: Store,
) -> None:
    """A sensor waiting between pokes when the run timed out is skipped, and its poke refused."""
    waiting = await seed(store, TaskState.UP_FOR_RESCHEDULE, "sensor")
    assert await store.finish_run("etl", "manual__1", DagRunState.FAILED, T0, stop_error=STOP_ERROR)
    assert not await store.finish_try(OWNER, finished(waiting), [an_xcom("sensor")])
    assert not await store.record_reschedule(OWNER, rescheduled(waiting, 3))
    assert await stored(store, "sensor") == replace(waiting, state=TaskState.SKIPPED, end_date=T0)
    assert await store.get_run_xcoms("etl", "manual__1") == []


async def test_a_reschedule_after_the_run_failed_does_not_leave_the_sensor_waiting(
    store: Store,
) -> None:
    """A reschedule arriving after the run failed is refused: the sensor is not up_for_reschedule.

    It stays as finish_run left it (failed with the stop error), so nothing
    waits for a poke that will never come.
    """
    sensor = await seed(store, TaskState.RUNNING, "sensor")
    assert await store.finish_run("etl", "manual__1", DagRunState.FAILED, T0, stop_error=STOP_ERROR)
    left = await stored(store, "sensor")
    assert not await store.record_reschedule(OWNER, rescheduled(sensor), [an_xcom("sensor", '"p"')])
    assert await stored(store, "sensor") == left
    assert left.state is TaskState.FAILED
    assert await store.get_run_xcoms("etl", "manual__1") == []


async def test_an_interrupt_after_the_run_finished_is_refused(store: Store) -> None:
    """A shutdown's interrupt of a try whose run already finished changes nothing."""
    current = await seed(store, TaskState.RUNNING, "a")
    assert await store.finish_run("etl", "manual__1", DagRunState.SUCCESS, T0)
    assert await store.interrupt_tries(OWNER, [interrupted(current)]) == [False]
    assert await stored(store) == current
