"""What people do to runs by hand: clear, set a task's state, mark, delete.

The web UI's and REST API's buttons, as Airflow has them. A run that has
finished is changed in the store and queued again (:mod:`.clearing` says which
instances change); an engine decides what is left, as for a new run. A run
still running is only ended by the engine driving it, so marking or deleting
one needs that engine; clearing and setting states need the run finished.

Without an engine in the process (a separate ``asyncflow web``), the store is
changed alone and the engine serving it starts the queued run within seconds.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from pathlib import Path

import anyio

from asyncflow.dag import DAG
from asyncflow.engine.clearing import plan_clear, plan_rerun, plan_set_state
from asyncflow.engine.run_loop import RunLoop
from asyncflow.engine.runs import RunBook, RunRef, find_record, run_key
from asyncflow.exceptions import DagNotFound, EngineError
from asyncflow.log import get_logger
from asyncflow.records import DagRunRecord, Reopening
from asyncflow.states import FINISHED_RUN_STATES, DagRunState, TaskState
from asyncflow.storage.protocol import Store
from asyncflow.task_logs import run_log_folder
from asyncflow.xcom_objects import XComObjects

log = get_logger("asyncflow.engine")


class RunActions:
    """Clear, set states, mark and delete runs, with or without an engine in this process.

    Args:
        store: the open store.
        dags: the DAGs by id.
        now: what time it is (aware UTC).
        logs_folder: where try logs are (a deleted run's go too), or ``None``.
        objects: object storage of large XCom values, or ``None``.
        book: the engine's runs (``None`` without an engine in this process).
        loop: the engine's run loop, which ends the runs it drives.
        paused: the ids of paused DAGs (their queued runs wait to start).
    """

    def __init__(
        self,
        *,
        store: Store,
        dags: Mapping[str, DAG],
        now: Callable[[], datetime],
        logs_folder: Path | None,
        objects: XComObjects | None = None,
        book: RunBook | None = None,
        loop: RunLoop | None = None,
        paused: Collection[str] = frozenset(),
    ) -> None:
        self.store = store
        self.dags = dags
        self.now = now
        self.logs_folder = logs_folder
        self.objects = objects
        self.book = book
        self.loop = loop
        self.paused = paused

    async def clear(
        self,
        run: RunRef,
        task_ids: Collection[str],
        *,
        dag_id: str | None = None,
        downstream: bool = False,
        map_indexes: Collection[int] | None = None,
        only_failed: bool = False,
    ) -> Reopening:
        """Clear task instances of a finished run and run it again; what changed.

        Raises:
            DagRunNotFound: no such run.
            TaskInstanceNotFound: a task or map index the run does not have.
            EngineError: the run has not finished.
        """
        dag, record = await self._finished(run, dag_id, "cleared")
        instances = await self.store.get_task_instances(record.dag_id, record.run_id)
        reopening = plan_clear(
            dag,
            instances,
            task_ids,
            at=self.now(),
            downstream=downstream,
            map_indexes=map_indexes,
            only_failed=only_failed,
        )
        await self._reopen(record, reopening)
        return reopening

    async def rerun(self, run: RunRef, *, dag_id: str | None = None) -> Reopening:
        """Run a finished run again: its failed, upstream_failed and skipped tasks restart.

        Raises:
            DagRunNotFound: no such run.
            EngineError: the run has not finished.
        """
        _, record = await self._finished(run, dag_id, "cleared")
        instances = await self.store.get_task_instances(record.dag_id, record.run_id)
        reopening = plan_rerun(instances, at=self.now())
        await self._reopen(record, reopening)
        return reopening

    async def set_task_state(
        self,
        run: RunRef,
        task_id: str,
        state: TaskState,
        *,
        dag_id: str | None = None,
        downstream: bool = False,
        map_indexes: Collection[int] | None = None,
    ) -> Reopening:
        """Set a task's instances of a finished run to ``state``; what changed.

        The run is queued to decide again what it ends as (and, after a mark of
        ``success``, to run the failed tasks downstream).

        Raises:
            DagRunNotFound: no such run.
            TaskInstanceNotFound: a task or map index the run does not have.
            EngineError: the run has not finished, or ``state`` cannot be set.
        """
        dag, record = await self._finished(run, dag_id, "changed by hand")
        instances = await self.store.get_task_instances(record.dag_id, record.run_id)
        reopening = plan_set_state(
            dag,
            instances,
            task_id,
            TaskState(state),
            at=self.now(),
            downstream=downstream,
            map_indexes=map_indexes,
        )
        if not reopening.empty:
            await self._reopen(record, reopening)
        return reopening

    async def mark_success(self, run: RunRef, *, dag_id: str | None = None) -> bool:
        """Mark a run and every task instance of it successful, as Airflow's "Mark success".

        A run this engine drives has its running tries stopped. Returns
        ``False`` when the run was successful already.

        Raises:
            DagRunNotFound: no such run.
            EngineError: the run is running in another process.
        """
        run_id, dag_id = run_key(run, dag_id)
        error = "the run was marked success; this try was stopped"
        ended = await self._end_here(
            run_id, dag_id, error, "dag_run_marked_success", DagRunState.SUCCESS
        )
        if ended is not None:
            return ended
        record = await find_record(self.store, run_id, dag_id)
        self._require_not_running(record, "mark it success")
        if self.book is not None:
            self.book.forget_queued(record.dag_id, record.run_id)
        marked = await self.store.mark_run_success(record.dag_id, record.run_id, self.now())
        if marked:
            log.info("dag_run_marked_success", dag_id=record.dag_id, run_id=record.run_id)
        return marked

    async def mark_failed(self, run: RunRef, reason: str, *, dag_id: str | None = None) -> bool:
        """Fail a run this engine drives, now (see :meth:`Engine.mark_failed`)."""
        run_id, dag_id = run_key(run, dag_id)
        ended = await self._end_here(run_id, dag_id, reason, "dag_run_marked_failed")
        if ended is not None:
            return ended
        record = await find_record(self.store, run_id, dag_id)
        if record.state in FINISHED_RUN_STATES:
            return False
        raise EngineError(
            f"run {run_id!r} of DAG {record.dag_id!r} is {record.state} but this engine is not "
            "running it; only the engine running a run can mark it failed"
        )

    async def delete(self, run: RunRef, *, dag_id: str | None = None) -> DagRunRecord:
        """Delete a run with its task instances, XCom and try logs; the run as it was.

        A run this engine drives is failed first (its tries stopped).

        Raises:
            DagRunNotFound: no such run.
            EngineError: the run is running in another process.
        """
        run_id, dag_id = run_key(run, dag_id)
        await self._end_here(run_id, dag_id, "the run was deleted", "dag_run_deleted")
        record = await find_record(self.store, run_id, dag_id)
        self._require_not_running(record, "delete it")
        if self.book is not None:
            self.book.forget_queued(record.dag_id, record.run_id)
        if not await self.store.delete_run(record.dag_id, record.run_id):
            raise EngineError(f"run {run_id!r} of DAG {record.dag_id!r} started meanwhile")
        if self.objects is not None:
            await self.objects.delete_run(record.dag_id, record.run_id)
        if self.logs_folder is not None:
            folder = run_log_folder(self.logs_folder, record.dag_id, record.run_id)
            await anyio.to_thread.run_sync(shutil.rmtree, folder, True)
        log.info("dag_run_deleted", dag_id=record.dag_id, run_id=record.run_id)
        return record

    async def _end_here(
        self,
        run_id: str,
        dag_id: str | None,
        error: str,
        event: str,
        state: DagRunState = DagRunState.FAILED,
    ) -> bool | None:
        """End a run this engine drives, by hand, once it has ended; ``None`` if not driven here.

        ``False`` when it was ending already (it has ended by the time this returns).
        """
        active = self.book.find_active(run_id, dag_id) if self.book else None
        if active is None or self.loop is None:
            return None
        ended = await self.loop.fail(active, error, event=event, state=state)
        await active.done.wait()
        return ended

    async def _finished(
        self, run: RunRef, dag_id: str | None, what: str
    ) -> tuple[DAG, DagRunRecord]:
        record = await find_record(self.store, *run_key(run, dag_id))
        dag = self.dags.get(record.dag_id)
        if dag is None:
            raise DagNotFound(f"DAG {record.dag_id!r} is not loaded; its runs cannot be changed")
        if record.state not in FINISHED_RUN_STATES:
            raise EngineError(
                f"run {record.run_id!r} of DAG {record.dag_id!r} is {record.state}: only a "
                f"finished run can be {what}; wait for it to finish, or mark it failed first"
            )
        return dag, record

    async def _reopen(self, record: DagRunRecord, reopening: Reopening) -> None:
        if not await self.store.reopen_run(record.dag_id, record.run_id, reopening):
            raise EngineError(
                f"run {record.run_id!r} of DAG {record.dag_id!r} is no longer finished "
                "(it was changed meanwhile); look again and retry"
            )
        log.info(
            "dag_run_cleared",
            dag_id=record.dag_id,
            run_id=record.run_id,
            cleared=len(reopening.clear) + len(reopening.expand_again),
            marked=len(reopening.marks),
        )
        book = self.book
        if book is not None and record.dag_id in book.dags and record.dag_id not in self.paused:
            await book.requeue(record)

    def _require_not_running(self, record: DagRunRecord, what: str) -> None:
        if record.state is DagRunState.RUNNING:
            raise EngineError(
                f"run {record.run_id!r} of DAG {record.dag_id!r} is running in another "
                f"process; only the engine running it can {what} (or mark it failed first)"
            )
