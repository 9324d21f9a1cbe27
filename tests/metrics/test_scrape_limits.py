"""Issue 11 items 12 and 13: a late or refused scrape leaves its replica stale (never absent), and every
scrape is bounded in memory (body and series caps, no layout for long texts) and in time."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest
from pydantic import ValidationError

from planner_tui.config import parse_graph
from planner_tui.config.planner_settings import MetricsSettings
from planner_tui.metrics.collector import Collector
from planner_tui.metrics.endpoints import EndpointSignalSource
from planner_tui.metrics.exposition import (
    MAX_LINE,
    LineTooLong,
    ParseAbandoned,
    TooManySeries,
    parse_exposition,
    parse_fast,
    parse_with_prometheus_client,
)
from planner_tui.metrics.exposition_layout import TargetParser
from planner_tui.metrics.scrape import Scraper
from planner_tui.metrics.sources import SourceReport, TickContext
from planner_tui.model import Signal, Snapshot
from planner_tui.model.decisions import Verdict
from planner_tui.planner.engine import decide
from planner_tui.planner.state import PlannerState
from tests.metrics.conftest import TargetProcess
from tests.metrics.connector_double import StaticConnector, component, replica
from tests.metrics.expositions import worker_text
from tests.metrics.hostile_targets import HostileServer

GRAPH = """
namespace = "ns"
[metrics]
interval_s = 1.0
scrape_timeout_s = 0.5
[planner]
scale_down_stabilization_s = 0
[components.decode]
role = "decode"
command = "worker"
max_replicas = 4
"""
MiB = 1024 * 1024


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer().start()
    yield server
    server.stop()


def low_load() -> str:
    return worker_text(kv=0.1, waiting=0, running=1, requests=10, ttft_fast=0, ttft_total=0)


def two_replicas(good_url: str, bad_url: str) -> StaticConnector:
    return StaticConnector(
        "ns",
        component(
            "decode",
            "decode",
            replica("decode", 0, metrics_url=good_url),
            replica("decode", 1, metrics_url=bad_url),
        ),
    )


def assert_stale_and_held(snapshot: Snapshot, graph_text: str = GRAPH) -> None:
    """decode-1 is in the Snapshot, stale; the aggregate is stale; the planner holds decode at 2."""
    fresh = snapshot.replica_signal("decode", "decode-0", Signal.KV_USAGE)
    assert fresh is not None and not fresh.stale and fresh.value == pytest.approx(0.1)
    late = snapshot.replica_signal("decode", "decode-1", Signal.KV_USAGE)
    assert late is not None and late.stale  # present, never absent
    aggregate = snapshot.signal("decode", Signal.KV_USAGE)
    assert aggregate is not None and aggregate.stale
    decision = decide(snapshot, PlannerState(), parse_graph(graph_text, "graph.toml"), snapshot.timestamp)
    decode = decision.for_component("decode")
    assert decode is not None and decode.verdict is Verdict.INSUFFICIENT_DATA and decode.target == 2


async def test_a_replica_late_on_its_first_scrape_is_stale_not_absent(
    hostile: HostileServer, start_target: Callable[..., TargetProcess]
) -> None:
    good = start_target(low_load())
    connector = two_replicas(good.url(), hostile.url("/hang"))
    collector = Collector(connector, parse_graph(GRAPH, "graph.toml"))
    try:
        started = time.perf_counter()
        snapshot = await collector.collect_once()
        assert time.perf_counter() - started < collector.interval_s
        assert any(e.startswith("decode-1: metrics") and "timed out" in e for e in snapshot.errors)
        assert_stale_and_held(snapshot)
    finally:
        await collector.stop(timeout=2)


@pytest.mark.parametrize("size_mib", [6, 60])
async def test_a_body_over_the_cap_is_refused_in_bounded_memory(hostile: HostileServer, size_mib: int) -> None:
    hostile.huge_bytes = size_mib * MiB
    url = hostile.url("/huge")
    scraper = Scraper()
    tracemalloc.start()
    try:
        result = (await scraper.scrape([url], timeout=10, concurrency=1))[url]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await scraper.close()
    assert not result.ok and result.error is not None
    assert f"{size_mib * MiB} bytes" in result.error and "max_body_bytes" in result.error
    assert peak < 16 * MiB  # the default cap is 4 MiB: the body is refused from its Content-Length
    assert hostile.sent.get("/huge", 0) < 16 * MiB


async def test_a_never_ending_chunked_body_stops_at_the_cap(hostile: HostileServer) -> None:
    url = hostile.url("/forever")
    scraper = Scraper(max_body_bytes=MiB)
    try:
        result = (await scraper.scrape([url], timeout=10, concurrency=1))[url]
    finally:
        await scraper.close()
    assert not result.ok and "max_body_bytes" in (result.error or "") and "1048576" in (result.error or "")


def many_series(count: int) -> str:
    return "# TYPE filler gauge\n" + "".join(f'filler{{s="{i}"}} 1\n' for i in range(count))


async def test_an_exposition_over_the_series_cap_is_refused(hostile: HostileServer) -> None:
    url = hostile.set_text("/text", low_load() + many_series(120_000))
    scraper = Scraper()
    try:
        result = (await scraper.scrape([url], timeout=10, concurrency=1))[url]
    finally:
        await scraper.close()
    assert not result.ok and "max_series" in (result.error or "") and "50000" in (result.error or "")


async def test_a_replica_refused_for_size_is_stale_with_an_error_naming_the_cap(
    hostile: HostileServer, start_target: Callable[..., TargetProcess]
) -> None:
    good = start_target(low_load())
    graph_text = GRAPH.replace("[planner]", "max_body_bytes = 1048576\n[planner]")
    graph = parse_graph(graph_text, "graph.toml")
    assert graph.metrics.max_body_bytes == MiB
    connector = two_replicas(good.url(), hostile.url("/huge"))
    collector = Collector(connector, graph)
    try:
        snapshot = await collector.collect_once()
        errors = [e for e in snapshot.errors if e.startswith("decode-1: metrics")]
        assert len(errors) == 1 and hostile.url("/huge") in errors[0]
        assert str(60 * MiB) in errors[0] and "metrics.max_body_bytes" in errors[0]
        assert_stale_and_held(snapshot, graph_text)
    finally:
        await collector.stop(timeout=2)


def test_no_layout_is_built_for_a_long_text() -> None:
    text = low_load() + many_series(20_000)  # ~400 KB: its layout pattern would take ~40 MB to compile
    parser = TargetParser()
    for _ in range(3):
        assert len(parser.read(text).samples) > 20_000
        assert parser.compiling is None
    small = TargetParser()
    small.read(low_load())
    assert small.read(low_load()).layout is not None  # short texts still reuse their layout


async def test_a_slow_drip_target_does_not_delay_the_tick(
    hostile: HostileServer, start_target: Callable[..., TargetProcess]
) -> None:
    good = start_target(low_load())
    connector = two_replicas(good.url(), hostile.url("/drip"))
    collector = Collector(connector, parse_graph(GRAPH, "graph.toml"))
    queue = collector.subscribe()
    collector.start()
    try:
        stamps = []
        async with asyncio.timeout(20):
            while len(stamps) < 4:
                snapshot = await queue.get()
                stamps.append(snapshot.timestamp)
        assert collector.late_ticks == 0
        assert max(b - a for a, b in itertools.pairwise(stamps)) < 1.5
        assert_stale_and_held(snapshot)
    finally:
        await collector.stop(timeout=2)


def test_the_caps_are_validated() -> None:
    settings = MetricsSettings()
    assert settings.max_body_bytes == 4 * MiB and settings.max_series == 50_000
    for bad in ({"max_body_bytes": 0}, {"max_body_bytes": 2**40}, {"max_series": 0}, {"max_series": True}):
        with pytest.raises(ValidationError):
            MetricsSettings.model_validate(bad)
    source = EndpointSignalSource(MetricsSettings(max_body_bytes=MiB, max_series=10))
    assert source.settings.max_series == 10


def test_a_long_text_read_in_pieces_gives_the_reference_samples() -> None:
    text = low_load() + "# TYPE c counter\nc_total 3\n" + many_series(30_000)  # ~600 KB: some 10 pieces
    assert len(text) > 8 * 64 * 1024
    fast = parse_fast(text)
    assert fast is not None and fast == parse_with_prometheus_client(text)
    with pytest.raises(TooManySeries, match="more than 1000 series"):
        parse_fast(text, max_series=1000)
    with pytest.raises(TooManySeries):
        parse_with_prometheus_client(text, max_series=1000)
    stop = threading.Event()
    stop.set()
    with pytest.raises(ParseAbandoned):
        parse_fast(text, stop=stop)
    with pytest.raises(ParseAbandoned):
        parse_with_prometheus_client(text, stop=stop)
    with pytest.raises(LineTooLong):
        parse_exposition("a" * (MAX_LINE + 1))


async def test_a_long_body_is_parsed_off_the_loop_with_the_same_samples(hostile: HostileServer) -> None:
    text = low_load() + many_series(30_000)
    url = hostile.set_text("/text", text)
    scraper = Scraper()
    try:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:  # the loop keeps turning while the text is parsed
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        result = (await scraper.scrape([url], timeout=20, concurrency=1))[url]
        done.set()
        await task
    finally:
        await scraper.close()
    assert result.ok and result.samples == parse_exposition(text)
    assert ticks >= 2


async def test_a_parse_past_the_deadline_is_abandoned(hostile: HostileServer) -> None:
    # escaped label values: the reference parser's path, ~0.5 s per MB (the fast path takes ~0.15 s)
    text = "".join(f'm{{a="v\\\\{i}"}} 1\n' for i in range(45_000))
    url = hostile.set_text("/text", text)
    scraper = Scraper()
    try:
        started = time.perf_counter()
        result = (await scraper.scrape([url], timeout=0.2, concurrency=1))[url]
        assert time.perf_counter() - started < 1.0
        assert not result.ok and result.error == "timed out after 0.2 s (parsing a long exposition)"
        # the worker thread gives up at its next piece: it is free again well before the parse would end
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(1.0):
            await loop.run_in_executor(scraper._parse_executor(), lambda: None)
    finally:
        await scraper.close()


class WedgedEndpoints(EndpointSignalSource):
    """The endpoint source with a scrape that never returns (a bug, a wedged loop callback)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def collect(self, context: TickContext) -> SourceReport:
        await self.release.wait()
        return SourceReport()


async def test_a_late_scrape_source_on_the_first_tick_leaves_every_replica_stale(hostile: HostileServer) -> None:
    source = WedgedEndpoints()
    connector = two_replicas(hostile.set_text("/ok", low_load()), hostile.url("/hang"))
    collector = Collector(connector, None, interval_s=0.5, sources=[source])
    try:
        snapshot = await collector.collect_once()
    finally:
        source.release.set()
        await collector.stop(timeout=2)
    assert any(e.startswith("scrape: no answer within") for e in snapshot.errors)
    for name in ("decode-0", "decode-1"):
        value = snapshot.replica_signal("decode", name, Signal.KV_USAGE)
        assert value is not None and value.stale and value.value is None  # present, nothing known yet
