"""The long-running parts on one event loop: engine, dispatcher, timers, watchdog."""

from asyncflow.engine.engine import Engine
from asyncflow.engine.process_setup import ProcessSetup

__all__ = ["Engine", "ProcessSetup"]
