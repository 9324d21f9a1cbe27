"""What a policy remembers survives the engine's tick: the engine carries the policy's memory whole."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from planner_tui.config import Policy
from planner_tui.model import Signal, Verdict
from planner_tui.planner import PlannerState, engine, plan
from planner_tui.planner.policies.base import PolicyContext, Recommendation, hold
from planner_tui.planner.state import PolicyMemory
from tests.planner.builders import component, make_graph, snapshot

#: one distinctive value per field of the policy's memory, whatever fields it has
MARKED: dict[str, Any] = {name: f"set by the policy: {name}" for name in PolicyMemory._fields}


def remembering_policy(ctx: PolicyContext) -> Recommendation:
    """A policy that sets every field of its memory through ``evolve`` (a new field included)."""
    return hold(ctx, Verdict.NO_CHANGE, "remembering", memory=ctx.memory.evolve(**MARKED))


def test_every_memory_field_a_policy_sets_survives_a_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "POLICIES", MappingProxyType({**engine.POLICIES, Policy.LOAD: remembering_policy}))
    graph = make_graph()
    snap = snapshot(graph, 100.0, {n: component(graph, n, 1) for n in graph.components})
    _, state = plan(snap, PlannerState(), graph, 100.0)
    remembered = state.memory("decode")
    assert remembered.policy._asdict() == MARKED
    # and the engine's own facts are there beside it
    assert remembered.last_count == 1 and remembered.last_observed_at == 100.0


def test_the_policy_sees_what_it_remembered_on_the_next_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[PolicyMemory] = []

    def counting(ctx: PolicyContext) -> Recommendation:
        seen.append(ctx.memory)
        return hold(ctx, Verdict.NO_CHANGE, "counting", memory=ctx.memory.evolve(above=ctx.memory.above + 1))

    monkeypatch.setattr(engine, "POLICIES", MappingProxyType({**engine.POLICIES, Policy.LOAD: counting}))
    graph = make_graph(prefill={"policy": "none"})
    state = PlannerState()
    for tick in range(3):
        snap = snapshot(graph, 100.0 + tick, {n: component(graph, n, 1) for n in graph.components})
        _, state = plan(snap, state, graph, 100.0 + tick)
    assert [m.above for m in seen] == [0, 1, 2]


def test_the_load_policy_counts_intervals_over_the_threshold_across_ticks() -> None:
    graph = make_graph()
    state = PlannerState()
    reasons = []
    for tick in range(3):
        now = 100.0 + 10 * tick
        comps = {n: component(graph, n, 2) for n in graph.components}
        snap = snapshot(graph, now, comps, {("decode", Signal.KV_USAGE): [0.3, 0.3]})
        decision, state = plan(snap, state, graph, now)
        dec = decision.for_component("decode")
        assert dec is not None
        reasons.append(dec.reason)
    assert reasons[-1].endswith("KV load 0.30 < 0.50 for 3 intervals")
