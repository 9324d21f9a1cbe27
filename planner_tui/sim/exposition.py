"""Prometheus exposition for the sim processes: metric families built from live state at scrape time.

Gauges are read from the process's state when scraped, so nothing updates metrics on a timer (an idle
replica does no work). Histograms are accumulated here with :class:`Histogram`, which takes a count per
observation (one decode step is one inter-token latency for every sequence in the batch).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

__all__ = [
    "CONTENT_TYPE_LATEST",
    "DURATION_BUCKETS",
    "ITL_BUCKETS",
    "TOKEN_BUCKETS",
    "TTFT_BUCKETS",
    "Histogram",
    "MetricsEndpoint",
    "counter",
    "gauge",
]

TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0)
ITL_BUCKETS = (0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
DURATION_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0)
TOKEN_BUCKETS = (16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0)


class Histogram:
    """Cumulative bucket counts and a sum, like a Prometheus histogram, with weighted observations."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)  # last: above every bound (+Inf only)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float, count: int = 1) -> None:
        """Record ``value`` ``count`` times."""
        if count <= 0:
            return
        self.counts[bisect.bisect_left(self.bounds, value)] += count
        self.total += value * count
        self.count += count

    def family(self, labels: dict[str, str]) -> HistogramMetricFamily:
        """The metric family with cumulative buckets."""
        family = HistogramMetricFamily(self.name, self.documentation, labels=list(labels))
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip(self.bounds, self.counts, strict=False):
            cumulative += count
            buckets.append((_bound(bound), cumulative))
        buckets.append(("+Inf", self.count))
        family.add_metric(list(labels.values()), buckets, sum_value=self.total)
        return family


def _bound(value: float) -> str:
    return repr(float(value))


def gauge(name: str, documentation: str, value: float, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    """A one-sample gauge family."""
    labels = labels or {}
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def counter(name: str, documentation: str, value: float, labels: dict[str, str] | None = None) -> CounterMetricFamily:
    """A one-sample counter family (``name`` without the ``_total`` suffix)."""
    labels = labels or {}
    family = CounterMetricFamily(name, documentation, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


class _FunctionCollector(Collector):
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return list(self._collect())


class MetricsEndpoint:
    """Renders what ``collect()`` yields in the Prometheus text format (a private registry, no defaults)."""

    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_FunctionCollector(collect))

    def render(self) -> bytes:
        """The current exposition text."""
        return generate_latest(self._registry)
