"""LocalConnector: a serving graph's replicas as real processes under circus, one watcher per replica."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from planner_tui.config.graph import ComponentConfig, GraphConfig
from planner_tui.connectors.base import PlannerConnector
from planner_tui.connectors.errors import ConnectorError
from planner_tui.connectors.local import logs
from planner_tui.connectors.local.allocator import gpu_inventory, holdings_of
from planner_tui.connectors.local.health import HealthMonitor
from planner_tui.connectors.local.info import component_metrics, prefill_queue, resource_usage, topology
from planner_tui.connectors.local.observe import observe_phases
from planner_tui.connectors.local.processes import is_running as process_alive
from planner_tui.connectors.local.processes import stop_process_tree
from planner_tui.connectors.local.scaling import ScalingMixin
from planner_tui.connectors.local.state_file import NamespaceState, ReplicaRecord, StateStore
from planner_tui.connectors.local.supervisor import Supervisor
from planner_tui.connectors.local.watchers import replica_urls
from planner_tui.connectors.local.writer import acquire_writer, release_writer
from planner_tui.connectors.targets import component_of
from planner_tui.model.components import ComponentState
from planner_tui.model.logs import LogLine
from planner_tui.model.replicas import Phase, ReplicaState

log = logging.getLogger(__name__)


#: how old an observer's view of the graph may be before it reads the state file again (seconds)
OBSERVE_TTL_S = 0.2


class LocalConnector(ScalingMixin, PlannerConnector):
    """Runs a graph's components as local processes under a circusd of their own.

    Create with :meth:`create` (starts circusd, or attaches through the namespace's state file) or
    :meth:`attach` (no graph file needed). Scaling one component never touches another's processes.
    ``crash_backoff_s`` is the first crash-restart delay (doubling each time, up to
    ``crash_backoff_cap_s``); a replica is failed after ``max_crash_restarts`` crashes in a row, where
    a run longer than ``crash_reset_after_s`` starts a new streak; ``ready_timeout_s`` bounds blocking
    waits for readiness.
    """

    kind = "local"

    def __init__(
        self,
        namespace: str,
        graph: GraphConfig | None = None,
        working_dir: str | None = None,
        state_dir: str | Path | None = None,
        *,
        crash_backoff_s: float = 0.5,
        crash_backoff_cap_s: float = 30.0,
        crash_reset_after_s: float = 60.0,
        ready_timeout_s: float = 120.0,
        auto_recover: bool = True,
        monitor_interval_s: float = 0.25,
        log_max_bytes: int = logs.MAX_BYTES,
        log_backups: int = logs.BACKUPS,
        observe: bool = False,
    ) -> None:
        if graph is not None and graph.namespace != namespace:
            raise ConnectorError(f"the graph's namespace is {graph.namespace!r}, not {namespace!r}")
        self.namespace = namespace
        self._graph = graph
        self.working_dir = os.path.abspath(working_dir or os.getcwd())
        self.store = StateStore(namespace, state_dir)
        self.ready_timeout_s = ready_timeout_s
        self._options = {
            "crash_backoff_s": crash_backoff_s,
            "crash_backoff_cap_s": crash_backoff_cap_s,
            "crash_reset_after_s": crash_reset_after_s,
            "auto_recover": auto_recover,
            "log_max_bytes": log_max_bytes,
            "log_backups": log_backups,
        }
        self._monitor_interval_s = monitor_interval_s
        self._sup: Supervisor | None = None
        self._monitor: HealthMonitor | None = None
        self._scale_lock = asyncio.Lock()
        self._removals: set[asyncio.Task[None]] = set()
        self._waiters: set[asyncio.Task[None]] = set()  # new replicas waiting for their dependencies
        self._closed = False
        self._writing = False  # holds this process's share of the graph's writer lease
        self._observed_at = float("-inf")  # an observer's last read of the state file (monotonic)
        self._observe_lock = asyncio.Lock()
        self.observe = observe

    # -- factories and lifecycle -------------------------------------------------------------------
    @classmethod
    async def create(
        cls,
        namespace: str,
        graph: GraphConfig | None = None,
        working_dir: str | None = None,
        state_dir: str | Path | None = None,
        **options: Any,
    ) -> LocalConnector:
        """An initialized connector: starts circusd and the graph on first use, else attaches to it."""
        connector = cls(namespace, graph=graph, working_dir=working_dir, state_dir=state_dir, **options)
        await connector.initialize()
        return connector

    @classmethod
    async def attach(cls, namespace: str, state_dir: str | Path | None = None, **options: Any) -> LocalConnector:
        """Attach to the running graph of ``namespace`` through its state file (no graph file needed).

        ``observe=True`` attaches strictly read-only: nothing is started, restarted, launched or
        recorded, and its scaling and restart methods refuse. Raises ConnectorError "no running graph
        in namespace X" when there is none.
        """
        connector = cls(namespace, graph=None, state_dir=state_dir, **options)
        await connector.initialize()
        return connector

    @property
    def graph(self) -> GraphConfig:
        """The graph this connector runs."""
        return self.supervisor.graph

    @property
    def supervisor(self) -> Supervisor:
        """The namespace's supervisor (after :meth:`initialize`)."""
        if self._sup is None:
            raise ConnectorError(f"the local connector for namespace {self.namespace} is not initialized")
        return self._sup

    @property
    def problems(self) -> list[str]:
        """Current problems with the backend (circusd died, a replica not ready after its
        ``ready_timeout_s``), for the dashboard and the owner's feed."""
        sup = self._sup
        if sup is None:
            return []
        found = list(sup.problems)
        for name, rec in list(sup.state.replicas.items()):
            rt = sup.runtime.get(name)
            if rt is not None and rt.ready_timed_out and rt.phase is Phase.RUNNING and not rec.stopping:
                found.append(f"replica {rec.component}-{rec.index} {rt.reason}")
        return found

    @property
    def recoveries(self) -> int:
        """How many times circusd was found dead and started again."""
        return self._sup.recoveries if self._sup else 0

    async def initialize(self) -> None:
        """Start the graph (first use), or adopt the running one and reconcile with what circus runs."""
        if self._sup is not None:
            return
        if self.observe:
            await self._initialize_observer()
            return
        await asyncio.to_thread(acquire_writer, self.namespace, self.store.root.parent)  # one writing process per graph
        try:
            await self._initialize_writer()
        except BaseException:
            release_writer(self.namespace, self.store.root.parent)
            raise
        self._writing = True

    async def _initialize_writer(self) -> None:
        existing = await asyncio.to_thread(self._read_state)
        if existing is not None and existing.stopping:
            await self._finish_interrupted_stop(existing)
            existing = None
        if existing is None and self._graph is None:
            raise ConnectorError(
                f"no running graph in namespace {self.namespace} (no state file at {self.store.path}); "
                "start it with a graph file"
            )
        graph = self._graph or GraphConfig.model_validate(existing.graph if existing else {})
        working_dir = (existing.working_dir if existing and self._graph is None else None) or self.working_dir
        sup = Supervisor(self.store, graph, working_dir, **self._options)  # type: ignore[arg-type]
        self._sup = sup
        try:
            if existing is not None:
                sup.state = existing
                if existing.circusd is not None and sup.circusd_alive():
                    await sup.adopt(existing.circusd)
                    await self._reconcile()
                else:
                    log.warning("circusd of namespace %s is gone; starting it again", self.namespace)
                    await sup.recover()
            else:
                await sup.start_circusd()
                await self._start_graph()
        except BaseException:
            await self._abort_start(started_here=existing is None)
            raise
        self._monitor = HealthMonitor(sup, interval_s=self._monitor_interval_s)
        if existing is not None:
            try:
                await self._monitor.prime()  # an attached view shows ready replicas as ready at once
            except BaseException:
                await self._monitor.stop()
                raise
        self._monitor.start()

    async def _initialize_observer(self) -> None:
        existing = await asyncio.to_thread(self.store.read)
        if existing is None:
            raise ConnectorError(
                f"no running graph in namespace {self.namespace} (no state file at {self.store.path}); "
                "start it with a graph file"
            )
        graph = self._graph or GraphConfig.model_validate(existing.graph)
        sup = Supervisor(self.store, graph, existing.working_dir or self.working_dir, **self._options)  # type: ignore[arg-type]
        sup.state = existing
        sup.closing = True  # never starts circusd
        self._sup = sup
        await observe_phases(sup)
        self._observed_at = time.monotonic()

    async def refresh(self) -> None:
        """An observer reads the state file and the replicas' phases again now; a writer's view is current."""
        if self.observe and self._sup is not None:
            self._observed_at = float("-inf")
            await self._refresh_observed()

    async def _refresh_observed(self) -> None:
        """An observer's view follows the graph: the state file and the replicas' phases are read again
        when the view is older than :data:`OBSERVE_TTL_S` (the owner, or a Global Planner, changes them)."""
        if time.monotonic() - self._observed_at < OBSERVE_TTL_S:
            return
        async with self._observe_lock:
            if time.monotonic() - self._observed_at < OBSERVE_TTL_S:
                return
            existing = await asyncio.to_thread(self.store.read)
            if existing is None:
                raise ConnectorError(
                    f"no running graph in namespace {self.namespace} (its state file {self.store.path} is gone: "
                    "the graph was stopped)"
                )
            self.supervisor.state = existing
            await observe_phases(self.supervisor)
            self._observed_at = time.monotonic()

    def _writable(self, action: str) -> None:
        if self.observe:
            raise ConnectorError(f"{action} refused: this connector only observes namespace {self.namespace}")

    async def _apply(self, targets: dict[str, int]) -> set[str]:
        self._writable("scaling")
        return await super()._apply(targets)

    async def _finish_interrupted_stop(self, state: NamespaceState) -> None:
        """A graph whose stop did not finish: refuse while it is stopping, else clean up what is left."""
        if state.circusd is not None and process_alive(state.circusd.pid, state.circusd.create_time):
            raise ConnectorError(f"the graph in namespace {self.namespace} is being stopped; try again in a moment")

        def clean() -> None:
            for rec in state.replicas.values():
                if rec.pid and process_alive(rec.pid, rec.pid_create_time):
                    stop_process_tree(rec.pid, rec.pid_create_time, 5.0)
            with self.store.locked():
                self.store.remove()

        await asyncio.to_thread(clean)

    def _read_state(self) -> NamespaceState | None:
        with self.store.locked():
            return self.store.read()

    async def _abort_start(self, started_here: bool) -> None:
        """A failed start leaves nothing behind: a graph this call started is stopped again."""
        sup = self._sup
        await self._cancel_waiters()
        self._sup = None
        if sup is None:
            return
        if started_here:
            sup.closing = True
            with contextlib.suppress(Exception):
                await sup.stop_everything()
        else:
            await sup.close()

    async def _start_graph(self) -> None:
        # dependencies first, so a worker finds its frontend; a dependent's replicas start once its
        # dependencies are ready (in the background, see ScalingMixin._launch)
        for name in self.graph.dependency_order():
            comp = self.graph.components[name]
            await self._scale(name, comp.effective_initial_replicas)

    async def _reconcile(self) -> None:
        """Align the state file with circus: adopt pids, restart missing watchers, drop strays."""
        sup = self.supervisor
        statuses = await sup.watcher_statuses()
        for name in statuses:
            if name not in sup.state.replicas:
                log.warning("removing watcher %s: circus runs it but the state file does not know it", name)
                with contextlib.suppress(ConnectorError):
                    await sup.call("rm", name=name, waiting=True)
        if self._graph is not None and sup.state.graph != self._graph.model_dump(mode="json"):
            graph_json = self._graph.model_dump(mode="json")
            await sup.transact(lambda s: setattr(s, "graph", graph_json))  # later attaches see this graph
        for name, rec in list(sup.state.replicas.items()):
            if rec.component not in self.graph.components:
                log.warning("stopping replica %s: component %r is not in the graph any more", name, rec.component)
                await sup.transact(functools.partial(_mark_stopping, name=name))
                self._track(sup.remove(name))
            elif rec.stopping:
                self._track(sup.remove(name))
            elif rec.failed_reason:
                sup.runtime_of(name).phase = Phase.FAILED
                sup.runtime_of(name).reason = rec.failed_reason
            elif statuses.get(name) == "active":
                await sup.refresh_pid(name)
            elif name not in statuses:
                await sup.launch(name)

    async def shutdown(self, stop_graph: bool = True) -> None:
        """Release the connector; ``stop_graph`` stops every replica and circusd (checked by pid).

        ``stop_graph=False`` leaves the graph running for a later :meth:`attach`. Bounded: waits at
        most the components' graceful timeouts.
        """
        if self._sup is None or self._closed:
            return
        self._closed = True
        self._sup.closing = True
        if self.observe:
            await self._sup.close()  # an observer never stops what it did not start
            return
        try:
            await self._cancel_waiters()
            if self._monitor is not None:
                await self._monitor.stop()
            if self._removals:
                await asyncio.wait(list(self._removals), timeout=self._max_grace() + 5.0)
            if stop_graph:
                await self._sup.stop_everything()
            else:
                await self._sup.close()
        finally:
            if self._writing:
                self._writing = False
                release_writer(self.namespace, self.store.root.parent)

    def _max_grace(self) -> float:
        return max((c.graceful_timeout_s for c in self.graph.components.values()), default=10.0)

    def _track(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._removals.add(task)
        task.add_done_callback(self._removals.discard)
        return task

    # -- state -------------------------------------------------------------------------------------
    def _component(self, name: str) -> ComponentConfig:
        return component_of(self.graph, name)

    def _replica_state(self, name: str, rec: ReplicaRecord) -> ReplicaState:
        sup = self.supervisor
        rt = sup.runtime_of(name)
        reason: str | None
        if rec.failed_reason:
            phase, reason = Phase.FAILED, rec.failed_reason
        elif rec.stopping:
            phase, reason = Phase.STOPPING, rt.reason or "scaling down"
        else:
            phase, reason = rt.phase, rt.reason
        metrics, health = replica_urls(self.graph, rec.component, rec.index, tuple(rec.gpus), rec.port)
        return ReplicaState(
            component=rec.component,
            index=rec.index,
            phase=phase,
            pid=rec.pid,
            restarts=rec.restarts,
            exit_code=rec.exit_code,
            gpus=tuple(rec.gpus),
            port=rec.port,
            started_at=rec.started_at,
            reason=reason,
            metrics_url=metrics,
            health_url=health,
        )

    def component_states(self) -> dict[str, ComponentState]:
        """Every component's state from what this connector knows now (no I/O)."""
        sup = self.supervisor
        out: dict[str, ComponentState] = {}
        for name, comp in self.graph.components.items():
            replicas = tuple(self._replica_state(n, sup.state.replicas[n]) for n in sup.replica_names(name))
            desired = sup.state.desired.get(name, comp.effective_initial_replicas)
            out[name] = ComponentState(spec=comp.to_spec(name), desired_replicas=desired, replicas=replicas)
        return out

    async def get_component_states(self) -> Mapping[str, ComponentState]:
        """Every component's state: desired count and replicas with phase, pid, GPUs and port (an
        observer's view is read again when older than :data:`OBSERVE_TTL_S`)."""
        if self.observe:
            await self._refresh_observed()
        return self.component_states()

    async def get_component_replicas(self, component_name: str) -> int:
        """The desired replica count of a component."""
        if self.observe:
            await self._refresh_observed()
        comp = self._component(component_name)
        return self.supervisor.state.desired.get(component_name, comp.effective_initial_replicas)

    # -- GPUs --------------------------------------------------------------------------------------
    async def gpu_holders(self) -> dict[int, str]:
        """GPU index -> the replica (watcher name) holding it, across every namespace of this state dir."""
        sup = self.supervisor

        def read() -> dict[int, str]:
            with sup.store.locked():
                own = sup.store.read() or sup.state
                return holdings_of([*sup.store.other_namespaces(), own]).gpus

        return await asyncio.to_thread(read)

    async def free_gpus(self) -> list[int]:
        """This graph's GPUs that no replica holds."""
        inventory, _ = await asyncio.to_thread(gpu_inventory, self.graph)
        held = await self.gpu_holders()
        return [g for g in inventory if g not in held]

    async def replica_pids(self, component_name: str) -> dict[str, int]:
        """Live replica name -> its process id on this machine."""
        self._component(component_name)
        state = self.component_states()[component_name]
        return {r.name: r.pid for r in state.replicas if r.pid is not None and r.phase.is_live}

    # -- information -------------------------------------------------------------------------------
    async def get_system_topology(self) -> dict[str, Any]:
        """Components as nodes (role, replicas) and ``depends_on`` as edges, in data-flow direction."""
        return topology(self.graph, self.component_states())

    async def get_resource_usage(self, component_name: str) -> dict[str, Any]:
        """Per-replica CPU %, RSS, threads (psutil on the real pids) and GPU memory (NVML) if known."""
        self._component(component_name)
        return await resource_usage(component_name, self.component_states()[component_name], self.supervisor.state)

    async def get_component_metrics(self, component_name: str) -> dict[str, Any]:
        """Every replica's scraped metrics (``{replica: {metric: value}}``) plus per-replica errors."""
        self._component(component_name)
        timeout = self.graph.metrics.scrape_timeout_s
        return await component_metrics(self.component_states()[component_name], timeout)

    async def get_prefill_queue_metrics(self) -> dict[str, Any]:
        """Prefill queue depth over the prefill components' replicas: total, per worker, source metric."""
        return await prefill_queue(self.graph, self.component_states())

    # -- operations --------------------------------------------------------------------------------
    async def restart_component(self, component_name: str, rolling: bool = True) -> bool:
        """Restart the component's replicas: one at a time waiting until each is ready, or all at once."""
        self._writable("restarting")
        self._component(component_name)
        sup = self.supervisor
        names = [n for n in sup.replica_names(component_name) if not sup.state.replicas[n].stopping]
        if not names:
            return False
        if rolling:
            for name in names:
                await sup.restart_replica(name)
                await self._wait_replica_ready(name)
        else:
            await asyncio.gather(*(sup.restart_replica(n) for n in names))
        return True

    async def _wait_replica_ready(self, name: str) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        sup = self.supervisor
        while True:
            rec = sup.record(name)
            if rec is None:
                return
            rt = sup.runtime_of(name)
            if rec.failed_reason:
                raise ConnectorError(f"replica {name} failed while restarting: {rec.failed_reason}")
            if rt.phase is Phase.READY:
                return
            if time.monotonic() > deadline:
                raise ConnectorError(f"replica {name} not ready {self.ready_timeout_s:.0f} s after its restart")
            await asyncio.sleep(0.05)

    async def get_component_logs(self, component_name: str, lines: int = 100) -> list[LogLine]:
        """The last ``lines`` lines over the component's replicas (stdout and stderr), by time."""
        self._component(component_name)
        sources = self.supervisor.log_sources(component_name)
        return await asyncio.to_thread(logs.merged_tail, sources, lines)

    def follow_component_logs(self, component_name: str) -> AsyncIterator[LogLine]:
        """New lines of the component's replicas as they are written (rotations and new replicas included)."""
        self._component(component_name)
        sup = self.supervisor
        return logs.follow_sources(lambda: sup.log_sources(component_name))


def _mark_stopping(state: NamespaceState, name: str) -> None:
    if name in state.replicas:
        state.replicas[name].stopping = True
