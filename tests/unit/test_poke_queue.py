"""PokeQueue: due pokes run eagerly in one task; a poke that waits keeps a task of its own."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from asyncflow.engine import poke_queue
from asyncflow.engine.poke_queue import PokeQueue
from asyncflow.engine.task_set import TaskSet

pytestmark = pytest.mark.anyio

current_poke: contextvars.ContextVar[str] = contextvars.ContextVar("current_poke", default="")


class Recorder:
    """Tasks started by the queue, the task each poke ran in, and the waiting ones."""

    def __init__(self, tasks: TaskSet) -> None:
        self.tasks = tasks
        self.started = 0
        self.ran_in: dict[str, asyncio.Task[Any] | None] = {}
        self.waiting: dict[str, asyncio.Task[Any]] = {}

    def start(self, coro: Coroutine[Any, Any, Any], context: contextvars.Context | None) -> None:
        self.started += 1
        self.tasks.start(coro, context)

    def suspended(self, name: str, task: asyncio.Task[Any] | None) -> None:
        if task is None:
            self.waiting.pop(name, None)
        else:
            self.waiting[name] = task


@pytest.fixture
async def tasks() -> AsyncIterator[TaskSet]:
    """A TaskSet supervised by a task group, as the engine runs it."""
    tasks = TaskSet()
    async with anyio.create_task_group() as tg:
        tg.start_soon(tasks.supervise)
        yield tasks
        tg.cancel_scope.cancel()


async def settle(queue: PokeQueue[Any], tasks: TaskSet, more: int = 0) -> None:
    """Wait until the queue is empty and at most ``more`` tasks are left."""
    with anyio.fail_after(5):
        while len(queue) or len(tasks) > more:
            await anyio.lowlevel.checkpoint()


async def test_pokes_that_never_wait_run_one_after_another_in_a_single_task(
    tasks: TaskSet,
) -> None:
    """A thousand pokes that return at once start one task between them, in push order."""
    recorder = Recorder(tasks)
    order: list[int] = []

    async def poke(n: int) -> None:
        order.append(n)
        recorder.ran_in[str(n)] = asyncio.current_task()

    queue: PokeQueue[int] = PokeQueue(poke, recorder.start, recorder.suspended)
    for n in range(1000):
        queue.push(n)
    await settle(queue, tasks)
    assert order == list(range(1000))
    assert recorder.started == 1
    assert len(set(recorder.ran_in.values())) == 1


async def test_a_poke_that_waits_keeps_its_task_and_a_new_one_drains_the_rest(
    tasks: TaskSet,
) -> None:
    """The waiting poke finishes in the task it began in; the others do not wait for it."""
    recorder = Recorder(tasks)
    release = anyio.Event()
    done: list[str] = []

    async def poke(name: str) -> None:
        began_in = asyncio.current_task()
        current_poke.set(name)
        if name == "slow":
            with anyio.fail_after(5):  # a cancel scope entered before the wait...
                await release.wait()
        assert asyncio.current_task() is began_in  # ...is left in the same task
        done.append(name)

    queue: PokeQueue[str] = PokeQueue(poke, recorder.start, recorder.suspended)
    for name in ("a", "slow", "b", "c"):
        queue.push(name)
    await settle(queue, tasks, more=1)
    assert done == ["a", "b", "c"]
    assert list(recorder.waiting) == ["slow"]
    assert recorder.started == 2
    release.set()
    await settle(queue, tasks)
    assert done == ["a", "b", "c", "slow"]
    assert recorder.waiting == {}


async def test_the_task_draining_on_starts_without_the_waiting_pokes_variables(
    tasks: TaskSet,
) -> None:
    """A context variable a waiting poke set is not seen by the pokes drained after it."""
    recorder = Recorder(tasks)
    seen: dict[str, str] = {}
    never = anyio.Event()

    async def poke(name: str) -> None:
        seen[name] = current_poke.get()
        current_poke.set(name)
        if name == "slow":
            await never.wait()

    queue: PokeQueue[str] = PokeQueue(poke, recorder.start, recorder.suspended)
    queue.push("slow")
    queue.push("after")
    await settle(queue, tasks, more=1)
    assert seen == {"slow": "", "after": ""}


async def test_cancelling_a_waiting_poke_reaches_the_poke(tasks: TaskSet) -> None:
    """A waiting poke cancelled through its task sees the cancellation and can clean up."""
    recorder = Recorder(tasks)
    cleaned = anyio.Event()

    async def poke(name: str) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cleaned.set()

    queue: PokeQueue[str] = PokeQueue(poke, recorder.start, recorder.suspended)
    queue.push("forever")
    await settle(queue, tasks, more=1)
    tasks.cancel(recorder.waiting["forever"])
    with anyio.fail_after(5):
        await cleaned.wait()
    await settle(queue, tasks)
    assert recorder.waiting == {}


async def test_a_long_queue_lets_the_event_loop_turn_between_slices(
    tasks: TaskSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other coroutines run while a long queue drains: it yields every slice."""
    monkeypatch.setattr(poke_queue, "SLICE_SECONDS", 0.0)
    recorder = Recorder(tasks)
    seen_by_others: list[int] = []
    done: list[int] = []

    async def poke(n: int) -> None:
        done.append(n)

    async def other() -> None:
        while len(done) < 100:
            seen_by_others.append(len(done))
            await anyio.lowlevel.checkpoint()

    queue: PokeQueue[int] = PokeQueue(poke, recorder.start, recorder.suspended)
    for n in range(100):
        queue.push(n)
    tasks.start(other())
    await settle(queue, tasks)
    assert any(0 < count < 100 for count in seen_by_others)


async def test_an_error_escaping_a_poke_fails_the_supervising_group() -> None:
    """A poke that raises (an engine bug) fails the engine, as a failing task would."""
    tasks = TaskSet()

    async def poke(n: int) -> None:
        raise ValueError("a bug in the engine")

    queue: PokeQueue[int] = PokeQueue(poke, tasks.start, lambda n, task: None)

    async def engine_like() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(tasks.supervise)
            queue.push(1)

    with anyio.fail_after(5), pytest.raises(ExceptionGroup) as raised:
        await engine_like()
    (error,) = raised.value.exceptions
    assert str(error) == "a bug in the engine"
