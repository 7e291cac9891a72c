"""``engine.notify(key)``: who is waiting on which key, and waking them.

A poke-mode sensor registers a callback that cuts its sleep short; a
reschedule-mode sensor, while it is only a row in the store, registers one that
queues its next poke at once. Both are removed when the wait ends.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any


class WakeRegistry:
    """Callbacks by wake key, each under an identity so it can be removed."""

    def __init__(self) -> None:
        self._by_key: dict[str, dict[Hashable, Callable[[], None]]] = {}

    def add(self, keys: Iterable[str], ident: Hashable, callback: Callable[[], None]) -> None:
        """Call ``callback`` when any of ``keys`` is notified."""
        for key in keys:
            self._by_key.setdefault(key, {})[ident] = callback

    def remove(self, keys: Iterable[str], ident: Hashable) -> None:
        """Forget the callback registered under ``ident``."""
        for key in keys:
            waiting = self._by_key.get(key)
            if waiting is not None:
                waiting.pop(ident, None)
                if not waiting:
                    del self._by_key[key]

    def notify(self, key: str) -> int:
        """Call every callback waiting on ``key``; returns how many there were."""
        callbacks = list(self._by_key.get(key, {}).values())
        for callback in callbacks:
            callback()
        return len(callbacks)


def wake_keys(node: Any) -> tuple[str, ...]:
    """The notify keys of a run's task (``wake_on``); none for a task that is not a sensor.

    ``node`` is a :class:`~asyncflow.engine.run_state.NodeState`.
    """
    keys: tuple[str, ...] = getattr(node.task, "wake_on", ())
    return keys
