"""Replica health: runtime phases, readiness probes, crash restarts with backoff, the failed state.

A replica is ``starting`` until circus reports its pid, ``running`` until its health URL (or metrics
URL) answers 2xx, then ``ready``. While it is ``running`` its reason is the last health answer (status
and the start of the body, e.g. ``/health 503 {"status":"notready"}``); after the component's
``ready_timeout_s`` it reads ``not ready after 120 s: ...`` and the connector lists it as a problem
(the replica keeps running and is probed on: an answer later makes it ready). An unexpected exit makes
it ``crashed``; it is restarted after a backoff that doubles each time, and after
``max_crash_restarts`` restarts it is ``failed`` with the reason.

The monitor's pace adapts: every ``interval_s`` (0.25 s) while a replica is starting, stopping, crashed,
not ready or busy with a change, and for ``settle_s`` after any activity; every ``steady_interval_s``
(1 s) once everything is ready (or failed) and quiet. Activity wakes it at once: a change this process
makes to the namespace (scale, restart, a recorded exit) and every circus event (a process spawned,
reaped or stopped, from any connector), so a crashed replica is noticed as soon as circus reaps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from planner_tui.model.replicas import Phase
from planner_tui.model.text import plural

if TYPE_CHECKING:
    import httpx

    from planner_tui.connectors.local.supervisor import Supervisor

log = logging.getLogger(__name__)

#: seconds a recorded replica may be missing from circus before the monitor starts it itself
LAUNCH_GRACE_S = 5.0
#: seconds between re-reads of the state file (changes by another connector on the namespace)
RELOAD_INTERVAL_S = 1.0
#: seconds between passes while everything is steady (all replicas ready or failed, nothing changing)
STEADY_INTERVAL_S = 1.0
#: seconds the monitor keeps its fast pace after activity (a change, a circus event)
SETTLE_S = 2.0
#: seconds to wait for the exit code of a replica that stopped before calling it a crash without one
EXIT_CODE_WAIT_S = 1.0
#: bytes of a health answer's body read, and characters of it shown in a replica's reason
BODY_READ_BYTES = 1024
BODY_SHOWN_CHARS = 80
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")


@dataclass(slots=True)
class ReplicaRuntime:
    """What this process knows about a replica beyond the state file."""

    phase: Phase = Phase.STARTING
    detail: str | None = None  # why the replica is in its phase (see ``reason``)
    note: str | None = None  # a lasting remark, e.g. that it was moved to another port
    next_restart_at: float | None = None
    busy: bool = False  # a stop, restart or start is in progress: the monitor keeps its hands off
    last_probe: float = 0.0
    exit_seen_at: float | None = None  # when circus first reported the watcher stopped
    port_waits: int = 0  # retries while its port is held by another program (not counted as crashes)
    ready_timed_out: bool = False  # running, not ready after its component's ready_timeout_s
    unhealthy_since: float | None = None  # when a ready replica's health endpoint stopped answering

    def silent_since(self, started_at: float | None) -> float | None:
        """When the health endpoint of the process started at ``started_at`` stopped answering after it
        was ready; None when that process was never ready (or answers)."""
        since = self.unhealthy_since
        return since if since is not None and since >= (started_at or 0.0) else None

    @property
    def reason(self) -> str | None:
        """The reason shown for the replica: its phase's detail, else the lasting note."""
        return self.detail or self.note

    @reason.setter
    def reason(self, value: str | None) -> None:
        self.detail = value


def crash_backoff(restarts: int, base_s: float, cap_s: float) -> float:
    """Seconds to wait before restart number ``restarts + 1``: base, 2x base, 4x base ... up to cap."""
    return float(min(cap_s, base_s * (2 ** max(0, restarts))))


def describe_exit(code: int | None) -> str:
    """``exited with code 3`` / ``killed by SIGKILL`` / ``exited (code unknown)``."""
    if code is None:
        return "exited (code unknown)"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class ProbeResult(NamedTuple):
    """One readiness probe: ``ok`` on a 2xx answer; ``detail`` says what came back (path, status, body)."""

    ok: bool
    detail: str


def sanitize(text: str, limit: int = BODY_SHOWN_CHARS) -> str:
    """``text`` on one line of printable characters (terminal escapes removed, whitespace runs become one
    space), at most ``limit`` characters followed by ``...`` when cut."""
    text = _ANSI_ESCAPE.sub("", text)
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[:limit].rstrip() + "..."


async def check(client: httpx.AsyncClient, url: str, timeout: float = 0.5) -> ProbeResult:
    """Ask ``url`` once; ok on 2xx within ``timeout``. The detail is bounded and safe to show:
    ``/health 503 {"status":"notready"...}``, ``/health: connection refused``, ``/health: no answer in 0.5 s``.
    """
    import httpx  # loaded with the first client (a graph without health URLs never needs it)

    path = urlsplit(url).path or "/"
    try:
        async with asyncio.timeout(timeout), client.stream("GET", url, timeout=timeout) as response:
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= BODY_READ_BYTES:
                    break
    except (httpx.TimeoutException, TimeoutError):
        return ProbeResult(False, f"{sanitize(path)}: no answer in {timeout:g} s")
    except httpx.ConnectError as exc:
        refused = "refused" in str(exc).lower() or _caused_by(exc, ConnectionRefusedError)
        return ProbeResult(False, f"{sanitize(path)}: {'connection refused' if refused else sanitize(str(exc))}")
    except (httpx.HTTPError, OSError) as exc:
        return ProbeResult(False, f"{sanitize(path)}: {sanitize(str(exc) or type(exc).__name__)}")
    text = body[:BODY_READ_BYTES].decode("utf-8", errors="replace")
    detail = f"{sanitize(path)} {response.status_code}"
    shown = sanitize(text)
    return ProbeResult(response.is_success, f"{detail} {shown}" if shown else detail)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """True when ``kind`` is in ``exc``'s chain of causes (httpx hides a refused connection two deep)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def probe(client: httpx.AsyncClient, url: str, timeout: float = 0.5) -> bool:
    """True when ``url`` answers with a 2xx status within ``timeout``."""
    return (await check(client, url, timeout)).ok


def not_ready_reason(detail: str, running_for: float, timeout_s: float) -> tuple[str, bool]:
    """A running replica's reason from its last probe, and whether its readiness timed out."""
    if running_for > timeout_s:
        return f"not ready after {timeout_s:g} s: {detail}", True
    return detail, False


class HealthMonitor:
    """The loop that keeps a namespace's replicas in line with what circus runs.

    Each tick: check circusd (recover it when it died), pick up pids, notice exits, restart crashed
    replicas when their backoff expired, probe readiness. ``stop()`` is bounded.
    """

    def __init__(
        self,
        supervisor: Supervisor,
        interval_s: float = 0.25,
        steady_interval_s: float = STEADY_INTERVAL_S,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.supervisor = supervisor
        self.interval_s = interval_s
        self.steady_interval_s = max(interval_s, steady_interval_s)
        self.settle_s = settle_s
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self.ticks = 0
        self._stopping = False
        self._woken = asyncio.Event()
        self._fast_until = 0.0  # monotonic time until which the fast pace holds after activity
        self._last_reload = time.monotonic()  # the last re-read of the state file (attaching read it)

    def start(self) -> None:
        """Start the loop (idempotent)."""
        if self._task is None:
            self._prepare_client()
            self.supervisor.on_activity = self.wake
            self._task = asyncio.get_running_loop().create_task(self._run(), name="local-health-monitor")

    def wake(self) -> None:
        """Something changed (a change of this process, a circus event): a pass now, then the fast pace
        for ``settle_s``. Cheap and safe to call from any coroutine of the loop, any number of times."""
        self._fast_until = time.monotonic() + self.settle_s
        self._woken.set()

    def steady(self) -> bool:
        """True when nothing calls for the fast pace: every replica ready (or failed, given up on), none
        busy, stopping, crashed, waiting for a restart or for its exit code, circusd up."""
        sup = self.supervisor
        if sup.problems:
            return False  # circusd down, a state file problem: look again soon
        for name, rec in sup.state.replicas.items():
            if rec.failed_reason:
                continue
            rt = sup.runtime_of(name)
            if rt.phase is not Phase.READY or rt.busy or rec.stopping or rec.pid is None:
                return False
            if rt.next_restart_at is not None or rt.exit_seen_at is not None:
                return False
        return True

    def next_interval(self) -> float:
        """Seconds until the next pass: ``interval_s`` while anything moves, ``steady_interval_s`` otherwise."""
        if time.monotonic() < self._fast_until or not self.steady():
            return self.interval_s
        return self.steady_interval_s

    async def prime(self) -> None:
        """One pass now (before the loop starts), so phases are right as soon as a connector attached."""
        self._prepare_client()
        await self.tick()

    async def probe_now(self, names: list[str]) -> None:
        """Probe replicas ``names`` now, outside the loop's cadence (a dependent waits for them)."""
        sup = self.supervisor
        due = [n for n in names if n in sup.state.replicas and not sup.runtime_of(n).busy]
        await asyncio.gather(*(self._probe(n) for n in due))

    async def stop(self) -> None:
        """Stop the loop, waiting at most a few seconds."""
        self._stopping = True  # also ends the loop should a cancellation get lost in a library
        if self.supervisor.on_activity == self.wake:
            self.supervisor.on_activity = None
        self._woken.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=5.0)
            if not done:
                log.warning("health monitor of %s did not stop in 5 s", self.supervisor.namespace)
            elif not task.cancelled() and task.exception() is not None:
                log.debug("health monitor task ended with %r", task.exception())
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _run(self) -> None:
        while not self._stopping:
            self._woken.clear()  # activity from here on (during the pass too) brings the next pass forward
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("health check of namespace %s failed", self.supervisor.namespace)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.next_interval()):
                    await self._woken.wait()

    async def tick(self) -> None:
        """One pass over the namespace."""
        sup = self.supervisor
        self.ticks += 1
        if not await sup.ensure_circusd():
            return
        if time.monotonic() - self._last_reload >= RELOAD_INTERVAL_S:
            self._last_reload = time.monotonic()
            await sup.reload()  # another connector attached to this namespace may have changed it
        statuses = await sup.watcher_statuses()
        now = time.time()
        probes = []
        for name, rec in list(sup.state.replicas.items()):
            rt = sup.runtime_of(name)
            if rt.busy or rec.stopping or rec.failed_reason:
                continue
            status = statuses.get(name)
            if status is None:
                # recorded but unknown to circus (a change interrupted half-way, or waiting for its
                # port): start it again, unless it was recorded just now and its connector is still
                # adding it, or its retry is not due yet
                if rt.next_restart_at is not None:
                    if now >= rt.next_restart_at:
                        rt.next_restart_at = None
                        await sup.launch(name)
                elif now - (rec.started_at or 0.0) > LAUNCH_GRACE_S:
                    await sup.launch(name)
                continue
            if status == "active":
                if rt.phase in (Phase.STARTING, Phase.CRASHED) or rec.pid is None:
                    await sup.refresh_pid(name)
                if rt.phase is not Phase.READY or now - rt.last_probe > 2.0:
                    probes.append(self._probe(name))
            elif status == "stopped":
                await self._handle_exit(name, now)
        if probes:
            await asyncio.gather(*probes)

    async def _handle_exit(self, name: str, now: float) -> None:
        sup = self.supervisor
        rec = sup.state.replicas[name]
        rt = sup.runtime_of(name)
        if rt.phase is not Phase.CRASHED:
            if sup.last_exit_code(name) is None and rt.exit_seen_at is None:
                rt.exit_seen_at = now  # circus's reap event (with the exit code) may still be on its way
                return
            if sup.last_exit_code(name) is None and now - (rt.exit_seen_at or now) < EXIT_CODE_WAIT_S:
                return
            rt.exit_seen_at = None
            comp = sup.graph.components.get(rec.component)
            limit = comp.max_crash_restarts if comp else 0
            rec_exit = sup.last_exit_code(name)
            what = describe_exit(rec_exit)
            last_err = sup.last_stderr_line(name)
            detail = f"{what}{f'; last stderr: {last_err}' if last_err else ''}"
            holder = await sup.port_taken_by(name)
            if holder is not None:
                # another program holds its port: not the replica's fault, so not counted as a crash;
                # the restart moves it to a free port (or waits for a fixed one)
                rt.phase = Phase.CRASHED
                rt.reason = f"{detail}; port {rec.port} taken by {holder}"
                rt.next_restart_at = now
                await sup.record_exit(name, rec_exit, crash_streak=rec.crash_streak)
                log.warning("replica %s %s", name, rt.reason)
                return
            # a replica that ran for a while before crashing starts a fresh streak: the limit is
            # about crash loops, not about a crash once a day
            ran_for = now - (rec.started_at or now)
            streak = 0 if ran_for >= sup.crash_reset_after_s else rec.crash_streak
            if streak >= limit:
                reason = f"{detail}; crashed {plural(streak + 1, 'time')} in a row, max_crash_restarts = {limit}"
                await sup.mark_failed(name, reason, exit_code=rec_exit)
                return
            delay = crash_backoff(streak, sup.crash_backoff_s, sup.crash_backoff_cap_s)
            rt.phase = Phase.CRASHED
            rt.reason = f"{detail}; restarting in {delay:.1f} s"
            rt.next_restart_at = now + delay
            await sup.record_exit(name, rec_exit, crash_streak=streak + 1)
            log.warning("replica %s %s", name, rt.reason)
            return
        if rt.next_restart_at is not None and now >= rt.next_restart_at:
            rt.next_restart_at = None
            await sup.restart_crashed(name)

    def _prepare_client(self) -> None:
        """Make the probes' client now when the graph has URLs to probe, so httpx loads before the
        replicas run rather than in the middle of a pass; a graph without any never loads it."""
        if any(c.health_url or c.metrics_url for c in self.supervisor.graph.components.values()):
            self._client()

    def _client(self) -> httpx.AsyncClient:
        """The probes' HTTP client, made when first needed (httpx loads then, not with the connector)."""
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(trust_env=False)
        return self._http

    async def _probe(self, name: str) -> None:
        sup = self.supervisor
        rt = sup.runtime_of(name)
        url = sup.probe_url(name)
        rt.last_probe = now = time.time()
        if url is None:
            ok, detail = sup.state.replicas[name].pid is not None, "no process yet"
        else:
            ok, detail = await check(self._client(), url)
        rec = sup.state.replicas.get(name)
        if rt.busy or rec is None:
            return
        if ok and rt.phase in (Phase.STARTING, Phase.RUNNING):
            rt.phase = Phase.READY
            rt.reason = None
            rt.port_waits = 0
            rt.ready_timed_out = False
            rt.unhealthy_since = None
        elif not ok and rt.phase is Phase.READY:
            rt.phase = Phase.RUNNING
            rt.reason = f"health endpoint stopped answering: {detail}"
            rt.unhealthy_since = now
        elif not ok and rt.phase in (Phase.STARTING, Phase.RUNNING) and rec.pid is not None:
            comp = sup.graph.components.get(rec.component)
            timeout_s = comp.ready_timeout_s if comp else 120.0
            rt.phase = Phase.RUNNING
            # not ready since it started or, when this process was ready, since its health endpoint stopped
            # answering: the readiness timeout counts from then, not from a start long ago
            silent = rt.silent_since(rec.started_at)
            if silent is not None:
                detail = f"health endpoint stopped answering: {detail}"
            since = silent if silent is not None else rec.started_at or now
            rt.reason, timed_out = not_ready_reason(detail, now - since, timeout_s)
            if timed_out and not rt.ready_timed_out:
                log.warning("replica %s %s", name, rt.reason)
            rt.ready_timed_out = timed_out
