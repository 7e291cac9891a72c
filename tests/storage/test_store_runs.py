"""The Store contract for runs and stored values, on every backend (memory and SQLite)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from storage_records import (
    OWNER,
    T0,
    a_run,
    an_instance,
    an_xcom,
    finished,
    interrupted,
    rescheduled,
    running_run,
    start,
    started,
)

from asyncflow.exceptions import StoreError
from asyncflow.records import DagRunRecord, TaskInstanceRecord
from asyncflow.states import DagRunState, TaskState
from asyncflow.storage.protocol import Store

pytestmark = pytest.mark.anyio


# --- runs -------------------------------------------------------------------------------


async def test_create_run_stores_the_run_and_its_instances(store: Store) -> None:
    """A new run is stored with its task instances and create_run returns True."""
    run = a_run(conf={"day": "2024-05-01"})
    assert await store.create_run(run, [an_instance("a"), an_instance("b")])
    assert await store.get_run("etl", "manual__1") == run
    assert [ti.task_id for ti in await store.get_task_instances("etl", "manual__1")] == ["a", "b"]


async def test_create_run_twice_returns_false_and_changes_nothing(store: Store) -> None:
    """Creating an existing (dag_id, run_id) again returns False and leaves run and instances."""
    run = a_run()
    await store.create_run(run, [an_instance("a")])
    again = a_run(state=DagRunState.RUNNING, conf={"other": 1})
    assert not await store.create_run(again, [an_instance("a", state=TaskState.QUEUED)])
    assert await store.get_run("etl", "manual__1") == run
    assert await store.get_task_instances("etl", "manual__1") == [an_instance("a")]


async def test_create_run_rejects_instances_of_another_run(store: Store) -> None:
    """An instance naming another run is a caller's mistake, refused before any write."""
    with pytest.raises(ValueError, match="does not belong to run"):
        await store.create_run(a_run(), [an_instance("a", run_id="other")])
    assert await store.get_run("etl", "manual__1") is None


async def test_create_run_with_duplicate_instances_fails_and_stores_nothing(store: Store) -> None:
    """Two instances with one key make create_run fail with StoreError, storing no run."""
    with pytest.raises(StoreError):
        await store.create_run(a_run(), [an_instance("a"), an_instance("a")])
    assert await store.get_run("etl", "manual__1") is None


async def test_get_run_of_unknown_run_is_none(store: Store) -> None:
    """get_run returns None for an identity that was never stored."""
    assert await store.get_run("etl", "nope") is None


async def test_find_runs_returns_every_dag_with_that_run_id(store: Store) -> None:
    """find_runs finds a run_id across DAGs, ordered by dag_id, and nothing for others."""
    for dag_id in ("zeta", "alpha"):
        await store.create_run(a_run(dag_id=dag_id, run_id="shared"), [])
    await store.create_run(a_run(dag_id="alpha", run_id="mine"), [])
    assert [r.dag_id for r in await store.find_runs("shared")] == ["alpha", "zeta"]
    assert await store.find_runs("missing") == []


async def test_list_runs_is_newest_logical_date_first(store: Store) -> None:
    """list_runs orders by logical_date descending, then dag_id and run_id."""
    await store.create_run(a_run("b", "r1", offset_days=1), [])
    await store.create_run(a_run("a", "r2", offset_days=1), [])
    await store.create_run(a_run("a", "r0", offset_days=0), [])
    await store.create_run(a_run("c", "r3", offset_days=2), [])
    listed = [(r.dag_id, r.run_id) for r in await store.list_runs()]
    assert listed == [("c", "r3"), ("a", "r2"), ("b", "r1"), ("a", "r0")]


async def test_list_runs_filters_by_dag_and_states(store: Store) -> None:
    """list_runs keeps only the DAG and states asked for; an empty state list keeps none."""
    await store.create_run(a_run("a", "1", 1, state=DagRunState.RUNNING), [])
    await store.create_run(a_run("a", "2", 2, state=DagRunState.SUCCESS), [])
    await store.create_run(a_run("b", "3", 3, state=DagRunState.FAILED), [])
    await store.create_run(a_run("b", "4", 4, state=DagRunState.RUNNING), [])

    def ids(runs: list[DagRunRecord]) -> list[str]:
        return [run.run_id for run in runs]

    assert ids(await store.list_runs(dag_id="a")) == ["2", "1"]
    assert ids(await store.list_runs(states=[DagRunState.RUNNING])) == ["4", "1"]
    both = [DagRunState.SUCCESS, DagRunState.FAILED]
    assert ids(await store.list_runs(states=both)) == ["3", "2"]
    assert ids(await store.list_runs(dag_id="b", states=[DagRunState.RUNNING])) == ["4"]
    assert await store.list_runs(states=[]) == []
    assert await store.list_runs(dag_id="none") == []


# --- values round trip --------------------------------------------------------------------


async def test_datetimes_round_trip_exactly_as_aware_utc(store: Store) -> None:
    """Every datetime field comes back equal to the microsecond and aware in UTC."""
    run = a_run(
        data_interval_start=T0 - timedelta(days=1),
        data_interval_end=T0,
        start_date=T0 + timedelta(microseconds=1),
        end_date=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    )
    ti = an_instance(
        "a",
        start_date=T0,
        end_date=T0 + timedelta(microseconds=999999),
        next_attempt_at=T0 + timedelta(seconds=1),
        next_poke_at=T0 + timedelta(seconds=2),
        first_poke_at=datetime(1, 1, 1, tzinfo=UTC),
        lease_expires_at=T0 + timedelta(hours=1),
    )
    await store.create_run(run, [ti])
    got_run = await store.get_run("etl", "manual__1")
    [got_ti] = await store.get_task_instances("etl", "manual__1")
    assert got_run == run
    assert got_ti == ti
    assert got_run is not None
    assert got_run.end_date is not None
    assert got_run.end_date.utcoffset() == timedelta(0)
    assert got_ti.first_poke_at is not None
    assert got_ti.first_poke_at.utcoffset() == timedelta(0)


async def test_other_time_zones_come_back_as_the_same_instant_in_utc(store: Store) -> None:
    """An aware non-UTC datetime is stored as the same instant and read back in UTC."""
    paris = datetime(2024, 5, 1, 14, 0, 0, 5, tzinfo=ZoneInfo("Europe/Paris"))
    minus_five = datetime(2024, 5, 1, 7, 0, 0, 5, tzinfo=timezone(timedelta(hours=-5)))
    await store.create_run(a_run(logical_date=paris, queued_at=minus_five), [])
    got = await store.get_run("etl", "manual__1")
    assert got is not None
    assert got.logical_date == datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=UTC)
    assert got.logical_date.tzinfo is UTC
    assert got.queued_at == datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=UTC)


NAIVE = datetime(2024, 5, 1, 12, 0)

NaiveWrite = Callable[[Store, TaskInstanceRecord], Awaitable[object]]
NAIVE_WRITES: dict[str, tuple[NaiveWrite, str]] = {
    "create_run": (
        lambda store, _: store.create_run(a_run(run_id="new", logical_date=NAIVE), []),
        "logical_date",
    ),
    "start_run": (lambda store, _: store.start_run("etl", "queued", NAIVE), "start_run: a naive"),
    "finish_run": (
        lambda store, _: store.finish_run("etl", "manual__1", DagRunState.FAILED, NAIVE),
        "finish_run: a naive",
    ),
    "start_tries": (
        lambda store, _: store.start_tries(OWNER, [started(an_instance("b"), start_date=NAIVE)]),
        "start_date",
    ),
    "finish_try": (
        lambda store, ti: store.finish_try(OWNER, finished(ti, end_date=NAIVE)),
        "end_date",
    ),
    "record_reschedule": (
        lambda store, ti: store.record_reschedule(
            OWNER, replace(rescheduled(ti), next_poke_at=NAIVE)
        ),
        "next_poke_at",
    ),
    "interrupt_tries": (
        lambda store, ti: store.interrupt_tries(OWNER, [replace(interrupted(ti), end_date=NAIVE)]),
        "end_date",
    ),
    "decide_instances": (
        lambda store, _: store.decide_instances([an_instance("b", end_date=NAIVE)]),
        "end_date",
    ),
    "recover_tries": (
        lambda store, ti: store.recover_tries([(ti, finished(ti, end_date=NAIVE))]),
        "end_date",
    ),
    "expand_task": (
        lambda store, _: store.expand_task(
            "etl", "manual__1", "m", [an_instance("m", 0, first_poke_at=NAIVE)]
        ),
        "first_poke_at",
    ),
}


@pytest.mark.parametrize("operation", NAIVE_WRITES)
async def test_naive_datetimes_are_rejected_and_nothing_is_written(
    store: Store, operation: str
) -> None:
    """A naive datetime handed to any write raises ValueError naming it, and changes nothing."""
    await running_run(store, [an_instance("a"), an_instance("b"), an_instance("m")])
    await store.create_run(a_run(run_id="queued"), [])
    [running] = await start(store, an_instance("a"))
    before = await snapshot(store)
    write, match = NAIVE_WRITES[operation]
    with pytest.raises(ValueError, match=match):
        await write(store, running)
    assert await snapshot(store) == before


async def test_transition_datetimes_are_stored_as_the_same_instant_in_utc(store: Store) -> None:
    """Aware non-UTC datetimes handed to transitions come back as the same instant, in UTC."""
    paris = ZoneInfo("Europe/Paris")
    minus_five = timezone(timedelta(hours=-5))
    await store.create_run(a_run(), [an_instance("a")])
    assert await store.start_run("etl", "manual__1", T0.astimezone(paris))
    begun = started(an_instance("a"), start_date=T0.astimezone(minus_five))
    assert await store.start_tries(OWNER, [begun]) == [True]
    ended = finished(begun, end_date=(T0 + timedelta(seconds=5)).astimezone(paris))
    assert await store.finish_try(OWNER, ended)
    end = T0 + timedelta(minutes=1)
    assert await store.finish_run("etl", "manual__1", DagRunState.SUCCESS, end.astimezone(paris))
    run = await store.get_run("etl", "manual__1")
    assert run is not None
    assert (run.start_date, run.end_date) == (T0, end)
    [ti] = await store.get_task_instances("etl", "manual__1")
    assert (ti.start_date, ti.end_date) == (T0, T0 + timedelta(seconds=5))
    assert {
        value.tzinfo for value in (run.start_date, run.end_date, ti.start_date, ti.end_date)
    } == {UTC}


async def snapshot(store: Store) -> list[object]:
    """Every run with its task instances and XCom, to compare before and after a write."""
    return [
        (run, await store.get_task_instances(run.dag_id, run.run_id))
        for run in await store.list_runs()
    ] + [await store.get_run_xcoms("etl", "manual__1")]


async def test_conf_round_trips_as_json(store: Store) -> None:
    """A nested JSON conf comes back equal, with unicode, numbers, booleans and null."""
    conf = {"s": "héllo ✓ 😀", "n": [1, 2.5, -3], "b": True, "z": None, "o": {"k": []}}
    await store.create_run(a_run(conf=conf), [])
    got = await store.get_run("etl", "manual__1")
    assert got is not None
    assert got.conf == conf


async def test_conf_that_is_not_json_is_rejected(store: Store) -> None:
    """A conf holding a value JSON cannot express raises ValueError and stores nothing."""
    with pytest.raises(ValueError, match="not JSON"):
        await store.create_run(a_run(conf={"when": T0}), [])
    with pytest.raises(ValueError, match="not JSON"):
        await store.create_run(a_run(conf={"x": float("nan")}), [])
    assert await store.get_run("etl", "manual__1") is None


async def test_callers_cannot_change_stored_conf(store: Store) -> None:
    """Mutating the conf passed in or a conf read back leaves the stored conf unchanged."""
    conf = {"items": [1]}
    await store.create_run(a_run(conf=conf), [])
    conf["items"].append(2)
    first = await store.get_run("etl", "manual__1")
    assert first is not None
    first.conf["items"].append(3)
    again = await store.get_run("etl", "manual__1")
    assert again is not None
    assert again.conf == {"items": [1]}


async def test_records_read_back_are_frozen(store: Store) -> None:
    """Records returned by a store cannot be assigned to."""
    await store.create_run(a_run(), [an_instance("a")])
    [ti] = await store.get_task_instances("etl", "manual__1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ti.state = TaskState.SUCCESS  # type: ignore[misc]


async def test_unicode_identities_and_texts_round_trip(store: Store) -> None:
    """Unicode in ids, errors and XCom values is stored and found unchanged."""
    dag_id, run_id, task_id = "données", "run—☃", "tâche_😀"
    fresh = an_instance(task_id, dag_id=dag_id, run_id=run_id)
    await running_run(store, [fresh], run=a_run(dag_id, run_id))
    [running] = await start(store, fresh)
    failed = finished(running, TaskState.FAILED, error="KeyError: 'ü'")
    xcom = an_xcom(task_id, '"naïve ✓"', dag_id=dag_id, run_id=run_id)
    assert await store.finish_try(OWNER, failed, [xcom])
    assert await store.get_task_instances(dag_id, run_id) == [failed]
    assert await store.get_xcom(dag_id, run_id, task_id, "return_value", -1) == xcom
    assert [r.run_id for r in await store.find_runs(run_id)] == [run_id]


async def test_paused_dags_are_remembered(store: Store) -> None:
    """set_dag_paused persists; unpausing removes a DAG from the paused set."""
    assert await store.get_paused_dag_ids() == set()
    await store.set_dag_paused("etl", True)
    await store.set_dag_paused("report", True)
    await store.set_dag_paused("report", False)
    assert await store.get_paused_dag_ids() == {"etl"}
