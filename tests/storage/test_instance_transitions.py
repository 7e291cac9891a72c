"""decide_instances, expand_task, recover_tries and interrupt_tries, on every backend."""

from __future__ import annotations

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
    decided,
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

# --- decide_instances -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "state", [TaskState.SKIPPED, TaskState.UPSTREAM_FAILED, TaskState.FAILED], ids=str
)
async def test_decide_instances_ends_an_instance_that_never_ran(
    store: Store, state: TaskState
) -> None:
    """An instance with no state ends as decided: state, start, end and error are written."""
    await running_run(store, [an_instance("a")])
    decision = replace(decided(an_instance("a"), state), error="upstream said so", try_number=5)
    assert await store.decide_instances([decision]) == [True]
    assert await stored(store) == replace(decision, try_number=0)  # only the decision's fields


@pytest.mark.parametrize("state", list(TaskState), ids=str)
async def test_decide_instances_leaves_an_instance_that_has_a_state(
    store: Store, state: TaskState
) -> None:
    """Once an instance has a state (scheduled, running, finished...) no decision lands on it."""
    before = await seed(store, state, "a")
    assert await store.decide_instances([decided(before)]) == [False]
    assert await stored(store) == before


@pytest.mark.parametrize("state", [DagRunState.QUEUED, DagRunState.SUCCESS, DagRunState.FAILED])
async def test_decide_instances_only_on_a_running_run(store: Store, state: DagRunState) -> None:
    """A decision on a queued or finished run returns False and changes nothing."""
    await store.create_run(a_run(state=state), [an_instance("a")])
    assert await store.decide_instances([decided(an_instance("a"))]) == [False]
    assert await stored(store) == an_instance("a")


async def test_decide_instances_returns_a_flag_per_instance(store: Store) -> None:
    """In one call, undecided instances are decided and the others (or unknown ones) refused."""
    await running_run(store, [an_instance(t) for t in "abc"])
    [running] = await start(store, an_instance("b"))
    flags = await store.decide_instances(
        [decided(an_instance(t)) for t in ("a", "b", "c", "ghost")]
    )
    assert flags == [True, False, True, False]
    assert await store.get_task_instances("etl", "manual__1") == [
        decided(an_instance("a")),
        running,
        decided(an_instance("c")),
    ]


# --- expand_task ----------------------------------------------------------------------------


async def test_expand_task_replaces_the_undecided_placeholder_on_a_running_run(
    store: Store,
) -> None:
    """expand_task returns True, removes map_index -1 and adds the mapped instances."""
    await running_run(store, [an_instance("m"), an_instance("other")])
    mapped = [an_instance("m", i, state=TaskState.SCHEDULED) for i in range(3)]
    assert await store.expand_task("etl", "manual__1", "m", mapped)
    assert await store.get_task_instances("etl", "manual__1") == [*mapped, an_instance("other")]


@pytest.mark.parametrize("state", [DagRunState.SUCCESS, DagRunState.FAILED, DagRunState.QUEUED])
async def test_expand_task_on_a_run_that_is_not_running_inserts_nothing(
    store: Store, state: DagRunState
) -> None:
    """A downstream mapped task expanded after its run finished (or before it started): False.

    The placeholder stays and no mapped instance is inserted.
    """
    await store.create_run(a_run(), [an_instance("m")])
    if state is not DagRunState.QUEUED:
        assert await store.start_run("etl", "manual__1", T0)
        assert await store.finish_run("etl", "manual__1", state, T0, stop_error=None)
    assert not await store.expand_task("etl", "manual__1", "m", [an_instance("m", 0)])
    assert await store.get_task_instances("etl", "manual__1") == [an_instance("m")]


async def test_expand_task_after_a_dagrun_timeout_leaves_the_placeholder_skipped(
    store: Store,
) -> None:
    """After a run stopped early, its skipped placeholder is not expanded."""
    await running_run(store, [an_instance("m")])
    assert await store.finish_run("etl", "manual__1", DagRunState.FAILED, T0, stop_error=STOP_ERROR)
    assert not await store.expand_task("etl", "manual__1", "m", [an_instance("m", 0)])
    [placeholder] = await store.get_task_instances("etl", "manual__1")
    assert (placeholder.map_index, placeholder.state) == (-1, TaskState.SKIPPED)


@pytest.mark.parametrize(
    "state", [TaskState.SKIPPED, TaskState.UPSTREAM_FAILED, TaskState.SCHEDULED], ids=str
)
async def test_expand_task_of_a_decided_placeholder_is_refused(
    store: Store, state: TaskState
) -> None:
    """A placeholder that has a state is not expanded: False, and nothing is inserted."""
    before = await seed(store, state, "m")
    assert not await store.expand_task("etl", "manual__1", "m", [an_instance("m", 0)])
    assert await store.get_task_instances("etl", "manual__1") == [before]


async def test_a_task_expands_once(store: Store) -> None:
    """A second expansion finds no placeholder: False, and the first expansion stays."""
    await running_run(store, [an_instance("m")])
    first = [an_instance("m", i) for i in range(2)]
    assert await store.expand_task("etl", "manual__1", "m", first)
    assert not await store.expand_task("etl", "manual__1", "m", [an_instance("m", 5)])
    assert await store.get_task_instances("etl", "manual__1") == first


async def test_expand_task_of_an_unknown_run_or_task_is_refused(store: Store) -> None:
    """Expanding a task of a run, or a task, that does not exist returns False."""
    await running_run(store, [an_instance("m")])
    ghost_run = [an_instance("m", 0, run_id="ghost")]
    assert not await store.expand_task("etl", "ghost", "m", ghost_run)
    assert not await store.expand_task("etl", "manual__1", "x", [an_instance("x", 0)])
    assert await store.get_task_instances("etl", "manual__1") == [an_instance("m")]


async def test_expand_task_with_no_items_removes_the_placeholder(store: Store) -> None:
    """Expanding over nothing leaves the task with no instances at all."""
    await running_run(store, [an_instance("m")])
    assert await store.expand_task("etl", "manual__1", "m", [])
    assert await store.get_task_instances("etl", "manual__1") == []


async def test_expand_task_rejects_instances_that_are_not_mapped_instances_of_it(
    store: Store,
) -> None:
    """Instances of another task, or with map_index -1, raise ValueError and change nothing."""
    await running_run(store, [an_instance("m")])
    with pytest.raises(ValueError, match="not an instance of"):
        await store.expand_task("etl", "manual__1", "m", [an_instance("x", 0)])
    with pytest.raises(ValueError, match="map_index >= 0"):
        await store.expand_task("etl", "manual__1", "m", [an_instance("m", -1)])
    assert await store.get_task_instances("etl", "manual__1") == [an_instance("m")]


# --- recover_tries --------------------------------------------------------------------------

DEAD = "dead-host:1:deadbeef"
"""The engine that stopped with tries in flight."""


def recovered(read: TaskInstanceRecord) -> TaskInstanceRecord:
    """The recovered instance: up for retry in an hour, with the recovery's error."""
    return replace(
        read,
        state=TaskState.UP_FOR_RETRY,
        end_date=T0 + timedelta(minutes=30),
        next_attempt_at=T0 + timedelta(hours=1),
        owner=None,
        lease_expires_at=None,
        error="the engine running this try stopped",
    )


async def in_flight(store: Store, state: TaskState) -> TaskInstanceRecord:
    """Try 1 of ``a`` as a stopped engine left it: running (held by it) or between pokes."""
    await running_run(store, [an_instance("a")])
    [read] = await start(store, an_instance("a"), owner=DEAD)
    if state is TaskState.UP_FOR_RESCHEDULE:
        assert await store.record_reschedule(DEAD, rescheduled(read))
        return rescheduled(read)
    return read


@pytest.mark.parametrize("state", [TaskState.RUNNING, TaskState.UP_FOR_RESCHEDULE], ids=str)
async def test_recover_tries_ends_a_try_still_as_it_was_read(
    store: Store, state: TaskState
) -> None:
    """A try left in flight (owned, or between pokes with no owner) is recovered as asked."""
    read = await in_flight(store, state)
    assert await store.recover_tries([(read, recovered(read))]) == [True]
    assert await stored(store) == recovered(read)


async def test_recover_tries_writes_only_the_recovered_fields(store: Store) -> None:
    """Only state, end_date, next_attempt_at and error are written; the owner is cleared."""
    read = await in_flight(store, TaskState.RUNNING)
    new = replace(
        recovered(read),
        try_number=9,
        start_date=T0 + timedelta(days=1),
        poke_count=4,
        interrupted_tries=3,
        owner="ignored",
    )
    assert await store.recover_tries([(read, new)]) == [True]
    assert await stored(store) == recovered(read)


MISREAD = {
    "state": {"state": TaskState.QUEUED},
    "owner": {"owner": OTHER_OWNER},
    "no owner": {"owner": None},
    "try_number": {"try_number": 2},
}


@pytest.mark.parametrize("field", MISREAD)
async def test_recover_tries_needs_state_owner_and_try_number_as_read(
    store: Store, field: str
) -> None:
    """A recovery whose read differs from the stored instance in state, owner or try: False."""
    actual = await in_flight(store, TaskState.RUNNING)
    read = replace(actual, **MISREAD[field])
    assert await store.recover_tries([(read, recovered(read))]) == [False]
    assert await stored(store) == actual


async def change_after_reading(store: Store, change: str, read: TaskInstanceRecord) -> None:
    """What happened to the try between the recovery's read and its write."""
    if change == "finished meanwhile":
        assert await store.finish_try(DEAD, finished(read))
    elif change == "retried meanwhile":
        assert await store.finish_try(DEAD, finished(read, TaskState.UP_FOR_RETRY))
        await start(store, read, try_number=2, owner=DEAD)
    elif change == "interrupted meanwhile":
        assert await store.interrupt_tries(DEAD, [interrupted(read)]) == [True]
    else:
        assert await store.finish_run("etl", "manual__1", DagRunState.FAILED, T0)


@pytest.mark.parametrize(
    "change", ["finished meanwhile", "retried meanwhile", "interrupted meanwhile", "run finished"]
)
async def test_recover_tries_is_refused_once_the_try_moved_on(store: Store, change: str) -> None:
    """A recovery of a try that finished, was retried or interrupted, or whose run ended: False."""
    read = await in_flight(store, TaskState.RUNNING)
    await change_after_reading(store, change, read)
    before = await stored(store)
    assert await store.recover_tries([(read, recovered(read))]) == [False]
    assert await stored(store) == before


async def test_recover_tries_returns_a_flag_per_pair(store: Store) -> None:
    """In one call, the pairs still as read are recovered and the others refused."""
    await running_run(store, [an_instance(t) for t in "abc"])
    a, b, c = await start(store, an_instance("a"), an_instance("b"), an_instance("c"), owner=DEAD)
    assert await store.finish_try(DEAD, finished(b))
    pairs = [(a, recovered(a)), (b, recovered(b)), (c, recovered(c))]
    assert await store.recover_tries(pairs) == [True, False, True]
    assert await store.get_task_instances("etl", "manual__1") == [
        recovered(a),
        finished(b),
        recovered(c),
    ]


# --- interrupt_tries ------------------------------------------------------------------------


async def test_interrupt_tries_keeps_the_try_number_and_counts_the_interruption(
    store: Store,
) -> None:
    """An interrupted try is back to no state with its number; the next execution is try 2."""
    await running_run(store, [an_instance("a")])
    [running] = await start(store, an_instance("a"))
    assert await store.interrupt_tries(OWNER, [interrupted(running)]) == [True]
    after = await stored(store)
    assert after == interrupted(running)
    assert (after.state, after.try_number, after.interrupted_tries) == (None, 1, 1)
    assert await store.start_tries(OWNER, [started(after, 2)]) == [True]
    assert (await stored(store)).interrupted_tries == 1


async def test_interrupt_tries_writes_only_the_interruption(store: Store) -> None:
    """Only state, end_date, error and interrupted_tries are written; the owner is cleared."""
    await running_run(store, [an_instance("a")])
    [running] = await start(store, an_instance("a"))
    new = replace(
        interrupted(running),
        start_date=T0 + timedelta(days=1),
        next_attempt_at=T0 + timedelta(days=2),
        poke_count=8,
        owner="ignored",
    )
    assert await store.interrupt_tries(OWNER, [new]) == [True]
    assert await stored(store) == interrupted(running)


async def test_an_interrupted_sensor_between_pokes_stays_up_for_reschedule(store: Store) -> None:
    """A reschedule-mode sensor interrupted between pokes keeps waiting for its next poke."""
    waiting = await seed(store, TaskState.UP_FOR_RESCHEDULE, "s")
    assert await store.interrupt_tries(OWNER, [interrupted(waiting)]) == [True]
    after = await stored(store, "s")
    assert after == interrupted(waiting)
    assert (after.state, after.next_poke_at) == (TaskState.UP_FOR_RESCHEDULE, waiting.next_poke_at)


async def test_interrupt_tries_returns_a_flag_per_instance(store: Store) -> None:
    """A shutdown's batch interrupts its own current tries and refuses the others."""
    await running_run(store, [an_instance(t) for t in "abcd"])
    a, c = await start(store, an_instance("a"), an_instance("c"))
    [b] = await start(store, an_instance("b"), owner=OTHER_OWNER)
    assert await store.finish_try(OWNER, finished(c))
    batch = [interrupted(a), interrupted(b), interrupted(c), interrupted(started(an_instance("d")))]
    assert await store.interrupt_tries(OWNER, batch) == [True, False, False, False]
    assert await store.get_task_instances("etl", "manual__1") == [
        interrupted(a),
        b,
        finished(c),
        an_instance("d"),
    ]


@pytest.mark.parametrize("count", [0, 1, 3, 2**31])
async def test_interrupted_tries_round_trip(store: Store, count: int) -> None:
    """interrupted_tries is stored and read back as given, from create_run and interrupt_tries."""
    await running_run(store, [an_instance("a", interrupted_tries=count), an_instance("b")])
    assert (await stored(store, "a")).interrupted_tries == count
    [running] = await start(store, an_instance("b"))
    again = replace(interrupted(running), interrupted_tries=count)
    assert await store.interrupt_tries(OWNER, [again]) == [True]
    assert (await stored(store, "b")).interrupted_tries == count


async def test_empty_batches_return_no_flags(store: Store) -> None:
    """A batch transition handed no record returns an empty list and changes nothing."""
    await running_run(store, [an_instance("a")])
    assert await store.start_tries(OWNER, []) == []
    assert await store.interrupt_tries(OWNER, []) == []
    assert await store.decide_instances([]) == []
    assert await store.recover_tries([]) == []
    assert await store.get_task_instances("etl", "manual__1") == [an_instance("a")]
