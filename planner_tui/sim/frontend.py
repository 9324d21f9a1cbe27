"""The simulated frontend process: generates requests from a load profile and routes them to workers.

Requests join the prefill queue; prefill (or aggregated) workers pull them, report the first token, and
prefill workers' requests move on to the decode queue for decode workers. Endpoints (loopback unless
``allow_remote``):

- ``GET /metrics``: Dynamo frontend metrics; ``GET /health``: 200 while serving;
- ``GET /sim/stats``: request conservation as JSON, with its ``conservation`` report (see
  :meth:`Frontend.conservation`);
- ``GET /control/profile``: the load; ``POST /control/profile``, ``POST /control/scale``: change it;
- ``POST /sim/pull``, ``/sim/report``, ``/sim/leave``: the workers' side (see :mod:`.broker`).

Every POST needs ``Authorization: Bearer <token>``, the token the frontend writes at start to its token
file (see :mod:`.auth`); without it the answer is 401 and nothing changes. The GETs are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric

from planner_tui.sim import auth
from planner_tui.sim.broker import LOST_REASON, MAX_LOSSES, ROLE_QUEUE, Broker
from planner_tui.sim.clock import SimClock
from planner_tui.sim.exposition import CONTENT_TYPE_LATEST, MetricsEndpoint, gauge
from planner_tui.sim.http import Handler, HttpServer, Request, Response
from planner_tui.sim.process import run_process
from planner_tui.sim.profiles import ArrivalSchedule, ProfileError, Workload, parse_workload
from planner_tui.sim.replica_metrics import FrontendMetrics

log = logging.getLogger(__name__)

MAX_PULL_WAIT_S = 5.0
YIELD_EVERY = 64  # arrivals generated back to back before letting the loop serve HTTP


@dataclass(frozen=True, slots=True)
class FrontendOptions:
    """How to run the frontend."""

    workload: Workload
    port: int = 0
    host: str = "127.0.0.1"
    seed: int = 0
    speedup: float = 1.0
    model: str = "sim-model"
    lease_s: float = 10.0  # real seconds without a call before a worker's requests are handed back
    allow_remote: bool = False  # listen on a non-loopback host
    token_file: str | None = None  # where to write the control token (default: auth.token_path(port))
    drain_timeout_s: float = 60.0  # real seconds after the last arrival (load stopped) for in_flight to reach 0


class Frontend:
    """Request generator, router and metrics of the simulated graph."""

    def __init__(self, options: FrontendOptions) -> None:
        self.options = options
        self.clock = SimClock(options.speedup)
        self.broker = Broker(options.lease_s)
        self.workload = options.workload
        self._rng = random.Random(options.seed)
        self._schedule = ArrivalSchedule(self.workload, self._rng, start=0.0)
        self._profile_changed = asyncio.Event()
        self._stop = asyncio.Event()
        self.measured = FrontendMetrics(options.model)
        self.generation_lag_s = 0.0
        self._metrics = MetricsEndpoint(self._collect)
        self.token = auth.new_token()
        self.token_path: Path | None = None  # known once listening (the default depends on the port)
        self._started = time.monotonic()
        self._last_arrival: float | None = None  # time.monotonic() of the latest request generated
        self._drain_failure_logged = False
        self.server = HttpServer(
            {
                ("GET", "/metrics"): self._get_metrics,
                ("GET", "/health"): self._get_health,
                ("GET", "/sim/stats"): self._get_stats,
                ("GET", "/control/profile"): self._get_profile,
                ("POST", "/control/profile"): self._guard(self._post_profile),
                ("POST", "/control/scale"): self._guard(self._post_scale),
                ("POST", "/sim/pull"): self._guard(self._post_pull),
                ("POST", "/sim/report"): self._guard(self._post_report),
                ("POST", "/sim/leave"): self._guard(self._post_leave),
            },
            options.host,
            options.port,
            allow_remote=options.allow_remote,
        )

    def _guard(self, handler: Handler) -> Handler:
        """``handler``, run only for requests that carry the control token (401 otherwise)."""

        async def guarded(request: Request) -> Response:
            if not auth.bearer_matches(request.headers.get("authorization"), self.token):
                where = self.token_path or "the frontend's token file"
                return Response.error(
                    401,
                    f"{request.method} {request.path} changes the simulation and needs the frontend's control "
                    f"token: send 'Authorization: Bearer <token>' with the token in {where} "
                    "(planner-tui sim load reads it for you)",
                )
            return await handler(request)

        return guarded

    # --- lifecycle -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stop.set()

    async def run(self) -> None:
        """Serve and generate load until :meth:`stop` (or SIGTERM/SIGINT when installed)."""
        await self.server.start()
        self.token_path = auth.token_path(self.server.port, self.options.token_file)
        try:
            auth.write_token(self.token_path, self.token)
        except (auth.AuthError, OSError) as exc:
            await self.server.close()
            raise auth.AuthError(f"{exc}; choose another file with --token-file") from None
        log.info(
            "frontend listening on http://%s:%d, load %s, speedup %g; control token in %s",
            self.options.host,
            self.server.port,
            self.workload.to_dict(),
            self.options.speedup,
            self.token_path,
        )
        tasks = [asyncio.create_task(self._generate()), asyncio.create_task(self._expire_leases())]
        try:
            await self._stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=2.0)
            await self.server.close()
            auth.remove_token(self.token_path, self.token)
            report = self.conservation()
            log.log(
                logging.INFO if report["drained"] else logging.WARNING,
                "frontend stopped: %d arrived, %d completed, %d failed %s, %d still in flight",
                report["arrived"],
                report["completed"],
                report["failed"],
                report["failed_reasons"],
                report["in_flight"],
            )

    def set_workload(self, workload: Workload, keep_phase: bool = False) -> None:
        """Switch to ``workload`` now; ``keep_phase`` keeps the profile's time origin (rate scaling)."""
        now = self.clock.now()
        origin = self._schedule.origin if keep_phase else None
        self.workload = workload
        self._schedule = ArrivalSchedule(workload, self._rng, start=now, origin=origin)
        self._profile_changed.set()
        log.info("load profile now %s", workload.to_dict())

    def target_rps(self) -> float:
        """The profile's request rate now."""
        return self.workload.profile.rate(self.clock.now() - self._schedule.origin)

    async def _generate(self) -> None:
        burst = 0
        while True:
            schedule = self._schedule
            at, arrival = schedule.next_event()
            delay = self.clock.real(at - self.clock.now())
            if delay > 0.002:
                burst = 0
                self._profile_changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._profile_changed.wait(), delay)
                    continue  # a new profile: start again from its schedule
            if arrival is None or schedule is not self._schedule:
                continue
            now = self.clock.now()
            self.generation_lag_s = max(0.0, now - at)
            self.broker.submit(arrival.input_tokens, arrival.output_tokens, now)
            self._last_arrival = time.monotonic()
            burst += 1
            if burst >= YIELD_EVERY:
                burst = 0
                await asyncio.sleep(0)

    async def _expire_leases(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            failed_before = self.broker.failed_reasons[LOST_REASON]
            for worker_id in self.broker.expire():
                log.warning("worker %s stopped calling; its requests went back to the queue", worker_id)
            lost = self.broker.failed_reasons[LOST_REASON] - failed_before
            if lost:
                log.error("%d request(s) failed: their workers were lost %d times", lost, MAX_LOSSES)
            report = self.conservation()
            if report["drain_check"] == "failed" and not self._drain_failure_logged:
                self._drain_failure_logged = True
                log.error(
                    "drain check failed: load stopped %.1f s ago and %d request(s) are still in flight: %s",
                    report["load_stopped_s"],
                    report["in_flight"],
                    report["stuck"],
                )

    # --- control and status ----------------------------------------------------------------------

    async def _get_health(self, request: Request) -> Response:
        return Response.json({"status": "ready", "role": "frontend"})

    async def _get_metrics(self, request: Request) -> Response:
        return Response(200, self._metrics.render(), CONTENT_TYPE_LATEST)

    def conservation(self) -> dict[str, Any]:
        """The conservation report: where every request that arrived is, and whether the graph drained.

        ``arrived == completed + failed + in_flight`` (``balanced``) holds at every instant; once the load
        stops (a target rate of 0), ``drained`` (``in_flight == 0`` and ``arrived == completed + failed``)
        must become true within ``drain_timeout_s`` real seconds of the last arrival: ``drain_check`` is
        ``"load running"``, then ``"draining"``, then ``"passed"`` or ``"failed"`` (with the ``stuck``
        requests). ``completed`` here counts successes only; failures are in ``failed`` by reason.
        """
        broker = self.broker
        drained = broker.drained()
        stopped_s: float | None = None
        if self.target_rps() == 0.0:
            since = self._last_arrival if self._last_arrival is not None else self._started
            stopped_s = round(time.monotonic() - since, 3)
        if stopped_s is None:
            check = "load running"
        elif drained:
            check = "passed"
        elif stopped_s > self.options.drain_timeout_s:
            check = "failed"
        else:
            check = "draining"
        return {
            "arrived": broker.requests_in,
            "completed": broker.succeeded,
            "failed": broker.failed,
            "failed_reasons": dict(sorted(broker.failed_reasons.items())),
            "in_flight": broker.in_flight,
            "balanced": broker.conserved(),
            "drained": drained,
            "load_stopped_s": stopped_s,
            "drain_timeout_s": self.options.drain_timeout_s,
            "drain_check": check,
            "stuck": broker.stuck() if check == "failed" else [],
        }

    async def _get_stats(self, request: Request) -> Response:
        stats = self.broker.stats()
        stats["target_rps"] = round(self.target_rps(), 6)
        stats["sim_time_s"] = round(self.clock.now(), 3)
        stats["profile"] = self.workload.to_dict()
        stats["conservation"] = self.conservation()
        return Response.json(stats)

    async def _get_profile(self, request: Request) -> Response:
        return Response.json(self.workload.to_dict())

    async def _post_profile(self, request: Request) -> Response:
        try:
            workload = parse_workload(request.json(), self.workload)
        except ProfileError as exc:
            return Response.error(400, f"bad profile: {exc}")
        self.set_workload(workload)
        return Response.json(workload.to_dict())

    async def _post_scale(self, request: Request) -> Response:
        body = request.json()
        factor = body.get("factor") if isinstance(body, dict) else None
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            return Response.error(400, 'expected {"factor": N}, a number >= 0 that multiplies the request rate')
        try:
            workload = self.workload.scaled(float(factor))
        except ProfileError as exc:
            return Response.error(400, str(exc))
        self.set_workload(workload, keep_phase=True)
        return Response.json(workload.to_dict())

    # --- the workers' side -----------------------------------------------------------------------

    async def _post_pull(self, request: Request) -> Response:
        body = _object(request)
        worker_id, role = _worker(body)
        want = body.get("want", 1)
        wait_s = body.get("wait_s", 0.0)
        if not isinstance(want, int) or want < 0 or not isinstance(wait_s, int | float):
            raise ValueError("'want' must be an integer >= 0 and 'wait_s' a number")
        taken = await self.broker.pull(worker_id, role, want, min(float(wait_s), MAX_PULL_WAIT_S))
        return Response.json({"requests": [r.wire() for r in taken]})

    async def _post_report(self, request: Request) -> Response:
        body = _object(request)
        worker_id, role = _worker(body)
        lease = self.broker.touch(worker_id, role)
        now = self.clock.now()
        for first in self.broker.first_tokens(worker_id, list(body.get("first_tokens", [])), now):
            self.measured.first_token(first, now)
        accepted = 0
        for item in body.get("completed", []):
            error = None if item.get("error") is None else str(item["error"])
            done = self.broker.complete(worker_id, int(item["id"]), now, error is None, item.get("itl_mean_s"), error)
            if done is not None:
                accepted += 1
                self.measured.completed(done)
        handed = self.broker.hand_back(worker_id, [int(i) for i in body.get("handed_back", [])])
        return Response.json({"accepted": accepted, "handed_back": handed, "held": len(lease.held)})

    async def _post_leave(self, request: Request) -> Response:
        body = _object(request)
        worker_id, _role = _worker(body)
        handed = self.broker.leave(worker_id)
        if handed:
            log.info("worker %s left; %d requests went back to the queue", worker_id, handed)
        return Response.json({"handed_back": handed})

    # --- metrics ---------------------------------------------------------------------------------

    def _collect(self) -> Iterable[Metric]:
        broker = self.broker
        yield from self.measured.families(broker, target_rps=self.target_rps(), generation_lag_s=self.generation_lag_s)
        yield gauge(
            "planner_tui_sim_conserved", "1 while requests_in == completed + in_flight", float(broker.conserved())
        )
        failed = CounterMetricFamily("planner_tui_sim_requests_failed", "Requests failed, by reason", labels=["reason"])
        for reason, count in sorted(broker.failed_reasons.items()):
            failed.add_metric([reason], count)
        yield failed
        report = self.conservation()
        yield gauge(
            "planner_tui_sim_drained", "1 while nothing is in flight, all arrivals finished", float(report["drained"])
        )
        yield gauge(
            "planner_tui_sim_drain_failed",
            "1 when the load stopped longer than the drain timeout ago and requests are still in flight",
            float(report["drain_check"] == "failed"),
        )


def _object(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def _worker(body: dict[str, Any]) -> tuple[str, str]:
    worker_id, role = body.get("worker"), body.get("role")
    if not isinstance(worker_id, str) or not worker_id:
        raise ValueError("'worker' (the worker's id) is required")
    if role not in ROLE_QUEUE:
        raise ValueError(f"'role' must be one of {', '.join(ROLE_QUEUE)}, got {role!r}")
    return worker_id, str(role)


def serve(options: FrontendOptions) -> None:
    """Run a frontend in this process until SIGTERM or SIGINT."""
    code = run_process(lambda: Frontend(options))
    if code:
        raise SystemExit(code)
