"""The engine's book of DAG runs: created, queued, found, snapshotted and resumed.

Runs are created under their DAG's ``max_active_runs``, found by id, read back
as snapshots, and picked up again after a restart.

A run over its DAG's ``max_active_runs`` is created ``queued`` and starts, oldest
logical date first, when an active run of that DAG finishes. On a store engines
share, the limit holds across them: runs start under a count of the DAG's
running runs in the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import anyio

from asyncflow.clock import Clock
from asyncflow.dag import DAG
from asyncflow.engine.driver import RunDriver
from asyncflow.engine.recovery import interrupt_orphans
from asyncflow.engine.run_events import RunResumed, RunStarted
from asyncflow.engine.run_state import RunState
from asyncflow.exceptions import DagRunNotFound, EngineError
from asyncflow.log import get_logger
from asyncflow.metrics.tally import InstanceTally, detach_all
from asyncflow.records import DagRunRecord, TaskInstanceRecord, XComRecord
from asyncflow.results import DagRunResult
from asyncflow.states import DagRunState
from asyncflow.storage.protocol import Store
from asyncflow.xcom import ObjectRef, decode
from asyncflow.xcom_objects import XComObjects, stored_text

log = get_logger("asyncflow.engine")

RunRef = DagRunResult | str
"""A run as the engine's methods take it: what ``trigger()`` returned, or a run_id."""


def run_key(run: RunRef, dag_id: str | None) -> tuple[str, str | None]:
    """``(run_id, dag_id)`` of a run handle or a bare run_id (whose ``dag_id`` may be ``None``).

    Raises:
        EngineError: ``run`` is neither, or ``dag_id`` is not the handle's DAG.
    """
    if isinstance(run, DagRunResult):
        if dag_id is not None and dag_id != run.dag_id:
            raise EngineError(
                f"dag_id={dag_id!r} does not match run {run.run_id!r}, which is of DAG "
                f"{run.dag_id!r}; leave dag_id out when passing what trigger() returned"
            )
        return run.run_id, run.dag_id
    if isinstance(run, str):
        return run, dag_id
    raise EngineError(f"expected what trigger() returned or a run_id, got {type(run).__name__}")


async def find_record(store: Store, run_id: str, dag_id: str | None) -> DagRunRecord:
    """The stored run with this id (of ``dag_id``, when given).

    Raises:
        DagRunNotFound: when there is none, or it is ambiguous across DAGs.
    """
    if dag_id is not None:
        record = await store.get_run(dag_id, run_id)
        if record is None:
            raise DagRunNotFound(f"DAG {dag_id!r} has no run {run_id!r}")
        return record
    records = await store.find_runs(run_id)
    if not records:
        raise DagRunNotFound(f"no run {run_id!r} in the store")
    if len(records) > 1:
        dags = ", ".join(sorted(r.dag_id for r in records))
        raise DagRunNotFound(
            f"run id {run_id!r} exists in several DAGs ({dags}); pass dag_id= to choose, "
            "or pass what trigger() returned"
        )
    return records[0]


class RunBook:
    """Active and queued runs, and the store's view of all the others."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        driver: RunDriver,
        dags: Mapping[str, DAG],
        objects: XComObjects | None,
        spawn: Callable[..., None],
        tally: InstanceTally | None = None,
    ) -> None:
        self.store = store
        self.tally = tally  # counts the active runs' instances (metrics)
        self.clock = clock
        self.driver = driver
        self.dags = dags
        self.objects = objects
        self.active: dict[tuple[str, str], RunState] = {}
        self.queued: dict[str, list[DagRunRecord]] = {}
        self._started = anyio.Event()  # set (and renewed) whenever a run starts
        self._spawn = spawn
        # on a store engines share, running runs are adopted (Cluster), not all resumed,
        # and their in-flight tries are recovered only when their engine is dead
        self.shared = False

    # --- creating ------------------------------------------------------------------
    async def create(self, dag: DAG, record: DagRunRecord) -> DagRunResult:
        """Store a new run and start it, or queue it when the DAG has enough running.

        Creating a run that exists returns it unchanged. On a store engines
        share, the DAG's running runs are counted in the store: the run is
        stored queued and started under that count.
        """
        admitted = not self.shared and self.running_count(dag.dag_id) < dag.max_active_runs
        if not admitted:
            record = replace(record, state=DagRunState.QUEUED, start_date=None)
        instances = [
            TaskInstanceRecord(dag_id=dag.dag_id, run_id=record.run_id, task_id=task_id)
            for task_id in dag.task_dict
        ]
        if not await self.store.create_run(record, instances):
            return await self.snapshot(record.run_id, dag.dag_id)
        if not admitted:
            self._enqueue(record)
            if self.shared:
                await self.start_queued(dag.dag_id)
                run = self.active.get((dag.dag_id, record.run_id))
                if run is not None:
                    return DagRunResult.build(run.record, run.all_instances())
            log.info("dag_run_queued", dag_id=dag.dag_id, run_id=record.run_id)
            return DagRunResult.build(record, instances)
        return await self._start(dag, record, instances)

    async def _start(
        self, dag: DAG, record: DagRunRecord, instances: list[TaskInstanceRecord]
    ) -> DagRunResult:
        run = RunState.new(dag, record, instances, self.tally)
        self.active[run.key] = run
        self._announce_start()
        log.info("dag_run_started", dag_id=dag.dag_id, run_id=record.run_id)
        self.driver.post(RunStarted(run))
        return DagRunResult.build(run.record, run.all_instances())

    def _enqueue(self, record: DagRunRecord) -> None:
        waiting = self.queued.setdefault(record.dag_id, [])
        waiting.append(record)
        waiting.sort(key=lambda r: (r.logical_date, r.run_id))

    def running_count(self, dag_id: str) -> int:
        """How many runs of the DAG are active in this engine."""
        return sum(1 for key in self.active if key[0] == dag_id)

    def finished(self, run: RunState) -> None:
        """A run ended: forget it and start the DAG's next queued run, if any."""
        self.active.pop(run.key, None)
        detach_all(node.instances for node in run.nodes.values())
        if self.queued.get(run.dag.dag_id):
            self._spawn(self.start_queued, run.dag.dag_id)

    async def start_queued(self, dag_id: str) -> None:
        """Start queued runs of a DAG, oldest first, while it has room."""
        dag = self.dags.get(dag_id)
        waiting = self.queued.get(dag_id, [])
        while dag is not None and waiting and self.running_count(dag_id) < dag.max_active_runs:
            queued = waiting.pop(0)
            record = replace(queued, state=DagRunState.RUNNING, start_date=self.clock.now())
            assert record.start_date is not None
            limit = dag.max_active_runs if self.shared else None
            started = await self.store.start_run(
                dag_id, record.run_id, record.start_date, max_active=limit
            )
            if not started and limit is not None and await self._still_queued(queued):
                waiting.insert(0, queued)  # the DAG's runs in other engines fill its limit
                return
            if not started:
                log.info(
                    "stale_write_ignored",
                    write="start_run",
                    dag_id=dag_id,
                    run_id=record.run_id,
                    reason="the run is no longer queued",
                )
                continue
            instances = await self.store.get_task_instances(dag_id, record.run_id)
            if any(ti.state is not None for ti in instances):  # ran before: cleared, re-queued
                await self._resume_running(dag, record, instances)
            else:
                await self._start(dag, record, instances)

    async def _still_queued(self, record: DagRunRecord) -> bool:
        stored = await self.store.get_run(record.dag_id, record.run_id)
        return stored is not None and stored.state is DagRunState.QUEUED

    async def requeue(self, record: DagRunRecord) -> None:
        """Take up a run the store has queued again (cleared): start it when there is room."""
        self.forget_queued(record.dag_id, record.run_id)
        self._enqueue(replace(record, state=DagRunState.QUEUED, start_date=None, end_date=None))
        await self.start_queued(record.dag_id)

    def forget_queued(self, dag_id: str, run_id: str) -> None:
        """Stop waiting to start a queued run (it was deleted, or marked)."""
        waiting = self.queued.get(dag_id, [])
        waiting[:] = [r for r in waiting if r.run_id != run_id]

    async def adopt_queued(self, paused: set[str]) -> None:
        """Take up runs another process queued in the store (``dags trigger``).

        Runs of a paused DAG stay queued until it is unpaused, as in Airflow.
        """
        known = {(r.dag_id, r.run_id) for waiting in self.queued.values() for r in waiting}
        fresh = [
            r
            for r in await self.store.list_runs(states=[DagRunState.QUEUED])
            if (r.dag_id, r.run_id) not in known
            and r.dag_id in self.dags
            and r.dag_id not in paused
        ]
        for record in fresh:
            self._enqueue(record)
        for dag_id in [d for d, waiting in self.queued.items() if waiting and d not in paused]:
            await self.start_queued(dag_id)

    # --- restarting ----------------------------------------------------------------
    async def resume(self, paused: set[str]) -> None:
        """Pick up the runs a previous engine on this store left running or queued.

        Queued runs of paused DAGs stay queued. On a store engines share, only
        the queued runs: running ones are adopted when their driver is dead.
        """
        if not self.shared:
            for record in await self.store.list_runs(states=[DagRunState.RUNNING]):
                dag = self._known(record)
                if dag is not None:
                    await self._resume_running(dag, record)
        await self.adopt_queued(paused)

    async def adopt(self, dag: DAG, record: DagRunRecord) -> RunState:
        """Drive a running run whose driver died (another engine's, on a shared store)."""
        return await self._resume_running(dag, record)

    def _known(self, record: DagRunRecord) -> DAG | None:
        dag = self.dags.get(record.dag_id)
        if dag is None:
            log.warning(
                "run_not_resumed",
                dag_id=record.dag_id,
                run_id=record.run_id,
                reason="its DAG is not known to this engine",
            )
        return dag

    async def _resume_running(
        self, dag: DAG, record: DagRunRecord, stored: list[TaskInstanceRecord] | None = None
    ) -> RunState:
        if stored is None:
            stored = await self.store.get_task_instances(record.dag_id, record.run_id)
        instances = stored
        changes: list[tuple[TaskInstanceRecord, TaskInstanceRecord]] = []
        if not self.shared:  # else tries in flight may be live engines'; see Cluster
            instances, changes = interrupt_orphans(dag, stored, now=self.clock.now())
        if changes:
            await self.store.recover_tries(changes)
        interrupted = changes
        run = RunState.restore(dag, record, instances, self.tally)
        self.active[run.key] = run
        self._announce_start()
        log.info(
            "dag_run_resumed",
            dag_id=record.dag_id,
            run_id=record.run_id,
            interrupted=len(interrupted),
        )
        self.driver.post(RunResumed(run))
        return run

    def _announce_start(self) -> None:
        self._started.set()
        self._started = anyio.Event()

    async def wait_finished(self, run_id: str, dag_id: str | None) -> DagRunRecord:
        """Wait until the run has finished (bound it with a cancel scope); its record.

        A run this engine drives is awaited on its event; one still queued wakes
        the waiter when any run starts; one another process drives is re-read
        every second.
        """
        while True:
            run = self.find_active(run_id, dag_id)
            if run is not None:
                await run.done.wait()
                return run.record
            record = await self.find_record(run_id, dag_id)
            if record.state in (DagRunState.SUCCESS, DagRunState.FAILED):
                return record
            with anyio.move_on_after(1):
                await self._started.wait()

    # --- finding -------------------------------------------------------------------
    def find_active(self, run_id: str, dag_id: str | None) -> RunState | None:
        """The active run with this id (``None`` when not active or ambiguous)."""
        if dag_id is not None:
            return self.active.get((dag_id, run_id))
        found = [run for key, run in self.active.items() if key[1] == run_id]
        return found[0] if len(found) == 1 else None

    async def find_record(self, run_id: str, dag_id: str | None) -> DagRunRecord:
        """The stored run with this id.

        Raises:
            DagRunNotFound: when there is none, or it is ambiguous across DAGs.
        """
        return await find_record(self.store, run_id, dag_id)

    async def snapshot(self, run_id: str, dag_id: str | None) -> DagRunResult:
        """A run's state now, with its task instances and XCom.

        A run this engine drives is read from memory, unless engines share the
        store: then the store has what the other engines' tries are doing.
        """
        run = self.find_active(run_id, dag_id)
        if run is not None and not self.shared:  # shared: other engines run its tries
            xcoms = await self._xcoms(*run.key)
            return DagRunResult.build(run.record, run.all_instances(), xcoms)
        record = await self.find_record(run_id, dag_id)
        instances = await self.store.get_task_instances(record.dag_id, record.run_id)
        xcoms = await self._xcoms(record.dag_id, record.run_id)
        return DagRunResult.build(record, instances, xcoms)

    async def _xcoms(self, dag_id: str, run_id: str) -> list[XComRecord]:
        """A run's XCom, with values kept in object storage read back."""
        xcoms = await self.store.get_run_xcoms(dag_id, run_id)
        if self.objects is None:
            return xcoms
        out = []
        for xcom in xcoms:
            value = decode(xcom.value) if '"__af__":"ref"' in xcom.value else None
            if isinstance(value, ObjectRef):
                xcom = replace(xcom, value=await stored_text(value, self.objects))
            out.append(xcom)
        return out

    async def clear_xcom(self, run_id: str, dag_id: str | None) -> int:
        """Delete a run's XCom values and their objects; returns how many values."""
        record = await self.find_record(run_id, dag_id)
        if self.objects is not None:
            await self.objects.delete_run(record.dag_id, record.run_id)
        return await self.store.delete_run_xcoms(record.dag_id, record.run_id)
