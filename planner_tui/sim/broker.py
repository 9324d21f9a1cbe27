"""The frontend's request book: the prefill and decode queues, which worker holds what, and leases.

Workers pull work (a long poll), report first tokens and completions, and hand work back when they stop.
Every request is in exactly one place (a queue, or held by one worker) until it finishes (completes or
fails), so ``requests_in == completed + failed + in_flight`` holds at every instant. A worker that stops
calling for ``lease_s`` seconds (killed, hung) loses its requests back to the head of their queue; a
request whose holder was lost :data:`MAX_LOSSES` times fails, with that reason, instead of circling.

Worker ids are per process (``NAME@PID-NONCE``, see :mod:`.worker`): a replica restarted under the same
name is a new worker, so the dead process's lease expires and its requests are handed back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

QUEUES = ("prefill", "decode")
ROLE_QUEUE = {"prefill": "prefill", "worker": "prefill", "decode": "decode"}
MAX_LOSSES = 3  # a request whose holder's lease expired this many times fails instead of going back again
LOST_REASON = "worker lost"  # failure reason of such a request (workers killed or hung while holding it)


def worker_name(worker_id: str) -> str:
    """The replica name in a per-process worker id (``decode-0@1234-9f3a`` -> ``decode-0``)."""
    return worker_id.partition("@")[0]


@dataclass(slots=True, eq=False)
class SimRequest:
    """One generated request, as the frontend tracks it (times on the frontend's simulated clock)."""

    id: int
    input_tokens: int
    output_tokens: int
    arrived_at: float
    stage: str = "prefill"  # the queue it goes back to: prefill until its first token, then decode
    holder: str | None = None
    first_token_at: float | None = None
    handbacks: int = 0
    losses: int = 0  # times its holder's lease expired with it

    def wire(self) -> dict[str, Any]:
        """What a worker receives."""
        return {
            "id": self.id,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "generated": 0 if self.stage == "prefill" else 1,
        }


@dataclass(slots=True)
class WorkerLease:
    """A worker known to the frontend."""

    worker_id: str
    role: str
    last_seen: float  # time.monotonic()
    held: dict[int, SimRequest] = field(default_factory=dict)
    last_ttft_s: float | None = None

    @property
    def name(self) -> str:
        """The replica name (the id without its per-process part)."""
        return worker_name(self.worker_id)


@dataclass(frozen=True, slots=True)
class Completion:
    """A request that left the graph, with what the frontend measured."""

    request: SimRequest
    duration_s: float
    ok: bool
    itl_mean_s: float | None


class Broker:
    """Queues, holders and leases. All methods run on the frontend's event loop."""

    def __init__(self, lease_s: float = 10.0) -> None:
        self.lease_s = lease_s
        self.queues: dict[str, deque[SimRequest]] = {q: deque() for q in QUEUES}
        self._nonempty: dict[str, asyncio.Event] = {q: asyncio.Event() for q in QUEUES}
        self.inflight: dict[int, SimRequest] = {}
        self.workers: dict[str, WorkerLease] = {}
        self.requests_in = 0
        self.succeeded = 0
        self.failed = 0
        self.failed_reasons: Counter[str] = Counter()
        self.handed_back = 0
        self.awaiting_first_token = 0
        self._next_id = 1

    # --- counts ----------------------------------------------------------------------------------

    @property
    def completed(self) -> int:
        """Requests finished, successfully or not (``succeeded + failed``)."""
        return self.succeeded + self.failed

    @property
    def in_flight(self) -> int:
        """Requests in the graph: queued or held by a worker."""
        return len(self.inflight)

    def queued(self, queue: str) -> int:
        """Requests waiting in ``queue``."""
        return len(self.queues[queue])

    def held(self) -> int:
        """Requests held by workers."""
        return sum(len(w.held) for w in self.workers.values())

    def conserved(self) -> bool:
        """``requests_in == succeeded + failed + in_flight``, and every in-flight request is in one place."""
        placed = sum(len(q) for q in self.queues.values()) + self.held()
        return self.requests_in == self.succeeded + self.failed + self.in_flight and placed == self.in_flight

    def drained(self) -> bool:
        """Nothing in flight and every request that arrived completed or failed."""
        return self.in_flight == 0 and self.requests_in == self.succeeded + self.failed

    # --- requests in -----------------------------------------------------------------------------

    def submit(self, input_tokens: int, output_tokens: int, now: float) -> SimRequest:
        """A new request joins the prefill queue."""
        request = SimRequest(self._next_id, input_tokens, output_tokens, now)
        self._next_id += 1
        self.requests_in += 1
        self.awaiting_first_token += 1
        self.inflight[request.id] = request
        self._enqueue(request)
        return request

    def _enqueue(self, request: SimRequest, front: bool = False) -> None:
        request.holder = None
        queue = self.queues[request.stage]
        if front:
            queue.appendleft(request)
        else:
            queue.append(request)
        self._nonempty[request.stage].set()

    # --- workers ---------------------------------------------------------------------------------

    def touch(self, worker_id: str, role: str) -> WorkerLease:
        """Register or refresh a worker's lease."""
        if role not in ROLE_QUEUE:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLE_QUEUE)}")
        lease = self.workers.get(worker_id)
        if lease is None:
            lease = self.workers[worker_id] = WorkerLease(worker_id, role, time.monotonic())
        lease.last_seen = time.monotonic()
        return lease

    async def pull(self, worker_id: str, role: str, want: int, wait_s: float) -> list[SimRequest]:
        """Up to ``want`` requests from the role's queue, waiting up to ``wait_s`` real seconds for one."""
        self.touch(worker_id, role)
        queue_name = ROLE_QUEUE[role]
        queue = self.queues[queue_name]
        if want > 0 and not queue and wait_s > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._nonempty[queue_name].wait(), wait_s)
        return self.take(worker_id, role, want)

    def take(self, worker_id: str, role: str, want: int) -> list[SimRequest]:
        """Up to ``want`` requests from the head of the role's queue, now (a pull that does not wait).

        Re-registers a worker whose lease expired meanwhile. The virtual graph (:mod:`.virtual`) calls
        this directly; the frontend's long poll calls it through :meth:`pull`.
        """
        lease = self.workers.get(worker_id)
        if lease is None:
            lease = self.touch(worker_id, role)
        queue_name = ROLE_QUEUE[role]
        queue = self.queues[queue_name]
        taken: list[SimRequest] = []
        while queue and len(taken) < want:
            request = queue.popleft()
            request.holder = worker_id
            lease.held[request.id] = request
            taken.append(request)
        if not queue:
            self._nonempty[queue_name].clear()
        lease.last_seen = time.monotonic()
        return taken

    def first_tokens(self, worker_id: str, ids: list[int], now: float) -> list[SimRequest]:
        """Requests whose first token a worker produced; a prefill worker's go on to the decode queue.

        Returns the requests whose first token this is (for TTFT), ignoring ids the worker does not hold.
        """
        lease = self.workers.get(worker_id)
        if lease is None:
            return []
        firsts: list[SimRequest] = []
        for request_id in ids:
            request = lease.held.get(request_id)
            if request is None:
                continue
            if request.first_token_at is None:
                request.first_token_at = now
                self.awaiting_first_token -= 1
                firsts.append(request)
                lease.last_ttft_s = now - request.arrived_at
            if lease.role == "prefill":
                del lease.held[request_id]
                request.stage = "decode"
                self._enqueue(request)
        return firsts

    def complete(
        self,
        worker_id: str,
        request_id: int,
        now: float,
        ok: bool,
        itl_mean_s: float | None,
        error: str | None = None,
    ) -> Completion | None:
        """A request finished on a worker (``error``: why it failed); None when that worker does not hold it."""
        lease = self.workers.get(worker_id)
        request = lease.held.pop(request_id, None) if lease else None
        if request is None:
            return None
        self._finish(request, None if ok else (error or "worker error"))
        return Completion(request, now - request.arrived_at, ok, itl_mean_s)

    def _finish(self, request: SimRequest, failure: str | None) -> None:
        """Take ``request`` (no longer queued or held) out of the graph as a success or a failure."""
        del self.inflight[request.id]
        if request.first_token_at is None:
            self.awaiting_first_token -= 1
        if failure is None:
            self.succeeded += 1
        else:
            self.failed += 1
            self.failed_reasons[failure] += 1

    def hand_back(self, worker_id: str, ids: list[int] | None = None) -> int:
        """Return a worker's requests (all when ``ids`` is None) to the head of their queues."""
        lease = self.workers.get(worker_id)
        if lease is None:
            return 0
        chosen = list(lease.held) if ids is None else [i for i in ids if i in lease.held]
        for request_id in reversed(chosen):  # keep their order at the head of the queue
            request = lease.held.pop(request_id)
            request.handbacks += 1
            self._enqueue(request, front=True)
        self.handed_back += len(chosen)
        return len(chosen)

    def leave(self, worker_id: str) -> int:
        """A worker stops: hand back what it still holds and forget it."""
        count = self.hand_back(worker_id)
        self.workers.pop(worker_id, None)
        return count

    def expire(self) -> list[str]:
        """Forget workers not seen for ``lease_s`` seconds, handing their requests back.

        A request lost this way for the :data:`MAX_LOSSES`-th time fails with :data:`LOST_REASON`.
        """
        deadline = time.monotonic() - self.lease_s
        gone = [w for w, lease in self.workers.items() if lease.last_seen < deadline]
        for worker_id in gone:
            lease = self.workers[worker_id]
            for request in list(lease.held.values()):
                request.losses += 1
                if request.losses >= MAX_LOSSES:
                    del lease.held[request.id]
                    self._finish(request, LOST_REASON)
            self.leave(worker_id)
        return gone

    def stats(self) -> dict[str, Any]:
        """The conservation figures and where requests are, for tests and the CLI."""
        return {
            "requests_in": self.requests_in,
            "completed": self.completed,  # finished: succeeded + failed
            "succeeded": self.succeeded,
            "failed": self.failed,
            "failed_reasons": dict(sorted(self.failed_reasons.items())),
            "in_flight": self.in_flight,
            "queued": {q: len(self.queues[q]) for q in QUEUES},
            "held": self.held(),
            "awaiting_first_token": self.awaiting_first_token,
            "handed_back": self.handed_back,
            "conserved": self.conserved(),
            "drained": self.drained(),
            "workers": {
                w: {"name": lease.name, "role": lease.role, "held": len(lease.held)}
                for w, lease in sorted(self.workers.items())
            },
        }

    def stuck(self, limit: int = 20) -> list[dict[str, Any]]:
        """Up to ``limit`` in-flight requests, oldest first: where each is (for a failed drain check)."""
        oldest = sorted(self.inflight.values(), key=lambda r: r.id)[:limit]
        return [
            {"id": r.id, "stage": r.stage, "holder": r.holder, "handbacks": r.handbacks, "losses": r.losses}
            for r in oldest
        ]
