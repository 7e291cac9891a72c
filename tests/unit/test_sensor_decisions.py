"""The pure poke decisions: done, wait (with jitter, backoff, caps) and timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from asyncflow.sensor import PokeDecision, Verdict, WaitPolicy, decide_after_poke, poke_delay

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def policy(**overrides: object) -> WaitPolicy:
    """A policy with a 60 s interval, 1 h timeout and no jitter unless overridden."""
    values: dict[str, object] = {
        "poke_interval": timedelta(seconds=60),
        "timeout": timedelta(hours=1),
        "exponential_backoff": False,
        "max_wait": None,
        "jitter": 0.0,
    }
    values.update(overrides)
    return WaitPolicy(**values)  # type: ignore[arg-type]


def decide(
    p: WaitPolicy, *, done: bool, after: float, count: int = 1, **kw: object
) -> PokeDecision:
    """decide_after_poke with the poke ending ``after`` seconds past the first poke."""
    return decide_after_poke(
        p,
        done=done,
        now=T0 + timedelta(seconds=after),
        first_poke_at=T0,
        poke_count=count,
        seed="dag#task#run#-1",
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("done", "after", "verdict", "next_after"),
    [
        (True, 0, Verdict.DONE, None),
        (True, 7200, Verdict.DONE, None),  # success after the deadline still succeeds
        (False, 0, Verdict.WAIT, 60),
        (False, 3000, Verdict.WAIT, 3060),
        (False, 3570, Verdict.WAIT, 3600),  # the last wait is cut to the deadline
        (False, 3600, Verdict.TIMED_OUT, None),
        (False, 5000, Verdict.TIMED_OUT, None),
    ],
    ids=["done", "done-late", "wait", "wait-later", "wait-capped", "deadline", "past-deadline"],
)
def test_decision_table(
    done: bool, after: float, verdict: Verdict, next_after: float | None
) -> None:
    """Done wins; a not-done poke waits one interval, capped at the deadline, then times out."""
    decision = decide(policy(), done=done, after=after)
    assert decision.verdict is verdict
    expected = None if next_after is None else T0 + timedelta(seconds=next_after)
    assert decision.next_poke_at == expected


def test_timeout_counts_from_the_first_poke_not_the_latest() -> None:
    """The deadline is first_poke_at + timeout however many pokes came since."""
    assert decide(policy(), done=False, after=3599, count=60).verdict is Verdict.WAIT
    assert decide(policy(), done=False, after=3600, count=61).verdict is Verdict.TIMED_OUT


def test_not_before_moves_the_next_poke_to_a_known_time() -> None:
    """A time sensor's target replaces the interval, sooner or later, capped by the deadline."""
    target = T0 + timedelta(minutes=30)
    assert decide(policy(), done=False, after=0, not_before=target).next_poke_at == target
    soon = T0 + timedelta(seconds=10)
    assert decide(policy(), done=False, after=0, not_before=soon).next_poke_at == soon
    passed = T0 - timedelta(seconds=10)
    assert decide(policy(), done=False, after=0, not_before=passed).next_poke_at == T0 + timedelta(
        seconds=60
    )
    late = T0 + timedelta(hours=3)
    assert decide(policy(), done=False, after=0, not_before=late).next_poke_at == T0 + timedelta(
        hours=1
    )


@pytest.mark.parametrize("count", [1, 2, 3, 10])
def test_jitter_spreads_the_interval_within_its_fraction(count: int) -> None:
    """With 10 % jitter the wait stays within 5 % of the interval either side."""
    p = policy(jitter=0.1)
    delays = {poke_delay(p, poke_count=count, seed=f"s{i}").total_seconds() for i in range(200)}
    assert min(delays) >= 57
    assert max(delays) <= 63
    assert len(delays) > 100  # different sensors get different waits


def test_jitter_is_deterministic_for_one_sensor() -> None:
    """The same sensor and poke count always get the same wait."""
    p = policy(jitter=0.1)
    assert poke_delay(p, poke_count=3, seed="a") == poke_delay(p, poke_count=3, seed="a")


@pytest.mark.parametrize(
    ("count", "low", "high"),
    [(1, 30, 60), (2, 60, 120), (3, 120, 240), (4, 240, 480), (6, 960, 1920)],
)
def test_exponential_backoff_doubles_from_half_the_interval(
    count: int, low: int, high: int
) -> None:
    """Backoff waits in [base, 2*base) where base starts at interval/2 and doubles per poke."""
    p = policy(exponential_backoff=True, timeout=timedelta(days=1))
    for i in range(50):
        seconds = poke_delay(p, poke_count=count, seed=f"s{i}").total_seconds()
        assert low <= seconds < high


def test_backoff_is_capped_by_max_wait_and_the_deadline() -> None:
    """max_wait caps the backoff; the deadline caps the next poke."""
    p = policy(exponential_backoff=True, max_wait=timedelta(seconds=90))
    assert poke_delay(p, poke_count=10, seed="s") == timedelta(seconds=90)
    near_end = decide(
        policy(exponential_backoff=True), done=False, after=3500, count=20
    ).next_poke_at
    assert near_end == T0 + timedelta(hours=1)


def test_backoff_for_huge_poke_counts_does_not_overflow() -> None:
    """A poke count of a million still gives a finite wait."""
    p = policy(exponential_backoff=True)
    assert poke_delay(p, poke_count=1_000_000, seed="s") > timedelta(days=1)
