"""Capacity at the targets: from a length's points, the tokens/s one replica serves within its latency target.

The best point that met the target (steady, not overloaded, p95 within it) is the floor. When the next
heavier point missed the target on latency, the capacity is interpolated to where the latency reaches
the target between the two, with 1/latency linear in throughput (a queue's latency grows like
1 / (1 - load), so its inverse falls about linearly; a straight line through the latencies themselves
underestimates the capacity of a coarse sweep); when it was overloaded with its latency still within the
target (decode bounded by its KV cache: ITL stays low while requests queue), its sustained throughput
is what one replica serves. A length with no point within the target has no capacity and is left out
of the profile (with a warning saying so).
"""

from __future__ import annotations

from collections.abc import Sequence

from planner_tui.profiling.records import CapacityPoint, Point, SweepResult


def capacity_at_target(points: Sequence[Point], target_s: float) -> CapacityPoint | None:
    """The capacity of one (component, length) at ``target_s``, or None when no point met it."""
    if not points:
        return None
    ordered = sorted(points, key=lambda p: p.load)
    good = [p for p in ordered if p.meets(target_s)]
    if not good:
        return None
    best = max(good, key=lambda p: p.tokens_per_s)
    kind = best.load_kind
    above = [p for p in ordered if p.load > best.load and not p.meets(target_s)]
    if not above:
        return CapacityPoint(best.length, best.tokens_per_s, f"highest load measured, {kind.describe(best.load)}")
    nxt = above[0]
    lat_best, lat_next = best.latency.p95, nxt.latency.p95
    if (
        lat_best is not None
        and lat_next is not None
        and lat_next > target_s
        and lat_next > lat_best
        and nxt.tokens_per_s > best.tokens_per_s
    ):
        # near capacity latency grows like 1 / (1 - load): its inverse is about linear in throughput
        share = (1 / lat_best - 1 / target_s) / (1 / lat_best - 1 / lat_next) if lat_best > 0 else 0.0
        tokens = best.tokens_per_s + share * (nxt.tokens_per_s - best.tokens_per_s)
        basis = f"interpolated to the target between {kind.describe(best.load)} and {kind.describe(nxt.load)}"
        return CapacityPoint(best.length, tokens, basis)
    if nxt.overloaded and lat_next is not None and lat_next <= target_s and nxt.tokens_per_s > best.tokens_per_s:
        # saturated with the latency within the target: what one replica sustains is the most any
        # saturated point served (a lighter saturated point, bisected to, may not have filled up yet)
        saturated = [p for p in above if p.overloaded and p.latency.p95 is not None and p.latency.p95 <= target_s]
        top = max(saturated, key=lambda p: p.tokens_per_s)
        basis = f"saturated at {kind.describe(top.load)} with the latency within the target"
        return CapacityPoint(best.length, top.tokens_per_s, basis)
    return CapacityPoint(best.length, best.tokens_per_s, f"best point within the target, {kind.describe(best.load)}")


def fill_capacity(result: SweepResult) -> None:
    """Set ``result.capacity`` from its points (per component, ascending length) and warn about gaps."""
    result.capacity = {}
    for component, phase in result.components.items():
        target = result.targets.seconds(phase)
        lengths = sorted({p.length for p in result.points_of(component)})
        found: list[CapacityPoint] = []
        for length in lengths:
            capacity = capacity_at_target(result.points_of(component, length), target)
            if capacity is None:
                message = (
                    f"{component}: no point met {result.targets.describe(phase)} at {phase.axis} {length:g} "
                    "(even the lightest load missed it): left out of the profile"
                )
                if message not in result.warnings:
                    result.warnings.append(message)
                continue
            found.append(capacity)
        if found:
            result.capacity[component] = found


def profile_tables(result: SweepResult) -> dict[str, dict[str, list[float]]]:
    """The profile's curves (:mod:`planner_tui.planner.profile`): one table per measured component."""
    tables: dict[str, dict[str, list[float]]] = {}
    for component, capacities in result.capacity.items():
        axis = result.components[component].axis
        tables[component] = {
            axis: [round(c.length, 1) for c in capacities],
            "tokens_per_s": [round(c.tokens_per_s, 1) for c in capacities],
        }
    return tables
