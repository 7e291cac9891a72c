"""GroupCommit: batching, result routing, failure and cancellation, with a scripted flush."""

from __future__ import annotations

from functools import partial

import anyio
import anyio.lowlevel
import pytest

from asyncflow.exceptions import StoreError
from asyncflow.storage.group_commit import GroupCommit, PendingWrite

pytestmark = pytest.mark.anyio


class ScriptedFlush:
    """A flush that records its batches and can be held at the start of the next one."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.started_at: list[float] = []  # the loop time each batch started
        self.gate: anyio.Event | None = None  # set() to let a held batch go on
        self.entered = anyio.Event()  # set when a held batch has started

    def hold_next(self) -> anyio.Event:
        """Make the next batch wait until the returned event is set."""
        self.gate = anyio.Event()
        self.entered = anyio.Event()
        return self.gate

    async def __call__(self, batch: list[PendingWrite[int]]) -> None:
        self.batches.append([write.payload for write in batch])
        self.started_at.append(anyio.current_time())
        if self.gate is not None:
            gate, self.gate = self.gate, None
            self.entered.set()
            await gate.wait()
        for write in batch:
            if write.payload < 0:
                write.fail(ValueError(f"bad {write.payload}"))
            else:
                write.succeed(write.payload * 10)


async def test_writers_started_together_share_one_batch() -> None:
    """Writes submitted by tasks started together are flushed as one batch, in order."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    results: dict[int, object] = {}

    async def write(i: int) -> None:
        results[i] = await commits.submit(i)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for i in range(100):
                tg.start_soon(write, i)
    assert flush.batches == [list(range(100))]
    assert results == {i: i * 10 for i in range(100)}


async def test_writes_queued_during_a_flush_form_the_next_batch() -> None:
    """Writes arriving while a batch commits wait and are committed together afterwards."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    gate = flush.hold_next()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(commits.submit, 0)
            await flush.entered.wait()
            for i in range(1, 6):
                tg.start_soon(commits.submit, i)
            await wait_until(lambda: commits.pending == 5)
            gate.set()
    assert flush.batches == [[0], [1, 2, 3, 4, 5]]


async def test_each_writer_gets_its_own_error() -> None:
    """A write settled as failed raises in its caller only; the others get their results."""
    commits: GroupCommit[int] = GroupCommit(ScriptedFlush())
    outcomes: dict[int, object] = {}

    async def write(i: int) -> None:
        try:
            outcomes[i] = await commits.submit(i)
        except ValueError as exc:
            outcomes[i] = str(exc)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for i in (1, -2, 3):
                tg.start_soon(write, i)
    assert outcomes == {1: 10, -2: "bad -2", 3: 30}


async def test_a_flush_that_raises_fails_its_batch_and_not_the_next() -> None:
    """An exception escaping the flush fails every write of that batch; later writes work."""
    calls = 0

    async def flaky(batch: list[PendingWrite[int]]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk gone")
        for write in batch:
            write.succeed(write.payload)

    commits: GroupCommit[int] = GroupCommit(flaky)
    with anyio.fail_after(5):
        with pytest.raises(OSError, match="disk gone"):
            await commits.submit(1)
        assert await commits.submit(2) == 2


async def test_a_write_the_flush_forgets_fails_with_store_error() -> None:
    """A write the flush leaves unsettled fails with StoreError instead of hanging."""

    async def forgetful(batch: list[PendingWrite[int]]) -> None:
        return None

    commits: GroupCommit[int] = GroupCommit(forgetful)
    with anyio.fail_after(5), pytest.raises(StoreError, match="unsettled"):
        await commits.submit(1)


async def test_a_cancelled_waiter_does_not_strand_the_writers_behind_it() -> None:
    """When the next leader in line is cancelled, a later waiter leads and everyone finishes."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    gate = flush.hold_next()
    results: dict[int, object] = {}

    async def write(i: int) -> None:
        results[i] = await commits.submit(i)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(write, 0)
            await flush.entered.wait()
            with anyio.CancelScope() as doomed_scope:
                async with anyio.create_task_group() as doomed:
                    doomed.start_soon(write, 1)  # first in line to lead the next batch
                    await wait_until(lambda: commits.pending == 1)
                    tg.start_soon(write, 2)
                    await wait_until(lambda: commits.pending == 2)
                    doomed_scope.cancel()
            gate.set()
    assert results == {0: 0, 2: 20}
    assert flush.batches == [[0], [1, 2]]  # the cancelled caller's write still commits


async def test_writes_of_cancelled_callers_are_committed_by_the_leader() -> None:
    """With every waiter behind it cancelled, the leader commits their queued writes too."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    gate = flush.hold_next()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(commits.submit, 0)
            await flush.entered.wait()
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as doomed:
                    doomed.start_soon(commits.submit, 1)
                    doomed.start_soon(commits.submit, 2)
                    await wait_until(lambda: commits.pending == 2)
                    scope.cancel()
            gate.set()
    assert commits.pending == 0
    assert flush.batches == [[0], [1, 2]]


async def test_cancelling_the_next_leader_as_it_is_woken_strands_nothing() -> None:
    """A waiter cancelled just as it is handed the lead leaves no write behind after drain."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    gate = flush.hold_next()
    doomed = anyio.CancelScope()

    async def lead_then_cancel_the_next_leader() -> None:
        await commits.submit(0)
        doomed.cancel()  # the next leader was just woken and has not run yet

    async def next_leader() -> None:
        with doomed:
            await commits.submit(1)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lead_then_cancel_the_next_leader)
            await flush.entered.wait()
            tg.start_soon(next_leader)
            await wait_until(lambda: commits.pending == 1)
            gate.set()
        await commits.drain()
    assert commits.pending == 0
    assert flush.batches == [[0], [1]]


async def test_drain_waits_for_the_batch_in_flight() -> None:
    """Drain returns only after the batch being committed has been settled."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    gate = flush.hold_next()
    drained = anyio.Event()

    async def drain() -> None:
        await commits.drain()
        drained.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(commits.submit, 0)
            await flush.entered.wait()
            tg.start_soon(drain)
            for _ in range(10):
                await anyio.lowlevel.checkpoint()
            assert not drained.is_set()
            gate.set()
            await drained.wait()
    assert flush.batches == [[0]]


async def test_drain_with_nothing_queued_returns_at_once() -> None:
    """Drain on an idle GroupCommit flushes nothing."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    with anyio.fail_after(5):
        await commits.drain()
    assert flush.batches == []


async def test_a_cancelled_leader_still_commits_its_batch() -> None:
    """Cancelling the leader mid-flush lets the batch finish for every writer in it."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    gate = flush.hold_next()
    results: dict[int, object] = {}

    async def write(i: int) -> None:
        results[i] = await commits.submit(i)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            with anyio.CancelScope() as leader_scope:
                async with anyio.create_task_group() as leader:
                    leader.start_soon(write, 0)
                    tg.start_soon(write, 1)
                    await flush.entered.wait()
                    leader_scope.cancel()
                    gate.set()
    assert flush.batches == [[0, 1]]
    assert results[1] == 10


# --- linger ---------------------------------------------------------------------------------


async def test_a_burst_of_lingering_writes_lands_in_one_batch() -> None:
    """Lingering writes queued over several loop turns commit together, once the linger is over."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    results: dict[int, object] = {}

    async def write(i: int) -> None:
        results[i] = await commits.submit(i, linger=0.2)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            started = anyio.current_time()
            for i in range(10):
                tg.start_soon(write, i)
                for _ in range(3):
                    await anyio.lowlevel.checkpoint()  # each write arrives on a later loop turn
            assert flush.batches == []  # still lingering
    assert flush.batches == [list(range(10))]
    assert flush.started_at[0] - started >= 0.2
    assert results == {i: i * 10 for i in range(10)}


async def test_a_write_without_linger_is_not_delayed_by_lingering_ones() -> None:
    """A plain write ends the linger at once and takes the lingering writes with it."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    with anyio.fail_after(5):  # far below the 60-s linger
        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(partial(commits.submit, i, linger=60))
            await wait_until(lambda: commits.pending == 3)
            assert await commits.submit(3) == 30
    assert flush.batches == [[0, 1, 2, 3]]


async def test_a_shorter_linger_brings_the_batch_forward() -> None:
    """A batch starts at the earliest deadline of its writes, not the first writer's."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(commits.submit, 0, linger=60))
            await wait_until(lambda: commits.pending == 1)
            assert await commits.submit(1, linger=0.01) == 10
    assert flush.batches == [[0, 1]]


async def test_a_leader_cancelled_while_lingering_hands_on_its_deadline() -> None:
    """A lingering leader stops at once when cancelled; the next writer keeps its deadline."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    results: dict[int, object] = {}

    async def write(i: int, linger: float) -> None:
        results[i] = await commits.submit(i, linger=linger)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            with anyio.CancelScope() as leader_scope:
                async with anyio.create_task_group() as leader:
                    leader.start_soon(write, 0, 0.05)  # leads, lingering 50 ms
                    await wait_until(lambda: commits.pending == 1)
                    tg.start_soon(write, 1, 60)  # would linger a minute on its own
                    await wait_until(lambda: commits.pending == 2)
                    leader_scope.cancel()
            assert flush.batches == []  # the cancelled leader did not flush on its way out
    assert results == {1: 10}
    assert flush.batches == [[0, 1]]  # the cancelled caller's write still commits


async def test_drain_ends_a_linger_and_commits_writes_of_cancelled_callers() -> None:
    """A lingering write whose caller was cancelled stays queued until drain flushes it."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(commits.submit, 0, linger=60))
            await wait_until(lambda: commits.pending == 1)
            tg.cancel_scope.cancel()
        assert commits.pending == 1
        await commits.drain()
    assert commits.pending == 0
    assert flush.batches == [[0]]


async def test_drain_ends_the_linger_of_live_writers() -> None:
    """Drain does not wait out a linger: lingering writers get their results at once."""
    flush = ScriptedFlush()
    commits: GroupCommit[int] = GroupCommit(flush)
    results: dict[int, object] = {}

    async def write(i: int) -> None:
        results[i] = await commits.submit(i, linger=60)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(write, i)
            await wait_until(lambda: commits.pending == 3)
            await commits.drain()
    assert results == {0: 0, 1: 10, 2: 20}
    assert flush.batches == [[0, 1, 2]]


async def wait_until(condition: object) -> None:
    """Yield to the loop until ``condition()`` holds (bounded by the caller's fail_after)."""
    while not condition():  # type: ignore[operator]
        await anyio.lowlevel.checkpoint()
