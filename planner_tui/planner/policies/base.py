"""What every policy sees (:class:`PolicyContext`) and returns (:class:`Recommendation`)."""

from __future__ import annotations

from typing import NamedTuple

from planner_tui.config.graph import ComponentConfig
from planner_tui.config.planner_settings import PlannerSettings
from planner_tui.model.components import ComponentState
from planner_tui.model.decisions import Verdict
from planner_tui.model.replicas import Phase
from planner_tui.model.signals import SignalValue
from planner_tui.planner.inputs import ComponentSignals, SnapshotIndex
from planner_tui.planner.profile import CapacityProfile
from planner_tui.planner.state import PolicyMemory


class PolicyContext(NamedTuple):
    """One component at one tick, as a policy sees it (read-only: a policy answers with a Recommendation).

    ``current`` is the component's desired replica count (what the connector is aiming at);
    ``moving`` is True when that count changed since the previous tick (``previous_count``) or replicas
    are stopping; ``last_scale_up_at`` is when the count last went up (including this tick).
    ``frontends`` are the graph's frontends (without this component) whose signals a policy may read
    (the throughput policy reads the frontend's request rate); ``signal_index`` holds every
    component's signal values of this tick. ``memory`` is what the policy remembered about this
    component *before* this tick. (A NamedTuple: immutable, and the cheapest such record to build,
    one per component per tick; build it with keywords.)
    """

    name: str
    config: ComponentConfig
    settings: PlannerSettings
    state: ComponentState
    signals: ComponentSignals
    signal_index: SnapshotIndex
    memory: PolicyMemory
    now: float
    current: int
    moving: bool
    previous_count: int | None = None
    last_scale_up_at: float | None = None
    frontends: tuple[ComponentSignals, ...] = ()
    profile: CapacityProfile | None = None


class Recommendation(NamedTuple):
    """A policy's answer before limits.

    ``desired`` is the naive count (per-worker figures over ready replicas); ``with_capacity_coming``
    is the count when starting replicas are counted as capacity (None when equal, or not applicable).
    ``clause`` is the "why" half of the reason line (``KV load 0.94 > 0.90 for 3 intervals``).
    ``memory`` is the policy's memory as this tick leaves it (series, streaks, predictor state, any
    field set through :meth:`PolicyMemory.evolve`); the engine keeps it whole for the next tick.
    Immutable: a policy that refines a recommendation makes a new one (``rec._replace(clause=...)``).
    (A NamedTuple, like the context: one per component per tick; build it with keywords.)
    """

    desired: int
    verdict: Verdict
    clause: str
    memory: PolicyMemory
    inputs: tuple[SignalValue, ...] = ()
    load: float | None = None
    with_capacity_coming: int | None = None
    predicted: tuple[tuple[str, float], ...] = ()


def hold(
    ctx: PolicyContext,
    verdict: Verdict,
    clause: str,
    *,
    memory: PolicyMemory | None = None,
    inputs: tuple[SignalValue, ...] = (),
    load: float | None = None,
    predicted: tuple[tuple[str, float], ...] = (),
) -> Recommendation:
    """A recommendation to keep the current count; a hold for lack of data names why the component's
    first live replica that is not ready is not (its health answer), when the connector says."""
    if verdict is Verdict.INSUFFICIENT_DATA:
        clause += not_ready_note(ctx.state)
    return Recommendation(
        desired=ctx.current,
        verdict=verdict,
        clause=clause,
        memory=ctx.memory if memory is None else memory,
        inputs=inputs,
        load=load,
        predicted=predicted,
    )


def not_ready_note(state: ComponentState) -> str:
    """``; decode-0 not ready: /health 503 {"status":"notready"}`` (`` (+1 more)`` when several), else ""."""
    waiting = [r for r in state.replicas if r.phase in (Phase.STARTING, Phase.RUNNING) and r.reason]
    if not waiting:
        return ""
    first, reason = waiting[0], waiting[0].reason or ""
    more = f" (+{len(waiting) - 1} more)" if len(waiting) > 1 else ""
    if reason.startswith("not ready"):
        return f"; {first.name} {reason}{more}"  # decode-0 not ready after 120 s: /health 503 ...
    return f"; {first.name} not ready: {reason}{more}"


def verdict_for(desired: int, current: int) -> Verdict:
    """``scale_up``/``scale_down``/``no_change`` from a desired and the current count."""
    if desired > current:
        return Verdict.SCALE_UP
    if desired < current:
        return Verdict.SCALE_DOWN
    return Verdict.NO_CHANGE
