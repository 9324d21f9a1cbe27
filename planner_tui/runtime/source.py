"""The seams front ends are typed against: what a graph's source offers, and what its feed is.

:class:`GraphSource` is everything the dashboard reads and calls. :class:`planner_tui.runtime.Session`
(the graph's owner), :class:`planner_tui.runtime.GraphObserver` (a read-only view of another process's
Session) and :class:`planner_tui.tui.static_source.StaticSource` (fixed data for tests and screenshots)
all satisfy it. Events come from one stream: :meth:`GraphFeed.subscribe` gives a queue of
:data:`~planner_tui.runtime.events.SessionEvent` (``SnapshotReady``, ``DecisionMade``, ``SessionError``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from planner_tui.model.decisions import Decision, PlannerMode
from planner_tui.model.logs import LogLine
from planner_tui.model.signals import Signal
from planner_tui.model.snapshot import Snapshot
from planner_tui.runtime.events import SessionEvent

if TYPE_CHECKING:
    from planner_tui.config.graph import GraphConfig
    from planner_tui.planner.state import Pin
    from planner_tui.runtime.ownership import OwnerInfo

#: (Unix time, value)
Point = tuple[float, float]


class SeriesHistory(Protocol):
    """The past of the charted figures (the collector's :class:`~planner_tui.metrics.history.History`)."""

    def series(self, component: str, signal: Signal, window_s: float) -> list[Point]:
        """The component-level values of ``signal`` over the last ``window_s`` seconds, oldest first."""
        ...

    def gpu_history(self, index: int, window_s: float) -> list[Point]:
        """GPU ``index``'s utilisation (%) over the last ``window_s`` seconds, oldest first."""
        ...


class ConnectorInfo(Protocol):
    """What a front end may know of the connector: its short name (``local``, ``kubernetes``, ...)."""

    @property
    def kind(self) -> str: ...

    @property
    def label(self) -> str:
        """What the header says about the backend ("local", "delegated to ADDRESS", ...)."""
        ...

    @property
    def problems(self) -> list[str]:
        """Current problems with the backend, shown as alerts."""
        ...


class GraphFeed(Protocol):
    """The event stream and newest state of a graph: what the owner's publisher serves to observers."""

    @property
    def latest_snapshot(self) -> Snapshot | None:
        """The newest Snapshot, None before the first."""
        ...

    @property
    def decisions(self) -> Sequence[Decision]:
        """Recent decisions, newest last."""
        ...

    def subscribe(self) -> asyncio.Queue[SessionEvent]:
        """A queue receiving every event from now on (the oldest is dropped when it fills up)."""
        ...

    def unsubscribe(self, queue: asyncio.Queue[SessionEvent]) -> None:
        """Stop delivering events to ``queue``."""
        ...


class GraphSource(GraphFeed, Protocol):
    """Everything the dashboard reads and calls on a graph."""

    @property
    def graph(self) -> GraphConfig: ...

    @property
    def namespace(self) -> str: ...

    @property
    def connector(self) -> ConnectorInfo: ...

    @property
    def owner(self) -> OwnerInfo | None:
        """The other process that owns the graph (for an observer); None when this source owns it."""
        ...

    @property
    def read_only(self) -> bool: ...

    @property
    def mode(self) -> PlannerMode: ...

    @property
    def next_tick_at(self) -> float | None: ...

    @property
    def pins(self) -> Mapping[str, Pin]: ...

    def history(self) -> SeriesHistory | None:
        """The charted figures' past to backfill charts from, None when the source has none."""
        ...

    async def set_mode(self, mode: PlannerMode) -> None: ...

    async def scale(self, component: str, replicas: int, pin: bool = True) -> None: ...

    async def pin(self, component: str, replicas: int | None = None, until: float | None = None) -> Pin: ...

    async def unpin(self, component: str) -> bool: ...

    async def restart(self, component: str, rolling: bool = True) -> bool: ...

    async def logs(self, component: str, lines: int = 200) -> list[LogLine]: ...

    def follow_logs(self, component: str) -> AsyncIterator[LogLine]: ...

    async def scale_load(self, factor: float) -> Mapping[str, Any]:
        """Multiply the simulated frontend's request rate; returns the frontend's answer."""
        ...

    async def close(self, stop_graph: bool = True) -> None: ...
