"""The planner's own Prometheus gauges, with the upstream Dynamo names, on a loopback port.

Off by default; ``[planner] exporter_port = 9085`` turns it on. Served by prometheus_client from its
own registry on 127.0.0.1, so nothing else in the process leaks into it. prometheus_client is imported
only when an exporter is made, so a process with the exporter off never loads it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from planner_tui.config.graph import GraphConfig
from planner_tui.config.rules import gpus_needed
from planner_tui.model.decisions import Decision, Outcome, Verdict
from planner_tui.model.signals import Signal
from planner_tui.model.snapshot import Snapshot

log = logging.getLogger(__name__)

#: the upstream states of ``dynamo_planner_load_scaling_decision``, in order
SCALING_STATES = [v.value for v in Verdict]


def overall_verdict(decision: Decision) -> Verdict:
    """One verdict for the whole tick: any scale-up, else any scale-down, else the most telling hold."""
    verdicts = [c.verdict for c in decision.components if c.target != c.current] or [
        c.verdict for c in decision.components
    ]
    for verdict in (
        Verdict.SCALE_UP,
        Verdict.SCALE_DOWN,
        Verdict.SCALING_IN_PROGRESS,
        Verdict.INSUFFICIENT_DATA,
    ):
        if verdict in verdicts:
            return verdict
    return Verdict.NO_CHANGE


class PlannerExporter:
    """Gauges updated from each Decision and Snapshot; :meth:`start` serves them on ``host:port``."""

    def __init__(self, graph: GraphConfig, port: int | None = None, host: str = "127.0.0.1") -> None:
        from prometheus_client import CollectorRegistry, Counter, Enum, Gauge  # only when the exporter is on

        self.graph = graph
        self.port = port if port is not None else graph.planner.exporter_port
        self.host = host
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.num_prefill = Gauge("dynamo_planner_num_prefill_replicas", "Prefill replicas", registry=r)
        self.num_decode = Gauge("dynamo_planner_num_decode_replicas", "Decode replicas", registry=r)
        self.decision_state = Enum(
            "dynamo_planner_load_scaling_decision", "Last scaling decision", states=SCALING_STATES, registry=r
        )
        self.gpu_hours = Gauge("dynamo_planner_gpu_hours", "GPU hours used by the graph so far", registry=r)
        self.observed_ttft = Gauge("dynamo_planner_observed_ttft_ms", "Observed TTFT p95 (ms)", registry=r)
        self.observed_itl = Gauge("dynamo_planner_observed_itl_ms", "Observed ITL p95 (ms)", registry=r)
        self.observed_rps = Gauge("dynamo_planner_observed_requests_per_second", "Observed request rate", registry=r)
        self.predicted_rps = Gauge("dynamo_planner_predicted_requests_per_second", "Predicted request rate", registry=r)
        self.predicted_prefill = Gauge(
            "dynamo_planner_predicted_num_prefill_replicas", "Prefill replicas the planner wants", registry=r
        )
        self.predicted_decode = Gauge(
            "dynamo_planner_predicted_num_decode_replicas", "Decode replicas the planner wants", registry=r
        )
        self.component_replicas = Gauge(
            "planner_tui_component_replicas", "Replicas per component", ["component", "kind"], registry=r
        )
        self.decisions_total = Counter(
            "planner_tui_decisions", "Component decisions by outcome", ["outcome"], registry=r
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._last_snapshot_at: float | None = None
        self._gpu_hours = 0.0

    # -- serving -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Serve ``/metrics`` on ``host:port`` (OSError when the port is taken)."""
        if self.port is None:
            raise ValueError("the exporter needs a port: set planner.exporter_port")
        if self._server is None:
            from prometheus_client import start_http_server

            self._server, self._thread = start_http_server(self.port, addr=self.host, registry=self.registry)
            log.info("planner exporter on http://%s:%d/metrics", self.host, self.port)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving (bounded)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # -- updates -----------------------------------------------------------------------------------
    def _kind(self, component: str) -> str | None:
        comp = self.graph.components.get(component)
        return comp.effective_sub_component_type if comp is not None else None

    def update_decision(self, decision: Decision) -> None:
        """Set the replica, decision and prediction gauges from ``decision``."""
        self.decision_state.state(overall_verdict(decision).value)
        counts = {"prefill": 0, "decode": 0}
        wanted = {"prefill": 0.0, "decode": 0.0}
        seen: set[str] = set()
        for c in decision.components:
            self.decisions_total.labels(c.outcome.value).inc()
            now_count = c.target if c.outcome in (Outcome.APPLIED, Outcome.PINNED) else c.current
            self.component_replicas.labels(c.component, "current").set(now_count)
            self.component_replicas.labels(c.component, "desired").set(c.desired)
            self.component_replicas.labels(c.component, "target").set(c.target)
            predicted = dict(c.predicted)
            if "request_rate" in predicted:
                self.predicted_rps.set(predicted["request_rate"])
            kind = self._kind(c.component)
            if kind in counts:
                seen.add(kind)
                counts[kind] += now_count
                wanted[kind] += predicted.get("replicas", float(c.target))
        if "prefill" in seen:
            self.num_prefill.set(counts["prefill"])
            self.predicted_prefill.set(wanted["prefill"])
        if "decode" in seen:
            self.num_decode.set(counts["decode"])
            self.predicted_decode.set(wanted["decode"])

    def update_snapshot(self, snapshot: Snapshot) -> None:
        """Set the observed gauges and add the GPU time since the previous Snapshot."""
        for name, comp in self.graph.components.items():
            if comp.role.value != "frontend":
                continue
            for signal, gauge, factor in (
                (Signal.REQUEST_RATE, self.observed_rps, 1.0),
                (Signal.TTFT_P95, self.observed_ttft, 1000.0),
                (Signal.ITL_P95, self.observed_itl, 1000.0),
            ):
                value = snapshot.signal(name, signal)
                if value is not None and value.value is not None and not value.stale and value.invalid is None:
                    gauge.set(value.value * factor)  # an invalid value (+Inf, negative) is not an observation
        # GPUs in use: the budget's arithmetic at the current (not desired) counts
        gpus = gpus_needed(self.graph, {name: state.current_replicas for name, state in snapshot.components.items()})
        if self._last_snapshot_at is not None and snapshot.timestamp > self._last_snapshot_at:
            self._gpu_hours += gpus * (snapshot.timestamp - self._last_snapshot_at) / 3600.0
            self.gpu_hours.set(self._gpu_hours)
        self._last_snapshot_at = snapshot.timestamp
