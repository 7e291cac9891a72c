"""``DagRunResult``: a snapshot of one DAG run, its task instances and XCom values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asyncflow.records import DagRunRecord, TaskInstanceRecord, XComRecord
from asyncflow.states import DagRunState, TaskState
from asyncflow.xcom import decode
from asyncflow.xcom_arg import RETURN_VALUE


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskInstanceResult:
    """One task instance as it was when the snapshot was taken."""

    task_id: str
    map_index: int
    state: TaskState | None
    try_number: int  # 1 on the first try; 0 when it never ran
    start_date: datetime | None
    end_date: datetime | None
    error: str | None  # the one-line error of the last failed try

    @classmethod
    def of(cls, record: TaskInstanceRecord) -> TaskInstanceResult:
        """The result view of a stored record."""
        return cls(
            task_id=record.task_id,
            map_index=record.map_index,
            state=record.state,
            try_number=record.try_number,
            start_date=record.start_date,
            end_date=record.end_date,
            error=record.error,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DagRunResult:
    """A snapshot of a DAG run: its state, task instances and XCom values.

    Example:
        >>> result = etl.test()  # doctest: +SKIP
        >>> result.state, result.ti("load").try_number, result.xcom("extract")
        ('success', 1, [1, 2, 3])
    """

    dag_id: str
    run_id: str
    state: DagRunState
    run_type: str
    logical_date: datetime
    conf: Mapping[str, Any]
    start_date: datetime | None
    end_date: datetime | None
    _instances: dict[tuple[str, int], TaskInstanceResult] = field(repr=False)
    _xcoms: dict[tuple[str, str, int], str] = field(repr=False)

    @classmethod
    def build(
        cls,
        run: DagRunRecord,
        instances: Iterable[TaskInstanceRecord],
        xcoms: Iterable[XComRecord] = (),
    ) -> DagRunResult:
        """A snapshot from store records."""
        return cls(
            dag_id=run.dag_id,
            run_id=run.run_id,
            state=run.state,
            run_type=run.run_type,
            logical_date=run.logical_date,
            conf=dict(run.conf),
            start_date=run.start_date,
            end_date=run.end_date,
            _instances={(r.task_id, r.map_index): TaskInstanceResult.of(r) for r in instances},
            _xcoms={(x.task_id, x.key, x.map_index): x.value for x in xcoms},
        )

    @property
    def task_instances(self) -> list[TaskInstanceResult]:
        """Every task instance, ordered by task_id then map_index."""
        return [self._instances[k] for k in sorted(self._instances)]

    def ti(self, task_id: str, map_index: int = -1) -> TaskInstanceResult:
        """The task instance ``task_id`` (and ``map_index`` for a mapped task).

        Raises:
            KeyError: naming the run and the missing instance.
        """
        found = self._instances.get((task_id, map_index))
        if found is not None:
            return found
        mapped = sorted(i for t, i in self._instances if t == task_id)
        if mapped:
            raise KeyError(
                f"task {task_id!r} of run {self.run_id!r} is mapped: pass map_index in "
                f"{mapped[0]}..{mapped[-1]}"
            )
        raise KeyError(f"run {self.run_id!r} of DAG {self.dag_id!r} has no task {task_id!r}")

    def xcom(self, task_id: str, key: str = RETURN_VALUE, map_index: int = -1) -> Any:
        """The XCom value ``key`` of a task instance, or ``None`` when none was pushed."""
        text = self._xcoms.get((task_id, key, map_index))
        return None if text is None else decode(text)
