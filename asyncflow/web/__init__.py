"""The REST API and web UI of asyncflow (``pip install 'asyncflow[web]'``).

``asyncflow web`` serves it next to ``asyncflow run``; ``asyncflow standalone``
runs both in one process; :func:`asgi_app` gives the app of an embedded engine
to mount in your own service. The API lives under ``/api/v1`` with its OpenAPI
document at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from asyncflow.web.app import API_PREFIX, OPENAPI_PATH, asgi_app, create_app
from asyncflow.web.context import WebContext

__all__ = ["API_PREFIX", "OPENAPI_PATH", "WebContext", "asgi_app", "create_app"]
