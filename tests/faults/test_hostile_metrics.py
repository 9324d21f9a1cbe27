"""Fault injection: hostile metrics endpoints on 127.0.0.1 against a real collector and planner runner.

A replica's endpoint answers garbage, a 60 MB body, a chunked body that never ends, one byte every
50 ms, nothing at all, a text that is not an exposition, one huge line, or +Inf/NaN/negative values.
Whatever it does: the collector neither crashes nor stalls (every tick keeps its interval, memory
stays bounded), the replica stays in the Snapshot (stale, or invalid for out-of-domain values), its
error names it, and the planner never scales on it.
"""

from __future__ import annotations

import asyncio
import itertools
import resource
from collections.abc import Iterator
from typing import Any

import pytest

from planner_tui.config import parse_graph
from planner_tui.metrics.collector import Collector
from planner_tui.model import Signal, Snapshot
from planner_tui.model.decisions import Decision, Verdict
from planner_tui.model.scaling import TargetReplica
from planner_tui.planner.engine import EngineConfig
from planner_tui.planner.runner import PlannerRunner
from tests.metrics.connector_double import StaticConnector, component, replica
from tests.metrics.expositions import worker_text
from tests.metrics.hostile_targets import HostileServer

GRAPH = """
namespace = "ns"
[metrics]
interval_s = 0.5
scrape_timeout_s = 0.3
[planner]
adjustment_interval_s = 0.5
scale_down_stabilization_s = 0
decode_scale_down_grace_intervals = 0
[components.decode]
role = "decode"
command = "worker"
max_replicas = 16
"""
INTERVAL_S = 0.5
MiB = 1024 * 1024
LOW = worker_text(kv=0.1, waiting=0, running=1, requests=10, ttft_fast=0, ttft_total=0)
BAD_VALUES = """\
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m"} +Inf
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} -5
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} NaN
"""
#: path -> what its error says
HOSTILE = {
    "/garbage": "unparseable metrics",
    "/html": "unparseable metrics",
    "/line": "unparseable metrics",
    "/huge": f"body of {60 * MiB} bytes is over the limit of {4 * MiB} bytes (raise metrics.max_body_bytes)",
    "/forever": "no Content-Length; raise metrics.max_body_bytes",
    "/drip": "timed out",
    "/hang": "timed out",
}


class RecordingConnector(StaticConnector):
    """The static graph; every scaling call is recorded (and changes nothing)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.applied: list[list[TargetReplica]] = []

    async def set_component_replicas(self, targets: list[TargetReplica], blocking: bool = False) -> None:
        self.applied.append(list(targets))


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer(huge_bytes=60 * MiB).start()
    server.set_text("/ok", LOW)
    server.set_text("/ok2", LOW)
    server.set_text("/inf", BAD_VALUES)
    yield server
    server.stop()


async def take(queue: asyncio.Queue[Snapshot], count: int) -> list[Snapshot]:
    snapshots = []
    async with asyncio.timeout(30):
        while len(snapshots) < count:
            snapshots.append(await queue.get())
    return snapshots


async def test_the_collector_survives_every_hostile_target(hostile: HostileServer) -> None:
    paths = ["/ok", *HOSTILE, "/inf"]
    connector = StaticConnector(
        "ns",
        component("decode", "decode", *(replica("decode", i, metrics_url=hostile.url(p)) for i, p in enumerate(paths))),
    )
    collector = Collector(connector, parse_graph(GRAPH, "graph.toml"))
    queue = collector.subscribe()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    collector.start()
    try:
        snapshots = await take(queue, 5)
    finally:
        await collector.stop(timeout=2)
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    assert rss_growth < 64 * MiB  # a 60 MB body and a never-ending one cost the process next to nothing
    assert collector.late_ticks == 0 and not collector.running
    stamps = [s.timestamp for s in snapshots]
    assert max(b - a for a, b in itertools.pairwise(stamps)) < 2 * INTERVAL_S
    last = snapshots[-1]
    for index, path in enumerate(paths):
        value = last.replica_signal("decode", f"decode-{index}", Signal.KV_USAGE)
        assert value is not None, f"{path}: its replica vanished from the Snapshot"
        if path in HOSTILE:
            assert value.stale, path
            errors = [e for e in last.errors if e.startswith(f"decode-{index}: metrics {hostile.url(path)}: ")]
            assert len(errors) == 1 and HOSTILE[path] in errors[0], (path, last.errors)
    good = last.replica_signal("decode", "decode-0", Signal.KV_USAGE)
    assert good is not None and not good.stale and good.value == pytest.approx(0.1)
    # +Inf: never a load, and shown as invalid whenever it is read (on a loaded machine one tick's
    # scrape of it can time out behind the hostile ones: that tick shows it stale, not invalid)
    bads = [s.replica_signal("decode", f"decode-{len(paths) - 1}", Signal.KV_USAGE) for s in snapshots]
    assert all(b is not None and (b.value is None or b.invalid is not None) for b in bads), bads
    assert any(b is not None and b.invalid is not None and not b.stale for b in bads), bads
    assert last.signal("decode", Signal.KV_USAGE).stale  # type: ignore[union-attr]
    assert hostile.sent.get("/huge", 0) < 16 * MiB and hostile.sent.get("/forever", 0) < 16 * MiB * 5


async def run_planner(connector: RecordingConnector, decisions: int) -> list[Decision]:
    graph = parse_graph(GRAPH, "graph.toml")
    collector = Collector(connector, graph)
    runner = PlannerRunner(connector, EngineConfig.of(graph), lambda: collector.latest)
    made: list[Decision] = []
    enough = asyncio.Event()

    def listen(decision: Decision) -> None:
        made.append(decision)
        if len(made) >= decisions:
            enough.set()

    runner.add_listener(listen)
    await collector.collect_once()
    collector.start()
    runner.start()
    try:
        async with asyncio.timeout(30):
            await enough.wait()
    finally:
        await runner.stop(timeout=2)
        await collector.stop(timeout=2)
    assert not runner.running and not collector.running
    return made


def two_replicas(hostile: HostileServer, second: str) -> RecordingConnector:
    return RecordingConnector(
        "ns",
        component(
            "decode",
            "decode",
            replica("decode", 0, metrics_url=hostile.url("/ok")),
            replica("decode", 1, metrics_url=hostile.url(second)),
        ),
    )


async def test_two_quiet_replicas_are_scaled_down(hostile: HostileServer) -> None:
    """The control: with both replicas answering a low load, this planner does scale down."""
    connector = two_replicas(hostile, "/ok2")
    await run_planner(connector, 3)
    assert connector.applied and connector.applied[0][0].desired_replicas == 1


@pytest.mark.parametrize("path", ["/garbage", "/huge", "/drip", "/hang", "/inf"])
async def test_nothing_is_scaled_on_a_hostile_replica(hostile: HostileServer, path: str) -> None:
    connector = two_replicas(hostile, path)
    decisions = await run_planner(connector, 3)
    assert connector.applied == []  # the planner held: the one replica that answered is not the component
    for decision in decisions:
        decode = decision.for_component("decode")
        assert decode is not None and decode.verdict is Verdict.INSUFFICIENT_DATA and decode.target == 2
