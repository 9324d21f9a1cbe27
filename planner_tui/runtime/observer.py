"""An observer of a graph someone else owns: the owner's feed, read-only, for the dashboard and ``plan``.

:class:`GraphObserver` offers what the dashboard reads from a Session (graph, mode, Snapshots,
decisions, pins, events) from the owner's published feed (:mod:`planner_tui.runtime.publisher`): it is a
:class:`~planner_tui.runtime.source.GraphSource`, like the Session.
Every action that would change the graph or the planner is refused with the owner's name. Closing an
observer never stops the graph.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from planner_tui.config.graph import GraphConfig
from planner_tui.metrics.snapshot_json import SnapshotFormatError, snapshot_from_dict
from planner_tui.model.decisions import Decision, PlannerMode
from planner_tui.model.fanout import Fanout
from planner_tui.model.logs import LogLine
from planner_tui.model.snapshot import Snapshot
from planner_tui.planner.records import decision_from_dict
from planner_tui.planner.state import Pin
from planner_tui.runtime.errors import ReadOnlyError
from planner_tui.runtime.events import DecisionMade, SessionError, SessionEvent, SnapshotReady
from planner_tui.runtime.ownership import OwnerInfo
from planner_tui.runtime.publisher import PROTOCOL_VERSION

if TYPE_CHECKING:
    from planner_tui.connectors.base import PlannerConnector
    from planner_tui.runtime.source import SeriesHistory

log = logging.getLogger(__name__)

#: longest line accepted from the owner (a Snapshot of a large graph)
MAX_LINE_BYTES = 64 * 1024 * 1024
EVENT_QUEUE_SIZE = 256
RECENT_DECISIONS = 200


class ObserverError(ConnectionError):
    """The owner's feed cannot be read (gone, refused, or not speaking this protocol)."""


class ObservedConnector:
    """What an observer knows of the owner's connector: its kind, header label and problems."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.label = kind
        self.problems: list[str] = []


class GraphObserver:
    """A read-only view of a graph owned by another process. Build with :meth:`connect`."""

    read_only = True

    def __init__(
        self,
        owner: OwnerInfo,
        graph: GraphConfig,
        kind: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.owner = owner
        self.graph = graph
        self.connector = ObservedConnector(kind)
        self._reader = reader
        self._writer = writer
        self._mode = PlannerMode.AUTO
        self._next_tick_at: float | None = None
        self._pins: dict[str, Pin] = {}
        self._latest: Snapshot | None = None
        self._decisions: deque[Decision] = deque(maxlen=RECENT_DECISIONS)
        self._events: Fanout[SessionEvent] = Fanout(maxsize=EVENT_QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None
        self._logs: PlannerConnector | None = None
        self.first_snapshot = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.bad_lines = 0

    @classmethod
    async def connect(cls, owner: OwnerInfo, timeout: float = 5.0) -> GraphObserver:
        """Connect to ``owner``'s feed and read its hello; :class:`ObserverError` when that fails."""
        if not owner.socket:
            raise ObserverError(f"the owner ({owner.describe()}) publishes no feed yet; try again in a moment")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(owner.socket, limit=MAX_LINE_BYTES), timeout
            )
        except (OSError, TimeoutError) as exc:
            raise ObserverError(f"cannot reach the owner ({owner.describe()}) at {owner.socket}: {exc}") from None
        try:
            hello = json.loads(await asyncio.wait_for(reader.readline(), timeout) or b"null")
            if not isinstance(hello, dict) or hello.get("type") != "hello":
                raise ObserverError(f"the owner's feed at {owner.socket} did not say hello")
            if hello.get("version") != PROTOCOL_VERSION:
                raise ObserverError(
                    f"the owner speaks feed version {hello.get('version')!r}, this planner-tui {PROTOCOL_VERSION}; "
                    "use the same planner-tui version"
                )
            graph = GraphConfig.model_validate(hello.get("graph"))
            observer = cls(
                OwnerInfo.from_json(hello.get("owner")), graph, str(hello.get("connector", "?")), reader, writer
            )
            await asyncio.wait_for(observer._catch_up(), timeout)
        except BaseException as exc:
            writer.close()
            if isinstance(exc, ObserverError):
                raise
            if isinstance(exc, Exception):
                raise ObserverError(f"cannot read the owner's feed at {owner.socket}: {exc}") from None
            raise
        observer._task = asyncio.get_running_loop().create_task(observer._read(), name="observer")
        return observer

    # -- the feed ----------------------------------------------------------------------------------
    async def _catch_up(self) -> None:
        """Take what the owner sends a new observer (state, Snapshot, recent decisions) up to ``synced``."""
        while True:
            line = await self._reader.readline()
            if not line:
                raise ObserverError(f"the owner ({self.owner.describe()}) closed its feed")
            message = json.loads(line)
            if isinstance(message, dict) and message.get("type") == "synced":
                return
            self._take(message)

    async def _read(self) -> None:
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                try:
                    self._take(json.loads(line))
                except (ValueError, TypeError, KeyError, SnapshotFormatError) as exc:
                    self.bad_lines += 1
                    log.warning("skipped a line of the owner's feed: %s", exc)
        except (ConnectionError, OSError, ValueError) as exc:
            log.warning("the owner's feed broke: %s", exc)
        finally:
            self.disconnected.set()
            self._publish(
                SessionError(f"the owner ({self.owner.describe()}) stopped publishing; restart to take the graph over")
            )

    def _take(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "snapshot":
            snapshot = snapshot_from_dict(message["data"])
            self._latest = snapshot
            self.first_snapshot.set()
            self._publish(SnapshotReady(snapshot))
        elif kind == "decision":
            decision = decision_from_dict(message["data"])
            self._decisions.append(decision)
            self._publish(DecisionMade(decision))
        elif kind == "state":
            self._mode = PlannerMode(message.get("mode", self._mode))
            tick = message.get("next_tick_at")
            self._next_tick_at = float(tick) if isinstance(tick, int | float) else None
            pins = message.get("pins") or {}
            self._pins = {
                str(name): Pin(str(name), int(p["replicas"]), p.get("until"), str(p.get("reason", "pinned")))
                for name, p in pins.items()
            }
            self.connector.problems = [str(p) for p in message.get("problems") or []]
            self.connector.label = str(message.get("label") or self.connector.kind)
        elif kind == "error":
            self._publish(SessionError(str(message.get("message", ""))))

    def _publish(self, event: SessionEvent) -> None:
        self._events.publish(event)

    # -- what the dashboard reads ------------------------------------------------------------------
    @property
    def namespace(self) -> str:
        """The graph's namespace."""
        return self.graph.namespace

    @property
    def mode(self) -> PlannerMode:
        """The owner's planner mode."""
        return self._mode

    @property
    def latest_snapshot(self) -> Snapshot | None:
        """The owner's newest Snapshot."""
        return self._latest

    @property
    def decisions(self) -> Sequence[Decision]:
        """The owner's recent decisions, newest last."""
        return tuple(self._decisions)

    @property
    def next_tick_at(self) -> float | None:
        """When the owner's planner ticks next."""
        return self._next_tick_at

    @property
    def pins(self) -> Mapping[str, Pin]:
        """The owner's pins."""
        return dict(self._pins)

    def history(self) -> SeriesHistory | None:
        """None: the owner's feed starts now (charts fill as its Snapshots arrive)."""
        return None

    def subscribe(self, maxsize: int = EVENT_QUEUE_SIZE) -> asyncio.Queue[SessionEvent]:
        """A queue receiving every event from now on (the oldest is dropped if it fills up)."""
        return self._events.subscribe(maxsize)

    def unsubscribe(self, queue: asyncio.Queue[SessionEvent]) -> None:
        """Stop delivering events to ``queue``."""
        self._events.unsubscribe(queue)

    # -- actions: refused ----------------------------------------------------------------------------
    def _refuse(self, action: str) -> ReadOnlyError:
        return ReadOnlyError(action, hint=f"the graph is owned by {self.owner.describe()}; act there")

    async def set_mode(self, mode: PlannerMode) -> None:
        """Refused: only the owner changes the planner."""
        raise self._refuse(f"setting the planner mode to {PlannerMode(mode).value}")

    async def scale(self, component: str, replicas: int, pin: bool = True) -> None:
        """Refused: only the owner scales."""
        raise self._refuse(f"scaling {component}")

    async def pin(self, component: str, replicas: int | None = None, until: float | None = None) -> Pin:
        """Refused: only the owner pins."""
        raise self._refuse(f"pinning {component}")

    async def unpin(self, component: str) -> bool:
        """Refused: only the owner unpins."""
        raise self._refuse(f"unpinning {component}")

    async def restart(self, component: str, rolling: bool = True) -> bool:
        """Refused: only the owner restarts replicas."""
        raise self._refuse(f"restarting {component}")

    async def scale_load(self, factor: float) -> dict[str, Any]:
        """Refused: only the owner changes the simulated load."""
        raise self._refuse("changing the simulated load")

    # -- logs: read-only, through an observing connector of the graph's backend -----------------------
    async def _log_reader(self) -> PlannerConnector:
        if self._logs is None:
            from planner_tui.connectors.factory import open_connector

            self._logs = await open_connector(self.graph, observe=True)  # read-only: the owner's backend
        return self._logs

    async def logs(self, component: str, lines: int = 200) -> list[LogLine]:
        """The last ``lines`` log lines of the component's replicas (read from their files)."""
        reader = await self._log_reader()
        return await reader.get_component_logs(component, lines)

    async def follow_logs(self, component: str) -> AsyncIterator[LogLine]:
        """New log lines of the component's replicas as they are written."""
        reader = await self._log_reader()
        async for line in reader.follow_component_logs(component):
            yield line

    async def close(self, stop_graph: bool = False, timeout: float = 5.0) -> None:
        """Disconnect; the graph is the owner's and keeps running whatever ``stop_graph`` says."""
        self._writer.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=timeout)
        if self._logs is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._logs.shutdown(stop_graph=False), timeout)
