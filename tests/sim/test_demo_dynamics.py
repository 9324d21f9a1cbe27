"""The embedded demo's load and performance model drive the real planner engine up and back down.

The demo graph file, the sim's performance model and the planner's ``plan()`` run together in simulated
time (no processes): requests arrive from the demo frontend's profile, prefill and decode engines serve
them, the planner reads each replica's KV usage and queues every adjustment interval, and its targets
add replicas (ready after the cold start) or remove the newest (its requests handed back).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from planner_tui.config import GraphConfig, demo_graph_path, load_graph
from planner_tui.model import ComponentState, Outcome, Signal
from planner_tui.planner import EngineConfig, PlannerState, plan
from planner_tui.sim.perf_model import Engine, EngineRole, PerfParams, Sequence
from planner_tui.sim.profiles import ArrivalSchedule, SineProfile, Workload
from tests.planner.builders import component, snapshot

DT = 0.005  # simulated seconds per tick of the model


def option(args: list[str], name: str, default: str) -> str:
    return args[args.index(name) + 1] if name in args else default


@dataclass
class Replica:
    engine: Engine
    ready_at: float
    step_end: float | None = None


class DemoModel:
    """The demo graph's prefill and decode replicas as perf-model engines fed by the demo's profile."""

    def __init__(self, graph: GraphConfig) -> None:
        self.graph = graph
        front = graph.components["frontend"].args
        self.workload = Workload(
            SineProfile(
                float(option(front, "--min-rps", "2")),
                float(option(front, "--max-rps", "18")),
                float(option(front, "--period", "180")),
            )
        )
        self.schedule = ArrivalSchedule(self.workload, random.Random(int(option(front, "--seed", "0"))), start=0.0)
        self.next_arrival = self.schedule.next_event()
        self.queues: dict[str, deque[Sequence]] = {"prefill": deque(), "decode": deque()}
        self.replicas: dict[str, list[Replica]] = {"prefill": [], "decode": []}
        self.params: dict[str, PerfParams] = {}
        for role in ("prefill", "decode"):
            args = graph.components[role].args
            self.params[role] = PerfParams(
                prefetch=int(option(args, "--prefetch", "4")),
                cold_start_s=float(option(args, "--cold-start", "5")),
                jitter=0.05,
            )
            for _ in range(graph.components[role].min_replicas):
                self.add(role, ready_at=0.0)
        self.requests_in = 0
        self.completed = 0

    def add(self, role: str, ready_at: float) -> None:
        rng = random.Random(len(self.replicas[role]))
        self.replicas[role].append(Replica(Engine(EngineRole(role), self.params[role], rng), ready_at))

    def remove_newest(self, role: str) -> None:
        replica = self.replicas[role].pop()
        for seq in reversed(replica.engine.take_all()):  # handed back to the head of the queue
            seq.received_at = 0.0
            self.queues[role].appendleft(seq)

    def advance(self, now: float) -> None:
        while self.next_arrival[0] <= now:
            arrival = self.next_arrival[1]
            if arrival is not None:
                self.requests_in += 1
                self.queues["prefill"].append(
                    Sequence(self.requests_in, arrival.input_tokens, arrival.output_tokens, now)
                )
            self.next_arrival = self.schedule.next_event()
        for role, queue in self.queues.items():
            for replica in self.replicas[role]:
                if replica.ready_at > now:
                    continue
                engine = replica.engine
                if replica.step_end is not None and now >= replica.step_end:
                    replica.step_end = None
                    for seq in engine.finish_step(now).finished:
                        if role == "prefill":
                            self.queues["decode"].append(
                                Sequence(seq.request_id, seq.input_tokens, seq.output_tokens, now, generated=1)
                            )
                        else:
                            self.completed += 1
                for _ in range(engine.wants()):
                    if not queue:
                        break
                    engine.add(queue.popleft())
                if replica.step_end is None:
                    duration = engine.begin_step()
                    if duration is not None:
                        replica.step_end = now + duration

    def in_flight(self) -> int:
        held = sum(r.engine.inflight for rs in self.replicas.values() for r in rs)
        return held + sum(len(q) for q in self.queues.values())

    def components(self, now: float) -> dict[str, ComponentState]:
        states = {"frontend": component(self.graph, "frontend", 1)}
        for role, replicas in self.replicas.items():
            ready = sum(1 for r in replicas if r.ready_at <= now)
            states[role] = component(self.graph, role, ready, len(replicas) - ready)
        return states

    def signals(self, now: float) -> dict[tuple[str, Signal], list[float]]:
        """What the metrics area reads from each ready replica (vLLM gauges)."""
        values: dict[tuple[str, Signal], list[float]] = {}
        for role, replicas in self.replicas.items():
            ready = [r.engine for r in replicas if r.ready_at <= now]
            values[(role, Signal.KV_USAGE)] = [e.kv_usage for e in ready]
            values[(role, Signal.WAITING)] = [float(e.num_waiting) for e in ready]
            values[(role, Signal.QUEUE_DEPTH)] = [float(e.num_waiting) for e in ready]
        return values


def test_demo_scales_decode_and_prefill_up_for_the_peak_and_back_down() -> None:
    graph = load_graph(demo_graph_path())
    model = DemoModel(graph)
    config = EngineConfig.of(graph)
    state = PlannerState()
    interval = graph.planner.adjustment_interval_s
    period = model.workload.profile.period_s  # type: ignore[attr-defined]
    counts: list[tuple[float, int, int]] = []
    next_tick = interval
    now = 0.0
    while now < period + 30:
        model.advance(now)
        if now >= next_tick:
            next_tick += interval
            snap = snapshot(graph, now, model.components(now), model.signals(now))
            decision, state = plan(snap, state, config, now)
            for change in decision.components:
                if change.outcome is not Outcome.PENDING or change.component not in model.replicas:
                    continue
                replicas = model.replicas[change.component]
                while len(replicas) < change.target:
                    model.add(change.component, ready_at=now + model.params[change.component].cold_start_s)
                while len(replicas) > change.target:
                    model.remove_newest(change.component)
            counts.append((now, len(model.replicas["prefill"]), len(model.replicas["decode"])))
            assert model.requests_in == model.completed + model.in_flight()
        now += DT

    peak_decode = max(d for _, _, d in counts)
    peak_prefill = max(p for _, p, _ in counts)
    first_up = next(t for t, _, d in counts if d > 1)
    back_to_one = next(t for t, _, d in counts if t > first_up and d == 1)
    prefill_back = next(t for t, p, _ in counts if t > first_up and p == 1)
    assert peak_decode >= 3, counts
    assert peak_prefill >= 2, counts
    assert first_up < period / 2  # up while the load rises to its peak (at half the period)
    assert back_to_one <= period + 30, counts  # and down again by the end of the cycle
    assert prefill_back <= period + 30, counts
