"""The Collector over real replica processes: one Snapshot per interval, bounded, never stalled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from planner_tui.config import parse_graph
from planner_tui.metrics.collector import Collector
from planner_tui.metrics.endpoints import EndpointSignalSource
from planner_tui.metrics.gpu import NvmlGpuSource
from planner_tui.metrics.host import HostSource
from planner_tui.metrics.sources import Source, SourceReport, TickContext
from planner_tui.model import GpuOrigin, Signal, Snapshot
from tests.metrics.conftest import TargetProcess
from tests.metrics.connector_double import StaticConnector, component, replica
from tests.metrics.expositions import worker_text

DEMO_LIKE = """
namespace = "ns"
[resources]
gpus = [0, 1]
simulated_gpus = true
[metrics]
interval_s = 0.25
[components.decode]
role = "decode"
command = "worker"
gpus_per_replica = 1
max_replicas = 2
"""


async def next_snapshot(
    queue: asyncio.Queue[Snapshot], predicate: Callable[[Snapshot], bool], within: float = 20
) -> Snapshot:
    """The first Snapshot from ``queue`` satisfying ``predicate`` (fails after ``within`` seconds)."""
    async with asyncio.timeout(within):
        while True:
            snapshot = await queue.get()
            if predicate(snapshot):
                return snapshot


class HangingSource(Source):
    """A source that never answers until released (a hung exporter, a wedged driver)."""

    name = "hanging"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0

    async def collect(self, context: TickContext) -> SourceReport:
        self.started += 1
        await self.release.wait()
        return SourceReport()


class BlockingSource(Source):
    """A source that blocks the event loop (a bug), so ticks overrun."""

    name = "blocking"

    async def collect(self, context: TickContext) -> SourceReport:
        time.sleep(0.4)  # deliberately blocks the loop: this is what makes the tick late
        return SourceReport()


@pytest.fixture
def two_decode_replicas(
    start_target: Callable[..., TargetProcess],
) -> tuple[StaticConnector, TargetProcess, TargetProcess]:
    a = start_target(worker_text(kv=0.2, waiting=1, running=2, requests=10, ttft_fast=0, ttft_total=0, gpu=0))
    b = start_target(worker_text(kv=0.6, waiting=2, running=2, requests=10, ttft_fast=0, ttft_total=0, gpu=1))
    connector = StaticConnector(
        "ns",
        component(
            "decode",
            "decode",
            replica("decode", 0, pid=a.pid, metrics_url=a.url(), gpus=(0,)),
            replica("decode", 1, pid=b.pid, metrics_url=b.url(), gpus=(1,)),
        ),
    )
    return connector, a, b


async def test_snapshots_hold_states_signals_gpus_host_and_usage(
    two_decode_replicas: tuple[StaticConnector, TargetProcess, TargetProcess],
) -> None:
    connector, a, _b = two_decode_replicas
    collector = Collector(connector, parse_graph(DEMO_LIKE, "graph.toml"))
    assert not any(isinstance(s, NvmlGpuSource) for s in collector.sources)  # simulated GPUs: no NVML
    queue = collector.subscribe()
    collector.start()
    try:
        snapshot = await next_snapshot(queue, lambda s: s.signal("decode", Signal.REQUEST_RATE) is not None)
        assert snapshot.namespace == "ns" and snapshot.components["decode"].ready_replicas == 2
        kv = snapshot.signal("decode", Signal.KV_USAGE)
        assert kv is not None and kv.value == pytest.approx(0.4) and not kv.stale
        assert snapshot.replica_signal("decode", "decode-1", Signal.WAITING).value == 2  # type: ignore[union-attr]
        gpus = {g.index: g for g in snapshot.gpus}
        assert gpus[0].origin is GpuOrigin.SIMULATED and gpus[0].holders == ("decode-0",)
        assert gpus[1].holders == ("decode-1",)
        assert snapshot.host.memory_total_bytes and snapshot.host.load_average is not None
        usage = snapshot.usage["decode-0"]
        assert usage.rss_bytes and usage.rss_bytes > 1_000_000 and usage.threads and usage.threads >= 1
        assert collector.latest is snapshot or collector.latest.timestamp >= snapshot.timestamp  # type: ignore[union-attr]

        a.write(worker_text(kv=0.9, waiting=1, running=2, requests=10, ttft_fast=0, ttft_total=0, gpu=0))
        moved = await next_snapshot(queue, lambda s: s.signal("decode", Signal.KV_USAGE).value == pytest.approx(0.75))  # type: ignore[union-attr]
        history = collector.history.series("decode", Signal.KV_USAGE, window_s=60)
        assert history[-1] == (moved.timestamp, pytest.approx(0.75)) and (pytest.approx(0.4) in [v for _, v in history])
        assert collector.history.gpu_history(0, 60)[-1][1] == 63
    finally:
        await collector.stop()
    assert not collector.running


async def test_a_down_replica_stays_stale_and_is_reported(
    two_decode_replicas: tuple[StaticConnector, TargetProcess, TargetProcess],
) -> None:
    connector, _a, b = two_decode_replicas
    collector = Collector(connector, parse_graph(DEMO_LIKE, "graph.toml"))
    queue = collector.subscribe()
    collector.start()
    try:
        await next_snapshot(queue, lambda s: s.replica_signal("decode", "decode-1", Signal.KV_USAGE) is not None)
        b.stop()
        snapshot = await next_snapshot(queue, lambda s: any(e.startswith("decode-1: metrics") for e in s.errors))
        down = snapshot.replica_signal("decode", "decode-1", Signal.KV_USAGE)
        assert down is not None and down.stale and down.value == 0.6
        assert snapshot.signal("decode", Signal.KV_USAGE).stale  # type: ignore[union-attr]
        assert "decode-1" not in snapshot.usage  # its process is gone
    finally:
        await collector.stop()


async def test_a_hung_source_does_not_stall_the_tick_or_the_others(
    two_decode_replicas: tuple[StaticConnector, TargetProcess, TargetProcess],
) -> None:
    connector, _a, _b = two_decode_replicas
    hanging = HangingSource()
    collector = Collector(connector, None, interval_s=0.25, sources=[hanging, EndpointSignalSource(), HostSource()])
    queue = collector.subscribe()
    collector.start()
    try:
        first = await next_snapshot(queue, lambda s: s.signal("decode", Signal.KV_USAGE) is not None)
        later = await next_snapshot(queue, lambda s: s.timestamp >= first.timestamp + 0.7)
        assert any(e.startswith("hanging: no answer within") for e in later.errors)
        assert later.signal("decode", Signal.KV_USAGE).stale is False  # type: ignore[union-attr]
        assert hanging.started == 1  # never started again while the first call hangs
        started = time.perf_counter()
    finally:
        await collector.stop(timeout=2)
    assert time.perf_counter() - started < 4


async def test_a_hung_connector_keeps_the_last_state(
    two_decode_replicas: tuple[StaticConnector, TargetProcess, TargetProcess],
) -> None:
    connector, _a, _b = two_decode_replicas
    collector = Collector(connector, None, interval_s=0.25, sources=[HostSource()])
    queue = collector.subscribe()
    collector.start()
    try:
        await next_snapshot(queue, lambda s: "decode" in s.components)
        connector.hold = asyncio.Event()
        snapshot = await next_snapshot(queue, lambda s: any(e.startswith("connector: no answer") for e in s.errors))
        assert snapshot.components["decode"].desired_replicas == 2  # the last state, not an empty graph
        connector.hold.set()
        await next_snapshot(queue, lambda s: not s.errors)
    finally:
        await collector.stop()


async def test_late_ticks_are_counted_and_the_schedule_skips_ahead() -> None:
    connector = StaticConnector("ns")
    collector = Collector(connector, None, interval_s=0.25, sources=[BlockingSource()])
    queue = collector.subscribe()
    collector.start()
    try:
        snapshot = await next_snapshot(queue, lambda s: s.late_ticks >= 2)
        assert snapshot.late_ticks <= collector.ticks
    finally:
        await collector.stop()


async def test_nvml_gpus_name_their_replicas_and_processes(
    fake_nvml: Path, monkeypatch: pytest.MonkeyPatch, start_target: Callable[..., TargetProcess]
) -> None:
    worker = start_target(worker_text(kv=0.2, waiting=1, running=2, requests=10, ttft_fast=0, ttft_total=0))
    monkeypatch.setenv("FAKE_NVML_PROCESSES", f"1:{worker.pid}:4096;1:999999:100")
    connector = StaticConnector("ns", component("decode", "decode", replica("decode", 0, pid=worker.pid, gpus=(1,))))
    collector = Collector(connector, None, interval_s=0.25)
    assert any(isinstance(s, NvmlGpuSource) for s in collector.sources)
    try:
        snapshot = await collector.collect_once()
        snapshot = await collector.collect_once()
        gpus = {g.index: g for g in snapshot.gpus}
        assert set(gpus) == {0, 1} and gpus[1].origin is GpuOrigin.NVML and gpus[1].name == "Fake GPU 1"
        assert gpus[1].holders == ("decode-0",) and gpus[0].holders == ()
        assert {(p.pid, p.replica) for p in gpus[1].processes} == {(worker.pid, "decode-0"), (999999, None)}
        assert snapshot.usage["decode-0"].gpu_memory_mib == 4096
        assert snapshot.usage["decode-0"].cpu_percent is not None  # second reading of the real pid
        assert snapshot.gpu_status is None
    finally:
        await collector.stop()


async def test_without_nvml_the_snapshot_says_why(tmp_path: Path) -> None:
    from planner_tui.metrics import nvml

    nvml.use_library(tmp_path / "libnvidia-ml.so.1")
    connector = StaticConnector("ns")
    collector = Collector(connector, None)
    try:
        snapshot = await collector.collect_once()
        assert snapshot.gpus == ()
        assert snapshot.gpu_status is not None and snapshot.gpu_status.startswith("no NVIDIA GPU: cannot load NVML")
        assert snapshot.errors == ()  # not an error
    finally:
        await collector.stop()
        nvml.use_library(None)


async def test_a_slow_subscriber_gets_the_newest_snapshots() -> None:
    collector = Collector(StaticConnector("ns"), None, interval_s=0.25, sources=[])
    queue = collector.subscribe(maxsize=2)
    for _ in range(5):
        await collector.collect_once()
    assert queue.qsize() == 2
    assert queue.get_nowait().timestamp <= queue.get_nowait().timestamp == collector.latest.timestamp  # type: ignore[union-attr]
    collector.unsubscribe(queue)
    await collector.collect_once()
    assert queue.empty()


async def test_snapshots_iterator_and_interval_bounds() -> None:
    with pytest.raises(ValueError, match=r"at least 0\.25 s"):
        Collector(StaticConnector("ns"), None, interval_s=0.1)
    collector = Collector(StaticConnector("ns"), None, interval_s=0.25, sources=[])
    collector.start()
    try:
        seen = []
        async with asyncio.timeout(20):
            async for snapshot in collector.snapshots():
                seen.append(snapshot.timestamp)
                if len(seen) == 3:
                    break
        assert seen == sorted(seen) and seen[2] - seen[0] >= 0.4
    finally:
        await collector.stop()
