"""A tiny deterministic graph for replay tests: targets become replicas that are ready one tick later.

Load is given as total demand per component: decode demand in "full workers" of KV usage (KV usage
per ready replica = demand / ready, at most 1: the rest as waiting requests), prefill demand as total
queued requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner_tui.config import GraphConfig
from planner_tui.model import ComponentState, Decision, Outcome, Signal, Snapshot
from planner_tui.planner import EngineConfig, PlannerState, plan
from tests.planner.builders import component, snapshot


@dataclass
class World:
    """Replica counts that follow the planner's targets, with one tick of cold start."""

    graph: GraphConfig
    counts: dict[str, int] = field(default_factory=lambda: {"frontend": 1, "prefill": 1, "decode": 1})
    starting: dict[str, int] = field(default_factory=dict)
    state: PlannerState = field(default_factory=PlannerState)
    history: list[tuple[int, int]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def snap(self, now: float, decode_demand: float, prefill_queue: float) -> Snapshot:
        comps: dict[str, ComponentState] = {}
        for name, count in self.counts.items():
            starting = self.starting.get(name, 0)
            comps[name] = component(self.graph, name, count - starting, starting)
        ready_d = max(self.counts["decode"] - self.starting.get("decode", 0), 1)
        ready_p = max(self.counts["prefill"] - self.starting.get("prefill", 0), 1)
        # KV usage is a fraction (at most 1): demand above it waits, counted at decode_waiting_weight each
        kv = min(decode_demand / ready_d, 1.0)
        waiting = (decode_demand / ready_d - kv) / self.graph.planner.decode_waiting_weight
        values = {
            ("decode", Signal.KV_USAGE): [kv] * ready_d,
            ("decode", Signal.WAITING): [waiting] * ready_d,
            ("prefill", Signal.QUEUE_DEPTH): [prefill_queue / ready_p] * ready_p,
        }
        return snapshot(self.graph, now, comps, values)

    def tick(self, now: float, decode_demand: float, prefill_queue: float = 1.0) -> Decision:
        self.starting = {}  # replicas started last tick are ready now
        decision, self.state = plan(self.snap(now, decode_demand, prefill_queue), self.state, self.config, now)
        for c in decision.components:
            if c.outcome in (Outcome.PENDING, Outcome.PINNED) and c.target != self.counts[c.component]:
                if c.target > self.counts[c.component]:
                    self.starting[c.component] = c.target - self.counts[c.component]
                self.counts[c.component] = c.target
        self.decisions.append(decision)
        pd = (self.counts["prefill"], self.counts["decode"])
        if not self.history or self.history[-1] != pd:
            self.history.append(pd)
        return decision

    def __post_init__(self) -> None:
        self.history.append((self.counts["prefill"], self.counts["decode"]))

    @property
    def config(self) -> EngineConfig:
        return EngineConfig.of(self.graph)
