"""One owner per SQLite database: an exclusive lock beside the database file.

An engine that drives runs owns the store: it resumes (takes over) every run
left running there, so two engines on one file would run the same tries twice.
The lock is ``flock`` on ``<real path of the database>.lock``: the real path
resolves symlinks and relative paths, so every name of one database meets the
same lock; ``flock`` belongs to the open file, so a second engine in the same
process is refused too; and the kernel releases it when its process dies, so a
crashed owner (SIGKILL) never leaves a stale lock. The file holds the owner's
identity as JSON, for the error of the next one.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime
from pathlib import Path

from asyncflow.exceptions import StoreError, StoreInUse
from asyncflow.records import EngineIdentity


def lock_path(database: Path) -> Path:
    """The lock file of a database: beside its real path, whatever name it was given."""
    real = Path(os.path.realpath(database))
    return real.with_name(f"{real.name}.lock")


class OwnerLock:
    """The exclusive hold of one engine on one SQLite database file."""

    def __init__(self, database: Path) -> None:
        self._database = Path(os.path.realpath(database))  # the file, whatever name it has
        self._fd: int | None = None
        self._owner: EngineIdentity | None = None

    @property
    def owner(self) -> EngineIdentity | None:
        """The identity holding the lock through this object, if any."""
        return self._owner

    def acquire(self, owner: EngineIdentity) -> None:
        """Take the lock for ``owner`` (a no-op when it holds it already).

        Raises:
            StoreInUse: another engine (in this process or another) holds it.
            StoreError: the lock file cannot be created.
        """
        if self._owner is not None:
            if self._owner.id == owner.id:
                return
            raise self._in_use(self._owner)
        path = lock_path(self._database)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise self._in_use(holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder_json(owner).encode(), 0)
        self._fd, self._owner = fd, owner

    def release(self) -> None:
        """Let the lock go (idempotent); the file stays, empty of meaning until reused."""
        fd, self._fd, self._owner = self._fd, None, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock

    def _in_use(self, holder: EngineIdentity | None) -> StoreInUse:
        who = "another engine" if holder is None else f"the engine {holder.describe()}"
        return StoreInUse(
            f"the SQLite store {self._database} is in use by {who}; "
            "one engine writes to a SQLite store at a time: stop that one first, or let it "
            "run your DAGs (asyncflow dags trigger)"
        )


def _holder_json(owner: EngineIdentity) -> str:
    return json.dumps(
        {
            "id": owner.id,
            "host": owner.host,
            "pid": owner.pid,
            "started_at": owner.started_at.isoformat(),
        }
    )


def _read_holder(fd: int) -> EngineIdentity | None:
    """The identity the holder wrote, or ``None`` if it cannot be read (not yet written)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode())
        return EngineIdentity(
            id=str(data["id"]),
            host=str(data["host"]),
            pid=int(data["pid"]),
            started_at=datetime.fromisoformat(data["started_at"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
