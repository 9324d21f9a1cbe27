"""Signals and GPUs from a Prometheus server's query API, for clusters where workers are not reachable.

Each signal of each component becomes one PromQL expression built from the preset (or given in the
graph file): gauges are summed (or averaged for KV usage and lengths), counters become
``rate(...[rate_window])``, latencies ``histogram_quantile(0.95, sum by (le) (rate(..._bucket[...])))``.
Which series belong to a component depends on who labelled them. Dynamo labels a worker's
``dynamo_component_*`` series with its own names, ``dynamo_namespace`` (``dynamo`` by default, not
the graph's namespace) and ``dynamo_component`` (``backend`` for decode and aggregated workers,
``prefill`` for prefill workers); those are picked with ``metrics.prometheus_selector``. ``vllm:*``
and ``dynamo_frontend_*`` series carry no Dynamo label: only what Prometheus adds (``job``,
``instance``, ``pod``) tells components apart, so they are picked with
``metrics.prometheus_target_selector`` (default ``job="$component"``). Both can be set per component
(``[metrics.prometheus_components.NAME]``: ``dynamo_namespace``, ``dynamo_component``, ``selector``,
``target_selector``). ``$dynamo_namespace``, ``$dynamo_component``, ``$namespace`` (the graph's) and
``$component`` (the graph's component name) are substituted.

Instant queries feed each tick; range queries fill the history when the collector starts. A query
that fails keeps the last value, marked stale. A selector that no query using it alone confirmed
(every such query came back empty) is checked with ``count({selector})``: one that matches no
series at all is a wrong label mapping and is reported as an error naming the component, the
selector and the setting to change (series Dynamo creates on first use are simply absent while the
selector matches others).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from planner_tui.config.graph import GraphConfig
from planner_tui.config.planner_settings import MetricsSettings, PrometheusLabels
from planner_tui.config.urls import redact_url
from planner_tui.metrics.dcgm import DCGM_FIELDS, gpus_from_samples
from planner_tui.metrics.history import History
from planner_tui.metrics.scrape import Sample, new_client
from planner_tui.metrics.signals import Kind, SignalSpec, component_specs
from planner_tui.metrics.sources import Source, SourceReport, TickContext
from planner_tui.model.components import ComponentState, Role
from planner_tui.model.signals import Signal, SignalValue

if TYPE_CHECKING:
    import httpx


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
        import httpx  # imported with the client (new_client): only a process querying Prometheus loads it

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


#: the Dynamo component a worker registers as, by the planner-tui sub-component type or role
DYNAMO_COMPONENT_OF = {"prefill": "prefill", "decode": "backend", Role.WORKER.value: "backend"}


def carries_dynamo_labels(metric: str) -> bool:
    """True for the series Dynamo's runtime labels ``dynamo_namespace``/``dynamo_component`` (its
    ``dynamo_component_*`` metrics); ``vllm:*``, ``dynamo_frontend_*`` and the others carry neither."""
    return metric.startswith("dynamo_component_")


def build_promql(
    spec: SignalSpec,
    selector: str,
    rate_window_s: float,
    latency_window_s: float,
    target_selector: str | None = None,
) -> str:
    """The PromQL expression computing ``spec``: series with Dynamo's labels matched by ``selector``,
    the others by ``target_selector`` (``selector`` when None), each with the spec's own label
    matchers (``dynamo_endpoint="generate"``)."""
    other = selector if target_selector is None else target_selector
    if spec.promql:
        return (
            spec.promql.replace("$target_selector", other)
            .replace("$selector", selector)
            .replace("$window", _duration(latency_window_s))
        )
    alternatives = []
    for metric in spec.metrics:
        own = ",".join(f'{label}="{value}"' for label, value in spec.labels_of(metric))  # e.g. the endpoint
        matchers = "{" + ",".join(m for m in (selector if carries_dynamo_labels(metric) else other, own) if m) + "}"
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


@dataclass(frozen=True, slots=True)
class ComponentQueries:
    """One component's PromQL: each signal's query and which selectors it uses."""

    component: str
    selector: str  # series with Dynamo's labels
    target_selector: str  # series without them
    queries: dict[Signal, str]
    uses: dict[Signal, frozenset[str]]  # signal -> the selectors its query uses

    def signals_using(self, selector: str) -> list[Signal]:
        """The signals whose query uses ``selector``."""
        return [signal for signal, used in self.uses.items() if selector in used]


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
        known = set(graph.components) if graph is not None else None
        self._config_errors = tuple(
            f"metrics.prometheus_components.{name}: no such component in the graph"
            f" (components: {', '.join(sorted(known))})"
            for name in settings.prometheus_components
            if known is not None and name not in known
        )

    def labels_of(self, state: ComponentState) -> tuple[str, str]:
        """The component's Dynamo namespace and Dynamo component names (its settings, else its role's)."""
        own = self.settings.prometheus_components.get(state.name, PrometheusLabels())
        namespace = own.dynamo_namespace or self.settings.dynamo_namespace
        kind = state.spec.sub_component_type or str(state.spec.role)
        return namespace, own.dynamo_component or DYNAMO_COMPONENT_OF.get(kind, state.name)

    def selectors_for(self, state: ComponentState) -> tuple[str, str]:
        """The component's two selectors (series with Dynamo's labels, series without), substituted."""
        own = self.settings.prometheus_components.get(state.name, PrometheusLabels())
        dynamo_namespace, dynamo_component = self.labels_of(state)

        def substitute(template: str) -> str:
            return (
                template.replace("$dynamo_namespace", dynamo_namespace)
                .replace("$dynamo_component", dynamo_component)
                .replace("$namespace", self.namespace)
                .replace("$component", state.name)
            )

        selector = own.selector if own.selector is not None else self.settings.prometheus_selector
        target = own.target_selector if own.target_selector is not None else self.settings.prometheus_target_selector
        return substitute(selector), substitute(target)

    def component_queries(self, state: ComponentState) -> ComponentQueries:
        """Each signal's PromQL for one component, with the selectors each one uses."""
        overrides = None
        if self.graph is not None and state.name in self.graph.components:
            overrides = self.graph.components[state.name].signals
        specs = component_specs(self.settings.preset, state.spec.role, overrides)
        selector, target = self.selectors_for(state)
        rate_window, latency_window = self.settings.rate_window_s, self.settings.latency_window_s
        queries: dict[Signal, str] = {}
        uses: dict[Signal, frozenset[str]] = {}
        for signal, spec in specs.items():
            queries[signal] = build_promql(spec, selector, rate_window, latency_window, target)
            if spec.promql:
                used = {s for s in (selector, target) if "{" + s + "}" in queries[signal]}
            else:
                used = {selector if carries_dynamo_labels(m) else target for m in spec.metrics}
            uses[signal] = frozenset(used)
        return ComponentQueries(state.name, selector, target, queries, uses)

    def queries_for(self, state: ComponentState) -> dict[Signal, str]:
        """Each signal's PromQL for one component."""
        return self.component_queries(state).queries

    async def _instant(self, query: str) -> list[tuple[dict[str, str], float, float]] | PrometheusError:
        async with self._gate:
            try:
                return await self.client.instant(query)
            except PrometheusError as exc:
                return exc

    async def collect(self, context: TickContext) -> SourceReport:
        """One instant query per component signal, plus one per DCGM field, concurrently; then one
        ``count`` per selector that no query using only it confirmed, to tell a wrong label mapping (no
        series at all: an error) from series not created yet (Dynamo makes some on first use)."""
        plans = [self.component_queries(state) for state in context.components.values()]
        jobs: list[tuple[str, Signal, str]] = [
            (plan.component, signal, query) for plan in plans for signal, query in plan.queries.items()
        ]
        gpu_queries = [f"{field}{{{self.gpu_selector}}}" for field in DCGM_FIELDS]
        answers = await asyncio.gather(
            *(self._instant(q) for _, _, q in jobs), *(self._instant(q) for q in gpu_queries)
        )
        errors: list[str] = list(self._config_errors)
        values: list[SignalValue] = []
        answered: dict[tuple[str, Signal], bool] = {}  # True: series found; False: none; absent: failed
        failed = False
        for (component, signal, _query), answer in zip(jobs, answers[: len(jobs)], strict=True):
            key = (component, signal)
            if isinstance(answer, PrometheusError):
                if not failed:
                    errors.append(str(answer))
                    failed = True
                last = self._last.get(key)
                if last is not None:
                    values.append(SignalValue(component, signal, last.value, last.timestamp, True, None, self.name))
                continue
            answered[key] = bool(answer)
            if not answer:
                continue  # no such series (yet): checked below
            value = SignalValue(component, signal, sum(v for _, _, v in answer), context.now, False, None, self.name)
            self._last[key] = value
            values.append(value)
        errors.extend(await self._unmatched(plans, answered))
        gpu_samples = [
            Sample(field, labels, value)
            for field, answer in zip(DCGM_FIELDS, answers[len(jobs) :], strict=True)
            if not isinstance(answer, PrometheusError)
            for labels, _, value in answer
        ]
        gpus = gpus_from_samples(gpu_samples, context.now)
        return SourceReport(gpus=tuple(gpus) if gpus else None, signals=tuple(values), errors=tuple(errors))

    async def _unmatched(self, plans: list[ComponentQueries], answered: dict[tuple[str, Signal], bool]) -> list[str]:
        """An error for each component selector that matches no series at all in Prometheus."""
        suspects: list[tuple[ComponentQueries, str, list[Signal]]] = []
        for plan in plans:
            for selector in dict.fromkeys((plan.selector, plan.target_selector)):
                signals = plan.signals_using(selector)
                if not selector.strip() or not signals:
                    continue  # "{}" is no query
                results = [answered.get((plan.component, signal)) for signal in signals]
                if any(r is None for r in results):
                    continue  # a query failed: that error is reported already
                if any(answered[(plan.component, s)] for s in signals if plan.uses[s] == {selector}):
                    continue  # a query using only this selector found series: it matches
                suspects.append((plan, selector, signals))
        if not suspects:
            return []
        counts = await asyncio.gather(*(self._instant(f"count({{{selector}}})") for _, selector, _ in suspects))
        errors = []
        for (plan, selector, signals), count in zip(suspects, counts, strict=True):
            if isinstance(count, PrometheusError):
                errors.append(f"component {plan.component}: {count}")
            elif not count or not count[0][2]:
                errors.append(self._no_match_message(plan, selector, signals))
        return errors

    def _no_match_message(self, plan: ComponentQueries, selector: str, signals: list[Signal]) -> str:
        names = ", ".join(signal.value for signal in signals)
        table = f"[metrics.prometheus_components.{plan.component}]"
        if selector == plan.selector:
            hint = (
                "Dynamo labels its workers' dynamo_component_* series with its own names (dynamo_namespace "
                '"dynamo", dynamo_component "backend" or "prefill"), not the graph\'s: set dynamo_namespace / '
                f"dynamo_component in {table}, or metrics.prometheus_selector"
            )
        else:
            hint = (
                "vllm:* and dynamo_frontend_* series carry only the labels Prometheus adds (job, instance, pod): "
                f"set target_selector in {table}, or metrics.prometheus_target_selector"
            )
        return f"component {plan.component}: no series in Prometheus match {{{selector}}} (read for {names}); {hint}"

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
