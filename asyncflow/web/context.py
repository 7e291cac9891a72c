"""What the web app works on: the store, the DAGs, and the engine when it runs in one."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from asyncflow.dag import DAG
from asyncflow.storage.protocol import Store
from asyncflow.storage.users import UserStore

if TYPE_CHECKING:
    from asyncflow.engine import Engine

SECRET_KEY_VARIABLE = "ASYNCFLOW_WEB_SECRET_KEY"
"""The environment variable holding the key that signs session cookies."""

DEFAULT_SESSION_AGE = timedelta(hours=12)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(kw_only=True)
class WebContext:
    """Everything a request handler reads or asks.

    Attributes:
        store: the open store (reads, and the asks a separate web process makes).
        users: the store's web users and API tokens.
        dags: the DAGs by id (the engine's own dict when embedded).
        import_errors: DAG file to its one-line import error.
        engine: the open engine of this process, or ``None`` for a separate
            ``asyncflow web`` process, which asks the owning engine through the store.
        logs_folder: where try logs are.
        secret_key: signs session cookies; from ``ASYNCFLOW_WEB_SECRET_KEY``,
            else random for this process (sessions then end when it stops).
        session_age: how long a login lasts.
        now: the clock (tests pass a fake one to expire sessions).
        login_attempts: failed logins per username and client within
            ``login_window`` before login answers 429 until the window has passed.
        login_window: the window of ``login_attempts``.
    """

    store: Store
    users: UserStore
    dags: Mapping[str, DAG]
    import_errors: Mapping[str, str] = field(default_factory=dict)
    engine: Engine | None = None
    logs_folder: Path
    secret_key: str = field(default_factory=lambda: default_secret_key())
    session_age: timedelta = DEFAULT_SESSION_AGE
    now: Callable[[], datetime] = _now
    login_attempts: int = 5  # failed logins per user and client before a pause
    login_window: timedelta = timedelta(minutes=1)


def default_secret_key() -> str:
    """The configured session key, or a random one for this process."""
    return os.environ.get(SECRET_KEY_VARIABLE) or secrets.token_urlsafe(32)
