"""all_done_setup_success, a teardown's trigger rule, decided from work and setup upstreams.

The oracle is Airflow's rule written on explicit lists: the work upstreams' states
and the setup upstreams' states (``None`` while unfinished). ``decide`` works on
counts; the exhaustive test checks the two agree for every mix of up to two work
and two setup upstreams.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from asyncflow.trigger_rules import Decision, TriggerRule, UpstreamCounts, decide

State = str | None
OK, FAIL, SKIPPED, UFAIL = "success", "failed", "skipped", "upstream_failed"
ALL_STATES: tuple[State, ...] = (None, OK, FAIL, SKIPPED, UFAIL)
RULE = TriggerRule.ALL_DONE_SETUP_SUCCESS
D = Decision


def expected(work: Sequence[State], setups: Sequence[State]) -> Decision:
    """Airflow's decision: wait for all; then all setups skipped skips, none succeeded fails."""
    if None in work or None in setups:
        return D.WAIT
    if setups and all(s == SKIPPED for s in setups):
        return D.SKIP
    if setups and OK not in setups:
        return D.UPSTREAM_FAILED
    return D.RUN


def counts_of(work: Sequence[State], setups: Sequence[State]) -> UpstreamCounts:
    """Feed the finished upstreams one at a time, as the engine does."""
    counts = UpstreamCounts(total=len(work) + len(setups), setups=len(setups))
    for state in work:
        if state is not None:
            counts = counts.add(state)
    for state in setups:
        if state is not None:
            counts = counts.add(state, setup=True)
    return counts


@pytest.mark.parametrize("n_setups", [0, 1, 2])
@pytest.mark.parametrize("n_work", [0, 1, 2])
def test_decide_matches_airflow_for_every_combination(n_work: int, n_setups: int) -> None:
    """For every mix of work and setup upstream states, decide agrees with Airflow's rule."""
    mismatches = [
        (work, setups, got, want)
        for work in itertools.product(ALL_STATES, repeat=n_work)
        for setups in itertools.product(ALL_STATES, repeat=n_setups)
        if (got := decide(RULE, counts_of(work, setups))) != (want := expected(work, setups))
    ]
    assert mismatches == []


@pytest.mark.parametrize(
    ("work", "setups", "want"),
    [
        pytest.param((FAIL,), (OK,), D.RUN, id="runs-after-failed-work"),
        pytest.param((UFAIL, OK), (OK,), D.RUN, id="runs-after-upstream_failed-work"),
        pytest.param((OK,), (None,), D.WAIT, id="waits-for-its-setup"),
        pytest.param((None,), (OK,), D.WAIT, id="waits-for-the-work"),
        pytest.param((SKIPPED,), (SKIPPED,), D.SKIP, id="skips-when-its-setup-skipped"),
        pytest.param((UFAIL,), (FAIL,), D.UPSTREAM_FAILED, id="upstream_failed-when-setup-failed"),
        pytest.param((OK,), (FAIL, OK), D.RUN, id="one-setup-success-is-enough"),
        pytest.param((OK,), (SKIPPED, FAIL), D.UPSTREAM_FAILED, id="skip-and-failure"),
        pytest.param((FAIL, SKIPPED), (), D.RUN, id="no-setup-is-all_done"),
    ],
)
def test_notable_case(work: tuple[State, ...], setups: tuple[State, ...], want: Decision) -> None:
    """Each named case decides as the table says, and the oracle agrees."""
    assert decide(RULE, counts_of(work, setups)) is want
    assert expected(work, setups) is want


@pytest.mark.parametrize(
    "fields",
    [
        {"total": 1, "setups": 2},
        {"total": 1, "setups": 1, "setup_success": 1},
        {"total": 2, "setups": 1, "success": 2, "setup_success": 2},
        {"total": 1, "setups": -1},
    ],
)
def test_counts_reject_setup_counts_that_do_not_fit(fields: dict[str, int]) -> None:
    """Setup counts above the upstream counts they belong to raise ValueError."""
    with pytest.raises(ValueError, match="setup upstream counts do not fit"):
        UpstreamCounts(**fields)


def test_add_counts_a_setup_outcome_in_both_tallies() -> None:
    """A setup upstream's success counts as a success and as a setup success."""
    counts = UpstreamCounts(total=2, setups=1).add(OK, setup=True).add(SKIPPED)
    assert (counts.success, counts.setup_success, counts.skipped, counts.setup_skipped) == (
        1,
        1,
        1,
        0,
    )
