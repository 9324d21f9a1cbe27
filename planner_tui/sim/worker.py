"""The simulated worker process: pulls requests from the frontend and serves them with the perf model.

Roles: ``prefill`` (prompt and first token, then the request moves to the decode queue), ``decode``
(the remaining tokens) and ``worker`` (aggregated, both). After a cold start (``/health`` answers 503)
it becomes ready and starts pulling, so a new replica adds capacity as soon as it is ready. On SIGTERM it
stops pulling, hands back requests it has not started, lets running ones finish for up to the drain
timeout, then hands back the rest: no request is lost when a replica is scaled down.

Its worker id is per process, ``NAME@PID-NONCE`` (NAME: ``--worker-id``, else the replica's watcher name,
else the role): a replica restarted after a crash is a new worker to the frontend, so the dead process's
lease expires and its requests are handed back instead of being stranded under a live id. It sends the
frontend's control token (read from the token file, again after a 401: the frontend restarted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import Metric

from planner_tui.sim import auth
from planner_tui.sim.clock import SimClock
from planner_tui.sim.exposition import CONTENT_TYPE_LATEST, MetricsEndpoint
from planner_tui.sim.gpus import visible_gpus
from planner_tui.sim.http import HttpError, HttpServer, JsonClient, Request, Response
from planner_tui.sim.perf_model import Engine, EngineRole, PerfParams, Sequence, StepResult
from planner_tui.sim.process import run_process
from planner_tui.sim.replica_metrics import WorkerMetrics

log = logging.getLogger(__name__)

PULL_WAIT_S = 2.0  # real seconds a pull waits for work (also the heartbeat period when busy)
RETRY_S = 0.5
MAX_CATCH_UP_S = 1.0  # simulated seconds of lateness that later steps make up for


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How to run a worker."""

    role: EngineRole
    frontend_url: str
    port: int = 0
    host: str = "127.0.0.1"
    params: PerfParams = field(default_factory=PerfParams)
    speedup: float = 1.0
    drain_timeout_s: float = 3.0  # real seconds to let running requests finish after SIGTERM
    worker_id: str | None = None
    model: str = "sim-model"
    gpus: tuple[int, ...] = ()
    seed: int = 0  # seeds the step-time jitter
    allow_remote: bool = False  # listen on a non-loopback host
    token_file: str | None = None  # the frontend's control token (default: auth.token_path(frontend port))


class Worker:
    """One simulated engine replica."""

    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.role = options.role
        self.clock = SimClock(options.speedup)
        self.engine = Engine(options.role, options.params, random.Random(options.seed))
        name = options.worker_id or os.environ.get("PLANNER_TUI_REPLICA") or self.role.value
        self.worker_id = process_worker_id(name)
        self._token_path = auth.token_path_for_url(options.frontend_url, options.token_file)
        self.ready = False
        self.draining = False
        self._stop = asyncio.Event()
        self._work_added = asyncio.Event()
        self._capacity = asyncio.Event()
        self._outbox_ready = asyncio.Event()
        self._report_failing = False
        self._first_tokens: list[int] = []
        self._completed: list[dict[str, Any]] = []
        self.measured = WorkerMetrics(options.role, options.model)
        self.ttft, self.itl, self.e2e = self.measured.ttft, self.measured.itl, self.measured.e2e
        self._metrics = MetricsEndpoint(self._collect)
        self._pull_client = JsonClient(options.frontend_url)
        self._report_client = JsonClient(options.frontend_url)
        self._token_missing_logged = False
        self.server = HttpServer(
            {("GET", "/metrics"): self._get_metrics, ("GET", "/health"): self._get_health},
            options.host,
            options.port,
            allow_remote=options.allow_remote,
        )

    def stop(self) -> None:
        """Begin the drain (what SIGTERM does)."""
        self._stop.set()

    # --- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Cold start, serve until :meth:`stop`, then drain and hand back what is left."""
        await self.server.start()
        log.info(
            "%s worker %s on http://%s:%d, cold start %g s, frontend %s",
            self.role.value,
            self.worker_id,
            self.options.host,
            self.server.port,
            self.options.params.cold_start_s,
            self.options.frontend_url,
        )
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.clock.real(self.options.params.cold_start_s))
            if self._stop.is_set():
                return
            self.ready = True
            self._load_token()
            log.info("%s ready", self.worker_id)
            engine_task = asyncio.create_task(self._engine_loop())
            pull_task = asyncio.create_task(self._pull_loop())
            report_task = asyncio.create_task(self._report_loop())
            await self._stop.wait()
            await self._drain(engine_task, pull_task, report_task)
        finally:
            await self._pull_client.close()
            await self._report_client.close()
            await self.server.close()

    async def _drain(
        self, engine_task: asyncio.Task[None], pull_task: asyncio.Task[None], report_task: asyncio.Task[None]
    ) -> None:
        self.draining = True
        self._capacity.set()
        # A pull in progress may be handing us requests: let it finish (bounded) so none is in limbo.
        await asyncio.wait([pull_task], timeout=PULL_WAIT_S + 1.0)
        pull_task.cancel()
        handed = [s.request_id for s in self.engine.take_waiting()]
        if handed:
            await self._send({"handed_back": handed})
        deadline = asyncio.get_running_loop().time() + self.options.drain_timeout_s
        while not self.engine.idle and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        engine_task.cancel()
        await asyncio.wait([engine_task], timeout=1.0)
        leftover = [s.request_id for s in self.engine.take_all()]
        report_task.cancel()
        await asyncio.wait([report_task], timeout=1.0)
        await self._flush()
        try:
            answer = await self._report_client.request("POST", "/sim/leave", self._identity(), timeout=5.0)
            log.info(
                "%s stopped: %d handed back unstarted, %d handed back unfinished (frontend requeued %s)",
                self.worker_id,
                len(handed),
                len(leftover),
                answer.get("handed_back"),
            )
        except HttpError as exc:
            log.warning("%s could not tell the frontend it stops (%s); its lease will expire", self.worker_id, exc)

    # --- the engine ------------------------------------------------------------------------------

    async def _engine_loop(self) -> None:
        planned_end: float | None = None
        while True:
            duration = self.engine.begin_step()
            if duration is None:
                planned_end = None
                self._work_added.clear()
                self._capacity.set()
                await self._work_added.wait()
                continue
            # Back-to-back steps are scheduled on the simulated timeline, so time lost to a late wake-up
            # (a loaded machine, a high speed-up) is caught up instead of slowing the engine down.
            now = self.clock.now()
            start = planned_end if planned_end is not None and now - planned_end < MAX_CATCH_UP_S else now
            self.measured.step_started = start
            planned_end = start + duration
            await self.clock.sleep(planned_end - now)
            now = self.clock.now()
            result = self.engine.finish_step(now)
            self._record(result, start, now)
            if self.engine.wants():
                self._capacity.set()

    def _record(self, result: StepResult, start: float, now: float) -> None:
        report = self.measured.record(result, self.engine.take_failed(), start, now)
        self._first_tokens.extend(report.first_tokens)
        self._completed.extend(report.completed)
        if self._first_tokens or self._completed:
            self._outbox_ready.set()

    # --- talking to the frontend -----------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        return {"worker": self.worker_id, "role": self.role.value}

    def _load_token(self) -> None:
        """(Re)read the frontend's control token (at start, and after a 401: the frontend restarted)."""
        try:
            token = auth.read_token(self._token_path)
        except auth.AuthError as exc:
            token = None
            log.warning("%s", exc)
        if token is None and not self._token_missing_logged:
            log.warning("no control token in %s yet; the frontend will refuse this worker's calls", self._token_path)
        self._token_missing_logged = token is None
        self._pull_client.token = self._report_client.token = token

    def _refused(self, exc: HttpError) -> None:
        if exc.status == 401:
            self._load_token()

    async def _pull_loop(self) -> None:
        while not self.draining:
            want = self.engine.wants()
            if want == 0:
                self._capacity.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._capacity.wait(), PULL_WAIT_S)
                if self.draining:
                    return
                want = self.engine.wants()  # 0 again: the call below is only a heartbeat
            payload = {**self._identity(), "want": want, "wait_s": PULL_WAIT_S if want else 0.0}
            try:
                answer = await self._pull_client.request("POST", "/sim/pull", payload, timeout=PULL_WAIT_S + 10.0)
            except HttpError as exc:
                log.debug("pull failed: %s", exc)
                self._refused(exc)
                await asyncio.sleep(RETRY_S)
                continue
            now = self.clock.now()
            for item in answer.get("requests", []):
                self.engine.add(
                    Sequence(
                        int(item["id"]),
                        int(item["input_tokens"]),
                        int(item["output_tokens"]),
                        now,
                        generated=int(item.get("generated", 0)),
                    )
                )
                self._work_added.set()

    async def _report_loop(self) -> None:
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            if not await self._flush():
                await asyncio.sleep(RETRY_S)

    async def _flush(self) -> bool:
        """Send pending first tokens and completions; on failure keep them for the next try and return False."""
        while self._first_tokens or self._completed:
            firsts, done = self._first_tokens, self._completed
            self._first_tokens, self._completed = [], []
            if not await self._send({"first_tokens": firsts, "completed": done}):
                self._first_tokens[:0], self._completed[:0] = firsts, done
                self._outbox_ready.set()
                return False
        return True

    async def _send(self, report: dict[str, Any]) -> bool:
        try:
            await self._report_client.request("POST", "/sim/report", {**self._identity(), **report}, timeout=10.0)
        except HttpError as exc:
            self._refused(exc)
            if not self._report_failing:
                log.warning("report to the frontend failed (will retry): %s", exc)
            self._report_failing = True
            return False
        if self._report_failing:
            log.info("reports reach the frontend again")
        self._report_failing = False
        return True

    # --- endpoints -------------------------------------------------------------------------------

    async def _get_health(self, request: Request) -> Response:
        if self.draining:
            return Response.json({"status": "draining", "role": self.role.value}, 503)
        if not self.ready:
            return Response.json({"status": "starting", "role": self.role.value}, 503)
        return Response.json({"status": "ready", "role": self.role.value, "worker": self.worker_id})

    async def _get_metrics(self, request: Request) -> Response:
        return Response(200, self._metrics.render(), CONTENT_TYPE_LATEST)

    @property
    def requests_total(self) -> int:
        """Requests this worker finished (or rejected)."""
        return self.measured.requests_total

    def busy_fraction(self) -> float:
        """Share of the last few simulated seconds spent in steps (:data:`.replica_metrics.BUSY_WINDOW_S`)."""
        return self.measured.busy_fraction(self.clock.now())

    def _collect(self) -> Iterable[Metric]:
        now = self.clock.now()
        return self.measured.families(
            self.engine,
            ready=self.ready,
            now=now,
            age_s=now,
            cold_start_s=self.options.params.cold_start_s,
            gpus=self.options.gpus,
        )


def serve(options: WorkerOptions) -> None:
    """Run a worker in this process until SIGTERM or SIGINT, then drain."""
    code = run_process(lambda: Worker(options))
    if code:
        raise SystemExit(code)


def process_worker_id(name: str) -> str:
    """The id this process reports under: ``NAME@PID-NONCE``, new for every process (see the module doc)."""
    return f"{name}@{os.getpid()}-{secrets.token_hex(3)}"


def gpus_from_env() -> tuple[int, ...]:
    """The simulated GPUs: the indices in ``CUDA_VISIBLE_DEVICES``."""
    return visible_gpus(os.environ.get("CUDA_VISIBLE_DEVICES"))
