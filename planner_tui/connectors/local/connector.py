"""LocalConnector: a serving graph's replicas as real processes under circus, one watcher per replica."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from planner_tui.config.graph import ComponentConfig, GraphConfig
from planner_tui.connectors.base import PlannerConnector
from planner_tui.connectors.errors import ComponentNotFound, ConnectorError, ScalingRefused
from planner_tui.connectors.local import logs
from planner_tui.connectors.local.allocator import allocate, gpu_inventory, holdings_of
from planner_tui.connectors.local.health import HealthMonitor
from planner_tui.connectors.local.info import component_metrics, prefill_queue, resource_usage, topology
from planner_tui.connectors.local.state_file import NamespaceState, ReplicaRecord, StateStore
from planner_tui.connectors.local.supervisor import Supervisor
from planner_tui.connectors.local.watchers import replica_urls, watcher_name
from planner_tui.model.components import ComponentState
from planner_tui.model.logs import LogLine
from planner_tui.model.replicas import Phase, ReplicaState
from planner_tui.model.scaling import TargetReplica

log = logging.getLogger(__name__)


class LocalConnector(PlannerConnector):
    """Runs a graph's components as local processes under a circusd of their own.

    Create with :meth:`create` (starts circusd, or attaches through the namespace's state file) or
    :meth:`attach` (no graph file needed). Scaling one component never touches another's processes.
    ``crash_backoff_s`` is the first crash-restart delay (doubling each time, up to
    ``crash_backoff_cap_s``); ``ready_timeout_s`` bounds blocking waits for readiness.
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
        ready_timeout_s: float = 120.0,
        auto_recover: bool = True,
        monitor_interval_s: float = 0.25,
        log_max_bytes: int = logs.MAX_BYTES,
        log_backups: int = logs.BACKUPS,
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
            "auto_recover": auto_recover,
            "log_max_bytes": log_max_bytes,
            "log_backups": log_backups,
        }
        self._monitor_interval_s = monitor_interval_s
        self._sup: Supervisor | None = None
        self._monitor: HealthMonitor | None = None
        self._scale_lock = asyncio.Lock()
        self._removals: set[asyncio.Task[None]] = set()
        self._closed = False

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

        Raises ConnectorError "no running graph in namespace X" when there is none.
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
        """Current problems with the backend (e.g. circusd died), for the dashboard."""
        return list(self._sup.problems) if self._sup else []

    @property
    def recoveries(self) -> int:
        """How many times circusd was found dead and started again."""
        return self._sup.recoveries if self._sup else 0

    async def initialize(self) -> None:
        """Start the graph (first use), or adopt the running one and reconcile with what circus runs."""
        if self._sup is not None:
            return
        existing = await asyncio.to_thread(self._read_state)
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
            if existing is not None and existing.circusd is not None:
                sup.state = existing
                if sup.circusd_alive():
                    await sup.adopt(existing.circusd)
                    await self._reconcile()
                else:
                    log.warning("circusd of namespace %s is gone; starting it again", self.namespace)
                    await sup.recover()
            else:
                await sup.start_circusd()
                await self._start_graph()
        except BaseException:
            await self._abort_start()
            raise
        self._monitor = HealthMonitor(sup, interval_s=self._monitor_interval_s)
        self._monitor.start()

    def _read_state(self) -> NamespaceState | None:
        with self.store.locked():
            return self.store.read()

    async def _abort_start(self) -> None:
        sup = self._sup
        self._sup = None
        if sup is not None and sup.state.circusd is not None and not sup.state.replicas:
            with contextlib.suppress(Exception):
                await sup.stop_everything()
        elif sup is not None:
            await sup.close()

    async def _start_graph(self) -> None:
        # dependencies first, so a worker finds its frontend
        for name in self._dependency_order():
            comp = self.graph.components[name]
            await self._scale(name, comp.effective_initial_replicas)

    def _dependency_order(self) -> list[str]:
        order: list[str] = []

        def visit(name: str) -> None:
            if name in order:
                return
            for dep in self.graph.components[name].depends_on:
                visit(dep)
            order.append(name)

        for name in self.graph.components:
            visit(name)
        return order

    async def _reconcile(self) -> None:
        """Align the state file with circus: adopt pids, restart missing watchers, drop strays."""
        sup = self.supervisor
        statuses = await sup.watcher_statuses()
        for name in statuses:
            if name not in sup.state.replicas:
                log.warning("removing watcher %s: circus runs it but the state file does not know it", name)
                with contextlib.suppress(ConnectorError):
                    await sup.call("rm", name=name, waiting=True)
        for name, rec in list(sup.state.replicas.items()):
            if rec.stopping:
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
        if self._monitor is not None:
            await self._monitor.stop()
        if self._removals:
            await asyncio.wait(list(self._removals), timeout=self._max_grace() + 5.0)
        if stop_graph:
            await self._sup.stop_everything()
        else:
            await self._sup.close()

    def _max_grace(self) -> float:
        return max((c.graceful_timeout_s for c in self.graph.components.values()), default=10.0)

    def _track(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._removals.add(task)
        task.add_done_callback(self._removals.discard)
        return task

    # -- state -------------------------------------------------------------------------------------
    def _component(self, name: str) -> ComponentConfig:
        comp = self.graph.components.get(name)
        if comp is None:
            raise ComponentNotFound(name, self.graph.components)
        return comp

    def _resolve(self, target: TargetReplica) -> str:
        if target.component_name is not None:
            self._component(target.component_name)
            return target.component_name
        matches = [
            n for n, c in self.graph.components.items() if c.effective_sub_component_type == target.sub_component_type
        ]
        if not matches:
            raise ComponentNotFound(str(target.sub_component_type), self.graph.components)
        if len(matches) > 1:
            raise ScalingRefused(
                f"sub_component_type {target.sub_component_type!r} matches several components "
                f"({', '.join(matches)}); name the component instead"
            )
        return matches[0]

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
        """Every component's state: desired count and replicas with phase, pid, GPUs and port."""
        return self.component_states()

    async def get_component_replicas(self, component_name: str) -> int:
        """The desired replica count of a component."""
        comp = self._component(component_name)
        return self.supervisor.state.desired.get(component_name, comp.effective_initial_replicas)

    # -- scaling ---------------------------------------------------------------------------------
    def _check_bounds(self, name: str, replicas: int) -> None:
        comp = self._component(name)
        if replicas < 0:
            raise ScalingRefused(f"{name}: replica count must not be negative, got {replicas}")
        if replicas < comp.min_replicas:
            raise ScalingRefused(f"{name}: {replicas} replicas is below min_replicas = {comp.min_replicas}")
        if replicas > comp.max_replicas:
            raise ScalingRefused(f"{name}: {replicas} replicas is above max_replicas = {comp.max_replicas}")

    async def scale_component(self, component_name: str, replicas: int) -> bool:
        """Set a component's replica count; returns True when a change was made.

        Scale-up starts the new replicas (their processes are spawned before this returns); scale-down
        sends SIGTERM to the newest replicas and frees their GPUs and port once they exited.
        """
        self._check_bounds(component_name, replicas)
        async with self._scale_lock:
            return await self._scale(component_name, replicas)

    async def _scale(self, name: str, replicas: int) -> bool:
        return name in await self._apply({name: replicas})

    async def _apply(self, targets: dict[str, int]) -> set[str]:
        """Set several components' counts in one transaction on the freshest state; the changed names.

        Decision and reservation happen together under the lock, so two connectors attached to this
        namespace never both add (or remove) the same replica, and a refusal (GPUs, ports) for any
        target leaves every component as it was.
        """
        sup = self.supervisor
        needs_gpus = any(self.graph.components[n].gpus_per_replica for n in targets)
        inventory, problem = await asyncio.to_thread(gpu_inventory, self.graph) if needs_gpus else ([], None)

        def change(state: NamespaceState) -> tuple[list[str], list[str]]:
            added: list[str] = []
            removed: list[str] = []
            for name, replicas in targets.items():
                live = [n for n, r in state.replicas.items() if r.component == name and not r.stopping]
                state.desired[name] = replicas
                if replicas > len(live):
                    added += self._reserve(state, name, replicas - len(live), inventory, problem)
                elif replicas < len(live):
                    victims = self._scale_down_order(state, live)[: len(live) - replicas]
                    for victim in victims:
                        state.replicas[victim].stopping = True
                    removed += victims
            return added, removed

        added, removed = await sup.transact(change)
        for victim in removed:
            sup.runtime_of(victim).phase = Phase.STOPPING
            self._track(sup.remove(victim))
        for watcher in added:
            sup.runtime.pop(watcher, None)
        await asyncio.gather(*(sup.launch(n) for n in added))
        changed = {w.rsplit("_", 1)[0] for w in [*added, *removed]}
        prefix = f"{self.namespace}_"
        return {c[len(prefix) :] for c in changed}

    @staticmethod
    def _scale_down_order(state: NamespaceState, live: list[str]) -> list[str]:
        # failed replicas go first (they give nothing), then the newest (highest index)
        recs = state.replicas
        return sorted(live, key=lambda n: (recs[n].failed_reason is None, -recs[n].index))

    def _reserve(
        self, state: NamespaceState, name: str, count: int, inventory: list[int], problem: str | None
    ) -> list[str]:
        """Record ``count`` new replicas of ``name`` with their GPUs and port (caller holds the lock)."""
        held = holdings_of([*self.supervisor.store.other_namespaces(), state])
        allocations = allocate(self.graph, name, count, held, inventory, problem)
        used = {r.index for r in state.replicas.values() if r.component == name}
        names = []
        index = 0
        for alloc in allocations:
            while index in used:
                index += 1
            used.add(index)
            watcher = watcher_name(self.namespace, name, index)
            state.replicas[watcher] = ReplicaRecord(
                component=name, index=index, gpus=list(alloc.gpus), port=alloc.port, started_at=time.time()
            )
            names.append(watcher)
        return names

    async def set_component_replicas(self, targets: list[TargetReplica], blocking: bool = False) -> None:
        """Apply the planner's targets; every target is validated before anything changes.

        With ``blocking`` waits until the new replicas are ready and the removed ones exited; a
        replica that fails while starting raises ConnectorError with its reason.
        """
        resolved: dict[str, int] = {}
        for target in targets:
            name = self._resolve(target)
            if name in resolved and resolved[name] != target.desired_replicas:
                raise ScalingRefused(f"two targets for {name!r}: {resolved[name]} and {target.desired_replicas}")
            self._check_bounds(name, target.desired_replicas)
            resolved[name] = target.desired_replicas
        async with self._scale_lock:
            sup = self.supervisor
            await sup.reload()
            current = {
                n: len([r for r in sup.replica_names(n) if not sup.state.replicas[r].stopping]) for n in resolved
            }
            ups = {n: v for n, v in resolved.items() if v > current[n]}
            downs = {n: v for n, v in resolved.items() if v < current[n]}
            await self._check_ups_fit(ups, current, downs)
            if ups and downs and not await self._ups_fit_now(ups, current):
                # the new replicas need the GPUs of the removed ones, which are freed once they exited
                await self._apply({n: v for n, v in resolved.items() if n not in ups})
                await self._wait_removals()
                await self._apply(ups)
            else:
                await self._apply(resolved)
        if blocking:
            await self.wait_until_stable(list(resolved), self.ready_timeout_s)

    async def _ups_fit_now(self, ups: dict[str, int], current: dict[str, int]) -> bool:
        return await self._gpus_short(ups, current, freed=0) == 0

    async def _gpus_short(self, ups: dict[str, int], current: dict[str, int], freed: int) -> int:
        need = sum((v - current[n]) * self.graph.components[n].gpus_per_replica for n, v in ups.items())
        if need == 0:
            return 0
        free = len(await self.free_gpus()) + freed
        return max(0, need - free)

    async def _check_ups_fit(self, ups: dict[str, int], current: dict[str, int], downs: dict[str, int]) -> None:
        freed = sum((current[n] - v) * self.graph.components[n].gpus_per_replica for n, v in downs.items())
        short = await self._gpus_short(ups, current, freed)
        if short:
            holders = await self.gpu_holders()
            raise ScalingRefused(
                f"targets need {short} more GPU(s) than are free; held: "
                + (", ".join(f"GPU {g}: {h}" for g, h in sorted(holders.items())) or "none")
                + "; nothing was changed"
            )

    async def _wait_removals(self) -> None:
        if self._removals:
            await asyncio.wait(list(self._removals), timeout=self._max_grace() + 10.0)

    async def wait_until_stable(self, components: list[str], timeout: float) -> None:
        """Wait until ``components`` have exactly their desired replicas, all ready (or raise)."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.component_states()
            failed = [
                f"{r.name}: {r.reason}" for n in components for r in states[n].replicas if r.phase is Phase.FAILED
            ]
            if failed:
                raise ConnectorError("replica(s) failed to start: " + "; ".join(failed))
            if all(states[n].is_stable for n in components):
                return
            if time.monotonic() > deadline:
                summary = ", ".join(
                    f"{n}: {states[n].ready_replicas}/{states[n].desired_replicas} ready" for n in components
                )
                raise ConnectorError(f"timed out after {timeout:.0f} s waiting for replicas ({summary})")
            await asyncio.sleep(0.05)

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
