"""Planner policies: ``load`` (upstream rules), ``throughput`` (SLA) and ``target`` (HPA-style)."""

from planner_tui.planner.policies.base import PolicyContext, Recommendation
from planner_tui.planner.policies.load import recommend_load
from planner_tui.planner.policies.target import recommend_target
from planner_tui.planner.policies.throughput import recommend_throughput

__all__ = ["PolicyContext", "Recommendation", "recommend_load", "recommend_target", "recommend_throughput"]
