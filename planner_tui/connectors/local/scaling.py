"""Scaling a local graph: bounds, one-transaction reservations, scale-down order, waiting for readiness.

A mixin of :class:`~planner_tui.connectors.local.connector.LocalConnector`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from planner_tui.config.graph import ComponentConfig, GraphConfig
from planner_tui.connectors.errors import ConnectorError, ScalingRefused
from planner_tui.connectors.local.allocator import allocate, gpu_inventory, holdings_of
from planner_tui.connectors.local.health import HealthMonitor
from planner_tui.connectors.local.state_file import NamespaceState, ReplicaRecord
from planner_tui.connectors.local.supervisor import Supervisor
from planner_tui.connectors.local.watchers import watcher_name
from planner_tui.connectors.targets import check_bounds, resolve_targets
from planner_tui.model.components import ComponentState
from planner_tui.model.replicas import Phase
from planner_tui.model.scaling import TargetReplica
from planner_tui.model.text import plural

#: how often a replica waiting for its dependencies looks at their phases (seconds)
DEPENDENCY_POLL_S = 0.05
#: for how long (seconds) it probes them itself that often; then every DEPENDENCY_SLOW_POLL_S
DEPENDENCY_FAST_S = 10.0
DEPENDENCY_SLOW_POLL_S = 0.25
#: seconds a ready replica's health endpoint must stay silent before a scale-down takes it first
UNHEALTHY_VICTIM_S = 3.0
log = logging.getLogger(__name__)


def _waiting_reason(waiting: list[str]) -> str:
    return f"waiting for {', '.join(waiting)} to be ready (depends_on)"


class ScalingMixin:
    """``scale_component`` and ``set_component_replicas`` of the local connector."""

    if TYPE_CHECKING:  # provided by LocalConnector
        namespace: str
        ready_timeout_s: float
        _scale_lock: asyncio.Lock
        _removals: set[asyncio.Task[None]]
        _waiters: set[asyncio.Task[None]]
        _monitor: HealthMonitor | None

        @property
        def supervisor(self) -> Supervisor: ...

        @property
        def graph(self) -> GraphConfig: ...

        def _component(self, name: str) -> ComponentConfig: ...

        def _track(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]: ...

        def _max_grace(self) -> float: ...

        def component_states(self) -> dict[str, ComponentState]: ...

        async def free_gpus(self) -> list[int]: ...

        async def gpu_holders(self) -> dict[int, str]: ...

    async def scale_component(self, component_name: str, replicas: int) -> bool:
        """Set a component's replica count; returns True when a change was made.

        Scale-up starts the new replicas (their processes are spawned before this returns); scale-down
        sends SIGTERM to the newest replicas and frees their GPUs and port once they exited.
        """
        check_bounds(self.graph, component_name, replicas)
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
        await self._launch(added)
        changed = {w.rsplit("_", 1)[0] for w in [*added, *removed]}
        prefix = f"{self.namespace}_"
        return {c[len(prefix) :] for c in changed}

    def _unready_dependencies(self, component: str) -> list[str]:
        """The components ``component`` depends on that have live replicas but none ready yet.

        A dependency with no live replica (scaled to 0, or every replica failed) is not waited for.
        """
        sup = self.supervisor
        waiting = []
        for dep in self.graph.components[component].depends_on:
            live = [
                n
                for n in sup.replica_names(dep)
                if not sup.state.replicas[n].stopping and not sup.state.replicas[n].failed_reason
            ]
            if live and not any(sup.runtime_of(n).phase is Phase.READY for n in live):
                waiting.append(dep)
        return waiting

    async def _launch(self, names: list[str]) -> None:
        """Start new replicas; one whose ``depends_on`` components are not ready yet waits for them in
        the background (``starting``, its reason says for what) and starts once they are, or after the
        longest of their ``ready_timeout_s``."""
        sup = self.supervisor
        now: list[str] = []
        for name in names:
            rec = sup.state.replicas.get(name)
            waiting = self._unready_dependencies(rec.component) if rec is not None else []
            if not waiting:
                now.append(name)
                continue
            rt = sup.runtime_of(name)
            rt.busy = True  # the health monitor must not start it meanwhile
            rt.phase, rt.reason = Phase.STARTING, _waiting_reason(waiting)
            task = asyncio.get_running_loop().create_task(self._launch_after_dependencies(name))
            self._waiters.add(task)
            task.add_done_callback(self._waiters.discard)
        await asyncio.gather(*(sup.launch(n) for n in now))

    async def _launch_after_dependencies(self, name: str) -> None:
        sup = self.supervisor
        rt = sup.runtime_of(name)
        try:
            rec = sup.state.replicas.get(name)
            if rec is None:
                return
            deps = self.graph.components[rec.component].depends_on
            timeout = max(self.graph.components[d].ready_timeout_s for d in deps)
            deadline = time.monotonic() + timeout
            while True:
                rec = sup.state.replicas.get(name)
                if rec is None or rec.stopping or sup.closing:
                    return
                waiting = self._unready_dependencies(rec.component)
                if not waiting:
                    break
                if time.monotonic() > deadline:
                    rt.note = f"started although {', '.join(waiting)} was not ready after {timeout:g} s"
                    log.warning("replica %s %s", name, rt.note)
                    break
                rt.reason = _waiting_reason(waiting)
                await self._probe_dependencies(waiting)
                # probed often at first (a dependent starts soon after it is ready), then at the
                # health monitor's pace
                fast = time.monotonic() - (deadline - timeout) < DEPENDENCY_FAST_S
                await asyncio.sleep(DEPENDENCY_POLL_S if fast else DEPENDENCY_SLOW_POLL_S)
        except BaseException:
            rt.busy = False
            raise
        rt.busy = False  # launch sets it again before its first await: the monitor never sees it idle
        await sup.launch(name)

    async def _probe_dependencies(self, components: list[str]) -> None:
        """Ask the health monitor to probe the running replicas of ``components`` now."""
        monitor = self._monitor
        if monitor is None:
            return  # the graph is still being started: the monitor starts right after
        sup = self.supervisor
        names = [n for c in components for n in sup.replica_names(c) if sup.state.replicas[n].pid is not None]
        await monitor.probe_now(names)

    async def _cancel_waiters(self) -> None:
        """Stop waiting for dependencies (the connector is closing); bounded."""
        tasks = list(self._waiters)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    def _scale_down_order(self, state: NamespaceState, live: list[str]) -> list[str]:
        """``live`` in the order replicas are removed: failed ones first (they give nothing), then those
        not serving (starting, crashed, or hung: its health endpoint silent for ``UNHEALTHY_VICTIM_S`` or
        past its readiness timeout), then the newest (highest index). One slow probe on a busy machine
        does not make a replica that serves the first to go."""
        recs = state.replicas
        runtime = self.supervisor.runtime
        now = time.time()

        def serving(name: str) -> bool:
            rt = runtime.get(name)
            if rt is None or rt.phase is Phase.READY:
                return rt is not None
            since = rt.silent_since(recs[name].started_at)
            if rt.phase is not Phase.RUNNING or since is None:
                return False  # starting, crashed, or this process never ready yet
            if rt.ready_timed_out:
                return False
            return now - since < UNHEALTHY_VICTIM_S  # it was ready a moment ago

        return sorted(live, key=lambda n: (recs[n].failed_reason is None, serving(n), -recs[n].index))

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
        resolved = resolve_targets(self.graph, targets)
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
                f"targets need {plural(short, 'more GPU')} than are free; held: "
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
                raise ConnectorError(f"{plural(len(failed), 'replica')} failed to start: " + "; ".join(failed))
            if all(states[n].is_stable for n in components):
                return
            if time.monotonic() > deadline:
                summary = ", ".join(
                    f"{n}: {states[n].ready_replicas}/{states[n].desired_replicas} ready" for n in components
                )
                raise ConnectorError(f"timed out after {timeout:.0f} s waiting for replicas ({summary})")
            await asyncio.sleep(0.05)
