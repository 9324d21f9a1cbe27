"""Opening the dashboard's graph: validated and first looked at on another core while the dashboard
loads, its Session opened once the first frame is out.

Nothing here imports Textual or pydantic. :class:`SessionOpener` starts one child process
(:class:`~planner_tui.forking.ForkedSteps`) that validates the graph file and then takes its first
look (the state file, the GPUs), so the dashboard command makes it before importing Textual, and
neither job competes with those imports for this process's GIL.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

from planner_tui.config.document import GraphOutline, problems_in
from planner_tui.config.errors import ConfigError, Problem
from planner_tui.forking import ForkedSteps, NoResult
from planner_tui.model import PlannerMode, Snapshot
from planner_tui.runtime.first_look import FirstLook, look_at
from planner_tui.runtime.gc_tuning import tune_for_long_run

if TYPE_CHECKING:
    from planner_tui.config.graph import GraphConfig
    from planner_tui.runtime.source import GraphSource

#: the longest :meth:`SessionOpener.check` waits for the child's verdict before validating here
CHECK_WAIT_S = 30.0


def _start_up(text: str, source: str, outline: GraphOutline | None) -> Iterator[object]:
    """The start-up child's steps: the file's problems, then its first look."""
    yield problems_in(text, source)
    if outline is not None:
        yield look_at(outline)


class SessionOpener:
    """Opens a :class:`planner_tui.runtime.Session` on a graph file (starting or attaching to it).

    ``text`` is the file's text, ``source`` names it in messages and ``outline`` is what its first
    frame shows (None when the file does not say plainly). Call :meth:`check` before drawing.
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
        self._steps = ForkedSteps(lambda: _start_up(text, source, outline))  # starts now
        self._problems: list[Problem] | None = None
        self._first_look = FirstLook(outline, self._steps) if outline is not None else None

    def check(self) -> None:
        """Return once the file is known valid; raise :class:`ConfigError` listing its problems."""
        if self._problems is None:
            try:
                self._problems = cast(list[Problem], self._steps.next_result(CHECK_WAIT_S))
            except NoResult:  # the child could not tell: check here
                self._problems = problems_in(self.text, self.source)
        if self._problems:
            raise ConfigError(self.source, self._problems)

    def first_look(self) -> Snapshot | None:
        """The GPUs and the recorded replicas, before the Session is open (blocking: call in a thread)."""
        if self._first_look is None:
            return None
        self.check()  # the child's first answer is the verdict, whoever asks first
        return self._first_look.snapshot()

    def first_look_if_ready(self) -> Snapshot | None:
        """The first look when it can be had at once, else None (never blocks: the UI thread asks)."""
        look = self._first_look
        if look is None or self._problems is None or not look.ready:
            return None
        return look.snapshot()

    def close(self) -> None:
        """Stop the start-up child if it still runs (the dashboard ends before reading its first look)."""
        self._steps.close()

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
