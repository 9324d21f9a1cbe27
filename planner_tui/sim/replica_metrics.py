"""What the simulated replicas measure and expose: one implementation for the processes and the virtual graph.

:class:`WorkerMetrics` turns an engine's finished steps (:class:`~planner_tui.sim.perf_model.StepResult`)
into latency histograms, request counts and GPU busy time, and yields the worker's metric families (vLLM,
Dynamo and DCGM names). :class:`FrontendMetrics` does the same for the frontend's request book. The worker
and frontend processes (:mod:`.worker`, :mod:`.frontend`) and the virtual graph that ``planner-tui
compare`` runs (:mod:`.virtual`) both use these classes, so a replica in either reports the same figures
for the same work. Times are simulated seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from planner_tui.sim.broker import QUEUES, ROLE_QUEUE, Broker, Completion, SimRequest
from planner_tui.sim.exposition import (
    DURATION_BUCKETS,
    ITL_BUCKETS,
    TOKEN_BUCKETS,
    TTFT_BUCKETS,
    Histogram,
    counter,
    gauge,
)
from planner_tui.sim.gpus import GpuLoad, dcgm_families
from planner_tui.sim.perf_model import Engine, EngineRole, StepResult

BUSY_WINDOW_S = 5.0  # simulated seconds over which GPU utilisation is averaged


@dataclass(frozen=True, slots=True)
class StepReport:
    """What a worker tells the frontend after a step: first tokens and finished requests."""

    first_tokens: list[int]
    completed: list[dict[str, Any]]


class WorkerMetrics:
    """One worker's histograms, counters and busy time, and its exposition."""

    def __init__(self, role: EngineRole, model: str = "sim-model") -> None:
        self.role = role
        self.labels = {"model_name": model}
        self.ttft = Histogram("vllm:time_to_first_token_seconds", "Time to first token", TTFT_BUCKETS)
        self.itl = Histogram("vllm:inter_token_latency_seconds", "Inter-token latency", ITL_BUCKETS)
        self.e2e = Histogram("vllm:e2e_request_latency_seconds", "End-to-end request latency", DURATION_BUCKETS)
        self.requests_total = 0
        self.steps: deque[tuple[float, float]] = deque()  # (start, end) simulated times
        self.step_started: float | None = None

    def record(self, result: StepResult, failed: Iterable[Any], start: float, now: float) -> StepReport:
        """A step that ran from ``start`` to ``now``: observe its latencies; what to report to the frontend.

        ``failed``: the sequences the engine rejected since the last step (``Engine.take_failed``).
        """
        self.steps.append((start, now))
        self.step_started = None
        firsts: list[int] = []
        completed: list[dict[str, Any]] = []
        for seq in result.first_tokens:
            self.ttft.observe(now - seq.received_at)
            firsts.append(seq.request_id)
        if result.decoded:
            self.itl.observe(result.duration, result.decoded)
        for seq in [*result.finished, *failed]:
            self.requests_total += 1
            if seq.error is None and self.role is EngineRole.PREFILL:
                continue  # reported as a first token; the frontend moves it to the decode queue
            self.e2e.observe(now - seq.received_at)
            itl = seq.itl_sum / seq.itl_count if seq.itl_count else None
            completed.append({"id": seq.request_id, "itl_mean_s": itl, "error": seq.error})
        return StepReport(firsts, completed)

    def busy_fraction(self, now: float) -> float:
        """Share of the last :data:`BUSY_WINDOW_S` simulated seconds spent in steps."""
        start = now - BUSY_WINDOW_S
        while self.steps and self.steps[0][1] < start:
            self.steps.popleft()
        busy = sum(end - max(begin, start) for begin, end in self.steps)
        if self.step_started is not None:
            busy += now - max(self.step_started, start)
        return min(1.0, busy / BUSY_WINDOW_S)

    def families(
        self, engine: Engine, *, ready: bool, now: float, age_s: float, cold_start_s: float, gpus: tuple[int, ...]
    ) -> Iterable[Metric]:
        """The worker's metric families at ``now`` (``age_s``: simulated seconds since it started)."""
        labels = self.labels
        yield gauge("vllm:num_requests_running", "Requests in the running batch", engine.num_running, labels)
        yield gauge("vllm:num_requests_waiting", "Requests waiting in this engine", engine.num_waiting, labels)
        yield gauge("vllm:kv_cache_usage_perc", "KV-cache usage, 0..1", engine.kv_usage, labels)
        yield counter("vllm:num_preemptions", "Preempted sequences", engine.preemptions_total, labels)
        for histogram in (self.ttft, self.itl, self.e2e):
            yield histogram.family(labels)
        component = {"dynamo_component": self.role.value, "dynamo_endpoint": "generate"}
        yield gauge("dynamo_component_inflight_requests", "Requests held by this worker", engine.inflight, component)
        yield counter("dynamo_component_requests", "Requests this worker finished", self.requests_total, component)
        yield gauge("planner_tui_sim_worker_ready", "1 once the cold start is over", float(ready))
        loaded = min(1.0, age_s / cold_start_s) if cold_start_s > 0 else 1.0
        yield from dcgm_families(gpus, GpuLoad(self.busy_fraction(now), loaded, engine.kv_usage))


class FrontendMetrics:
    """The frontend's latency and size histograms and its exposition, read from the request book."""

    def __init__(self, model: str = "sim-model") -> None:
        self.model = model
        self.labels = {"model": model}
        self.ttft = Histogram("dynamo_frontend_time_to_first_token_seconds", "Time to first token", TTFT_BUCKETS)
        self.itl = Histogram("dynamo_frontend_inter_token_latency_seconds", "Inter-token latency", ITL_BUCKETS)
        self.duration = Histogram("dynamo_frontend_request_duration_seconds", "Request duration", DURATION_BUCKETS)
        self.isl = Histogram("dynamo_frontend_input_sequence_tokens", "Input sequence length", TOKEN_BUCKETS)
        self.osl = Histogram("dynamo_frontend_output_sequence_tokens", "Output sequence length", TOKEN_BUCKETS)

    def first_token(self, request: SimRequest, now: float) -> None:
        """A request's first token reached the frontend at ``now``."""
        self.ttft.observe(now - request.arrived_at)

    def completed(self, done: Completion) -> None:
        """A request left the graph."""
        self.duration.observe(done.duration_s)
        self.isl.observe(done.request.input_tokens)
        if done.ok:
            self.osl.observe(done.request.output_tokens)
            if done.itl_mean_s is not None:
                self.itl.observe(float(done.itl_mean_s), max(1, done.request.output_tokens - 1))

    def families(self, broker: Broker, *, target_rps: float, generation_lag_s: float) -> Iterable[Metric]:
        """The request-serving families (the frontend process adds its conservation gauges)."""
        labels = self.labels
        yield gauge(
            "dynamo_frontend_queued_requests",
            "Requests waiting for their first token",
            broker.awaiting_first_token,
            labels,
        )
        yield gauge("dynamo_frontend_inflight_requests", "Requests in flight", broker.in_flight, labels)
        total = CounterMetricFamily(
            "dynamo_frontend_requests",
            "Requests finished",
            labels=["endpoint", "request_type", "status", "model"],
        )
        total.add_metric(["chat_completions", "stream", "success", self.model], broker.succeeded)
        total.add_metric(["chat_completions", "stream", "error", self.model], broker.failed)
        yield total
        for histogram in (self.ttft, self.itl, self.duration, self.isl, self.osl):
            yield histogram.family(labels)
        last_ttft = GaugeMetricFamily(
            "dynamo_frontend_worker_last_time_to_first_token_seconds",
            "Last time to first token per worker",
            labels=["worker_id", "worker_type"],
        )
        for worker_id, lease in sorted(broker.workers.items()):
            if lease.last_ttft_s is not None:
                last_ttft.add_metric([worker_id, lease.role], lease.last_ttft_s)
        yield last_ttft
        queue_size = GaugeMetricFamily(
            "planner_tui_sim_queue_size", "Requests waiting in the frontend's queues", labels=["queue"]
        )
        for name in QUEUES:
            queue_size.add_metric([name], broker.queued(name))
        yield queue_size
        workers = GaugeMetricFamily("planner_tui_sim_workers", "Workers pulling work", labels=["role"])
        for role in ROLE_QUEUE:
            workers.add_metric([role], sum(1 for w in broker.workers.values() if w.role == role))
        yield workers
        yield counter("planner_tui_sim_requests_in", "Requests generated", broker.requests_in)
        yield counter("planner_tui_sim_requests_completed", "Requests completed (including errors)", broker.completed)
        yield gauge("planner_tui_sim_target_requests_per_second", "The load profile's rate now", target_rps)
        yield gauge("planner_tui_sim_generation_lag_seconds", "How far generation runs behind", generation_lag_s)
