"""Trigger rules: the decision table, the upstream counts and parsing a rule.

The oracle below is the spec. It is written on an explicit list of upstream
states (``None`` for an upstream still unfinished) as an ordered list of
``(condition, decision)`` rows per rule, the first true row winning and ``WAIT``
when none is true. ``decide`` works on counts instead; the exhaustive tests check
the two agree for every rule and every mix of up to three upstreams.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence

import pytest

from asyncflow.exceptions import DagDefinitionError
from asyncflow.states import TaskState
from asyncflow.trigger_rules import (
    Decision,
    TriggerRule,
    UpstreamCounts,
    decide,
    parse_trigger_rule,
)

State = str | None

OK = "success"
FAIL = "failed"
SKIPPED = "skipped"
UFAIL = "upstream_failed"
PENDING: State = None

ALL_STATES: tuple[State, ...] = (PENDING, OK, FAIL, SKIPPED, UFAIL)

R = TriggerRule
D = Decision

Condition = Callable[[Sequence[State]], bool]


def any_of(*wanted: State) -> Condition:
    """Condition: at least one upstream is in one of ``wanted``."""
    return lambda states: any(s in wanted for s in states)


def all_of(*wanted: State) -> Condition:
    """Condition: every upstream is in one of ``wanted``."""
    return lambda states: all(s in wanted for s in states)


def finished(states: Sequence[State]) -> bool:
    """Condition: every upstream has finished."""
    return all(s is not None for s in states)


def both(first: Condition, second: Condition) -> Condition:
    """Condition: ``first`` and ``second`` both hold."""
    return lambda states: first(states) and second(states)


# Upstream outcomes that count as a failure (for one_failed, all_failed, none_failed...).
FAILURES = (FAIL, UFAIL)

ORACLE: dict[TriggerRule, list[tuple[Condition, Decision]]] = {
    R.ALL_SUCCESS: [
        (any_of(*FAILURES), D.UPSTREAM_FAILED),
        (any_of(SKIPPED), D.SKIP),
        (all_of(OK), D.RUN),
    ],
    R.ALL_FAILED: [
        (any_of(OK, SKIPPED), D.SKIP),
        (all_of(*FAILURES), D.RUN),
    ],
    R.ALL_DONE: [
        (finished, D.RUN),
    ],
    R.ALL_DONE_MIN_ONE_SUCCESS: [
        (both(finished, any_of(OK)), D.RUN),
        (all_of(SKIPPED), D.SKIP),
        (finished, D.UPSTREAM_FAILED),
    ],
    # without setup upstreams (which these state lists cannot express) it is all_done;
    # test_setup_teardown_rule.py checks it with setups
    R.ALL_DONE_SETUP_SUCCESS: [
        (finished, D.RUN),
    ],
    R.ALL_SKIPPED: [
        (any_of(OK, *FAILURES), D.SKIP),
        (all_of(SKIPPED), D.RUN),
    ],
    R.ONE_SUCCESS: [
        (any_of(OK), D.RUN),
        (all_of(SKIPPED), D.SKIP),
        (finished, D.UPSTREAM_FAILED),
    ],
    R.ONE_FAILED: [
        (any_of(*FAILURES), D.RUN),
        (finished, D.SKIP),
    ],
    R.ONE_DONE: [
        (any_of(OK, FAIL), D.RUN),
        (finished, D.SKIP),
    ],
    R.NONE_FAILED: [
        (any_of(*FAILURES), D.UPSTREAM_FAILED),
        (all_of(OK, SKIPPED), D.RUN),
    ],
    R.NONE_FAILED_MIN_ONE_SUCCESS: [
        (any_of(*FAILURES), D.UPSTREAM_FAILED),
        (all_of(SKIPPED), D.SKIP),
        (all_of(OK, SKIPPED), D.RUN),
    ],
    R.NONE_SKIPPED: [
        (any_of(SKIPPED), D.SKIP),
        (finished, D.RUN),
    ],
    R.ALWAYS: [
        (lambda states: True, D.RUN),
    ],
}


def expected(rule: TriggerRule, states: Sequence[State]) -> Decision:
    """The oracle's decision for ``rule`` given explicit upstream states."""
    if not states:
        return D.RUN
    for condition, decision in ORACLE[rule]:
        if condition(states):
            return decision
    return D.WAIT


def counts_of(states: Sequence[State]) -> UpstreamCounts:
    """Count explicit upstream states the way the engine would report them."""
    return UpstreamCounts(
        total=len(states),
        success=states.count(OK),
        failed=states.count(FAIL),
        skipped=states.count(SKIPPED),
        upstream_failed=states.count(UFAIL),
    )


def combinations(max_upstreams: int = 3) -> list[tuple[State, ...]]:
    """Every tuple of upstream states for 0 to ``max_upstreams`` upstreams."""
    return [
        states
        for n in range(max_upstreams + 1)
        for states in itertools.product(ALL_STATES, repeat=n)
    ]


# --- the exhaustive check against the oracle ------------------------------------------


def test_oracle_covers_every_rule() -> None:
    """The oracle has rows for exactly the thirteen trigger rules."""
    assert set(ORACLE) == set(TriggerRule)
    assert len(TriggerRule) == 13


@pytest.mark.parametrize("n_upstreams", [0, 1, 2, 3])
@pytest.mark.parametrize("rule", list(TriggerRule), ids=str)
def test_decide_matches_oracle_for_every_combination(rule: TriggerRule, n_upstreams: int) -> None:
    """For every mix of upstream states, decide agrees with the oracle."""
    mismatches = [
        (states, got, want)
        for states in itertools.product(ALL_STATES, repeat=n_upstreams)
        if (got := decide(rule, counts_of(states))) != (want := expected(rule, states))
    ]
    assert mismatches == [], f"{rule}: (states, decide, oracle) disagree"


@pytest.mark.parametrize("rule", list(TriggerRule), ids=str)
def test_no_upstream_always_runs(rule: TriggerRule) -> None:
    """A task with no upstream gets RUN whatever its rule."""
    assert decide(rule, UpstreamCounts(total=0)) is D.RUN


@pytest.mark.parametrize("rule", list(TriggerRule), ids=str)
def test_every_rule_decides_once_all_upstreams_finished(rule: TriggerRule) -> None:
    """Once every upstream has finished, no rule answers WAIT."""
    for states in combinations():
        if finished(states):
            assert decide(rule, counts_of(states)) is not D.WAIT, states


@pytest.mark.parametrize("rule", list(TriggerRule), ids=str)
def test_run_is_never_revoked_by_later_upstreams(rule: TriggerRule) -> None:
    """If a rule says RUN, finishing the pending upstreams in any way still says RUN."""
    finished_states = [s for s in ALL_STATES if s is not None]
    for states in combinations():
        if decide(rule, counts_of(states)) is not D.RUN:
            continue
        pending = [i for i, s in enumerate(states) if s is None]
        for outcomes in itertools.product(finished_states, repeat=len(pending)):
            later = list(states)
            for i, outcome in zip(pending, outcomes, strict=True):
                later[i] = outcome
            assert decide(rule, counts_of(later)) is D.RUN, (states, later)


# --- the readable table of notable cases -----------------------------------------------

NOTABLE_CASES = [
    # all_success
    pytest.param(R.ALL_SUCCESS, (OK, OK, OK), D.RUN, id="all_success-runs-when-all-succeed"),
    pytest.param(R.ALL_SUCCESS, (OK, OK, PENDING), D.WAIT, id="all_success-waits-for-the-rest"),
    pytest.param(
        R.ALL_SUCCESS, (FAIL, PENDING, PENDING), D.UPSTREAM_FAILED, id="all_success-eager-failure"
    ),
    pytest.param(
        R.ALL_SUCCESS, (UFAIL, OK, PENDING), D.UPSTREAM_FAILED, id="all_success-upstream_failed"
    ),
    pytest.param(R.ALL_SUCCESS, (SKIPPED, PENDING), D.SKIP, id="all_success-eager-skip"),
    pytest.param(
        R.ALL_SUCCESS, (FAIL, SKIPPED, OK), D.UPSTREAM_FAILED, id="all_success-failure-beats-skip"
    ),
    # all_failed
    pytest.param(R.ALL_FAILED, (FAIL, UFAIL), D.RUN, id="all_failed-upstream_failed-counts"),
    pytest.param(R.ALL_FAILED, (FAIL, PENDING), D.WAIT, id="all_failed-waits-for-the-rest"),
    pytest.param(R.ALL_FAILED, (OK, PENDING, PENDING), D.SKIP, id="all_failed-eager-skip-success"),
    pytest.param(R.ALL_FAILED, (FAIL, SKIPPED), D.SKIP, id="all_failed-skip-on-skipped"),
    # all_done
    pytest.param(R.ALL_DONE, (OK, FAIL, SKIPPED), D.RUN, id="all_done-any-outcomes"),
    pytest.param(R.ALL_DONE, (UFAIL, UFAIL), D.RUN, id="all_done-upstream_failed-is-done"),
    pytest.param(R.ALL_DONE, (FAIL, PENDING), D.WAIT, id="all_done-waits"),
    # all_done_min_one_success
    pytest.param(R.ALL_DONE_MIN_ONE_SUCCESS, (OK, FAIL), D.RUN, id="adm1s-success-and-failure"),
    pytest.param(R.ALL_DONE_MIN_ONE_SUCCESS, (OK, SKIPPED), D.RUN, id="adm1s-skip-counts-as-done"),
    pytest.param(R.ALL_DONE_MIN_ONE_SUCCESS, (OK, PENDING), D.WAIT, id="adm1s-waits-for-all"),
    pytest.param(R.ALL_DONE_MIN_ONE_SUCCESS, (SKIPPED, SKIPPED), D.SKIP, id="adm1s-all-skipped"),
    pytest.param(
        R.ALL_DONE_MIN_ONE_SUCCESS, (FAIL, SKIPPED), D.UPSTREAM_FAILED, id="adm1s-no-success"
    ),
    # all_skipped
    pytest.param(R.ALL_SKIPPED, (SKIPPED, SKIPPED), D.RUN, id="all_skipped-runs"),
    pytest.param(R.ALL_SKIPPED, (OK, PENDING, PENDING), D.SKIP, id="all_skipped-eager-skip"),
    pytest.param(R.ALL_SKIPPED, (SKIPPED, UFAIL), D.SKIP, id="all_skipped-skip-on-failure"),
    pytest.param(R.ALL_SKIPPED, (SKIPPED, PENDING), D.WAIT, id="all_skipped-waits"),
    # one_success
    pytest.param(R.ONE_SUCCESS, (OK, PENDING, PENDING), D.RUN, id="one_success-eager-run"),
    pytest.param(R.ONE_SUCCESS, (FAIL, OK), D.RUN, id="one_success-despite-failure"),
    pytest.param(R.ONE_SUCCESS, (FAIL, PENDING), D.WAIT, id="one_success-waits-after-failure"),
    pytest.param(R.ONE_SUCCESS, (SKIPPED, SKIPPED), D.SKIP, id="one_success-all-skipped"),
    pytest.param(
        R.ONE_SUCCESS, (FAIL, SKIPPED), D.UPSTREAM_FAILED, id="one_success-none-succeeded"
    ),
    # one_failed
    pytest.param(R.ONE_FAILED, (FAIL, PENDING, PENDING), D.RUN, id="one_failed-eager-run"),
    pytest.param(R.ONE_FAILED, (UFAIL, PENDING), D.RUN, id="one_failed-upstream_failed-counts"),
    pytest.param(R.ONE_FAILED, (OK, SKIPPED), D.SKIP, id="one_failed-none-failed"),
    pytest.param(R.ONE_FAILED, (OK, PENDING), D.WAIT, id="one_failed-waits"),
    # one_done
    pytest.param(R.ONE_DONE, (FAIL, PENDING), D.RUN, id="one_done-eager-run-on-failure"),
    pytest.param(R.ONE_DONE, (UFAIL, PENDING), D.WAIT, id="one_done-ignores-upstream_failed"),
    pytest.param(R.ONE_DONE, (UFAIL, SKIPPED), D.SKIP, id="one_done-nothing-ran"),
    # none_failed
    pytest.param(R.NONE_FAILED, (OK, SKIPPED), D.RUN, id="none_failed-skip-is-fine"),
    pytest.param(R.NONE_FAILED, (SKIPPED, SKIPPED), D.RUN, id="none_failed-runs-all-skipped"),
    pytest.param(
        R.NONE_FAILED, (UFAIL, PENDING), D.UPSTREAM_FAILED, id="none_failed-eager-upstream_failed"
    ),
    # none_failed_min_one_success
    pytest.param(R.NONE_FAILED_MIN_ONE_SUCCESS, (OK, SKIPPED), D.RUN, id="nfm1s-runs"),
    pytest.param(R.NONE_FAILED_MIN_ONE_SUCCESS, (SKIPPED, SKIPPED), D.SKIP, id="nfm1s-all-skipped"),
    pytest.param(R.NONE_FAILED_MIN_ONE_SUCCESS, (SKIPPED, PENDING), D.WAIT, id="nfm1s-waits"),
    pytest.param(
        R.NONE_FAILED_MIN_ONE_SUCCESS,
        (FAIL, PENDING),
        D.UPSTREAM_FAILED,
        id="nfm1s-eager-upstream_failed",
    ),
    # none_skipped
    pytest.param(R.NONE_SKIPPED, (OK, FAIL), D.RUN, id="none_skipped-failure-is-fine"),
    pytest.param(R.NONE_SKIPPED, (SKIPPED, PENDING), D.SKIP, id="none_skipped-eager-skip"),
    pytest.param(R.NONE_SKIPPED, (OK, PENDING), D.WAIT, id="none_skipped-waits"),
    # always
    pytest.param(R.ALWAYS, (PENDING, PENDING), D.RUN, id="always-runs-at-once"),
    pytest.param(R.ALWAYS, (FAIL, UFAIL), D.RUN, id="always-runs-after-failures"),
]


@pytest.mark.parametrize(("rule", "states", "want"), NOTABLE_CASES)
def test_notable_case(rule: TriggerRule, states: tuple[State, ...], want: Decision) -> None:
    """Each named case decides as the table says, and the oracle agrees."""
    assert decide(rule, counts_of(states)) is want
    assert expected(rule, states) is want


def test_decide_accepts_counts_built_with_add() -> None:
    """Counts built one completion at a time decide like counts built at once."""
    counts = UpstreamCounts(total=3)
    assert decide(R.ALL_SUCCESS, counts) is D.WAIT
    counts = counts.add(TaskState.SUCCESS)
    assert decide(R.ALL_SUCCESS, counts) is D.WAIT
    counts = counts.add(TaskState.FAILED)
    assert decide(R.ALL_SUCCESS, counts) is D.UPSTREAM_FAILED
    assert decide(R.ONE_SUCCESS, counts) is D.RUN


# --- UpstreamCounts ----------------------------------------------------------------------


@pytest.mark.parametrize("state", [OK, FAIL, SKIPPED, UFAIL])
def test_add_counts_one_more_in_that_state(state: str) -> None:
    """UpstreamCounts.add returns new counts with one more upstream in the given state."""
    before = UpstreamCounts(total=2)
    after = before.add(state)
    assert after == counts_of((state, PENDING))
    assert after.done == 1
    assert before == UpstreamCounts(total=2)


@pytest.mark.parametrize("state", list(TaskState))
def test_add_accepts_task_states_only_when_finished(state: TaskState) -> None:
    """UpstreamCounts.add takes a finished TaskState and rejects an unfinished one."""
    counts = UpstreamCounts(total=1)
    if state in (OK, FAIL, SKIPPED, UFAIL):
        assert counts.add(state).done == 1
    else:
        with pytest.raises(ValueError, match=repr(str(state))):
            counts.add(state)


@pytest.mark.parametrize("state", ["running", "SUCCESS", "", "done"])
def test_add_rejects_unknown_state(state: str) -> None:
    """UpstreamCounts.add raises ValueError naming the state and the finished states it accepts."""
    with pytest.raises(ValueError, match="success, failed, skipped, upstream_failed") as info:
        UpstreamCounts(total=1).add(state)
    assert repr(state) in str(info.value)


def test_add_counts_many_at_once() -> None:
    """UpstreamCounts.add with a count adds that many upstreams, setups included."""
    counts = UpstreamCounts(total=5, setups=3)
    assert counts.add(OK, 3, setup=True) == UpstreamCounts(
        total=5, setups=3, success=3, setup_success=3
    )
    assert counts.add(SKIPPED, 2).add(FAIL, 3) == UpstreamCounts(
        total=5, setups=3, skipped=2, failed=3
    )
    with pytest.raises(ValueError, match="more upstreams finished"):
        counts.add(UFAIL, 6)


def _first_decision(rule: TriggerRule, total: int, runs: list[tuple[str, int]]) -> Decision:
    """What deciding after each added run first decides (WAIT if nothing)."""
    counts = UpstreamCounts(total=total)
    for state, count in runs:
        counts = counts.add(state, count)
        decision = decide(rule, counts)
        if decision is not D.WAIT:
            return decision
    return D.WAIT


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_a_run_of_one_state_added_at_once_decides_as_one_by_one(rule: TriggerRule) -> None:
    """Adding consecutive same-state upstreams in one step decides what adding each does."""
    for total in range(1, 5):
        for states in itertools.product((OK, FAIL, SKIPPED, UFAIL), repeat=total):
            one_by_one = _first_decision(rule, total, [(state, 1) for state in states])
            runs = [(state, len(list(same))) for state, same in itertools.groupby(states)]
            assert _first_decision(rule, total, runs) is one_by_one, states


def test_add_rejects_more_outcomes_than_upstreams() -> None:
    """UpstreamCounts.add raises ValueError once every upstream has already finished."""
    counts = UpstreamCounts(total=1).add(OK)
    with pytest.raises(ValueError, match="more upstreams finished"):
        counts.add(FAIL)


def test_done_sums_the_four_outcomes() -> None:
    """UpstreamCounts.done is success + failed + skipped + upstream_failed."""
    counts = UpstreamCounts(total=10, success=1, failed=2, skipped=3, upstream_failed=4)
    assert counts.done == 10


@pytest.mark.parametrize(
    "fields",
    [
        {"total": -1},
        {"total": 1, "success": -1},
        {"total": 1, "failed": 1, "skipped": 1},
        {"total": 0, "upstream_failed": 1},
    ],
)
def test_counts_reject_impossible_values(fields: dict[str, int]) -> None:
    """Negative counts or more outcomes than upstreams raise ValueError."""
    with pytest.raises(ValueError, match="upstream"):
        UpstreamCounts(**fields)


def test_counts_are_frozen() -> None:
    """UpstreamCounts cannot be changed in place."""
    counts = UpstreamCounts(total=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        counts.success = 1  # type: ignore[misc]


# --- TriggerRule, Decision and parse_trigger_rule ----------------------------------------


def test_trigger_rules_are_airflows_strings() -> None:
    """TriggerRule members are Airflow's strings and compare equal to them."""
    assert TriggerRule("all_success") == "all_success"
    assert TriggerRule("all_success") is TriggerRule.ALL_SUCCESS
    assert [str(rule) for rule in TriggerRule] == [
        "all_success",
        "all_failed",
        "all_done",
        "all_done_min_one_success",
        "all_done_setup_success",
        "all_skipped",
        "one_success",
        "one_failed",
        "one_done",
        "none_failed",
        "none_failed_min_one_success",
        "none_skipped",
        "always",
    ]


def test_decisions_are_strings() -> None:
    """Decision members are plain strings; upstream_failed matches the task state."""
    assert [str(d) for d in Decision] == ["wait", "run", "skip", "upstream_failed"]
    assert Decision.UPSTREAM_FAILED.value == TaskState.UPSTREAM_FAILED.value


@pytest.mark.parametrize("rule", list(TriggerRule), ids=str)
def test_parse_accepts_rules_and_plain_strings(rule: TriggerRule) -> None:
    """parse_trigger_rule returns the member for a TriggerRule or its plain string."""
    assert parse_trigger_rule(rule, task_id="t") is rule
    assert parse_trigger_rule(str(rule.value), task_id="t") is rule


def test_parse_error_names_task_value_choices_and_suggestion() -> None:
    """A near miss raises one line naming the task, the value, every choice and the fix."""
    with pytest.raises(DagDefinitionError) as info:
        parse_trigger_rule("all_sucess", task_id="join")
    message = str(info.value)
    assert message.startswith(
        "task 'join': unknown trigger_rule 'all_sucess'; choose one of: all_success, all_failed, "
    )
    assert message.endswith("; did you mean 'all_success'?")
    assert "\n" not in message
    for rule in TriggerRule:
        assert rule.value in message


@pytest.mark.parametrize(
    ("value", "suggestion"),
    [
        ("one_sucess", "one_success"),
        ("ALL_DONE", "all_done"),
        ("none_failed_min_one_sucess", "none_failed_min_one_success"),
        ("dummy", "always"),
        ("none_failed_or_skipped", "none_failed_min_one_success"),
    ],
)
def test_parse_suggests_closest_or_renamed_rule(value: str, suggestion: str) -> None:
    """Misspelt, upper-case or renamed Airflow rules get a 'did you mean' for the right one."""
    with pytest.raises(DagDefinitionError, match=f"did you mean '{suggestion}'\\?$"):
        parse_trigger_rule(value, task_id="t")


def test_parse_error_without_a_close_match_has_no_suggestion() -> None:
    """A value nothing like a rule is rejected without a 'did you mean'."""
    with pytest.raises(DagDefinitionError) as info:
        parse_trigger_rule("banana", task_id="extract")
    message = str(info.value)
    assert message.startswith("task 'extract': unknown trigger_rule 'banana'; choose one of: ")
    assert "did you mean" not in message


@pytest.mark.parametrize("value", [None, 3, ["all_success"], b"all_success"])
def test_parse_rejects_non_strings(value: object) -> None:
    """A value that is not a string is rejected, naming the task, value, type and choices."""
    with pytest.raises(DagDefinitionError) as info:
        parse_trigger_rule(value, task_id="load")
    message = str(info.value)
    assert message.startswith(f"task 'load': trigger_rule must be a string, got {value!r} (")
    assert type(value).__name__ in message
    assert "choose one of: all_success, " in message
    assert "\n" not in message


def test_parse_error_is_a_value_error() -> None:
    """The definition error can also be caught as a ValueError."""
    with pytest.raises(ValueError, match="unknown trigger_rule"):
        parse_trigger_rule("nope", task_id="t")
