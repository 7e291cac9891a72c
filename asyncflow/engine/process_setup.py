"""``ProcessSetup``: the process-wide changes an engine may make, all off unless asked for.

An engine embedded in a service is a guest in its process: by default it
changes nothing outside itself (no GC tuning, no replaced ``sys.stdout``, no
logging configuration, no extra thread). A process that asyncflow owns turns
them on: the command line (``asyncflow run``, ``dags test``, ``dags
backfill``...) opens its engines with :meth:`ProcessSetup.everything`.

=====================  =====================================================
opt-in                 what the engine does while it is open
=====================  =====================================================
``tune_gc``            the cyclic GC runs at thresholds
                       ``(settings.gc_threshold, 50, 100)``; restored on close
``capture_output``     ``print()`` output and ``logging`` records of a try go
                       to its try log (``sys.stdout``, ``sys.stderr`` and the
                       root logger are routed); put back on close
``configure_logging``  structlog is configured with asyncflow's defaults
                       (:func:`asyncflow.log.configure`) unless it is already;
                       it stays configured
``watchdog``           a daemon thread warns when a task blocks the event loop
                       for over ``settings.loop_block_warning_seconds``
=====================  =====================================================

Without them an embedded engine still writes try logs (asyncflow's own events
of each try: its error and traceback, a ``BashOperator``'s output lines), and
its events go to the host's structlog configuration, or else to stdlib
``logging`` under ``asyncflow.*`` names (see :mod:`asyncflow.log`).
"""

from __future__ import annotations

import gc
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from asyncflow.log import ensure_configured as ensure_logging
from asyncflow.settings import Settings
from asyncflow.task_logs import routing


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSetup:
    """The process-wide changes an :class:`~asyncflow.Engine` may make while open.

    Every one is off by default, for an engine embedded in someone else's
    process; the values they use (GC threshold, watchdog threshold) are
    :class:`~asyncflow.settings.Settings`.

    Example:
        >>> async with Engine(dags=[etl], process=ProcessSetup(tune_gc=True)):  # doctest: +SKIP
        ...     ...
    """

    tune_gc: bool = False  # raise the cyclic GC's thresholds while open (many waiting sensors)
    capture_output: bool = False  # route print() and logging records of a try to its try log
    configure_logging: bool = False  # configure structlog with asyncflow's defaults, if unset
    watchdog: bool = False  # a thread that warns about tasks blocking the event loop

    @classmethod
    def everything(cls) -> ProcessSetup:
        """Every change on: for a process asyncflow owns, as its command line does."""
        return cls(tune_gc=True, capture_output=True, configure_logging=True, watchdog=True)

    def apply(self, stack: AsyncExitStack, settings: Settings, logs_folder: Path | None) -> None:
        """Make the chosen changes; ``stack`` undoes those that are undone on close.

        The watchdog is not started here: it runs in the engine's task group.
        """
        if self.configure_logging:
            ensure_logging()
        if self.tune_gc and settings.gc_threshold:
            stack.callback(gc.set_threshold, *gc.get_threshold())
            gc.set_threshold(settings.gc_threshold, 50, 100)
        if self.capture_output and logs_folder is not None:  # nothing to capture into
            stack.enter_context(routing())
