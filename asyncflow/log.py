"""Logging: structlog, configured once, with events named in snake_case.

An embedding service that configured structlog itself keeps its configuration;
otherwise :func:`ensure_configured` sets a default: INFO and above, rendered for
people on a terminal and as JSON lines otherwise, written to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

import structlog

from asyncflow.task_logs import current_try_log


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
    """A processor: an event logged during a task's try goes to its try log too."""
    log = current_try_log()
    if log is not None:
        facts = {k: v for k, v in event_dict.items() if k not in ("timestamp", "event", "level")}
        log.line(f"{method.upper()} {event_dict.get('event')} {json.dumps(facts, default=str)}")
    return event_dict


def ensure_configured() -> None:
    """Apply :func:`configure`'s defaults unless structlog was configured already."""
    if not structlog.is_configured():
        configure()
