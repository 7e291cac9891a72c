"""HTTP sensors benchmark: N HttpSensors polling a local server, beside bare-client floors.

Run: ``.venv/bin/python benchmarks/http_sensors.py [--n 10000] [--interval 5]
[--rounds 4] [--max-connections 100] [--budget 45] [--httpx-budget 10]
[--store sqlite|memory] [--only asyncflow,aiohttp,...] [--profile]``. The
default scenarios are the first five below; the other four locate costs (run
them with ``--only aiohttp,aiohttp-wrapped,httpx-client,engine-only,sleep-floor``).

A small aiohttp.web server runs in a separate process (its CPU is not counted,
only reported) on 127.0.0.1 and answers ``GET /<scenario>/jobs/<i>`` with a tiny
JSON, ``{"done": false}``, until that path's ``--rounds``-th request, which gets
``{"done": true}``: every scenario makes exactly ``n * rounds`` requests (a
fixed number of poll rounds, however fast it polls), so their costs compare
request for request. Each scenario runs in a fresh subprocess, so neither
memory nor warm caches carry over:

- ``asyncflow``: ``n`` HttpSensors (poke mode, ``poke_interval`` = interval, the
  engine's jitter) in one DAG run on a fresh engine, one HTTP connection with
  ``max_connections``; the ``response_check`` parses the JSON;
- ``aiohttp``: the floor, ``n`` coroutines on one ``aiohttp.ClientSession``
  (connector limit = ``max_connections``), each ``GET``, parse, sleep with the
  same jitter, until done;
- ``sensor-path``: the same loop doing what a poke does without the engine: a
  request built once by an httpx client, prepared once for the sensors' pool
  transport (``sensors._http_transport.PoolTransport``) and sent to it;
- ``httpx``: the same loop through ``client.get`` on one httpx client with its
  default transport (httpcore), which stalls with thousands of requests queued
  for its pool, so it gets ``--httpx-budget`` seconds; ``httpx-bounded``: the
  same with at most ``max_connections`` requests let into the client at once
  (a semaphore in front), the cost of httpx's transport when its pool never
  queues (it gets ``--httpx-budget`` too). ``--sniffio-absent`` takes out a
  cost of httpcore 1.0.9 that is not the transport's own when ``sniffio`` is
  not installed (anyio >= 4.11 no longer brings it): a failed ``import sniffio``,
  a search of ``sys.path``, several times per request;
- ``httpx-client``: ``client.get`` on one httpx client over the sensors'
  transport: what a poke would cost through the client's full machinery;
- ``aiohttp-wrapped``: the aiohttp floor plus an ``httpx.Response`` built from
  each answer (what a ``response_check`` receives): the least any design handing
  users httpx responses can cost;
- ``engine-only``: the asyncflow scenario with a poke that makes no request (a
  ``@task.sensor`` per item), and ``sleep-floor``: bare coroutines that count
  and sleep: their difference is the engine's own cost per poke.

CPU is the sensor process's user+sys time. "Steady" figures are taken between
the ``n``-th and the ``n * (rounds - 1)``-th response, when every poller is in
its loop (no start-up, no wind-down). A scenario still running after its budget
is stopped (killed :data:`GRACE` seconds later if it does not stop); its
per-poke figures stand on the pokes done. One too busy to report anything
before it is killed (httpx's default transport at 10,000 pollers) gets a
whole-run figure from outside: its CPU time read from ``/proc`` over the
requests the server answered it. Prints a table and writes
``benchmarks/results/http-sensors.json``. ``--profile`` instead runs the
asyncflow, sensor-path and aiohttp scenarios under cProfile in this process and
prints each component's own time per poke side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import json
import logging
import os
import platform
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiohttp import web

from asyncflow import DAG, Engine, ProcessSetup, task
from asyncflow.log import configure
from asyncflow.settings import Settings

# This script's folder comes first on sys.path, where benchmarks/sensors.py would
# shadow the sensors package: take the package from the project instead.
_HERE = Path(__file__).resolve().parent
sys.path = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
from sensors import HttpSensor  # noqa: E402 - after the sys.path fix above
from sensors._http_client import request_timeout, ssl_context  # noqa: E402
from sensors._http_transport import PoolTransport  # noqa: E402

RESULTS = Path(__file__).parent / "results"
# engines are opened as `asyncflow run` opens its own (GC thresholds, watchdog, capture)
SERVED = ProcessSetup.everything()
SCENARIOS = (
    "asyncflow",
    "aiohttp",
    "aiohttp-wrapped",
    "sensor-path",
    "httpx-client",
    "httpx-bounded",
    "httpx",
    "engine-only",
    "sleep-floor",
)
DEFAULT = ("asyncflow", "aiohttp", "sensor-path", "httpx-bounded", "httpx")
JITTER = Settings.from_env().poke_jitter  # the engine's spread of poke intervals
GRACE = 5.0  # seconds a scenario may take beyond its budget before it is killed


# --- the server (its own process) -------------------------------------------------------
def serve(rounds: int) -> None:
    """Answer not-done until a path's ``rounds``-th request; print the port, then serve."""
    counts: Counter[str] = Counter()

    served: Counter[str] = Counter()  # requests answered per scenario

    async def job(request: web.Request) -> web.Response:
        counts[request.path] += 1
        served[request.match_info["scenario"]] += 1
        body = b'{"done":true}' if counts[request.path] >= rounds else b'{"done":false}'
        return web.Response(body=body, content_type="application/json")

    async def count(request: web.Request) -> web.Response:
        return web.Response(text=str(served[request.match_info["scenario"]]))

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{scenario}/jobs/{i}", job)
        app.router.add_get("/served/{scenario}", count)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=4096).start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# --- measuring --------------------------------------------------------------------------
class Probe:
    """Counts responses and takes CPU/wall snapshots at the steady window's edges."""

    current: Probe | None = None  # the scenario's probe, for the reporter

    def __init__(self, n: int, rounds: int) -> None:
        Probe.current = self
        self.pokes = 0
        self.edges = (n, n * max(rounds - 1, 2))
        self.marks: list[tuple[float, float, int]] = []
        self.start = (time.perf_counter(), time.process_time())

    def poked(self) -> None:
        """One response received."""
        self.pokes += 1
        if self.pokes in self.edges:
            self.marks.append((time.perf_counter(), time.process_time(), self.pokes))

    def summary(self, n: int, interval: float, finished: bool) -> dict[str, Any]:
        """The scenario's figures."""
        wall, cpu = time.perf_counter() - self.start[0], time.process_time() - self.start[1]
        figures: dict[str, Any] = {
            "finished": finished,
            "wall_s": wall,
            "cpu_s": cpu,
            "pokes": self.pokes,
            "cpu_per_poke_us": cpu / max(self.pokes, 1) * 1e6,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "demanded_poke_rate": n / interval if interval else None,  # None: back to back
        }
        if len(self.marks) == 2:
            (w0, c0, p0), (w1, c1, p1) = self.marks
            figures |= {
                "steady_pokes": p1 - p0,
                "steady_cpu_per_poke_us": (c1 - c0) / (p1 - p0) * 1e6,
                "steady_poke_rate": (p1 - p0) / (w1 - w0),
                "steady_cpu_load": (c1 - c0) / (w1 - w0),
            }
        return figures


def pause(interval: float) -> float:
    """A poke interval spread by the engine's jitter, as the sensors' are."""
    return interval * (1 + JITTER * (random.random() - 0.5))


async def bounded(work: Awaitable[Any], args: argparse.Namespace) -> bool:
    """Await ``work`` for at most ``args.budget`` seconds, printing figures every second.

    Returns whether it finished.
    """

    async def report() -> None:
        while args.scenario:  # in a scenario's own process only
            await asyncio.sleep(1)
            if Probe.current is not None:
                figures = Probe.current.summary(args.n, args.interval, finished=False)
                print(json.dumps(figures), flush=True)

    reporter = asyncio.create_task(report())
    try:
        async with asyncio.timeout(args.budget):
            await work
    except TimeoutError:
        return False
    finally:
        reporter.cancel()
    return True


# --- the scenarios (each in its own process) ----------------------------------------------
async def run_asyncflow(args: argparse.Namespace, base: str) -> dict[str, Any]:
    """``n`` HttpSensors in one DAG run on a fresh engine."""
    os.environ["ASYNCFLOW_CONN_HTTP_BENCH"] = f"{base}/asyncflow?max_connections={args.max_conn}"
    probe = Probe(args.n, args.rounds)

    def is_done(response: httpx.Response) -> bool:
        probe.poked()
        return bool(response.json()["done"])

    began = time.perf_counter()
    with DAG("http_sensors") as dag:
        for i in range(args.n):
            HttpSensor(
                f"jobs/{i}",
                task_id=f"poll_{i}",
                http_conn_id="http_bench",
                response_check=is_done,
                poke_interval=args.interval,
                timeout=3600,
            )
    build_s = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if args.store == "sqlite" else "memory://"
        settings = Settings.from_env(task_logs_folder=Path(tmp) / "logs")
        probe.start = (time.perf_counter(), time.process_time())
        engine = Engine(
            url, dags=[dag], max_active_tasks=args.n + 16, settings=settings, process=SERVED
        )
        async with engine:
            finished = await bounded(engine.run(dag.dag_id), args)
            clients = engine.resources.opened
    return probe.summary(args.n, args.interval, finished) | {
        "dag_build_s": build_s,
        "clients_opened": clients,
    }


async def run_aiohttp(args: argparse.Namespace, base: str) -> dict[str, Any]:
    """The floor: bare coroutines on one aiohttp session."""
    probe = Probe(args.n, args.rounds)
    connector = aiohttp.TCPConnector(limit=args.max_conn)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def poller(i: int) -> None:
            url = f"{base}/aiohttp/jobs/{i}"
            while True:
                async with session.get(url) as response:
                    assert response.status == 200, response.status
                    body = await response.json()
                probe.poked()
                if body["done"]:
                    return
                await asyncio.sleep(pause(args.interval))

        finished = await bounded(gather(poller, args.n), args)
    return probe.summary(args.n, args.interval, finished)


async def run_httpx(args: argparse.Namespace, base: str) -> dict[str, Any]:
    """``client.get`` on one httpx client: over the sensors' transport, or httpx's default.

    ``httpx-bounded`` lets at most ``max_connections`` requests into httpx's pool
    at once (an ``asyncio.Semaphore`` in front), so its pool never queues.
    """
    probe = Probe(args.n, args.rounds)
    transport = pool_transport(args) if args.scenario == "httpx-client" else None
    gate = asyncio.Semaphore(args.max_conn if args.scenario == "httpx-bounded" else args.n)
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=args.max_conn),
        timeout=request_timeout(30),  # 10,000 pokers queue for the pool at start
        transport=transport,
    )
    async with client:

        async def poller(i: int) -> None:
            url = f"{base}/{args.scenario}/jobs/{i}"
            while True:
                async with gate:
                    response = await client.get(url)
                assert response.status_code == 200, response.status_code
                probe.poked()
                if response.json()["done"]:
                    return
                await asyncio.sleep(pause(args.interval))

        finished = await bounded(gather(poller, args.n), args)
    return probe.summary(args.n, args.interval, finished)


async def run_aiohttp_wrapped(args: argparse.Namespace, base: str) -> dict[str, Any]:
    """The aiohttp floor plus an ``httpx.Response`` per answer, as a response_check receives.

    The least any design handing users httpx responses can cost.
    """
    probe = Probe(args.n, args.rounds)
    connector = aiohttp.TCPConnector(limit=args.max_conn)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def poller(i: int) -> None:
            url = f"{base}/aiohttp-wrapped/jobs/{i}"
            while True:
                async with session.get(url) as answer:
                    body = await answer.read()
                response = httpx.Response(answer.status, headers=answer.raw_headers, content=body)
                assert response.status_code == 200, response.status_code
                probe.poked()
                if response.json()["done"]:
                    return
                await asyncio.sleep(pause(args.interval))

        finished = await bounded(gather(poller, args.n), args)
    return probe.summary(args.n, args.interval, finished)


async def run_sensor_path(args: argparse.Namespace, base: str) -> dict[str, Any]:
    """The sensors' HTTP path without the engine: each request prepared once, sent to the pool.

    This is what a poke does (``HttpCall.send``) minus asyncflow's poke loop, so
    ``asyncflow - sensor-path`` is the engine's share and ``sensor-path - aiohttp``
    the cost of httpx's objects over the same aiohttp pool.
    """
    probe = Probe(args.n, args.rounds)
    transport = pool_transport(args)
    client = httpx.AsyncClient(transport=transport, timeout=request_timeout(30))
    async with client:

        async def poller(i: int) -> None:
            request = client.build_request("GET", f"{base}/sensor-path/jobs/{i}")
            wire = transport.prepare(request)
            while True:
                response = await transport.send(wire, request)
                assert response.status_code == 200, response.status_code
                probe.poked()
                if response.json()["done"]:
                    return
                await asyncio.sleep(pause(args.interval))

        finished = await bounded(gather(poller, args.n), args)
    return probe.summary(args.n, args.interval, finished)


def pool_transport(args: argparse.Namespace) -> PoolTransport:
    """The sensors' transport, as a connection with ``max_connections`` opens it."""
    return PoolTransport(ssl_context=ssl_context(True), max_connections=args.max_conn)


async def run_engine_only(args: argparse.Namespace, base: str) -> dict[str, Any]:
    """The engine's share: the asyncflow scenario with a poke that makes no request."""
    probe = Probe(args.n, args.rounds)
    counts = [0] * args.n
    with DAG("no_http") as dag:

        @task.sensor(poke_interval=args.interval, timeout=3600)
        async def wait(i: int) -> bool:
            probe.poked()
            counts[i] += 1
            return counts[i] >= args.rounds

        for i in range(args.n):  # distinct tasks, as the HttpSensors are
            wait.override(task_id=f"wait_{i}")(i)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if args.store == "sqlite" else "memory://"
        settings = Settings.from_env(task_logs_folder=Path(tmp) / "logs")
        probe.start = (time.perf_counter(), time.process_time())
        engine = Engine(
            url, dags=[dag], max_active_tasks=args.n + 16, settings=settings, process=SERVED
        )
        async with engine:
            finished = await bounded(engine.run(dag.dag_id), args)
    return probe.summary(args.n, args.interval, finished)


async def run_sleep_floor(args: argparse.Namespace, base: str) -> dict[str, Any]:
    """The floor of the engine's share: bare coroutines that count and sleep."""
    probe = Probe(args.n, args.rounds)

    async def poller(i: int) -> None:
        for _ in range(args.rounds - 1):
            probe.poked()
            await asyncio.sleep(pause(args.interval))
        probe.poked()

    finished = await bounded(gather(poller, args.n), args)
    return probe.summary(args.n, args.interval, finished)


async def gather(poller: Callable[[int], Awaitable[None]], n: int) -> None:
    """Run ``poller(i)`` for every ``i`` at once, to the end."""
    async with asyncio.TaskGroup() as tg:
        for i in range(n):
            tg.create_task(poller(i))


RUNNERS = {
    "asyncflow": run_asyncflow,
    "aiohttp": run_aiohttp,
    "aiohttp-wrapped": run_aiohttp_wrapped,
    "sensor-path": run_sensor_path,
    "httpx-client": run_httpx,
    "httpx-bounded": run_httpx,
    "httpx": run_httpx,
    "engine-only": run_engine_only,
    "sleep-floor": run_sleep_floor,
}


# --- orchestration --------------------------------------------------------------------
def in_subprocess(scenario: str, port: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run one scenario in a fresh interpreter and read its figures back.

    The scenario prints its figures every second; one that overruns its budget by
    :data:`GRACE` seconds (httpx's default pool can take minutes to cancel ten
    thousand queued requests) is killed and its last figures are used. One that
    printed none gets whole-run figures from outside: the CPU it used after its
    imports, over the requests the server answered it.
    """
    argv = [sys.executable, __file__, "--scenario", scenario, "--port", str(port)]
    argv += ["--n", str(args.n), "--interval", str(args.interval), "--rounds", str(args.rounds)]
    slow = scenario in ("httpx", "httpx-bounded")
    budget = min(args.budget, args.httpx_budget) if slow else args.budget
    argv += ["--max-connections", str(args.max_conn), "--budget", str(budget)]
    argv += ["--store", args.store] + (["--sniffio-absent"] if args.sniffio_absent else [])
    began, cpu = time.perf_counter(), None
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as process:
        try:
            out, _ = process.communicate(timeout=budget + GRACE)
        except subprocess.TimeoutExpired:
            cpu = cpu_of(process.pid)
            process.kill()
            out, _ = process.communicate()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    reports = [line for line in lines if "pokes" in line]
    if reports or cpu is None or not lines:
        return dict(reports[-1]) if reports else {"finished": False}
    served = int(urllib.request.urlopen(f"http://127.0.0.1:{port}/served/{scenario}").read())
    cpu -= lines[0]["cpu_at_start"]
    figures = {"finished": False, "wall_s": time.perf_counter() - began, "cpu_s": cpu}
    figures |= {"pokes": served, "counted_outside": True}
    return figures | ({"cpu_per_poke_us": cpu / served * 1e6} if served else {})


def cpu_of(pid: int) -> float:
    """The user+sys CPU seconds process ``pid`` has used (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


PROFILED = ("asyncflow", "sensor-path", "aiohttp")


def profile(args: argparse.Namespace, base: str) -> None:
    """Run three scenarios under cProfile here, one after the other; compare their time.

    Prints each component's own time per poke (us, inflated by the profiler, and
    wall time: ``epoll`` waiting counts too), largest in the asyncflow scenario first.
    """
    per_poke: dict[str, Counter[str]] = {}
    for name in PROFILED:
        profiler = cProfile.Profile()
        profiler.enable()
        figures = asyncio.run(RUNNERS[name](args, base))
        profiler.disable()
        own: Counter[str] = Counter()
        for (filename, _, function), row in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
            part = _package(filename)
            own[f"C: {function[:40]}" if part == "C" else part] += row[2] * 1e6
        per_poke[name] = Counter({k: v / max(figures["pokes"], 1) for k, v in own.items()})
    print("own time per poke under cProfile (us, profiler-inflated)")
    print(f"{'component':<48}" + "".join(f"{name:>13}" for name in PROFILED))
    for part, _ in per_poke["asyncflow"].most_common(30):
        print(f"{part:<48}" + "".join(f"{per_poke[n][part]:13.1f}" for n in PROFILED))
    print(f"{'total':<48}" + "".join(f"{per_poke[n].total():13.1f}" for n in PROFILED))


def _package(filename: str) -> str:
    """The component a profiled function belongs to, from its file."""
    if filename == "~":
        return "C"
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for top in ("asyncflow", "sensors"):
        if f"/{top}/" in filename:
            inner = filename.rsplit(f"/{top}/", 1)[1].split("/", 1)[0].removesuffix(".py")
            return f"{top}/{inner}"
    if "/lib/python3" in filename:
        inner = filename.split("/lib/python3", 1)[1].split("/", 2)[1]
        return "stdlib " + inner.removesuffix(".py")
    return "other"


ROWS: list[tuple[str, str]] = [
    ("finished within the budget", "finished"),
    ("wall time (s)", "wall_s"),
    ("CPU, user+sys (s)", "cpu_s"),
    ("total pokes (HTTP requests)", "pokes"),
    ("CPU per poke, whole run (us)", "cpu_per_poke_us"),
    ("CPU per poke, steady (us)", "steady_cpu_per_poke_us"),
    ("steady poke rate (/s)", "steady_poke_rate"),
    ("steady CPU load (cores)", "steady_cpu_load"),
    ("peak RSS (MiB)", "peak_rss_mib"),
    ("server CPU per request (us, not counted)", "server_cpu_per_request_us"),
    ("killed before reporting: CPU from /proc", "counted_outside"),
]


def _cell(figures: dict[str, Any], key: str) -> str:
    value = figures.get(key)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO (stopped)"
    return f"{value:,.0f}" if isinstance(value, int) or abs(value) >= 100 else f"{value:.2f}"


def print_table(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    """The figures side by side, and asyncflow's ratios to the aiohttp floor."""
    print(
        f"HTTP sensors: n={args.n:,}, interval={args.interval:g}s (demanded "
        f"{args.n / args.interval if args.interval else float('inf'):,.0f} pokes/s), "
        f"rounds={args.rounds}, "
        f"max_connections={args.max_conn}, store={args.store}, "
        f"python {platform.python_version()}, {os.cpu_count()} cpus"
    )
    names = list(results)
    rows = [("metric", *names)]
    rows += [(label, *(_cell(results[n], key) for n in names)) for label, key in ROWS]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = zip(row, widths, strict=True)
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(cells)))
    for key, value in ratios(results).items():
        print(f"{key}: {value:.2f}x")
    for key, value in parts(results).items():
        print(f"{key}: {value:+.0f} us")


HTTP_SCENARIOS = (
    "asyncflow",
    "aiohttp-wrapped",
    "sensor-path",
    "httpx-client",
    "httpx-bounded",
    "httpx",
)
PER_POKE = ("steady_cpu_per_poke_us", "cpu_per_poke_us")
# (what, minuend, subtrahend): CPU per poke differences that locate asyncflow's cost
PARTS = (
    ("engine's poke loop (engine-only - sleep-floor)", "engine-only", "sleep-floor"),
    ("an httpx.Response per answer (aiohttp-wrapped - aiohttp)", "aiohttp-wrapped", "aiohttp"),
    ("httpx objects on the aiohttp pool (sensor-path - aiohttp)", "sensor-path", "aiohttp"),
    ("HttpSensor in the engine (asyncflow - sensor-path)", "asyncflow", "sensor-path"),
)


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """CPU per poke of each HTTP scenario over the bare aiohttp floor's."""
    floor = results.get("aiohttp", {})
    found = {}
    for name in HTTP_SCENARIOS:
        figures = results.get(name, {})
        for key in PER_POKE:
            if key in figures and key in floor:
                found[f"{name} / aiohttp floor, {key}"] = figures[key] / floor[key]
    return found


def parts(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Differences of CPU per poke (us) between scenarios: where asyncflow's CPU goes."""
    found = {}
    for what, minuend, subtrahend in PARTS:
        one, other = results.get(minuend, {}), results.get(subtrahend, {})
        for key in PER_POKE:
            if key in one and key in other:
                found[f"{what}, {key}"] = one[key] - other[key]
    return found


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=4, help="requests per poller (>= 3)")
    parser.add_argument("--max-connections", dest="max_conn", type=int, default=100)
    parser.add_argument("--budget", type=float, default=45.0, help="seconds per scenario")
    parser.add_argument(
        "--httpx-budget", type=float, default=10.0, help="seconds for httpx's default transport"
    )
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument(
        "--sniffio-absent",
        action="store_true",
        help="record sniffio as not installed, so httpcore's import of it fails at once",
    )
    parser.add_argument(
        "--only", default=",".join(DEFAULT), help=f"comma-separated, of {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the asyncflow scenario")
    parser.add_argument("--serve", action="store_true", help="internal: run the server")
    parser.add_argument("--scenario", choices=SCENARIOS, help="internal: run one scenario")
    parser.add_argument("--port", type=int, help="internal: the server's port")
    return parser.parse_args()


def main() -> None:
    """Start the server, run each scenario in its own process, print and write the figures."""
    args = parse_args()
    if args.serve:
        serve(args.rounds)
        return
    configure(logging.WARNING)
    if args.scenario:
        if args.sniffio_absent and importlib.util.find_spec("sniffio") is None:
            # What httpcore's fix does (encode/httpcore#1103): without it, every lock
            # and event httpcore sets up retries the failed import, searching sys.path.
            sys.modules["sniffio"] = None  # type: ignore[assignment]
        print(json.dumps({"cpu_at_start": time.process_time()}), flush=True)
        figures = asyncio.run(RUNNERS[args.scenario](args, f"http://127.0.0.1:{args.port}"))
        print(json.dumps(figures), flush=True)
        return
    argv = [sys.executable, __file__, "--serve", "--rounds", str(args.rounds)]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        if args.profile:
            profile(args, f"http://127.0.0.1:{port}")
            return
        results = {}
        for name in args.only.split(","):
            before = cpu_of(server.pid)
            results[name] = figures = in_subprocess(name, port, args)
            if figures.get("pokes"):
                served = cpu_of(server.pid) - before
                figures["server_cpu_per_request_us"] = served / figures["pokes"] * 1e6
    finally:
        server.terminate()
        server.wait()
    print_table(args, results)
    RESULTS.mkdir(exist_ok=True)
    names = args.only.split(",")
    out = RESULTS / ("http-sensors.json" if names == list(DEFAULT) else "http-sensors-parts.json")
    info = {"python": platform.python_version(), "machine": platform.machine()}
    info |= {"cpus": os.cpu_count(), "argv": sys.argv[1:], "jitter": JITTER}
    found = {"results": results, "ratios": ratios(results), "parts_us": parts(results)}
    out.write_text(json.dumps(info | found, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
