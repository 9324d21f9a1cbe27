"""The planner: a pure engine (policies, limits, pins) plus the runner, audit log and exporter around it."""

from planner_tui.planner.engine import EngineConfig, decide, plan
from planner_tui.planner.state import ComponentMemory, Pin, PlannerState, PolicyMemory

__all__ = [
    "ComponentMemory",
    "EngineConfig",
    "Pin",
    "PlannerState",
    "PolicyMemory",
    "decide",
    "plan",
]
