"""Serving the web app with uvicorn on the caller's event loop, stopped by the caller."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

import anyio
import uvicorn
from anyio.abc import TaskStatus
from fastapi import FastAPI

from asyncflow.exceptions import AsyncflowError

GRACE_SECONDS = 3
"""Seconds open requests get to end when the server stops."""


class _GuestServer(uvicorn.Server):
    """A uvicorn server that leaves the process's signals to its host (asyncflow's CLI)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = anyio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


async def serve_app(
    app: FastAPI,
    host: str,
    port: int,
    stop: anyio.Event,
    *,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host:port`` until ``stop`` is set (or this is cancelled).

    Started once it listens, with the port it listens on (``port`` 0 picks a
    free one). Either way the server stops gracefully: open
    requests (a followed log) get :data:`GRACE_SECONDS` to end.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    server = _GuestServer(config)
    with _listen(host, port) as sock:
        async with anyio.create_task_group() as group:
            group.start_soon(_serve_shielded, server, sock)
            try:
                await server.listening.wait()
                task_status.started(sock.getsockname()[1])
                await stop.wait()
            finally:
                server.should_exit = True


class ListenError(AsyncflowError):
    """The web server cannot listen where it was asked to."""


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``, bound here so a taken port is one clear error.

    Raises:
        ListenError: the address is taken or cannot be used.
    """
    try:
        return socket.create_server((host, port))
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ListenError(
            f"the web server cannot listen on {host}:{port}: {reason}; "
            "pass another --port (or --host)"
        ) from None


async def _serve_shielded(server: uvicorn.Server, sock: socket.socket) -> None:
    """Serve until ``should_exit``: a cancelled host still gets a graceful stop."""
    with anyio.CancelScope(shield=True):
        await server.serve(sockets=[sock])
