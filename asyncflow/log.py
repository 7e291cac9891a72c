"""Logging: events named in snake_case, sent where the host process says.

asyncflow's modules log through :func:`get_logger`. A library must not decide
where its host's logs go, so each event goes

- through structlog, when structlog is configured (by the host, or by
  asyncflow's command line with :func:`configure`);
- else to the standard library's :mod:`logging`, under the module's logger name
  (``asyncflow.engine``, ``asyncflow.task``, ``sensors.http``...), as one
  ``event key=value ...`` message: the host's logging setup decides what is
  shown (with none, Python shows warnings and errors on stderr).

Either way, an event logged during a task's try is also written to that try's
log file, when the engine keeps task logs.

Example:
    >>> log = get_logger("asyncflow.example")
    >>> log.bind(dag_id="etl").info("dag_run_started", run_id="manual__1")
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog

from asyncflow.task_logs import TRY_LOGGED, current_try_log

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class Logger:
    """One of asyncflow's loggers: structlog's configuration if any, else :mod:`logging`.

    Args:
        name: The logger's name (the stdlib logger used when structlog is not configured).
        context: Facts bound to every event (see :meth:`bind`).
    """

    __slots__ = ("_context", "name")

    def __init__(self, name: str, context: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self._context = dict(context or {})

    def bind(self, **facts: Any) -> Logger:
        """A logger that adds ``facts`` to each event."""
        return Logger(self.name, {**self._context, **facts})

    def debug(self, event: str, **facts: Any) -> None:
        """Log a debug event."""
        self._log("debug", event, facts)

    def info(self, event: str, **facts: Any) -> None:
        """Log an info event."""
        self._log("info", event, facts)

    def warning(self, event: str, **facts: Any) -> None:
        """Log a warning event."""
        self._log("warning", event, facts)

    def error(self, event: str, **facts: Any) -> None:
        """Log an error event."""
        self._log("error", event, facts)

    def _log(self, method: str, event: str, facts: dict[str, Any]) -> None:
        if self._context:
            facts = {**self._context, **facts}
        if structlog.is_configured():
            if copy_to_try_log not in structlog.get_config()["processors"]:
                _copy_to_try_log(method, event, facts)
            getattr(structlog.get_logger(self.name), method)(event, **facts)
            return
        _copy_to_try_log(method, event, facts)
        logger = logging.getLogger(self.name)
        level = _LEVELS[method]
        if logger.isEnabledFor(level):
            # marked as written to the try log already, for the try-log handler
            logger.log(level, "%s", _Message(event, facts), extra={TRY_LOGGED: True})


def get_logger(name: str) -> Logger:
    """The logger of one of asyncflow's modules (see the module docstring).

    Example:
        >>> log = get_logger("asyncflow.engine")
    """
    return Logger(name)


class _Message:
    """``event key=value ...``, rendered only when a handler formats the record."""

    __slots__ = ("event", "facts")

    def __init__(self, event: str, facts: Mapping[str, Any]) -> None:
        self.event = event
        self.facts = facts

    def __str__(self) -> str:
        parts = [self.event]
        traceback = None
        for key, value in self.facts.items():
            if key == "traceback":
                traceback = value
            else:
                parts.append(f"{key}={json.dumps(value, default=str)}")
        text = " ".join(parts)
        return f"{text}\n{traceback}" if traceback else text


def configure(
    level: int = logging.INFO, *, stream: TextIO | None = None, json: bool | None = None
) -> None:
    """Configure structlog for asyncflow's command line or a standalone process.

    Args:
        level: The lowest level written (``logging.DEBUG`` shows per-task events).
        stream: Where lines go (default: stderr, so stdout stays for command output).
        json: JSON lines instead of console rendering (default: when not a terminal).
    """
    stream = stream or sys.stderr
    as_json = (not stream.isatty()) if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            copy_to_try_log,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,  # keeps structlog.testing.capture_logs working
    )


def copy_to_try_log(
    logger: object, method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """A structlog processor: an event logged during a task's try goes to its try log too.

    :func:`configure` puts it in the chain, so the events a task logs with its
    own structlog loggers reach its try log; a host that configures structlog
    itself may add it to its chain for the same.
    """
    facts = {k: v for k, v in event_dict.items() if k not in ("timestamp", "event", "level")}
    _copy_to_try_log(method, str(event_dict.get("event")), facts)
    return event_dict


def _copy_to_try_log(method: str, event: str, facts: Mapping[str, Any]) -> None:
    log = current_try_log()
    if log is not None:
        log.line(f"{method.upper()} {event} {json.dumps(facts, default=str)}")


def ensure_configured() -> None:
    """Apply :func:`configure`'s defaults unless structlog was configured already."""
    if not structlog.is_configured():
        configure()
