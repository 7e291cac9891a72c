"""Sensors view benchmark: one page of waiting sensors at 100,000 of them.

Run: ``.venv/bin/python benchmarks/sensors_page.py [--n 100000] [--finished 100000]
[--repeat 5] [--with-index]``.

A SQLite store gets ``n`` reschedule-mode sensors between pokes
(``up_for_reschedule``, next pokes spread over an hour), in runs of 1,000, plus
``finished`` task instances that ended (what a store that has run a while also
holds). Then the sensors view is read through the whole web app (httpx over
ASGI: authentication, the store's count and page queries, the page's rendering):
the first page, a middle one, the last one, one DAG's first page, and the JSON
API's first page. Each is read ``repeat`` times; the table shows the median and
the worst. The view's budget is 500 ms per page. Writes
``benchmarks/results/sensors-page.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
from _bench import write_results

from asyncflow import DAG, EmptyOperator
from asyncflow.records import DagRunRecord, TaskInstanceRecord
from asyncflow.states import DagRunState, TaskState
from asyncflow.storage.sqlite import SqliteStore
from asyncflow.storage.users import Role, UserRecord
from asyncflow.web import WebContext, create_app
from asyncflow.web.users import hash_password, users_of

RUN_SIZE = 1_000
DAGS = 10
NOW = datetime(2026, 6, 1, tzinfo=UTC)
INDEX = (
    "CREATE INDEX bench_poke_due ON task_instance (next_poke_at) WHERE state = 'up_for_reschedule'"
)


async def fill(store: SqliteStore, waiting: int, finished: int) -> None:
    """Store ``waiting`` sensors between pokes and ``finished`` ended instances."""
    for start in range(0, waiting + finished, RUN_SIZE):
        is_waiting = start < waiting
        dag_id = f"dag_{(start // RUN_SIZE) % DAGS}"
        run = DagRunRecord(
            dag_id=dag_id,
            run_id=f"scheduled__{start}",
            run_type="scheduled",
            state=DagRunState.RUNNING if is_waiting else DagRunState.SUCCESS,
            logical_date=NOW - timedelta(minutes=start),
            queued_at=NOW,
        )
        instances = [
            TaskInstanceRecord(
                dag_id=dag_id,
                run_id=run.run_id,
                task_id="wait",
                map_index=i,
                state=TaskState.UP_FOR_RESCHEDULE if is_waiting else TaskState.SUCCESS,
                try_number=1,
                first_poke_at=NOW - timedelta(minutes=5),
                next_poke_at=NOW + timedelta(seconds=(start + i) * 37 % 3600)
                if is_waiting
                else None,
                poke_count=3,
            )
            for i in range(min(RUN_SIZE, waiting + finished - start))
        ]
        await store.create_run(run, instances)


async def timed(client: httpx.AsyncClient, url: str, repeat: int) -> dict[str, Any]:
    """Median and worst wall time of ``repeat`` reads of ``url``."""
    times: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = await client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text[:200]
    return {"url": url, "median_ms": statistics.median(times), "worst_ms": max(times)}


async def main(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "bench.db")
        await store.open()
        try:
            if args.with_index:  # what a next_poke_at index would buy, for comparison
                await store._writer.execute(INDEX)  # type: ignore[union-attr]
            started = time.perf_counter()
            await fill(store, args.n, args.finished)
            print(f"filled {args.n:,} waiting + {args.finished:,} finished in "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip
            users = users_of(store)
            await users.create_user(
                UserRecord(username="b", password_hash=hash_password("pw"), role=Role.VIEWER,
                           created_at=NOW)
            )  # fmt: skip
            dags = {}
            for d in range(DAGS):
                with DAG(f"dag_{d}") as dag:
                    EmptyOperator(task_id="wait")
                dags[dag.dag_id] = dag
            context = WebContext(
                store=store, users=users, dags=dags, logs_folder=Path(folder), now=lambda: NOW
            )
            transport = httpx.ASGITransport(app=create_app(context))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                # logged in as a browser is: the session cookie serves the API and the pages
                login = {"username": "b", "password": "pw"}
                assert (await client.post("/api/v1/auth/login", json=login)).status_code == 200
                middle, last = args.n // 2, max(args.n - 50, 0)
                urls = {
                    "page 1": "/api/v1/sensors?limit=50",
                    "page 1 (HTML)": "/sensors",
                    "middle page (HTML)": f"/sensors?offset={middle}",
                    "last page (HTML)": f"/sensors?offset={last}",
                    "one DAG, page 1 (HTML)": "/sensors?dag_id=dag_3",
                }
                figures = {
                    name: await timed(client, url, args.repeat) for name, url in urls.items()
                }
        finally:
            await store.close()
    print(f"{'view':<24} {'median':>10} {'worst':>10}")
    for name, figure in figures.items():
        print(f"{name:<24} {figure['median_ms']:>8.1f}ms {figure['worst_ms']:>8.1f}ms")
    out = write_results("sensors-page", args, load_before, {"pages": figures})
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="waiting sensors")
    parser.add_argument("--finished", type=int, default=100_000, help="ended task instances")
    parser.add_argument("--repeat", type=int, default=5, help="reads per page")
    parser.add_argument(
        "--with-index", action="store_true", help="add a partial next_poke_at index first"
    )
    anyio.run(main, parser.parse_args())
