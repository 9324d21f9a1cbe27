"""A dashboard source driven by a recording: the same panels, read-only, with pause, speed and seek.

:class:`ReplaySource` is a :class:`~planner_tui.runtime.source.GraphSource` like the Session: it
publishes the recording's Snapshots (``SnapshotReady``) and decisions (``DecisionMade``) as replay time
passes (``speed`` recorded seconds per real second, 1x..60x), and its ``clock`` is the replay position,
so ages and countdowns read as they did. Every action that would change the graph is refused. Seeking
moves the position; :meth:`decisions` is always the decision log as it was at the position.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from planner_tui.config import GraphConfig
from planner_tui.model import Decision, LogLine, PlannerMode, Snapshot
from planner_tui.model.fanout import Fanout
from planner_tui.recording.reader import Recording
from planner_tui.runtime import Pin
from planner_tui.runtime.errors import ReadOnlyError
from planner_tui.runtime.events import DecisionMade, SessionEvent, SnapshotReady
from planner_tui.tui.static_source import SnapshotHistory

if TYPE_CHECKING:
    from planner_tui.runtime.ownership import OwnerInfo
    from planner_tui.runtime.source import GraphSource

SPEEDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
#: real seconds between replay ticks
TICK_S = 0.25
#: decisions handed to a dashboard at a seek (its log keeps about as many)
RECENT_DECISIONS = 200
HINT = "a replay shows what was recorded"


class ReplayConnector:
    """The header's connector field: the replay's state (``replay 10x ▶ 00:12:30 / 01:00:00``)."""

    kind = "replay"

    def __init__(self, source: ReplaySource) -> None:
        self._source = source

    @property
    def label(self) -> str:
        """``replay 10x ▶ 12:30 / 60:00``."""
        source = self._source
        state = "⏸" if source.paused else "▶"
        return f"replay {source.speed:g}x {state} {_clock(source.elapsed_s)} / {_clock(source.recording.duration_s)}"

    @property
    def problems(self) -> list[str]:
        """What the reader skipped (a damaged or cut-short recording)."""
        return list(self._source.recording.problems)


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class ReplaySource:
    """A recording behind the Session interface (see the module's docstring)."""

    read_only = True

    def __init__(
        self,
        recording: Recording,
        *,
        speed: float = 1.0,
        paused: bool = False,
        start_at: float | None = None,
        real_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(recording) == 0:
            raise ValueError(f"{recording.path} holds no Snapshot to replay")
        self.recording = recording
        self.speed = speed
        self.paused = paused
        self._real_clock = real_clock
        self._connector = ReplayConnector(self)
        self._events: Fanout[SessionEvent] = Fanout(maxsize=0)
        self._ticker: asyncio.Task[None] | None = None
        self.position = recording.snapshot_times[0] if start_at is None else start_at
        self._index = recording.index_at(self.position)
        self._decided = len(recording.decisions_until(self.position))
        self.seeks = 0  # bumped at every seek: a dashboard resets its log and charts

    # -- the Session's properties ------------------------------------------------------------------
    @property
    def graph(self) -> GraphConfig:
        """The recorded graph."""
        return self.recording.graph

    @property
    def namespace(self) -> str:
        """The recorded graph's namespace."""
        return self.recording.graph.namespace

    @property
    def connector(self) -> ReplayConnector:
        """The replay's state, for the header."""
        return self._connector

    @property
    def owner(self) -> OwnerInfo | None:
        """None: a recording has no owner."""
        return None

    @property
    def mode(self) -> PlannerMode:
        """The mode of the last decision replayed (the graph's mode before any)."""
        shown = self.decisions
        return shown[-1].mode if shown else self.graph.planner.mode

    @property
    def next_tick_at(self) -> float | None:
        """None: a replay has no planner ticking."""
        return None

    @property
    def pins(self) -> Mapping[str, Pin]:
        """None: pins were not recorded."""
        return {}

    @property
    def latest_snapshot(self) -> Snapshot:
        """The Snapshot at the position."""
        return self.recording.snapshot(self._index)

    @property
    def decisions(self) -> Sequence[Decision]:
        """The decisions made up to the position (the log as it was), the last :data:`RECENT_DECISIONS`."""
        return self.recording.decisions[max(0, self._decided - RECENT_DECISIONS) : self._decided]

    @property
    def elapsed_s(self) -> float:
        """Recorded seconds from the start to the position."""
        return self.position - self.recording.start

    def clock(self) -> float:
        """The replay's "now": the position (for the dashboard's ages and countdowns)."""
        return self.position

    def history(self) -> SnapshotHistory:
        """The Snapshots of the 15 minutes before the position, for the charts."""
        return SnapshotHistory(self.recording.snapshots_between(self.position - 900.0, self.position))

    # -- replay controls -----------------------------------------------------------------------------
    def toggle_pause(self) -> bool:
        """Pause or resume; True when now paused."""
        self.paused = not self.paused
        return self.paused

    def faster(self) -> float:
        """The next speed up (1x..60x)."""
        self.speed = next((s for s in SPEEDS if s > self.speed), SPEEDS[-1])
        return self.speed

    def slower(self) -> float:
        """The next speed down."""
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0])
        return self.speed

    def seek(self, seconds: float) -> float:
        """Move the position by ``seconds`` (negative: back), within the recording; the new position."""
        return self.seek_to(self.position + seconds)

    def seek_to(self, timestamp: float) -> float:
        """Move to ``timestamp`` (clamped to the recording) and publish the Snapshot there."""
        rec = self.recording
        self.position = min(max(timestamp, rec.snapshot_times[0]), rec.snapshot_times[-1])
        self._index = rec.index_at(self.position)
        self._decided = len(rec.decisions_until(self.position))
        self.seeks += 1
        self.publish(SnapshotReady(self.latest_snapshot))
        return self.position

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of recorded time pass: publish the decisions made meanwhile and the last Snapshot."""
        rec = self.recording
        self.position = min(self.position + seconds, rec.snapshot_times[-1])
        decided = len(rec.decisions_until(self.position))
        for decision in rec.decisions[self._decided : decided]:
            self.publish(DecisionMade(decision))
        self._decided = decided
        index = rec.index_at(self.position)
        if index != self._index:
            self._index = index
            self.publish(SnapshotReady(self.latest_snapshot))

    @property
    def at_end(self) -> bool:
        """The position is the last Snapshot."""
        return self.position >= self.recording.snapshot_times[-1]

    # -- events --------------------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[SessionEvent]:
        """A queue of events; it starts with the Snapshot at the position. Starts the replay's ticker."""
        queue = self._events.subscribe()
        queue.put_nowait(SnapshotReady(self.latest_snapshot))
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="replay")
        return queue

    def unsubscribe(self, queue: asyncio.Queue[SessionEvent]) -> None:
        """Stop delivering events to ``queue``."""
        self._events.unsubscribe(queue)

    def publish(self, event: SessionEvent) -> None:
        """Deliver an event to every subscriber."""
        self._events.publish(event)

    async def _tick(self) -> None:
        last = self._real_clock()
        while True:
            await asyncio.sleep(TICK_S)
            now = self._real_clock()
            if not self.paused and not self.at_end:
                self.advance((now - last) * self.speed)
            last = now

    # -- actions: all refused ------------------------------------------------------------------------
    async def set_mode(self, mode: PlannerMode) -> None:
        """Refused."""
        raise ReadOnlyError("changing the planner mode", HINT)

    async def scale(self, component: str, replicas: int, pin: bool = True) -> None:
        """Refused."""
        raise ReadOnlyError(f"scaling {component}", HINT)

    async def pin(self, component: str, replicas: int | None = None, until: float | None = None) -> Pin:
        """Refused."""
        raise ReadOnlyError(f"pinning {component}", HINT)

    async def unpin(self, component: str) -> bool:
        """Refused."""
        raise ReadOnlyError(f"unpinning {component}", HINT)

    async def restart(self, component: str, rolling: bool = True) -> bool:
        """Refused."""
        raise ReadOnlyError(f"restarting {component}", HINT)

    async def logs(self, component: str, lines: int = 200) -> list[LogLine]:
        """None: logs are not recorded."""
        return []

    async def follow_logs(self, component: str) -> AsyncIterator[LogLine]:
        """No lines arrive from a recording: waits until cancelled."""
        await asyncio.Event().wait()
        yield LogLine(component, component, 0.0, "")  # pragma: no cover - never reached

    async def scale_load(self, factor: float) -> Mapping[str, Any]:
        """Refused."""
        raise ReadOnlyError("changing the load", HINT)

    async def close(self, stop_graph: bool = True) -> None:
        """Stop the ticker (there is no graph to stop)."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None


if TYPE_CHECKING:

    def _is_a_graph_source(source: ReplaySource) -> GraphSource:
        return source  # mypy checks that ReplaySource satisfies the protocol
