"""The executor's try lifecycle: every move of the transition table, every refusal, the kinds."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from asyncflow import DAG, EmptyOperator, Operator, PythonSensor
from asyncflow.engine.try_phase import TryEvent, TryKind, TryPhase, next_phase, try_kind
from asyncflow.exceptions import EngineError

S, R, H, REC, D, X = (
    TryPhase.STARTING,
    TryPhase.RUNNING,
    TryPhase.HOLDING,
    TryPhase.RECORDING,
    TryPhase.DONE,
    TryPhase.STOPPED,
)

MOVES = {
    (S, TryEvent.STORED): R,
    (S, TryEvent.STALE): X,
    (S, TryEvent.STOPPED): X,
    (R, TryEvent.NOT_DONE): H,
    (R, TryEvent.RETURNED): REC,
    (R, TryEvent.STOPPED): X,
    (H, TryEvent.DUE): R,
    (H, TryEvent.STOPPED): X,
    (REC, TryEvent.RECORDED): D,
    (REC, TryEvent.STALE): X,
}


@pytest.mark.parametrize(("phase", "event", "after"), [(p, e, a) for (p, e), a in MOVES.items()])
def test_each_listed_move_goes_where_the_table_says(
    phase: TryPhase, event: TryEvent, after: TryPhase
) -> None:
    """A listed move lands in its phase."""
    assert next_phase(phase, event) is after


@pytest.mark.parametrize(
    ("phase", "event"),
    [pair for pair in itertools.product(TryPhase, TryEvent) if pair not in MOVES],
)
def test_every_other_move_is_refused(phase: TryPhase, event: TryEvent) -> None:
    """A move the table does not list raises EngineError naming the phase and the event."""
    with pytest.raises(EngineError, match=f"from {phase} on {event}"):
        next_phase(phase, event)


def test_done_and_stopped_are_final() -> None:
    """Nothing moves a try out of DONE or STOPPED: its slot and keys are given back once."""
    for phase, event in itertools.product((D, X), TryEvent):
        with pytest.raises(EngineError):
            next_phase(phase, event)


def test_only_a_running_try_can_record_and_only_after_running() -> None:
    """A try records its outcome only from RUNNING, which it reaches only once stored or due."""
    entering_running = {(p, e) for (p, e), a in MOVES.items() if a is R}
    assert entering_running == {(S, TryEvent.STORED), (H, TryEvent.DUE)}
    entering_recording = {(p, e) for (p, e), a in MOVES.items() if a is REC}
    assert entering_recording == {(R, TryEvent.RETURNED)}


def _never() -> bool:
    return False


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: EmptyOperator(task_id="t"), TryKind.TASK),
        (lambda: PythonSensor(task_id="s", python_callable=_never), TryKind.POKE_SENSOR),
        (
            lambda: PythonSensor(task_id="s", python_callable=_never, mode="reschedule"),
            TryKind.RESCHEDULE_SENSOR,
        ),
    ],
)
def test_the_kind_of_try_follows_the_task_and_its_sensor_mode(
    make: Callable[[], Operator], kind: TryKind
) -> None:
    """A plain task runs a task try; a sensor pokes in its mode; only sensors are patient."""
    with DAG("kinds"):
        task = make()
    assert try_kind(task) is kind
    assert kind.is_sensor is (kind is not TryKind.TASK)
