"""``Engine``: schedules and runs DAGs in the caller's event loop.

Example:
    >>> async def main():
    ...     async with Engine("sqlite:///asyncflow.db", dags=[etl]) as engine:
    ...         result = await engine.run("etl", conf={"day": "2026-01-01"})
    ...         print(result.state)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from prometheus_client import CollectorRegistry

from asyncflow.clock import Clock, SystemClock
from asyncflow.connections import SharedResources, current_resources
from asyncflow.dag import DAG, as_utc
from asyncflow.dag_loader import load_dags
from asyncflow.engine.auto_pause import pause_after_failures
from asyncflow.engine.claims import checked_queues
from asyncflow.engine.cluster import join_cluster
from asyncflow.engine.driver import RunDriver
from asyncflow.engine.lease_keeper import keep_lease
from asyncflow.engine.new_runs import (
    checked_pools,
    interval_run,
    manual_run,
    queue_manual_run,
    run_id_for,
)
from asyncflow.engine.process_setup import ProcessSetup
from asyncflow.engine.run_actions import RunActions
from asyncflow.engine.run_events import RunEvents
from asyncflow.engine.run_loop import RunLoop
from asyncflow.engine.run_state import RunState
from asyncflow.engine.runs import RunBook, RunRef, run_key
from asyncflow.engine.scheduler import Scheduler, timing_of
from asyncflow.engine.stats import EngineStats, snapshot
from asyncflow.engine.timers import Timers
from asyncflow.engine.watchdog import LoopWatchdog
from asyncflow.exceptions import DagNotFound, EngineError
from asyncflow.log import get_logger
from asyncflow.metrics import EngineMetrics
from asyncflow.records import EngineIdentity
from asyncflow.results import DagRunResult
from asyncflow.settings import Settings
from asyncflow.states import DagRunState
from asyncflow.storage import open_store
from asyncflow.storage.protocol import Store
from asyncflow.threads import worker_limiter
from asyncflow.timetable import DataInterval, intervals_between
from asyncflow.xcom_objects import open_objects

log = get_logger("asyncflow.engine")


class Engine:
    """Runs DAGs on the caller's event loop; an async context manager.

    Args:
        store: A store URL (``sqlite:///relative.db``, ``sqlite:////absolute.db``,
            ``memory://``) or a :class:`~asyncflow.storage.protocol.Store`.
        dags: DAGs to know by id (more can be passed to :meth:`run`).
        dags_folder: A folder of DAG files to load as well.
        max_active_tasks: Task instances running at once across all DAGs.
        pools: Pool name to number of slots, for tasks with ``pool=``.
        queues: On a store engines share (PostgreSQL): the named queues this
            engine takes task instances from (tasks' ``queue=``; default
            ``["default"]``). Elsewhere every queue runs here.
        settings: Settings (default: read from the environment).
        clock: Time source (default: the system clock; tests pass a fake).
        task_logs: Write each try's output to its log file under
            ``settings.task_logs_folder`` (default: on, except with the in-memory store).
        process: The process-wide changes the engine may make while open (GC
            tuning, capturing ``print()`` into try logs, logging setup, the loop
            watchdog); default: none, as befits a guest in a service's process.
        metrics: Prometheus metrics in ``engine.metrics`` (:class:`EngineMetrics`):
            ``True`` (the default) in a registry of the engine's own, a
            ``CollectorRegistry`` to register them in yours, ``False`` for none.

    Example:
        >>> async with Engine(dags=[etl]) as engine:  # doctest: +SKIP
        ...     result = await engine.run("etl")
    """

    def __init__(
        self,
        store: str | Store = "sqlite:///asyncflow.db",
        dags: Iterable[DAG] | Mapping[str, DAG] | None = None,
        dags_folder: str | Path | None = None,
        max_active_tasks: int = 1024,
        pools: Mapping[str, int] | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        task_logs: bool | None = None,
        process: ProcessSetup | None = None,
        queues: Iterable[str] | None = None,
        metrics: bool | CollectorRegistry = True,
    ) -> None:
        if (
            isinstance(max_active_tasks, bool)
            or not isinstance(max_active_tasks, int)
            or max_active_tasks < 1
        ):
            raise EngineError(
                f"max_active_tasks must be a positive whole number, got {max_active_tasks!r}"
            )
        self.settings = settings or Settings.from_env()
        self.clock: Clock = clock or SystemClock()
        self.process = process or ProcessSetup()
        self.store: Store = open_store(store, self.settings) if isinstance(store, str) else store
        self.dags: dict[str, DAG] = {}
        self.dags_folder = Path(dags_folder) if dags_folder is not None else None
        self.import_errors: dict[str, str] = {}
        self.identity = EngineIdentity.of_this_process()
        self.owner = self.identity.id
        self.metrics = _metrics_of(metrics)
        self.xcom_objects = open_objects(
            self.settings.xcom_object_store, self.settings.xcom_object_threshold
        )
        self._timers = Timers(self.clock)
        events = RunEvents()
        self._driver = RunDriver(
            store=self.store,
            clock=self.clock,
            settings=self.settings,
            timers=self._timers,
            max_active_tasks=max_active_tasks,
            pools=checked_pools(pools),
            owner=self.owner,
            objects=self.xcom_objects,
            logs_folder=self._logs_folder(store, task_logs),
            on_run_finished=self._run_finished,
            events=events,
        )
        self._events = events
        self._loop = RunLoop(self._driver, events)
        self.runs = RunBook(
            store=self.store,
            clock=self.clock,
            driver=self._driver,
            dags=self.dags,
            objects=self.xcom_objects,
            spawn=self._driver.spawn,
            tally=self.metrics.tally if self.metrics.enabled else None,
        )
        self.scheduler = Scheduler(
            clock=self.clock,
            store=self.store,
            dags=self.dags,
            paused=set(),
            create_run=self._create_scheduled,
            adopt_queued=self.runs.adopt_queued,
            max_sleep=timedelta(seconds=self.settings.scheduler_poll_seconds),
        )
        self.actions = RunActions(
            store=self.store,
            dags=self.dags,
            now=self.clock.now,
            logs_folder=self._driver.executor.logs_folder,
            objects=self.xcom_objects,
            book=self.runs,
            loop=self._loop,
            paused=self.scheduler.paused,
        )
        self.resources = SharedResources()
        self._stack: AsyncExitStack | None = None
        self.cluster = join_cluster(
            self.store,
            identity=self.identity,
            clock=self.clock,
            settings=self.settings,
            queues=checked_queues(queues),
            driver=self._driver,
            runs=self.runs,
            objects=self.xcom_objects,
            paused=self.scheduler.paused,
        )
        if self.metrics.enabled:
            self.metrics.watch_runs(self._run_counts)
            self._driver.executor.runner.observe_poke = self.metrics.poked
            self.store.stats.on_commit = self.metrics.committed
        for dag in dags.values() if isinstance(dags, Mapping) else dags or ():
            self.add_dag(dag)

    # --- lifecycle -------------------------------------------------------------------
    async def __aenter__(self) -> Engine:
        if self._stack is not None:
            raise EngineError("this Engine is already open")
        stack = AsyncExitStack()
        try:
            # first: loading the DAG folder logs too, and what it prints is no try's
            self.process.apply(stack, self.settings, self._driver.executor.logs_folder)
            if self.dags_folder is not None:
                self._load_folder(self.dags_folder)
            await self._start(stack)
            self._stack = stack
            log.info("engine_started", owner=self.owner)
            self.scheduler.paused.update(await self.store.get_paused_dag_ids())
            if self.cluster is not None:
                await self.cluster.take_over()
            await self.runs.resume(self.scheduler.paused)
        except BaseException:
            self._stack = None
            await stack.aclose()
            raise
        return self

    async def _start(self, stack: AsyncExitStack) -> None:
        """Open the store and start the task group; ``stack`` closes them in turn."""
        await self.store.open()
        stack.push_async_callback(_shielded, self.store.close)
        try:
            await self.store.acquire(self.identity)  # refused while another engine owns it
        except BaseException:
            await stack.aclose()
            raise
        if self.cluster is not None:  # after the lease is gone: others adopt this one's runs
            stack.push_async_callback(_shielded, self.cluster.left)
        stack.push_async_callback(_shielded, partial(self.store.release, self.identity))
        # after the task group has ended: poke-mode sensors waiting between pokes
        # have no coroutine to record their interruption, so it is recorded here
        stack.push_async_callback(_shielded, self._driver.executor.stop_holding)
        self.resources = SharedResources()  # one client per connection, closed last
        stack.push_async_callback(_shielded, self.resources.aclose)
        stack.callback(current_resources.reset, current_resources.set(self.resources))
        self._events.open()
        stack.callback(self._events.close)  # after the task group, whose loop reads it
        tg = await stack.enter_async_context(anyio.create_task_group())
        self._driver.attach(tg)
        limiter = anyio.CapacityLimiter(self.settings.worker_threads)
        token = worker_limiter.set(limiter)
        stack.callback(worker_limiter.reset, token)
        tg.start_soon(self._timers.run, name="asyncflow-timers")
        ttl = self.store.lease_ttl
        if ttl is not None:  # ownership that expires unless renewed (PostgreSQL)
            tg.start_soon(keep_lease, self.store, self.identity, ttl, name="asyncflow-lease")
        tg.start_soon(self._loop.run, name="asyncflow-run-loop")
        if self.cluster is not None:
            tg.start_soon(self.cluster.run, name="asyncflow-cluster")
        if self.metrics.enabled:
            tg.start_soon(self.metrics.lag.run, name="asyncflow-loop-lag")
        if self.process.watchdog:
            watchdog = LoopWatchdog(
                self.settings.loop_block_warning_seconds, self._driver.executor.running_tasks
            )
            tg.start_soon(watchdog.run, name="asyncflow-watchdog")
        stack.callback(tg.cancel_scope.cancel)

    async def __aexit__(self, *exc_info: object) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        exc_type = exc_info[0]
        self._driver.dispatcher.pause()
        try:
            if self.cluster is not None:
                await _shielded(self.cluster.claimer.give_back)
            if exc_type is None:
                await self._drain(self.settings.shutdown_grace_seconds)
        finally:
            if isinstance(exc_type, type) and not issubclass(
                exc_type, anyio.get_cancelled_exc_class()
            ):
                # the body's own error: close the task group cleanly (its children are
                # cancelled by the stack) and let the error pass as it is, not in a group
                await stack.aclose()
            else:
                await stack.__aexit__(*exc_info)  # type: ignore[arg-type]
        log.info("engine_stopped", owner=self.owner)

    async def _drain(self, grace: float) -> None:
        """Stop taking work and let running tries finish within ``grace`` seconds.

        Poke-mode sensors stop waiting at once (they resume on restart with their
        timeout intact); what is still running after the grace period is
        cancelled and recorded as interrupted, to run again on restart.
        """
        dispatcher = self._driver.dispatcher  # paused already: no new work starts
        self._driver.executor.interrupt_waiting_sensors()
        with anyio.move_on_after(grace):
            if dispatcher.running:
                log.info("engine_draining", running=dispatcher.running, grace_seconds=grace)
                await dispatcher.idle.wait()
            await self._driver.dag_callbacks.wait()

    def _run_finished(self, run: RunState) -> None:
        self.runs.finished(run)
        self.metrics.run_finished(run.record.state)
        if run.record.state is DagRunState.FAILED and run.dag.max_consecutive_failed_dag_runs:
            self._driver.spawn(pause_after_failures, self.store, run.dag, self.scheduler.paused)

    @property
    def stats(self) -> EngineStats:
        """The engine's slots and queue depths now: a frozen snapshot, cheap to read often."""
        counts = self._run_counts()
        driver = self._driver
        return snapshot(
            driver.dispatcher,
            driver.executor,
            self._timers,
            active_runs=counts[DagRunState.RUNNING],
            queued_runs=counts[DagRunState.QUEUED],
        )

    def _run_counts(self) -> dict[DagRunState, int]:
        # read from a scrape thread too: copies made in one step each (atomic under the GIL)
        queued = sum(len(runs) for runs in list(self.runs.queued.values()))
        return {DagRunState.RUNNING: len(self.runs.active), DagRunState.QUEUED: queued}

    def _logs_folder(self, store: str | Store, task_logs: bool | None) -> Path | None:
        if task_logs is None:
            task_logs = not (isinstance(store, str) and store.startswith("memory:"))
        return self.settings.task_logs_folder if task_logs else None

    def add_dag(self, dag: DAG) -> None:
        """Make a DAG known to the engine by its id (the last one added wins)."""
        if not isinstance(dag, DAG):
            raise EngineError(f"expected a DAG, got {type(dag).__name__}")
        dag.validate()
        self.dags[dag.dag_id] = dag
        self.scheduler.wake()

    def remove_dag(self, dag_id: str) -> None:
        """Forget a DAG (its file was removed); its active runs carry on to their end."""
        self.dags.pop(dag_id, None)
        self.scheduler.wake()

    def _load_folder(self, folder: Path) -> None:
        bag = load_dags(folder)
        for dag in bag.dags.values():
            self.add_dag(dag)
        self.import_errors = dict(bag.errors)

    # --- running ---------------------------------------------------------------------
    async def trigger(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        logical_date: datetime | None = None,
    ) -> DagRunResult:
        """Create a manual run of ``dag_id`` and start it; returns at once.

        Triggering the same run_id twice returns the existing run.
        """
        dag = self._dag(dag_id)
        self._require_open()
        return await self.runs.create(dag, manual_run(dag, conf, logical_date, self.clock.now()))

    async def queue(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        logical_date: datetime | None = None,
    ) -> DagRunResult:
        """Store a manual run as ``queued`` for the engine serving this store to run.

        What ``asyncflow dags trigger`` does: this engine does not run it; the one
        in ``asyncflow run`` picks it up within seconds.
        """
        dag = self._dag(dag_id)
        self._require_open()
        created = await queue_manual_run(self.store, dag, conf, logical_date, self.clock.now())
        if created is None:
            run_id = manual_run(dag, conf, logical_date, self.clock.now()).run_id
            return await self.get_run(run_id, dag_id=dag_id)
        return created

    async def wait(
        self,
        run: RunRef,
        timeout: float | None = None,  # noqa: ASYNC109 - the public API fixes wait(run, timeout=None)
        dag_id: str | None = None,
    ) -> DagRunResult:
        """Wait until the run has finished and return its result.

        Args:
            run: What :meth:`trigger` returned, or a run_id. A run_id is unique
                per DAG only (as in Airflow): when two DAGs have a run with it,
                ``dag_id`` chooses.
            timeout: Seconds to wait at most (default: no limit).
            dag_id: The DAG of a bare run_id.

        A run still queued (behind ``max_active_runs``, or for the engine serving
        this store) is waited for too.

        Raises:
            TimeoutError: when it is still running after ``timeout`` seconds.
            DagRunNotFound: no such run, or a bare run_id that several DAGs have.

        Example:
            >>> started = await engine.trigger("etl")  # doctest: +SKIP
            >>> result = await engine.wait(started, timeout=60)  # doctest: +SKIP
        """
        self._require_open()
        run_id, dag_id = run_key(run, dag_id)
        try:
            with anyio.fail_after(timeout):
                record = await self.runs.wait_finished(run_id, dag_id)
        except TimeoutError:
            raise TimeoutError(f"run {run_id!r} was still running after {timeout} s") from None
        return await self.get_run(run_id, dag_id=record.dag_id)

    async def run(
        self,
        dag_or_id: DAG | str,
        conf: Mapping[str, Any] | None = None,
        logical_date: datetime | None = None,
    ) -> DagRunResult:
        """Trigger a run and wait for it to finish (a DAG object is added first)."""
        if isinstance(dag_or_id, DAG):
            self.add_dag(dag_or_id)
            dag_or_id = dag_or_id.dag_id
        started = await self.trigger(dag_or_id, conf=conf, logical_date=logical_date)
        return await self.wait(started)

    async def get_run(self, run: RunRef, *, dag_id: str | None = None) -> DagRunResult:
        """The state of a run now, while it runs or after it finished.

        ``run`` is what :meth:`trigger` returned or a run_id (``dag_id`` chooses
        between DAGs that share it).

        Raises:
            DagRunNotFound: when no run has this id (or it is ambiguous across DAGs).
        """
        self._require_open()
        return await self.runs.snapshot(*run_key(run, dag_id))

    async def clear_xcom(self, run: RunRef, *, dag_id: str | None = None) -> int:
        """Delete a run's XCom values, the objects in object storage included.

        ``run`` is what :meth:`trigger` returned or a run_id. Returns how many
        values were deleted.
        """
        self._require_open()
        return await self.runs.clear_xcom(*run_key(run, dag_id))

    async def mark_failed(self, run: RunRef, reason: str, *, dag_id: str | None = None) -> bool:
        """Fail a run that this engine is running, now, as Airflow's "Mark failed" does.

        Its running tries are stopped and fail with ``reason`` as their error;
        its task instances that have not run (or wait for a retry or a poke) are
        skipped; finished ones stay as they are. A stopped try records its
        failure as its coroutine ends, before the engine closes.

        Args:
            run: What :meth:`trigger` returned, or a run_id.
            reason: The error of the stopped tries, one line.
            dag_id: The DAG of a bare run_id shared by several DAGs.

        Returns:
            ``True``, or ``False`` when the run had finished already.

        Raises:
            DagRunNotFound: no such run.
            EngineError: the run is queued or driven by another process.

        Example:
            >>> await engine.mark_failed(started, "stopped by the operator")  # doctest: +SKIP
        """
        self._require_open()
        return await self.actions.mark_failed(run, reason, dag_id=dag_id)

    async def notify(self, key: str) -> int:
        """Wake every sensor waiting on ``key`` (``wake_on=[key]``) for a poke now.

        Works for sensors in either mode. Returns how many were woken in this
        engine; on a store engines share, every other engine wakes its own too.

        Example:
            >>> await engine.notify("orders-landed")  # doctest: +SKIP
        """
        self._require_open()
        woken = self._driver.executor.wakeups.notify(key)
        if self.cluster is not None:  # and the sensors of every other engine on the store
            await self.cluster.notify(key)
        return woken

    async def serve(self) -> None:
        """Schedule the DAGs and run their work until cancelled (what ``asyncflow run`` does).

        Runs are created as their data intervals end (see ``schedule``,
        ``start_date``, ``catchup``); paused DAGs create none.
        """
        self._require_open()
        await self.scheduler.run()

    async def backfill(
        self,
        dag_id: str,
        start_date: datetime,
        end_date: datetime,
        *,
        rerun_failed: bool = False,
        on_progress: Callable[[int, int, int], None] | None = None,
    ) -> list[DagRunResult]:
        """Run every data interval of the DAG whose logical date is in ``[start, end]``.

        Runs are ``backfill__<logical date>``, created oldest first within the DAG's
        ``max_active_runs``. A logical date that already has a finished run is not
        run again (a failed one is, with ``rerun_failed``: its failed and skipped
        tasks run again). ``on_progress(done, total, failed)`` follows the runs.
        Returns the runs' results in logical-date order.
        """
        self._require_open()
        dag = self._dag(dag_id)
        intervals = intervals_between(timing_of(dag), as_utc(start_date), as_utc(end_date))
        existing = {r.logical_date: r for r in await self.store.list_runs(dag_id)}
        run_ids: list[str] = []
        for interval in intervals:
            found = existing.get(interval.start)
            if found is not None and found.state == DagRunState.FAILED and rerun_failed:
                await self.actions.rerun(found.run_id, dag_id=dag.dag_id)
            elif found is None:
                await self.runs.create(
                    dag, interval_run(dag, interval, "backfill", self.clock.now())
                )
            run_ids.append(found.run_id if found is not None else run_id_for("backfill", interval))
        results: list[DagRunResult] = []
        failed = 0
        for run_id in run_ids:
            result = await self.wait(run_id, dag_id=dag_id)
            failed += result.state == DagRunState.FAILED
            results.append(result)
            if on_progress is not None:
                on_progress(len(results), len(run_ids), failed)
        return results

    async def pause(self, dag_id: str) -> None:
        """Stop creating scheduled runs of a DAG (remembered by the store)."""
        self._require_open()
        await self.store.set_dag_paused(dag_id, True)
        self.scheduler.paused.add(dag_id)

    async def unpause(self, dag_id: str) -> None:
        """Create a DAG's scheduled runs again, from where its schedule stands."""
        self._require_open()
        await self.store.set_dag_paused(dag_id, False)
        self.scheduler.paused.discard(dag_id)
        self.scheduler.wake()

    async def _create_scheduled(self, dag: DAG, interval: DataInterval) -> None:
        await self.runs.create(dag, interval_run(dag, interval, "scheduled", self.clock.now()))

    def _dag(self, dag_id: str) -> DAG:
        try:
            return self.dags[dag_id]
        except KeyError:
            known = ", ".join(sorted(self.dags)) or "none"
            raise DagNotFound(
                f"no DAG {dag_id!r} is known to the engine (known: {known})"
            ) from None

    def _require_open(self) -> None:
        if self._stack is None:
            raise EngineError("the engine is not open: use `async with Engine(...) as engine:`")


def _metrics_of(metrics: bool | CollectorRegistry) -> EngineMetrics:
    if isinstance(metrics, CollectorRegistry):
        return EngineMetrics(metrics)
    if not isinstance(metrics, bool):
        raise EngineError(
            f"metrics must be True, False or a prometheus_client CollectorRegistry, "
            f"got {type(metrics).__name__}"
        )
    return EngineMetrics(enabled=metrics)


async def _shielded(close: Callable[[], Awaitable[None]]) -> None:
    """Close even when the engine's exit is cancelled: the store's threads must end."""
    with anyio.CancelScope(shield=True):
        await close()
