"""Per-try task logs: where they live, and capturing a try's output into its file.

Each try of each task instance writes to
``<logs folder>/<dag_id>/<run_id>/<task_id>[.<map_index>]/<try_number>.log``.
What reaches it depends on what the host process lets the engine change:

- always: asyncflow's own events of that try (its error and traceback, a
  ``BashOperator``'s output lines, a sensor's events), logged through
  :mod:`asyncflow.log`;
- with :func:`routing` in effect (the engine's ``capture_output`` opt-in, on in
  the command line): everything the task prints (stdout and stderr, in async
  code and in worker threads) and the records of the ``logging`` module, which
  needs ``sys.stdout``, ``sys.stderr`` and the root logger to be routed.

Connection secrets are masked before a line is written. A try that writes
nothing gets no file (so ten thousand silent tasks cost no file system work);
``asyncflow logs`` says so.

The capture works through context variables, so concurrent tries on one event
loop (and their worker threads) each write to their own file.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

_current: ContextVar[TryLog | None] = ContextVar("asyncflow_try_log", default=None)

TRY_LOGGED = "asyncflow_try_logged"
"""A ``logging`` record with this attribute set was written to the try log already."""

# the process-wide routing, shared by every engine that asked for it
_routing_lock = threading.Lock()
_routing_users = 0
_handler: _TryLogHandler | None = None
_raised_root_level = False


def try_log_path(
    folder: Path, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int
) -> Path:
    """The file of one try's log.

    Example:
        >>> try_log_path(Path("logs"), "etl", "manual__x", "load", -1, 2)
        PosixPath('logs/etl/manual__x/load/2.log')
    """
    leaf = task_id if map_index < 0 else f"{task_id}.{map_index}"
    return run_log_folder(folder, dag_id, run_id) / leaf / f"{try_number}.log"


def run_log_folder(folder: Path, dag_id: str, run_id: str) -> Path:
    """The folder of every try log of one run.

    Example:
        >>> run_log_folder(Path("logs"), "etl", "manual__x")
        PosixPath('logs/etl/manual__x')
    """
    return folder / dag_id / _safe(run_id)


def _safe(run_id: str) -> str:
    return run_id.replace("/", "_")


class TryLog:
    """A try log: lines go to its file, with secrets masked.

    The file is created on the first write, headed by ``header``; a later
    capture of the same try (a sensor's next poke) appends to it. A file that
    cannot be opened or written (a full disk, no permission, too many open
    files) never fails the task: the first error is kept in :attr:`error`, the
    rest of the try's output is dropped, and the engine warns once.
    """

    def __init__(
        self,
        path: Path | Callable[[], Path],
        secrets: Iterable[str] = (),
        header: str | Callable[[], str] = "",
    ) -> None:
        self._path = path
        self._header = header
        self._file: TextIO | None = None
        self._opened = False
        self._secrets = tuple(s for s in secrets if s)
        self._lock = threading.Lock()
        self.error: OSError | None = None

    @property
    def path(self) -> Path:
        """The log file (worked out on first use: most tries never need it)."""
        if callable(self._path):
            self._path = self._path()
        return self._path

    @property
    def header(self) -> str:
        """The file's first line (worked out on first use, like :attr:`path`)."""
        if callable(self._header):
            self._header = self._header()
        return self._header

    @property
    def written(self) -> bool:
        """Whether anything was written (and so the file exists)."""
        return self._opened

    def write(self, text: str) -> None:
        """Append text (a worker thread may call this too)."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        with self._lock:
            if self.error is not None:
                return
            try:
                self._write(text)
            except OSError as error:
                self.error = error

    def _write(self, text: str) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8", buffering=1)
            self._opened = True
            # a sensor's try is captured poke by poke: one header per file
            if self.header and self._file.tell() == 0:
                self._file.write(f"{_stamp()} {self.header}\n")
        self._file.write(text)

    def line(self, text: str) -> None:
        """Append one line with a UTC timestamp."""
        self.write(f"{_stamp()} {text}\n")

    def close(self) -> None:
        """Close the file, if one was opened."""
        with self._lock:
            if self._file is not None:
                file, self._file = self._file, None
                try:
                    file.close()
                except OSError as error:  # the last buffered line could not be written
                    self.error = self.error or error


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def current_try_log() -> TryLog | None:
    """The log of the try running in this context, if any."""
    return _current.get()


class capturing(AbstractContextManager[TryLog]):
    """Send this context's output to the try log at ``path`` for the block.

    What reaches it is asyncflow's own events of the try, and with :func:`routing`
    in effect also what the try prints and logs with :mod:`logging`. (A class,
    not a generator: every poke of every waiting sensor enters one.)
    """

    __slots__ = ("_log", "_token")

    def __init__(
        self,
        path: Path | Callable[[], Path],
        secrets: Iterable[str] = (),
        header: str | Callable[[], str] = "",
    ) -> None:
        self._log = TryLog(path, secrets, header)
        self._token: Any = None

    def __enter__(self) -> TryLog:
        if _routing_users:
            _rewrap_streams()
        self._token = _current.set(self._log)
        return self._log

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._token)
        self._log.close()


@contextmanager
def routing() -> Iterator[None]:
    """Route ``sys.stdout``, ``sys.stderr`` and the root logger into the try logs.

    This changes process-wide state, so an engine does it only when its host
    opts in (``ProcessSetup(capture_output=True)``, as the command line does).
    Output outside a try goes where it went before. Engines open at once share
    one routing; when the last one closes, the streams (unless something
    replaced them since) and the root logger are put back as they were.
    """
    _start_routing()
    try:
        yield
    finally:
        _stop_routing()


def _start_routing() -> None:
    global _routing_users, _handler, _raised_root_level
    with _routing_lock:
        _routing_users += 1
        _wrap_streams()
        if _handler is not None:
            return
        root = logging.getLogger()
        _raised_root_level = not root.handlers and root.level == logging.WARNING
        if _raised_root_level:
            root.setLevel(logging.INFO)  # a task's logger.info() belongs in its try log
        _handler = _TryLogHandler()
        root.addHandler(_handler)


def _stop_routing() -> None:
    global _routing_users, _handler, _raised_root_level
    with _routing_lock:
        _routing_users -= 1
        if _routing_users or _handler is None:
            return
        root = logging.getLogger()
        root.removeHandler(_handler)
        _handler = None
        if _raised_root_level and root.level == logging.INFO:
            root.setLevel(logging.WARNING)
        _raised_root_level = False
        if isinstance(sys.stdout, _Router):
            sys.stdout = sys.stdout.original
        if isinstance(sys.stderr, _Router):
            sys.stderr = sys.stderr.original


def _rewrap_streams() -> None:
    """Put the routers back if something (a test runner, a service) replaced the streams."""
    with _routing_lock:
        if _routing_users:
            _wrap_streams()


def _wrap_streams() -> None:
    if not isinstance(sys.stdout, _Router):
        sys.stdout = _Router(sys.stdout)
    if not isinstance(sys.stderr, _Router):
        sys.stderr = _Router(sys.stderr)


class _Router(io.TextIOBase):
    """A stand-in for sys.stdout/sys.stderr: a running try's output goes to its log."""

    def __init__(self, original: TextIO) -> None:
        self.original = original

    def write(self, text: str) -> int:
        log = _current.get()
        if log is None:
            return self.original.write(text)
        log.write(text)
        return len(text)

    def flush(self) -> None:
        if _current.get() is None:
            self.original.flush()

    def isatty(self) -> bool:
        return self.original.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.original.fileno()


class _TryLogHandler(logging.Handler):
    """Writes ``logging`` records of a running try to its log.

    Outside a try it stands in for logging's last-resort handler (warnings and
    errors to stderr) when no other handler is configured, so routing changes
    nothing for code that never set logging up.
    """

    def emit(self, record: logging.LogRecord) -> None:
        log = _current.get()
        if log is not None:
            if not getattr(record, TRY_LOGGED, False):
                log.line(f"{record.levelname} {record.name}: {self.format(record)}")
        elif record.levelno >= logging.WARNING and logging.getLogger().handlers == [self]:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
