"""The engine's settings, read once from the environment, with defaults for every one.

Everything here is read by :class:`~asyncflow.Engine` (pass ``settings=`` to
choose them in code). Where the store and the DAG folder are is not a setting:
an embedding service passes them to the engine (``Engine(store, dags_folder=...)``),
and the command line reads them from ``--database-url``/``ASYNCFLOW_DATABASE_URL``
and ``--dags-folder``/``ASYNCFLOW_DAGS_FOLDER`` (defaults: ``<home>/asyncflow.db``
and ``<home>/dags``).

================================  ==============================  =====================
setting                           environment variable            default
================================  ==============================  =====================
home                              ASYNCFLOW_HOME                  ~/asyncflow
xcom_max_bytes                    ASYNCFLOW_XCOM_MAX_BYTES        49152 (48 KiB)
max_map_length                    ASYNCFLOW_MAX_MAP_LENGTH        262144
worker_threads                    ASYNCFLOW_WORKER_THREADS        32
loop_block_warning_seconds        ASYNCFLOW_LOOP_BLOCK_WARNING    0.1
poke_jitter                       ASYNCFLOW_POKE_JITTER           0.1 (of poke_interval)
shutdown_grace_seconds            ASYNCFLOW_SHUTDOWN_GRACE        30
scheduler_poll_seconds            ASYNCFLOW_SCHEDULER_POLL        5
task_logs_folder                  ASYNCFLOW_LOGS_FOLDER           <home>/logs
xcom_object_store                 ASYNCFLOW_XCOM_OBJECT_STORE     unset (s3://bucket/prefix)
xcom_object_threshold             ASYNCFLOW_XCOM_OBJECT_THRESHOLD 49152 (bytes)
gc_threshold                      ASYNCFLOW_GC_THRESHOLD          20000 (0: leave it alone)
postgres_pool_min_size            ASYNCFLOW_POSTGRES_POOL_MIN     1
postgres_pool_max_size            ASYNCFLOW_POSTGRES_POOL_MAX     10
postgres_lease_ttl_seconds        ASYNCFLOW_POSTGRES_LEASE_TTL    30
postgres_retries                  ASYNCFLOW_POSTGRES_RETRIES      5
================================  ==============================  =====================

``postgres_*``: a PostgreSQL store keeps one connection pool of
``postgres_pool_min_size`` to ``postgres_pool_max_size`` connections. An
engine's lease on the store lasts ``postgres_lease_ttl_seconds`` past its last
heartbeat. A read, or a write not yet committed, that loses its connection
(a server restart, a connection killed) is tried again up to
``postgres_retries`` times, waiting 0.1 s, then 0.2 s, 0.4 s... in between.

``gc_threshold``: while an engine that may tune the GC is open
(``ProcessSetup(tune_gc=True)``, as in every command of the command line), the
cyclic garbage collector's thresholds are ``(gc_threshold, 50, 100)``
(restored when it closes). Python's default, ``(700, 10, 10)``, makes the
collector walk every waiting sensor's objects again and again: with 100,000
poke-mode sensors it took a third of the CPU (benchmarks/README.md,
"Sensors"). 0 leaves the interpreter's thresholds as they are.

``scheduler_poll_seconds``: the longest the scheduler sleeps between looks at the
store, so how soon it starts runs that another process (``asyncflow dags trigger``)
queued and applies pauses it wrote.

``loop_block_warning_seconds``: how long a task may hold the event loop before
the watchdog (``ProcessSetup(watchdog=True)``) warns about it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from asyncflow.exceptions import AsyncflowError

T = TypeVar("T", int, float)


class SettingsError(AsyncflowError, ValueError):
    """An environment variable holds a value of the wrong kind."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the engine lets an operator tune, with its default."""

    home: Path
    task_logs_folder: Path
    xcom_max_bytes: int = 48 * 1024
    max_map_length: int = 262_144
    worker_threads: int = 32
    loop_block_warning_seconds: float = 0.1
    poke_jitter: float = 0.1
    shutdown_grace_seconds: float = 30.0
    scheduler_poll_seconds: float = 5.0
    xcom_object_store: str | None = None
    xcom_object_threshold: int = 48 * 1024
    gc_threshold: int = 20_000
    postgres_pool_min_size: int = 1
    postgres_pool_max_size: int = 10
    postgres_lease_ttl_seconds: float = 30.0
    postgres_retries: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the settings from ``env`` (default ``os.environ``); keywords win over both.

        Example:
            >>> Settings.from_env({"ASYNCFLOW_HOME": "/srv/af"}).task_logs_folder
            PosixPath('/srv/af/logs')
        """
        env = os.environ if env is None else env
        home = Path(env.get("ASYNCFLOW_HOME") or "~/asyncflow").expanduser()
        settings = cls(
            home=home,
            task_logs_folder=Path(env.get("ASYNCFLOW_LOGS_FOLDER") or home / "logs").expanduser(),
            xcom_max_bytes=_positive_int(env, "ASYNCFLOW_XCOM_MAX_BYTES", 48 * 1024),
            max_map_length=_positive_int(env, "ASYNCFLOW_MAX_MAP_LENGTH", 262_144),
            worker_threads=_positive_int(env, "ASYNCFLOW_WORKER_THREADS", 32),
            loop_block_warning_seconds=_positive_float(env, "ASYNCFLOW_LOOP_BLOCK_WARNING", 0.1),
            poke_jitter=_fraction(env, "ASYNCFLOW_POKE_JITTER", 0.1),
            shutdown_grace_seconds=_positive_float(env, "ASYNCFLOW_SHUTDOWN_GRACE", 30.0),
            scheduler_poll_seconds=_positive_float(env, "ASYNCFLOW_SCHEDULER_POLL", 5.0),
            xcom_object_store=env.get("ASYNCFLOW_XCOM_OBJECT_STORE") or None,
            xcom_object_threshold=_positive_int(env, "ASYNCFLOW_XCOM_OBJECT_THRESHOLD", 48 * 1024),
            gc_threshold=_setting(
                env, "ASYNCFLOW_GC_THRESHOLD", 20_000, int, lambda v: v >= 0, "0 or more"
            ),
            postgres_pool_min_size=_positive_int(env, "ASYNCFLOW_POSTGRES_POOL_MIN", 1),
            postgres_pool_max_size=_positive_int(env, "ASYNCFLOW_POSTGRES_POOL_MAX", 10),
            postgres_lease_ttl_seconds=_positive_float(env, "ASYNCFLOW_POSTGRES_LEASE_TTL", 30.0),
            postgres_retries=_setting(
                env, "ASYNCFLOW_POSTGRES_RETRIES", 5, int, lambda v: v >= 0, "0 or more"
            ),
        )
        settings = replace(settings, **overrides) if overrides else settings
        if settings.postgres_pool_min_size > settings.postgres_pool_max_size:
            raise SettingsError(
                f"ASYNCFLOW_POSTGRES_POOL_MIN ({settings.postgres_pool_min_size}) must not "
                f"exceed ASYNCFLOW_POSTGRES_POOL_MAX ({settings.postgres_pool_max_size})"
            )
        return settings


def _setting(
    env: Mapping[str, str],
    name: str,
    default: T,
    parse: Callable[[str], T],
    valid: Callable[[T], bool],
    expected: str,
) -> T:
    """Read one variable: ``default`` when unset, else parsed and checked."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise SettingsError(f"{name} must be {expected}, got {raw!r}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    return _setting(env, name, default, int, lambda v: v > 0, "a positive whole number")


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    return _setting(env, name, default, float, lambda v: v > 0, "a positive number of seconds")


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    return _setting(env, name, default, float, lambda v: 0 <= v <= 1, "a number from 0 to 1")
