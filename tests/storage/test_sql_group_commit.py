"""Group commit on the SQL stores: batches, lingering writes, failures and guarded batches.

Concurrent writes share transactions; in a batch, each caller still gets its
own result: its flags when some of the batch's transitions are stale (SQLite's
savepoint fallback, PostgreSQL's returned positions), its error when its write
fails (the batch is split until the failing write stands alone). Each test runs
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial

import anyio
import anyio.lowlevel
import pytest
from sql_backends import SqlStore, StoreFactory
from storage_records import (
    OTHER_OWNER,
    OWNER,
    T0,
    a_run,
    an_instance,
    an_xcom,
    decided,
    finished,
    rescheduled,
    running_run,
    start,
    started,
    stored,
)

from asyncflow.exceptions import StoreError
from asyncflow.records import TaskInstanceRecord, XComRecord
from asyncflow.states import DagRunState, TaskState

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def opened(store: SqlStore) -> AsyncIterator[SqlStore]:
    """The store, opened for the block and closed after it."""
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def wait_until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition()`` holds (bounded by the caller's fail_after)."""
    while not condition():
        await anyio.lowlevel.checkpoint()


async def gather(calls: dict[str, Callable[[], Awaitable[object]]]) -> dict[str, object]:
    """Run the calls concurrently (started together); each one's result, or its error's type."""
    results: dict[str, object] = {}

    async def record(name: str) -> None:
        try:
            results[name] = await calls[name]()
        except Exception as exc:
            results[name] = type(exc)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for name in calls:
                tg.start_soon(record, name)
    return results


# --- batching -------------------------------------------------------------------------------


async def test_concurrent_starts_share_few_transactions(sql_store: SqlStore) -> None:
    """500 concurrent start_tries calls commit in at most 10 transactions, all visible."""
    instances = [an_instance(f"t{i:03d}") for i in range(500)]
    await running_run(sql_store, instances)
    before = replace(sql_store.stats)
    calls = {ti.task_id: partial(sql_store.start_tries, OWNER, [started(ti)]) for ti in instances}
    assert set(map(str, (await gather(calls)).values())) == {"[True]"}
    assert sql_store.stats.writes - before.writes == 500
    assert sql_store.stats.transactions - before.transactions <= 10
    states = {ti.state for ti in await sql_store.get_task_instances("etl", "manual__1")}
    assert states == {TaskState.RUNNING}


async def test_concurrent_finishes_share_few_transactions(sql_store: SqlStore) -> None:
    """1,000 concurrent finish_try calls commit together, with every XCom."""
    instances = [an_instance(f"t{i:04d}") for i in range(1000)]
    await running_run(sql_store, instances)
    running = await start(sql_store, *instances)
    before = sql_store.stats.transactions
    calls = {
        ti.task_id: partial(sql_store.finish_try, OWNER, finished(ti), [an_xcom(ti.task_id)])
        for ti in running
    }
    assert set((await gather(calls)).values()) == {True}
    assert sql_store.stats.transactions - before <= 10
    stored_all = await sql_store.get_task_instances("etl", "manual__1")
    assert all(ti.state == TaskState.SUCCESS for ti in stored_all)
    assert len(await sql_store.get_run_xcoms("etl", "manual__1")) == 1000


async def test_close_commits_writes_still_queued(sql_stores: StoreFactory) -> None:
    """Writes whose callers were cancelled while queued still commit, at the latest on close."""
    instances = [an_instance(f"t{i:02d}") for i in range(50)]
    store = sql_stores()
    await store.open()
    await running_run(store, instances)
    async with anyio.create_task_group() as tg:
        for ti in instances:
            tg.start_soon(store.start_tries, OWNER, [started(ti)])
        await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    await store.close()
    async with opened(sql_stores()) as reopened:
        stored_all = await reopened.get_task_instances("etl", "manual__1")
    assert [ti.state for ti in stored_all] == [TaskState.RUNNING] * 50


# --- guarded batches: stale and current transitions in one transaction ------------------------


async def test_a_batch_of_stale_and_current_finishes_answers_each_caller(
    sql_store: SqlStore,
) -> None:
    """finish_try calls gathered in one transaction each get their own flag.

    Only the current tries' outcomes and XComs are written; an older try, another
    engine's try, a try never started, an unknown instance and a second report
    of a try just finished in the same batch are all refused, their XCom dropped.
    """
    store = sql_store
    instances = [an_instance(f"t{i:02d}") for i in range(40)]
    await running_run(store, instances)
    mine = await start(store, *instances[:30])
    for ti in mine[:10]:  # t00-t09 fail their first try and run their second
        assert await store.finish_try(OWNER, finished(ti, TaskState.UP_FOR_RETRY))
    retrying = [await stored(store, ti.task_id) for ti in mine[:10]]
    retried = await start(store, *retrying, try_number=2)
    await start(store, *instances[30:35], owner=OTHER_OWNER)  # t30-t34: another engine's
    reports: dict[str, tuple[TaskInstanceRecord, bool]] = {}
    for ti in mine[:10]:
        reports[f"{ti.task_id} try 1"] = (ti, False)  # t00-t09: try 2 runs now
    for ti in [*retried, *mine[10:30]]:
        reports[ti.task_id] = (ti, True)  # the current tries
    for ti in instances[30:40]:
        reports[ti.task_id] = (started(ti), False)  # another engine's, or never started
    reports["ghost"] = (started(an_instance("ghost")), False)
    for ti in mine[10:15]:
        reports[f"{ti.task_id} again"] = (ti, False)  # queued after its first report

    def finish(name: str) -> Callable[[], Awaitable[bool]]:
        ti = reports[name][0]
        xcom = an_xcom(ti.task_id, f'"{name}"')
        return partial(store.finish_try, OWNER, finished(ti), [xcom])

    before = store.stats.transactions
    results = await gather({name: finish(name) for name in reports})
    assert store.stats.transactions - before == 1  # one batch: the fallback had to sort it out
    assert results == {name: applied for name, (_, applied) in reports.items()}
    current = [ti for ti, applied in reports.values() if applied]
    assert await store.get_run_xcoms("etl", "manual__1") == sorted(
        (an_xcom(ti.task_id, f'"{ti.task_id}"') for ti in current), key=lambda x: x.task_id
    )
    by_task = {ti.task_id: ti for ti in await store.get_task_instances("etl", "manual__1")}
    for ti in current:
        assert by_task[ti.task_id] == finished(ti)
    for ti in instances[30:35]:
        assert (by_task[ti.task_id].state, by_task[ti.task_id].owner) == (
            TaskState.RUNNING,
            OTHER_OWNER,
        )
    assert {by_task[ti.task_id].state for ti in instances[35:40]} == {None}


async def test_a_batch_of_start_tries_calls_answers_each_record(sql_store: SqlStore) -> None:
    """Concurrent multi-record start_tries calls in one transaction each get their own flags."""
    instances = [an_instance(f"t{i:02d}") for i in range(30)]
    await running_run(sql_store, instances)
    await start(sql_store, *instances[::3])  # every third one runs already
    calls = {
        f"call {n}": partial(
            sql_store.start_tries, OWNER, [started(ti) for ti in instances[n * 6 : n * 6 + 6]]
        )
        for n in range(5)
    }
    calls["wrong try"] = partial(sql_store.start_tries, OWNER, [started(instances[1], 2)])
    calls["empty"] = partial(sql_store.start_tries, OWNER, [])
    before = sql_store.stats.transactions
    results = await gather(calls)
    assert sql_store.stats.transactions - before == 1
    expected = [[i % 3 != 0 for i in range(n * 6, n * 6 + 6)] for n in range(5)]
    assert [results[f"call {n}"] for n in range(5)] == expected
    assert (results["wrong try"], results["empty"]) == ([False], [])
    stored_all = await sql_store.get_task_instances("etl", "manual__1")
    assert {ti.state for ti in stored_all} == {TaskState.RUNNING}
    assert {ti.try_number for ti in stored_all} == {1}


async def test_a_failing_write_fails_only_its_own_caller(sql_store: SqlStore) -> None:
    """In a batch with one bad write, only its caller gets the error; the others commit.

    The stale writes of the batch are still refused, each with its own flag.
    """
    instances = [an_instance(f"t{i:03d}") for i in range(100)]
    await running_run(sql_store, instances)
    running = await start(sql_store, *instances[:90])  # t090-t099 never start
    broken = XComRecord(dag_id="etl", run_id="manual__1", task_id="t037", value=None)  # type: ignore[arg-type]

    def finish(ti: TaskInstanceRecord) -> Callable[[], Awaitable[bool]]:
        xcoms = [broken] if ti.task_id == "t037" else [an_xcom(ti.task_id)]
        return partial(sql_store.finish_try, OWNER, finished(ti), xcoms)

    results = await gather(
        {ti.task_id: finish(ti) for ti in [*running, *map(started, instances[90:])]}
    )
    assert results.pop("t037") is StoreError
    assert results == {ti.task_id: ti in instances[:90] for ti in instances if ti.task_id != "t037"}
    assert (await stored(sql_store, "t037")).state is TaskState.RUNNING
    assert len(await sql_store.get_run_xcoms("etl", "manual__1")) == 89
    assert await sql_store.finish_try(OWNER, finished(running[37]))


async def test_mixed_writes_in_one_batch_keep_their_results(sql_store: SqlStore) -> None:
    """Concurrent runs, transitions and XCom writes each get their own result or error."""
    store = sql_store
    await running_run(store, [an_instance("a"), an_instance("b"), an_instance("c")])
    await store.create_run(a_run(run_id="queued"), [])
    await running_run(store, [], run=a_run(run_id="ending"))
    [running] = await start(store, an_instance("a"))
    results = await gather(
        {
            "new": partial(store.create_run, a_run(run_id="new"), []),
            "dup": partial(store.create_run, a_run(), []),
            "start queued": partial(store.start_run, "etl", "queued", T0),
            "start missing": partial(store.start_run, "etl", "missing", T0),
            "finish ending": partial(store.finish_run, "etl", "ending", DagRunState.SUCCESS, T0),
            "finish missing": partial(store.finish_run, "etl", "missing", DagRunState.FAILED, T0),
            "finish a": partial(store.finish_try, OWNER, finished(running), [an_xcom("a")]),
            "stale b": partial(store.finish_try, OWNER, finished(started(an_instance("b")))),
            "decide c": partial(store.decide_instances, [decided(an_instance("c"))]),
            "xcom": partial(store.push_xcom, [an_xcom("z")]),
            "ghost xcom": partial(store.push_xcom, [an_xcom("z", run_id="ghost")]),
        }
    )
    assert results == {
        "new": True,
        "dup": False,
        "start queued": True,
        "start missing": False,
        "finish ending": True,
        "finish missing": False,
        "finish a": True,
        "stale b": False,
        "decide c": [True],
        "xcom": None,
        "ghost xcom": StoreError,
    }
    assert [ti.state for ti in await store.get_task_instances("etl", "manual__1")] == [
        TaskState.SUCCESS,
        None,
        TaskState.SKIPPED,
    ]
    assert [x.task_id for x in await store.get_run_xcoms("etl", "manual__1")] == ["a", "z"]


# --- lingering writes -----------------------------------------------------------------------


async def running_sensors(store: SqlStore, count: int) -> list[TaskInstanceRecord]:
    """A running run of ``count`` sensors whose first try runs (then one more plain task)."""
    sensors = [an_instance("s", i) for i in range(count)]
    await running_run(store, [*sensors, an_instance("t")])
    return await start(store, *sensors)


async def reschedule_all(store: SqlStore, sensors: list[TaskInstanceRecord]) -> None:
    """Reschedule every sensor from its own task, one more joining on each loop turn."""
    async with anyio.create_task_group() as tg:
        for ti in sensors:
            tg.start_soon(store.record_reschedule, OWNER, rescheduled(ti))
            await anyio.lowlevel.checkpoint()


async def test_reschedules_arriving_over_a_linger_share_one_transaction(
    sql_stores: StoreFactory,
) -> None:
    """Sensors rescheduling one after another within the linger commit in one transaction."""
    async with opened(sql_stores(linger=0.5)) as store:
        sensors = await running_sensors(store, 100)
        before = store.stats.transactions
        with anyio.fail_after(10):
            await reschedule_all(store, sensors)
        assert store.stats.transactions - before == 1
        stored_all = await store.get_task_instances("etl", "manual__1")
        assert {ti.state for ti in stored_all[:100]} == {TaskState.UP_FOR_RESCHEDULE}


async def test_patient_starts_and_ends_linger_like_reschedules(sql_stores: StoreFactory) -> None:
    """Sensors' try starts and ends (patient=True) arriving over a linger share a transaction."""
    async with opened(sql_stores(linger=0.5)) as store:
        sensors = [an_instance("s", i) for i in range(40)]
        await running_run(store, sensors)
        ending = await start(store, *sensors[20:])
        before = store.stats.transactions
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for ti in sensors[:20]:
                    tg.start_soon(partial(store.start_tries, OWNER, [started(ti)], patient=True))
                    await anyio.lowlevel.checkpoint()
                for ti in ending:
                    tg.start_soon(partial(store.finish_try, OWNER, finished(ti), patient=True))
                    await anyio.lowlevel.checkpoint()
        assert store.stats.transactions - before == 1
        stored_all = await store.get_task_instances("etl", "manual__1")
        states = [ti.state for ti in stored_all]
        assert states == [TaskState.RUNNING] * 20 + [TaskState.SUCCESS] * 20


async def test_a_task_start_is_not_held_back_by_lingering_reschedules(
    sql_stores: StoreFactory,
) -> None:
    """A plain write commits at once, taking the reschedules lingering for a minute with it."""
    async with opened(sql_stores(linger=60)) as store:
        sensors = await running_sensors(store, 10)
        before = store.stats.transactions
        queued = store.stats.writes + len(sensors)  # a write is queued as it is counted
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(reschedule_all, store, sensors)
                await wait_until(lambda: store.stats.writes == queued)
                assert await store.start_tries(OWNER, [started(an_instance("t"))]) == [True]
        assert store.stats.transactions - before == 1
        stored_all = await store.get_task_instances("etl", "manual__1")
        assert [ti.state for ti in stored_all] == [TaskState.UP_FOR_RESCHEDULE] * 10 + [
            TaskState.RUNNING
        ]


async def test_a_stale_reschedule_in_a_batch_is_refused_alone(sql_store: SqlStore) -> None:
    """In a batch of reschedules, only those of unknown or finished tries are refused."""
    sensors = await running_sensors(sql_store, 20)
    assert await sql_store.finish_try(OWNER, finished(sensors[5]))
    results: dict[str, bool] = {}

    async def reschedule(name: str, ti: TaskInstanceRecord) -> None:
        xcom = an_xcom(ti.task_id, f'"{name}"', map_index=ti.map_index)
        results[name] = await sql_store.record_reschedule(OWNER, rescheduled(ti), [xcom])

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for ti in [*sensors[:10], started(an_instance("s", 99)), *sensors[10:]]:
                tg.start_soon(reschedule, f"s[{ti.map_index}]", ti)
    assert [name for name, applied in results.items() if not applied] == ["s[5]", "s[99]"]
    stored_all = await sql_store.get_task_instances("etl", "manual__1")
    assert [ti.state for ti in stored_all[:20]] == [TaskState.UP_FOR_RESCHEDULE] * 5 + [
        TaskState.SUCCESS
    ] + [TaskState.UP_FOR_RESCHEDULE] * 14
    pushed = await sql_store.get_xcoms("etl", "manual__1", "s", "return_value")
    assert [x.map_index for x in pushed] == [i for i in range(20) if i != 5]


async def test_close_commits_lingering_reschedules_at_once(sql_stores: StoreFactory) -> None:
    """Closing the store does not wait out the linger: queued reschedules commit right away."""
    store = sql_stores(linger=60)
    await store.open()
    sensors = await running_sensors(store, 10)
    queued = store.stats.writes + len(sensors)  # a write is queued as it is counted
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reschedule_all, store, sensors)
            await wait_until(lambda: store.stats.writes == queued)
            await store.close()
    async with opened(sql_stores()) as reopened:
        stored_all = await reopened.get_task_instances("etl", "manual__1")
    assert [ti.state for ti in stored_all[:10]] == [TaskState.UP_FOR_RESCHEDULE] * 10
