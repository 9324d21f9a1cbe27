"""Checks a requested replica count against a component's bounds, the free GPUs and the GPU budget (no Textual).

The budget is the planner's rule (:mod:`planner_tui.config.rules`): a scale-up this dialog lets through
is one the session accepts, and one it refuses is one the session would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from planner_tui.config.rules import gpu_budget
from planner_tui.model import ComponentState, Snapshot

if TYPE_CHECKING:
    from planner_tui.config.graph import GraphConfig


@dataclass(frozen=True, slots=True)
class GpuHeadroom:
    """GPUs known to the graph, assigned to live replicas, free, and left under the GPU budget.

    ``free`` is the inventory less the GPUs live replicas hold; ``budget_left`` is the planner's
    budget less what the desired replica counts need (see :mod:`planner_tui.config.rules`).
    """

    inventory: int | None  # None: unknown (gpus = "auto" and no GPU source)
    assigned: int
    budget_left: int | None  # None: unlimited

    @property
    def free(self) -> int | None:
        """Unassigned GPUs, or None when the inventory is unknown."""
        return None if self.inventory is None else max(0, self.inventory - self.assigned)

    def extra_replicas(self, gpus_per_replica: int) -> int | None:
        """How many more replicas needing ``gpus_per_replica`` GPUs fit, or None when unlimited/unknown."""
        if gpus_per_replica <= 0:
            return None
        limits = [n for n in (self.free, self.budget_left) if n is not None]
        return min(limits) // gpus_per_replica if limits else None


def gpu_headroom(graph: GraphConfig, snapshot: Snapshot | None) -> GpuHeadroom:
    """The GPU headroom of the graph as ``snapshot`` shows it."""
    declared = graph.resources.gpus
    if isinstance(declared, list):
        inventory: int | None = len(declared)
    elif snapshot is not None and snapshot.gpus:
        inventory = len(snapshot.gpus)
    else:
        inventory = None
    assigned: set[int] = set()
    if snapshot is not None:
        for state in snapshot.components.values():
            for replica in state.replicas:
                if replica.phase.is_live:
                    assigned.update(replica.gpus)
    return GpuHeadroom(inventory=inventory, assigned=len(assigned), budget_left=gpu_budget(graph, snapshot).left)


def check_scale(text: str, state: ComponentState, headroom: GpuHeadroom) -> tuple[int | None, str | None]:
    """Parse and check a requested replica count: ``(count, None)`` or ``(None, reason)``."""
    spec = state.spec
    try:
        count = int(text.strip())
    except ValueError:
        return None, f"enter a whole number between {spec.min_replicas} and {spec.max_replicas}"
    if count < spec.min_replicas or count > spec.max_replicas:
        return None, f"{spec.name} allows {spec.min_replicas}..{spec.max_replicas} replicas, got {count}"
    more = count - state.desired_replicas
    extra = headroom.extra_replicas(spec.gpus_per_replica)
    if more > 0 and extra is not None and more > extra:
        needed = more * spec.gpus_per_replica
        return None, (
            f"{more} more replica{'s' if more > 1 else ''} need {needed} GPU{'s' if needed > 1 else ''}; "
            f"{headroom.free if headroom.free is not None else '?'} free"
            + (f", {headroom.budget_left} left in the GPU budget" if headroom.budget_left is not None else "")
        )
    return count, None
