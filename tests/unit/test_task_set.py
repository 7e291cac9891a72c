"""TaskSet: bare asyncio tasks that still fail, and end with, the engine's task group."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from asyncflow.engine.task_set import TaskSet

pytestmark = pytest.mark.anyio


async def yield_a_few_times() -> None:
    """Await as a store write does, a few loop turns, with no real time passing."""
    for _ in range(5):
        await anyio.lowlevel.checkpoint()


async def test_an_unexpected_error_in_a_task_fails_the_supervising_task_group() -> None:
    """A task's error is raised from supervise(), so it fails the group like a child would."""
    tasks = TaskSet()

    async def broken() -> None:
        raise ValueError("a bug in the engine")

    async def engine_like() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(tasks.supervise)
            tasks.start(broken())

    with anyio.fail_after(5), pytest.raises(ExceptionGroup) as raised:
        await engine_like()
    (error,) = raised.value.exceptions
    assert isinstance(error, ValueError)
    assert str(error) == "a bug in the engine"


async def test_cancelling_the_group_cancels_the_tasks_and_waits_for_their_cleanup() -> None:
    """No task outlives the supervisor: each is cancelled and its shielded cleanup finishes."""
    tasks = TaskSet()
    started = anyio.Event()
    cleaned: list[int] = []

    async def waits(n: int) -> None:
        try:
            if n == 2:
                started.set()
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await yield_a_few_times()  # e.g. recording the interruption in the store
                cleaned.append(n)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(tasks.supervise)
            for n in range(3):
                tasks.start(waits(n))
            await started.wait()
            assert len(tasks) == 3
            tg.cancel_scope.cancel()
    assert sorted(cleaned) == [0, 1, 2]
    assert len(tasks) == 0


async def test_tasks_that_end_leave_the_set() -> None:
    """A finished task is forgotten at once; a cancelled one raises nothing."""
    tasks = TaskSet()
    done = anyio.Event()

    async def quick() -> None:
        done.set()

    async def cancelled() -> None:
        raise anyio.get_cancelled_exc_class()()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(tasks.supervise)
            tasks.start(cancelled())
            tasks.start(quick())
            await done.wait()
            while len(tasks):  # done callbacks run one loop iteration after a task ends
                await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()


async def test_cancelling_respects_a_shield_a_task_is_inside() -> None:
    """A task inside a shielded scope (a group-commit flush) finishes it before it is cancelled."""
    tasks = TaskSet()
    inside = anyio.Event()
    log: list[str] = []

    async def flushing() -> None:
        with anyio.CancelScope(shield=True):
            inside.set()
            await yield_a_few_times()  # the flush awaits, shielded from the cancel
            log.append("flushed")
        await anyio.sleep_forever()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(tasks.supervise)
            tasks.start(flushing())
            await inside.wait()
            tg.cancel_scope.cancel()
    assert log == ["flushed"]
