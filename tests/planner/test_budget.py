"""One GPU budget: the engine, the session and the dashboard's scale dialog agree on what fits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner_tui.config import GraphConfig
from planner_tui.config.rules import gpu_budget, gpus_needed
from planner_tui.connectors.errors import ScalingRefused
from planner_tui.metrics.collector import Collector
from planner_tui.model import Signal, Snapshot
from planner_tui.planner import EngineConfig, PlannerState, plan
from planner_tui.planner.runner import PlannerRunner
from planner_tui.runtime import Session
from planner_tui.tui.capacity import check_scale, gpu_headroom
from tests.planner.builders import component, make_graph, snapshot
from tests.runtime.recording import RecordingConnector


def budget_graph(budget: int, *, prefill: int = 1, decode: int = 1) -> GraphConfig:
    """Prefill 1 GPU/replica (1..3), decode 2 GPUs/replica (1..5), starting at the given counts."""
    return make_graph(
        planner={"max_gpu_budget": budget},
        prefill={"initial_replicas": prefill},
        decode={"gpus_per_replica": 2, "initial_replicas": decode},
    )


def dashboard_refuses(graph: GraphConfig, snap: Snapshot | None, name: str, replicas: int) -> bool:
    """True when the scale dialog refuses ``replicas`` for ``name`` for want of GPUs."""
    state = snap.components[name] if snap is not None else component(graph, name, graph.components[name].min_replicas)
    _, problem = check_scale(str(replicas), state, gpu_headroom(graph, snap))
    return problem is not None and "GPU" in problem


async def session_refuses(session: Session, name: str, replicas: int) -> bool:
    try:
        await session.scale(name, replicas, pin=False)
    except ScalingRefused:
        return True
    return False


@settings(max_examples=60, deadline=None)
@given(
    budget=st.integers(3, 14),
    prefill=st.integers(1, 3),
    decode=st.integers(1, 5),
    name=st.sampled_from(["prefill", "decode"]),
    wanted=st.integers(1, 5),
)
def test_the_dashboard_refuses_exactly_the_scale_ups_the_budget_refuses(
    budget: int, prefill: int, decode: int, name: str, wanted: int
) -> None:
    graph = budget_graph(budget)
    comps = {"frontend": component(graph, "frontend", 1)}
    comps["prefill"] = component(graph, "prefill", prefill)
    comps["decode"] = component(graph, "decode", decode)
    snap = snapshot(graph, 100.0, comps)
    wanted = min(wanted, graph.components[name].max_replicas)
    before = gpu_budget(graph, snap)
    assert before.needed == gpus_needed(graph, {"prefill": prefill, "decode": decode}) == prefill + 2 * decode
    assert dashboard_refuses(graph, snap, name, wanted) == (before.refuses(graph, name, wanted) is not None)


async def test_the_session_and_the_dashboard_agree_on_every_count() -> None:
    graph = budget_graph(7, prefill=1, decode=2)  # 1 + 2 x 2 = 5 GPUs of 7 at the start
    connector = RecordingConnector(graph)
    collector = Collector(connector, graph, sources=[])
    runner = PlannerRunner(connector, EngineConfig.of(graph), lambda: collector.latest)
    session = Session(graph, connector, collector, runner)
    refused: dict[tuple[str, int], bool] = {}
    for name in ("prefill", "decode"):
        spec = graph.components[name]
        for replicas in range(spec.min_replicas, spec.max_replicas + 1):
            snap = await collector.collect_once()  # the connector's counts, as the session sees them
            refused[name, replicas] = await session_refuses(session, name, replicas)
            assert refused[name, replicas] == dashboard_refuses(graph, snap, name, replicas), (name, replicas)
            connector.counts.update({"prefill": 1, "decode": 2})
    # from 5 GPUs of 7: prefill up to 3 (+2) fits; decode 3 (+2) fits, decode 4 (+4) does not
    assert [n for n, r in refused.items() if r] == [("decode", 4), ("decode", 5)]


@pytest.mark.parametrize(("budget", "expected"), [(3, 1), (4, 1), (5, 2), (6, 2)])
def test_the_engine_scales_up_as_far_as_the_dashboard_says_fits(budget: int, expected: int) -> None:
    graph = budget_graph(budget)
    comps = {"frontend": component(graph, "frontend", 1)}
    comps["prefill"] = component(graph, "prefill", 1)
    comps["decode"] = component(graph, "decode", 1)  # 1 + 2 = 3 GPUs in use
    snap = snapshot(graph, 100.0, comps, {("prefill", Signal.QUEUE_DEPTH): [1.0], ("decode", Signal.KV_USAGE): [0.99]})
    extra = gpu_headroom(graph, snap).extra_replicas(2)
    assert extra is not None and 1 + extra == expected
    decision, _ = plan(snap, PlannerState(), graph, 100.0)
    dec = decision.for_component("decode")
    assert dec is not None and dec.desired == 2 and dec.target == expected
