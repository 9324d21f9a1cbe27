"""The simulated serving graph in virtual time: the demo's processes, without processes or clocks.

A :class:`VirtualGraph` runs the same parts the frontend and worker processes run, driven by an event
queue instead of sleeps: arrivals from an :class:`Arrivals` source (a load profile's
:class:`~planner_tui.sim.profiles.ArrivalSchedule`, a trace, a recording's workload) join the frontend's
:class:`~planner_tui.sim.broker.Broker`; each worker replica is a
:class:`~planner_tui.sim.perf_model.Engine` that takes requests from the broker's queue as the worker
process pulls them (up to ``prefetch`` waiting), runs its steps back to back, reports first tokens (a
prefill worker's requests go on to the decode queue) and completions; its
:class:`~planner_tui.sim.replica_metrics.WorkerMetrics` and the frontend's
:class:`~planner_tui.sim.replica_metrics.FrontendMetrics` expose the same metric families the
processes serve. Replicas follow the processes' lifecycle: starting (process launch), running (the cold
start, metrics served, not pulling), ready; on a scale-down the highest-numbered replica stops pulling,
hands back what it has not started, lets running requests finish for its drain timeout and hands back
the rest (nothing is lost).

What differs from the processes: no HTTP round trips (a pull, a report, a hand-back take no time) and
no scheduling delays. ``planner-tui compare`` runs a graph here much faster than real time.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from prometheus_client.core import Metric

from planner_tui.sim.broker import Broker
from planner_tui.sim.perf_model import Engine, EngineRole, PerfParams, Sequence
from planner_tui.sim.profiles import Arrival
from planner_tui.sim.replica_metrics import FrontendMetrics, WorkerMetrics
from planner_tui.sim.worker import PULL_WAIT_S

#: simulated seconds from "start the process" to "its metrics endpoint answers" (Python start-up)
DEFAULT_LAUNCH_S = 0.5


class Arrivals(Protocol):
    """Where requests come from: the next point in time and the request there (None: only look again)."""

    def next_event(self) -> tuple[float, Arrival | None]: ...


class ReplicaPhase(StrEnum):
    """A virtual replica's lifecycle (the connector's phases, see ``model.replicas.Phase``)."""

    STARTING = "starting"  # the process is being launched
    RUNNING = "running"  # up, serving metrics, in its cold start (health answers 503)
    READY = "ready"  # pulling work
    STOPPING = "stopping"  # SIGTERM: draining


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """How one component's worker replicas are run (what its command line says)."""

    name: str
    role: EngineRole
    params: PerfParams = field(default_factory=PerfParams)
    drain_timeout_s: float = 3.0
    launch_s: float = DEFAULT_LAUNCH_S
    pull_wait_s: float = PULL_WAIT_S  # simulated seconds the pull loop waits for capacity before looking again
    gpus_per_replica: int = 0
    seed_is_index: bool = True  # the demo's ``--seed {replica}``; else every replica uses ``seed``
    seed: int = 0


@dataclass(eq=False)
class VirtualReplica:
    """One worker replica: its engine, what it measured, and where it is in its life."""

    spec: WorkerSpec
    index: int
    engine: Engine
    metrics: WorkerMetrics
    started_at: float
    phase: ReplicaPhase = ReplicaPhase.STARTING
    step_start: float | None = None
    step_token: int = 0  # the step-end event that is current (an abandoned step's event is ignored)
    stop_deadline: float | None = None
    gpus: tuple[int, ...] = ()
    gone: bool = False  # stopped and removed
    pulling: bool = False  # a pull is outstanding (the frontend answers it when requests arrive)
    pull_order: int = 0  # when its outstanding pull began (the frontend answers the longest-waiting pull first)
    wake_token: int = 0  # the pull loop's current wait for capacity

    @property
    def worker_id(self) -> str:
        """The id the broker knows it by (one per replica life, like ``NAME@PID-NONCE``)."""
        return f"{self.spec.name}-{self.index}@virtual-{id(self):x}"

    @property
    def name(self) -> str:
        """``decode-2`` style."""
        return f"{self.spec.name}-{self.index}"

    @property
    def live(self) -> bool:
        """Starting, running or ready (not stopping)."""
        return self.phase is not ReplicaPhase.STOPPING


@dataclass(frozen=True, slots=True)
class RequestResult:
    """One request that left the graph, as the frontend measured it."""

    arrived_at: float
    ttft_s: float | None
    itl_mean_s: float | None
    duration_s: float
    ok: bool
    output_tokens: int


_ARRIVAL, _STEP_END, _READY, _RUNNING, _DEADLINE, _WAKE = range(6)


class VirtualGraph:
    """A frontend and worker components in virtual time; :meth:`advance` runs it to a point in time."""

    def __init__(self, workers: Iterable[WorkerSpec], arrivals: Arrivals, *, model: str = "sim-model") -> None:
        self.specs = {spec.name: spec for spec in workers}
        self.broker = Broker(lease_s=float("inf"))
        self.frontend = FrontendMetrics(model)
        self.model = model
        self.now = 0.0
        self.replicas: dict[str, list[VirtualReplica]] = {name: [] for name in self.specs}
        self.stopped: list[VirtualReplica] = []  # gone since the last call to :meth:`take_stopped`
        self.results: list[RequestResult] = []
        self._arrivals = arrivals
        self._events: list[tuple[float, int, int, VirtualReplica | None, int]] = []
        self._order = 0
        self._first_token_at: dict[int, float] = {}
        self._by_worker: dict[str, VirtualReplica] = {}
        self._pending_arrival: Arrival | None = None
        self._pulls = 0  # pulls begun: orders the outstanding ones
        self._push_arrival()

    # --- time ------------------------------------------------------------------------------------

    def _push(self, at: float, kind: int, replica: VirtualReplica | None = None, token: int = 0) -> None:
        self._order += 1
        heapq.heappush(self._events, (at, self._order, kind, replica, token))

    def _push_arrival(self) -> None:
        at, arrival = self._arrivals.next_event()
        if at != float("inf"):
            self._pending_arrival = arrival
            self._push(at, _ARRIVAL)

    def advance(self, until: float) -> None:
        """Process every event up to ``until`` (simulated seconds) and leave the clock there."""
        events = self._events
        while events and events[0][0] <= until:
            at, _, kind, replica, token = heapq.heappop(events)
            self.now = at
            if kind == _ARRIVAL:
                arrival = self._pending_arrival
                if arrival is not None:
                    self.broker.submit(arrival.input_tokens, arrival.output_tokens, at)
                    self._feed("prefill")
                self._push_arrival()
            elif replica is None:
                continue
            elif kind == _STEP_END:
                if token == replica.step_token and replica.step_start is not None:
                    self._finish_step(replica)
            elif kind == _RUNNING:
                if replica.phase is ReplicaPhase.STARTING:
                    replica.phase = ReplicaPhase.RUNNING
            elif kind == _READY:
                if replica.phase in (ReplicaPhase.STARTING, ReplicaPhase.RUNNING):
                    replica.phase = ReplicaPhase.READY
                    self.broker.touch(replica.worker_id, replica.spec.role.value)
                    self._capacity(replica)
            elif kind == _DEADLINE and replica.phase is ReplicaPhase.STOPPING:
                self._remove(replica)
            elif kind == _WAKE and token == replica.wake_token and not replica.pulling:
                self._capacity(replica)
        self.now = until

    # --- replicas --------------------------------------------------------------------------------

    def live(self, component: str) -> list[VirtualReplica]:
        """The component's replicas that are not stopping, by index."""
        return [r for r in self.replicas[component] if r.live]

    def scale(self, component: str, replicas: int) -> None:
        """Set the component's replica count now: new replicas start, the highest-numbered ones stop."""
        spec = self.specs[component]
        live = self.live(component)
        while len(live) < replicas:
            used = {r.index for r in self.replicas[component]}
            index = next(i for i in range(len(used) + 1) if i not in used)
            seed = index if spec.seed_is_index else spec.seed
            replica = VirtualReplica(
                spec,
                index,
                Engine(spec.role, spec.params, random.Random(seed)),
                WorkerMetrics(spec.role, self.model),
                started_at=self.now,
            )
            self.replicas[component].append(replica)
            self.replicas[component].sort(key=lambda r: r.index)
            self._by_worker[replica.worker_id] = replica
            self._push(self.now + spec.launch_s, _RUNNING, replica)
            self._push(self.now + spec.launch_s + spec.params.cold_start_s, _READY, replica)
            live.append(replica)
        for replica in sorted(live, key=lambda r: r.index, reverse=True)[: max(0, len(live) - replicas)]:
            self._stop(replica)

    def _stop(self, replica: VirtualReplica) -> None:
        """SIGTERM: stop pulling, hand back what has not started, drain running requests for a while."""
        was_ready = replica.phase is ReplicaPhase.READY
        replica.phase = ReplicaPhase.STOPPING
        replica.pulling = False
        if not was_ready:
            self._remove(replica)
            return
        handed = [s.request_id for s in replica.engine.take_waiting()]
        if handed:
            self.broker.hand_back(replica.worker_id, handed)
            self._feed(replica.spec.role.value)
        if replica.engine.idle and replica.step_start is None:
            self._remove(replica)
        else:
            replica.stop_deadline = self.now + replica.spec.drain_timeout_s
            self._push(replica.stop_deadline, _DEADLINE, replica)

    def _remove(self, replica: VirtualReplica) -> None:
        if replica.gone:
            return
        replica.gone = True
        replica.step_token += 1
        replica.step_start = None
        replica.engine.take_all()
        self.broker.leave(replica.worker_id)  # hands back whatever it still holds
        replica.phase = ReplicaPhase.STOPPING
        self.replicas[replica.spec.name].remove(replica)
        self._by_worker.pop(replica.worker_id, None)
        self.stopped.append(replica)
        self._feed(replica.spec.role.value)

    # --- work ------------------------------------------------------------------------------------

    def _queue_of(self, replica: VirtualReplica) -> str:
        return "decode" if replica.spec.role is EngineRole.DECODE else "prefill"

    def _feed(self, role: str) -> None:
        """Requests joined ``role``'s queue: answer the workers whose pull is waiting on it (a long poll),
        the longest-waiting pull first, as the frontend process does (its pulls wait on one asyncio.Event,
        whose waiters wake in the order they began waiting). A worker that is busy pulls again as soon as a
        pull is answered, while an idle one's pull has waited since it went idle: the idle one is answered
        first, as in the processes (answering in replica order instead gave every request to the first
        replica while the others stood idle)."""
        queue = "decode" if role == "decode" else "prefill"
        pulling = [r for rs in self.replicas.values() for r in rs if r.pulling and self._queue_of(r) == queue]
        pulling.sort(key=lambda r: r.pull_order)
        for replica in pulling:
            if replica.pulling:
                self._answer(replica)

    def _begin_pull(self, replica: VirtualReplica) -> None:
        self._pulls += 1
        replica.pull_order = self._pulls
        replica.pulling = True

    def _capacity(self, replica: VirtualReplica) -> None:
        """The worker process's pull loop wakes (at a step's end, or idle): it pulls while it wants work."""
        if replica.phase is not ReplicaPhase.READY:
            return
        if replica.engine.wants() > 0:
            self._begin_pull(replica)
            self._answer(replica)
        elif not replica.pulling:
            replica.wake_token += 1
            self._push(self.now + replica.spec.pull_wait_s, _WAKE, replica, replica.wake_token)

    def _answer(self, replica: VirtualReplica) -> None:
        """A pending pull takes what the queue holds (up to what the worker wants), and pulls again while
        the worker still wants more; with the queue empty it stays pending until requests arrive."""
        queue = self.broker.queues[self._queue_of(replica)]
        took = False
        while replica.pulling and queue:
            now = self.now
            for request in self.broker.take(replica.worker_id, replica.spec.role.value, replica.engine.wants()):
                wire = request.wire()
                replica.engine.add(
                    Sequence(wire["id"], wire["input_tokens"], wire["output_tokens"], now, generated=wire["generated"])
                )
            took = True
            # the pull loop looks again before the engine takes the new requests in (another task)
            replica.pulling = False
            if replica.engine.wants() > 0:
                self._begin_pull(replica)
        if not replica.pulling:
            # it waits for capacity: the step's end, or its pull wait running out
            replica.wake_token += 1
            self._push(self.now + replica.spec.pull_wait_s, _WAKE, replica, replica.wake_token)
        if took and replica.step_start is None:
            self._step(replica)  # the engine was idle, waiting for work

    def _step(self, replica: VirtualReplica) -> None:
        duration = replica.engine.begin_step()
        if duration is None:
            return
        replica.step_start = self.now
        replica.metrics.step_started = self.now
        replica.step_token += 1
        self._push(self.now + duration, _STEP_END, replica, replica.step_token)

    def _finish_step(self, replica: VirtualReplica) -> None:
        now, start = self.now, replica.step_start
        assert start is not None
        replica.step_start = None
        engine = replica.engine
        result = engine.finish_step(now)
        report = replica.metrics.record(result, engine.take_failed(), start, now)
        broker, worker_id = self.broker, replica.worker_id
        if report.first_tokens:
            for request in broker.first_tokens(worker_id, report.first_tokens, now):
                self.frontend.first_token(request, now)
                self._first_token_at[request.id] = now
        for item in report.completed:
            error = item["error"]
            done = broker.complete(worker_id, item["id"], now, error is None, item["itl_mean_s"], error)
            if done is not None:
                self.frontend.completed(done)
                first = self._first_token_at.pop(done.request.id, None)
                self.results.append(
                    RequestResult(
                        done.request.arrived_at,
                        None if first is None else first - done.request.arrived_at,
                        done.itl_mean_s,
                        done.duration_s,
                        done.ok,
                        done.request.output_tokens,
                    )
                )
        if replica.phase is ReplicaPhase.STOPPING and engine.idle:
            self._remove(replica)
            return
        # As the process does: the pull loop is woken when the engine wants more at the step's end (looked
        # at before the next step takes in what is waiting) or goes idle; the next step begins with what is
        # waiting now, and what the pull brings waits for the step after.
        wanted = engine.wants() > 0
        self._step(replica)
        if replica.phase is not ReplicaPhase.STOPPING and (wanted or replica.step_start is None):
            self._capacity(replica)
        if report.first_tokens and replica.spec.role is EngineRole.PREFILL:
            self._feed("decode")

    # --- what is exposed -------------------------------------------------------------------------

    def worker_families(self, replica: VirtualReplica) -> Iterable[Metric]:
        """The replica's metric families now (what its ``/metrics`` would serve)."""
        return replica.metrics.families(
            replica.engine,
            ready=replica.phase is ReplicaPhase.READY,
            now=self.now,
            age_s=self.now - replica.started_at,
            cold_start_s=replica.spec.params.cold_start_s,
            gpus=replica.gpus,
        )

    def frontend_families(self, target_rps: float = 0.0) -> Iterable[Metric]:
        """The frontend's request-serving metric families now."""
        return self.frontend.families(self.broker, target_rps=target_rps, generation_lag_s=0.0)

    def take_results(self) -> list[RequestResult]:
        """Requests finished since the last call."""
        results, self.results = self.results, []
        return results

    def take_stopped(self) -> list[VirtualReplica]:
        """Replicas that went away since the last call."""
        stopped, self.stopped = self.stopped, []
        return stopped
