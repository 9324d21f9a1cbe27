"""The exporter serves the upstream planner gauges on loopback."""

from __future__ import annotations

import math
import socket

import httpx
from prometheus_client.parser import text_string_to_metric_families

from planner_tui.model import Signal
from planner_tui.planner import PlannerState, decide
from planner_tui.planner.exporter import PlannerExporter
from tests.planner.builders import component, graph_state, make_graph, snapshot

INF = math.inf


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_exporter_serves_upstream_gauges_on_loopback() -> None:
    port = free_port()
    graph = make_graph(planner={"exporter_port": port})
    exporter = PlannerExporter(graph)
    assert exporter.host == "127.0.0.1"
    exporter.start()
    try:
        comps = graph_state(graph) | {"decode": component(graph, "decode", 2)}
        values = {("decode", Signal.KV_USAGE): [0.95, 0.95], ("prefill", Signal.QUEUE_DEPTH): [1.0]}
        aggregates = {("frontend", Signal.REQUEST_RATE): 12.5, ("frontend", Signal.TTFT_P95): 0.25}
        first = snapshot(graph, 1000.0, comps, values, aggregates)
        later = snapshot(graph, 1000.0 + 1800, comps, values, aggregates)
        exporter.update_snapshot(first)
        exporter.update_snapshot(later)  # 3 GPUs for half an hour
        exporter.update_decision(decide(later, PlannerState(), graph, 2800.0))
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        exporter.stop()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("dynamo_planner_num_prefill_replicas", ())] == 1
    assert samples[("dynamo_planner_num_decode_replicas", ())] == 2  # pending, not applied yet
    assert samples[("dynamo_planner_predicted_num_decode_replicas", ())] == 3
    decision = "dynamo_planner_load_scaling_decision"
    assert samples[(decision, ((decision, "scale_up"),))] == 1
    assert samples[(decision, ((decision, "no_change"),))] == 0
    assert samples[("dynamo_planner_observed_requests_per_second", ())] == 12.5
    assert samples[("dynamo_planner_observed_ttft_ms", ())] == 250
    assert samples[("dynamo_planner_gpu_hours", ())] == 1.5
    assert samples[("planner_tui_component_replicas", (("component", "decode"), ("kind", "target")))] == 3


def test_exporter_is_off_by_default() -> None:
    assert make_graph().planner.exporter_port is None


def test_invalid_observed_values_are_not_exported() -> None:
    graph = make_graph()
    exporter = PlannerExporter(graph)
    comps = graph_state(graph)
    exporter.update_snapshot(snapshot(graph, 1000.0, comps, aggregates={("frontend", Signal.REQUEST_RATE): 12.5}))
    exporter.update_snapshot(snapshot(graph, 1001.0, comps, aggregates={("frontend", Signal.REQUEST_RATE): INF}))
    exporter.update_snapshot(snapshot(graph, 1002.0, comps, aggregates={("frontend", Signal.REQUEST_RATE): -4.0}))
    assert exporter.registry.get_sample_value("dynamo_planner_observed_requests_per_second") == 12.5
