"""The Store contract for task instances, XCom and lifecycle, on every backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import anyio
import pytest
from storage_records import (
    OWNER,
    T0,
    a_run,
    an_instance,
    an_xcom,
    finished,
    rescheduled,
    running_run,
    start,
    started,
    stored,
)

from asyncflow.exceptions import StoreError
from asyncflow.records import TaskInstanceRecord
from asyncflow.states import DagRunState, TaskState
from asyncflow.storage.protocol import Store

pytestmark = pytest.mark.anyio


# --- task instances -----------------------------------------------------------------------


async def test_task_instances_are_ordered_by_task_id_then_map_index(store: Store) -> None:
    """get_task_instances orders by task_id, then map_index (the placeholder -1 first)."""
    created = [an_instance("b", 1), an_instance("a"), an_instance("b", 10), an_instance("b", -1)]
    await store.create_run(a_run(), created)
    got = [(ti.task_id, ti.map_index) for ti in await store.get_task_instances("etl", "manual__1")]
    assert got == [("a", -1), ("b", -1), ("b", 1), ("b", 10)]


async def test_get_task_instances_of_unknown_run_is_empty(store: Store) -> None:
    """A run that does not exist has no task instances."""
    assert await store.get_task_instances("etl", "nope") == []


async def test_create_run_stores_every_field_of_its_instances(store: Store) -> None:
    """An instance handed to create_run is stored with every field as given."""
    full = an_instance(
        "a",
        state=TaskState.UP_FOR_RESCHEDULE,
        try_number=2,
        start_date=T0,
        end_date=T0 + timedelta(seconds=1),
        next_attempt_at=T0 + timedelta(seconds=10),
        next_poke_at=T0 + timedelta(seconds=30),
        first_poke_at=T0,
        poke_count=7,
        owner="host:1",
        lease_expires_at=T0 + timedelta(seconds=60),
        error="timed out",
        interrupted_tries=2,
    )
    await store.create_run(a_run(), [full, an_instance("b")])
    assert await store.get_task_instances("etl", "manual__1") == [full, an_instance("b")]


@pytest.mark.slow
async def test_expand_task_to_100_000_instances_is_fast(store: Store) -> None:
    """Expanding one task to 100,000 mapped instances takes well under a few seconds."""
    await running_run(store, [an_instance("m")])
    mapped = [an_instance("m", i, state=TaskState.SCHEDULED) for i in range(100_000)]
    with anyio.fail_after(5):
        assert await store.expand_task("etl", "manual__1", "m", mapped)
    got = await store.get_task_instances("etl", "manual__1")
    assert len(got) == 100_000
    assert got[0].map_index == 0
    assert got[-1].map_index == 99_999


async def test_expand_task_with_a_repeated_map_index_fails_and_changes_nothing(
    store: Store,
) -> None:
    """Two mapped instances with one map_index make expand_task fail with StoreError, as a whole."""
    await running_run(store, [an_instance("m")])
    with pytest.raises(StoreError):
        await store.expand_task("etl", "manual__1", "m", [an_instance("m", 0), an_instance("m", 0)])
    assert await store.get_task_instances("etl", "manual__1") == [an_instance("m")]


# --- finish_try and record_reschedule ---------------------------------------------------------


async def test_finish_try_records_the_outcome_and_its_xcom(store: Store) -> None:
    """finish_try stores the try's outcome together with its XCom values and returns True."""
    await running_run(store, [an_instance("a")])
    [running] = await start(store, an_instance("a"))
    values = [an_xcom("a", '{"rows": 3}'), an_xcom("a", '"s3://x"', key="path")]
    assert await store.finish_try(OWNER, finished(running), values)
    assert await store.get_task_instances("etl", "manual__1") == [finished(running)]
    assert await store.get_xcom("etl", "manual__1", "a", "return_value", -1) == values[0]
    assert await store.get_xcom("etl", "manual__1", "a", "path", -1) == values[1]


async def test_finish_try_without_xcom_records_the_outcome(store: Store) -> None:
    """finish_try with no XCom just stores the outcome."""
    await running_run(store, [an_instance("a")])
    [running] = await start(store, an_instance("a"))
    assert await store.finish_try(OWNER, finished(running, TaskState.FAILED))
    assert await store.get_task_instances("etl", "manual__1") == [
        finished(running, TaskState.FAILED)
    ]
    assert await store.get_run_xcoms("etl", "manual__1") == []


async def test_finish_try_writes_only_the_outcome(store: Store) -> None:
    """finish_try writes state, end, next attempt/poke, first poke, poke count and error only.

    The try's own fields (start_date, interrupted_tries) keep their stored
    values whatever the record says, and the owner and lease are cleared.
    """
    await running_run(store, [an_instance("a")])
    [running] = await start(store, an_instance("a"))
    outcome = replace(
        running,
        state=TaskState.UP_FOR_RETRY,
        end_date=T0 + timedelta(minutes=9),
        next_attempt_at=T0 + timedelta(minutes=15),
        next_poke_at=T0 + timedelta(minutes=16),
        first_poke_at=T0 + timedelta(minutes=1),
        poke_count=4,
        error="OSError: gone",
        start_date=T0 + timedelta(days=3),  # ignored
        interrupted_tries=6,  # ignored
        owner=OWNER,  # cleared
        lease_expires_at=T0 + timedelta(days=1),  # cleared
    )
    assert await store.finish_try(OWNER, outcome)
    assert await stored(store) == replace(
        outcome,
        start_date=running.start_date,
        interrupted_tries=0,
        owner=None,
        lease_expires_at=None,
    )


async def test_finish_try_of_an_unknown_run_stores_nothing(store: Store) -> None:
    """A finish naming an unknown run returns False and stores neither instance nor XCom."""
    ghost = started(an_instance("a", run_id="ghost"))
    assert not await store.finish_try(OWNER, finished(ghost), [an_xcom("a", run_id="ghost")])
    assert await store.get_xcom("etl", "ghost", "a", "return_value", -1) is None


async def test_finish_try_rejects_xcom_of_another_instance(store: Store) -> None:
    """An XCom value produced by another instance raises ValueError and nothing is written."""
    await running_run(store, [an_instance("a")])
    [running] = await start(store, an_instance("a"))
    with pytest.raises(ValueError, match="not produced by"):
        await store.finish_try(OWNER, finished(running), [an_xcom("b")])
    assert await store.get_task_instances("etl", "manual__1") == [running]
    assert await store.get_run_xcoms("etl", "manual__1") == []


async def test_finish_try_names_itself_in_the_xcom_error(store: Store) -> None:
    """The ValueError of a foreign XCom value names finish_try, the operation the caller made."""
    await running_run(store, [an_instance("a")])
    [running] = await start(store, an_instance("a"))
    with pytest.raises(ValueError, match=r"^finish_try: .* not produced by"):
        await store.finish_try(OWNER, finished(running), [an_xcom("b")])


async def test_record_reschedule_writes_only_what_a_poke_changes(store: Store) -> None:
    """A reschedule updates the poke's fields and keeps the try's own (try_number, start_date)."""
    await running_run(store, [an_instance("s")])
    [running] = await start(store, an_instance("s"), try_number=1)
    poked = replace(
        running,
        state=TaskState.UP_FOR_RESCHEDULE,
        start_date=T0 + timedelta(hours=1),  # ignored
        next_attempt_at=T0 + timedelta(hours=2),  # ignored
        interrupted_tries=5,  # ignored
        end_date=T0 + timedelta(seconds=1),
        next_poke_at=T0 + timedelta(seconds=30),
        first_poke_at=T0,
        poke_count=3,
        owner=OWNER,  # cleared
        lease_expires_at=T0 + timedelta(seconds=90),  # cleared
        error="the first poke failed",
    )
    assert await store.record_reschedule(OWNER, poked)
    assert await stored(store, "s") == replace(
        poked,
        start_date=running.start_date,
        next_attempt_at=None,
        interrupted_tries=0,
        owner=None,
        lease_expires_at=None,
    )


async def test_record_reschedule_records_the_xcom_of_the_poke(store: Store) -> None:
    """XCom values pushed during a poke are stored with the reschedule."""
    await running_run(store, [an_instance("s")])
    [running] = await start(store, an_instance("s"))
    assert await store.record_reschedule(OWNER, rescheduled(running), [an_xcom("s", '"p"')])
    assert await store.get_xcoms("etl", "manual__1", "s", "return_value") == [an_xcom("s", '"p"')]
    assert (await stored(store, "s")).state == TaskState.UP_FOR_RESCHEDULE


async def test_a_reschedule_of_an_instance_not_stored_is_refused(store: Store) -> None:
    """Rescheduling an unknown task instance (or run) returns False; its XCom is not stored."""
    await running_run(store, [an_instance("a")])
    ghost = rescheduled(started(an_instance("ghost")))
    assert not await store.record_reschedule(OWNER, ghost, [an_xcom("ghost")])
    elsewhere = rescheduled(started(an_instance("a", run_id="nope")))
    assert not await store.record_reschedule(OWNER, elsewhere)
    assert await store.get_run_xcoms("etl", "manual__1") == []
    assert await store.get_task_instances("etl", "manual__1") == [an_instance("a")]


@pytest.mark.parametrize(
    "fields",
    [
        {"state": TaskState.SUCCESS, "next_poke_at": T0},
        {"state": TaskState.UP_FOR_RESCHEDULE, "next_poke_at": None},
    ],
    ids=["success", "no-next-poke"],
)
async def test_record_reschedule_needs_up_for_reschedule_with_a_next_poke(
    store: Store, fields: dict[str, object]
) -> None:
    """A record that is not a sensor between pokes raises ValueError and changes nothing."""
    await running_run(store, [an_instance("s")])
    [running] = await start(store, an_instance("s"))
    with pytest.raises(ValueError, match="must be up_for_reschedule with a next_poke_at"):
        await store.record_reschedule(OWNER, replace(running, **fields))
    assert await store.get_task_instances("etl", "manual__1") == [running]


async def test_record_reschedule_rejects_xcom_of_another_instance(store: Store) -> None:
    """An XCom value produced by another instance raises ValueError naming the operation."""
    await running_run(store, [an_instance("s")])
    [running] = await start(store, an_instance("s"))
    with pytest.raises(ValueError, match=r"record_reschedule: .* not produced by"):
        await store.record_reschedule(OWNER, rescheduled(running), [an_xcom("b")])
    assert await store.get_task_instances("etl", "manual__1") == [running]


# --- XCom ---------------------------------------------------------------------------------


async def test_push_xcom_upserts_by_identity_and_key(store: Store) -> None:
    """Pushing the same (task, map_index, key) again replaces the value."""
    await store.create_run(a_run(), [])
    await store.push_xcom([an_xcom("a", "1"), an_xcom("a", "2", key="other")])
    await store.push_xcom([an_xcom("a", "3")])
    assert await store.get_xcom("etl", "manual__1", "a", "return_value", -1) == an_xcom("a", "3")
    assert await store.get_xcom("etl", "manual__1", "a", "other", -1) == an_xcom(
        "a", "2", key="other"
    )


async def test_get_xcom_never_pushed_is_none(store: Store) -> None:
    """get_xcom returns None for a value never pushed, whichever part of the key differs."""
    await store.create_run(a_run(), [])
    await store.push_xcom([an_xcom("a")])
    assert await store.get_xcom("etl", "manual__1", "a", "return_value", 0) is None
    assert await store.get_xcom("etl", "manual__1", "a", "nope", -1) is None
    assert await store.get_xcom("etl", "manual__1", "b", "return_value", -1) is None


async def test_get_xcoms_orders_by_map_index_and_keeps_one_key(store: Store) -> None:
    """get_xcoms returns a task's values under one key ordered by map_index."""
    await store.create_run(a_run(), [])
    pushed = [an_xcom("m", str(i), map_index=i) for i in (10, 2, 0, 1)]
    await store.push_xcom([*pushed, an_xcom("m", '"x"', map_index=5, key="other")])
    got = await store.get_xcoms("etl", "manual__1", "m", "return_value")
    assert [x.map_index for x in got] == [0, 1, 2, 10]
    assert [x.value for x in got] == ["0", "1", "2", "10"]
    assert await store.get_xcoms("etl", "manual__1", "nobody", "return_value") == []


async def test_get_run_xcoms_returns_every_value_of_the_run_in_order(store: Store) -> None:
    """get_run_xcoms returns a run's values ordered by task_id, map_index, then key."""
    await store.create_run(a_run(), [])
    await store.create_run(a_run(run_id="other"), [])
    await store.push_xcom(
        [an_xcom("b"), an_xcom("a", key="z"), an_xcom("a", map_index=1), an_xcom("a", key="k")]
    )
    await store.push_xcom([an_xcom("a", run_id="other")])
    got = [(x.task_id, x.map_index, x.key) for x in await store.get_run_xcoms("etl", "manual__1")]
    assert got == [
        ("a", -1, "k"),
        ("a", -1, "z"),
        ("a", 1, "return_value"),
        ("b", -1, "return_value"),
    ]


async def test_delete_run_xcoms_removes_only_that_runs_values(store: Store) -> None:
    """delete_run_xcoms empties one run's XCom and says how many values it removed."""
    await store.create_run(a_run(), [])
    await store.create_run(a_run(run_id="other"), [])
    await store.push_xcom([an_xcom("a"), an_xcom("b", map_index=3)])
    await store.push_xcom([an_xcom("a", run_id="other")])
    assert await store.delete_run_xcoms("etl", "manual__1") == 2
    assert await store.get_run_xcoms("etl", "manual__1") == []
    assert len(await store.get_run_xcoms("etl", "other")) == 1
    assert await store.delete_run_xcoms("etl", "manual__1") == 0


async def test_push_xcom_of_unknown_run_fails(store: Store) -> None:
    """Pushing XCom for a run that does not exist raises StoreError."""
    with pytest.raises(StoreError):
        await store.push_xcom([an_xcom("a", run_id="ghost")])


# --- lifecycle, counters, concurrency -----------------------------------------------------


async def test_stats_count_write_calls_and_transactions(store: Store) -> None:
    """Each awaited write counts one write and, alone, one transaction; reads count nothing."""
    before = replace(store.stats)
    await store.create_run(a_run(), [an_instance("a")])
    await store.start_run("etl", "manual__1", T0)
    await store.start_tries(OWNER, [started(an_instance("a"))])
    await store.get_task_instances("etl", "manual__1")
    assert store.stats.writes - before.writes == 3
    assert store.stats.transactions - before.transactions == 3


async def test_concurrent_writers_all_land(store: Store) -> None:
    """Tries started and finished from 200 concurrent coroutines are all stored."""
    instances = [an_instance(f"t{i:03d}") for i in range(200)]
    await running_run(store, instances)

    async def run_try(ti: TaskInstanceRecord) -> None:
        [running] = await start(store, ti)
        assert await store.finish_try(OWNER, finished(running), [an_xcom(ti.task_id)])

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for ti in instances:
                tg.start_soon(run_try, ti)
    stored_states = {ti.state for ti in await store.get_task_instances("etl", "manual__1")}
    assert stored_states == {TaskState.SUCCESS}
    assert len(await store.get_run_xcoms("etl", "manual__1")) == 200


async def test_data_survives_close_and_reopen(store: Store) -> None:
    """What was written before close is read back after open."""
    run = await running_run(store, [an_instance("a")], run=a_run(conf={"k": "v"}))
    [running] = await start(store, an_instance("a"))
    await store.finish_try(OWNER, finished(running), [an_xcom("a")])
    await store.close()
    await store.open()
    assert await store.get_run("etl", "manual__1") == run
    assert await store.get_task_instances("etl", "manual__1") == [finished(running)]
    assert await store.get_xcoms("etl", "manual__1", "a", "return_value") == [an_xcom("a")]


async def test_open_and_close_are_idempotent(store: Store) -> None:
    """Opening an open store or closing a closed one does nothing."""
    await store.open()
    await store.create_run(a_run(), [])
    await store.close()
    await store.close()
    await store.open()
    assert await store.get_run("etl", "manual__1") is not None


async def test_a_closed_store_refuses_reads_and_writes(store: Store) -> None:
    """After close, reads and writes raise StoreError saying the store is not open."""
    await store.close()
    try:
        with pytest.raises(StoreError, match="not open"):
            await store.get_run("etl", "manual__1")
        with pytest.raises(StoreError, match="not open"):
            await store.start_tries(OWNER, [started(an_instance("a"))])
        with pytest.raises(StoreError, match="not open"):
            await store.finish_run("etl", "manual__1", DagRunState.SUCCESS, T0)
    finally:
        await store.open()
