"""An engine's Prometheus metrics: one registry per engine, names prefixed ``asyncflow_``.

The counters and histograms of runs, store commits and loop lag are
prometheus_client's own, updated where the engine already does the work;
pokes, far more frequent, are counted without a lock
(:mod:`asyncflow.metrics.poke_times`). The gauges (runs, task instances and
waiting sensors by state) are computed when scraped from counts the engine
keeps anyway (:mod:`asyncflow.metrics.tally`), so a scrape costs the same
however many sensors wait. Every metric is listed,
with its type, labels and meaning, in the documentation's metrics page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.asgi import make_asgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from asyncflow.exceptions import EngineError
from asyncflow.metrics.lag import LoopLag
from asyncflow.metrics.poke_times import PokeTimes, poke_families
from asyncflow.metrics.tally import InstanceTally
from asyncflow.sensor import SensorMode
from asyncflow.states import FINISHED_RUN_STATES, DagRunState

ASGIApp = Callable[..., Any]
"""An ASGI application: ``async def app(scope, receive, send)``."""

COMMIT_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
COMMIT_WRITES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
LAG_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
POKE_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class EngineMetrics:
    """The Prometheus metrics of one :class:`~asyncflow.Engine` (``engine.metrics``).

    Args:
        registry: Where to register them (default: a registry of their own, so
            two engines in one process never clash and prometheus_client's
            global ``REGISTRY`` is left alone).
        enabled: ``False`` registers nothing and counts nothing.

    Attributes:
        registry: The ``CollectorRegistry`` holding the engine's metrics.
        tally: The engine's task instances by kind and state.
        poke_times: The pokes by sensor mode: counts per latency bucket, total seconds.

    Raises:
        EngineError: ``registry`` has asyncflow's metrics already (another engine's).

    Example:
        >>> print(engine.metrics.exposition())  # doctest: +SKIP
        # HELP asyncflow_dag_runs_finished_total DAG runs this engine finished, by final state.
        # TYPE asyncflow_dag_runs_finished_total counter
        asyncflow_dag_runs_finished_total{state="success"} 3.0
        ...
        >>> app.mount("/metrics", engine.metrics.asgi_app())  # doctest: +SKIP
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.registry = registry if registry is not None else CollectorRegistry()
        self.tally = InstanceTally()
        self.lag = LoopLag(self._observe_lag)
        self.poke_times = {mode: PokeTimes(POKE_SECONDS) for mode in SensorMode}
        self._run_counts: Callable[[], Mapping[DagRunState, int]] = dict
        if not enabled:
            return
        try:
            self._register(self.registry)
        except ValueError as error:
            raise EngineError(
                f"metrics: this registry has asyncflow's metrics already ({error}); give each "
                "Engine a registry of its own, or leave metrics=True for a fresh one"
            ) from None

    def _register(self, registry: CollectorRegistry) -> None:
        runs = Counter(
            "asyncflow_dag_runs_finished",
            "DAG runs this engine finished, by final state.",
            ["state"],
            registry=registry,
        )
        self._runs_finished = {
            state: runs.labels(state=state.value) for state in FINISHED_RUN_STATES
        }
        self._commit_seconds = Histogram(
            "asyncflow_store_commit_duration_seconds",
            "How long each group-commit transaction of the store took (SQL stores).",
            buckets=COMMIT_SECONDS,
            registry=registry,
        )
        self._commit_writes = Histogram(
            "asyncflow_store_commit_batch_size",
            "How many writes each group-commit transaction of the store carried (SQL stores).",
            buckets=COMMIT_WRITES,
            registry=registry,
        )
        self._lag = Histogram(
            "asyncflow_event_loop_lag_seconds",
            "How late the event loop ran the engine's heartbeat (every 0.5 s).",
            buckets=LAG_SECONDS,
            registry=registry,
        )
        registry.register(_StateGauges(self))

    # --- hooks the engine calls ----------------------------------------------------
    def watch_runs(self, counts: Callable[[], Mapping[DagRunState, int]]) -> None:
        """Where the run gauge reads the engine's runs by state (queued, running)."""
        self._run_counts = counts

    def run_finished(self, state: DagRunState) -> None:
        """Count a run that ended in ``state``."""
        counter = self._runs_finished.get(state) if self.enabled else None
        if counter is not None:
            counter.inc()

    def poked(self, mode: SensorMode, seconds: float) -> None:
        """Count a sensor's poke that took ``seconds``."""
        self.poke_times[mode].observe(seconds)

    def committed(self, seconds: float, writes: int) -> None:
        """Note a store transaction of ``writes`` writes that took ``seconds``."""
        self._commit_seconds.observe(seconds)
        self._commit_writes.observe(writes)

    def _observe_lag(self, seconds: float) -> None:
        self._lag.observe(seconds)

    # --- reading -------------------------------------------------------------------
    def exposition(self) -> str:
        """The metrics now, in Prometheus' text exposition format."""
        return generate_latest(self.registry).decode()

    def asgi_app(self) -> ASGIApp:
        """An ASGI app serving :meth:`exposition` on GET, to mount in your own service.

        Example:
            >>> app = Starlette(routes=[Mount("/metrics", engine.metrics.asgi_app())])
            ... # doctest: +SKIP
        """
        return _http_only(make_asgi_app(self.registry))

    def run_gauges(self) -> dict[DagRunState, int]:
        """The engine's runs by state: queued, running."""
        counts = self._run_counts()
        return {state: counts.get(state, 0) for state in (DagRunState.QUEUED, DagRunState.RUNNING)}


class _StateGauges(Collector):
    """The gauges computed at scrape time from counts the engine keeps."""

    def __init__(self, metrics: EngineMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        """The gauges' names, so the registry refuses a second engine's."""
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        """The gauges now."""
        yield from self._families()

    def _families(self) -> Iterator[Metric]:
        metrics = self._metrics
        runs = GaugeMetricFamily(
            "asyncflow_dag_runs", "DAG runs this engine holds, by state.", labels=["state"]
        )
        for state, count in metrics.run_gauges().items():
            runs.add_metric([state.value], count)
        yield runs
        instances = GaugeMetricFamily(
            "asyncflow_task_instances",
            "Task instances of the runs this engine is running, by state ('none': not yet "
            "considered).",
            labels=["state"],
        )
        for task_state, count in metrics.tally.by_state().items():
            instances.add_metric([task_state.value if task_state else "none"], count)
        yield instances
        sensors = GaugeMetricFamily(
            "asyncflow_sensors_waiting",
            "Sensors whose wait has begun and not ended, by mode.",
            labels=["mode"],
        )
        for mode, count in metrics.tally.sensors_waiting().items():
            sensors.add_metric([mode.value], count)
        yield sensors
        yield from poke_families(metrics.poke_times)
        yield GaugeMetricFamily(
            "asyncflow_event_loop_behind_seconds",
            "How far behind the event loop is now: the last heartbeat's lag, or how overdue "
            "the next one is.",
            value=metrics.lag.behind(),
        )


def _http_only(app: ASGIApp) -> ASGIApp:
    """``app`` for HTTP; the lifespan protocol (a server run on the app alone) is answered."""

    async def metrics_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await app(scope, receive, send)

    return metrics_app
