"""Driving active runs: deciding, dispatching, running and recording task instances.

The flow for one run (DESIGN.md, "How a run flows"): roots are decided at once;
a task whose trigger rule says run has its instances submitted to the
dispatcher; each instance runs as a coroutine in the engine's task group; its
outcome is committed, then only its downstream tasks are re-decided. A retry
goes to the timer heap. When every task has ended the run is finished.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.abc

from asyncflow.clock import Clock
from asyncflow.engine.dispatcher import Dispatcher, Ticket
from asyncflow.engine.executor import InstanceExecutor
from asyncflow.engine.past import PastGate
from asyncflow.engine.run_state import Expansion, NodeState, RunState
from asyncflow.engine.timers import Timers
from asyncflow.engine.transitions import log_stale, timeout_error
from asyncflow.exceptions import MappingError
from asyncflow.log import get_logger
from asyncflow.records import TaskInstanceRecord
from asyncflow.runtime.task_runner import SKIPPED_KEY, TryOutcome
from asyncflow.settings import Settings
from asyncflow.states import FINISHED_TASK_STATES, DagRunState, TaskState
from asyncflow.storage.protocol import Store
from asyncflow.trigger_rules import Decision
from asyncflow.xcom import decode
from asyncflow.xcom_arg import XComArg
from asyncflow.xcom_objects import XComObjects, load

log = get_logger("asyncflow.engine")


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
            submit=self._submit,
            ended=self._instance_ended,
            release=self.dispatcher.release,
            spawn=self.spawn,
        )
        self.past = PastGate(store)
        self._on_run_finished = on_run_finished
        self._tg: anyio.abc.TaskGroup | None = None

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
        if not await self._decide(writes):
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
                node.expansion = await self._resolve_expansion(run, node)
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
            self._submit(run, node, ti.map_index)
        elif ti.state is TaskState.UP_FOR_RETRY:
            due = ti.next_attempt_at or now
            self.timers.call_at(due, self._submit, run, node, ti.map_index)
        elif ti.state is TaskState.UP_FOR_RESCHEDULE:
            self.executor.park(run, node, ti)

    async def _advance(
        self, run: RunState, finished: list[tuple[str, TaskState]], forced_skips: Sequence[str] = ()
    ) -> None:
        writes, runnable = run.propagate(finished, forced_skips, at=self.clock.now())
        if not await self._decide(writes):
            return
        await self._submit_all(run, runnable)
        await self._maybe_complete(run)

    async def _decide(self, records: list[TaskInstanceRecord]) -> bool:
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
        return not stale

    async def _submit_all(self, run: RunState, nodes: list[NodeState]) -> None:
        for node in nodes:
            if node.task.depends_on_past and not await self.past.allows(run, node):
                self.past.hold(run, node)
            elif node.task.is_mapped:
                await self._expand(run, node)
            else:
                self._submit(run, node, -1)

    def _submit(self, run: RunState, node: NodeState, map_index: int) -> None:
        if run.completing:
            return  # a retry or a poke of a run that has ended (e.g. timed out)
        task = node.task
        if task.pool is not None and task.pool not in self.dispatcher.pools:
            self.spawn(self._fail_unknown_pool, run, node, map_index)
            return
        self.dispatcher.submit(
            Ticket(
                priority=task.priority_weight,
                dag_id=run.dag.dag_id,
                dag_limit=run.dag.max_active_tasks,
                pool=task.pool,
                payload=(run, node, map_index),
            )
        )

    # --- mapping -------------------------------------------------------------------
    async def _expand(self, run: RunState, node: NodeState) -> None:
        now = self.clock.now()
        try:
            expansion = await self._resolve_expansion(run, node)
        except MappingError as error:
            record = run.end_placeholder(node, TaskState.FAILED, now, str(error))
            if not await self._decide([record]):
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
            if not await self._decide([record]):
                return
            await self._advance(run, [(node.task.task_id, TaskState.SKIPPED)])
            return
        records = run.expand(node, expansion)
        dag_id, run_id = run.key
        if not await self.store.expand_task(dag_id, run_id, node.task.task_id, records):
            log_stale("expand_task", node.instances[0], "its run has ended")
            return
        for record in records:
            self._submit(run, node, record.map_index)

    async def _resolve_expansion(self, run: RunState, node: NodeState) -> Expansion:
        task = node.task
        expand_input: dict[str, Any] = getattr(task, "expand_input", None) or {}
        keys, values = [], []
        for key, source in expand_input.items():
            value = await self._mapped_value(run, source) if isinstance(source, XComArg) else source
            if isinstance(value, dict):
                value = list(value.items())
            if not isinstance(value, (list, tuple)):
                raise MappingError(
                    f"task {task.task_id!r} cannot expand over {key!r}: got "
                    f"{type(value).__name__}; expand needs a list or a dict"
                )
            keys.append(key)
            values.append(value)
        expansion = Expansion(keys=tuple(keys), values=tuple(values))
        limit = self.settings.max_map_length
        if expansion.length > limit:
            raise MappingError(
                f"task {task.task_id!r} would expand into {expansion.length:,} instances, over "
                f"the limit of {limit:,}; raise it with ASYNCFLOW_MAX_MAP_LENGTH"
            )
        return expansion

    async def _mapped_value(self, run: RunState, source: XComArg) -> Any:
        dag_id, run_id = run.key
        upstream = source.operator
        objects = self.executor.objects
        if upstream.is_mapped:
            records = await self.store.get_xcoms(dag_id, run_id, upstream.task_id, source.key)
            return [await load(r.value, objects) for r in records]
        record = await self.store.get_xcom(dag_id, run_id, upstream.task_id, source.key, -1)
        return None if record is None else await load(record.value, objects)

    # --- running -------------------------------------------------------------------
    def _launch(self, ticket: Ticket) -> None:
        self.executor.launch(ticket)

    def spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` as a coroutine in the engine's task group."""
        assert self._tg is not None, "the engine is not open"
        self._tg.start_soon(fn, *args)

    async def _instance_ended(
        self, run: RunState, node: NodeState, record: TaskInstanceRecord, outcome: TryOutcome
    ) -> None:
        task_done = run.instance_ended(node, record)
        await self._advance(
            run, [(node.task.task_id, outcome.state)], sorted(outcome.skipped_task_ids)
        )
        if task_done:  # a later run's depends_on_past may have waited for this
            for later, held in await self.past.release(run.dag.dag_id, node.task.task_id):
                await self._submit_all(later, [held])

    async def _fail_unknown_pool(self, run: RunState, node: NodeState, map_index: int) -> None:
        pools = ", ".join(sorted(self.dispatcher.pools)) or "none"
        error = (
            f"task {node.task.task_id!r} uses pool {node.task.pool!r}, which the engine does not "
            f"have (pools: {pools}); pass pools={{{node.task.pool!r}: N}} to Engine"
        )
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
        if not await self._decide([ended]):
            return
        run.instance_ended(node, ended)
        await self._advance(run, [(node.task.task_id, TaskState.FAILED)])

    # --- timing out ----------------------------------------------------------------
    def _arm_timeout(self, run: RunState) -> None:
        timeout = run.dag.dagrun_timeout
        started = run.record.start_date
        if timeout is not None and started is not None:
            self.timers.call_at(started + timeout, self.spawn, self.time_out, run)

    async def time_out(self, run: RunState) -> None:
        """Fail a run past its dagrun_timeout: stop its running tries, skip the rest."""
        await self.fail_now(run, timeout_error(run), event="dag_run_timed_out")

    async def fail_now(self, run: RunState, error: str, *, event: str) -> bool:
        """Fail a run now: its running tries stop and fail with ``error``, the rest skip.

        The store ends the run and its unfinished instances in one transaction
        (instances waiting to start, for a retry or for their next poke are
        skipped; finished ones stay); a try that reports afterwards finds its
        write refused (stale). Logs ``event`` as a warning. Returns ``False``
        when the run was finishing already.
        """
        if run.completing:
            return False
        run.stop_error = error
        run.completing = True
        log.warning(event, dag_id=run.dag.dag_id, run_id=run.record.run_id)
        await self._finish(run, DagRunState.FAILED, stop_error=error)
        await self.executor.stop_run(run.key)
        return True

    # --- finishing -----------------------------------------------------------------
    async def _maybe_complete(self, run: RunState) -> None:
        if run.unfinished_nodes > 0 or run.completing:
            return
        run.completing = True
        await self._finish(run, run.final_state())

    async def _finish(
        self, run: RunState, state: DagRunState, stop_error: str | None = None
    ) -> None:
        run.record = replace(run.record, state=state, end_date=self.clock.now())
        dag_id, run_id = run.key
        assert run.record.end_date is not None
        if not await self.store.finish_run(
            dag_id, run_id, state, run.record.end_date, stop_error=stop_error
        ):
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
