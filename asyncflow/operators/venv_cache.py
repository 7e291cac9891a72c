"""Virtual environments for ``@task.virtualenv``, built once per set of requirements and kept.

An environment is keyed by what makes it: the Python it is made from, its
requirements (sorted), ``system_site_packages``, pip's options and index URLs.
It lives in ``<cache>/<key>`` (``<ASYNCFLOW_HOME>/venvs`` unless the task names
another ``venv_cache_path``) and is reused by every later try and task with the
same key; a marker file written last says it is complete, so a build cut short
is started again.

The build runs as async subprocesses, so the event loop never waits on it: with
``uv`` on the PATH, ``uv venv`` and ``uv pip install``; without it, ``python -m
venv --without-pip`` and the running interpreter's pip (``pip --python``),
falling back to ``ensurepip`` in the new environment when there is no pip here.
Builds of one key wait for each other, in this process (a lock) and across
processes (a file lock taken in a worker thread).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from importlib.util import find_spec
from pathlib import Path

import anyio

from asyncflow.exceptions import AsyncflowError
from asyncflow.log import get_logger
from asyncflow.operators.bash import pump_lines

log = get_logger("asyncflow.virtualenv")
MARKER = "asyncflow-venv.json"
_locks: dict[str, anyio.Lock] = {}


class VirtualenvBuildError(AsyncflowError):
    """A virtual environment could not be made (a missing Python, pip could not install)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VenvSpec:
    """What a virtual environment is made of; equal specs share one environment."""

    python: str  # the interpreter it is made from (a path)
    requirements: tuple[str, ...] = ()
    system_site_packages: bool = True
    pip_install_options: tuple[str, ...] = ()
    index_urls: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """A short stable hash of the spec: the environment's folder name."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def base_python(python_version: str | None, task_id: str) -> str:
    """The interpreter an environment is made from: ``python<version>`` on PATH, or ours.

    Raises:
        VirtualenvBuildError: no ``python<version>`` on the PATH.
    """
    if python_version is None:
        return sys.executable
    version = str(python_version)
    if version == f"{sys.version_info.major}.{sys.version_info.minor}":
        return sys.executable
    found = shutil.which(f"python{version}")
    if found is None:
        raise VirtualenvBuildError(
            f"task {task_id!r}: python_version {version!r} is not installed "
            f"(no python{version} on the PATH); install it or drop python_version"
        )
    return found


async def ensure_venv(spec: VenvSpec, cache: Path) -> Path:
    """The Python of ``spec``'s environment under ``cache``, built first if need be.

    Raises:
        VirtualenvBuildError: the build failed, with the last line the tool printed.
    """
    root = cache / spec.key
    python = root / "bin" / "python"
    if await anyio.Path(root / MARKER).exists():
        return python
    lock = _locks.setdefault(str(root), anyio.Lock())
    async with lock, _file_lock(cache / f"{spec.key}.lock"):
        if not await anyio.Path(root / MARKER).exists():
            await _build(spec, root)
    return python


async def _build(spec: VenvSpec, root: Path) -> None:
    if await anyio.Path(root).exists():  # a build cut short: start again
        await anyio.to_thread.run_sync(shutil.rmtree, root)
    log.info("virtualenv_build_started", path=str(root), requirements=list(spec.requirements))
    uv = shutil.which("uv")
    python = str(root / "bin" / "python")
    site = ["--system-site-packages"] if spec.system_site_packages else []
    if uv is not None:
        await _run([uv, "venv", "--quiet", "--python", spec.python, *site, str(root)])
    else:
        await _run([spec.python, "-m", "venv", "--without-pip", *site, str(root)])
    if spec.requirements:
        if uv is None and find_spec("pip") is None:  # no pip here: the new environment's own
            await _run([python, "-m", "ensurepip", "--default-pip"])
        await _run([*_pip(uv, python), *_pip_options(spec), *spec.requirements])
    await anyio.Path(root / MARKER).write_text(json.dumps(asdict(spec), indent=2))
    log.info("virtualenv_build_finished", path=str(root))


def _pip(uv: str | None, python: str) -> list[str]:
    if uv is not None:
        return [uv, "pip", "install", "--python", python]
    if find_spec("pip") is not None:  # our pip installs into the new environment
        return [sys.executable, "-m", "pip", "--python", python, "install", "--quiet"]
    return [python, "-m", "pip", "install", "--quiet"]


def _pip_options(spec: VenvSpec) -> list[str]:
    urls = [
        option
        for i, url in enumerate(spec.index_urls)
        for option in ("--index-url" if i == 0 else "--extra-index-url", url)
    ]
    return [*urls, *spec.pip_install_options]


async def _run(command: Sequence[str]) -> None:
    """Run one build step, logging its output; fail with its last line on a non-zero exit."""
    last: list[str] = [""]

    def keep(line: str) -> None:
        if line.strip():
            log.info("virtualenv_build_output", line=line)
            last[0] = line.strip()

    try:
        async with await anyio.open_process(list(command)) as process:
            async with anyio.create_task_group() as tg:
                assert process.stdout is not None
                assert process.stderr is not None
                tg.start_soon(pump_lines, process.stdout, keep)
                tg.start_soon(pump_lines, process.stderr, keep)
            code = await process.wait()
    except OSError as error:
        raise VirtualenvBuildError(
            f"cannot run {command[0]!r} to build a virtualenv: {error.strerror or error}"
        ) from None
    if code != 0:
        tool = Path(command[0]).name
        raise VirtualenvBuildError(
            f"building the virtualenv failed ({tool} exited with {code}): {last[0]}"
        )


@asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    """Hold an exclusive lock on ``path`` (another process building the same key waits)."""
    await anyio.Path(path.parent).mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        await anyio.to_thread.run_sync(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
