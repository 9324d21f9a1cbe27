"""Dashboard widgets, one per module."""

from planner_tui.tui.widgets.component_panel import ComponentPanel
from planner_tui.tui.widgets.decision_log import DecisionLog
from planner_tui.tui.widgets.gpu_panel import GpuPanel
from planner_tui.tui.widgets.header_bar import HeaderBar
from planner_tui.tui.widgets.queue_panel import QueuePanel
from planner_tui.tui.widgets.status_line import StatusLine

__all__ = ["ComponentPanel", "DecisionLog", "GpuPanel", "HeaderBar", "QueuePanel", "StatusLine"]
