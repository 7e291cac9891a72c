"""Pokes counted and timed on the hot path: a bucket count and a sum, no lock.

A hundred thousand waiting sensors poke tens of thousands of times a second,
each poke costing a few tens of microseconds of the loop; prometheus_client's
``Counter`` and ``Histogram`` take a lock per update (about 1.5 µs for both).
Here a poke is one ``bisect`` and two additions, made on the event loop's
thread only; a scrape (perhaps from another thread) copies the buckets in one
step and builds the families from the copy.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from asyncflow.sensor import SensorMode


class PokeTimes:
    """The pokes of one mode: how many fell in each latency bucket, and their total seconds.

    Args:
        bounds: the buckets' upper bounds in seconds, increasing (``+Inf`` is added).
    """

    __slots__ = ("bounds", "buckets", "seconds")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.seconds = 0.0

    def observe(self, seconds: float) -> None:
        """Count one poke that took ``seconds``."""
        self.buckets[bisect_left(self.bounds, seconds)] += 1
        self.seconds += seconds


def poke_families(times: Mapping[SensorMode, PokeTimes]) -> Iterator[Metric]:
    """``asyncflow_pokes_total`` and ``asyncflow_poke_duration_seconds``, by mode."""
    pokes = CounterMetricFamily(
        "asyncflow_pokes", "Sensor pokes, by sensor mode, however each ended.", labels=["mode"]
    )
    durations = HistogramMetricFamily(
        "asyncflow_poke_duration_seconds",
        "How long each sensor poke took, by sensor mode.",
        labels=["mode"],
    )
    for mode, poke_times in times.items():
        counts = list(poke_times.buckets)  # one step: a consistent copy
        cumulative, running = [], 0
        for bound, count in zip((*poke_times.bounds, float("inf")), counts, strict=True):
            running += count
            cumulative.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        pokes.add_metric([mode.value], running)
        durations.add_metric([mode.value], cumulative, sum_value=poke_times.seconds)
    yield pokes
    yield durations
