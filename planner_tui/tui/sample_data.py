"""Deterministic, demo-like dashboard data: fixed Snapshots, Decisions and log lines.

Used by the snapshot tests, the screenshot script and the dashboard benchmark, so none of them needs a
live graph. Everything is a pure function of its arguments (no clock, no randomness).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from planner_tui.config import GraphConfig
from planner_tui.model import (
    ComponentDecision,
    ComponentState,
    Decision,
    GpuOrigin,
    GpuSample,
    LimitApplied,
    LogLine,
    Outcome,
    Phase,
    PlannerMode,
    ReplicaState,
    ReplicaUsage,
    Signal,
    SignalValue,
    Snapshot,
)
from planner_tui.tui.static_source import StaticSource

#: 2026-01-01T00:00:00Z: the frozen "now" of every sample
EPOCH = 1_767_225_600.0
#: replica counts of the demo-like graph
DEMO_COUNTS: Mapping[str, int] = {"frontend": 1, "prefill": 2, "decode": 3}


def sample_graph(
    *, prefill_max: int = 3, decode_max: int = 5, gpus: int = 8, gpus_per_replica: int = 1, namespace: str = "demo"
) -> GraphConfig:
    """A frontend -> prefill -> decode graph shaped like the embedded demo, with simulated GPUs."""
    worker_args = ["-m", "planner_tui", "sim", "worker", "--port", "{port}"]
    return GraphConfig.model_validate(
        {
            "namespace": namespace,
            "description": "sample graph for the dashboard",
            "resources": {"gpus": list(range(gpus)), "simulated_gpus": gpus > 0} if gpus else {},
            "planner": {"mode": "auto", "adjustment_interval_s": 5.0, "max_gpu_budget": max(gpus, -1) or -1},
            "components": {
                "frontend": {
                    "role": "frontend",
                    "command": "{python}",
                    "args": ["-m", "planner_tui", "sim", "frontend", "--port", "{port}"],
                    "port": 21080,
                    "metrics_url": "http://127.0.0.1:{port}/metrics",
                },
                "prefill": {
                    "role": "prefill",
                    "command": "{python}",
                    "args": [*worker_args, "--role", "prefill"],
                    "gpus_per_replica": gpus_per_replica if gpus else 0,
                    "min_replicas": 1,
                    "max_replicas": prefill_max,
                    "depends_on": ["frontend"],
                    "metrics_url": "http://127.0.0.1:{port}/metrics",
                },
                "decode": {
                    "role": "decode",
                    "command": "{python}",
                    "args": [*worker_args, "--role", "decode"],
                    "gpus_per_replica": gpus_per_replica if gpus else 0,
                    "min_replicas": 1,
                    "max_replicas": decode_max,
                    "depends_on": ["prefill"],
                    "metrics_url": "http://127.0.0.1:{port}/metrics",
                },
            },
        }
    )


def load_at(t: float) -> float:
    """The demo's request rate at time ``t``: a 3-minute sine between 2 and 18 requests per second."""
    return 10.0 + 8.0 * math.sin(2 * math.pi * (t - EPOCH) / 180.0)


def _replicas(
    graph: GraphConfig, name: str, count: int, t: float, gpu_cursor: list[int], gpus: int
) -> list[ReplicaState]:
    comp = graph.components[name]
    out = []
    for index in range(count):
        # The newest decode replica is still warming up, so the panel shows more than one phase.
        phase = Phase.STARTING if (comp.role.value == "decode" and index == count - 1 and count > 2) else Phase.READY
        assigned: tuple[int, ...] = ()
        if comp.gpus_per_replica and gpus:
            assigned = tuple((gpu_cursor[0] + k) % gpus for k in range(comp.gpus_per_replica))
            gpu_cursor[0] += comp.gpus_per_replica
        out.append(
            ReplicaState(
                component=name,
                index=index,
                phase=phase,
                pid=4100 + 17 * len(name) + 7 * index,
                restarts=1 if (name == "prefill" and index == 1) else 0,
                gpus=assigned,
                port=21100 + 10 * len(name) + index,
                started_at=t - 4 if phase is Phase.STARTING else EPOCH - 1500 + 310 * index,
            )
        )
    return out


def sample_snapshot(
    t: float = EPOCH,
    *,
    graph: GraphConfig | None = None,
    counts: Mapping[str, int] | None = None,
    gpus: int | None = None,
    gpu_status: str | None = None,
    errors: tuple[str, ...] = (),
) -> Snapshot:
    """One demo-like Snapshot at ``t``: replicas, serving signals, simulated GPUs and process use.

    ``gpus=0`` gives the no-GPU state, explained by ``gpu_status``.
    """
    graph = graph or sample_graph()
    counts = dict(DEMO_COUNTS if counts is None else counts)
    gpu_count = len(graph.resources.gpus) if gpus is None and isinstance(graph.resources.gpus, list) else (gpus or 0)
    rps = load_at(t)
    cursor = [0]
    components: dict[str, ComponentState] = {}
    signals: list[SignalValue] = []
    replica_signals: list[SignalValue] = []
    usage: dict[str, ReplicaUsage] = {}
    holders: dict[int, list[str]] = {}
    for name, comp in graph.components.items():
        replicas = _replicas(graph, name, counts.get(name, comp.effective_initial_replicas), t, cursor, gpu_count)
        components[name] = ComponentState(
            spec=comp.to_spec(name), desired_replicas=len(replicas), replicas=tuple(replicas)
        )
        role = comp.role.value
        ready = max(1, sum(1 for r in replicas if r.phase is Phase.READY))
        if role == "frontend":
            signals += [
                SignalValue(name, Signal.REQUEST_RATE, round(rps, 2), t),
                SignalValue(name, Signal.QUEUE_DEPTH, round(max(0.0, rps - 11) * 1.5, 1), t),
                SignalValue(name, Signal.INFLIGHT, round(rps * 1.8, 1), t),
                SignalValue(name, Signal.TTFT_P95, round(0.12 + rps * 0.018, 3), t),
                SignalValue(name, Signal.ITL_P95, round(0.018 + rps * 0.0011, 4), t),
            ]
        elif role == "prefill":
            queue = round(max(0.0, rps - 6) * 0.9, 1)
            signals.append(SignalValue(name, Signal.QUEUE_DEPTH, queue, t))
            for r in replicas:
                replica_signals.append(
                    SignalValue(
                        name, Signal.QUEUE_DEPTH, round(queue / ready * (1 + 0.1 * r.index), 1), t, replica=r.name
                    )
                )
        elif role == "decode":
            kv = min(0.99, 0.25 + rps * 0.035 * 3 / ready)
            signals += [SignalValue(name, Signal.KV_USAGE, round(kv, 3), t), SignalValue(name, Signal.WAITING, 2.0, t)]
            for r in replicas:
                value = None if r.phase is Phase.STARTING else round(min(0.99, kv * (1 + 0.05 * r.index)), 3)
                replica_signals.append(SignalValue(name, Signal.KV_USAGE, value, t, replica=r.name))
        for r in replicas:
            usage[r.name] = ReplicaUsage(
                cpu_percent=round(3.0 + 2.5 * r.index + (rps if role != "frontend" else rps / 2), 1),
                rss_bytes=(48 + 6 * r.index + len(name)) * 1024 * 1024,
            )
            for index in r.gpus:
                holders.setdefault(index, []).append(r.name)
    gpu_samples = tuple(
        GpuSample(
            index=index,
            origin=GpuOrigin.SIMULATED,
            timestamp=t,
            name="Simulated GPU",
            uuid=f"SIM-GPU-{index}",
            host="simulated",
            utilization_pct=round(min(100.0, (rps * 5 + 9 * index) % 100) if index in holders else 0.0, 1),
            memory_used_mib=round(81920 * (0.62 + 0.04 * index) if index in holders else 512.0, 0),
            memory_total_mib=81920.0,
            temperature_c=round(38 + (rps * 2 if index in holders else 0) + index, 0),
            power_w=round(90 + (rps * 22 if index in holders else 0) + 3 * index, 0),
            power_limit_w=700.0,
            holders=tuple(holders.get(index, ())),
        )
        for index in range(gpu_count)
    )
    if not gpu_count and gpu_status is None:
        gpu_status = "no GPU source: NVML library not found and no DCGM metrics"
    return Snapshot(
        timestamp=t,
        namespace=graph.namespace,
        components=components,
        signals=tuple(signals),
        replica_signals=tuple(replica_signals),
        gpus=gpu_samples,
        gpu_status=gpu_status,
        usage=usage,
        errors=errors,
    )


def sample_history(
    end: float = EPOCH, *, seconds: float = 900.0, step: float = 5.0, **kwargs: object
) -> list[Snapshot]:
    """Snapshots every ``step`` seconds over the ``seconds`` before ``end`` (inclusive), oldest first."""
    count = int(seconds // step)
    return [sample_snapshot(end - (count - k) * step, **kwargs) for k in range(count + 1)]  # type: ignore[arg-type]


def sample_decisions(end: float = EPOCH) -> list[Decision]:
    """Planner decisions of the last minutes, one of each outcome, oldest first."""

    def one(t: float, mode: PlannerMode, decision: ComponentDecision) -> Decision:
        return Decision(timestamp=t, mode=mode, components=(decision,))

    return [
        one(
            end - 95,
            PlannerMode.AUTO,
            ComponentDecision(
                "prefill", "load", 1, 2, 2, "prefill 1->2: queue per worker 6.2 > 5.0", outcome=Outcome.APPLIED
            ),
        ),
        one(
            end - 70,
            PlannerMode.AUTO,
            ComponentDecision(
                "decode",
                "load",
                3,
                4,
                4,
                "decode 3->4: KV load 0.95 > 0.90 for 3 intervals",
                limits=(LimitApplied("max_gpu_budget", 4, 4, "5 of 8 GPUs in use"),),
                outcome=Outcome.FAILED,
                error="no free GPU: 8 of 8 assigned",
            ),
        ),
        one(
            end - 45,
            PlannerMode.ADVISORY,
            ComponentDecision(
                "decode",
                "load",
                2,
                3,
                3,
                "decode 2->3: KV load 0.93 > 0.90 (advisory: not applied)",
                outcome=Outcome.ADVISORY,
            ),
        ),
        one(
            end - 30,
            PlannerMode.AUTO,
            ComponentDecision(
                "decode", "load", 2, 3, 3, "decode 2->3: KV load 0.94 > 0.90 for 3 intervals", outcome=Outcome.APPLIED
            ),
        ),
        one(
            end - 15,
            PlannerMode.AUTO,
            ComponentDecision(
                "prefill", "load", 2, 1, 2, "prefill held at 2: pinned by the operator", outcome=Outcome.PINNED
            ),
        ),
        one(
            end - 5,
            PlannerMode.AUTO,
            ComponentDecision(
                "frontend", "none", 1, 1, 1, "frontend stays 1: not autoscaled", outcome=Outcome.UNCHANGED
            ),
        ),
    ]


def sample_logs(component: str, replicas: int = 2, lines: int = 40, end: float = EPOCH) -> list[LogLine]:
    """Merged log lines of a component's replicas, oldest first, with a warning now and then."""
    out = []
    for k in range(lines):
        replica = k % replicas
        t = end - (lines - k) * 1.5
        if k % 11 == 7:
            text = f"WARNING slow batch: {40 + k} ms over budget (queue 6)"
        else:
            text = (
                f"INFO served batch {1000 + k}: {8 + k % 5} requests, {120 + 7 * k} tokens, kv {0.41 + k % 9 / 20:.2f}"
            )
        out.append(LogLine(component=component, replica=f"{component}-{replica}", timestamp=t, text=text))
    return out


def sample_source(
    *,
    graph: GraphConfig | None = None,
    gpus: int = 8,
    counts: Mapping[str, int] | None = None,
    history: bool = True,
    clock: Callable[[], float] | None = None,
    **kwargs: Any,
) -> StaticSource:
    """A StaticSource serving the sample data at :data:`EPOCH` (``gpus=0``: the no-GPU state)."""
    graph = graph or sample_graph(gpus=gpus)
    return StaticSource(
        graph,
        sample_snapshot(graph=graph, counts=counts),
        history=sample_history(graph=graph, counts=counts) if history else (),
        decisions=sample_decisions(),
        logs={name: sample_logs(name, replicas=3 if name == "decode" else 2) for name in graph.components},
        next_tick_at=EPOCH + 3,
        clock=clock or (lambda: EPOCH),
        **kwargs,
    )
