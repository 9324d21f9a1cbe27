"""Decisions: what the planner decided for each component at one tick, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from planner_tui.model.signals import SignalValue


class PlannerMode(StrEnum):
    """How the planner acts on its decisions."""

    AUTO = "auto"  # decide and apply
    ADVISORY = "advisory"  # decide and show, change nothing
    PAUSED = "paused"  # do not decide


class Verdict(StrEnum):
    """What a policy concluded for a component at one tick (the upstream ``load_scaling_decision`` states)."""

    NO_CHANGE = "no_change"
    SCALE_UP = "scale_up"
    SCALE_DOWN = "scale_down"
    INSUFFICIENT_DATA = "insufficient_data"
    SCALING_IN_PROGRESS = "scaling_in_progress"


class Outcome(StrEnum):
    """What became of one component's decision."""

    APPLIED = "applied"  # the connector accepted the new target
    UNCHANGED = "unchanged"  # target equals the current count: nothing to do
    ADVISORY = "advisory"  # decided, not applied (advisory mode)
    PINNED = "pinned"  # the component is pinned; the planner holds it
    PAUSED = "paused"  # planner paused
    FAILED = "failed"  # the connector refused or errored; retried next interval
    PENDING = "pending"  # decided, not yet applied


@dataclass(frozen=True, slots=True)
class LimitApplied:
    """One limit that changed the desired count (e.g. max_replicas, gpu_budget, stabilisation)."""

    limit: str
    before: int
    after: int
    detail: str


@dataclass(frozen=True, slots=True)
class ComponentDecision:
    """The planner's decision for one component at one tick.

    ``desired`` is what the policy asked for before limits; ``target`` what remains after
    ``limits``. ``reason`` is one line a person understands, e.g.
    ``decode 2->3: KV load 0.94 > 0.90 for 3 intervals``. ``verdict`` is the policy's conclusion,
    ``load`` the figure it compared (e.g. KV load per worker) and ``predicted`` any predictions it
    made (``("request_rate", 12.5)`` pairs), for the dashboard and the exporter. ``answer`` is what a
    delegating backend's service replied when the change was sent to it.
    """

    component: str
    policy: str
    current: int
    desired: int
    target: int
    reason: str
    inputs: tuple[SignalValue, ...] = ()
    limits: tuple[LimitApplied, ...] = ()
    outcome: Outcome = Outcome.PENDING
    error: str | None = None
    verdict: Verdict = Verdict.NO_CHANGE
    load: float | None = None
    predicted: tuple[tuple[str, float], ...] = ()
    #: what the backend answered when it was asked to apply this (a Global Planner's response)
    answer: str | None = None

    @property
    def changes(self) -> bool:
        """True when the decision moves the replica count."""
        return self.target != self.current


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything the planner decided at one tick (``timestamp``, Unix time) in ``mode``.

    ``snapshot_timestamp`` is the time of the Snapshot the decision was made from (its inputs' age).
    """

    timestamp: float
    mode: PlannerMode
    components: tuple[ComponentDecision, ...] = ()
    namespace: str = ""
    snapshot_timestamp: float | None = None

    def for_component(self, name: str) -> ComponentDecision | None:
        """This tick's decision for component ``name``, if any."""
        for decision in self.components:
            if decision.component == name:
                return decision
        return None
