"""The ``dynamo`` preset against expositions recorded from a real Dynamo 1.6.1 graph (frontend, prefill
and decode mocker workers; ``tests/dynamo`` runs the processes themselves).

The files under ``dynamo_1_6_1/`` are the ``dynamo_frontend_*``, ``dynamo_component_inflight_requests``,
``dynamo_component_requests_total`` and ``vllm:*`` lines of real ``/metrics`` answers: an idle frontend
and decode worker before their first request, a decode worker and a prefill worker under load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from planner_tui.metrics.endpoints import EndpointSignalSource
from planner_tui.metrics.sources import TickContext
from planner_tui.model import ComponentState, Signal, SignalValue
from tests.metrics.connector_double import component, replica
from tests.metrics.http_fixtures import MetricsServer

RECORDED = Path(__file__).with_name("dynamo_1_6_1")
T0 = 1_000_000.0
GENERATE = 'dynamo_component_inflight_requests{dynamo_endpoint="generate"}'


def recorded(name: str) -> str:
    return (RECORDED / f"{name}.prom").read_text()


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    metrics = MetricsServer().start()
    yield metrics
    metrics.stop()


async def collect_until(
    source: EndpointSignalSource,
    states: dict[str, ComponentState],
    check: Callable[[tuple[SignalValue, ...]], object],
    ticks: int = 20,
) -> list[SignalValue]:
    """Collect tick after tick (one second apart) until ``check(signals)``; the last tick's signals.

    A series is proven absent once the target's text is read through its layout (which names every
    series, NaN ones too): from the second scrape, or a little later while a large layout compiles.
    """
    signals: tuple[SignalValue, ...] = ()
    for tick in range(ticks):
        report = await source.collect(TickContext(T0 + tick, "ns", states))
        signals = report.signals
        if check(signals):
            break
        await asyncio.sleep(0.05)  # a large text's layout compiles in the scraper's thread
    return list(signals)


def value_of(signals: list[SignalValue], name: str, signal: Signal) -> SignalValue | None:
    return next((v for v in signals if v.component == name and v.signal is signal), None)


async def test_prefill_queue_reads_the_generate_endpoint_only(server: MetricsServer) -> None:
    """Issue 13 item 3: a prefill worker without vllm:* exposes dynamo_component_inflight_requests for
    `generate` and for a KV-query endpoint; only `generate` is its queue, and the snapshot says so."""
    text = recorded("prefill-loaded")
    lines = []
    for line in text.splitlines():
        if line.startswith("dynamo_component_inflight_requests{"):
            line = line.rsplit(" ", 1)[0] + (" 2" if 'dynamo_endpoint="generate"' in line else " 3")
        lines.append(line)
    url = server.serve("/prefill-0", "\n".join(lines) + "\n")
    states = {"prefill": component("prefill", "prefill", replica("prefill", 0, metrics_url=url))}
    source = EndpointSignalSource()
    try:
        signals = await collect_until(source, states, lambda s: value_of(list(s), "prefill", Signal.QUEUE_DEPTH))
    finally:
        await source.close()
    queue = value_of(signals, "prefill", Signal.QUEUE_DEPTH)
    assert queue is not None and queue.value == 2  # not 5: the KV-query endpoint's 3 are not requests
    assert queue.source == f"scrape: {GENERATE}"
    inflight = value_of(signals, "prefill", Signal.INFLIGHT)
    assert inflight is not None and inflight.value == 2


async def test_series_created_on_first_use_read_zero_on_an_idle_graph(server: MetricsServer) -> None:
    """Issue 13 item 4: before the first request a real frontend has no dynamo_frontend_queued_requests
    and a decode worker no vllm:* gauges. The endpoints answered: that is zero load, not "no data"."""
    fe = server.serve("/frontend-0", recorded("frontend-idle"))
    de = server.serve("/decode-0", recorded("decode-idle"))
    states = {
        "frontend": component("frontend", "frontend", replica("frontend", 0, metrics_url=fe)),
        "decode": component("decode", "decode", replica("decode", 0, metrics_url=de)),
    }
    source = EndpointSignalSource()

    def settled(signals: tuple[SignalValue, ...]) -> bool:
        return all(
            value_of(list(signals), *key) is not None
            for key in (("decode", Signal.KV_USAGE), ("frontend", Signal.QUEUE_DEPTH))
        )

    try:
        signals = await collect_until(source, states, settled)
    finally:
        await source.close()
    kv = value_of(signals, "decode", Signal.KV_USAGE)
    assert kv is not None and kv.value == 0 and not kv.stale
    assert kv.source == "scrape: vllm:kv_cache_usage_perc | vllm:gpu_cache_usage_perc absent (0)"
    waiting = value_of(signals, "decode", Signal.WAITING)
    assert waiting is not None and waiting.value == 0
    queued = value_of(signals, "frontend", Signal.QUEUE_DEPTH)
    assert queued is not None and queued.value == 0 and "absent" in (queued.source or "")
    assert value_of(signals, "frontend", Signal.TTFT_P95) is None  # no request, no latency: not a zero


async def test_a_loaded_decode_worker_reads_its_vllm_gauges(server: MetricsServer) -> None:
    url = server.serve("/decode-0", recorded("decode-loaded"))
    states = {"decode": component("decode", "decode", replica("decode", 0, metrics_url=url))}
    source = EndpointSignalSource()
    try:
        signals = await collect_until(source, states, lambda s: value_of(list(s), "decode", Signal.KV_USAGE))
    finally:
        await source.close()
    kv, waiting = value_of(signals, "decode", Signal.KV_USAGE), value_of(signals, "decode", Signal.WAITING)
    assert kv is not None and kv.value == 1 and kv.source == "scrape: vllm:kv_cache_usage_perc"
    assert waiting is not None and waiting.value == 4 and waiting.source == "scrape: vllm:num_requests_waiting"
