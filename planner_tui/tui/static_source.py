"""A dashboard source serving fixed data: snapshot tests, screenshots, the benchmark and replays.

It is a :class:`~planner_tui.runtime.source.GraphSource` like the runtime Session (same properties,
events and actions), but its "graph" is in memory: scaling edits the replica list of its current
Snapshot, restarting gives replicas new pids. With ``interval_s`` it republishes a Snapshot (from
``frames``) on that period, like a collector would.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from planner_tui.config import GraphConfig
from planner_tui.model import ComponentState, Decision, LogLine, Phase, PlannerMode, ReplicaState, Signal, Snapshot
from planner_tui.model.fanout import Fanout
from planner_tui.runtime import Pin
from planner_tui.runtime.errors import ComponentNotFound, ConnectorError, ScalingRefused
from planner_tui.runtime.events import SessionError, SessionEvent, SnapshotReady
from planner_tui.runtime.source import Point

if TYPE_CHECKING:
    from planner_tui.runtime.ownership import OwnerInfo
    from planner_tui.runtime.source import GraphSource


@dataclass(frozen=True, slots=True)
class StaticConnector:
    """Stands in for a connector in the header: its kind and label are read."""

    kind: str

    @property
    def label(self) -> str:
        """The kind: fixed data has nothing more to say."""
        return self.kind

    @property
    def problems(self) -> list[str]:
        """None: fixed data has no backend to fail."""
        return []


class SnapshotHistory:
    """A :class:`~planner_tui.runtime.source.SeriesHistory` read from a list of Snapshots (oldest first)."""

    def __init__(self, snapshots: Sequence[Snapshot]) -> None:
        self.snapshots = list(snapshots)

    def _recent(self, window_s: float) -> list[Snapshot]:
        if not self.snapshots:
            return []
        since = self.snapshots[-1].timestamp - window_s
        return [s for s in self.snapshots if s.timestamp >= since]

    def series(self, component: str, signal: Signal, window_s: float) -> list[Point]:
        """The component's ``signal`` in each Snapshot of the window that has a value."""
        points: list[Point] = []
        for snapshot in self._recent(window_s):
            value = snapshot.signal(component, signal)
            if value is not None and value.value is not None:
                points.append((snapshot.timestamp, value.value))
        return points

    def gpu_history(self, index: int, window_s: float) -> list[Point]:
        """GPU ``index``'s utilisation in each Snapshot of the window that reports it."""
        points: list[Point] = []
        for snapshot in self._recent(window_s):
            gpu = next((g for g in snapshot.gpus if g.index == index), None)
            if gpu is not None and gpu.utilization_pct is not None:
                points.append((snapshot.timestamp, gpu.utilization_pct))
        return points


class StaticSource:
    """Fixed Snapshots and Decisions behind the Session interface.

    ``error`` is published as a SessionError to every subscriber (the connector error state);
    ``action_error`` makes every action raise ConnectorError with that message.
    """

    def __init__(
        self,
        graph: GraphConfig,
        snapshot: Snapshot,
        *,
        history: Sequence[Snapshot] = (),
        decisions: Sequence[Decision] = (),
        logs: Mapping[str, Sequence[LogLine]] | None = None,
        connector_kind: str = "local",
        mode: PlannerMode = PlannerMode.AUTO,
        read_only: bool = False,
        next_tick_at: float | None = None,
        error: str | None = None,
        action_error: str | None = None,
        frames: Callable[[float, Mapping[str, int]], Snapshot] | None = None,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._graph = graph
        self._snapshot = snapshot
        self._history = SnapshotHistory(history)
        self._decisions = list(decisions)
        self._logs = {name: list(lines) for name, lines in (logs or {}).items()}
        self._connector = StaticConnector(connector_kind)
        self._mode = mode
        self._read_only = read_only
        self._next_tick_at = next_tick_at
        self._pins: dict[str, Pin] = {}
        self._events: Fanout[SessionEvent] = Fanout(maxsize=0)  # unbounded: fixed data loses nothing
        self.error = error
        self.action_error = action_error
        self.frames = frames
        self.interval_s = interval_s
        self.clock = clock
        self.closed: bool | None = None  # set to stop_graph by close()
        self.load_factor = 1.0
        self._ticker: asyncio.Task[None] | None = None

    # -- the Session's properties ------------------------------------------------------------------
    @property
    def graph(self) -> GraphConfig:
        """The graph configuration."""
        return self._graph

    @property
    def namespace(self) -> str:
        """The graph's namespace."""
        return self._graph.namespace

    @property
    def connector(self) -> StaticConnector:
        """The (stand-in) connector."""
        return self._connector

    @property
    def owner(self) -> OwnerInfo | None:
        """None: nobody else owns fixed data."""
        return None

    @property
    def read_only(self) -> bool:
        """True when actions that change the graph are refused."""
        return self._read_only

    @property
    def mode(self) -> PlannerMode:
        """The planner mode."""
        return self._mode

    @property
    def latest_snapshot(self) -> Snapshot:
        """The current Snapshot."""
        return self._snapshot

    @property
    def decisions(self) -> Sequence[Decision]:
        """Recent decisions, newest last."""
        return tuple(self._decisions)

    @property
    def next_tick_at(self) -> float | None:
        """Unix time of the next planner tick."""
        return self._next_tick_at

    @property
    def pins(self) -> Mapping[str, Pin]:
        """Pinned components."""
        return dict(self._pins)

    def history(self) -> SnapshotHistory:
        """The ``history`` Snapshots given, for the charts to start full."""
        return self._history

    # -- events --------------------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[SessionEvent]:
        """A queue of events; it starts with the current Snapshot (and the error, if any)."""
        queue = self._events.subscribe()
        queue.put_nowait(SnapshotReady(self._snapshot))
        if self.error:
            queue.put_nowait(SessionError(self.error))
        if self.interval_s and self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[SessionEvent]) -> None:
        """Stop delivering events to ``queue``."""
        self._events.unsubscribe(queue)

    def publish(self, event: SessionEvent) -> None:
        """Deliver an event to every subscriber."""
        self._events.publish(event)

    def set_snapshot(self, snapshot: Snapshot) -> None:
        """Make ``snapshot`` current and publish it."""
        self._snapshot = snapshot
        self.publish(SnapshotReady(snapshot))

    async def _tick(self) -> None:
        assert self.interval_s
        while True:
            await asyncio.sleep(self.interval_s)
            if self.frames is not None:
                counts = {name: len(state.replicas) for name, state in self._snapshot.components.items()}
                self.set_snapshot(self.frames(self.clock(), counts))
            else:
                self.set_snapshot(dataclasses.replace(self._snapshot, timestamp=self.clock()))

    # -- actions -------------------------------------------------------------------------------------
    def _check(self, component: str | None = None) -> ComponentState | None:
        if self._read_only:
            raise ConnectorError("read-only session: changes are refused")
        if self.action_error:
            raise ConnectorError(self.action_error)
        if component is None:
            return None
        state = self._snapshot.components.get(component)
        if state is None:
            raise ComponentNotFound(component, self._snapshot.components)
        return state

    async def set_mode(self, mode: PlannerMode) -> None:
        """Change the planner mode."""
        self._check()
        self._mode = mode

    async def scale(self, component: str, replicas: int, pin: bool = True) -> None:
        """Set a component's replica count (within its bounds); pins it there by default."""
        state = self._check(component)
        assert state is not None
        spec = state.spec
        if not spec.min_replicas <= replicas <= spec.max_replicas:
            raise ScalingRefused(
                f"{component}: {replicas} replicas is outside {spec.min_replicas}..{spec.max_replicas}"
            )
        current = list(state.replicas)
        while len(current) > replicas:
            current.pop()
        while len(current) < replicas:
            index = len(current)
            current.append(
                ReplicaState(component, index, Phase.STARTING, pid=9000 + index, started_at=self._snapshot.timestamp)
            )
        components = dict(self._snapshot.components)
        components[component] = ComponentState(spec=spec, desired_replicas=replicas, replicas=tuple(current))
        if pin:
            self._pins[component] = Pin(component, replicas)
        self.set_snapshot(dataclasses.replace(self._snapshot, components=components))

    async def pin(self, component: str, replicas: int | None = None, until: float | None = None) -> Pin:
        """Hold a component at ``replicas`` (default: its current desired count)."""
        state = self._check(component)
        assert state is not None
        pin = Pin(component, state.desired_replicas if replicas is None else replicas, until)
        self._pins[component] = pin
        return pin

    async def unpin(self, component: str) -> bool:
        """Let the planner manage the component again; False when it was not pinned."""
        self._check(component)
        return self._pins.pop(component, None) is not None

    async def restart(self, component: str, rolling: bool = True) -> bool:
        """Give every replica a new pid and a fresh start time."""
        state = self._check(component)
        assert state is not None
        replicas = tuple(
            dataclasses.replace(r, pid=(r.pid or 0) + 1000, started_at=self._snapshot.timestamp, phase=Phase.STARTING)
            for r in state.replicas
        )
        components = dict(self._snapshot.components)
        components[component] = dataclasses.replace(state, replicas=replicas)
        self.set_snapshot(dataclasses.replace(self._snapshot, components=components))
        return True

    async def logs(self, component: str, lines: int = 200) -> list[LogLine]:
        """The last ``lines`` log lines of the component."""
        if component not in self._snapshot.components:
            raise ComponentNotFound(component, self._snapshot.components)
        return self._logs.get(component, [])[-lines:]

    async def follow_logs(self, component: str) -> AsyncIterator[LogLine]:
        """No new lines arrive from fixed data: waits until cancelled."""
        await asyncio.Event().wait()
        yield LogLine(component, component, 0.0, "")  # pragma: no cover - never reached

    async def scale_load(self, factor: float) -> dict[str, Any]:
        """Multiply the (pretend) request rate; returns the new factor as ``{"factor": ...}``."""
        self._check()
        self.load_factor *= factor
        return {"factor": self.load_factor}

    async def close(self, stop_graph: bool = True) -> None:
        """Stop publishing; remember whether the graph was to be stopped."""
        self.closed = stop_graph
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None


if TYPE_CHECKING:

    def _is_a_graph_source(source: StaticSource) -> GraphSource:
        return source  # mypy checks that StaticSource satisfies the protocol
