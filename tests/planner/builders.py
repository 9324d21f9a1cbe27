"""Builders for graphs and snapshots the planner tests feed to the engine."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from planner_tui.config import GraphConfig, validate_graph
from planner_tui.model import ComponentState, Phase, ReplicaState, Signal, SignalValue, Snapshot

BASE_GRAPH = """
namespace = "test"
[planner]
adjustment_interval_s = 10
scale_down_stabilization_s = 0

[components.frontend]
role = "frontend"
command = "x"

[components.prefill]
role = "prefill"
command = "x"
gpus_per_replica = 1
min_replicas = 1
max_replicas = 3

[components.decode]
role = "decode"
command = "x"
gpus_per_replica = 1
min_replicas = 1
max_replicas = 5
"""


def make_graph(
    planner: Mapping[str, Any] | None = None,
    frontend: Mapping[str, Any] | None = None,
    prefill: Mapping[str, Any] | None = None,
    decode: Mapping[str, Any] | None = None,
) -> GraphConfig:
    """The frontend + prefill + decode test graph, with keys of its tables overridden."""
    data = tomllib.loads(BASE_GRAPH)
    data["planner"].update(planner or {})
    for name, extra in (("frontend", frontend), ("prefill", prefill), ("decode", decode)):
        data["components"][name].update(extra or {})
    return validate_graph(data)


def component(
    graph: GraphConfig, name: str, ready: int, starting: int = 0, stopping: int = 0, desired: int | None = None
) -> ComponentState:
    """A component with ``ready`` READY replicas, then ``starting`` STARTING and ``stopping`` STOPPING ones."""
    phases = [Phase.READY] * ready + [Phase.STARTING] * starting + [Phase.STOPPING] * stopping
    replicas = tuple(ReplicaState(component=name, index=i, phase=p) for i, p in enumerate(phases))
    count = ready + starting if desired is None else desired
    return ComponentState(graph.components[name].to_spec(name), count, replicas)


def snapshot(
    graph: GraphConfig,
    now: float,
    components: Mapping[str, ComponentState],
    replica_values: Mapping[tuple[str, Signal], list[float]] | None = None,
    aggregates: Mapping[tuple[str, Signal], float] | None = None,
    stale: bool = False,
    age: float = 0.0,
    sources: Mapping[tuple[str, Signal], str] | None = None,
) -> Snapshot:
    """A Snapshot at ``now``; ``replica_values[(component, signal)]`` gives one value per replica index.

    ``sources[(component, signal)]`` is the values' ``source`` (``"scrape: vllm:num_requests_waiting"``);
    ``"test"`` otherwise.
    """
    per_replica = []
    where = sources or {}
    for (name, signal), values in (replica_values or {}).items():
        source = where.get((name, signal), "test")
        for i, value in enumerate(values):
            per_replica.append(
                SignalValue(name, signal, value, now - age, stale=stale, replica=f"{name}-{i}", source=source)
            )
    signals = [
        SignalValue(name, signal, value, now - age, stale=stale, source=where.get((name, signal), "test"))
        for (name, signal), value in (aggregates or {}).items()
    ]
    return Snapshot(
        timestamp=now,
        namespace=graph.namespace,
        components=dict(components),
        signals=tuple(signals),
        replica_signals=tuple(per_replica),
    )


def graph_state(graph: GraphConfig, prefill: int = 1, decode: int = 1) -> dict[str, ComponentState]:
    """All components ready at the given counts (frontend at 1)."""
    return {
        "frontend": component(graph, "frontend", 1),
        "prefill": component(graph, "prefill", prefill),
        "decode": component(graph, "decode", decode),
    }
