"""Fixtures shared by every test tier."""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Iterator

import pytest
import structlog
from blockbuster import BlockBuster, BlockBusterFunction

pytest_plugins = ["pytester"]  # tests of the suite's own guard run pytest on a sample


def pytest_configure(config: pytest.Config) -> None:
    """Keep every test's ASYNCFLOW_HOME (task logs, default store) out of the real home."""
    os.environ["ASYNCFLOW_HOME"] = tempfile.mkdtemp(prefix="asyncflow-tests-")
    _cache_bytecode_in_pytest_cache(config)


def _cache_bytecode_in_pytest_cache(config: pytest.Config) -> None:
    """Under PYTHONDONTWRITEBYTECODE, keep compiled modules in .pytest_cache/ instead.

    With bytecode writing off (as some images and CI set it), every ``asyncflow``
    subprocess the suite starts (some 150) compiles asyncflow and its libraries from
    source again, about 0.25 s each, and every xdist worker rewrites and compiles all
    test modules again (some 4 s). A bytecode cache out of the source tree
    (``PYTHONPYCACHEPREFIX``) keeps the sources as clean as the setting wants them
    while compiling each module once. Set here, in the controller, before xdist starts
    its workers, it reaches the workers and every subprocess through the environment.
    """
    if not sys.dont_write_bytecode or sys.pycache_prefix or not hasattr(config, "cache"):
        return
    prefix = str(config.cache.mkdir("pycache"))
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    sys.dont_write_bytecode = False
    sys.pycache_prefix = prefix


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the only loop asyncflow supports."""
    return "asyncio"


@pytest.fixture
def unconfigured_structlog() -> Iterator[None]:
    """The test starts with structlog unconfigured, as a fresh process; it is put back after."""
    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    if was_configured:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()


# Families of blockbuster's calls that stall the loop for as long as the other side takes.
# File and directory calls (os.*, io.*) are left out: the engine writes task logs and
# reads DAG files on the loop by design (local, small, and timed by its loop watchdog);
# so are threading locks, taken for microseconds by logging and prometheus_client.
BLOCKING_FAMILIES = ("time.", "socket.", "ssl.", "sqlite3.", "builtins.")


@pytest.fixture(autouse=True)
def no_blocking_on_the_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail an async test whose code makes a blocking call on the event loop.

    The way anyio's and Starlette's own suites do it: blockbuster patches the
    blocking functions (``time.sleep``, socket and SSL reads, writes and
    connects, sqlite3 queries, ``input``) to raise ``BlockingError`` when called
    from a thread that runs an event loop; worker threads (``anyio.to_thread``)
    are left alone. It looks at *what* is called, not at how long it took, so it
    cannot turn flaky on a slow or busy machine, unlike asyncio's debug mode with
    a ``slow_callback_duration``, which times every callback and would both miss
    a short ``time.sleep`` and flag an innocent callback delayed by another process.

    Only calls made with asyncflow's or the sensor library's code on the stack
    count (the engine, a sensor, or a task it runs): the tests' own inspection,
    such as reading a SQLite file with ``sqlite3`` or posting to moto's control
    API, is the test's business. A test that blocks the loop on purpose (the
    loop watchdog's) says so with ``@pytest.mark.allow_blocking("why")``.
    """
    if request.node.get_closest_marker("anyio") is None:
        yield
        return
    allowed = request.node.get_closest_marker("allow_blocking")
    if allowed is not None:
        if not allowed.args or not str(allowed.args[0]).strip():
            pytest.fail("@pytest.mark.allow_blocking needs a reason: why the test blocks the loop")
        yield
        return
    guarded = _guarded_functions()
    for function in guarded:
        function.activate()
    try:
        yield
    finally:
        for function in guarded:
            function.deactivate()


@functools.cache
def _guarded_functions() -> list[BlockBusterFunction]:
    """The guard's functions, made once per process: a fresh BlockBuster per test costs ~10 ms."""
    buster = BlockBuster(scanned_modules=["asyncflow", "sensors"])
    return [f for name, f in buster.functions.items() if name.startswith(BLOCKING_FAMILIES)]
