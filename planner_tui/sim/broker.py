"""The frontend's request book: the prefill and decode queues, which worker holds what, and leases.

Workers pull work (a long poll), report first tokens and completions, and hand work back when they stop.
Every request is in exactly one place (a queue, or held by one worker) until it completes, so
``requests_in == completed + in_flight`` holds at every instant. A worker that stops calling for
``lease_s`` seconds (killed, hung) loses its requests back to the head of their queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

QUEUES = ("prefill", "decode")
ROLE_QUEUE = {"prefill": "prefill", "worker": "prefill", "decode": "decode"}


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
        self.completed = 0
        self.failed = 0
        self.handed_back = 0
        self.awaiting_first_token = 0
        self._next_id = 1

    # --- counts ----------------------------------------------------------------------------------

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
        """``requests_in == completed + in_flight``, and every in-flight request is in one place."""
        placed = sum(len(q) for q in self.queues.values()) + self.held()
        return self.requests_in == self.completed + self.in_flight and placed == self.in_flight

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
        lease = self.touch(worker_id, role)
        queue_name = ROLE_QUEUE[role]
        queue = self.queues[queue_name]
        if want > 0 and not queue and wait_s > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._nonempty[queue_name].wait(), wait_s)
        if self.workers.get(worker_id) is not lease:
            lease = self.touch(worker_id, role)  # expired while waiting: re-register
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
        self, worker_id: str, request_id: int, now: float, ok: bool, itl_mean_s: float | None
    ) -> Completion | None:
        """A request finished on a worker; None when that worker does not hold it (a stale report)."""
        lease = self.workers.get(worker_id)
        request = lease.held.pop(request_id, None) if lease else None
        if request is None:
            return None
        del self.inflight[request_id]
        if request.first_token_at is None:
            self.awaiting_first_token -= 1
        self.completed += 1
        if not ok:
            self.failed += 1
        return Completion(request, now - request.arrived_at, ok, itl_mean_s)

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
        """Forget workers not seen for ``lease_s`` seconds, handing their requests back."""
        deadline = time.monotonic() - self.lease_s
        gone = [w for w, lease in self.workers.items() if lease.last_seen < deadline]
        for worker_id in gone:
            self.leave(worker_id)
        return gone

    def stats(self) -> dict[str, Any]:
        """The conservation figures and where requests are, for tests and the CLI."""
        return {
            "requests_in": self.requests_in,
            "completed": self.completed,
            "failed": self.failed,
            "in_flight": self.in_flight,
            "queued": {q: len(self.queues[q]) for q in QUEUES},
            "held": self.held(),
            "awaiting_first_token": self.awaiting_first_token,
            "handed_back": self.handed_back,
            "conserved": self.conserved(),
            "workers": {w: {"role": lease.role, "held": len(lease.held)} for w, lease in sorted(self.workers.items())},
        }
