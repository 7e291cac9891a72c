"""The API's bodies, as typed models: FastAPI makes the OpenAPI document from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from asyncflow.records import DagRunRecord, Reopening, TaskInstanceRecord

T = TypeVar("T")

MAX_PAGE = 500
"""The largest page a list returns."""


class Page(BaseModel, Generic[T]):
    """One page of a list, and how long the whole list is."""

    items: list[T]
    total: int
    limit: int
    offset: int


class DagImportError(BaseModel):
    """A DAG file that failed to import."""

    file: str
    error: str


class Dag(BaseModel):
    """A DAG as the API shows it."""

    dag_id: str
    schedule: str
    paused: bool
    description: str | None
    tags: list[str]
    tasks: list[str]
    file: str | None


class DagRun(BaseModel):
    """A run of a DAG."""

    dag_id: str
    run_id: str
    run_type: str
    state: str
    logical_date: datetime
    conf: dict[str, Any]
    queued_at: datetime
    start_date: datetime | None
    end_date: datetime | None

    @classmethod
    def of(cls, run: DagRunRecord) -> DagRun:
        """The model of a stored run."""
        return cls(
            dag_id=run.dag_id,
            run_id=run.run_id,
            run_type=run.run_type,
            state=str(run.state),
            logical_date=run.logical_date,
            conf=run.conf,
            queued_at=run.queued_at,
            start_date=run.start_date,
            end_date=run.end_date,
        )


class TaskInstance(BaseModel):
    """A task instance (one per map index for a mapped task)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    state: str | None
    try_number: int
    start_date: datetime | None
    end_date: datetime | None
    next_poke_at: datetime | None
    poke_count: int
    error: str | None

    @classmethod
    def of(cls, ti: TaskInstanceRecord) -> TaskInstance:
        """The model of a stored task instance."""
        return cls(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index,
            state=None if ti.state is None else str(ti.state),
            try_number=ti.try_number,
            start_date=ti.start_date,
            end_date=ti.end_date,
            next_poke_at=ti.next_poke_at,
            poke_count=ti.poke_count,
            error=ti.error,
        )


class XCom(BaseModel):
    """One XCom value, decoded from its JSON."""

    task_id: str
    map_index: int
    key: str
    value: Any


class TriggerRequest(BaseModel):
    """A manual run to create: its conf (checked against the DAG's params) and logical date."""

    conf: dict[str, Any] = Field(default_factory=dict)
    logical_date: datetime | None = None


class BackfillRequest(BaseModel):
    """The logical dates to backfill, both included."""

    start_date: datetime
    end_date: datetime


class Backfill(BaseModel):
    """The runs a backfill created, and those that existed already (left as they are)."""

    dag_id: str
    created: list[str]
    existing: list[str]


class MarkFailedRequest(BaseModel):
    """Why a run is being failed, the stopped tries' error."""

    reason: str = "marked failed in the web UI"


class ClearTaskRequest(BaseModel):
    """What to clear of a task in a finished run, as Airflow's "Clear" asks."""

    include_downstream: bool = Field(False, description="Clear every task after it too")
    only_failed: bool = Field(False, description="Only failed and upstream_failed instances")
    map_index: int | None = Field(
        None, ge=-1, description="One mapped instance; none for every instance of the task"
    )


class SetTaskStateRequest(BaseModel):
    """The state to set a task's instances of a finished run to, as Airflow's "Mark" does."""

    state: Literal["success", "failed", "skipped"]
    include_downstream: bool = Field(False, description="Set every task after it too")
    map_index: int | None = Field(
        None, ge=-1, description="One mapped instance; none for every instance of the task"
    )


class InstanceRef(BaseModel):
    """One task instance named by task and map index."""

    task_id: str
    map_index: int


class MarkedInstance(InstanceRef):
    """A task instance set to a state by hand."""

    state: str


class TaskChanges(BaseModel):
    """What a clear or a state set by hand changed; the run is queued to run again."""

    cleared: list[InstanceRef]
    expanded_again: list[str] = Field(description="Mapped tasks that expand anew from their input")
    marked: list[MarkedInstance]
    run: DagRun

    @classmethod
    def of(cls, reopening: Reopening, run: DagRunRecord) -> TaskChanges:
        """The changes a :class:`~asyncflow.records.Reopening` made to ``run``."""
        return cls(
            cleared=[InstanceRef(task_id=t, map_index=i) for t, i in reopening.clear],
            expanded_again=list(reopening.expand_again),
            marked=[
                MarkedInstance(task_id=t, map_index=i, state=str(state))
                for t, i, state in reopening.marks
            ],
            run=DagRun.of(run),
        )


class Notified(BaseModel):
    """How many sensors a notify woke."""

    key: str
    woken: int


class WaitingSensor(BaseModel):
    """A reschedule-mode sensor between pokes."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    mode: str
    pokes: int
    next_poke_at: datetime | None
    timeout_at: datetime | None
    seconds_left: float | None
    wake_on: list[str]


class Health(BaseModel):
    """Whether the store answers, and whether an engine runs in this process."""

    status: str
    store: str
    engine_in_process: bool


class LoginRequest(BaseModel):
    """A username and password."""

    username: str
    password: str


class LoginAnswer(BaseModel):
    """The session's user, role and CSRF token (the cookie carries the session)."""

    username: str
    role: str
    csrf_token: str
