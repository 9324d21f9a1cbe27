"""What every policy sees (:class:`PolicyContext`) and returns (:class:`Recommendation`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner_tui.config.graph import ComponentConfig
from planner_tui.config.planner_settings import PlannerSettings
from planner_tui.model.components import ComponentState
from planner_tui.model.decisions import Verdict
from planner_tui.model.signals import SignalValue
from planner_tui.planner.inputs import ComponentSignals, SnapshotIndex
from planner_tui.planner.profile import CapacityProfile
from planner_tui.planner.state import ComponentMemory


@dataclass(slots=True)
class PolicyContext:
    """One component at one tick, as a policy sees it.

    ``current`` is the component's desired replica count (what the connector is aiming at);
    ``moving`` is True when that count changed since the previous tick (``previous_count``) or replicas
    are stopping; ``last_scale_up_at`` is when the count last went up (including this tick).
    ``graph_signals`` reads signals of other components (the throughput policy reads the frontend's
    request rate). ``memory`` is what the planner remembered about this component *before* this tick.
    """

    name: str
    config: ComponentConfig
    settings: PlannerSettings
    state: ComponentState
    signals: ComponentSignals
    index: SnapshotIndex
    memory: ComponentMemory
    now: float
    current: int
    moving: bool
    previous_count: int | None = None
    last_scale_up_at: float | None = None
    frontends: tuple[ComponentSignals, ...] = ()
    profile: CapacityProfile | None = None


@dataclass(slots=True)
class Recommendation:
    """A policy's answer before limits.

    ``desired`` is the naive count (per-worker figures over ready replicas); ``with_capacity_coming``
    is the count when starting replicas are counted as capacity (None when equal, or not applicable).
    ``clause`` is the "why" half of the reason line (``KV load 0.94 > 0.90 for 3 intervals``).
    ``memory`` is the component memory updated by this policy (series, streaks, predictor state).
    ``changes`` are memory fields to set on top of ``memory`` (cheaper than a new memory per step).
    A transient value: the engine fills in the final memory; it never outlives the tick.
    """

    desired: int
    verdict: Verdict
    clause: str
    memory: ComponentMemory
    inputs: tuple[SignalValue, ...] = ()
    load: float | None = None
    changes: dict[str, Any] | None = None
    with_capacity_coming: int | None = None
    predicted: tuple[tuple[str, float], ...] = ()


def hold(
    ctx: PolicyContext,
    verdict: Verdict,
    clause: str,
    *,
    memory: ComponentMemory | None = None,
    inputs: tuple[SignalValue, ...] = (),
    load: float | None = None,
    predicted: tuple[tuple[str, float], ...] = (),
) -> Recommendation:
    """A recommendation to keep the current count."""
    return Recommendation(ctx.current, verdict, clause, memory or ctx.memory, inputs, load, None, None, predicted)


def verdict_for(desired: int, current: int) -> Verdict:
    """``scale_up``/``scale_down``/``no_change`` from a desired and the current count."""
    if desired > current:
        return Verdict.SCALE_UP
    if desired < current:
        return Verdict.SCALE_DOWN
    return Verdict.NO_CHANGE


def amend(rec: Recommendation, **changes: Any) -> Recommendation:
    """``rec`` with ``changes`` made in place (recommendations are fresh per tick; copying costs time)."""
    for name, value in changes.items():
        setattr(rec, name, value)
    return rec
