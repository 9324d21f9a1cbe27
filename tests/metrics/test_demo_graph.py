"""The collector on the simulated demo graph (real sim processes under the local connector)."""

from __future__ import annotations

import asyncio
import os
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from planner_tui.config import GraphConfig, demo_graph_path, validate_graph
from planner_tui.connectors.local import LocalConnector
from planner_tui.metrics.collector import Collector
from planner_tui.model import GpuOrigin, Signal, Snapshot
from tests.metrics.local_graph import stop_graph


def demo_copy(namespace: str) -> GraphConfig:
    """The embedded demo with its own namespace and ports (tests run side by side)."""
    data = tomllib.loads(demo_graph_path().read_text())
    base = 43000 + (os.getpid() * 17) % 9000
    data["namespace"] = namespace
    data["resources"]["port_range"] = [base + 1, base + 60]
    data["components"]["frontend"]["port"] = base
    return validate_graph(data)


@pytest.fixture
async def demo(isolated_dirs: Path) -> AsyncIterator[LocalConnector]:
    graph = demo_copy("mdemo")
    connector = await LocalConnector.create(graph.namespace, graph=graph)
    yield connector
    await stop_graph(graph.namespace, isolated_dirs / "state")


def serving(snapshot: Snapshot) -> bool:
    rate = snapshot.signal("frontend", Signal.REQUEST_RATE)
    kv = snapshot.signal("decode", Signal.KV_USAGE)
    return rate is not None and (rate.value or 0) > 0 and kv is not None and len(snapshot.gpus) >= 2


async def test_the_demo_serves_every_preset_signal_and_simulated_gpus(demo: LocalConnector) -> None:
    collector = Collector(demo, demo.graph)
    queue = collector.subscribe()
    collector.start()
    try:
        async with asyncio.timeout(90):
            while not serving(snapshot := await queue.get()):
                pass
        frontend = {v.signal for v in snapshot.signals if v.component == "frontend"}
        assert {Signal.QUEUE_DEPTH, Signal.INFLIGHT, Signal.REQUEST_RATE} <= frontend
        decode = {v.signal for v in snapshot.signals if v.component == "decode"}
        assert {Signal.KV_USAGE, Signal.WAITING, Signal.INFLIGHT} <= decode
        assert all(g.origin is GpuOrigin.SIMULATED and g.simulated for g in snapshot.gpus)  # never real GPUs
        holders = {holder for g in snapshot.gpus for holder in g.holders}
        assert {"prefill-0", "decode-0"} <= holders
        assert snapshot.gpu_status is None  # no NVML query for a simulated graph
    finally:
        await collector.stop()
