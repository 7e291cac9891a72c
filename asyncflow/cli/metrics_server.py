"""``asyncflow run --metrics-port``: the engine's Prometheus metrics on their own port.

prometheus_client's scrape server answers in a thread of its own, beside the
event loop rather than on it, for two reasons: it needs no web framework or
server of ours, and a scrape still answers while the loop is blocked, which is
when ``asyncflow_event_loop_behind_seconds`` matters. The thread only reads:
prometheus_client's metrics are locked, and the engine's gauges are computed
from counts read in single steps (see :mod:`asyncflow.metrics.tally`); it never
calls into the engine's coroutines or changes its state.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from asyncflow.cli.common import BadInput


@dataclass(frozen=True, slots=True)
class MetricsAddress:
    """Where to serve the metrics: ``--metrics-host`` and ``--metrics-port`` (0: any free)."""

    host: str
    port: int


@contextmanager
def serving_metrics(
    registry: CollectorRegistry, address: MetricsAddress | None
) -> Iterator[str | None]:
    """Serve ``registry`` on ``address`` while the block runs; yields its URL (or ``None``).

    Raises:
        BadInput: the address cannot be listened on (the port is in use, the
            host is not this machine's).
    """
    if address is None:
        yield None
        return
    try:
        server, thread = start_http_server(address.port, addr=address.host, registry=registry)
    except OSError as error:
        reason = error.strerror or str(error)
        raise BadInput(
            f"--metrics-port {address.port}: cannot listen on {address.host}:{address.port} "
            f"({reason}); choose another port or host"
        ) from None
    try:
        yield _url(server)
    finally:
        _stop(server, thread)


def _url(server: WSGIServer) -> str:
    raw, port = server.server_address[:2]
    host = raw.decode() if isinstance(raw, bytes) else raw
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/metrics"


def _stop(server: WSGIServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
