"""The long-running parts on one event loop: engine, dispatcher, timers, watchdog."""

from asyncflow.engine.engine import Engine

__all__ = ["Engine"]
