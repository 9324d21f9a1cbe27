"""The dynamo preset and the load policy against a real Dynamo 1.6.1 graph (frontend + prefill and
decode mockers under the local connector): the signals read for each role, idle and loaded, and a
load that builds a decode KV queue scales decode, not prefill (issue 13 items 1, 3 and 4)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx

from planner_tui.config import GraphConfig
from planner_tui.connectors.local import LocalConnector
from planner_tui.metrics.endpoints import EndpointSignalSource
from planner_tui.metrics.sources import TickContext
from planner_tui.model import Phase, Signal, SignalValue, Snapshot, Verdict
from planner_tui.planner import PlannerState, plan
from tests.dynamo.harness import GraphOptions, LoadDriver, chat, frontend_url, wait_for

GENERATE = 'dynamo_component_inflight_requests{dynamo_endpoint="generate"}'


async def snapshot_of(connector: LocalConnector, source: EndpointSignalSource, namespace: str) -> Snapshot:
    """One collector tick by hand: the connector's states and the scraped signals, as a Snapshot."""
    states = dict(await connector.get_component_states())
    now = time.time()
    report = await source.collect(TickContext(now, namespace, states))
    assert not report.errors, report.errors
    return Snapshot(now, namespace, states, report.signals, report.replica_signals)


def signal(snap: Snapshot, component: str, which: Signal) -> SignalValue | None:
    return next((v for v in snap.signals if v.component == component and v.signal is which), None)


def all_ready(snap: Snapshot) -> bool:
    return all(r.phase is Phase.READY for state in snap.components.values() for r in state.replicas)


async def test_signals_of_each_role_idle_then_after_a_request(
    dynamo_graph_factory: Callable[..., GraphConfig],
    running_dynamo: Callable[..., Awaitable[LocalConnector]],
) -> None:
    graph = dynamo_graph_factory()
    connector = await running_dynamo(graph, serving=False)  # no request yet: first-use series are absent
    source = EndpointSignalSource(graph=graph)
    try:

        async def idle_read() -> Snapshot | None:
            snap = await snapshot_of(connector, source, graph.namespace)
            wanted = [("frontend", Signal.QUEUE_DEPTH), ("prefill", Signal.QUEUE_DEPTH), ("decode", Signal.KV_USAGE)]
            return snap if all_ready(snap) and all(signal(snap, *key) for key in wanted) else None

        idle = await wait_for(idle_read, 30, "every replica ready and its signals read", interval=0.3)
        queued = signal(idle, "frontend", Signal.QUEUE_DEPTH)
        assert queued is not None and queued.value == 0 and "absent" in (queued.source or "")
        kv = signal(idle, "decode", Signal.KV_USAGE)
        assert kv is not None and kv.value == 0 and "vllm:kv_cache_usage_perc" in (kv.source or "")
        prefill = signal(idle, "prefill", Signal.QUEUE_DEPTH)
        assert prefill is not None and prefill.value == 0 and prefill.source == f"scrape: {GENERATE}"
        # item 4: an idle graph is not "no data": the planner decides (here: holds at the minimum)
        decision, _ = plan(idle, PlannerState(), graph, idle.timestamp)
        for name in ("prefill", "decode"):
            dec = decision.for_component(name)
            assert dec is not None and dec.verdict is not Verdict.INSUFFICIENT_DATA, dec.reason

        async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
            assert (await chat(client, frontend_url(graph), max_tokens=8)).status_code == 200

        async def after_read() -> Snapshot | None:
            snap = await snapshot_of(connector, source, graph.namespace)
            kv = signal(snap, "decode", Signal.KV_USAGE)
            return snap if kv is not None and kv.source == "scrape: vllm:kv_cache_usage_perc" else None

        after = await wait_for(after_read, 15, "the decode worker's vllm:* gauges", interval=0.3)
        queued = signal(after, "frontend", Signal.QUEUE_DEPTH)
        assert queued is not None and queued.source == "scrape: dynamo_frontend_queued_requests"
        waiting = signal(after, "decode", Signal.WAITING)
        assert waiting is not None and waiting.source == "scrape: vllm:num_requests_waiting"
        prefill = signal(after, "prefill", Signal.QUEUE_DEPTH)
        assert prefill is not None and prefill.source == f"scrape: {GENERATE}"  # the mocker has no vllm:* here
        inflight = signal(after, "frontend", Signal.INFLIGHT)
        assert inflight is not None and inflight.source == "scrape: dynamo_frontend_inflight_requests"
    finally:
        await source.close()


async def test_a_decode_kv_queue_scales_decode_not_prefill(
    dynamo_graph_factory: Callable[..., GraphConfig],
    running_dynamo: Callable[..., Awaitable[LocalConnector]],
) -> None:
    """Issue 13 item 1 on real processes: 32 clients with long outputs fill the decode worker's small KV
    cache; requests wait there and, once it is full, at the frontend for their first token. The load
    policy, fed real Snapshots each second (its decisions not applied, so the queue keeps building),
    scales decode up and never prefill, whose own queue stays near 0 while the frontend's passes
    prefill's scale-up threshold."""
    options = GraphOptions(
        decode_blocks=48,
        speedup_ratio=4.0,  # the mocker's time runs 4x faster: the KV queue builds within seconds
        planner={
            "adjustment_interval_s": 1.0,
            "scale_up_stabilization_s": 0.0,
            "scale_down_stabilization_s": 0.0,
            "prefill_trend_intervals": 0,
        },
    )
    graph = dynamo_graph_factory(options)
    connector = await running_dynamo(graph)
    source = EndpointSignalSource(graph=graph)
    state = PlannerState()
    prefill_reasons: list[str] = []
    frontend_queued: list[float] = []
    decode_up: list[str] = []
    threshold = graph.planner.prefill_queue_scale_up
    try:
        async with LoadDriver(frontend_url(graph), concurrency=32, max_tokens=200) as load:

            async def tick() -> bool:
                nonlocal state
                snap = await snapshot_of(connector, source, graph.namespace)
                decision, state = plan(snap, state, graph, snap.timestamp)
                queued = signal(snap, "frontend", Signal.QUEUE_DEPTH)
                frontend_queued.append((queued.value or 0.0) if queued is not None else 0.0)
                prefill = decision.for_component("prefill")
                assert prefill is not None
                prefill_reasons.append(prefill.reason)
                assert prefill.verdict is not Verdict.SCALE_UP, prefill.reason
                decode = decision.for_component("decode")
                assert decode is not None
                if decode.verdict is Verdict.SCALE_UP:
                    decode_up.append(decode.reason)
                return bool(decode_up) and max(frontend_queued) > threshold

            await wait_for(tick, 60, "a decode scale-up and the frontend's queue over prefill's threshold", 1.0)
            assert "KV load" in decode_up[0] and "vllm:kv_cache_usage_perc" in decode_up[0], decode_up[0]
        assert load.result.failed == [], load.result.failed[:3]
        assert load.result.ok > 0
        assert any(GENERATE in r for r in prefill_reasons), prefill_reasons[-3:]
        # counting the frontend's queue as the prefill queue, as before, would have scaled prefill up
        assert max(frontend_queued) > threshold
    finally:
        await source.close()
