"""Cumulative samples of a running load, the measurement of the window between two, and steadiness.

A load driver (:mod:`.sim_load`, :mod:`.openai_load`) reports cumulative counts at an instant on its
own clock (:class:`Sample`), with the servers' cumulative metrics (:class:`~.scrape.ServerSample`).
:func:`measure` turns two samples into rates, tokens/s and latency distributions, and cross-checks what
the client counted against what the servers say; :func:`steadiness` decides whether the last windows
agree closely enough to call the load level steady, and whether the backlog grows (overload).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from planner_tui.metrics.rates import HistogramPoint
from planner_tui.profiling.records import CrossCheck, Latency, Phase
from planner_tui.profiling.scrape import ServerSample

#: a client figure and a server figure agree within this fraction (plus an absolute slack for latencies)
AGREEMENT = 0.25
LATENCY_SLACK_S = 0.005


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the load client saw it (seconds on the client's clock)."""

    ttft_s: float
    itl_s: float | None  # mean gap between output tokens after the first (None with one token)
    prompt_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class Sample:
    """Cumulative counts of a load at time ``t`` (the driver's clock)."""

    t: float
    sent: float  # requests sent (closed loop) or generated (open loop)
    first_tokens: float  # requests that got their first token
    completed: float  # requests finished successfully
    failed: float
    in_flight: float  # requests not finished now
    awaiting_first: float  # of those, waiting for their first token
    prompt_tokens: float  # prompt tokens of the requests that got their first token
    output_tokens: float  # output tokens of the requests finished successfully
    client_done: int | None  # how many client records (per-request latencies) existed, None without any
    server: ServerSample


@dataclass(frozen=True, slots=True)
class Window:
    """What happened between two samples."""

    duration_s: float
    arrival_rps: float
    done_rps: float  # the phase's completions: first tokens (prefill) or finished requests (decode)
    tokens_per_s: float  # the phase's tokens: prompt (prefill), output (decode)
    backlog_start: float  # the phase's backlog: awaiting a first token (prefill) or in flight (decode)
    backlog_end: float
    concurrency: float  # mean requests in flight
    latency: Latency
    latency_source: str
    ttft: dict[str, Latency]
    itl: dict[str, Latency]
    checks: tuple[CrossCheck, ...]
    failed: float


def _histogram_latency(new: HistogramPoint | None, old: HistogramPoint | None) -> Latency | None:
    if new is None:
        return None
    delta = new.minus(old) if old is not None else new
    if delta.count <= 0:
        return None
    return Latency(delta.quantile(0.5), delta.quantile(0.95), delta.mean(), delta.count)


def _agree(a: float | None, b: float | None, slack: float = 0.0) -> bool | None:
    if a is None or b is None:
        return None
    return abs(a - b) <= AGREEMENT * max(abs(a), abs(b)) + slack


def measure(
    start: Sample,
    end: Sample,
    phase: Phase,
    records: Sequence[RequestRecord] = (),
    workers: Sequence[str] = (),
) -> Window:
    """The window from ``start`` to ``end``: rates on the driver's clock, latencies, cross-checks.

    ``records`` are the client's finished requests (indexed by :attr:`Sample.client_done`); ``workers``
    the measured components whose own histograms are read (their ``vllm:*`` latencies).
    """
    dt = max(end.t - start.t, 1e-9)
    a, b = start.server, end.server
    ttft: dict[str, Latency] = {}
    itl: dict[str, Latency] = {}
    client_records: Sequence[RequestRecord] = ()
    if start.client_done is not None and end.client_done is not None:
        client_records = records[start.client_done : end.client_done]
        if client_records:
            ttft["client"] = Latency.of_values([r.ttft_s for r in client_records])
            gaps = [r.itl_s for r in client_records if r.itl_s is not None]
            if gaps:
                itl["client"] = Latency.of_values(gaps)
    for source, new, old, into in (
        ("frontend", b.frontend_ttft, a.frontend_ttft, ttft),
        ("frontend", b.frontend_itl, a.frontend_itl, itl),
    ):
        latency = _histogram_latency(new, old)
        if latency is not None:
            into[source] = latency
    for name in workers:
        for newer, older, into in ((b.worker_ttft, a.worker_ttft, ttft), (b.worker_itl, a.worker_itl, itl)):
            latency = _histogram_latency(newer.get(name), older.get(name))
            if latency is not None:
                into[name] = latency

    latencies = ttft if phase is Phase.PREFILL else itl
    source = "client" if "client" in latencies else "frontend"
    latency = latencies.get(source, Latency())
    if phase is Phase.PREFILL:
        done = end.first_tokens - start.first_tokens
        tokens = end.prompt_tokens - start.prompt_tokens
        backlog = (start.awaiting_first, end.awaiting_first)
    else:
        done = end.completed - start.completed
        tokens = end.output_tokens - start.output_tokens
        backlog = (start.in_flight, end.in_flight)
    checks = _cross_checks(start, end, dt, ttft, itl, workers)
    return Window(
        duration_s=dt,
        arrival_rps=(end.sent - start.sent) / dt,
        done_rps=done / dt,
        tokens_per_s=tokens / dt,
        backlog_start=backlog[0],
        backlog_end=backlog[1],
        concurrency=(start.in_flight + end.in_flight) / 2,
        latency=latency,
        latency_source=source,
        ttft=ttft,
        itl=itl,
        checks=checks,
        failed=end.failed - start.failed,
    )


def _cross_checks(
    start: Sample, end: Sample, dt: float, ttft: dict[str, Latency], itl: dict[str, Latency], workers: Sequence[str]
) -> tuple[CrossCheck, ...]:
    """The client's figures against the frontend's and the workers' own metrics."""
    checks: list[CrossCheck] = []
    client_rate = (end.completed - start.completed) / dt
    a, b = start.server.frontend_requests, end.server.frontend_requests
    server_rate = None if a is None or b is None else max(0.0, b - a) / dt
    # counts at two instants a few ms apart: a window edge can move one request either way
    edge = 2.0 / dt
    checks.append(
        CrossCheck("request rate", client_rate, server_rate, "frontend", _agree(client_rate, server_rate, edge))
    )
    for what, table in (("TTFT mean", ttft), ("ITL mean", itl)):
        client = table.get("client")
        frontend = table.get("frontend")
        if client is not None or frontend is not None:
            c = client.mean if client else None
            f = frontend.mean if frontend else None
            checks.append(CrossCheck(what, c, f, "frontend", _agree(c, f, LATENCY_SLACK_S)))
    reference_itl = itl.get("client") or itl.get("frontend")
    for name in workers:
        worker_itl = itl.get(name)
        if worker_itl is not None and reference_itl is not None:
            ref, own = reference_itl.mean, worker_itl.mean
            checks.append(CrossCheck("ITL mean", ref, own, f"{name} worker", _agree(ref, own, LATENCY_SLACK_S)))
        worker_ttft = ttft.get(name)
        reference_ttft = ttft.get("client") or ttft.get("frontend")
        if worker_ttft is not None and reference_ttft is not None:
            ref, own = reference_ttft.mean, worker_ttft.mean
            # the worker's TTFT starts when it receives the request: it can only be shorter
            consistent = None if ref is None or own is None else own <= ref * (1 + AGREEMENT) + LATENCY_SLACK_S
            checks.append(
                CrossCheck(
                    "TTFT mean",
                    ref,
                    own,
                    f"{name} worker",
                    consistent,
                    "the worker's own TTFT excludes the frontend's queue",
                )
            )
    return tuple(checks)


@dataclass(frozen=True, slots=True)
class Steadiness:
    """Whether the last windows agree (steady) and whether the backlog keeps growing (overloaded)."""

    steady: bool
    overloaded: bool
    spread: float  # (max - min) / mean of the windows' throughput


def steadiness(windows: Sequence[Window], tolerance: float) -> Steadiness:
    """Judge the last windows (at least 3): throughput within ``tolerance`` of each other, backlog flat.

    Overloaded: the phase's completions trail the arrivals by more than 8 % over the windows and its
    backlog grew across them (an open-loop load above capacity); a closed loop never is.
    """
    if len(windows) < 3:
        return Steadiness(False, False, float("inf"))
    rates = [w.tokens_per_s for w in windows]
    mean = sum(rates) / len(rates)
    spread = (max(rates) - min(rates)) / mean if mean > 0 else float("inf")
    arrivals = sum(w.arrival_rps * w.duration_s for w in windows)
    done = sum(w.done_rps * w.duration_s for w in windows)
    growth = windows[-1].backlog_end - windows[0].backlog_start
    overloaded = arrivals > 0 and done < 0.92 * arrivals and growth > max(2.0, 0.05 * arrivals)
    return Steadiness(spread <= tolerance and not overloaded, overloaded, spread)
