"""Trigger rules: when a task may run, given how its direct upstream tasks ended.

The decision model is Airflow's (``TriggerRuleDep`` with ``flag_upstream_failed``).
Each time one of a task's direct upstream task instances finishes, the engine
updates an :class:`UpstreamCounts` for the task and asks :func:`decide` for a
:class:`Decision`:

* ``WAIT``: not enough upstreams have finished to tell; ask again later.
* ``RUN``: the rule is met; schedule the task.
* ``SKIP`` / ``UPSTREAM_FAILED``: the rule can never be met; give the task that
  final state without running it.

Decisions are eager, as in Airflow: many rules decide without waiting for the
remaining upstreams (``all_success`` becomes ``upstream_failed`` on the first
failure; ``one_success`` runs on the first success). The first decision other
than ``WAIT`` is final. With both a failed and a skipped upstream, failure beats
skip. ``upstream_failed`` counts as a failure for ``one_failed``, ``all_failed``
and the ``none_failed`` rules, but not as done for ``one_done``. A task with no
upstream always runs.

Per rule (``runs``: when it gets ``RUN``; ``early``: decided before every upstream
has finished; ``at the end``: decided once every upstream has finished):

* ``all_success``: runs when all succeeded; early, any failure gives
  ``upstream_failed``, else any skip gives ``skip``.
* ``all_failed``: runs when all failed or upstream_failed; early, any success or
  skip gives ``skip``.
* ``all_done``: runs when all finished, whatever the outcome.
* ``all_done_min_one_success``: runs when all finished and one succeeded; at the
  end, all skipped gives ``skip``, otherwise ``upstream_failed``. This follows
  Airflow's documented meaning (a skipped upstream counts as done); Airflow 3.1's
  code instead skips the task as soon as any upstream is skipped.
* ``all_done_setup_success``: a teardown's rule (see :mod:`asyncflow.setup_teardown`):
  runs when all finished and, if any upstream is a setup task, at least one setup
  succeeded; at the end, all setups skipped gives ``skip``, no setup succeeded
  gives ``upstream_failed``. Without setup upstreams it is ``all_done``.
* ``all_skipped``: runs when all were skipped; early, any other outcome gives ``skip``.
* ``one_success``: runs at the first success; at the end, all skipped gives
  ``skip``, otherwise ``upstream_failed``.
* ``one_failed``: runs at the first failed or upstream_failed; at the end, ``skip``.
* ``one_done``: runs at the first success or failed; at the end, ``skip``.
* ``none_failed``: runs when all succeeded or were skipped; early, any failure
  gives ``upstream_failed``.
* ``none_failed_min_one_success``: as ``none_failed``, but all skipped gives ``skip``.
* ``none_skipped``: runs when all finished and none was skipped; early, any skip
  gives ``skip``.
* ``always``: runs at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from asyncflow.exceptions import DagDefinitionError

__all__ = ["Decision", "TriggerRule", "UpstreamCounts", "decide", "parse_trigger_rule"]


class TriggerRule(StrEnum):
    """Which outcomes of its direct upstream tasks let a task run (Airflow's strings)."""

    ALL_SUCCESS = "all_success"  # every upstream succeeded (the default)
    ALL_FAILED = "all_failed"  # every upstream failed or upstream_failed
    ALL_DONE = "all_done"  # every upstream finished, whatever the outcome
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"  # all finished, at least one succeeded
    # all finished and one of its setup upstreams succeeded: the rule of a teardown task
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
    ALL_SKIPPED = "all_skipped"  # every upstream was skipped
    ONE_SUCCESS = "one_success"  # one upstream succeeded; does not wait for the rest
    ONE_FAILED = "one_failed"  # one upstream failed or upstream_failed; does not wait
    ONE_DONE = "one_done"  # one upstream succeeded or failed; does not wait
    NONE_FAILED = "none_failed"  # every upstream succeeded or was skipped
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"  # none_failed and one succeeded
    NONE_SKIPPED = "none_skipped"  # every upstream finished and none was skipped
    ALWAYS = "always"  # run at once; the dependencies only order the graph


class Decision(StrEnum):
    """What to do with a task after looking at its upstream outcomes."""

    WAIT = "wait"  # undecided until more upstreams finish
    RUN = "run"  # the trigger rule is met
    SKIP = "skip"  # the rule can never be met; mark the task skipped
    UPSTREAM_FAILED = "upstream_failed"  # the rule can never be met because of a failure


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamCounts:
    """How many of a task's direct upstream task instances ended in each finished state.

    Attributes:
        total: Number of direct upstream task instances; a mapped upstream counts
            once per mapped instance.
        success: Upstreams that succeeded.
        failed: Upstreams that failed.
        skipped: Upstreams that were skipped.
        upstream_failed: Upstreams that did not run because their own upstream failed.
        setups: How many of the ``total`` upstreams are setup tasks' instances.
        setup_success: Setup upstreams that succeeded (also counted in ``success``).
        setup_skipped: Setup upstreams that were skipped (also counted in ``skipped``).

    Raises:
        ValueError: If a count is negative or more upstreams finished than exist.

    Example:
        >>> UpstreamCounts(total=2).add("success").add("skipped").done
        2
    """

    total: int
    success: int = 0
    failed: int = 0
    skipped: int = 0
    upstream_failed: int = 0
    setups: int = 0
    setup_success: int = 0
    setup_skipped: int = 0

    def __post_init__(self) -> None:
        if min(self.total, self.success, self.failed, self.skipped, self.upstream_failed) < 0:
            raise ValueError(f"upstream counts cannot be negative: {self}")
        if self.done > self.total:
            raise ValueError(f"more upstreams finished than there are: {self}")
        if min(self.setups, self.setup_success, self.setup_skipped) < 0 or (
            self.setups > self.total
            or self.setup_success > self.success
            or self.setup_skipped > self.skipped
            or self.setup_success + self.setup_skipped > self.setups
        ):
            raise ValueError(f"setup upstream counts do not fit the upstream counts: {self}")

    @property
    def done(self) -> int:
        """Number of upstreams that have finished, in any of the four outcomes."""
        return self.success + self.failed + self.skipped + self.upstream_failed

    def add(self, state: str, count: int = 1, *, setup: bool = False) -> UpstreamCounts:
        """Return these counts with ``count`` more upstreams finished in ``state``.

        Args:
            state: ``"success"``, ``"failed"``, ``"skipped"`` or ``"upstream_failed"``
                (a ``TaskState`` of those values works too).
            count: How many upstreams finished so (a mapped task's instances
                finished together count in one call).
            setup: Whether the upstreams are setup tasks (counted in ``setups``).

        Returns:
            A new ``UpstreamCounts``; this one is unchanged.

        Raises:
            ValueError: If ``state`` is not a finished state, or more upstreams
                would have finished than there are.
        """
        setups = count if setup else 0
        if state == "success":
            return replace(
                self, success=self.success + count, setup_success=self.setup_success + setups
            )
        if state == "failed":
            return replace(self, failed=self.failed + count)
        if state == "skipped":
            return replace(
                self, skipped=self.skipped + count, setup_skipped=self.setup_skipped + setups
            )
        if state == "upstream_failed":
            return replace(self, upstream_failed=self.upstream_failed + count)
        raise ValueError(
            f"{state!r} is not a finished upstream state; "
            "choose one of: success, failed, skipped, upstream_failed"
        )


# Names renamed or removed by Airflow; worth pointing at their replacement.
_RENAMED = {"dummy": "always", "none_failed_or_skipped": "none_failed_min_one_success"}


def parse_trigger_rule(value: object, *, task_id: str) -> TriggerRule:
    """Turn a user-supplied trigger rule into a :class:`TriggerRule`.

    Args:
        value: A ``TriggerRule`` or one of its strings, such as ``"all_done"``.
        task_id: The task the rule belongs to, named in the error.

    Returns:
        The matching ``TriggerRule``.

    Raises:
        DagDefinitionError: If ``value`` is not a string or not a known rule. The
            one-line message names the task, the bad value and the valid choices,
            and suggests the closest valid name for a near miss.

    Example:
        >>> parse_trigger_rule("all_done", task_id="cleanup")
        <TriggerRule.ALL_DONE: 'all_done'>
    """
    if isinstance(value, TriggerRule):
        return value
    choices = ", ".join(TriggerRule)
    if not isinstance(value, str):
        raise DagDefinitionError(
            f"task {task_id!r}: trigger_rule must be a string, got {value!r} "
            f"({type(value).__name__}); choose one of: {choices}"
        )
    try:
        return TriggerRule(value)
    except ValueError:
        pass
    message = f"task {task_id!r}: unknown trigger_rule {value!r}; choose one of: {choices}"
    normalised = value.strip().lower()
    closest = difflib.get_close_matches(normalised, list(TriggerRule), n=1)
    suggestion = _RENAMED.get(normalised) or (closest[0] if closest else None)
    if suggestion is not None:
        message += f"; did you mean '{suggestion}'?"
    raise DagDefinitionError(message)


# Module-level aliases: the deciders run on every upstream completion, and a
# global lookup is cheaper than an attribute lookup on the enum class.
_WAIT = Decision.WAIT
_RUN = Decision.RUN
_SKIP = Decision.SKIP
_UPSTREAM_FAILED = Decision.UPSTREAM_FAILED


def _all_success(c: UpstreamCounts) -> Decision:
    if c.failed or c.upstream_failed:
        return _UPSTREAM_FAILED
    if c.skipped:
        return _SKIP
    return _RUN if c.success == c.total else _WAIT


def _all_failed(c: UpstreamCounts) -> Decision:
    if c.success or c.skipped:
        return _SKIP
    return _RUN if c.failed + c.upstream_failed == c.total else _WAIT


def _all_done(c: UpstreamCounts) -> Decision:
    return _RUN if c.done == c.total else _WAIT


def _all_done_min_one_success(c: UpstreamCounts) -> Decision:
    if c.done < c.total:
        return _WAIT
    if c.success:
        return _RUN
    return _SKIP if c.skipped == c.total else _UPSTREAM_FAILED


def _all_done_setup_success(c: UpstreamCounts) -> Decision:
    # Airflow's TriggerRuleDep: wait for every upstream, then look at the setups only
    if c.done < c.total:
        return _WAIT
    if c.setups and c.setup_skipped == c.setups:
        return _SKIP
    if c.setups and not c.setup_success:
        return _UPSTREAM_FAILED
    return _RUN


def _all_skipped(c: UpstreamCounts) -> Decision:
    if c.success or c.failed or c.upstream_failed:
        return _SKIP
    return _RUN if c.skipped == c.total else _WAIT


def _one_success(c: UpstreamCounts) -> Decision:
    if c.success:
        return _RUN
    if c.done < c.total:
        return _WAIT
    return _SKIP if c.skipped == c.total else _UPSTREAM_FAILED


def _one_failed(c: UpstreamCounts) -> Decision:
    if c.failed or c.upstream_failed:
        return _RUN
    return _SKIP if c.done == c.total else _WAIT


def _one_done(c: UpstreamCounts) -> Decision:
    # upstream_failed and skipped upstreams never ran, so they are not "done" here.
    if c.success or c.failed:
        return _RUN
    return _SKIP if c.done == c.total else _WAIT


def _none_failed(c: UpstreamCounts) -> Decision:
    if c.failed or c.upstream_failed:
        return _UPSTREAM_FAILED
    return _RUN if c.success + c.skipped == c.total else _WAIT


def _none_failed_min_one_success(c: UpstreamCounts) -> Decision:
    if c.failed or c.upstream_failed:
        return _UPSTREAM_FAILED
    if c.skipped == c.total:
        return _SKIP
    return _RUN if c.success + c.skipped == c.total else _WAIT


def _none_skipped(c: UpstreamCounts) -> Decision:
    if c.skipped:
        return _SKIP
    return _RUN if c.done == c.total else _WAIT


def _always(c: UpstreamCounts) -> Decision:
    return _RUN


_DECIDERS: dict[TriggerRule, Callable[[UpstreamCounts], Decision]] = {
    TriggerRule.ALL_SUCCESS: _all_success,
    TriggerRule.ALL_FAILED: _all_failed,
    TriggerRule.ALL_DONE: _all_done,
    TriggerRule.ALL_DONE_MIN_ONE_SUCCESS: _all_done_min_one_success,
    TriggerRule.ALL_DONE_SETUP_SUCCESS: _all_done_setup_success,
    TriggerRule.ALL_SKIPPED: _all_skipped,
    TriggerRule.ONE_SUCCESS: _one_success,
    TriggerRule.ONE_FAILED: _one_failed,
    TriggerRule.ONE_DONE: _one_done,
    TriggerRule.NONE_FAILED: _none_failed,
    TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS: _none_failed_min_one_success,
    TriggerRule.NONE_SKIPPED: _none_skipped,
    TriggerRule.ALWAYS: _always,
}


def decide(rule: TriggerRule, counts: UpstreamCounts) -> Decision:
    """Decide what to do with a task from the outcomes of its direct upstreams.

    This is the one place trigger rules are interpreted. It is pure and cheap
    (a few integer comparisons), so the engine calls it on every upstream
    completion; anything other than ``WAIT`` is final for this task instance.

    Args:
        rule: The task's trigger rule (see :func:`parse_trigger_rule`).
        counts: Outcomes of the task's direct upstream task instances so far.

    Returns:
        ``RUN`` if the rule is met, ``SKIP`` or ``UPSTREAM_FAILED`` if it can no
        longer be met, otherwise ``WAIT``. A task with no upstream always gets ``RUN``.

    Example:
        >>> counts = UpstreamCounts(total=3).add("failed")
        >>> decide(TriggerRule.ALL_SUCCESS, counts)
        <Decision.UPSTREAM_FAILED: 'upstream_failed'>
        >>> decide(TriggerRule.ONE_FAILED, counts)
        <Decision.RUN: 'run'>
    """
    if not counts.total:
        return _RUN
    return _DECIDERS[rule](counts)
