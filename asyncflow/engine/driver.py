"""Driving active runs: deciding, dispatching, running and recording task instances.

The flow for one run: roots are decided at once;
a task whose trigger rule says run has its instances submitted to the
dispatcher; each instance runs as a coroutine in the engine's task group; its
outcome is committed, then only its downstream tasks are re-decided. A retry
goes to the timer heap. When every task has ended the run is finished.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.abc

from asyncflow.clock import Clock
from asyncflow.engine.dag_callbacks import PendingCallbacks, callbacks_for
from asyncflow.engine.dispatcher import Dispatcher, Ticket
from asyncflow.engine.executor import InstanceExecutor
from asyncflow.engine.expansion import resolve_expansion
from asyncflow.engine.limits import bounds_of, pool_problem
from asyncflow.engine.offers import Offers
from asyncflow.engine.past import PastGate
from asyncflow.engine.run_events import (
    PokeDue,
    PoolMissing,
    RetryDue,
    RunEvents,
    RunTimedOut,
    TryInterrupted,
    TryRecorded,
)
from asyncflow.engine.run_state import Expansion, NodeState, RunState
from asyncflow.engine.timers import Timers
from asyncflow.engine.transitions import log_stale, timeout_error
from asyncflow.engine.wakeups import wake_keys
from asyncflow.exceptions import MappingError
from asyncflow.log import get_logger
from asyncflow.records import TaskInstanceRecord
from asyncflow.runtime.task_runner import SKIPPED_KEY
from asyncflow.settings import Settings
from asyncflow.states import FINISHED_RUN_STATES, FINISHED_TASK_STATES, DagRunState, TaskState
from asyncflow.storage.protocol import Store
from asyncflow.trigger_rules import Decision
from asyncflow.xcom import decode
from asyncflow.xcom_objects import XComObjects

log = get_logger("asyncflow.engine")

IN_FLIGHT_STATES = frozenset({TaskState.SCHEDULED, TaskState.QUEUED, TaskState.RUNNING})


class RunDriver:
    """Moves every active run forward; owned by an :class:`~asyncflow.Engine`."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        settings: Settings,
        timers: Timers,
        max_active_tasks: int,
        pools: dict[str, int],
        owner: str,
        objects: XComObjects | None,
        logs_folder: Path | None,
        on_run_finished: Callable[[RunState], None],
        events: RunEvents,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.timers = timers
        self.owner = owner
        self.dispatcher = Dispatcher(max_active=max_active_tasks, pools=pools, launch=self._launch)
        self.executor = InstanceExecutor(
            store=store,
            clock=clock,
            settings=settings,
            timers=timers,
            owner=owner,
            objects=objects,
            logs_folder=logs_folder,
            post=events.post,
            release=self.dispatcher.release,
            spawn=self.spawn,
        )
        self.past = PastGate(store)
        self.offers: Offers | None = None  # on a store engines share: offer, do not run
        # on a store engines share: told when a run is ended early, to stop its tries elsewhere
        self.on_stopped: Callable[[RunState], Awaitable[None]] | None = None
        self.post = events.post
        self._on_run_finished = on_run_finished
        self._tg: anyio.abc.TaskGroup | None = None
        self.dag_callbacks = PendingCallbacks()  # closing the engine waits for these

    def attach(self, tg: anyio.abc.TaskGroup) -> None:
        """Run instances in this task group from now on."""
        self._tg = tg
        tg.start_soon(self.executor.tries.supervise, name="asyncflow-tries")

    # --- deciding ------------------------------------------------------------------
    async def start(self, run: RunState) -> None:
        """Decide the run's root tasks and submit the runnable ones."""
        self._arm_timeout(run)
        runnable = [node for node, d in run.initial_decisions() if d is Decision.RUN]
        await self._submit_all(run, runnable)
        await self._maybe_complete(run)

    async def resume(self, run: RunState) -> None:
        """Carry on with a run restored from the store after a restart."""
        self._arm_timeout(run)
        at = self.clock.now()
        writes, runnable = run.propagate((), await self._recorded_skips(run), at=at)
        settled, settled_runnable = run.settle(at=at)
        writes += settled
        runnable += settled_runnable
        if not await self._decide(run, writes):
            return
        now = self.clock.now()
        for node in run.nodes.values():
            if node.decision is not Decision.RUN or node in runnable:
                continue
            pending = [ti for ti in node.instances.values() if ti.state not in FINISHED_TASK_STATES]
            if (
                node.task.depends_on_past
                and all(ti.state is None for ti in pending)
                and not await self.past.allows(run, node)
            ):
                self.past.hold(run, node)
                continue
            if pending and node.task.is_mapped and pending[0].map_index >= 0:
                node.expansion = await self._expansion(run, node)
            for ti in pending:
                self._resume_instance(run, node, ti, now)
        await self._submit_all(run, runnable)
        await self._maybe_complete(run)

    async def _recorded_skips(self, run: RunState) -> list[str]:
        """Tasks a branch skipped whose skip a stopped process did not get to store.

        A branch's success and the task ids it skipped are stored together; the
        skips themselves are written after. Between the two, a restart must
        still skip them, not run them because their upstream succeeded.
        """
        dag_id, run_id = run.key
        skipped: set[str] = set()
        for node in run.nodes.values():
            record = node.instances.get(-1)
            if record is None or record.state is not TaskState.SUCCESS:
                continue
            downstream = (run.nodes[task_id] for task_id in node.task.downstream_task_ids)
            if all(child.decision is not Decision.WAIT for child in downstream):
                continue
            xcom = await self.store.get_xcom(dag_id, run_id, node.task.task_id, SKIPPED_KEY, -1)
            if xcom is not None:
                skipped.update(decode(xcom.value)["skipped"])
        return sorted(skipped)

    def _resume_instance(
        self, run: RunState, node: NodeState, ti: TaskInstanceRecord, now: datetime
    ) -> None:
        if ti.state is None:
            self.submit(run, node, ti.map_index)
        elif ti.state is TaskState.UP_FOR_RETRY:
            due = ti.next_attempt_at or now
            self.timers.call_at(due, self.post, RetryDue(run, node, ti.map_index))
        elif ti.state is TaskState.UP_FOR_RESCHEDULE:
            self.park(run, node, ti)

    async def _advance(
        self, run: RunState, finished: list[tuple[str, TaskState]], forced_skips: Sequence[str] = ()
    ) -> None:
        writes, runnable = run.propagate(finished, forced_skips, at=self.clock.now())
        if not await self._decide(run, writes):
            return
        await self._submit_all(run, runnable)
        await self._maybe_complete(run)

    async def _decide(self, run: RunState, records: list[TaskInstanceRecord]) -> bool:
        """Store the instances trigger rules ended unrun; ``False`` when the run has ended.

        An instance that never ran is undecided in the store until this write,
        so a decision that does not apply means the run is no longer running
        (it timed out, or another process ended it): nothing more is done for it.
        """
        if not records:
            return True
        applied = await self.store.decide_instances(records)
        stale = [record for record, ok in zip(records, applied, strict=True) if not ok]
        for record in stale:
            log_stale("decide_instance", record, "the instance was decided or its run has ended")
        if stale:
            await self._ended_elsewhere(run)
        return not stale

    async def _submit_all(self, run: RunState, nodes: list[NodeState]) -> None:
        for node in nodes:
            if node.task.depends_on_past and not await self.past.allows(run, node):
                self.past.hold(run, node)
            elif node.task.is_mapped:
                await self._expand(run, node)
            else:
                self.submit(run, node, -1)

    def submit(self, run: RunState, node: NodeState, map_index: int) -> None:
        """Queue an instance for a slot (unless its run has ended)."""
        if run.completing:
            return  # a retry or a poke of a run that has ended (e.g. timed out)
        task = node.task
        if pool_problem(task, self.dispatcher.pools) is not None:
            self.post(PoolMissing(run, node, map_index))
            return
        if self.offers is not None:
            self.offers.add(run, node, map_index)
            return
        self.dispatcher.submit(
            Ticket(
                priority=node.priority,
                bounds=bounds_of(run, task, self.dispatcher.pools),
                payload=(run, node, map_index),
            )
        )

    # --- mapping -------------------------------------------------------------------
    async def _expand(self, run: RunState, node: NodeState) -> None:
        now = self.clock.now()
        try:
            expansion = await self._expansion(run, node)
        except MappingError as error:
            record = run.end_placeholder(node, TaskState.FAILED, now, str(error))
            if not await self._decide(run, [record]):
                return
            log.error(
                "task_failed",
                dag_id=run.dag.dag_id,
                run_id=run.record.run_id,
                task_id=node.task.task_id,
                error=str(error),
            )
            await self._advance(run, [(node.task.task_id, TaskState.FAILED)])
            return
        if expansion.length == 0:
            record = run.end_placeholder(node, TaskState.SKIPPED, now, None)
            if not await self._decide(run, [record]):
                return
            await self._advance(run, [(node.task.task_id, TaskState.SKIPPED)])
            return
        records = run.expand(node, expansion)
        dag_id, run_id = run.key
        if not await self.store.expand_task(dag_id, run_id, node.task.task_id, records):
            log_stale("expand_task", node.instances[0], "its run has ended")
            await self._ended_elsewhere(run)
            return
        for record in records:
            self.submit(run, node, record.map_index)

    async def _expansion(self, run: RunState, node: NodeState) -> Expansion:
        limit = self.settings.max_map_length
        return await resolve_expansion(self.store, self.executor.objects, run, node, limit)

    # --- running -------------------------------------------------------------------
    def _launch(self, ticket: Ticket) -> None:
        self.executor.launch(ticket)

    def spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` as a coroutine in the engine's task group."""
        assert self._tg is not None, "the engine is not open"
        self._tg.start_soon(fn, *args)

    async def instances_ended(self, run: RunState, tries: list[TryRecorded]) -> None:
        """Feed tries of one run that ended (stored) to the trigger rules, together."""
        finished: list[tuple[str, TaskState]] = []
        skips: set[str] = set()
        done: list[NodeState] = []
        for ended in tries:
            if run.instance_ended(ended.node, ended.record):
                done.append(ended.node)
            finished.append((ended.node.task.task_id, ended.outcome.state))
            skips.update(ended.outcome.skipped_task_ids)
        failed = [task_id for task_id, state in finished if state is TaskState.FAILED]
        if failed and run.dag.fail_fast:
            error = (
                f"task {failed[0]!r} failed and DAG {run.dag.dag_id!r} is fail_fast: "
                "this try was stopped"
            )
            await self.fail_now(run, error, event="dag_run_failed_fast")
            return
        await self._advance(run, finished, sorted(skips))
        for node in done:  # a later run's depends_on_past may have waited for this
            for later, held in await self.past.release(run.dag.dag_id, node.task.task_id):
                await self._submit_all(later, [held])

    def recorded(self, event: TryRecorded) -> bool:
        """Take over a try whose outcome is stored; ``True`` when its instance has ended."""
        run, node, record = event.run, event.node, event.record
        if run.guest:  # its driver, in another engine, hears of it from the store
            node.instances[record.map_index] = record
            return False
        if _seen(node.instances.get(record.map_index), event):
            return False
        node.instances[record.map_index] = record
        state = event.outcome.state
        if state is TaskState.UP_FOR_RETRY:
            assert record.next_attempt_at is not None
            self.timers.call_at(
                record.next_attempt_at, self.post, RetryDue(run, node, record.map_index)
            )
        elif state is TaskState.UP_FOR_RESCHEDULE:
            if event.notified:  # notified while the poke was being recorded
                self.poke(PokeDue(run, node, record.map_index, None))
            else:
                self.park(run, node, record)
        else:
            return True
        return False

    def interrupted(self, event: TryInterrupted) -> None:
        """Run again an instance whose try a shutdown interrupted in another engine."""
        node, record = event.node, event.record
        known = node.instances.get(record.map_index)
        if known is None or known.state not in IN_FLIGHT_STATES:
            return  # taken in already
        node.instances[record.map_index] = record
        self.submit(event.run, node, record.map_index)

    # --- reschedule mode: between pokes, a timer entry and its notify keys ----------
    def park(self, run: RunState, node: NodeState, record: TaskInstanceRecord) -> None:
        """Hold a reschedule-mode sensor as a timer entry until its next poke (or a notify)."""
        assert record.next_poke_at is not None
        due = record.next_poke_at
        keys = wake_keys(node)
        if keys:
            notified = PokeDue(run, node, record.map_index, None)
            self.executor.wakeups.add(keys, record.key, lambda: self.post(notified))
        self.timers.call_at(due, self._poke_due, run, node, record.map_index, due)

    def _poke_due(self, run: RunState, node: NodeState, map_index: int, due: datetime) -> None:
        # the event is made only now: a parked sensor costs one timer entry, no more
        self.post(PokeDue(run, node, map_index, due))

    def poke(self, event: PokeDue) -> None:
        """Queue a parked sensor's next poke (unless queued already or its wait is over)."""
        node, map_index = event.node, event.map_index
        record = node.instances[map_index]
        if record.state is not TaskState.UP_FOR_RESCHEDULE:
            return  # queued already by the timer or an earlier notify, or its run ended
        if event.due is not None and record.next_poke_at != event.due:
            return  # a timer entry of an earlier wait
        self.executor.wakeups.remove(wake_keys(node), record.key)
        node.instances[map_index] = record.evolve(state=TaskState.QUEUED)
        self.submit(event.run, node, map_index)

    async def fail_unknown_pool(self, run: RunState, node: NodeState, map_index: int) -> None:
        """Fail an instance whose pool can never run it (missing, too small), before any try."""
        error = pool_problem(node.task, self.dispatcher.pools)
        assert error is not None
        now = self.clock.now()
        ended = replace(
            node.instances[map_index],
            state=TaskState.FAILED,
            start_date=now,
            end_date=now,
            error=error,
        )
        log.error(
            "task_failed",
            dag_id=run.dag.dag_id,
            run_id=run.record.run_id,
            task_id=node.task.task_id,
            error=error,
        )
        if not await self._decide(run, [ended]):
            return
        run.instance_ended(node, ended)
        await self._advance(run, [(node.task.task_id, TaskState.FAILED)])

    # --- timing out ----------------------------------------------------------------
    def _arm_timeout(self, run: RunState) -> None:
        timeout = run.dag.dagrun_timeout
        started = run.record.start_date
        if timeout is not None and started is not None:
            self.timers.call_at(started + timeout, self.post, RunTimedOut(run))

    async def time_out(self, run: RunState) -> None:
        """Fail a run past its dagrun_timeout: stop its running tries, skip the rest."""
        await self.fail_now(run, timeout_error(run), event="dag_run_timed_out")

    async def fail_now(
        self, run: RunState, error: str, *, event: str, state: DagRunState = DagRunState.FAILED
    ) -> bool:
        """End a run now by hand or timeout: its running tries stop, its instances end.

        Failed (a dagrun_timeout, "mark failed"): the store ends the run and its
        unfinished instances in one transaction (a running try fails with
        ``error``; instances waiting to start, for a retry or for their next
        poke are skipped; finished ones stay). ``state=SUCCESS`` ("mark
        success"): the run and every instance not successful are marked
        successful. A try that reports afterwards finds its write refused
        (stale). Logs ``event`` as a warning. Returns ``False`` when the run was
        finishing already.
        """
        if run.completing:
            return False
        run.stop_error = error
        run.completing = True
        log.warning(event, dag_id=run.dag.dag_id, run_id=run.record.run_id)
        await self._finish(run, state, stop_error=error)
        await self.executor.stop_run(run.key)
        if self.on_stopped is not None:  # engines sharing the store stop their tries of it
            await self.on_stopped(run)
        return True

    # --- finishing -----------------------------------------------------------------
    async def _maybe_complete(self, run: RunState) -> None:
        if run.unfinished_nodes > 0 or run.completing:
            return
        run.completing = True
        await self._finish(run, run.final_state())

    async def _ended_elsewhere(self, run: RunState) -> None:
        """End the run here too when the store has it finished (another writer ended it).

        A write of the run loop that the store refused says the run moved on
        without this engine: its tries are stopped (their reports will be
        stale) and its waiters get the run as the store has it.
        """
        stored = await self.store.get_run(*run.key)
        if run.completing or stored is None or stored.state not in FINISHED_RUN_STATES:
            return
        run.completing = True
        run.stop_error = f"run {run.record.run_id!r} was ended elsewhere; this try was stopped"
        run.record = stored
        log.warning("dag_run_ended_elsewhere", dag_id=stored.dag_id, run_id=stored.run_id)
        await self.executor.stop_run(run.key)
        self._on_run_finished(run)
        run.done.set()

    async def _finish(
        self, run: RunState, state: DagRunState, stop_error: str | None = None
    ) -> None:
        run.record = replace(run.record, state=state, end_date=self.clock.now())
        dag_id, run_id = run.key
        end = run.record.end_date
        assert end is not None
        if stop_error is not None and state is DagRunState.SUCCESS:
            applied = await self.store.mark_run_success(dag_id, run_id, end)
        else:
            applied = await self.store.finish_run(dag_id, run_id, state, end, stop_error=stop_error)
        if applied:
            callbacks = callbacks_for(run, state)
            if callbacks:
                self.spawn(self.dag_callbacks.run, run, state, callbacks)
        else:
            log.info(
                "stale_write_ignored",
                write="finish_run",
                dag_id=dag_id,
                run_id=run_id,
                reason="the run is no longer running",
            )
        log.info(
            "dag_run_finished", dag_id=run.dag.dag_id, run_id=run.record.run_id, state=str(state)
        )
        self._on_run_finished(run)
        run.done.set()


def _seen(known: TaskInstanceRecord | None, event: TryRecorded) -> bool:
    """Whether the run already took this try's outcome in.

    On a store engines share, a try the driver ran itself reaches the run loop
    twice: from its executor, and read back after the store's notice. Whichever
    comes second finds the instance as it says, and is dropped. An instance that
    has finished takes nothing more from the store.
    """
    if known is None:
        return False
    record = event.record
    if event.remote and known.state in FINISHED_TASK_STATES:
        return True
    return (
        known.state is record.state
        and known.try_number == record.try_number
        and known.poke_count == record.poke_count
        and known.end_date == record.end_date
    )
