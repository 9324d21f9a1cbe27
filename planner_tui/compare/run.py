"""One candidate in closed loop: workload -> virtual graph -> Snapshots -> the real planner -> scaling.

Every ``metrics.interval_s`` of simulated time the :class:`~planner_tui.compare.collect.VirtualCollector`
makes a Snapshot; every ``adjustment_interval_s`` the planner engine's own
:func:`~planner_tui.planner.engine.plan` decides from the latest one (in auto mode) and its changes are
applied to the :class:`~planner_tui.sim.virtual.VirtualGraph` the way the runner applies them through a
connector. Nothing reads a clock: the same graph, workload, candidate and seed give the same result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from planner_tui.compare.candidates import Candidate
from planner_tui.compare.collect import VirtualCollector
from planner_tui.compare.workload import WorkloadSource
from planner_tui.config.graph import GraphConfig
from planner_tui.model.decisions import Decision, Outcome, PlannerMode
from planner_tui.model.snapshot import Snapshot
from planner_tui.planner.engine import EngineConfig, plan
from planner_tui.planner.profile import CapacityProfile, load_profile
from planner_tui.planner.state import PlannerState
from planner_tui.recording.timeline import Timeline
from planner_tui.sim.profiles import Workload
from planner_tui.sim.virtual import VirtualGraph, WorkerSpec

#: Unix time of simulated time 0 when the workload has no time of its own (2024-01-01T00:00:00Z)
DEFAULT_EPOCH = 1_704_067_200.0


@dataclass(frozen=True, slots=True)
class Bounds:
    """How a run is judged: the SLA targets come from the candidate; these are the rest."""

    queue_bound_s: float = 30.0  # a request waiting longer than this for its first token counts as over the bound
    flap_window_s: float = 120.0  # a change undone within this long is a flap
    sla_window_s: float = 60.0  # attainment per window: both p95s within target


@dataclass(slots=True)
class CandidateResult:
    """What one candidate did with the workload (see :meth:`to_dict` for the figures)."""

    name: str
    description: str
    seed: int
    duration_s: float
    ttft_target_s: float
    itl_target_s: float
    arrived: int = 0
    finished: int = 0
    dropped: int = 0
    over_bound: int = 0
    ttft_p95_s: float | None = None
    itl_p95_s: float | None = None
    requests_within_sla: float | None = None
    windows_within_sla: float | None = None
    gpu_seconds: float = 0.0
    scale_actions: int = 0
    flaps: int = 0
    peak_replicas: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    timeline: Timeline | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--json``): figures only, no timeline."""
        return {
            "name": self.name,
            "settings": self.description,
            "seed": self.seed,
            "duration_s": self.duration_s,
            "requests": {
                "arrived": self.arrived,
                "finished": self.finished,
                "dropped": self.dropped,
                "over_queue_bound": self.over_bound,
            },
            "sla": {
                "ttft_p95_s": self.ttft_p95_s,
                "ttft_target_s": self.ttft_target_s,
                "itl_p95_s": self.itl_p95_s,
                "itl_target_s": self.itl_target_s,
                "requests_within_sla": self.requests_within_sla,
                "windows_within_sla": self.windows_within_sla,
            },
            "gpu_seconds": round(self.gpu_seconds, 3),
            "scale_actions": self.scale_actions,
            "flaps": self.flaps,
            "peak_replicas": dict(self.peak_replicas),
            "wall_s": round(self.wall_s, 3),
        }


def p95(values: Sequence[float]) -> float | None:
    """The 95th percentile (nearest rank), None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass(slots=True)
class _Changes:
    """Scale actions and flaps, per component."""

    window_s: float
    actions: int = 0
    flaps: int = 0
    last: dict[str, tuple[float, int]] = field(default_factory=dict)  # component -> (time, direction)

    def add(self, component: str, at: float, before: int, after: int) -> None:
        direction = 1 if after > before else -1
        self.actions += 1
        previous = self.last.get(component)
        if previous is not None and previous[1] != direction and at - previous[0] <= self.window_s:
            self.flaps += 1
        self.last[component] = (at, direction)


def run_candidate(
    graph: GraphConfig,
    workers: Sequence[WorkerSpec],
    source: WorkloadSource,
    candidate: Candidate,
    *,
    seed: int = 0,
    epoch: float = DEFAULT_EPOCH,
    bounds: Bounds | None = None,
    on_decision: Callable[[Decision], None] | None = None,
    on_snapshot: Callable[[Snapshot], None] | None = None,
    keep_timeline: bool = True,
    capacity: CapacityProfile | None = None,
) -> CandidateResult:
    """Run ``candidate`` against ``source`` for its duration; see the module's docstring.

    ``capacity``: the candidate's capacity profile, already read; else its ``profile_file`` is read here
    (:class:`~planner_tui.config.errors.ConfigError` when it cannot be), as ``plan`` reads it.
    """
    started = time.perf_counter()
    bounds = bounds or Bounds()
    cgraph = candidate.graph(graph)
    settings = cgraph.planner
    if capacity is None and settings.profile_file:
        capacity = load_profile(settings.profile_file)
    engine_config = EngineConfig.of(cgraph, capacity)
    virtual = VirtualGraph(workers, source.arrivals(seed))
    collector = VirtualCollector(cgraph, epoch=epoch)
    desired: dict[str, int] = {}
    for spec in workers:
        desired[spec.name] = cgraph.components[spec.name].effective_initial_replicas
        virtual.scale(spec.name, desired[spec.name])
    gpus = {spec.name: spec.gpus_per_replica for spec in workers}
    result = CandidateResult(
        candidate.name,
        candidate.describe(),
        seed,
        source.duration_s,
        settings.ttft_target_ms / 1000.0,
        settings.itl_target_ms / 1000.0,
    )
    timeline = Timeline(cgraph) if keep_timeline else None
    changes = _Changes(bounds.flap_window_s)
    profile = source.make.profile if isinstance(source.make, Workload) else None
    ttfts: list[float] = []
    itls: list[float] = []
    within = 0
    windows: dict[int, tuple[list[float], list[float]]] = {}
    state = PlannerState()
    snapshot: Snapshot | None = None
    interval, adjust = cgraph.metrics.interval_s, settings.adjustment_interval_s
    collect_n, plan_n = 1, 1
    while True:
        next_collect, next_plan = collect_n * interval, plan_n * adjust
        now = min(next_collect, next_plan)
        if now > source.duration_s + 1e-9:
            break
        virtual.advance(now)
        if next_collect <= now:
            collect_n += 1
            rate = profile.rate(now) if profile is not None else 0.0
            snapshot = collector.collect(virtual, desired, rate)
            result.gpu_seconds += interval * sum(gpus[n] * len(virtual.replicas[n]) for n in gpus)
            for name in gpus:
                result.peak_replicas[name] = max(result.peak_replicas.get(name, 0), len(virtual.live(name)))
            if timeline is not None:
                timeline.add_snapshot(snapshot)
            if on_snapshot is not None:
                on_snapshot(snapshot)
        if next_plan <= now:
            plan_n += 1
            if snapshot is not None:
                decision, state = plan(snapshot, state, engine_config, epoch + now, PlannerMode.AUTO)
                decision = _apply(decision, virtual, desired, changes, now)
                if timeline is not None:
                    timeline.add_decision(decision)
                if on_decision is not None:
                    on_decision(decision)
        for done in virtual.take_results():
            if done.ttft_s is not None:
                ttfts.append(done.ttft_s)
            if done.itl_mean_s is not None:
                itls.append(done.itl_mean_s)
            ok = (
                done.ok
                and done.ttft_s is not None
                and done.ttft_s <= result.ttft_target_s
                and (done.itl_mean_s is None or done.itl_mean_s <= result.itl_target_s)
            )
            within += ok
            if done.ttft_s is not None and done.ttft_s > bounds.queue_bound_s:
                result.over_bound += 1
            window = windows.setdefault(int(done.arrived_at // bounds.sla_window_s), ([], []))
            if done.ttft_s is not None:
                window[0].append(done.ttft_s)
            if done.itl_mean_s is not None:
                window[1].append(done.itl_mean_s)
    broker = virtual.broker
    end = virtual.now
    result.over_bound += sum(
        1 for r in broker.inflight.values() if r.first_token_at is None and end - r.arrived_at > bounds.queue_bound_s
    )
    result.arrived = broker.requests_in
    result.finished = broker.succeeded
    result.dropped = broker.failed
    result.ttft_p95_s, result.itl_p95_s = p95(ttfts), p95(itls)
    finished = broker.succeeded + broker.failed
    result.requests_within_sla = within / finished if finished else None
    met = [
        (p95(t) or 0.0) <= result.ttft_target_s and (p95(i) or 0.0) <= result.itl_target_s
        for t, i in windows.values()
        if t
    ]
    result.windows_within_sla = sum(met) / len(met) if met else None
    result.scale_actions, result.flaps = changes.actions, changes.flaps
    result.timeline = timeline
    result.wall_s = time.perf_counter() - started
    return result


def _apply(
    decision: Decision, virtual: VirtualGraph, desired: dict[str, int], changes: _Changes, now: float
) -> Decision:
    """Apply the decision's changes as the runner would in auto mode; the decision with its outcomes."""
    updated = []
    for item in decision.components:
        wanted = item.outcome is Outcome.PENDING or (item.outcome is Outcome.PINNED and item.target != item.current)
        if not wanted or item.component not in virtual.replicas:
            updated.append(item)
            continue
        virtual.scale(item.component, item.target)
        if item.target != desired.get(item.component):
            changes.add(item.component, now, desired.get(item.component, item.current), item.target)
        desired[item.component] = item.target
        updated.append(item if item.outcome is Outcome.PINNED else replace(item, outcome=Outcome.APPLIED))
    return replace(decision, components=tuple(updated))
