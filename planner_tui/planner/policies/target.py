"""The target policy: HPA-style ``desired = ceil(current * value / target)`` on any signal.

``value`` is the signal per replica. Starting replicas count as capacity coming (they are in the
denominator and contribute no load), like the HPA treats not-ready pods when scaling up. Within
a 10 % tolerance of the target nothing changes, as in the HPA.
"""

from __future__ import annotations

import math

from planner_tui.model.decisions import Verdict
from planner_tui.model.signals import EXTENSIVE
from planner_tui.planner.policies.base import PolicyContext, Recommendation, hold, verdict_for

TOLERANCE = 0.1


def recommend_target(ctx: PolicyContext) -> Recommendation:
    """Scale so the per-replica value of ``target_signal`` approaches ``target_value``."""
    signal, target = ctx.config.target_signal, ctx.config.target_value
    if signal is None or target is None:
        return hold(ctx, Verdict.INSUFFICIENT_DATA, "policy 'target' needs target_signal and target_value")
    reading = ctx.signals.read(signal)
    if reading is None:
        return hold(
            ctx, Verdict.INSUFFICIENT_DATA, f"no fresh {signal.value} data", inputs=tuple(ctx.signals.stale_inputs)
        )
    if signal in EXTENSIVE:
        live_value, naive_value = reading.per_live, reading.per_ready
    else:
        live_value = reading.mean * reading.ready / max(reading.live, 1)
        naive_value = reading.mean
    memory = ctx.memory.with_point("load", ctx.now, live_value, 12)
    base = max(ctx.current, 1)

    def desired_for(value: float) -> int:
        ratio = value / target
        if abs(ratio - 1.0) <= TOLERANCE:
            return ctx.current
        return math.ceil(base * ratio - 1e-9)

    live, naive = desired_for(live_value), desired_for(naive_value)
    figure = f"{signal.value} {live_value:.2f} per replica vs target {target:g}"
    if live == ctx.current:
        clause = f"{figure} (within {TOLERANCE:.0%})"
    else:
        clause = f"{figure}: ceil({base} x {live_value / target:.2f}) = {live}"
    return Recommendation(
        desired=naive if naive > live else live,
        verdict=verdict_for(live, ctx.current),
        clause=clause,
        memory=memory,
        inputs=reading.inputs,
        load=live_value,
        with_capacity_coming=live if naive > live else None,
    )
