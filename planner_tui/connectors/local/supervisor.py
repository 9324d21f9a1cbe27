"""The supervisor: one namespace's circusd, state file and replica watchers, kept consistent.

Every change of the recorded state goes through :meth:`Supervisor.transact`, which re-reads the state
file under the lock, applies the change and writes it back atomically, so two planner-tui processes
attached to the same namespace (or sharing GPUs across namespaces) never undo each other's changes.

The in-memory state is authoritative for the process that runs the graph: a state file that cannot be
read (corrupt) or written (disk full, a directory in its place) never stops a change, a crash restart
or the health monitor. The change is kept in memory, the failed write is shown in ``problems`` and
retried in the background (with backoff) until one succeeds, which rewrites the file from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from filelock import FileLock

from planner_tui.config.graph import GraphConfig
from planner_tui.config.paths import PRIVATE_FILE_MODE, private_dir
from planner_tui.connectors.errors import ConnectorError
from planner_tui.connectors.local import logs
from planner_tui.connectors.local.circus_client import CircusClient, circus_events
from planner_tui.connectors.local.circusd import Circusd, CircusdHandle
from planner_tui.connectors.local.health import ReplicaRuntime
from planner_tui.connectors.local.processes import is_running, stop_process_tree
from planner_tui.connectors.local.replicas import ReplicaOperations
from planner_tui.connectors.local.state_file import NamespaceState, ReplicaRecord, StateStore
from planner_tui.connectors.local.watchers import replica_index, replica_urls
from planner_tui.model.replicas import Phase
from planner_tui.model.text import plural

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

#: seconds given to the pub/sub subscription to connect before replicas start (zmq's slow joiner)
SUBSCRIBE_SETTLE_S = 0.05
#: the prefix of every problem about the state file (cleared together once a write succeeds)
STATE_FILE_PROBLEM = "state file"
#: circus commands that take circusd's exclusive lock
EXCLUSIVE_COMMANDS = frozenset({"add", "start", "stop", "rm", "restart"})


class Supervisor(ReplicaOperations):
    """Owns the circus client, the recorded state and the in-memory replica runtime of a namespace."""

    def __init__(
        self,
        store: StateStore,
        graph: GraphConfig,
        working_dir: str,
        *,
        crash_backoff_s: float = 0.5,
        crash_backoff_cap_s: float = 30.0,
        crash_reset_after_s: float = 60.0,
        auto_recover: bool = True,
        call_timeout_s: float = 10.0,
        log_max_bytes: int = logs.MAX_BYTES,
        log_backups: int = logs.BACKUPS,
        state_retry_s: float = 0.2,
        state_retry_cap_s: float = 5.0,
    ) -> None:
        self.store = store
        self.namespace = store.namespace
        self.graph = graph
        self.working_dir = working_dir
        self.crash_backoff_s = crash_backoff_s
        self.crash_backoff_cap_s = crash_backoff_cap_s
        self.crash_reset_after_s = crash_reset_after_s
        self.auto_recover = auto_recover
        self.call_timeout_s = call_timeout_s
        self.log_max_bytes = log_max_bytes
        self.log_backups = log_backups
        self.state_retry_s = state_retry_s
        self.state_retry_cap_s = state_retry_cap_s
        self.state = NamespaceState(
            namespace=self.namespace, graph=graph.model_dump(mode="json"), working_dir=working_dir
        )
        self.circusd = Circusd(store.run_dir)
        self.client: CircusClient | None = None
        self.runtime: dict[str, ReplicaRuntime] = {}
        self.problems: list[str] = []
        self.recoveries = 0
        self.graph_stopped = False
        self.closing = False  # the connector is shutting down: never start circusd again
        self._exit_codes: dict[str, int | None] = {}
        self._recover_lock = asyncio.Lock()
        self._exclusive = asyncio.Lock()
        self._events: asyncio.Task[None] | None = None
        #: called on activity in the namespace (a change made here, any circus event): the health monitor's wake
        self.on_activity: Callable[[], None] | None = None
        # state-file persistence: memory is ahead of the file while ``_unsaved`` (a write failed)
        self._memory = threading.Lock()
        self._unsaved = False
        self._file_error: str | None = None
        self._persist: asyncio.Task[None] | None = None
        self.state_write_failures = 0

    # -- state -------------------------------------------------------------------------------------
    async def transact(self, change: Callable[[NamespaceState], T]) -> T:
        """Apply ``change`` to the freshest state under the lock and write it atomically.

        The freshest state is the file's, merging other processes' changes; the in-memory one when
        the file is unreadable or an earlier write failed. ``change`` is applied (and kept in memory)
        even when the file cannot be written: the write is then retried in the background.
        """

        def run() -> T:
            state = self._freshest()
            result = change(state)
            self.state = state
            self._save(state)
            return result

        try:
            return await asyncio.to_thread(self._under_lock, run)
        finally:
            self._after_file_access()
            self.activity()

    def activity(self) -> None:
        """Tell the health monitor that something changed, so it looks now and keeps a fast pace a while."""
        if self.on_activity is not None:
            self.on_activity()

    async def reload(self) -> None:
        """Re-read the state file (changes made by another connector on this namespace).

        Keeps the in-memory state while it is ahead of the file or the file cannot be read; an
        unreadable file is rewritten from memory.
        """

        def read() -> None:
            if self._unsaved:
                return
            try:
                state = self.store.read()
            except (ConnectorError, OSError) as exc:
                self._file_failed(f"is unreadable ({exc})")
                return
            if state is not None:
                self.state = state

        try:
            await asyncio.to_thread(self._under_lock, read)
        finally:
            self._after_file_access()

    def _under_lock(self, body: Callable[[], R]) -> R:
        """Run ``body`` holding ``_memory`` and the state directory's lock (from a worker thread).

        When the lock cannot be taken, ``body`` still runs, on the in-memory state.
        """
        with self._memory, contextlib.ExitStack() as stack:
            try:
                stack.enter_context(self.store.locked())
            except (ConnectorError, OSError) as exc:
                self._file_failed(f"cannot be locked ({exc})")
            return body()

    def _freshest(self) -> NamespaceState:
        """The file's state, or a copy of the in-memory one (caller holds ``_memory`` and the lock)."""
        if not self._unsaved:
            try:
                state = self.store.read()
            except (ConnectorError, OSError) as exc:
                self._file_failed(f"is unreadable ({exc})")
            else:
                if state is not None:
                    return state
        return copy.deepcopy(self.state)

    def _save(self, state: NamespaceState) -> None:
        """Write ``state``; a failure is remembered (and retried), never raised."""
        try:
            self.store.write(state)
        except OSError as exc:
            self.state_write_failures += 1
            self._file_failed(f"could not be written ({exc})")
            return
        if self._unsaved or self._file_error is not None:
            log.warning("state file %s written again from memory", self.store.path)
        self._unsaved = False
        self._file_error = None

    def _file_failed(self, what: str) -> None:
        message = (
            f"{STATE_FILE_PROBLEM} {self.store.path} {what}; the graph runs on from memory and the file "
            "is rewritten once a write succeeds"
        )
        if message != self._file_error:
            log.warning("%s", message)
        self._unsaved = True
        self._file_error = message

    def _after_file_access(self) -> None:
        """Show the state file's problem (or clear it) and keep a background rewrite going while unsaved."""
        self._show_file_problem()
        if self._unsaved and (self._persist is None or self._persist.done()) and not self.graph_stopped:
            self._persist = asyncio.get_running_loop().create_task(self._rewrite(), name="local-state-rewrite")

    async def _rewrite(self) -> None:
        """Retry writing the in-memory state, with backoff, until a write succeeds."""
        delay = self.state_retry_s
        while self._unsaved and not self.graph_stopped:
            await asyncio.sleep(delay)
            delay = min(self.state_retry_cap_s, delay * 2)
            await asyncio.to_thread(self._under_lock, self._save_unsaved)
            self._show_file_problem()

    def _save_unsaved(self) -> None:
        if self._unsaved:
            self._save(self.state)

    def _show_file_problem(self) -> None:
        self.problems = [p for p in self.problems if not p.startswith(STATE_FILE_PROBLEM)]
        if self._file_error is not None:
            self.problems.append(self._file_error)

    async def _stop_rewrite(self, last_try: bool) -> None:
        """End the background rewrite (bounded); with ``last_try`` one more write of unsaved state."""
        task, self._persist = self._persist, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=2.0)
        if last_try and self._unsaved:
            await asyncio.to_thread(self._under_lock, self._save_unsaved)
            self._show_file_problem()
            if self._unsaved:
                log.error("%s", self._file_error)

    def runtime_of(self, name: str) -> ReplicaRuntime:
        """The in-memory runtime of watcher ``name`` (created on first use)."""
        rt = self.runtime.get(name)
        if rt is None:
            rt = self.runtime[name] = ReplicaRuntime()
        return rt

    def probe_url(self, name: str) -> str | None:
        """The URL whose answer makes replica ``name`` ready (health URL, else metrics URL)."""
        rec = self.state.replicas.get(name)
        if rec is None or rec.component not in self.graph.components:
            return None
        metrics, health = replica_urls(self.graph, rec.component, rec.index, tuple(rec.gpus), rec.port)
        return health or metrics

    def last_exit_code(self, name: str) -> int | None:
        """The exit code circus reported for watcher ``name``'s last process, if seen."""
        return self._exit_codes.get(name)

    def last_stderr_line(self, name: str) -> str | None:
        """The last line the replica wrote to stderr (helps explain a crash)."""
        lines = logs.tail_lines(logs.log_path(self.store.log_dir, name, "stderr"), 1)
        if not lines:
            return None
        return logs.parse_line(lines[-1], 0.0)[1][:300]

    # -- circusd -----------------------------------------------------------------------------------
    def _client(self) -> CircusClient:
        if self.client is None:
            raise ConnectorError(f"namespace {self.namespace}: not connected to circusd")
        return self.client

    async def call(self, command: str, **props: Any) -> dict[str, Any]:
        """A circus command on this namespace's circusd.

        circusd runs one state-changing command at a time and refuses the others with errno 5; they
        are queued here instead, so concurrent scale-ups do not spin in retries.
        """
        if command in EXCLUSIVE_COMMANDS:
            async with self._exclusive:
                return await self._client().call(command, **props)
        return await self._client().call(command, **props)

    async def start_circusd(self) -> None:
        """Start a fresh circusd and record it."""
        handle = await self.circusd.start()
        await self._connect(handle)

        def record(state: NamespaceState) -> None:
            state.circusd = handle
            state.graph = self.graph.model_dump(mode="json")
            state.working_dir = self.working_dir

        await self.transact(record)

    async def _connect(self, handle: CircusdHandle) -> None:
        if self.client is not None:
            await self.client.close()
        self.client = CircusClient(handle.endpoint, timeout=self.call_timeout_s)
        await self._stop_events()
        # Subscribe before any replica starts: a process that exits at once is reaped within
        # circus's check delay, and its exit code only travels in that event.
        self._events = asyncio.get_running_loop().create_task(self.listen_events(handle))
        await asyncio.sleep(SUBSCRIBE_SETTLE_S)

    async def _stop_events(self) -> None:
        task, self._events = self._events, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=2.0)

    async def adopt(self, handle: CircusdHandle) -> None:
        """Connect to an already running circusd."""
        await self._connect(handle)

    def circusd_alive(self) -> bool:
        """True while the recorded circusd runs."""
        handle = self.state.circusd
        return handle is not None and self.circusd.alive(handle)

    async def ensure_circusd(self) -> bool:
        """Check circusd; when it died, report it and (with ``auto_recover``) start it again.

        A graph stopped on purpose (its state file removed by another connector) is not restarted.
        """
        if self.graph_stopped or self.closing:
            return False
        if self.circusd_alive():
            return True
        await self.reload()
        if not self.store.path.exists() or self.state.stopping:
            self.graph_stopped = True
            self.problems = [f"the graph of namespace {self.namespace} was stopped by another planner-tui"]
            return False
        if self.circusd_alive():  # another connector already started it again
            assert self.state.circusd is not None
            await self.adopt(self.state.circusd)
            return True
        message = f"circusd of namespace {self.namespace} is not running"
        if message not in self.problems:
            self.problems.append(message)
            log.error("%s; %s", message, "restarting it" if self.auto_recover else "not restarting it")
            for name in self.state.replicas:
                rt = self.runtime_of(name)
                if rt.phase.is_live:
                    rt.phase = Phase.CRASHED
                    rt.reason = "circusd died" + ("; restarting it" if self.auto_recover else "")
        if not self.auto_recover:
            return False
        await self.recover()
        return self.circusd_alive()

    async def recover(self) -> None:
        """Start circusd again and restart the recorded replicas (orphans of the old one are stopped).

        Holds the namespace's recovery lock, so two connectors never both start a circusd.
        """
        async with self._recover_lock:
            lock = FileLock(
                str(self.store.run_dir / "recover.lock"), timeout=60, thread_local=False, mode=PRIVATE_FILE_MODE
            )
            private_dir(self.store.run_dir)
            await asyncio.to_thread(lock.acquire)
            try:
                await self.reload()
                if self.state.stopping or self.closing:
                    self.graph_stopped = self.state.stopping
                elif self.circusd_alive():
                    assert self.state.circusd is not None
                    await self.adopt(self.state.circusd)
                else:
                    await self._restart_graph()
            finally:
                await asyncio.to_thread(lock.release)
            self.problems = [p for p in self.problems if "circusd" not in p]

    async def _restart_graph(self) -> None:
        await self.kill_orphans()
        await self.start_circusd()
        self.recoveries += 1
        removed = [n for n, r in self.state.replicas.items() if r.stopping]
        if removed:
            await self.transact(lambda s: [s.replicas.pop(n, None) for n in removed])
        await asyncio.gather(*(self.launch(n) for n, r in list(self.state.replicas.items()) if not r.failed_reason))
        log.warning(
            "circusd of namespace %s restarted; %s relaunched",
            self.namespace,
            plural(len(self.state.replicas), "replica"),
        )

    async def kill_orphans(self) -> None:
        """Stop replica processes left behind by a circusd that died (checked by pid and start time)."""

        def kill() -> None:
            for rec in self.state.replicas.values():
                if rec.pid and is_running(rec.pid, rec.pid_create_time):
                    stop_process_tree(rec.pid, rec.pid_create_time, 2.0)

        await asyncio.to_thread(kill)

    async def watcher_statuses(self) -> dict[str, str]:
        """circus status of this namespace's watchers (``active``, ``stopped``, ...)."""
        reply = await self.call("status")
        prefix = f"{self.namespace}_"
        statuses = reply.get("statuses") or {}
        return {str(k): str(v) for k, v in statuses.items() if str(k).startswith(prefix)}

    async def listen_events(self, handle: CircusdHandle) -> None:
        """Record exit codes from circusd's pub/sub events until cancelled; every event of this namespace's
        watchers (spawn, reap, stop, ...) is activity that wakes the health monitor."""
        prefix = f"{self.namespace}_"
        async for topic, event in circus_events(handle.pubsub_endpoint):
            parts = topic.split(".")
            if len(parts) < 3:
                continue
            name, kind = ".".join(parts[1:-1]), parts[-1]
            if kind == "reap":
                code = event.get("exit_code")
                self._exit_codes[name] = int(code) if isinstance(code, int) else None
            if name.startswith(prefix):
                self.activity()

    # -- views ---------------------------------------------------------------------------------------
    def replica_names(self, component: str) -> list[str]:
        """Watchers of ``component`` in replica order (stopping ones included)."""
        recs = [(r.index, n) for n, r in self.state.replicas.items() if r.component == component]
        return [n for _, n in sorted(recs)]

    def record(self, name: str) -> ReplicaRecord | None:
        """The recorded replica ``name``, if any."""
        return self.state.replicas.get(name)

    def log_sources(self, component: str) -> list[logs.LogSource]:
        """The log files of ``component``'s replicas (stdout and stderr), then those of its removed
        replicas still on disk, marked ``gone``: a scale-down's last words stay readable."""
        out = []
        for name in self.replica_names(component):
            rec = self.state.replicas[name]
            label = f"{rec.component}-{rec.index}"
            for stream in ("stdout", "stderr"):
                path = logs.log_path(self.store.log_dir, name, stream)
                out.append(logs.LogSource(rec.component, label, stream, path, self.log_backups))
        live = {source.path for source in out}
        gone: list[tuple[int, logs.LogSource]] = []
        for watcher, stream, path in logs.log_files(self.store.log_dir):
            index = replica_index(self.namespace, component, watcher)
            if index is not None and path not in live:
                source = logs.LogSource(component, f"{component}-{index}", stream, path, self.log_backups, gone=True)
                gone.append((index, source))
        return out + [source for _, source in sorted(gone, key=lambda item: (item[0], item[1].stream))]

    async def close(self) -> None:
        """Close the circus client and the event subscription (circusd keeps running).

        Unsaved state gets one last write (an attached connector finds the graph as it is).
        """
        await self._stop_rewrite(last_try=not self.graph_stopped)
        await self._stop_events()
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def stop_everything(self) -> None:
        """Stop every replica (graceful), then circusd; verify by pid that nothing is left.

        The state file says "stopping" first, so no other connector attached to the namespace
        mistakes the dying circusd for a crash and starts it again.
        """
        with contextlib.suppress(ConnectorError, OSError):
            await self.transact(lambda s: setattr(s, "stopping", True))
        names = list(self.state.replicas)
        for name in names:
            rt = self.runtime_of(name)
            rt.busy = True
            rt.phase = Phase.STOPPING
        await asyncio.gather(*(self.stop_process(n) for n in names), return_exceptions=True)
        self.graph_stopped = True  # nothing is rewritten once the state file is removed
        await self.close()
        if self.state.circusd is not None:
            await self.circusd.stop(self.state.circusd)
        await self.kill_orphans()

        def forget() -> None:
            with self.store.locked():
                self.store.remove()

        try:
            await asyncio.to_thread(forget)
        except (ConnectorError, OSError) as exc:  # e.g. a directory in the file's place
            log.error("cannot remove the state file %s: %s", self.store.path, exc)
        self._unsaved, self._file_error = False, None
