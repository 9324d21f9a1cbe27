"""Rules the graph file implies, written once for the planner, the session and the dashboard.

- Which components the planner autoscales (:func:`is_autoscaled`): the engine decides exactly these,
  and the dashboard marks exactly these with the planner's mode.
- The GPU budget (:func:`gpu_budget`): the GPUs a graph's replicas need and what is left under
  ``planner.max_gpu_budget``. The engine reduces its targets to fit it, the session refuses a manual
  scale-up over it, and the dashboard shows what is left and refuses the same scale-ups before
  asking. A graph needs, summed over its components, the desired replica count times
  ``gpus_per_replica``; a component's desired count is what the snapshot reports, else its initial
  count. (GPU indices held by live replicas are the inventory's business, not the budget's: a
  replica still starting or stopping counts by its desired count, as the planner counts it.)

Here, below every consumer (config imports only model), so the dashboard needs no planner import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from planner_tui.config.choices import Policy
from planner_tui.model.components import Role
from planner_tui.model.snapshot import Snapshot

if TYPE_CHECKING:
    from planner_tui.config.graph import ComponentConfig, GraphConfig

#: roles the graph-wide ``planner.policy`` applies to; other roles need an explicit component policy
WORKER_ROLES = frozenset({Role.PREFILL, Role.DECODE, Role.WORKER})


def resolve_policy(component: ComponentConfig, graph_policy: Policy) -> Policy:
    """The component's policy: its own, else the graph's for worker roles, else none (not autoscaled)."""
    if component.policy is not None:
        return component.policy
    return graph_policy if component.role in WORKER_ROLES else Policy.NONE


def is_autoscaled(component: ComponentConfig, graph_policy: Policy) -> bool:
    """True when the planner decides the component's replica count (it has a policy other than ``none``).

    The one rule for "autoscaled": the engine decides exactly these components, and the dashboard
    marks exactly these with the planner's mode (the others are MANUAL). A frontend without its own
    policy is not autoscaled, whatever its bounds.
    """
    return resolve_policy(component, graph_policy) is not Policy.NONE


def desired_counts(graph: GraphConfig, snapshot: Snapshot | None) -> dict[str, int]:
    """Each component's desired replica count: the snapshot's, else the component's initial count."""
    reported = snapshot.components if snapshot is not None else {}
    counts: dict[str, int] = {}
    for name, comp in graph.components.items():
        state = reported.get(name)
        counts[name] = state.desired_replicas if state is not None else comp.effective_initial_replicas
    return counts


def gpus_needed(graph: GraphConfig, counts: Mapping[str, int]) -> int:
    """GPUs the graph needs with ``counts`` replicas (components missing from ``counts`` need none)."""
    total = 0
    for name, comp in graph.components.items():
        per_replica = comp.gpus_per_replica
        if per_replica > 0:
            total += counts.get(name, 0) * per_replica
    return total


def budget_limit(graph: GraphConfig) -> int | None:
    """``planner.max_gpu_budget``, or None when unlimited (-1)."""
    budget = graph.planner.max_gpu_budget
    return None if budget < 0 else budget


@dataclass(frozen=True, slots=True)
class GpuBudget:
    """The graph's GPU budget at desired counts ``counts``: ``needed`` GPUs of ``limit`` (None: unlimited)."""

    limit: int | None
    counts: Mapping[str, int]
    needed: int

    @property
    def left(self) -> int | None:
        """GPUs left under the budget (0 when over it), or None when unlimited."""
        return None if self.limit is None else max(0, self.limit - self.needed)

    def with_count(self, graph: GraphConfig, component: str, replicas: int) -> GpuBudget:
        """The budget after ``component`` is set to ``replicas``."""
        counts = dict(self.counts)
        counts[component] = replicas
        return GpuBudget(limit=self.limit, counts=counts, needed=gpus_needed(graph, counts))

    def refuses(self, graph: GraphConfig, component: str, replicas: int) -> GpuBudget | None:
        """The budget after the change when setting ``component`` to ``replicas`` adds GPUs beyond the limit,
        else None (a change that needs no more GPUs is never refused, even over the budget)."""
        after = self.with_count(graph, component, replicas)
        if self.limit is None or after.needed <= self.needed or after.needed <= self.limit:
            return None
        return after


def gpu_budget(graph: GraphConfig, snapshot: Snapshot | None) -> GpuBudget:
    """The graph's GPU budget as ``snapshot`` shows it (initial counts when there is none yet)."""
    counts = desired_counts(graph, snapshot)
    return GpuBudget(limit=budget_limit(graph), counts=counts, needed=gpus_needed(graph, counts))
