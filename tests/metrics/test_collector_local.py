"""The Collector over the real LocalConnector: circus-run replicas serving metrics on their ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from planner_tui.connectors.local import LocalConnector
from planner_tui.metrics.collector import Collector
from planner_tui.model import GpuOrigin, Phase, Signal, Snapshot
from tests.metrics.local_graph import decode_graph, start_graph, stop_graph


async def next_snapshot(
    queue: asyncio.Queue[Snapshot], predicate: Callable[[Snapshot], bool], within: float = 30
) -> Snapshot:
    async with asyncio.timeout(within):
        while True:
            snapshot = await queue.get()
            if predicate(snapshot):
                return snapshot


@pytest.fixture
async def local_decode(tmp_path: Path, isolated_dirs: Path) -> AsyncIterator[LocalConnector]:
    graph = decode_graph("mcollect", tmp_path)
    connector = await start_graph(graph)
    yield connector
    await stop_graph(graph.namespace, isolated_dirs / "state")


def all_ready(count: int) -> Callable[[Snapshot], bool]:
    def check(snapshot: Snapshot) -> bool:
        state = snapshot.components.get("decode")
        return (
            state is not None
            and state.ready_replicas == count == len(state.replicas)
            and all(snapshot.replica_signal("decode", r.name, Signal.KV_USAGE) is not None for r in state.replicas)
        )

    return check


async def test_collector_reads_the_local_graph(local_decode: LocalConnector) -> None:
    collector = Collector(local_decode, local_decode.graph)
    queue = collector.subscribe()
    collector.start()
    try:
        snapshot = await next_snapshot(queue, all_ready(2))
        replicas = {r.name: r for r in snapshot.components["decode"].replicas}
        assert set(replicas) == {"decode-0", "decode-1"} and all(r.phase is Phase.READY for r in replicas.values())
        kv = snapshot.signal("decode", Signal.KV_USAGE)
        assert kv is not None and kv.value == pytest.approx((0.2 + 0.6) / 2)
        assert snapshot.signal("decode", Signal.WAITING).value == 1 + 2  # type: ignore[union-attr]
        for name, state in replicas.items():  # the real pids circus runs
            assert state.pid is not None and snapshot.usage[name].rss_bytes
        gpus = [g for g in snapshot.gpus if g.origin is GpuOrigin.SIMULATED]
        held = {g.index: g.holders for g in gpus}
        for name, state in replicas.items():
            (index,) = state.gpus
            assert held[index] == (name,)  # the connector's assignment, on the simulated GPU of that index

        await local_decode.scale_component("decode", 1)
        shrunk = await next_snapshot(queue, all_ready(1))
        assert {v.replica for v in shrunk.replica_signals} == {"decode-0"}
        assert shrunk.signal("decode", Signal.KV_USAGE).value == pytest.approx(0.2)  # type: ignore[union-attr]
        assert "decode-1" not in shrunk.usage
    finally:
        await collector.stop()
