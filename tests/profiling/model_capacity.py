"""The perf model's own capacity at a latency target: the sim's engine run in-process, without processes or HTTP.

An independent oracle for the profiler's measurement. It drives :class:`planner_tui.sim.perf_model.Engine`
(what every simulated worker runs) with Poisson arrivals of fixed-size requests on a simulated clock, as
the worker does (the engine takes work up to its ``prefetch``; the rest waits in a FIFO queue, like the
frontend's), and measures what the frontend measures: TTFT from arrival to the first token (prefill),
the mean inter-token latency of each request (decode). :func:`capacity_at_target` bisects the arrival
rate for the highest load whose p95 stays within the target without the queue growing, and returns the
tokens/s served there; when the latency stays within the target even with the engine saturated (decode
bounded by its KV cache), the saturated throughput.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

from planner_tui.sim.perf_model import Engine, EngineRole, PerfParams, Sequence


@dataclass(frozen=True)
class Run:
    """One rate: tokens/s served, the p95 latency, and whether the queue kept growing."""

    rate: float | None  # None: saturated (a backlog that never empties)
    tokens_per_s: float
    p95_s: float
    overloaded: bool


def run(
    role: EngineRole, params: PerfParams, isl: int, osl: int, rate: float | None, seconds: float, seed: int = 1
) -> Run:
    """``seconds`` of Poisson arrivals at ``rate`` on one engine (the first fifth is warm-up, not measured).

    ``rate=None``: a backlog that never empties (the engine saturated).
    """
    rng = random.Random(seed)
    engine = Engine(role, params, random.Random(seed + 1))
    queue: deque[Sequence] = deque()
    now = 0.0
    next_arrival = rng.expovariate(rate) if rate else math.inf
    step_end: float | None = None
    warmup = seconds / 5
    latencies: list[float] = []
    tokens = 0.0
    ident = 0
    arrived_measured = 0
    done_measured = 0
    while now < seconds:
        if rate is None:
            while len(queue) < 2 * params.max_num_seqs + params.prefetch:
                ident += 1
                queue.append(Sequence(ident, isl, osl, now, generated=1 if role is EngineRole.DECODE else 0))
        while queue and engine.wants():
            engine.add(queue.popleft())
        if step_end is None:
            duration = engine.begin_step()
            if duration is not None:
                step_end = now + duration
        if step_end is not None and step_end <= next_arrival:
            now = step_end
            step_end = None
            result = engine.finish_step(now)
            if role is EngineRole.PREFILL:
                for seq in result.first_tokens:
                    if now >= warmup:
                        latencies.append(now - seq.received_at)
                        tokens += seq.input_tokens
                        done_measured += 1
            else:
                for seq in result.finished:
                    if now >= warmup and seq.error is None:
                        if seq.itl_count:
                            latencies.append(seq.itl_sum / seq.itl_count)
                        tokens += seq.output_tokens  # as the throughput policy counts decode demand: rate x OSL
                        done_measured += 1
            continue
        if step_end is None and math.isinf(next_arrival):
            break  # nothing to do and nothing to come
        now = next_arrival
        next_arrival = now + rng.expovariate(rate) if rate else math.inf
        ident += 1
        generated = 1 if role is EngineRole.DECODE else 0
        queue.append(Sequence(ident, isl, osl, now, generated=generated))
        if now >= warmup:
            arrived_measured += 1
    span = seconds - warmup
    latencies.sort()
    p95 = latencies[max(0, math.ceil(0.95 * len(latencies)) - 1)] if latencies else math.inf
    overloaded = rate is None or done_measured < 0.92 * arrived_measured
    return Run(rate, tokens / span, p95, overloaded)


def saturated(role: EngineRole, params: PerfParams, isl: int, osl: int, seconds: float) -> Run:
    """The engine with a backlog that never empties: its highest throughput."""
    return run(role, params, isl, osl, rate=None, seconds=seconds)


def capacity_at_target(
    role: EngineRole, params: PerfParams, isl: int, osl: int, target_s: float, seconds: float = 600.0
) -> float:
    """Tokens/s one engine serves with the p95 latency within ``target_s`` (see the module docstring)."""
    full = saturated(role, params, isl, osl, seconds / 4)
    if full.p95_s <= target_s:
        return full.tokens_per_s
    tokens_per_request = isl if role is EngineRole.PREFILL else osl
    low, high = 0.0, full.tokens_per_s / tokens_per_request
    for _ in range(14):
        mid = (low + high) / 2
        measured = run(role, params, isl, osl, mid, seconds)
        if measured.p95_s <= target_s and not measured.overloaded:
            low = mid
        else:
            high = mid
    return low * tokens_per_request
