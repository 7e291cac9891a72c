"""The ASGI app: the REST API under ``/api/v1`` and the web UI, behind login."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST

from asyncflow.web import (
    api_dags,
    api_misc,
    api_runs,
    api_tasks,
    pages,
    pages_actions,
    pages_runs,
)
from asyncflow.web.auth import Authenticator
from asyncflow.web.context import WebContext
from asyncflow.web.deps import Viewer
from asyncflow.web.errors import ERROR_RESPONSES, install_error_handlers
from asyncflow.web.page_support import install_page_handlers
from asyncflow.web.users import users_of

if TYPE_CHECKING:
    from asyncflow.engine import Engine

API_PREFIX = "/api/v1"
OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
"""Where the API's OpenAPI document is served (stable across versions of asyncflow)."""

_STATIC = Path(__file__).parent / "static"


def create_app(context: WebContext) -> FastAPI:
    """The web app over ``context``: API, UI and static files.

    With an engine in the process, its Prometheus metrics are at ``/metrics``
    (:func:`mount_metrics`).
    """
    # the document and its browsable page are served below, behind login like the rest
    app = FastAPI(title="asyncflow", version="1", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.context = context
    app.state.auth = Authenticator(context)
    install_error_handlers(app)
    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for module in (api_misc, api_dags, api_runs, api_tasks):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(pages.router)
    app.include_router(pages_runs.router)
    app.include_router(pages_actions.router)
    install_page_handlers(app)
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    _serve_openapi(app)
    mount_metrics(app, context)
    return app


def _serve_openapi(app: FastAPI) -> None:
    """The OpenAPI document at :data:`OPENAPI_PATH` and Swagger UI at ``/api/v1/docs``."""

    @app.get(OPENAPI_PATH, include_in_schema=False)
    async def openapi_document(user: Viewer) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    async def swagger_ui(user: Viewer) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=OPENAPI_PATH, title="asyncflow API")


def mount_metrics(app: FastAPI, context: WebContext) -> None:
    """Serve the engine's Prometheus metrics at ``/metrics``, to viewers (a token or a session).

    Only with an engine in the process: a separate ``asyncflow web`` has none
    (``asyncflow run --metrics-port`` serves that engine's).
    """
    engine = context.engine
    if engine is None or not engine.metrics.enabled:
        return
    metrics = engine.metrics

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(user: Viewer) -> PlainTextResponse:
        return PlainTextResponse(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def asgi_app(engine: Engine, **options: Any) -> FastAPI:
    """The web app of an open embedded engine, to mount in your own service.

    Reads go to the engine's store; triggers, pauses, marks and notifies go to
    the engine itself. Users are the store's (``asyncflow users create``).

    Args:
        engine: an :class:`~asyncflow.Engine`, open (inside ``async with``).
        **options: more :class:`~asyncflow.web.context.WebContext` fields, such
            as ``secret_key`` or ``session_age``.

    Example:
        >>> async with Engine(dags=[etl]) as engine:  # doctest: +SKIP
        ...     app = asgi_app(engine)  # serve it with uvicorn, or mount it
    """
    context = WebContext(
        store=engine.store,
        users=users_of(engine.store),
        dags=engine.dags,
        import_errors=engine.import_errors,
        engine=engine,
        logs_folder=engine.settings.task_logs_folder,
        **options,
    )
    return create_app(context)


def context_for(
    store: Any, dags: Mapping[str, Any], import_errors: Mapping[str, str], logs_folder: Path
) -> WebContext:
    """The context of a separate web process over an open store (no engine)."""
    return WebContext(
        store=store,
        users=users_of(store),
        dags=dags,
        import_errors=import_errors,
        logs_folder=logs_folder,
    )
