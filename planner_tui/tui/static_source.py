"""A dashboard source serving fixed data: snapshot tests, screenshots, the benchmark and replays.

It behaves like the runtime Session from the dashboard's side (same properties, events and actions),
but its "graph" is in memory: scaling edits the replica list of its current Snapshot, restarting gives
replicas new pids. With ``interval_s`` it republishes a Snapshot (from ``frames``) on that period, like a
collector would.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from planner_tui.config import GraphConfig
from planner_tui.connectors.errors import ComponentNotFound, ConnectorError, ScalingRefused
from planner_tui.model import ComponentState, Decision, LogLine, Phase, PlannerMode, ReplicaState, Snapshot
from planner_tui.planner.state import Pin
from planner_tui.runtime.events import DecisionMade, SessionError, SnapshotReady


@dataclass(frozen=True, slots=True)
class StaticConnector:
    """Stands in for a connector in the header: only its kind is read."""

    kind: str


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
        self.history = list(history)
        self._decisions = list(decisions)
        self._logs = {name: list(lines) for name, lines in (logs or {}).items()}
        self._connector = StaticConnector(connector_kind)
        self._mode = mode
        self._read_only = read_only
        self._next_tick_at = next_tick_at
        self._pins: dict[str, Pin] = {}
        self._queues: list[asyncio.Queue[Any]] = []
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

    # -- events --------------------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[Any]:
        """A queue of events; it starts with the current Snapshot (and the error, if any)."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        queue.put_nowait(SnapshotReady(self._snapshot))
        if self.error:
            queue.put_nowait(SessionError(self.error))
        self._queues.append(queue)
        if self.interval_s and self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Any]) -> None:
        """Stop delivering events to ``queue``."""
        with contextlib.suppress(ValueError):
            self._queues.remove(queue)

    def publish(self, event: object) -> None:
        """Deliver an event to every subscriber."""
        for queue in self._queues:
            queue.put_nowait(event)

    def set_snapshot(self, snapshot: Snapshot) -> None:
        """Make ``snapshot`` current and publish it."""
        self._snapshot = snapshot
        self.publish(SnapshotReady(snapshot))

    def add_decision(self, decision: Decision) -> None:
        """Record and publish a decision."""
        self._decisions.append(decision)
        self.publish(DecisionMade(decision))

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

    async def scale(self, component: str, replicas: int, pin: bool = True) -> bool:
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
        return replicas != len(state.replicas)

    async def pin(self, component: str, replicas: int | None = None, until: float | None = None) -> Pin:
        """Hold a component at ``replicas`` (default: its current desired count)."""
        state = self._check(component)
        assert state is not None
        pin = Pin(component, state.desired_replicas if replicas is None else replicas, until)
        self._pins[component] = pin
        return pin

    async def unpin(self, component: str) -> None:
        """Let the planner manage the component again."""
        self._check(component)
        self._pins.pop(component, None)

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

    async def scale_load(self, factor: float) -> float:
        """Multiply the (pretend) request rate; returns the new factor."""
        self._check()
        self.load_factor *= factor
        return self.load_factor

    async def close(self, stop_graph: bool) -> None:
        """Stop publishing; remember whether the graph was to be stopped."""
        self.closed = stop_graph
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
