"""What ``asyncflow web`` and ``asyncflow standalone`` share: where to listen, the extra."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from asyncflow.cli.common import BadInput

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PORT = 8080


def web_options(command: F) -> F:
    """Add ``--host`` and ``--port``."""
    command = click.option(
        "--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
        help="TCP port of the web UI and API.",
    )(command)  # fmt: skip
    return click.option(
        "--host", default="127.0.0.1", show_default=True, help="Address to listen on."
    )(command)


def require_web_extra() -> None:
    """Fail with one line when the ``web`` extra is not installed."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ModuleNotFoundError as exc:
        raise BadInput(f"the web UI needs {exc.name}: pip install 'asyncflow[web]'") from None
