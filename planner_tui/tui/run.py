"""Starting the dashboard on a graph: the app opens the runtime Session in the background."""

from __future__ import annotations

from planner_tui.runtime.opening import SessionOpener
from planner_tui.tui.themes import available_theme_names

__all__ = ["SessionOpener", "available_theme_names", "run_dashboard"]


def run_dashboard(opener: SessionOpener, *, read_only: bool = False, theme: str | None = None) -> None:
    """Run the dashboard on the graph ``opener`` opens until the person quits."""
    from planner_tui.tui.app import DashboardApp

    app = DashboardApp(opener=opener, read_only=read_only, theme=theme)
    app.run()
