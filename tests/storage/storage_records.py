"""Record builders and state helpers shared by the storage tests (imported by module name).

The helpers drive a store into the state a test needs through its public
transitions only (``create_run``, ``start_run``, ``start_tries``, ``finish_try``,
...), so every test also exercises the guards it relies on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from asyncflow.records import DagRunRecord, EngineIdentity, TaskInstanceRecord, XComRecord
from asyncflow.states import DagRunState, TaskState
from asyncflow.storage.protocol import Store

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
"""A fixed instant with microseconds, so round trips are checked to the microsecond."""

OWNER = "host-a:100:0000000a"
"""The engine (its EngineIdentity.id) that drives the tries in these tests."""

OTHER_OWNER = "host-b:200:0000000b"
"""Another engine, whose writes must not land on this one's tries."""

STOP_ERROR = "the run exceeded its dagrun_timeout"
"""The error a run stopped early gives its running tries."""


def a_run(
    dag_id: str = "etl", run_id: str = "manual__1", offset_days: int = 0, **fields: Any
) -> DagRunRecord:
    """A queued run whose logical date is ``T0`` plus ``offset_days``."""
    values: dict[str, Any] = {
        "dag_id": dag_id,
        "run_id": run_id,
        "run_type": "manual",
        "state": DagRunState.QUEUED,
        "logical_date": T0 + timedelta(days=offset_days),
        "queued_at": T0,
    }
    values.update(fields)
    return DagRunRecord(**values)


def an_instance(
    task_id: str = "extract",
    map_index: int = -1,
    dag_id: str = "etl",
    run_id: str = "manual__1",
    **fields: Any,
) -> TaskInstanceRecord:
    """A task instance of the default run, not yet considered unless fields say so."""
    return TaskInstanceRecord(
        dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, **fields
    )


def an_xcom(
    task_id: str = "extract",
    value: str = "1",
    map_index: int = -1,
    key: str = "return_value",
    dag_id: str = "etl",
    run_id: str = "manual__1",
) -> XComRecord:
    """An XCom value of the default run."""
    return XComRecord(
        dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, key=key, value=value
    )


def an_identity(
    pid: int = 4242, host: str = "other-host", nonce: str = "feedf00d"
) -> EngineIdentity:
    """An engine identity of a made-up process, started at ``T0``."""
    return EngineIdentity(id=f"{host}:{pid}:{nonce}", host=host, pid=pid, started_at=T0)


# --- the records a transition is handed ----------------------------------------------------


def started(
    instance: TaskInstanceRecord, try_number: int = 1, owner: str = OWNER, **fields: Any
) -> TaskInstanceRecord:
    """The instance as try ``try_number`` starts, held by ``owner`` (what start_tries stores)."""
    values: dict[str, Any] = {
        "state": TaskState.RUNNING,
        "try_number": try_number,
        "start_date": T0 + timedelta(minutes=try_number),
        "end_date": None,
        "next_attempt_at": None,
        "owner": owner,
    }
    values.update(fields)
    return replace(instance, **values)


def finished(
    instance: TaskInstanceRecord, state: TaskState = TaskState.SUCCESS, **fields: Any
) -> TaskInstanceRecord:
    """The instance once its current try ended in ``state`` (finish_try's record)."""
    values: dict[str, Any] = {
        "state": state,
        "end_date": (instance.start_date or T0) + timedelta(seconds=1),
        "owner": None,
        "lease_expires_at": None,
    }
    if state is TaskState.UP_FOR_RETRY:
        values["next_attempt_at"] = T0 + timedelta(hours=1)
        values["error"] = "ValueError: try again"
    elif state is TaskState.FAILED:
        values["error"] = "ValueError: broken"
    values.update(fields)
    return replace(instance, **values)


def rescheduled(instance: TaskInstanceRecord, poke_count: int = 1) -> TaskInstanceRecord:
    """The sensor after its ``poke_count``-th poke found the condition not met yet."""
    return replace(
        instance,
        state=TaskState.UP_FOR_RESCHEDULE,
        end_date=T0 + timedelta(seconds=poke_count),
        next_poke_at=T0 + timedelta(seconds=poke_count + 60),
        first_poke_at=T0,
        poke_count=poke_count,
        owner=None,
        lease_expires_at=None,
    )


def interrupted(instance: TaskInstanceRecord) -> TaskInstanceRecord:
    """The instance once a graceful shutdown stopped its try (interrupt_tries' record)."""
    state = TaskState.UP_FOR_RESCHEDULE if instance.next_poke_at is not None else None
    return replace(
        instance,
        state=state,
        end_date=T0 + timedelta(hours=2),
        owner=None,
        lease_expires_at=None,
        error="interrupted by a shutdown",
        interrupted_tries=instance.interrupted_tries + 1,
    )


def decided(
    instance: TaskInstanceRecord, state: TaskState = TaskState.SKIPPED
) -> TaskInstanceRecord:
    """The instance as its upstream decided it, without a try (decide_instances' record)."""
    return replace(instance, state=state, start_date=T0, end_date=T0)


# --- driving a store through its transitions -----------------------------------------------


async def running_run(
    store: Store, instances: Sequence[TaskInstanceRecord] = (), run: DagRunRecord | None = None
) -> DagRunRecord:
    """Create ``run`` (by default :func:`a_run`) with ``instances`` and start it; the run."""
    run = run or a_run()
    assert await store.create_run(run, instances)
    assert await store.start_run(run.dag_id, run.run_id, T0)
    return replace(run, state=DagRunState.RUNNING, start_date=T0)


async def start(
    store: Store,
    *instances: TaskInstanceRecord,
    try_number: int = 1,
    owner: str = OWNER,
) -> list[TaskInstanceRecord]:
    """Start try ``try_number`` of each instance (each must apply); the records as stored."""
    running = [started(ti, try_number, owner) for ti in instances]
    assert await store.start_tries(owner, running) == [True] * len(running)
    return running


async def stored(
    store: Store, task_id: str = "a", map_index: int = -1, run_id: str = "manual__1"
) -> TaskInstanceRecord:
    """The one task instance as the store holds it now."""
    [found] = [
        ti
        for ti in await store.get_task_instances("etl", run_id)
        if (ti.task_id, ti.map_index) == (task_id, map_index)
    ]
    return found


async def seed(store: Store, state: TaskState | None, task_id: str = "a") -> TaskInstanceRecord:
    """A running run whose one instance ``task_id`` is in ``state``; the instance as stored.

    ``scheduled`` and ``queued`` are created so; every other state is reached
    through the transitions (try 1 runs as :data:`OWNER`).
    """
    created = state in (TaskState.SCHEDULED, TaskState.QUEUED)
    fresh = an_instance(task_id, state=state if created else None)
    await running_run(store, [fresh])
    if state is None or created:
        return fresh
    if state in (TaskState.SKIPPED, TaskState.UPSTREAM_FAILED):
        assert await store.decide_instances([decided(fresh, state)]) == [True]
        return decided(fresh, state)
    [running] = await start(store, fresh)
    if state is TaskState.RUNNING:
        return running
    if state is TaskState.UP_FOR_RESCHEDULE:
        assert await store.record_reschedule(OWNER, rescheduled(running))
        return rescheduled(running)
    assert await store.finish_try(OWNER, finished(running, state))
    return finished(running, state)
