"""The Session: one object owning the connector, the collector, the planner runner and the audit log.

The dashboard, ``planner-tui plan`` and the tests all build the same Session. Front ends read its
properties, subscribe to its one event stream (:class:`~planner_tui.runtime.events.SnapshotReady`,
:class:`~planner_tui.runtime.events.DecisionMade`, :class:`~planner_tui.runtime.events.SessionError`)
and call its actions; they never talk to a source or the connector themselves. It satisfies
:class:`~planner_tui.runtime.source.GraphSource`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner_tui.config.graph import ComponentConfig, GraphConfig
from planner_tui.config.paths import socket_dir
from planner_tui.config.rules import gpu_budget
from planner_tui.connectors.base import PlannerConnector
from planner_tui.connectors.errors import ComponentNotFound, ConnectorError, ScalingRefused
from planner_tui.loadcontrol.locate import load_control_url
from planner_tui.model.decisions import Decision, PlannerMode
from planner_tui.model.fanout import Fanout
from planner_tui.model.logs import LogLine
from planner_tui.model.scaling import TargetReplica
from planner_tui.model.snapshot import Snapshot
from planner_tui.planner.audit import AuditLog
from planner_tui.planner.engine import EngineConfig
from planner_tui.planner.exporter import PlannerExporter
from planner_tui.planner.profile import CapacityProfile, load_profile
from planner_tui.planner.runner import PlannerRunner
from planner_tui.planner.state import Pin
from planner_tui.runtime.errors import ReadOnlyError
from planner_tui.runtime.events import DecisionMade, SessionError, SessionEvent, SnapshotReady
from planner_tui.runtime.ownership import GraphLease
from planner_tui.runtime.pins_store import load_pins, pins_path, save_pins
from planner_tui.runtime.publisher import SnapshotPublisher

if TYPE_CHECKING:
    from planner_tui.metrics.collector import Collector
    from planner_tui.metrics.history import History
    from planner_tui.runtime.ownership import OwnerInfo

log = logging.getLogger(__name__)

EVENT_QUEUE_SIZE = 256


class Session:
    """A running graph with its collector and planner. Build it with :meth:`open`; end it with :meth:`close`."""

    def __init__(
        self,
        graph: GraphConfig,
        connector: PlannerConnector,
        collector: Collector,
        runner: PlannerRunner,
        *,
        read_only: bool = False,
        exporter: PlannerExporter | None = None,
        lease: GraphLease | None = None,
    ) -> None:
        self.graph = graph
        self.lease = lease
        self.publisher: SnapshotPublisher | None = None
        self.connector = connector
        self.collector = collector
        self.runner = runner
        self.read_only = read_only
        self.exporter = exporter
        self._events: Fanout[SessionEvent] = Fanout(maxsize=EVENT_QUEUE_SIZE)
        self._pump: asyncio.Task[None] | None = None
        self._closed = False
        self._pins_file: Path | None = None  # where an owner keeps its pins (None: read-only, or not kept)
        runner.add_listener(self._on_decision)
        runner.add_error_listener(lambda message: self._publish(SessionError(message)))

    # -- opening and closing -----------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        graph: GraphConfig,
        *,
        mode: PlannerMode | None = None,
        read_only: bool = False,
        connector: PlannerConnector | None = None,
        collector: Collector | None = None,
        metrics_interval_s: float | None = None,
        planner_interval_s: float | None = None,
        audit: AuditLog | None = None,
        profile: CapacityProfile | None = None,
        clock: Callable[[], float] = time.time,
        publish: bool = True,
    ) -> Session:
        """Take the graph's lease, start (or attach to) the graph, then the collector and the planner.

        The session owns the graph: it holds the graph's lease (:mod:`planner_tui.runtime.ownership`)
        until :meth:`close`, and with ``publish`` serves its Snapshots and decisions to observers on a
        Unix socket. Raises :class:`GraphOwnedError` naming the owner when another process holds the
        lease (:func:`planner_tui.runtime.open_graph` attaches as an observer instead).

        ``connector`` defaults to the backend the graph's ``[connector]`` names (local when absent). A read-only session
        changes nothing: its planner only advises and writes no audit log. ``metrics_interval_s`` and
        ``planner_interval_s`` override the graph's intervals (a sped-up demo).
        """
        if profile is None and graph.planner.profile_file:
            profile = load_profile(graph.planner.profile_file)  # a bad profile fails before anything starts
        lease = GraphLease.try_take(graph.namespace)  # before anything starts: one owner per graph
        exporter = PlannerExporter(graph) if graph.planner.exporter_port is not None else None
        created = connector is None
        try:
            if exporter is not None:
                exporter.start()  # a taken port fails before anything starts
            if connector is None:
                from planner_tui.connectors.factory import open_connector

                connector = await open_connector(graph)
        except BaseException:
            if exporter is not None:
                exporter.stop()
            lease.release()
            raise
        session: Session | None = None
        try:
            if collector is None:
                from planner_tui.metrics.collector import Collector

                collector = Collector(connector, graph, interval_s=metrics_interval_s)
            collecting = collector
            effective = mode or graph.planner.mode
            if read_only and effective is PlannerMode.AUTO:
                effective = PlannerMode.ADVISORY
            runner = PlannerRunner(
                connector,
                EngineConfig.of(graph, profile),
                lambda: collecting.latest,
                audit=None if read_only else (audit or AuditLog.for_graph(graph)),
                mode=effective,
                interval_s=planner_interval_s,
                clock=clock,
            )
            session = cls(graph, connector, collector, runner, read_only=read_only, exporter=exporter, lease=lease)
            if not read_only:
                session._restore_pins(pins_path(graph.namespace), clock())
            session._start()
            if publish:
                await session._publish_feed()
        except BaseException:
            if session is not None:  # started, then its feed failed: stop what it started
                if session._pump is not None:
                    session._pump.cancel()
                await session.runner.stop(timeout=5.0)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(session.collector.stop(), timeout=10.0)
            if exporter is not None:
                exporter.stop()
            if created:
                await connector.shutdown(stop_graph=False)
            lease.release()
            raise
        return session

    async def _publish_feed(self) -> None:
        """Serve this session's feed to observers and say where in the lease."""
        assert self.lease is not None
        path = socket_dir(str(self.lease.path)) / "session.sock"
        hello = {
            "owner": dataclasses.asdict(self.lease.info),
            "graph": self.graph.model_dump(mode="json"),
            "connector": self.connector.kind,
            "read_only": self.read_only,
        }
        self.publisher = SnapshotPublisher(self, path, self.lease.info, hello, self._feed_state)
        await self.publisher.start()
        self.lease.publish_socket(str(path))

    def _feed_state(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "next_tick_at": self.next_tick_at,
            "pins": {
                name: {"replicas": pin.replicas, "until": pin.until, "reason": pin.reason}
                for name, pin in self.pins.items()
            },
            "problems": list(self.connector.problems),
            "label": self.connector.label,
        }

    def _restore_pins(self, path: Path, now: float) -> None:
        """Take up the pins a previous owner of the graph left in ``path``; from now on keep them there."""
        self._pins_file = path
        restored, problems = load_pins(path, self.graph, now)
        for pin in restored:
            self.runner.pin(pin)
            log.info("restored the pin on %s: %s", pin.component, pin.describe())
        for problem in problems:
            log.warning("%s", problem)

    def _keep_pins(self) -> None:
        """Write the active pins where the next owner finds them; a failure is said, the pins still hold."""
        if self._pins_file is None:
            return
        try:
            save_pins(self._pins_file, self.namespace, self.runner.pins)
        except OSError as exc:
            message = f"cannot keep the pins in {self._pins_file}: {exc}; they hold until this process ends"
            log.warning("%s", message)
            self._publish(SessionError(message))

    def _start(self) -> None:
        queue = self.collector.subscribe()
        self._pump = asyncio.get_running_loop().create_task(self._pump_snapshots(queue), name="session-snapshots")
        if not self.collector.running:
            self.collector.start()
        self.runner.start()

    async def close(self, stop_graph: bool = True, timeout: float = 60.0) -> None:
        """Stop the planner, the collector and the connector (``stop_graph=False`` leaves the graph running).

        Bounded: each part gets its share of ``timeout`` and is abandoned after it.
        """
        if self._closed:
            return
        self._closed = True
        if self.publisher is not None:
            await self.publisher.stop()
        await self.runner.stop(timeout=5.0)
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.wait({self._pump}, timeout=2.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.collector.stop(), timeout=10.0)
        if self.exporter is not None:
            self.exporter.stop()
        if self.runner.audit is not None:
            self.runner.audit.close()
        if stop_graph and self._pins_file is not None:
            self._pins_file.unlink(missing_ok=True)  # a graph started afresh begins from its file's counts
        try:
            await asyncio.wait_for(self.connector.shutdown(stop_graph=stop_graph), timeout=timeout)
        except TimeoutError:
            log.error("the connector did not shut down within %.0f s", timeout)
        finally:
            if self.lease is not None:
                self.lease.release()  # last: a new owner never meets a graph still stopping

    # -- state -------------------------------------------------------------------------------------
    @property
    def namespace(self) -> str:
        """The graph's namespace."""
        return self.graph.namespace

    @property
    def owner(self) -> OwnerInfo | None:
        """None: this session owns its graph (an observer names the process that does)."""
        return None

    @property
    def mode(self) -> PlannerMode:
        """The planner's mode."""
        return self.runner.mode

    @property
    def latest_snapshot(self) -> Snapshot | None:
        """The collector's newest Snapshot."""
        return self.collector.latest

    def history(self) -> History:
        """The collector's bounded history of every series (for charts that start full)."""
        return self.collector.history

    @property
    def decisions(self) -> Sequence[Decision]:
        """Recent decisions, newest last (bounded)."""
        return tuple(self.runner.decisions)

    @property
    def next_tick_at(self) -> float | None:
        """Unix time of the next planner tick, None when the planner is not running."""
        return self.runner.next_tick_at if self.runner.running else None

    @property
    def pins(self) -> Mapping[str, Pin]:
        """Active pins by component."""
        return self.runner.pins

    # -- events ------------------------------------------------------------------------------------
    def subscribe(self, maxsize: int = EVENT_QUEUE_SIZE) -> asyncio.Queue[SessionEvent]:
        """A queue receiving every event from now on (the oldest is dropped if it fills up)."""
        return self._events.subscribe(maxsize)

    def unsubscribe(self, queue: asyncio.Queue[SessionEvent]) -> None:
        """Stop delivering events to ``queue``."""
        self._events.unsubscribe(queue)

    def _publish(self, event: SessionEvent) -> None:
        self._events.publish(event)

    def _on_decision(self, decision: Decision) -> None:
        if self.exporter is not None:
            self.exporter.update_decision(decision)
        self._publish(DecisionMade(decision))

    async def _pump_snapshots(self, queue: asyncio.Queue[Snapshot]) -> None:
        try:
            while True:
                snapshot = await queue.get()
                if self.exporter is not None:
                    self.exporter.update_snapshot(snapshot)
                self._publish(SnapshotReady(snapshot))
        finally:
            self.collector.unsubscribe(queue)

    # -- actions -----------------------------------------------------------------------------------
    def _writable(self, action: str) -> None:
        if self.read_only:
            raise ReadOnlyError(action)

    def _component(self, name: str) -> ComponentConfig:
        try:
            return self.graph.components[name]
        except KeyError:
            raise ComponentNotFound(name, self.graph.components) from None

    def _check_count(self, name: str, replicas: int) -> None:
        comp = self._component(name)
        if not comp.min_replicas <= replicas <= comp.max_replicas:
            raise ScalingRefused(
                f"{name}: {replicas} replicas is outside min_replicas..max_replicas "
                f"({comp.min_replicas}..{comp.max_replicas}); widen them in the graph file to go further"
            )
        # the planner's budget rule, the one the dashboard's scale dialog checks too
        over = gpu_budget(self.graph, self.latest_snapshot).refuses(self.graph, name, replicas)
        if over is not None:
            raise ScalingRefused(
                f"{name} at {replicas} replicas needs {over.needed} GPUs in total, over the GPU budget of "
                f"{over.limit} (planner.max_gpu_budget); scale another component down first"
            )

    async def _apply_with_pin(self, name: str, replicas: int, pin: Pin | None) -> None:
        previous = self.runner.state.pins.get(name)
        if pin is not None:
            self.runner.pin(pin)  # before scaling, so a tick in between cannot undo the change
        try:
            await self.connector.set_component_replicas([TargetReplica(component_name=name, desired_replicas=replicas)])
        except BaseException:
            if pin is not None:
                self.runner.unpin(name)
                if previous is not None:
                    self.runner.pin(previous)
            raise

    async def set_mode(self, mode: PlannerMode) -> None:
        """Switch the planner between auto, advisory and paused (effective at the next tick)."""
        self._writable(f"setting the planner mode to {PlannerMode(mode).value}")
        self.runner.set_mode(PlannerMode(mode))

    async def scale(self, component: str, replicas: int, pin: bool = True) -> None:
        """Scale ``component`` to ``replicas`` now; ``pin`` (default) keeps the planner from undoing it."""
        self._writable(f"scaling {component}")
        self._check_count(component, replicas)
        hold = Pin(component, replicas, reason="manual scale") if pin else None
        await self._apply_with_pin(component, replicas, hold)
        if hold is not None:
            self._keep_pins()

    async def pin(self, component: str, replicas: int | None = None, until: float | None = None) -> Pin:
        """Hold ``component`` at ``replicas`` (default: its current count) until ``until`` (Unix time) or unpinned."""
        self._writable(f"pinning {component}")
        self._component(component)
        current = await self.connector.get_component_replicas(component)
        count = current if replicas is None else replicas
        if until is not None and until <= time.time():
            raise ValueError(f"the pin on {component} would end in the past; give a later time")
        self._check_count(component, count)
        pin = Pin(component, count, until, reason="pinned")
        if count != current:
            await self._apply_with_pin(component, count, pin)
        else:
            self.runner.pin(pin)
        self._keep_pins()
        return pin

    async def unpin(self, component: str) -> bool:
        """Return ``component`` to the planner; False when it was not pinned."""
        self._writable(f"unpinning {component}")
        self._component(component)
        pinned = self.runner.unpin(component)
        self._keep_pins()
        return pinned

    async def restart(self, component: str, rolling: bool = True) -> bool:
        """Restart the component's replicas (one at a time when ``rolling``)."""
        self._writable(f"restarting {component}")
        self._component(component)
        return await self.connector.restart_component(component, rolling=rolling)

    async def logs(self, component: str, lines: int = 200) -> list[LogLine]:
        """The last ``lines`` log lines of the component's replicas."""
        self._component(component)
        return await self.connector.get_component_logs(component, lines)

    def follow_logs(self, component: str) -> AsyncIterator[LogLine]:
        """New log lines of the component's replicas as they are written."""
        self._component(component)
        return self.connector.follow_component_logs(component)

    def simulated_frontend_url(self) -> str | None:
        """The control URL of the graph's simulated frontend (``simulated = true`` in the graph file), else None."""
        return load_control_url(self.graph)

    async def scale_load(self, factor: float) -> dict[str, Any]:
        """Multiply the simulated frontend's request rate by ``factor`` (the demo's load key)."""
        self._writable("changing the simulated load")
        url = self.simulated_frontend_url()
        if url is None:
            raise ConnectorError("no simulated frontend in this graph (mark it simulated = true in the graph file)")
        from planner_tui.loadcontrol.client import scale_load

        return await scale_load(url, factor)
