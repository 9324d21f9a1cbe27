"""Connectors: one protocol (:class:`PlannerConnector`) and one module or package per backend."""

from planner_tui.connectors.base import PlannerConnector
from planner_tui.connectors.errors import ComponentNotFound, ConnectorError, ScalingRefused

__all__ = ["ComponentNotFound", "ConnectorError", "PlannerConnector", "ScalingRefused"]
