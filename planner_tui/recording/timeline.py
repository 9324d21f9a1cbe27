"""What a chart of a run shows: replicas per component, the figure each policy acts on with its
thresholds, and every scaling decision on the time axis.

A :class:`Timeline` is filled from Snapshots (replica counts) and decisions (the policy's figure,
``ComponentDecision.load``, and the changes), whether they come from a live graph, a recording or a
``compare`` run, so the dashboard's chart screen and ``compare``'s charts draw the same thing.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from planner_tui.config.choices import Policy
from planner_tui.config.graph import GraphConfig
from planner_tui.config.rules import resolve_policy
from planner_tui.model.components import Role
from planner_tui.model.decisions import Decision, Outcome
from planner_tui.model.snapshot import Snapshot

#: (Unix time, value)
Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Threshold:
    """The figure a component's policy compares, and where it scales down and up (None: no such line)."""

    label: str
    down: float | None
    up: float | None


def policy_threshold(graph: GraphConfig, component: str) -> Threshold | None:
    """What ``component``'s policy acts on under ``graph``'s settings; None when it is not autoscaled."""
    config = graph.components.get(component)
    if config is None:
        return None
    settings = graph.planner
    policy = resolve_policy(config, settings.policy)
    if policy is Policy.NONE:
        return None
    if policy is Policy.TARGET:
        signal = config.target_signal.value if config.target_signal else "signal"
        return Threshold(f"{signal} per replica", None, config.target_value)
    if policy is Policy.THROUGHPUT:
        return Threshold("demand per replica (req/s)", None, None)
    if config.effective_sub_component_type == "prefill" or config.role is Role.PREFILL:
        return Threshold("prefill queue per worker", settings.prefill_queue_scale_down, settings.prefill_queue_scale_up)
    return Threshold("KV load per worker", settings.decode_kv_scale_down, settings.decode_kv_scale_up)


@dataclass(frozen=True, slots=True)
class Mark:
    """A decision that changed a component's replica count (or would have, in advisory mode)."""

    timestamp: float
    component: str
    before: int
    after: int
    applied: bool

    @property
    def label(self) -> str:
        """``decode 2->3``."""
        return f"{self.component} {self.before}->{self.after}"


@dataclass(slots=True)
class Timeline:
    """The charted series of one run (times are Unix time)."""

    graph: GraphConfig
    replicas: dict[str, list[Point]] = field(default_factory=dict)
    signals: dict[str, list[Point]] = field(default_factory=dict)
    marks: list[Mark] = field(default_factory=list)

    @property
    def components(self) -> list[str]:
        """The components charted, in graph order."""
        names = set(self.replicas) | set(self.signals)
        return [n for n in self.graph.components if n in names]

    def thresholds(self) -> dict[str, Threshold]:
        """Each autoscaled component's threshold lines."""
        out = {}
        for name in self.graph.components:
            threshold = policy_threshold(self.graph, name)
            if threshold is not None:
                out[name] = threshold
        return out

    def add_snapshot(self, snapshot: Snapshot) -> None:
        """Each component's live replica count at the Snapshot's time."""
        for name, state in snapshot.components.items():
            self.replicas.setdefault(name, []).append((snapshot.timestamp, float(state.current_replicas)))

    def add_decision(self, decision: Decision) -> None:
        """The figure each policy compared, and the changes it made."""
        for item in decision.components:
            if item.load is not None:
                self.signals.setdefault(item.component, []).append((decision.timestamp, item.load))
            if item.changes and item.outcome in (Outcome.APPLIED, Outcome.ADVISORY, Outcome.PENDING):
                self.marks.append(
                    Mark(decision.timestamp, item.component, item.current, item.target, item.outcome is Outcome.APPLIED)
                )

    @property
    def start(self) -> float | None:
        """The earliest time charted."""
        times = [s[0][0] for s in (*self.replicas.values(), *self.signals.values()) if s]
        return min(times) if times else None

    @property
    def end(self) -> float | None:
        """The latest time charted."""
        times = [s[-1][0] for s in (*self.replicas.values(), *self.signals.values()) if s]
        return max(times) if times else None

    def window(self, seconds: float | None, end: float | None = None) -> Timeline:
        """The last ``seconds`` up to ``end`` (default: the latest point); all of it when ``seconds`` is None."""
        last = self.end if end is None else end
        if last is None:
            return Timeline(self.graph)
        first = float("-inf") if seconds is None else last - seconds
        return Timeline(
            self.graph,
            {k: _between(v, first, last) for k, v in self.replicas.items()},
            {k: _between(v, first, last) for k, v in self.signals.items()},
            [m for m in self.marks if first <= m.timestamp <= last],
        )


def _between(points: list[Point], first: float, last: float) -> list[Point]:
    times = [p[0] for p in points]
    return points[bisect.bisect_left(times, first) : bisect.bisect_right(times, last)]


def downsample(points: list[Point], width: int) -> list[Point]:
    """At most about ``width`` points: the last of each of ``width`` equal time slices (charts draw no more)."""
    if width <= 0 or len(points) <= width:
        return points
    first, last = points[0][0], points[-1][0]
    span = (last - first) or 1.0
    out: dict[int, Point] = {}
    for point in points:
        out[min(width - 1, int((point[0] - first) / span * width))] = point
    return [out[k] for k in sorted(out)]
