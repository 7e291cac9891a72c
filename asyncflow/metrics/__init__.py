"""Prometheus metrics of an engine: ``engine.metrics`` (see :class:`EngineMetrics`)."""

from asyncflow.metrics.engine_metrics import EngineMetrics

__all__ = ["EngineMetrics"]
