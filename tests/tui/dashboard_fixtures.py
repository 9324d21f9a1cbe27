"""Deterministic dashboards for snapshot and pilot tests: fixed data, a frozen clock, no live graph."""

from __future__ import annotations

from typing import Any

from planner_tui.config import GraphConfig
from planner_tui.tui.app import DashboardApp
from planner_tui.tui.sample_data import EPOCH, sample_source
from planner_tui.tui.static_source import StaticSource

CONNECTOR_ERROR = "local connector: circusd not answering on tcp://127.0.0.1:5555 (connection refused); retrying"


def frozen_clock() -> float:
    """The tests' "now": the sample data's epoch."""
    return EPOCH


def demo_source(*, gpus: int = 8, graph: GraphConfig | None = None, **kwargs: Any) -> StaticSource:
    """A StaticSource with demo-like data (``gpus=0``: no GPU source)."""
    return sample_source(gpus=gpus, graph=graph, clock=frozen_clock, **kwargs)


def demo_app(source: StaticSource | None = None, *, read_only: bool = False, **kwargs: Any) -> DashboardApp:
    """The dashboard on ``source`` (default: demo data) with the frozen clock; the theme is not remembered."""
    kwargs.setdefault("remember_theme", False)
    return DashboardApp(
        source or demo_source(read_only=read_only),
        read_only=read_only,
        clock=frozen_clock,
        header_interval_s=3600,
        **kwargs,
    )
