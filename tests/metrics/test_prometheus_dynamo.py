"""The Prometheus query source against a real Prometheus scraping targets that serve real Dynamo 1.6.1 metrics.

The bodies in ``data/dynamo-1.6.1`` were copied from a real Dynamo graph's ``/metrics`` (frontend, prefill
mocker, decode mocker): worker series carry Dynamo's own ``dynamo_namespace="dynamo"`` and
``dynamo_component="backend"|"prefill"`` labels, ``vllm:*`` and ``dynamo_frontend_*`` carry none. Prometheus
scrapes each as a job named after the graph's component and adds no other label, as a plain scrape
config does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner_tui.config import parse_graph
from planner_tui.config.errors import ConfigError
from planner_tui.config.graph import GraphConfig
from planner_tui.metrics.collector import Collector
from planner_tui.metrics.prometheus import PrometheusQuerySource
from planner_tui.metrics.sources import SourceReport, TickContext
from planner_tui.model import Signal
from tests.metrics.conftest import TargetProcess
from tests.metrics.connector_double import StaticConnector, component
from tests.metrics.test_prometheus import PrometheusServer, eventually, values

DATA = Path(__file__).with_name("data") / "dynamo-1.6.1"
#: graph component -> the real Dynamo body its target serves
BODIES = {"frontend": "frontend", "prefill": "prefill", "decode": "decode", "idle": "decode-idle"}


@pytest.fixture(scope="module")
def dynamo_targets() -> Iterator[dict[str, TargetProcess]]:
    started = {name: TargetProcess(DATA / f"{body}.prom") for name, body in BODIES.items()}
    yield started
    for target in started.values():
        target.stop()


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, dynamo_targets: dict[str, TargetProcess]
) -> Iterator[PrometheusServer]:
    # one job per graph component; "env" only because the helper writes a labels table
    targets = {name: (t.ports[0], {"env": "test"}) for name, t in dynamo_targets.items()}
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus-dynamo"), targets)
    yield server
    server.stop()


def graph(prometheus: PrometheusServer, metrics: str = "", components: str = "") -> GraphConfig:
    return parse_graph(
        f"""
namespace = "graph-ns"
[metrics]
prometheus_url = "{prometheus.url}"
rate_window_s = 5
latency_window_s = 5
{metrics}
[components.frontend]
role = "frontend"
command = "frontend"
[components.prefill]
role = "prefill"
command = "worker"
[components.decode]
role = "decode"
command = "worker"
max_replicas = 2
{components}
""",
        "graph.toml",
    )


STATES = {
    "frontend": component("frontend", "frontend"),
    "prefill": component("prefill", "prefill"),
    "decode": component("decode", "decode"),
}


def source(config: GraphConfig) -> PrometheusQuerySource:
    return PrometheusQuerySource(config.metrics, config)


async def collect(config: GraphConfig, states: dict[str, object] | None = None, **accept: object) -> SourceReport:
    """Collect until every (component, signal) named in ``accept`` (``"decode__kv_usage"``) has that value."""
    wanted = {(key.split("__")[0], Signal(key.split("__")[1])): value for key, value in accept.items()}
    query = source(config)
    context = TickContext(time.time(), config.namespace, states or STATES)  # type: ignore[arg-type]
    try:
        return await eventually(
            lambda: query.collect(context),
            lambda r: all(values(r).get(k) == pytest.approx(v) for k, v in wanted.items()),
        )
    finally:
        await query.close()


async def test_the_default_mapping_reads_every_role_of_a_real_dynamo_graph(prometheus: PrometheusServer) -> None:
    config = graph(prometheus)
    report = await collect(
        config,
        decode__kv_usage=0.28125,  # vllm:kv_cache_usage_perc, no Dynamo label: picked by job="decode"
        decode__inflight=12,  # vllm:num_requests_running
        frontend__inflight=12,  # dynamo_frontend_inflight_requests
        frontend__queue_depth=0,
        prefill__inflight=0,  # dynamo_component_inflight_requests{dynamo_component="prefill"}
    )
    got = values(report)
    assert ("prefill", Signal.QUEUE_DEPTH) in got  # no vllm:* on a prefill mocker: its in-flight requests
    assert report.errors == ()
    # the series with Dynamo's labels are read with Dynamo's names, not the graph's
    queries = source(config).component_queries(STATES["decode"])
    assert 'dynamo_namespace="dynamo",dynamo_component="backend"' in queries.queries[Signal.REQUEST_RATE]
    assert 'vllm:kv_cache_usage_perc{job="decode"}' in queries.queries[Signal.KV_USAGE]
    prefill = source(config).component_queries(STATES["prefill"])
    # only the generate endpoint serves requests (a prefill worker also has a KV-query endpoint)
    assert (
        'dynamo_component_inflight_requests{dynamo_namespace="dynamo",dynamo_component="prefill",'
        'dynamo_endpoint="generate"}' in prefill.queries[Signal.INFLIGHT]
    )


async def test_a_selector_matching_nothing_is_an_error_in_the_snapshot(prometheus: PrometheusServer) -> None:
    """The issue's case: the graph's names in Dynamo's labels match 0 series; that is said, not 'errors: []'."""
    old = (
        'prometheus_selector = \'dynamo_namespace="$namespace",dynamo_component="$component"\'\n'
        'prometheus_target_selector = \'dynamo_namespace="$namespace",dynamo_component="$component"\''
    )
    config = graph(prometheus, metrics=old)
    report = await collect(config)
    assert not report.signals
    by_component = {e.split(":")[0]: e for e in report.errors}
    assert set(by_component) == {"component frontend", "component prefill", "component decode"}
    decode = by_component["component decode"]
    assert '{dynamo_namespace="graph-ns",dynamo_component="decode"}' in decode
    assert "kv_usage" in decode and "dynamo_component" in decode and "prometheus_selector" in decode

    # the collector puts it in the Snapshot, which the dashboard's alerts and `status` show
    collector = Collector(StaticConnector("graph-ns", *STATES.values()), config, interval_s=0.5)  # type: ignore[arg-type]
    try:
        snapshot = await collector.collect_once()
        assert any("no series in Prometheus match" in e and "component decode" in e for e in snapshot.errors)
    finally:
        await collector.stop()


async def test_only_the_wrong_half_of_a_mapping_is_reported(prometheus: PrometheusServer) -> None:
    config = graph(prometheus, components='[metrics.prometheus_components.decode]\ndynamo_component = "decode"')
    report = await collect(config, decode__kv_usage=0.28125)
    decode_errors = [e for e in report.errors if e.startswith("component decode")]
    assert len(decode_errors) == 1 and "request_rate" in decode_errors[0], report.errors
    assert "set dynamo_namespace / dynamo_component in [metrics.prometheus_components.decode]" in decode_errors[0]
    assert ("decode", Signal.REQUEST_RATE) not in values(report)


async def test_per_component_names_and_selectors(prometheus: PrometheusServer) -> None:
    """A component named unlike its job and role: its own Dynamo names and target selector."""
    config = parse_graph(
        f"""
namespace = "x"
[metrics]
prometheus_url = "{prometheus.url}"
dynamo_namespace = "elsewhere"
[metrics.prometheus_components.gen]
dynamo_namespace = "dynamo"
dynamo_component = "backend"
target_selector = 'job="decode"'
[components.gen]
role = "other"
command = "worker"
""",
        "graph.toml",
    )
    states = {"gen": component("gen", "other")}
    report = await collect(config, states, gen__inflight=12)  # dynamo_component_inflight_requests of "backend"
    assert report.errors == ()
    queries = source(config).component_queries(states["gen"])
    assert queries.selector == 'dynamo_namespace="dynamo",dynamo_component="backend"'
    assert queries.target_selector == 'job="decode"'


async def test_series_not_created_yet_are_no_error(prometheus: PrometheusServer) -> None:
    """A decode worker before its first request has no vllm:* series; its job still has series: no error."""
    config = graph(
        prometheus,
        components='[components.idle]\nrole = "decode"\ncommand = "worker"\n'
        "[metrics.prometheus_components.idle]\ntarget_selector = 'job=\"idle\"'",
    )
    states = {"idle": component("idle", "decode")}
    query = source(config)
    try:
        report = await eventually(
            lambda: query.collect(TickContext(time.time(), "graph-ns", states)),  # type: ignore[arg-type]
            lambda r: ("idle", Signal.INFLIGHT) in values(r),  # dynamo_component_inflight_requests: 0
        )
    finally:
        await query.close()
    assert ("idle", Signal.KV_USAGE) not in values(report)
    assert report.errors == ()


def test_a_mapping_for_an_unknown_component_is_reported() -> None:
    config = parse_graph(
        """
namespace = "x"
[metrics]
prometheus_url = "http://127.0.0.1:9"
[metrics.prometheus_components.decod]
dynamo_component = "backend"
[components.decode]
role = "decode"
command = "worker"
""",
        "graph.toml",
    )
    assert source(config)._config_errors == (
        "metrics.prometheus_components.decod: no such component in the graph (components: decode)",
    )


def test_label_values_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"prometheus_components\.decode\.dynamo_component"):
        parse_graph(
            """
namespace = "x"
[metrics.prometheus_components.decode]
dynamo_component = 'backend"} or vector(1'
[components.decode]
role = "decode"
command = "worker"
""",
            "graph.toml",
        )
