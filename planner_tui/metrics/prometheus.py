"""Signals and GPUs from a Prometheus server's query API, for clusters where workers are not reachable.

Each signal of each component becomes one PromQL expression built from the preset (or given in the
graph file): gauges are summed (or averaged for KV usage and lengths), counters become
``rate(...[rate_window])``, latencies ``histogram_quantile(0.95, sum by (le) (rate(..._bucket[...])))``.
A component's series are picked with ``metrics.prometheus_selector`` (``$namespace`` and
``$component`` substituted). Instant queries feed each tick; range queries fill the history when
the collector starts. A query that fails keeps the last value, marked stale.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

import httpx

from planner_tui.config.graph import GraphConfig
from planner_tui.config.planner_settings import MetricsSettings
from planner_tui.config.urls import redact_url
from planner_tui.metrics.dcgm import DCGM_FIELDS, gpus_from_samples
from planner_tui.metrics.history import History
from planner_tui.metrics.scrape import Sample, new_client
from planner_tui.metrics.signals import Kind, SignalSpec, component_specs
from planner_tui.metrics.sources import Source, SourceReport, TickContext
from planner_tui.model.components import ComponentState
from planner_tui.model.signals import Signal, SignalValue


class PrometheusError(Exception):
    """A Prometheus server that cannot be reached or refuses a query; the message says which."""


def _number(text: str) -> float | None:
    value = float(text)
    return None if math.isnan(value) or math.isinf(value) else value


class PrometheusClient:
    """A small client of Prometheus' HTTP query API (``/api/v1/query`` and ``/api/v1/query_range``)."""

    def __init__(self, base_url: str, timeout_s: float = 2.0, client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.shown_url = redact_url(self.base_url)  # credentials (sent as Basic auth by httpx) never shown
        self.timeout_s = timeout_s
        self._client = client or new_client()
        self._owns_client = client is None

    async def _get(self, path: str, params: Mapping[str, str]) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = await asyncio.wait_for(
                self._client.get(url, params=params, timeout=self.timeout_s), self.timeout_s
            )
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            reason = (
                f"timed out after {self.timeout_s:g} s"
                if isinstance(exc, httpx.TimeoutException | TimeoutError)
                else exc
            )
            raise PrometheusError(f"Prometheus at {self.shown_url} not reachable: {reason}") from None
        try:
            body = response.json()
        except ValueError:
            raise PrometheusError(
                f"Prometheus at {self.shown_url} answered HTTP {response.status_code}, not JSON"
            ) from None
        if body.get("status") != "success":
            raise PrometheusError(f"query {params.get('query')!r} refused: {body.get('error', response.status_code)}")
        return body["data"]

    async def instant(self, query: str, at: float | None = None) -> list[tuple[dict[str, str], float, float]]:
        """An instant query: ``(labels, timestamp, value)`` per series (NaN values left out)."""
        params = {"query": query}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = await self._get("/api/v1/query", params)
        if data["resultType"] == "scalar":
            value = _number(data["result"][1])
            return [] if value is None else [({}, float(data["result"][0]), value)]
        out = []
        for series in data["result"]:
            value = _number(series["value"][1])
            if value is not None:
                out.append((dict(series["metric"]), float(series["value"][0]), value))
        return out

    async def range(
        self, query: str, start: float, end: float, step_s: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """A range query: ``(labels, [(timestamp, value), ...])`` per series."""
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"}
        data = await self._get("/api/v1/query_range", params)
        out = []
        for series in data["result"]:
            points = [(float(t), v) for t, text in series["values"] if (v := _number(text)) is not None]
            out.append((dict(series["metric"]), points))
        return out

    async def close(self) -> None:
        """Close the HTTP client this object made."""
        if self._owns_client:
            await self._client.aclose()


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


def build_promql(spec: SignalSpec, selector: str, rate_window_s: float, latency_window_s: float) -> str:
    """The PromQL expression computing ``spec`` over the series matched by ``selector``."""
    if spec.promql:
        return spec.promql.replace("$selector", selector).replace("$window", _duration(latency_window_s))
    matchers = "{" + selector + "}"
    alternatives = []
    for metric in spec.metrics:
        if spec.kind is Kind.GAUGE:
            alternatives.append(f"{'sum' if spec.extensive else 'avg'}({metric}{matchers})")
        elif spec.kind is Kind.RATE:
            alternatives.append(f"sum(rate({metric}{matchers}[{_duration(rate_window_s)}]))")
        elif spec.kind is Kind.QUANTILE:
            window = _duration(latency_window_s)
            alternatives.append(
                f"histogram_quantile({spec.quantile:g}, sum by (le) (rate({metric}_bucket{matchers}[{window}])))"
            )
        else:
            window = _duration(latency_window_s)
            alternatives.append(
                f"sum(rate({metric}_sum{matchers}[{window}])) / sum(rate({metric}_count{matchers}[{window}]))"
            )
    return " or ".join(alternatives)


class PrometheusQuerySource(Source):
    """Component-level signals (and DCGM GPUs) from a Prometheus server's query API."""

    name = "prometheus"

    def __init__(
        self,
        settings: MetricsSettings,
        graph: GraphConfig | None = None,
        *,
        namespace: str | None = None,
        client: PrometheusClient | None = None,
        gpu_selector: str = "",
    ) -> None:
        if not settings.prometheus_url and client is None:
            raise ValueError("the Prometheus query source needs metrics.prometheus_url, e.g. http://127.0.0.1:9090")
        self.settings = settings
        self.graph = graph
        self.namespace = namespace or (graph.namespace if graph else "")
        self.client = client or PrometheusClient(settings.prometheus_url or "", timeout_s=settings.scrape_timeout_s)
        self.timeout_s = settings.scrape_timeout_s + 0.2
        self.gpu_selector = gpu_selector
        self._last: dict[tuple[str, Signal], SignalValue] = {}
        self._gate = asyncio.Semaphore(settings.max_concurrency)

    def queries_for(self, state: ComponentState) -> dict[Signal, str]:
        """Each signal's PromQL for one component."""
        overrides = None
        if self.graph is not None and state.name in self.graph.components:
            overrides = self.graph.components[state.name].signals
        specs = component_specs(self.settings.preset, state.spec.role, overrides)
        selector = self.settings.prometheus_selector.replace("$namespace", self.namespace)
        selector = selector.replace("$component", state.name)
        rate_window, latency_window = self.settings.rate_window_s, self.settings.latency_window_s
        return {signal: build_promql(spec, selector, rate_window, latency_window) for signal, spec in specs.items()}

    async def _instant(self, query: str) -> list[tuple[dict[str, str], float, float]] | PrometheusError:
        async with self._gate:
            try:
                return await self.client.instant(query)
            except PrometheusError as exc:
                return exc

    async def collect(self, context: TickContext) -> SourceReport:
        """One instant query per component signal, plus one per DCGM field, concurrently."""
        jobs: list[tuple[str, Signal, str]] = []
        for name, state in context.components.items():
            jobs.extend((name, signal, query) for signal, query in self.queries_for(state).items())
        gpu_queries = [f"{field}{{{self.gpu_selector}}}" for field in DCGM_FIELDS]
        answers = await asyncio.gather(
            *(self._instant(q) for _, _, q in jobs), *(self._instant(q) for q in gpu_queries)
        )
        errors: list[str] = []
        values: list[SignalValue] = []
        for (component, signal, _query), answer in zip(jobs, answers[: len(jobs)], strict=True):
            key = (component, signal)
            if isinstance(answer, PrometheusError):
                if not errors:
                    errors.append(str(answer))
                last = self._last.get(key)
                if last is not None:
                    values.append(SignalValue(component, signal, last.value, last.timestamp, True, None, self.name))
                continue
            if not answer:
                continue  # no such series (yet)
            value = SignalValue(component, signal, sum(v for _, _, v in answer), context.now, False, None, self.name)
            self._last[key] = value
            values.append(value)
        gpu_samples = [
            Sample(field, labels, value)
            for field, answer in zip(DCGM_FIELDS, answers[len(jobs) :], strict=True)
            if not isinstance(answer, PrometheusError)
            for labels, _, value in answer
        ]
        gpus = gpus_from_samples(gpu_samples, context.now)
        return SourceReport(gpus=tuple(gpus) if gpus else None, signals=tuple(values), errors=tuple(errors))

    async def backfill(self, context: TickContext, history: History) -> int:
        """Fill ``history`` with each component signal's past (range queries over the history span)."""
        end_at = context.now
        start_at = end_at - history.history_s
        step = max(1.0, history.history_s / history.capacity)
        jobs = [
            (name, signal, query)
            for name, state in context.components.items()
            for signal, query in self.queries_for(state).items()
        ]

        async def one(query: str) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
            async with self._gate:
                try:
                    return await self.client.range(query, start_at, end_at, step)
                except PrometheusError:
                    return []

        answers = await asyncio.gather(*(one(query) for _, _, query in jobs))
        added = 0
        for (name, signal, _query), series in zip(jobs, answers, strict=True):
            for _, points in series[:1]:
                for timestamp, value in points:
                    history.append(("signal", name, signal, None), timestamp, value)
                    added += 1
        return added

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.close()
