"""The Prometheus query source against a real Prometheus server scraping real test processes."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from planner_tui.config import parse_graph
from planner_tui.config.planner_settings import MetricsSettings
from planner_tui.metrics.collector import Collector
from planner_tui.metrics.history import History
from planner_tui.metrics.prometheus import PrometheusClient, PrometheusError, PrometheusQuerySource
from planner_tui.metrics.sources import SourceReport, TickContext
from planner_tui.model import GpuOrigin, Signal
from tests.metrics.conftest import TargetProcess
from tests.metrics.connector_double import StaticConnector, component
from tests.metrics.expositions import worker_text

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusServer:
    """A real ``prometheus`` on a free loopback port with a temporary config and data directory."""

    def __init__(self, workdir: Path, targets: dict[str, tuple[int, dict[str, str]]]) -> None:
        binary = shutil.which("prometheus")
        assert binary, "the Debian package prometheus is needed (tests/run.sh installs it)"
        self.port = free_port()
        jobs = []
        for job, (port, labels) in targets.items():
            label_lines = "".join(f"\n          {k}: '{v}'" for k, v in labels.items())
            jobs.append(
                f"  - job_name: '{job}'\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
                f"        labels:{label_lines}\n"
            )
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n" + "".join(jobs)
        )
        self.log = (workdir / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, f"prometheus exited: {(workdir / 'prometheus.log').read_text()[-2000:]}"
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prometheus did not become ready within 30 s"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, TargetProcess]]:
    """A decode worker with fixed values and a prefill worker whose counters grow at every scrape."""
    body = tmp_path_factory.mktemp("targets") / "decode.prom"
    body.write_text(worker_text(kv=0.25, waiting=3, running=4, requests=7, ttft_fast=1, ttft_total=1, gpu=2))
    started = {"decode": TargetProcess(body), "prefill": TargetProcess(None)}
    yield started
    for target in started.values():
        target.stop()


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, targets: dict[str, TargetProcess]
) -> Iterator[PrometheusServer]:
    labels = {name: {"dynamo_namespace": "ns", "dynamo_component": name} for name in targets}
    server = PrometheusServer(
        tmp_path_factory.mktemp("prometheus"), {n: (t.ports[0], labels[n]) for n, t in targets.items()}
    )
    yield server
    server.stop()


GRAPH = parse_graph(
    """
namespace = "ns"
[metrics]
prometheus_url = "http://127.0.0.1:9"
# these targets get the graph's names as labels from Prometheus (a relabelling scrape config)
prometheus_selector = 'dynamo_namespace="$namespace",dynamo_component="$component"'
rate_window_s = 5
latency_window_s = 5
[components.decode]
role = "decode"
command = "worker"
[components.prefill]
role = "prefill"
command = "worker"
signals = { waiting = "max(vllm:num_requests_running{$selector})", queue_depth = "sum(broken(" }
""",
    "graph.toml",
)
STATES = {"decode": component("decode", "decode"), "prefill": component("prefill", "prefill")}


def source_for(server: PrometheusServer, **changes: object) -> PrometheusQuerySource:
    settings = GRAPH.metrics.model_copy(update={"prometheus_url": server.url, **changes})
    return PrometheusQuerySource(settings, GRAPH, namespace="ns")


async def eventually(probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], within: float = 30) -> T:
    """Poll ``probe`` until ``accept`` holds (Prometheus needs a few scrapes before rates exist)."""
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if accept(result):
            return result
        assert time.monotonic() < deadline, f"condition not met within {within} s; last: {result}"
        await asyncio.sleep(0.25)


def values(report: SourceReport) -> dict[tuple[str, Signal], float | None]:
    return {(v.component, v.signal): v.value for v in report.signals}


async def test_signals_from_instant_queries(prometheus: PrometheusServer) -> None:
    source = source_for(prometheus)
    try:
        context = TickContext(time.time(), "ns", STATES)
        report = await eventually(
            lambda: source.collect(context),
            # once the 5 s rate window holds enough scrapes, the rate settles near 3/s
            lambda r: 2.4 <= (values(r).get(("prefill", Signal.REQUEST_RATE)) or 0) <= 3.6,
        )
        got = values(report)
        assert got[("decode", Signal.KV_USAGE)] == pytest.approx(0.25)
        assert got[("decode", Signal.WAITING)] == 3 and got[("decode", Signal.INFLIGHT)] == 4
        assert got[("prefill", Signal.TTFT_P95)] == pytest.approx(5.0)  # 95th percentile falls in +Inf
        assert got[("prefill", Signal.WAITING)] is not None  # the PromQL override ran
        assert ("prefill", Signal.QUEUE_DEPTH) not in got
        assert any("refused" in e and "parse error" in e for e in report.errors)  # the broken override
        gpus = {g.index: g for g in report.gpus or ()}
        assert gpus[2].origin is GpuOrigin.SIMULATED and gpus[2].uuid == "SIM-GPU-2"
    finally:
        await source.close()


async def test_values_turn_stale_when_prometheus_is_unreachable(prometheus: PrometheusServer) -> None:
    source = source_for(prometheus)
    context = TickContext(time.time(), "ns", STATES)
    try:
        known = await eventually(lambda: source.collect(context), lambda r: ("decode", Signal.KV_USAGE) in values(r))
        assert not any(v.stale for v in known.signals)
        source.client.base_url = f"http://127.0.0.1:{free_port()}"
        report = await source.collect(TickContext(time.time(), "ns", STATES))
        kv = next(v for v in report.signals if (v.component, v.signal) == ("decode", Signal.KV_USAGE))
        assert kv.stale and kv.value == pytest.approx(0.25)
        assert report.errors and "not reachable" in report.errors[0]
    finally:
        await source.close()


async def test_range_queries_fill_the_history(prometheus: PrometheusServer) -> None:
    source = source_for(prometheus)
    history = History(history_s=300, interval_s=1)
    try:
        context = TickContext(time.time(), "ns", {"decode": STATES["decode"]})
        added = await eventually(lambda: source.backfill(context, history), lambda n: n >= 4)
        assert added >= 4
        points = history.series("decode", Signal.KV_USAGE, window_s=300)
        assert len(points) >= 2 and {v for _, v in points} == {0.25}
    finally:
        await source.close()


async def test_the_client_reports_bad_queries_clearly(prometheus: PrometheusServer) -> None:
    client = PrometheusClient(prometheus.url)
    try:
        with pytest.raises(PrometheusError, match="refused"):
            await client.instant("sum(")
        assert await client.instant("1 + 1") == [({}, pytest.approx(time.time(), abs=60), 2.0)]
    finally:
        await client.close()


async def test_the_collector_queries_prometheus_when_configured(prometheus: PrometheusServer) -> None:
    graph = GRAPH.model_copy(update={"metrics": GRAPH.metrics.model_copy(update={"prometheus_url": prometheus.url})})
    connector = StaticConnector("ns", STATES["decode"], STATES["prefill"])
    collector = Collector(connector, graph, interval_s=0.5)
    assert any(isinstance(s, PrometheusQuerySource) for s in collector.sources)
    try:
        snapshot = await eventually(collector.collect_once, lambda s: s.signal("decode", Signal.KV_USAGE) is not None)
        kv = snapshot.signal("decode", Signal.KV_USAGE)
        assert kv is not None and kv.value == pytest.approx(0.25) and kv.source == "prometheus"
    finally:
        await collector.stop()


async def test_a_starting_collector_fills_its_history_from_prometheus(prometheus: PrometheusServer) -> None:
    graph = GRAPH.model_copy(update={"metrics": GRAPH.metrics.model_copy(update={"prometheus_url": prometheus.url})})
    probe = source_for(prometheus)
    context = TickContext(time.time(), "ns", {"decode": STATES["decode"]})
    await eventually(lambda: probe.backfill(context, History(300, 1)), lambda n: n >= 3)  # Prometheus has a past
    await probe.close()
    collector = Collector(StaticConnector("ns", STATES["decode"]), graph, interval_s=0.5)
    queue = collector.subscribe()
    collector.start()
    try:
        async with asyncio.timeout(30):
            first = await queue.get()
        before = [t for t, _ in collector.history.series("decode", Signal.KV_USAGE, 900) if t < first.timestamp - 1]
        assert len(before) >= 2  # points older than the first tick: they came from range queries
    finally:
        await collector.stop()


def test_the_source_needs_a_url() -> None:
    with pytest.raises(ValueError, match="prometheus_url"):
        PrometheusQuerySource(MetricsSettings())
