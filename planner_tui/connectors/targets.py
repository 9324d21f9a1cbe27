"""The planner's targets checked against a graph, once for every backend.

A :class:`~planner_tui.model.scaling.TargetReplica` names its component, or only its
``sub_component_type`` (prefill, decode), as upstream's planner does; every target must stay within
the component's ``min_replicas``/``max_replicas``. Every connector validates all targets with
:func:`resolve_targets` before it changes anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from planner_tui.config.graph import ComponentConfig, GraphConfig
from planner_tui.connectors.errors import ComponentNotFound, ScalingRefused
from planner_tui.model.scaling import TargetReplica


def component_of(graph: GraphConfig, name: str) -> ComponentConfig:
    """The graph's component ``name``; :class:`ComponentNotFound` (listing the known ones) otherwise."""
    comp = graph.components.get(name)
    if comp is None:
        raise ComponentNotFound(name, graph.components)
    return comp


def resolve_target(graph: GraphConfig, target: TargetReplica) -> str:
    """The component ``target`` names: by name, else the one component of its ``sub_component_type``.

    Raises :class:`ComponentNotFound` when none matches and :class:`ScalingRefused` when several do.
    """
    if target.component_name is not None:
        component_of(graph, target.component_name)
        return target.component_name
    matches = [n for n, c in graph.components.items() if c.effective_sub_component_type == target.sub_component_type]
    if not matches:
        raise ComponentNotFound(str(target.sub_component_type), graph.components)
    if len(matches) > 1:
        raise ScalingRefused(
            f"sub_component_type {target.sub_component_type!r} matches several components "
            f"({', '.join(matches)}); name the component instead"
        )
    return matches[0]


def check_bounds(graph: GraphConfig, name: str, replicas: int) -> None:
    """Refuse (:class:`ScalingRefused`) a count outside the component's bounds, naming the bound."""
    comp = component_of(graph, name)
    if replicas < 0:
        raise ScalingRefused(f"{name}: replica count must not be negative, got {replicas}")
    if replicas < comp.min_replicas:
        raise ScalingRefused(f"{name}: {replicas} replicas is below min_replicas = {comp.min_replicas}")
    if replicas > comp.max_replicas:
        raise ScalingRefused(f"{name}: {replicas} replicas is above max_replicas = {comp.max_replicas}")


def resolve_targets(graph: GraphConfig, targets: Iterable[TargetReplica]) -> dict[str, int]:
    """Component -> desired replicas for ``targets``, every one resolved and within bounds.

    Two different counts for one component are refused; nothing is returned unless all are valid.
    """
    resolved: dict[str, int] = {}
    for target in targets:
        name = resolve_target(graph, target)
        if name in resolved and resolved[name] != target.desired_replicas:
            raise ScalingRefused(f"two targets for {name!r}: {resolved[name]} and {target.desired_replicas}")
        check_bounds(graph, name, target.desired_replicas)
        resolved[name] = target.desired_replicas
    return resolved
