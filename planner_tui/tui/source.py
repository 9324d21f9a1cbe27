"""What the dashboard reads and drives: the runtime Session, or anything shaped like it.

The app only consumes Snapshots and Decisions and calls these methods; it never talks to a
connector, NVML or circus itself. :class:`planner_tui.runtime.Session` satisfies this protocol, and
so does :class:`planner_tui.tui.static_source.StaticSource` (fixed data for tests and screenshots).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from planner_tui.config import GraphConfig
from planner_tui.model import Decision, LogLine, PlannerMode, Snapshot


@runtime_checkable
class DashboardSource(Protocol):
    """The Session interface the dashboard uses (see COMMON.md, planner/runtime -> tui)."""

    @property
    def graph(self) -> GraphConfig: ...

    @property
    def namespace(self) -> str: ...

    @property
    def connector(self) -> Any: ...

    @property
    def read_only(self) -> bool: ...

    @property
    def mode(self) -> PlannerMode: ...

    @property
    def latest_snapshot(self) -> Snapshot | None: ...

    @property
    def decisions(self) -> Sequence[Decision]: ...

    @property
    def next_tick_at(self) -> float | None: ...

    @property
    def pins(self) -> Mapping[str, Any]: ...

    def subscribe(self) -> asyncio.Queue[Any]: ...

    def unsubscribe(self, queue: asyncio.Queue[Any]) -> None: ...

    async def set_mode(self, mode: PlannerMode) -> None: ...

    async def scale(self, component: str, replicas: int, pin: bool = True) -> Any: ...

    async def pin(self, component: str, replicas: int | None = None, until: float | None = None) -> Any: ...

    async def unpin(self, component: str) -> Any: ...

    async def restart(self, component: str, rolling: bool = True) -> Any: ...

    async def logs(self, component: str, lines: int = 200) -> list[LogLine]: ...

    def follow_logs(self, component: str) -> AsyncIterator[LogLine]: ...

    async def scale_load(self, factor: float) -> Any: ...

    async def close(self, stop_graph: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """One event from a source, normalised: exactly one of the fields is set."""

    snapshot: Snapshot | None = None
    decision: Decision | None = None
    error: str | None = None


def classify(event: object) -> SourceEvent | None:
    """Turn a Session event (``SnapshotReady``, ``DecisionMade``, ``SessionError``) into a SourceEvent.

    Matching on the attributes rather than the classes keeps the dashboard independent of where the
    event classes live; unknown events give None and are ignored.
    """
    snapshot = getattr(event, "snapshot", None)
    if isinstance(snapshot, Snapshot):
        return SourceEvent(snapshot=snapshot)
    decision = getattr(event, "decision", None)
    if isinstance(decision, Decision):
        return SourceEvent(decision=decision)
    message = getattr(event, "message", None)
    if isinstance(message, str):
        return SourceEvent(error=message)
    return None


def connector_kind(source: DashboardSource) -> str:
    """The connector's short name ("local", "kubernetes", ...), or "?" when it has none."""
    return str(getattr(source.connector, "kind", "?"))


def pin_replicas(pin: object) -> int | None:
    """The replica count a Pin holds (``Pin.replicas``), if any."""
    value = getattr(pin, "replicas", None)
    return value if isinstance(value, int) else None
