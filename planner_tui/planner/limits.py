"""Limits applied to a policy's desired count, each recorded as a :class:`LimitApplied` when it bites.

Order per component: cold start (starting replicas count as capacity coming), min/max, the
scale-up and scale-down stabilisation windows; then across the graph: pins and the GPU budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner_tui.model.decisions import LimitApplied


def clamp_bounds(value: int, low: int, high: int) -> tuple[int, LimitApplied | None]:
    """Keep ``value`` within ``[low, high]``."""
    if value < low:
        return low, LimitApplied("min_replicas", value, low, f"min_replicas {low}")
    if value > high:
        return high, LimitApplied("max_replicas", value, high, f"max_replicas {high}")
    return value, None


def stabilise(
    value: int,
    current: int,
    history: Sequence[tuple[float, int]],
    now: float,
    up_window_s: float,
    down_window_s: float,
) -> tuple[int, LimitApplied | None]:
    """HPA-style stabilisation over the recommendations of the last window (``history`` includes this one).

    Scaling down goes only as low as the highest recommendation of the last ``down_window_s``;
    scaling up only as high as the lowest of the last ``up_window_s``. Neither moves past ``current``.
    """
    if value < current and down_window_s > 0:
        recent = [r for t, r in history if now - t <= down_window_s]
        held = min(current, max(recent, default=value))
        if held > value:
            return held, LimitApplied(
                "scale_down_stabilization", value, held, f"scale-down stabilisation {down_window_s:g} s keeps {held}"
            )
    if value > current and up_window_s > 0:
        recent = [r for t, r in history if now - t <= up_window_s]
        held = max(current, min(recent, default=value))
        if held < value:
            return held, LimitApplied(
                "scale_up_stabilization", value, held, f"scale-up stabilisation {up_window_s:g} s keeps {held}"
            )
    return value, None


@dataclass(frozen=True, slots=True)
class BudgetItem:
    """One component as the GPU budget sees it.

    ``adjustable`` is False for components the planner may not change (pinned, not autoscaled):
    their ``target`` is reserved first. ``remainder`` marks the component that gets what is left
    after the others are reduced proportionally (decode, as upstream).
    """

    name: str
    target: int
    gpus_per_replica: int
    min_replicas: int
    adjustable: bool
    remainder: bool = False


def gpus_used(items: Sequence[BudgetItem], targets: Mapping[str, int] | None = None) -> int:
    """GPUs the targets need."""
    return sum((targets or {}).get(i.name, i.target) * i.gpus_per_replica for i in items)


def apply_gpu_budget(items: Sequence[BudgetItem], budget: int) -> tuple[dict[str, int], dict[str, LimitApplied]]:
    """Fit the targets into ``budget`` GPUs (-1 = unlimited), as upstream Dynamo does.

    Over budget: the adjustable components are reduced proportionally (never below their minimum,
    keeping room for the minimums of the others) and the remainder component gets the GPUs left.
    A budget that cannot cover the minimums sets every adjustable GPU component to 0, as upstream.
    """
    targets = {i.name: i.target for i in items}
    total = gpus_used(items)
    if budget < 0 or total <= budget:
        return targets, {}
    limits: dict[str, LimitApplied] = {}
    gpu_items = [i for i in items if i.adjustable and i.gpus_per_replica > 0 and i.target > 0]
    fixed = sum(i.target * i.gpus_per_replica for i in items if not i.adjustable)
    available = budget - fixed
    minimums = sum(i.min_replicas * i.gpus_per_replica for i in gpu_items)
    if available < minimums:
        for item in gpu_items:
            targets[item.name] = 0
            limits[item.name] = LimitApplied(
                "gpu_budget",
                item.target,
                0,
                f"GPU budget {budget} cannot cover the minimum replicas ({minimums + fixed} GPUs): scaled to 0",
            )
        return targets, limits
    wanted = sum(i.target * i.gpus_per_replica for i in gpu_items)
    scale = available / wanted if wanted else 1.0
    ordered = sorted(gpu_items, key=lambda i: i.remainder)  # the remainder component last
    # reserves[n]: GPUs the minimums of the components after n need (suffix sums, so this stays linear)
    reserves = [0] * (len(ordered) + 1)
    for n in range(len(ordered) - 1, -1, -1):
        reserves[n] = reserves[n + 1] + ordered[n].min_replicas * ordered[n].gpus_per_replica
    used = 0
    for n, item in enumerate(ordered):
        reserve = reserves[n + 1]
        room = (available - used - reserve) // item.gpus_per_replica
        if item.remainder or n == len(ordered) - 1:
            new = min(item.target, room)
        else:
            new = min(item.target, room, round(item.target * scale))
        new = max(item.min_replicas, new)
        used += new * item.gpus_per_replica
        if new != item.target:
            targets[item.name] = new
            limits[item.name] = LimitApplied(
                "gpu_budget", item.target, new, f"GPU budget {budget}: {total} GPUs wanted, {item.name} gets {new}"
            )
    return targets, limits
