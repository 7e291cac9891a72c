"""Retry delays (Airflow's exponential backoff with deterministic jitter) and durations."""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

import pytest

from asyncflow.exceptions import DagDefinitionError
from asyncflow.retry import MAX_RETRY_DELAY, retry_delay, to_timedelta

SEC = timedelta(seconds=1)


def airflow_delay(try_number: int, base_seconds: float, seed: str) -> int:
    """Airflow's formula, written out plainly, for small numbers."""
    min_backoff = max(1, math.ceil(base_seconds * 2 ** (try_number - 1)))
    digest = int(hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest(), 16)
    return int(min_backoff + digest % min_backoff)


def backoff(
    try_number: int,
    base: timedelta = 10 * SEC,
    *,
    max_delay: timedelta | None = None,
    seed: str = "etl#load#run#1",
    ceiling: timedelta = MAX_RETRY_DELAY,
) -> timedelta:
    return retry_delay(
        try_number=try_number,
        base=base,
        exponential=True,
        max_delay=max_delay,
        seed=seed,
        ceiling=ceiling,
    )


@pytest.mark.parametrize(
    ("try_number", "base", "max_delay"),
    [
        pytest.param(1, 300 * SEC, None, id="first-try-default-delay"),
        pytest.param(5, 300 * SEC, None, id="later-try-same-delay"),
        pytest.param(1000, 7 * SEC, None, id="huge-try-number"),
        pytest.param(3, timedelta(0), None, id="zero"),
        pytest.param(2, timedelta(milliseconds=250), None, id="sub-second"),
        pytest.param(2, timedelta(hours=3), timedelta(hours=1), id="max-delay-ignored"),
        pytest.param(2, timedelta(days=3), None, id="over-24h-not-capped"),
    ],
)
def test_without_backoff_the_delay_is_base(
    try_number: int, base: timedelta, max_delay: timedelta | None
) -> None:
    """Without backoff every retry waits `base`, uncapped by max_delay, as in Airflow."""
    delay = retry_delay(
        try_number=try_number, base=base, exponential=False, max_delay=max_delay, seed="s"
    )
    assert delay == base


@pytest.mark.parametrize("try_number", [1, 2, 3, 4, 5, 8, 12, 16])
@pytest.mark.parametrize(
    "base_seconds", [1, 10, 300, 0.25, 1.5], ids=["1s", "10s", "300s", "250ms", "1.5s"]
)
def test_backoff_matches_airflow_formula(try_number: int, base_seconds: float) -> None:
    """With backoff the delay is Airflow's min_backoff + sha1(seed) % min_backoff seconds."""
    seed = f"etl#load#scheduled__2024-01-01#{try_number}"
    expected = timedelta(seconds=airflow_delay(try_number, base_seconds, seed))
    delay = backoff(try_number, timedelta(seconds=base_seconds), seed=seed)
    assert delay == min(expected, MAX_RETRY_DELAY)


@pytest.mark.parametrize(
    ("try_number", "low", "high"),
    [
        pytest.param(1, 10, 20, id="try-1"),
        pytest.param(2, 20, 40, id="try-2"),
        pytest.param(3, 40, 80, id="try-3"),
        pytest.param(4, 80, 160, id="try-4"),
        pytest.param(7, 640, 1280, id="try-7"),
    ],
)
def test_backoff_grows_and_jitters_within_bounds(try_number: int, low: int, high: int) -> None:
    """Try n waits whole seconds in [base*2**(n-1), 2*base*2**(n-1)) for many seeds."""
    delays = {backoff(try_number, seed=f"seed-{i}") for i in range(200)}
    assert all(low * SEC <= delay < high * SEC for delay in delays)
    assert all(delay.microseconds == 0 for delay in delays)
    assert len(delays) > 1  # the jitter spreads the seeds out


def test_backoff_is_deterministic_for_the_same_seed() -> None:
    """The same seed and try always give the same delay."""
    assert {backoff(4, seed="etl#load#run#4") for _ in range(5)} == {
        backoff(4, seed="etl#load#run#4")
    }


def test_backoff_differs_between_seeds() -> None:
    """Different seeds (task instances) get different delays for the same try."""
    assert backoff(6, seed="etl#load#run-a#6") != backoff(6, seed="etl#load#run-b#6")


@pytest.mark.parametrize(
    ("base", "try_number", "low", "high"),
    [
        pytest.param(timedelta(milliseconds=1), 1, 1, 2, id="1ms-rounds-up-to-1s"),
        pytest.param(timedelta(milliseconds=400), 2, 1, 2, id="0.8s-rounds-up-to-1s"),
        pytest.param(timedelta(milliseconds=400), 3, 2, 4, id="1.6s-rounds-up-to-2s"),
        pytest.param(timedelta(microseconds=1), 20, 1, 2, id="0.52s-rounds-up-to-1s"),
    ],
)
def test_sub_second_backoff_rounds_up_to_whole_seconds(
    base: timedelta, try_number: int, low: int, high: int
) -> None:
    """min_backoff is ceil(base * 2**(n-1)) seconds, so a positive base waits at least 1 s."""
    assert low * SEC <= backoff(try_number, base) < high * SEC


@pytest.mark.parametrize("try_number", [1, 2, 10, 1000])
def test_zero_base_with_backoff_retries_at_once(try_number: int) -> None:
    """A zero retry_delay retries at once even with backoff (Airflow would wait 1 s)."""
    assert backoff(try_number, timedelta(0)) == timedelta(0)


@pytest.mark.parametrize(
    ("try_number", "max_delay", "expected"),
    [
        pytest.param(10, timedelta(minutes=5), timedelta(minutes=5), id="capped"),
        pytest.param(1, timedelta(minutes=5), None, id="under-cap-untouched"),
        pytest.param(3, timedelta(0), timedelta(0), id="zero-cap"),
        pytest.param(30, timedelta(days=2), MAX_RETRY_DELAY, id="global-24h-wins"),
        pytest.param(
            30,
            timedelta(hours=2, milliseconds=500),
            timedelta(hours=2, milliseconds=500),
            id="fractional-cap",
        ),
    ],
)
def test_max_delay_caps_the_backoff(
    try_number: int, max_delay: timedelta, expected: timedelta | None
) -> None:
    """max_delay and the 24-hour ceiling cap the backoff; a smaller delay is untouched."""
    uncapped = backoff(try_number)
    delay = backoff(try_number, max_delay=max_delay)
    assert delay == (uncapped if expected is None else expected)


@pytest.mark.parametrize("try_number", [17, 60, 1000, 10**6, 10**12])
def test_huge_try_numbers_hit_the_ceiling_without_overflow(try_number: int) -> None:
    """Huge try numbers give the 24 h ceiling (or up to timedelta.max), never OverflowError."""
    assert backoff(try_number, SEC) == MAX_RETRY_DELAY
    assert backoff(try_number, timedelta(days=1), ceiling=timedelta.max) <= timedelta.max
    assert backoff(1000, timedelta(days=1), ceiling=timedelta.max) == timedelta.max


def test_ceiling_applies_before_max_delay() -> None:
    """A raised ceiling lets the backoff grow past 24 hours up to max_delay."""
    delay = backoff(20, SEC, max_delay=timedelta(days=3), ceiling=timedelta(days=30))
    assert delay == timedelta(days=3)


@pytest.mark.parametrize(
    ("try_number", "base"),
    [
        pytest.param(0, SEC, id="try-0"),
        pytest.param(-1, SEC, id="try-negative"),
        pytest.param(1, -SEC, id="negative-base"),
    ],
)
def test_retry_delay_rejects_impossible_inputs(try_number: int, base: timedelta) -> None:
    """A try number below 1 or a negative base is a programming error: ValueError."""
    with pytest.raises(ValueError, match="must"):
        retry_delay(try_number=try_number, base=base, exponential=True, max_delay=None, seed="s")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="none"),
        pytest.param(timedelta(minutes=5), timedelta(minutes=5), id="timedelta"),
        pytest.param(timedelta(0), timedelta(0), id="zero-timedelta"),
        pytest.param(300, timedelta(minutes=5), id="int-seconds"),
        pytest.param(0, timedelta(0), id="zero"),
        pytest.param(1.5, timedelta(seconds=1, milliseconds=500), id="float-seconds"),
        pytest.param(0.000001, timedelta(microseconds=1), id="one-microsecond"),
        pytest.param(86400 * 365, timedelta(days=365), id="a-year"),
    ],
)
def test_to_timedelta_converts_durations(
    value: timedelta | float | None, expected: timedelta | None
) -> None:
    """Durations are a timedelta or seconds as int or float; None stays None."""
    assert to_timedelta(value, name="retry_delay", owner="task 'load'") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(
            "five",
            "task 'load': retry_delay must be a timedelta or a number of seconds, got 'five'",
            id="str",
        ),
        pytest.param(
            "300",
            "task 'load': retry_delay must be a timedelta or a number of seconds, got '300'",
            id="numeric-str",
        ),
        pytest.param(
            True,
            "task 'load': retry_delay must be a timedelta or a number of seconds, got True",
            id="bool-is-not-a-number",
        ),
        pytest.param(
            [5],
            "task 'load': retry_delay must be a timedelta or a number of seconds, got [5]",
            id="list",
        ),
        pytest.param(
            -1, "task 'load': retry_delay must not be negative, got -1", id="negative-int"
        ),
        pytest.param(
            -0.5, "task 'load': retry_delay must not be negative, got -0.5", id="negative-float"
        ),
        pytest.param(
            timedelta(seconds=-1),
            "task 'load': retry_delay must not be negative, got -0:00:01",
            id="negative-timedelta",
        ),
        pytest.param(
            float("nan"), "task 'load': retry_delay must be a finite number, got nan", id="nan"
        ),
        pytest.param(
            float("inf"), "task 'load': retry_delay must be a finite number, got inf", id="inf"
        ),
        pytest.param(
            10**22,
            "task 'load': retry_delay is too large for a timedelta, got 10000000000000000000000"
            " seconds",
            id="too-large",
        ),
    ],
)
def test_to_timedelta_rejects_bad_values(value: object, message: str) -> None:
    """Wrong types, negatives, non-finite and huge values raise one line naming owner and name."""
    with pytest.raises(DagDefinitionError) as caught:
        to_timedelta(value, name="retry_delay", owner="task 'load'")  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_to_timedelta_shortens_long_reprs() -> None:
    """A value with a long repr is cut to keep the message on one short line."""
    with pytest.raises(DagDefinitionError) as caught:
        to_timedelta("x" * 500, name="timeout", owner="DAG 'etl'")  # type: ignore[arg-type]
    assert len(str(caught.value)) < 200
    assert str(caught.value).endswith("...")
