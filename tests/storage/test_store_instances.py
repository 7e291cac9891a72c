"""The Store contract for task instances, XCom and lifecycle, on every backend."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import anyio
import pytest
from storage_records import T0, a_run, an_instance, an_xcom, finished, rescheduled

from asyncflow.exceptions import StoreError
from asyncflow.states import TaskState
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


async def test_set_task_instances_upserts_every_field(store: Store) -> None:
    """set_task_instances replaces existing instances whole and inserts new ones."""
    await store.create_run(a_run(), [an_instance("a"), an_instance("b")])
    changed = an_instance(
        "a",
        state=TaskState.UP_FOR_RESCHEDULE,
        try_number=2,
        start_date=T0,
        next_poke_at=T0 + timedelta(seconds=30),
        first_poke_at=T0,
        poke_count=7,
        owner="host:1",
        lease_expires_at=T0 + timedelta(seconds=60),
        error="timed out",
    )
    added = an_instance("c", state=TaskState.SCHEDULED)
    await store.set_task_instances([changed, added])
    assert await store.get_task_instances("etl", "manual__1") == [changed, an_instance("b"), added]
    cleared = an_instance("a", state=TaskState.QUEUED)
    await store.set_task_instances([cleared])
    [first, *_] = await store.get_task_instances("etl", "manual__1")
    assert first == cleared


async def test_set_task_instances_of_unknown_run_fails_and_writes_nothing(store: Store) -> None:
    """One instance of an unknown run fails the whole call with StoreError; none is written."""
    await store.create_run(a_run(), [])
    with pytest.raises(StoreError):
        await store.set_task_instances([an_instance("a"), an_instance("a", run_id="ghost")])
    assert await store.get_task_instances("etl", "manual__1") == []


async def test_expand_task_replaces_the_placeholder_by_mapped_instances(store: Store) -> None:
    """expand_task removes map_index -1 of the task and adds 0..n-1, leaving other tasks."""
    await store.create_run(a_run(), [an_instance("m"), an_instance("other")])
    mapped = [an_instance("m", i, state=TaskState.SCHEDULED) for i in range(3)]
    await store.expand_task("etl", "manual__1", "m", mapped)
    got = await store.get_task_instances("etl", "manual__1")
    assert got == [*mapped, an_instance("other")]


async def test_expand_task_with_no_items_removes_the_placeholder(store: Store) -> None:
    """Expanding over nothing leaves the task with no instances at all."""
    await store.create_run(a_run(), [an_instance("m")])
    await store.expand_task("etl", "manual__1", "m", [])
    assert await store.get_task_instances("etl", "manual__1") == []


async def test_expand_task_rejects_instances_that_are_not_mapped_instances_of_it(
    store: Store,
) -> None:
    """Instances of another task, or with map_index -1, raise ValueError and change nothing."""
    await store.create_run(a_run(), [an_instance("m")])
    with pytest.raises(ValueError, match="not an instance of"):
        await store.expand_task("etl", "manual__1", "m", [an_instance("x", 0)])
    with pytest.raises(ValueError, match="map_index >= 0"):
        await store.expand_task("etl", "manual__1", "m", [an_instance("m", -1)])
    assert await store.get_task_instances("etl", "manual__1") == [an_instance("m")]


async def test_expand_task_of_unknown_run_fails(store: Store) -> None:
    """Expanding a task of a run that does not exist raises StoreError."""
    with pytest.raises(StoreError):
        await store.expand_task("etl", "ghost", "m", [an_instance("m", 0, run_id="ghost")])


@pytest.mark.slow
async def test_expand_task_to_100_000_instances_is_fast(store: Store) -> None:
    """Expanding one task to 100,000 mapped instances takes well under a few seconds."""
    await store.create_run(a_run(), [an_instance("m")])
    mapped = [an_instance("m", i, state=TaskState.SCHEDULED) for i in range(100_000)]
    with anyio.fail_after(5):
        await store.expand_task("etl", "manual__1", "m", mapped)
    got = await store.get_task_instances("etl", "manual__1")
    assert len(got) == 100_000
    assert got[0].map_index == 0
    assert got[-1].map_index == 99_999


async def test_finish_task_instance_records_the_outcome_and_its_xcom(store: Store) -> None:
    """finish_task_instance stores the instance's new state together with its XCom values."""
    await store.create_run(a_run(), [an_instance("a")])
    done = finished(an_instance("a"))
    values = [an_xcom("a", '{"rows": 3}'), an_xcom("a", '"s3://x"', key="path")]
    await store.finish_task_instance(done, values)
    assert await store.get_task_instances("etl", "manual__1") == [done]
    assert await store.get_xcom("etl", "manual__1", "a", "return_value", -1) == values[0]
    assert await store.get_xcom("etl", "manual__1", "a", "path", -1) == values[1]


async def test_finish_task_instance_without_xcom_records_the_outcome(store: Store) -> None:
    """finish_task_instance with no XCom just stores the instance."""
    await store.create_run(a_run(), [an_instance("a")])
    done = finished(an_instance("a"), TaskState.FAILED)
    await store.finish_task_instance(done)
    assert await store.get_task_instances("etl", "manual__1") == [done]
    assert await store.get_run_xcoms("etl", "manual__1") == []


async def test_finish_task_instance_of_unknown_run_stores_nothing(store: Store) -> None:
    """A finish naming an unknown run raises StoreError and stores neither instance nor XCom."""
    ghost = an_instance("a", run_id="ghost")
    with pytest.raises(StoreError):
        await store.finish_task_instance(finished(ghost), [an_xcom("a", run_id="ghost")])
    assert await store.get_xcom("etl", "ghost", "a", "return_value", -1) is None


async def test_finish_task_instance_rejects_xcom_of_another_instance(store: Store) -> None:
    """An XCom value produced by another instance raises ValueError and nothing is written."""
    await store.create_run(a_run(), [an_instance("a")])
    with pytest.raises(ValueError, match="not produced by"):
        await store.finish_task_instance(finished(an_instance("a")), [an_xcom("b")])
    assert await store.get_task_instances("etl", "manual__1") == [an_instance("a")]


async def test_reschedule_task_instance_writes_only_what_a_poke_changes(store: Store) -> None:
    """A reschedule updates the poke's fields and keeps the try's own (try_number, start_date)."""
    running = an_instance(
        "s", state=TaskState.RUNNING, try_number=2, start_date=T0, first_poke_at=T0, owner="h:1"
    )
    await store.create_run(a_run(), [running])
    poked = dataclasses.replace(
        running,
        state=TaskState.UP_FOR_RESCHEDULE,
        try_number=9,  # not the stored try's: ignored
        start_date=T0 + timedelta(hours=1),  # ignored
        next_attempt_at=T0 + timedelta(hours=2),  # ignored
        end_date=T0 + timedelta(seconds=1),
        next_poke_at=T0 + timedelta(seconds=30),
        poke_count=3,
        owner=None,
        lease_expires_at=T0 + timedelta(seconds=90),
        error="the first try failed",
    )
    await store.reschedule_task_instance(poked)
    assert await store.get_task_instances("etl", "manual__1") == [
        dataclasses.replace(poked, try_number=2, start_date=T0, next_attempt_at=None)
    ]


async def test_reschedule_task_instance_records_the_xcom_of_the_poke(store: Store) -> None:
    """XCom values pushed during a poke are stored with the reschedule."""
    await store.create_run(a_run(), [an_instance("s")])
    await store.reschedule_task_instance(rescheduled(an_instance("s")), [an_xcom("s", '"p"')])
    assert await store.get_xcoms("etl", "manual__1", "s", "return_value") == [an_xcom("s", '"p"')]
    [stored] = await store.get_task_instances("etl", "manual__1")
    assert stored.state == TaskState.UP_FOR_RESCHEDULE


async def test_reschedule_of_an_instance_not_stored_fails_and_writes_nothing(store: Store) -> None:
    """Rescheduling an unknown task instance (or run) raises StoreError; its XCom is not stored."""
    await store.create_run(a_run(), [an_instance("a")])
    with pytest.raises(StoreError, match=r"no task instance etl/manual__1/ghost\[-1\]"):
        await store.reschedule_task_instance(rescheduled(an_instance("ghost")), [an_xcom("ghost")])
    with pytest.raises(StoreError, match="no task instance etl/nope/a"):
        await store.reschedule_task_instance(rescheduled(an_instance("a", run_id="nope")))
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
async def test_reschedule_needs_up_for_reschedule_with_a_next_poke(
    store: Store, fields: dict[str, object]
) -> None:
    """A record that is not a sensor between pokes raises ValueError and changes nothing."""
    await store.create_run(a_run(), [an_instance("s")])
    with pytest.raises(ValueError, match="must be up_for_reschedule with a next_poke_at"):
        await store.reschedule_task_instance(an_instance("s", **fields))
    assert await store.get_task_instances("etl", "manual__1") == [an_instance("s")]


async def test_reschedule_rejects_xcom_of_another_instance(store: Store) -> None:
    """An XCom value produced by another instance raises ValueError naming the operation."""
    await store.create_run(a_run(), [an_instance("s")])
    with pytest.raises(ValueError, match=r"reschedule_task_instance: .* not produced by"):
        await store.reschedule_task_instance(rescheduled(an_instance("s")), [an_xcom("b")])
    assert await store.get_task_instances("etl", "manual__1") == [an_instance("s")]


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
    await store.push_xcom([*pushed, an_xcom("m", "x", map_index=5, key="other")])
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
    before = dataclasses.replace(store.stats)
    await store.create_run(a_run(), [an_instance("a")])
    await store.set_task_instances([an_instance("a", state=TaskState.QUEUED)])
    await store.get_task_instances("etl", "manual__1")
    assert store.stats.writes - before.writes == 2
    assert store.stats.transactions - before.transactions == 2


async def test_concurrent_writers_all_land(store: Store) -> None:
    """Writes from 200 concurrent coroutines are all stored."""
    await store.create_run(a_run(), [])
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(store.set_task_instances, [an_instance(f"t{i:03d}")])
    assert len(await store.get_task_instances("etl", "manual__1")) == 200


async def test_data_survives_close_and_reopen(store: Store) -> None:
    """What was written before close is read back after open."""
    await store.create_run(a_run(conf={"k": "v"}), [an_instance("a")])
    await store.finish_task_instance(finished(an_instance("a")), [an_xcom("a")])
    await store.close()
    await store.open()
    assert await store.get_run("etl", "manual__1") == a_run(conf={"k": "v"})
    assert await store.get_task_instances("etl", "manual__1") == [finished(an_instance("a"))]
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
            await store.set_task_instances([an_instance("a")])
    finally:
        await store.open()
