"""Serving signals scraped from real replica processes: per replica, per component, stale when down."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from planner_tui.config import parse_graph
from planner_tui.metrics.endpoints import EndpointSignalSource
from planner_tui.metrics.sources import TickContext
from planner_tui.model import GpuOrigin, Phase, Signal, SignalValue
from tests.metrics.conftest import TargetProcess
from tests.metrics.connector_double import component, replica
from tests.metrics.expositions import frontend_text, worker_text

T0 = 1_000_000.0


def by_key(values: tuple[SignalValue, ...], component: str = "decode") -> dict[tuple[Signal, str | None], SignalValue]:
    return {(v.signal, v.replica): v for v in values if v.component == component}


async def test_signals_per_replica_and_per_component(start_target: Callable[..., TargetProcess]) -> None:
    a = start_target(worker_text(kv=0.4, waiting=2, running=5, requests=100, ttft_fast=0, ttft_total=0, gpu=0))
    b = start_target(worker_text(kv=0.8, waiting=3, running=7, requests=100, ttft_fast=0, ttft_total=0, gpu=1))
    fe = start_target(frontend_text(queued=4, inflight=9, requests=50))
    states = {
        "decode": component(
            "decode",
            "decode",
            replica("decode", 0, pid=a.pid, metrics_url=a.url()),
            replica("decode", 1, pid=b.pid, metrics_url=b.url()),
        ),
        "frontend": component("frontend", "frontend", replica("frontend", 0, pid=fe.pid, metrics_url=fe.url())),
    }
    source = EndpointSignalSource()
    try:
        first = await source.collect(TickContext(T0, "ns", states))
        signals = by_key(first.signals)
        assert signals[(Signal.KV_USAGE, None)].value == pytest.approx(0.6)  # mean of 0.4 and 0.8
        assert signals[(Signal.WAITING, None)].value == 5  # summed
        assert signals[(Signal.INFLIGHT, None)].value == 12
        assert (Signal.REQUEST_RATE, None) not in signals  # a rate needs two scrapes
        assert by_key(first.replica_signals)[(Signal.KV_USAGE, "decode-1")].value == 0.8
        frontend = {v.signal: v.value for v in first.signals if v.component == "frontend"}
        assert frontend[Signal.QUEUE_DEPTH] == 4 and frontend[Signal.INFLIGHT] == 9
        gpus = {g.index: g for g in first.gpus or ()}
        assert set(gpus) == {0, 1} and all(g.origin is GpuOrigin.SIMULATED for g in gpus.values())
        assert gpus[1].memory_total_mib == 80000 and gpus[1].utilization_pct == 63

        a.write(worker_text(kv=0.4, waiting=2, running=5, requests=110, ttft_fast=8, ttft_total=10, gpu=0))
        b.write(worker_text(kv=0.8, waiting=3, running=7, requests=120, ttft_fast=0, ttft_total=10, gpu=1))
        fe.write(frontend_text(queued=4, inflight=9, requests=80))
        second = await source.collect(TickContext(T0 + 2, "ns", states))
        signals = {(v.component, v.signal): v.value for v in second.signals}
        assert signals[("decode", Signal.REQUEST_RATE)] == pytest.approx(5 + 10)  # per second, summed
        assert signals[("frontend", Signal.REQUEST_RATE)] == pytest.approx(15)
        # p95 of the merged histograms: 8 of 20 under 0.1 s, the rest under 1 s
        assert signals[("decode", Signal.TTFT_P95)] == pytest.approx(0.1 + 0.9 * (19 - 8) / 12)
        assert signals[("decode", Signal.TTFT_P50)] == pytest.approx(0.1 + 0.9 * (10 - 8) / 12)
        assert signals[("decode", Signal.TTFT_P99)] == pytest.approx(0.1 + 0.9 * (19.8 - 8) / 12)
        replicas = by_key(second.replica_signals)
        assert replicas[(Signal.TTFT_P95, "decode-0")].value == pytest.approx(0.1 + 0.9 * (9.5 - 8) / 2)
        assert all(not v.stale and v.timestamp == T0 + 2 for v in second.signals)
    finally:
        await source.close()


async def test_a_target_that_stops_answering_is_stale_not_zero(start_target: Callable[..., TargetProcess]) -> None:
    a = start_target(worker_text(kv=0.5, waiting=1, running=1, requests=1, ttft_fast=0, ttft_total=0))
    b = start_target(worker_text(kv=0.9, waiting=4, running=1, requests=1, ttft_fast=0, ttft_total=0))
    decode = component(
        "decode",
        "decode",
        replica("decode", 0, pid=a.pid, metrics_url=a.url()),
        replica("decode", 1, pid=b.pid, metrics_url=b.url()),
    )
    source = EndpointSignalSource()
    try:
        await source.collect(TickContext(T0, "ns", {"decode": decode}))
        b.stop()
        report = await source.collect(TickContext(T0 + 1, "ns", {"decode": decode}))
        down = by_key(report.replica_signals)[(Signal.KV_USAGE, "decode-1")]
        assert down.stale and down.value == 0.9 and down.timestamp == T0  # the last known value, when known
        up = by_key(report.replica_signals)[(Signal.KV_USAGE, "decode-0")]
        assert not up.stale and up.timestamp == T0 + 1
        aggregate = by_key(report.signals)[(Signal.KV_USAGE, None)]
        assert aggregate.stale and aggregate.value == pytest.approx(0.7)
        assert any(e.startswith(f"decode-1: metrics {b.url()}: cannot connect") for e in report.errors)
    finally:
        await source.close()


async def test_starting_and_crashed_replicas_are_not_scraped(start_target: Callable[..., TargetProcess]) -> None:
    a = start_target(worker_text(kv=0.5, waiting=1, running=1, requests=1, ttft_fast=0, ttft_total=0))
    decode = component(
        "decode",
        "decode",
        replica("decode", 0, pid=a.pid, metrics_url=a.url(), phase=Phase.STARTING),
        replica("decode", 1, metrics_url="http://127.0.0.1:9/metrics", phase=Phase.CRASHED),
    )
    source = EndpointSignalSource()
    try:
        report = await source.collect(TickContext(T0, "ns", {"decode": decode}))
        assert report.replica_signals == () and report.errors == ()
    finally:
        await source.close()


async def test_graph_overrides_pick_other_metric_names(start_target: Callable[..., TargetProcess]) -> None:
    target = start_target("# TYPE engine_kv gauge\nengine_kv 0.33\n")
    graph = parse_graph(
        """
namespace = "ns"
[components.decode]
role = "decode"
command = "worker"
signals = { kv_usage = "engine_kv" }
""",
        "graph.toml",
    )
    decode = component("decode", "decode", replica("decode", 0, pid=target.pid, metrics_url=target.url()))
    source = EndpointSignalSource(graph=graph)
    try:
        report = await source.collect(TickContext(T0, "ns", {"decode": decode}))
        assert by_key(report.signals)[(Signal.KV_USAGE, None)].value == 0.33
    finally:
        await source.close()
