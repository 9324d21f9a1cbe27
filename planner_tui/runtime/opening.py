"""Opening the dashboard's graph: its first look at once, its Session once the first frame is out.

Nothing here imports Textual or pydantic, so the dashboard command makes a :class:`SessionOpener`
(and starts reading the GPUs and the state file) before it imports either.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING

from planner_tui.config.document import GraphOutline
from planner_tui.model import PlannerMode, Snapshot
from planner_tui.runtime.first_look import FirstLook
from planner_tui.runtime.gc_tuning import tune_for_long_run

if TYPE_CHECKING:
    from planner_tui.config.graph import GraphConfig
    from planner_tui.runtime.source import GraphSource


class SessionOpener:
    """Opens a :class:`planner_tui.runtime.Session` on a graph file (starting or attaching to it).

    ``text`` is the file's text, already known valid (:class:`~planner_tui.config.parallel_check.GraphCheck`);
    ``outline`` what its first frame shows; ``source`` names the file in messages.
    """

    def __init__(
        self,
        text: str,
        source: str,
        outline: GraphOutline | None,
        *,
        mode: PlannerMode | None = None,
        read_only: bool = False,
    ) -> None:
        self.text = text
        self.source = source
        self.namespace = outline.namespace if outline is not None else "?"
        self.mode = mode
        self.read_only = read_only
        # starts reading the GPUs and the state file now, while Textual is imported
        self._first_look = FirstLook(outline) if outline is not None else None

    def first_look(self) -> Snapshot | None:
        """The GPUs and the recorded replicas, before the Session is open (blocking: call in a thread)."""
        return self._first_look.snapshot() if self._first_look is not None else None

    async def __call__(self) -> GraphSource:
        """Validate the graph into its models and open the Session (after the first frame)."""
        # after the first frame: freeze what start-up made out of later collections (runtime.gc_tuning)
        tune_for_long_run()
        # pydantic, the graph's models, circus, zmq and the metrics sources load here, off the UI thread
        graph: GraphConfig = await asyncio.to_thread(_parse, self.text, self.source)
        attach = await asyncio.to_thread(importlib.import_module, "planner_tui.runtime.attach")
        # the graph's owner, or an observer of the process that owns it (read-only)
        source: GraphSource = await attach.open_graph(graph, mode=self.mode, read_only=self.read_only)
        return source


def _parse(text: str, source: str) -> GraphConfig:
    from planner_tui.config.loader import parse_graph

    return parse_graph(text, source)
