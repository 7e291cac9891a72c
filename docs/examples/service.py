"""A Starlette service that embeds an asyncflow engine for its whole lifetime.

POST /reports with a JSON body starts a run of the ``report`` DAG and answers its
run id at once; GET /reports/{run_id} answers the run's state and, once it has
finished, its result (``?wait=SECONDS`` waits for it first). Serve it with any
ASGI server, e.g. ``uvicorn service:app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asyncflow import Engine, dag, task


@dag(schedule=None)
def report():
    """Sum the rows a request sent."""

    @task
    async def fetch(params) -> list[int]:
        return list(params.get("rows", []))

    @task
    def total(rows: list[int]) -> int:  # sync code runs in a worker thread
        return sum(rows)

    total(fetch())


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Keep one engine open while the service runs; it works on the service's event loop.

    The engine owns the SQLite file: a second engine on it is refused.
    """
    async with Engine("sqlite:///service.db", dags=[report()]) as engine:
        app.state.engine = engine
        yield


async def start_report(request: Request) -> JSONResponse:
    """Start a run with the request's JSON as its conf; answer its run id at once."""
    engine: Engine = request.app.state.engine
    started = await engine.trigger("report", conf=await request.json())
    return JSONResponse({"run_id": started.run_id}, status_code=202)


async def get_report(request: Request) -> JSONResponse:
    """Answer a run's state and, once it has finished, its total (``?wait=S`` waits first)."""
    engine: Engine = request.app.state.engine
    run_id = request.path_params["run_id"]
    wait = float(request.query_params.get("wait", 0))
    if wait:
        result = await engine.wait(run_id, timeout=wait, dag_id="report")
    else:
        result = await engine.get_run(run_id, dag_id="report")
    finished = result.state in ("success", "failed")
    return JSONResponse(
        {"state": result.state, "total": result.xcom("total") if finished else None}
    )


app = Starlette(
    routes=[
        Route("/reports", start_report, methods=["POST"]),
        Route("/reports/{run_id}", get_report),
    ],
    lifespan=lifespan,
)
