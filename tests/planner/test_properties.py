"""Property tests over random graphs, snapshots and pins: bounds, GPU budget and pins always hold."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner_tui.config import GraphConfig, validate_graph
from planner_tui.model import (
    ComponentState,
    Outcome,
    Phase,
    PlannerMode,
    ReplicaState,
    Signal,
    SignalValue,
    Snapshot,
)
from planner_tui.planner import EngineConfig, PlannerState, plan
from planner_tui.planner.state import Pin

ROLES = ["prefill", "decode", "worker", "frontend"]


@st.composite
def graphs(draw: st.DrawFn) -> GraphConfig:
    n = draw(st.integers(1, 5))
    components: dict[str, Any] = {}
    for i in range(n):
        role = draw(st.sampled_from(ROLES))
        low = draw(st.integers(0, 2))
        high = draw(st.integers(max(low, 1), 6))
        comp: dict[str, Any] = {
            "role": role,
            "command": "x",
            "min_replicas": low,
            "max_replicas": high,
            "gpus_per_replica": draw(st.integers(0, 2)),
        }
        policy = draw(st.sampled_from([None, "load", "target", "none"]))
        if role == "frontend" and policy is None:
            policy = "target"
        if policy == "target":
            comp |= {"policy": "target", "target_signal": "inflight", "target_value": draw(st.sampled_from([1, 4, 8]))}
        elif policy is not None:
            comp["policy"] = policy
        components[f"c{i}"] = comp
    min_gpus = sum(c["min_replicas"] * c["gpus_per_replica"] for c in components.values())
    budget = draw(st.one_of(st.just(-1), st.integers(min_gpus, min_gpus + 8)))
    planner = {
        "max_gpu_budget": budget,
        "adjustment_interval_s": 10,
        "scale_down_stabilization_s": draw(st.sampled_from([0, 15, 60])),
        "scale_up_stabilization_s": draw(st.sampled_from([0, 20])),
    }
    return validate_graph({"namespace": "prop", "planner": planner, "components": components})


PHASES = [Phase.READY, Phase.READY, Phase.READY, Phase.STARTING, Phase.RUNNING, Phase.STOPPING, Phase.CRASHED]


@st.composite
def snapshots(draw: st.DrawFn, graph: GraphConfig, now: float) -> Snapshot:
    comps: dict[str, ComponentState] = {}
    values: list[SignalValue] = []
    for name, cfg in graph.components.items():
        desired = draw(st.integers(cfg.min_replicas, cfg.max_replicas))
        phases = draw(st.lists(st.sampled_from(PHASES), min_size=desired, max_size=desired))
        replicas = tuple(ReplicaState(name, i, p) for i, p in enumerate(phases))
        comps[name] = ComponentState(cfg.to_spec(name), desired, replicas)
        for replica in replicas:
            for signal in (Signal.KV_USAGE, Signal.QUEUE_DEPTH, Signal.WAITING, Signal.INFLIGHT):
                if draw(st.booleans()):
                    value = draw(st.floats(0, 1.2) if signal is Signal.KV_USAGE else st.floats(0, 40))
                    stale = draw(st.booleans()) and draw(st.booleans())
                    values.append(SignalValue(name, signal, value, now, stale=stale, replica=replica.name))
    return Snapshot(now, graph.namespace, comps, replica_signals=tuple(values))


def gpu_total(graph: GraphConfig, counts: dict[str, int]) -> int:
    return sum(counts[n] * c.gpus_per_replica for n, c in graph.components.items())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_targets_stay_in_bounds_within_budget_and_pins_hold(data: st.DataObject) -> None:
    graph = data.draw(graphs())
    cfg = EngineConfig.of(graph)
    mode = data.draw(st.sampled_from([PlannerMode.AUTO, PlannerMode.ADVISORY]))
    state = PlannerState()
    # Pins on autoscaled components, within bounds, that leave room for the others' minimums.
    pins: dict[str, int] = {}
    for name in cfg.autoscaled:
        comp = graph.components[name]
        if data.draw(st.booleans()) and data.draw(st.booleans()):
            pins[name] = data.draw(st.integers(comp.min_replicas, comp.max_replicas))
    budget = graph.planner.max_gpu_budget
    pinned_gpus = sum(n * graph.components[c].gpus_per_replica for c, n in pins.items())
    others_min = sum(c.min_replicas * c.gpus_per_replica for n, c in graph.components.items() if n not in pins)
    if budget >= 0 and pinned_gpus + others_min > budget:
        pins = {}
    for name, replicas in pins.items():
        state = state.with_pin(Pin(name, replicas))

    for tick in range(data.draw(st.integers(1, 4))):
        now = 1000.0 + 10 * tick
        snap = data.draw(snapshots(graph, now))
        decision, state = plan(snap, state, cfg, now, mode)
        assert [c.component for c in decision.components] == cfg.autoscaled
        counts = {n: s.desired_replicas for n, s in snap.components.items()}
        for dec in decision.components:
            comp = graph.components[dec.component]
            counts[dec.component] = dec.target
            if dec.component in pins:
                assert dec.outcome is Outcome.PINNED and dec.target == pins[dec.component]
                continue
            budget_zero = bool(dec.limits) and dec.limits[-1].limit == "gpu_budget" and dec.target == 0
            assert comp.min_replicas <= dec.target <= comp.max_replicas or budget_zero, dec
            if dec.target == dec.current:
                assert dec.outcome is Outcome.UNCHANGED
            else:
                assert dec.outcome is (Outcome.ADVISORY if mode is PlannerMode.ADVISORY else Outcome.PENDING)
            assert dec.reason.startswith(dec.component + " ")
            # every step from desired to target is explained by a recorded limit
            value = dec.desired
            for limit in dec.limits:
                assert limit.before == value
                value = limit.after
            assert value == dec.target
        if budget >= 0:
            # Pinned and not-autoscaled components are fixed; the planner fits the others around them.
            fixed = sum(
                counts[n] * c.gpus_per_replica
                for n, c in graph.components.items()
                if n in pins or n not in cfg.autoscaled
            )
            minimums = sum(
                c.min_replicas * c.gpus_per_replica
                for n, c in graph.components.items()
                if n in cfg.autoscaled and n not in pins
            )
            if fixed + minimums <= budget:
                assert gpu_total(graph, counts) <= budget
            else:  # as upstream: every adjustable GPU component goes to 0, and the record says why
                for dec in decision.components:
                    if dec.component not in pins and graph.components[dec.component].gpus_per_replica:
                        assert dec.target == 0, dec


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_paused_never_changes_anything(data: st.DataObject) -> None:
    graph = data.draw(graphs())
    snap = data.draw(snapshots(graph, 1000.0))
    decision, _ = plan(snap, PlannerState(), graph, 1000.0, PlannerMode.PAUSED)
    assert all(c.target == c.current and c.outcome is Outcome.PAUSED for c in decision.components)
