"""``TaskInstance``: the ``ti`` a running task receives in its context.

``ti.xcom_push`` and ``ti.xcom_pull`` are awaited in async tasks and called
directly in sync ones (which run in worker threads): the same object serves
both, deciding by the thread it is called from.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Awaitable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.from_thread

from asyncflow.records import XComRecord
from asyncflow.results import DagRunResult
from asyncflow.xcom import ObjectRef, decode, encode_checked
from asyncflow.xcom_arg import RETURN_VALUE
from asyncflow.xcom_objects import XComObjects, load, stored_text

if TYPE_CHECKING:
    from asyncflow.operator import Operator
    from asyncflow.storage.protocol import Store

T = TypeVar("T")


def _push_where(task_id: str, key: str) -> str:
    """What a pushed value is, for an error message (made only when one is raised)."""
    return f"task {task_id!r} (key {key!r})"


class _Ready(Awaitable[T]):
    """An awaitable that is already done, so an async caller may ``await`` a sync result."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, T]:
        yield from ()
        return self.value


@dataclass(slots=True, eq=False)
class TaskInstance:
    """One try of one task instance, as the running task sees it."""

    task: Operator
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    store: Store
    xcom_max_bytes: int
    mapped_kwargs: dict[str, Any] = field(default_factory=dict)
    objects: XComObjects | None = None  # where values too large for the store go
    first_poke_at: datetime | None = None  # a sensor's first poke, across tries
    poke_count: int = 0  # a sensor's pokes so far, across tries and reschedules
    interrupted_tries: int = 0  # earlier tries a shutdown cut short: not counted as retries
    loop_thread: int = field(default_factory=threading.get_ident)
    pushed: dict[str, XComRecord] = field(default_factory=dict)
    skipped_task_ids: frozenset[str] = frozenset()

    @property
    def counted_tries(self) -> int:
        """Tries that count against ``retries``: this one and those before it that ran out."""
        return self.try_number - self.interrupted_tries

    def __repr__(self) -> str:
        index = f"[{self.map_index}]" if self.map_index >= 0 else ""
        where = f"{self.dag_id}.{self.task_id}{index} {self.run_id}"
        return f"<TaskInstance {where} try {self.try_number}>"

    # --- XCom --------------------------------------------------------------------
    def xcom_push(self, key: str, value: Any) -> Any:
        """Store ``value`` under ``key`` for this instance (``await`` it in async tasks).

        Raises:
            XComError: when the value is not serialisable or over the size limit.
        """
        # with object storage, large values are offloaded when the try is recorded
        limit = sys.maxsize if self.objects is not None else self.xcom_max_bytes
        text = encode_checked(value, where=partial(_push_where, self.task_id, key), max_bytes=limit)
        self.pushed[key] = XComRecord(
            dag_id=self.dag_id,
            run_id=self.run_id,
            task_id=self.task_id,
            map_index=self.map_index,
            key=key,
            value=text,
        )
        return _Ready(None) if self._on_loop() else None

    def xcom_pull(
        self,
        task_ids: str | Sequence[str] | None = None,
        key: str = RETURN_VALUE,
        map_indexes: int | Sequence[int] | None = None,
    ) -> Any:
        """Read XCom values of this run (``await`` it in async tasks).

        ``task_ids`` is one id (one value back) or a list (a list back); ``None`` means
        this task. For a mapped task without ``map_indexes`` the value is the list of
        every instance's value in map_index order. A missing value is ``None``.
        """
        coro = self._pull(task_ids, key, map_indexes)
        if self._on_loop():
            return coro
        return anyio.from_thread.run(lambda: coro)

    async def pull_for_arg(self, task_id: str, key: str, mapped: bool) -> Any:
        """The value of an upstream task's result passed as an argument."""
        if mapped:
            return await self._pull_all(task_id, key)
        return await self._pull_one(task_id, key, -1)

    async def _pull(
        self,
        task_ids: str | Sequence[str] | None,
        key: str,
        map_indexes: int | Sequence[int] | None,
    ) -> Any:
        if task_ids is None:
            task_ids = self.task_id
        if isinstance(task_ids, str):
            return await self._pull_task(task_ids, key, map_indexes)
        return [await self._pull_task(t, key, map_indexes) for t in task_ids]

    async def _pull_task(
        self, task_id: str, key: str, map_indexes: int | Sequence[int] | None
    ) -> Any:
        if isinstance(map_indexes, int):
            return await self._pull_one(task_id, key, map_indexes)
        if map_indexes is not None:
            return [await self._pull_one(task_id, key, i) for i in map_indexes]
        dag = self.task.dag
        if dag.has_task(task_id) and dag.get_task(task_id).is_mapped:
            return await self._pull_all(task_id, key)
        return await self._pull_one(task_id, key, -1)

    async def _pull_one(self, task_id: str, key: str, map_index: int) -> Any:
        if task_id == self.task_id and map_index == self.map_index and key in self.pushed:
            return decode(self.pushed[key].value)
        record = await self.store.get_xcom(self.dag_id, self.run_id, task_id, key, map_index)
        return None if record is None else await load(record.value, self.objects)

    async def _pull_all(self, task_id: str, key: str) -> list[Any]:
        records = await self.store.get_xcoms(self.dag_id, self.run_id, task_id, key)
        # decoded in one pass: a reducer over a storm's mapped results reads 100,000
        values = [decode(record.value) for record in records]
        for index, value in enumerate(values):
            if isinstance(value, ObjectRef):
                values[index] = decode(await stored_text(value, self.objects))
        return values

    # --- other runs ----------------------------------------------------------------
    async def find_dag_run(
        self,
        dag_id: str,
        *,
        logical_date: datetime | None = None,
        run_id: str | None = None,
    ) -> DagRunResult | None:
        """A snapshot of a run of any DAG in this engine's store, or ``None``.

        Looked up by ``run_id``, or else by ``logical_date`` (what
        ``ExternalTaskSensor`` matches on). The snapshot carries states, not XCom.
        """
        if run_id is not None:
            record = await self.store.get_run(dag_id, run_id)
        elif logical_date is not None:
            runs = await self.store.list_runs(dag_id)
            record = next((r for r in runs if r.logical_date == logical_date), None)
        else:
            raise ValueError("find_dag_run needs logical_date or run_id")
        if record is None:
            return None
        instances = await self.store.get_task_instances(dag_id, record.run_id)
        return DagRunResult.build(record, instances)

    # --- control -----------------------------------------------------------------
    def skip_tasks(self, task_ids: Iterable[str]) -> None:
        """Mark these tasks to be skipped when this try succeeds (used by branching)."""
        self.skipped_task_ids = self.skipped_task_ids.union(task_ids)

    def _on_loop(self) -> bool:
        return threading.get_ident() == self.loop_thread
