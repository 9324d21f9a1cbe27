"""Starting the dashboard on a graph: the app opens the runtime Session in the background."""

from __future__ import annotations

import asyncio
import importlib

from planner_tui.config import GraphConfig
from planner_tui.model import PlannerMode, Snapshot
from planner_tui.runtime.first_look import FirstLook
from planner_tui.runtime.gc_tuning import tune_for_long_run
from planner_tui.runtime.source import GraphSource
from planner_tui.tui.themes import available_theme_names

__all__ = ["SessionOpener", "available_theme_names", "run_dashboard"]


class SessionOpener:
    """Opens a :class:`planner_tui.runtime.Session` on ``graph`` (starting or attaching to it)."""

    def __init__(self, graph: GraphConfig, *, mode: PlannerMode | None = None, read_only: bool = False) -> None:
        self.graph = graph
        self.namespace = graph.namespace
        self.mode = mode
        self.read_only = read_only
        self._first_look = FirstLook(graph)  # starts reading the GPUs now, while Textual is imported

    def first_look(self) -> Snapshot:
        """The GPUs and the recorded replicas, before the Session is open (blocking: call in a thread)."""
        return self._first_look.snapshot()

    async def __call__(self) -> GraphSource:
        """Open the Session (imported here, so the first frame does not wait for the runtime's imports)."""
        # after the first frame: freeze what start-up made out of later collections (runtime.gc_tuning)
        tune_for_long_run()
        # The runtime pulls in circus, zmq, httpx and the metrics sources: import it off the UI thread.
        attach = await asyncio.to_thread(importlib.import_module, "planner_tui.runtime.attach")
        # the graph's owner, or an observer of the process that owns it (read-only)
        source: GraphSource = await attach.open_graph(self.graph, mode=self.mode, read_only=self.read_only)
        return source


def run_dashboard(
    graph: GraphConfig, *, read_only: bool = False, theme: str | None = None, advisory: bool = False
) -> None:
    """Run the dashboard on ``graph`` until the person quits."""
    mode = PlannerMode.ADVISORY if advisory else None
    opener = SessionOpener(graph, mode=mode, read_only=read_only)  # the GPUs are read while Textual loads
    from planner_tui.tui.app import DashboardApp

    app = DashboardApp(opener=opener, read_only=read_only, theme=theme)
    app.run()
