"""Real Dynamo 1.6.1 workers: why one is not ready (its /health answer, then the readiness timeout as a
problem, named by the planner's hold), and a graph set up with a graph-level [env], ``python`` for the
Dynamo venv, ``gpus = []`` and ``depends_on`` waiting for the frontend's readiness."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from planner_tui.config import GraphConfig, validate_graph
from planner_tui.connectors.local import LocalConnector
from planner_tui.metrics.collector import Collector
from planner_tui.model.decisions import Verdict
from planner_tui.model.replicas import Phase, ReplicaState
from planner_tui.planner import PlannerState, decide
from tests.dynamo.harness import GraphOptions, frontend_url, wait_for, wait_graph_serving


def decode_replica(conn: LocalConnector) -> ReplicaState:
    return conn.component_states()["decode"].replicas[0]


def with_components(graph: GraphConfig, **changes: dict[str, Any]) -> GraphConfig:
    data = graph.model_dump(mode="json", exclude_defaults=True)
    for name, change in changes.items():
        data["components"][name].update(change)
    return validate_graph(data)


async def test_a_worker_without_endpoint_health_status_shows_503_notready_then_times_out_into_a_problem(
    dynamo_graph_factory: Callable[..., GraphConfig],
    running_dynamo: Callable[..., Awaitable[LocalConnector]],
) -> None:
    plain = dynamo_graph_factory(GraphOptions(worker_health_endpoint_status=False))
    assert "DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS" not in plain.component_env("decode")
    graph = with_components(plain, decode={"ready_timeout_s": 4.0}, prefill={"ready_timeout_s": 4.0})
    conn = await running_dynamo(graph, serving=False)

    await wait_for(
        lambda: (decode_replica(conn).reason or "").startswith('/health 503 {"status":"notready"'),
        60,
        "the decode worker's /health answer as its reason",
    )
    assert decode_replica(conn).phase is Phase.RUNNING
    await wait_for(
        lambda: (decode_replica(conn).reason or "").startswith('not ready after 4 s: /health 503 {"status":"notready"'),
        30,
        "the readiness timeout",
    )
    problems = conn.problems
    assert any(p.startswith('replica decode-0 not ready after 4 s: /health 503 {"status":"notready"') for p in problems)
    assert any(p.startswith("replica prefill-0 not ready after 4 s: /health 503 ") for p in problems)
    assert all(len(p) < 200 for p in problems)

    collector = Collector(conn, graph)
    try:
        snapshot = await collector.collect_once()
    finally:
        await collector.stop()
    decision = decide(snapshot, PlannerState(), graph, snapshot.timestamp)
    for name in ("prefill", "decode"):
        dec = decision.for_component(name)
        assert dec is not None and dec.verdict is Verdict.INSUFFICIENT_DATA, dec
        assert f'{name}-0 not ready after 4 s: /health 503 {{"status":"notready"' in dec.reason, dec.reason


async def test_a_graph_set_up_with_graph_env_python_no_gpus_and_depends_on_readiness(
    dynamo_graph_factory: Callable[..., GraphConfig],
    running_dynamo: Callable[..., Awaitable[LocalConnector]],
    dynamo_python: Path,
) -> None:
    base = dynamo_graph_factory().model_dump(mode="json", exclude_defaults=True)
    shared = base["components"]["frontend"]["env"]
    components = base["components"]
    for table in components.values():
        # the Dynamo variables once, at graph level; each component keeps only what is its own
        table["env"] = {k: v for k, v in table.get("env", {}).items() if shared.get(k) != v}
        table["command"] = "{python}"
    graph = validate_graph({**base, "python": str(dynamo_python), "env": shared, "components": components})
    assert graph.resources.gpus == [] and graph.components["decode"].depends_on == ["frontend"]
    assert set(graph.components["decode"].env) == {"DYN_SYSTEM_PORT", "DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS"}

    started = time.monotonic()
    conn = await running_dynamo(graph, serving=False)
    # the workers wait for the frontend's readiness, not only its start
    waiting = decode_replica(conn)
    assert waiting.pid is None and waiting.reason == "waiting for frontend to be ready (depends_on)"
    await conn.wait_until_stable(["frontend", "prefill", "decode"], 60)
    assert time.monotonic() - started < 60
    await wait_graph_serving(frontend_url(graph), timeout=60.0)
    running_dynamo.remember()  # type: ignore[attr-defined]

    collector = Collector(conn, graph)
    assert "nvml" not in {source.name for source in collector.sources}
    try:
        snapshot = await collector.collect_once()
    finally:
        await collector.stop()
    assert snapshot.gpus == () and snapshot.gpu_status is None
