"""Records: TaskInstanceRecord.evolve is dataclasses.replace, field for field."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from asyncflow.records import TaskInstanceRecord
from asyncflow.states import TaskState

BASE = TaskInstanceRecord(
    dag_id="d",
    run_id="r",
    task_id="t",
    map_index=3,
    state=TaskState.RUNNING,
    try_number=2,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    owner="engine-1",
    poke_count=7,
)
CHANGES: dict[str, Any] = {
    "dag_id": "d2",
    "run_id": "r2",
    "task_id": "t2",
    "map_index": 9,
    "state": TaskState.SUCCESS,
    "try_number": 3,
    "start_date": datetime(2026, 2, 1, tzinfo=UTC),
    "end_date": datetime(2026, 2, 2, tzinfo=UTC),
    "next_attempt_at": datetime(2026, 2, 3, tzinfo=UTC),
    "next_poke_at": datetime(2026, 2, 4, tzinfo=UTC),
    "first_poke_at": datetime(2026, 2, 5, tzinfo=UTC),
    "poke_count": 8,
    "owner": None,
    "lease_expires_at": datetime(2026, 2, 6, tzinfo=UTC),
    "error": "ValueError: boom",
    "interrupted_tries": 1,
}


def test_every_field_of_the_record_has_a_change_listed_here() -> None:
    """The table below covers every field, so a new field is checked too."""
    assert set(CHANGES) == {f.name for f in dataclasses.fields(TaskInstanceRecord)}


@pytest.mark.parametrize(("name", "value"), list(CHANGES.items()))
def test_evolve_changes_one_field_as_replace_does(name: str, value: Any) -> None:
    """Changing any one field gives the record dataclasses.replace gives; the original stays."""
    before = dataclasses.replace(BASE)
    assert BASE.evolve(**{name: value}) == dataclasses.replace(BASE, **{name: value})
    assert before == BASE


def test_evolve_with_every_change_at_once_and_with_none() -> None:
    """All changes together, and no change (an equal copy), both match replace."""
    assert BASE.evolve(**CHANGES) == dataclasses.replace(BASE, **CHANGES)
    copy = BASE.evolve()
    assert copy == BASE
    assert copy is not BASE


def test_evolve_refuses_a_field_the_record_does_not_have() -> None:
    """A misspelt field is an error, never a silently ignored change."""
    with pytest.raises(KeyError, match="stat"):
        BASE.evolve(stat=TaskState.SUCCESS)
