"""Replica operations of the supervisor: start a replica's watcher, stop it gracefully, restart, remove.

A mixin of :class:`~planner_tui.connectors.local.supervisor.Supervisor`, which provides the state,
the circus client and the runtime records these operations use.

Before a replica is (re)started its port is checked: a port another program took is replaced by a
free one of ``resources.port_range`` (recorded under the state lock); a fixed port is waited for,
with backoff, naming its holder, and the wait never counts as a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from planner_tui.config.graph import GraphConfig
from planner_tui.config.paths import private_dir
from planner_tui.connectors.errors import ConnectorError, ScalingRefused
from planner_tui.connectors.local.allocator import allocate_port, holdings_of, port_is_free
from planner_tui.connectors.local.circus_client import CircusClient, CircusCommandError
from planner_tui.connectors.local.circusd import Circusd
from planner_tui.connectors.local.health import ReplicaRuntime, crash_backoff
from planner_tui.connectors.local.processes import (
    create_time_of,
    descends_from,
    describe_holder,
    port_listener,
    stop_process_tree,
)
from planner_tui.connectors.local.state_file import NamespaceState, StateStore
from planner_tui.connectors.local.watchers import build_watcher
from planner_tui.model.replicas import Phase

log = logging.getLogger(__name__)
T = TypeVar("T")


class PortClaim(enum.Enum):
    """The outcome of checking a replica's port before it starts."""

    FREE = "free"  # its port is free (or it has none)
    MOVED = "moved"  # its port was taken; it was given a free one
    WAIT = "wait"  # its port is taken and it cannot move: a retry is scheduled


class ReplicaOperations:
    """Start, stop, restart and remove single replicas (one circus watcher each)."""

    if TYPE_CHECKING:  # provided by Supervisor
        graph: GraphConfig
        store: StateStore
        state: NamespaceState
        working_dir: str
        circusd: Circusd
        client: CircusClient | None
        log_max_bytes: int
        log_backups: int
        crash_backoff_s: float
        crash_backoff_cap_s: float
        _exit_codes: dict[str, int | None]
        runtime: dict[str, ReplicaRuntime]

        async def transact(self, change: Callable[[NamespaceState], T]) -> T: ...

        async def call(self, command: str, **props: Any) -> dict[str, Any]: ...

        def runtime_of(self, name: str) -> ReplicaRuntime: ...

        def circusd_alive(self) -> bool: ...

    async def _set_record(self, name: str, **fields: Any) -> None:
        def change(state: NamespaceState) -> None:
            rec = state.replicas.get(name)
            if rec is not None:
                for key, value in fields.items():
                    setattr(rec, key, value)

        await self.transact(change)

    async def port_taken_by(self, name: str) -> str | None:
        """Who holds replica ``name``'s port, when another program does (``PID 12 (nc)``); else None.

        A process of this graph's circusd (the replica itself, started by another connector) does not
        count.
        """
        rec = self.state.replicas.get(name)
        if rec is None or rec.port is None or await asyncio.to_thread(port_is_free, rec.port):
            return None
        pid, proc_name = await asyncio.to_thread(port_listener, rec.port)
        circusd = self.state.circusd
        if (
            pid is not None
            and circusd is not None
            and await asyncio.to_thread(descends_from, pid, circusd.pid, circusd.create_time)
        ):
            return None
        return describe_holder(pid, proc_name)

    async def claim_port(self, name: str) -> PortClaim:
        """Check replica ``name``'s port before it starts: free, moved to a free one, or wait for it."""
        holder = await self.port_taken_by(name)
        rec = self.state.replicas.get(name)
        if holder is None or rec is None or rec.port is None:
            return PortClaim.FREE
        taken = f"port {rec.port} taken by {holder}"
        comp = self.graph.components.get(rec.component)
        if comp is None or comp.port is not None:
            self._wait_for_port(name, taken)
            return PortClaim.WAIT
        try:
            new = await self.transact(functools.partial(self._move_port, name=name, old=rec.port))
        except ScalingRefused as exc:
            self._wait_for_port(name, f"{taken}; no free port to move it to ({exc})")
            return PortClaim.WAIT
        rt = self.runtime_of(name)
        rt.note = f"{taken}; moved to {new}"
        rt.port_waits = 0
        log.warning("replica %s: %s", name, rt.note)
        return PortClaim.MOVED

    def _move_port(self, state: NamespaceState, name: str, old: int) -> int:
        """Give replica ``name`` a free port of the range instead of ``old`` (runs under the state lock)."""
        rec = state.replicas[name]
        if rec.port != old:
            return rec.port or old  # another connector moved it already
        try:
            others = self.store.other_namespaces()
        except (ConnectorError, OSError):
            others = []  # an unreadable neighbour: the bind check still keeps live ports apart
        rec.port = allocate_port(self.graph, rec.component, holdings_of([*others, state]))
        return rec.port

    def _wait_for_port(self, name: str, taken: str) -> None:
        """Retry replica ``name`` later (doubling, capped); it is not counted as a crash."""
        rt = self.runtime_of(name)
        delay = crash_backoff(rt.port_waits, self.crash_backoff_s, self.crash_backoff_cap_s)
        rt.port_waits += 1
        rt.phase = Phase.CRASHED
        rt.reason = f"{taken}; retrying in {delay:.1f} s"
        rt.next_restart_at = time.time() + delay
        log.warning("replica %s: %s", name, rt.reason)

    async def launch(self, name: str) -> None:
        """Add (or start) the watcher of recorded replica ``name``; a replica that cannot start is failed.

        A replica whose port another program holds is moved to a free port (or, with a fixed port,
        retried later).
        """
        rt = self.runtime_of(name)
        rt.busy = True
        try:
            if name not in self.state.replicas:
                return
            claim = await self.claim_port(name)
            if claim is PortClaim.WAIT:
                return
            rec = self.state.replicas.get(name)
            if rec is None:
                return
            if claim is PortClaim.MOVED and self.circusd_alive():
                with contextlib.suppress(ConnectorError):  # a watcher of the old port's arguments
                    await self.call("rm", name=name, waiting=True)
            spec = build_watcher(
                self.graph,
                rec.component,
                rec.index,
                tuple(rec.gpus),
                rec.port,
                self.working_dir,
                self.store.log_dir,
                self.log_max_bytes,
                self.log_backups,
            )
            if spec.problem:
                await self.mark_failed(name, f"cannot start: {spec.problem}")
                return
            private_dir(self.store.log_dir)
            self._exit_codes.pop(name, None)
            rt.phase, rt.reason = Phase.STARTING, None
            try:
                reply = await self.call(
                    "add", name=name, cmd=spec.cmd, args=spec.args, options=spec.options, start=True, waiting=True
                )
            except CircusCommandError as exc:
                if "already exist" not in exc.reason:
                    await self.mark_failed(name, f"circus refused to add the watcher: {exc.reason}")
                    return
                # another connector on this namespace added it: adopt its process, or start it
                running = (await self.call("list", name=name)).get("pids") or []
                reply = (
                    {"started": running}
                    if running
                    else await self.call("start", name=name, waiting=True, match="simple")
                )
            await self._after_start(name, reply)
        finally:
            rt.busy = False

    async def _after_start(self, name: str, reply: dict[str, Any]) -> None:
        # ``add`` answers {"started": [...]}; ``start`` nests it as {"info": {"started": [...]}}
        nested = reply.get("info")
        info: dict[str, Any] = nested if isinstance(nested, dict) else reply
        started = info.get("started") or []
        if not started:
            # spawn failed inside circusd (e.g. permission denied): circusd's log says why
            await self.mark_failed(
                name, f"cannot start: circusd could not spawn the process; see {self.circusd.log_path}"
            )
            return
        pid = int(started[0])
        await self._set_record(
            name, pid=pid, pid_create_time=create_time_of(pid), started_at=time.time(), failed_reason=None
        )
        rt = self.runtime_of(name)
        if rt.phase is Phase.STARTING:
            rt.phase = Phase.RUNNING

    async def refresh_pid(self, name: str) -> None:
        """Ask circus for watcher ``name``'s pid and record it when it changed."""
        try:
            reply = await self.call("list", name=name)
        except CircusCommandError:
            return
        pids = reply.get("pids") or []
        rec = self.state.replicas.get(name)
        rt = self.runtime_of(name)
        if not pids or rec is None:
            return
        pid = int(pids[0])
        if pid != rec.pid:
            await self._set_record(name, pid=pid, pid_create_time=create_time_of(pid), started_at=time.time())
        if rt.phase in (Phase.STARTING, Phase.CRASHED):
            rt.phase, rt.reason = Phase.RUNNING, None

    async def mark_failed(self, name: str, reason: str, exit_code: int | None = None) -> None:
        """Give up on replica ``name``: it stays listed as failed with ``reason``."""
        rt = self.runtime_of(name)
        rt.phase, rt.reason, rt.next_restart_at = Phase.FAILED, reason, None
        await self._set_record(name, failed_reason=reason, exit_code=exit_code, pid=None)
        log.error("replica %s failed: %s", name, reason)

    async def record_exit(self, name: str, exit_code: int | None, crash_streak: int) -> None:
        """Remember a crash (exit code, streak of crashes in a row); the pid is gone."""
        await self._set_record(name, exit_code=exit_code, pid=None, crash_streak=crash_streak)

    async def restart_crashed(self, name: str) -> None:
        """Start a crashed replica's watcher again, counting the restart.

        On a port another program took it moves to a free port; a fixed one is waited for.
        """
        rt = self.runtime_of(name)
        rt.busy = True
        try:
            claim = await self.claim_port(name)
            rec = self.state.replicas.get(name)
            if claim is PortClaim.WAIT or rec is None:
                return
            await self._set_record(name, restarts=rec.restarts + 1)
            if claim is PortClaim.MOVED:
                with contextlib.suppress(ConnectorError):  # its watcher's arguments carry the old port
                    await self.call("rm", name=name, waiting=True)
                rt.busy = False
                await self.launch(name)
                return
            self._exit_codes.pop(name, None)
            rt.phase, rt.reason = Phase.STARTING, None
            try:
                reply = await self.call("start", name=name, waiting=True, match="simple")
            except CircusCommandError as exc:
                if "not found" in exc.reason.lower() or "doesn't exist" in exc.reason.lower():
                    rt.busy = False
                    await self.launch(name)
                    return
                raise
            await self._after_start(name, reply)
        finally:
            rt.busy = False

    async def stop_process(self, name: str) -> None:
        """SIGTERM replica ``name``'s process tree, SIGKILL after the graceful timeout; circus keeps the watcher."""
        rec = self.state.replicas.get(name)
        if rec is None:
            return
        comp = self.graph.components.get(rec.component)
        grace = comp.graceful_timeout_s if comp else 10.0
        pid = rec.pid
        reachable = self.client is not None and self.circusd_alive()
        if pid is None and reachable:
            with contextlib.suppress(ConnectorError):
                reply = await self.call("list", name=name)
                pids = reply.get("pids") or []
                pid = int(pids[0]) if pids else None
        if pid is not None:
            await asyncio.to_thread(stop_process_tree, pid, rec.pid_create_time if pid == rec.pid else None, grace)
        if reachable:
            with contextlib.suppress(ConnectorError):
                await self.call("stop", name=name, waiting=True, match="simple")

    async def restart_replica(self, name: str) -> None:
        """Stop replica ``name`` (gracefully) and start it again; a failed replica gets a fresh start."""
        rt = self.runtime_of(name)
        rt.busy = True
        try:
            rt.phase, rt.reason, rt.note = Phase.STOPPING, "restarting", None
            await self.stop_process(name)
            if self.circusd_alive():  # a fresh watcher picks up changes of the graph file
                with contextlib.suppress(ConnectorError):
                    await self.call("rm", name=name, waiting=True)
            await self._set_record(name, restarts=0, crash_streak=0, failed_reason=None, exit_code=None, pid=None)
        finally:
            rt.busy = False
        rt.phase = Phase.STARTING
        await self.launch(name)

    async def remove(self, name: str) -> None:
        """Stop replica ``name``, remove its watcher, then free its GPUs and port in the state file."""
        rt = self.runtime_of(name)
        rt.busy = True
        rt.phase, rt.reason = Phase.STOPPING, "scaling down"
        try:
            await self.stop_process(name)
            if self.circusd_alive():
                with contextlib.suppress(ConnectorError):
                    await self.call("rm", name=name, waiting=True)
        finally:
            await self.transact(lambda s: s.replicas.pop(name, None))
            self.runtime.pop(name, None)
