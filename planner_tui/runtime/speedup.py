"""Running a simulated graph faster: every sim process and every interval sped up by the same factor.

The sim processes read ``PLANNER_TUI_SIM_SPEEDUP`` (simulated seconds per real second); the planner's
and collector's intervals are divided by the factor (never below the 0.25 s minimum), so the demo's
3-minute sine wave and its scaling can be watched in half a minute.
"""

from __future__ import annotations

from planner_tui.config.graph import GraphConfig
from planner_tui.config.loader import validate_graph

SPEEDUP_ENV = "PLANNER_TUI_SIM_SPEEDUP"
MIN_INTERVAL_S = 0.25


def is_simulated(graph: GraphConfig) -> bool:
    """True when the graph file marks every component ``simulated`` (the speed-up means nothing to real processes)."""
    return all(comp.simulated for comp in graph.components.values())


def sped_up(graph: GraphConfig, factor: float) -> GraphConfig:
    """``graph`` with the simulation and the intervals running ``factor`` times faster.

    Raises ValueError for a factor <= 0 or a graph whose components are not all simulated.
    """
    if factor <= 0:
        raise ValueError(f"the speed-up must be > 0, got {factor}")
    if not is_simulated(graph):
        raise ValueError(
            "--speedup only applies to simulated graphs (every component marked simulated = true, running "
            "'planner_tui sim')"
        )
    if factor == 1:
        return graph
    data = graph.model_dump(mode="json", exclude_none=True)
    for comp in data["components"].values():
        comp["env"] = {**comp.get("env", {}), SPEEDUP_ENV: f"{factor:g}"}
    planner = data["planner"]
    planner["adjustment_interval_s"] = max(MIN_INTERVAL_S, planner["adjustment_interval_s"] / factor)
    planner["scale_up_stabilization_s"] = planner["scale_up_stabilization_s"] / factor
    planner["scale_down_stabilization_s"] = planner["scale_down_stabilization_s"] / factor
    data["metrics"]["interval_s"] = max(MIN_INTERVAL_S, data["metrics"]["interval_s"] / factor)
    return validate_graph(data, f"{graph.namespace} (sped up x{factor:g})")
