"""One JSON shape for every error the API answers: ``{"error": {"status", "message"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException


class ErrorDetail(BaseModel):
    """What went wrong, in one line, and the HTTP status."""

    status: int
    message: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """An error to answer with ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "A body that is not JSON"),
        (401, "Not logged in"),
        (403, "The role may not do this, or the CSRF token is missing"),
        (404, "No such DAG, run, task instance or value"),
        (409, "Not possible in this state or in this process"),
        (422, "Bad input"),
        (429, "Too many failed logins: wait for Retry-After seconds"),
    )
}
"""The error responses every API route may answer, for the OpenAPI document."""


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON response of an error."""
    body = ErrorBody(error=ErrorDetail(status=status, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method the request's path has: Starlette's 405 names only its first route's."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
            methods |= route.methods or set()
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error, the framework's own included, in the one shape."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.message, exc.headers)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return error_response(exc.status_code, str(exc.detail), headers)

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(422, f"{where}: {first.get('msg', 'invalid')}")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid)
