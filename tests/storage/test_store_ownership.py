"""Ownership: which engines may acquire a store, and what releasing it does.

The first section holds for every backend. A memory or SQLite store has one
owner at a time: another is refused, naming the first (second section), and
the SQLite store's lock on its file adds that every name of one file meets the
same lock, a second store object or another process is refused, and a killed
owner's lock is free. A PostgreSQL store is shared: any number of engines
acquire it, each with a lease row (tests/storage/test_postgres_leases.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import pytest
from storage_records import T0, a_run, an_identity

from asyncflow.exceptions import StoreInUse
from asyncflow.records import EngineIdentity
from asyncflow.storage.protocol import Store
from asyncflow.storage.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

HOLDER_SINCE = f"since {T0.isoformat(timespec='seconds')}"
"""How a refusal names the time ``an_identity()`` started."""


def assert_names(refused: pytest.ExceptionInfo[StoreInUse], pid: int, host: str) -> None:
    """The refusal is one line naming the holder's pid, host and start time."""
    message = str(refused.value)
    assert f"pid {pid} on {host}, since " in message
    assert "\n" not in message


# --- every backend --------------------------------------------------------------------------


async def test_closing_the_store_releases_it(store: Store) -> None:
    """After close (and a new open), another engine may acquire the store."""
    await store.acquire(an_identity(pid=1))
    await store.close()
    await store.open()
    await store.acquire(an_identity(pid=2))


async def test_reading_needs_no_ownership(store: Store) -> None:
    """A store another engine owns still serves reads."""
    await store.create_run(a_run(), [])
    await store.acquire(an_identity())
    run = await store.get_run("etl", "manual__1")
    assert run is not None
    assert run.run_id == "manual__1"


# --- one owner at a time: memory and SQLite ----------------------------------------------------


async def test_a_second_owner_is_refused_naming_the_first(single_owner_store: Store) -> None:
    """While one engine owns the store, another's acquire raises StoreInUse naming the first."""
    first = an_identity(pid=4242, host="other-host")
    await single_owner_store.acquire(first)
    with pytest.raises(StoreInUse) as refused:
        await single_owner_store.acquire(EngineIdentity.of_this_process())
    assert_names(refused, 4242, "other-host")
    assert HOLDER_SINCE in str(refused.value)


async def test_the_owner_acquiring_again_is_a_no_op(single_owner_store: Store) -> None:
    """Acquiring twice with the same identity succeeds, and others are still refused."""
    owner = EngineIdentity.of_this_process()
    await single_owner_store.acquire(owner)
    await single_owner_store.acquire(owner)
    with pytest.raises(StoreInUse):
        await single_owner_store.acquire(an_identity())


async def test_after_release_another_owner_may_acquire(single_owner_store: Store) -> None:
    """Once its owner released the store, another engine acquires it (and the first is refused)."""
    first, second = an_identity(pid=1), an_identity(pid=2)
    await single_owner_store.acquire(first)
    await single_owner_store.release(first)
    await single_owner_store.acquire(second)
    with pytest.raises(StoreInUse) as refused:
        await single_owner_store.acquire(first)
    assert_names(refused, 2, "other-host")


async def test_release_is_idempotent_and_only_the_owners(single_owner_store: Store) -> None:
    """Releasing twice is harmless; a release by an engine that does not own it changes nothing."""
    owner, other = an_identity(pid=1), an_identity(pid=2)
    await single_owner_store.release(owner)
    await single_owner_store.acquire(owner)
    await single_owner_store.release(other)
    with pytest.raises(StoreInUse):
        await single_owner_store.acquire(other)
    await single_owner_store.release(owner)
    await single_owner_store.release(owner)
    await single_owner_store.acquire(other)


# --- SQLite: every name of one file, every store object, every process ------------------------


@asynccontextmanager
async def opened(path: Path | str) -> AsyncIterator[SqliteStore]:
    """A SQLite store on ``path``, opened for the block and closed after it."""
    store = SqliteStore(path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def names_of(database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Paths naming the same database: itself, a symlink, relative, and with a detour."""
    link = tmp_path / "elsewhere" / "link.db"
    link.parent.mkdir()
    link.symlink_to(database)
    monkeypatch.chdir(database.parent)
    return {
        "same path": database,
        "symlink": link,
        "relative path": Path(database.name),
        "detour": database.parent / ".." / database.parent.name / database.name,
    }


@pytest.mark.parametrize("name", ["same path", "symlink", "relative path", "detour"])
async def test_every_name_of_the_file_meets_the_same_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A store on a symlink, a relative path or a detour to an owned file is refused too."""
    database = tmp_path / "data" / "af.db"
    async with opened(database) as owner_store:
        await owner_store.acquire(an_identity(pid=4242))
        path = names_of(database, tmp_path, monkeypatch)[name]
        async with opened(path) as second:
            with pytest.raises(StoreInUse) as refused:
                await second.acquire(EngineIdentity.of_this_process())
            assert_names(refused, 4242, "other-host")
            assert str(database) in str(refused.value)  # the real path, whatever the name


async def test_two_store_objects_in_one_process_are_refused(tmp_path: Path) -> None:
    """A second SqliteStore on the same file in the same process cannot acquire it while owned."""
    path = tmp_path / "af.db"
    async with opened(path) as first, opened(path) as second:
        await first.acquire(an_identity(pid=1))
        with pytest.raises(StoreInUse) as refused:
            await second.acquire(an_identity(pid=2))
        assert_names(refused, 1, "other-host")
        await first.release(an_identity(pid=1))
        await second.acquire(an_identity(pid=2))
        with pytest.raises(StoreInUse):
            await first.acquire(an_identity(pid=1))


async def test_another_store_object_reads_what_the_owner_wrote(tmp_path: Path) -> None:
    """A second SqliteStore opens and reads a database another store object owns."""
    path = tmp_path / "af.db"
    async with opened(path) as owner_store:
        await owner_store.acquire(an_identity())
        await owner_store.create_run(a_run(), [])
        async with opened(path) as reader:
            assert await reader.get_run("etl", "manual__1") == a_run()


HOLDER = """
import sys

import anyio

from asyncflow.records import EngineIdentity
from asyncflow.storage.sqlite import SqliteStore


async def main() -> None:
    store = SqliteStore(sys.argv[1])
    await store.open()
    await store.acquire(EngineIdentity.of_this_process())
    print("held", flush=True)
    await anyio.to_thread.run_sync(sys.stdin.readline)
    await store.close()


anyio.run(main)
"""
"""A process that owns the store at argv[1] until its stdin ends (or it is killed)."""


@asynccontextmanager
async def holder_process(path: Path) -> AsyncIterator[anyio.abc.Process]:
    """A separate Python process that owns the SQLite store at ``path``; killed after the block."""
    process = await anyio.open_process(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with anyio.fail_after(30):
            line = await first_line(process)
        assert line == "held"
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.fail_after(10):
            await process.wait()
            await process.aclose()


async def first_line(process: anyio.abc.Process) -> str:
    """The first line the process prints (its stderr in the failure if it exits first)."""
    assert process.stdout is not None
    assert process.stderr is not None
    received = b""
    while b"\n" not in received:
        try:
            received += await process.stdout.receive()
        except anyio.EndOfStream:
            errors = b""
            async for chunk in process.stderr:
                errors += chunk
            pytest.fail(f"the holder exited before holding the store: {errors.decode()}")
    return received.split(b"\n", 1)[0].decode()


async def test_a_store_owned_by_another_process_is_refused_and_still_readable(
    tmp_path: Path,
) -> None:
    """Another process's hold refuses this one's acquire, naming its pid; reading still works."""
    path = tmp_path / "af.db"
    async with opened(path) as store:
        await store.create_run(a_run(), [])
    async with holder_process(path) as holder, opened(path) as store:
        assert await store.get_run("etl", "manual__1") == a_run()
        with pytest.raises(StoreInUse) as refused:
            await store.acquire(EngineIdentity.of_this_process())
        assert_names(refused, holder.pid, socket.gethostname())
        assert holder.pid != os.getpid()


async def test_the_lock_of_a_killed_owner_is_free(tmp_path: Path) -> None:
    """Once the owning process is SIGKILLed (no clean-up ran), another engine acquires the store."""
    path = tmp_path / "af.db"
    async with opened(path) as store:
        async with holder_process(path) as holder:
            with pytest.raises(StoreInUse):
                await store.acquire(EngineIdentity.of_this_process())
            holder.send_signal(signal.SIGKILL)
            with anyio.fail_after(10):
                assert await holder.wait() == -signal.SIGKILL
            await store.acquire(EngineIdentity.of_this_process())
        await store.create_run(a_run(), [])
        assert await store.get_run("etl", "manual__1") == a_run()
