"""The load policy: upstream Dynamo's load-based rules for prefill and decode workers.

- prefill: queue per worker, from the prefill workers' own signals only (their queue depth, else their
  waiting requests), as upstream does; scale down below ``prefill_queue_scale_down`` (0.2), up above
  ``prefill_queue_scale_up`` (5.0) only if the linear trend ``prefill_trend_intervals`` (3) intervals
  ahead stays above it. The frontend's ``dynamo_frontend_queued_requests`` is not used: it counts every
  request waiting for its first token, which under load wait for decode KV as much as for prefill
  (prefill scaled to its maximum with every prefill queue at 0 while decode had 10 waiting);
- decode (and aggregated workers): KV load per worker = KV usage + ``decode_waiting_weight`` (0.02)
  per waiting request; down below 0.5, up above 0.9; no decode scale-down for
  ``decode_scale_down_grace_intervals`` (3) intervals after a decode scale-up; with
  ``decode_scale_up_any_replica_kv`` set (not upstream), also up when one ready replica's KV load
  passes it (the reason names the replica), and no scale-down while one does;
- at most ``max_step`` (1) per interval; no change while the worker count is moving.

Better than upstream: per-worker loads count only ready replicas' samples and divide by the live
replicas, so replicas still starting count as capacity coming (no cold-start over-scaling), and
the naive figure is kept so the record shows what cold-start awareness prevented. Each reason ends
with the series the figure came from (``[vllm:num_requests_waiting]``), from the inputs' sources.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import NamedTuple

from planner_tui.model.decisions import Verdict
from planner_tui.model.signals import Signal, SignalValue
from planner_tui.model.text import plural
from planner_tui.planner.inputs import Reading
from planner_tui.planner.policies.base import PolicyContext, Recommendation, hold
from planner_tui.planner.predictors import extrapolate
from planner_tui.planner.state import PolicyMemory

LOAD_SERIES = "load"
KEEP_POINTS = 12


def _stale_note(ctx: PolicyContext) -> str:
    stale = ctx.signals.stale_inputs
    if not stale:
        return ""
    oldest = max(v.age(ctx.now) for v in stale)
    return f" ({len(stale)} stale value{'s' if len(stale) != 1 else ''}, oldest {oldest:.0f} s)"


def _figure(value: float, threshold: float) -> str:
    """``value`` with two decimals, or three when two would print it equal to ``threshold`` (0.499 vs 0.50)."""
    text = f"{value:.2f}"
    return f"{value:.3f}" if text == f"{threshold:.2f}" and value != threshold else text


def recommend_load(ctx: PolicyContext) -> Recommendation:
    """Prefill queue rule for prefill components; KV load rule for decode and aggregated workers."""
    sub_type = ctx.state.spec.sub_component_type or ctx.config.effective_sub_component_type
    if sub_type == "prefill":
        return _prefill(ctx)
    if sub_type == "decode" or ctx.config.role.value == "worker":
        return _decode(ctx)
    # Any other component under the load policy: KV load when it reports KV usage, else its queue.
    if ctx.signals.read(Signal.KV_USAGE) is not None:
        return _decode(ctx)
    return _prefill(ctx)


def _remember(ctx: PolicyContext, value: float, low: float, high: float) -> tuple[PolicyMemory, int, int]:
    """The memory with ``value`` added to the load series and the above/below streaks counted."""
    memory = ctx.memory
    above = memory.above + 1 if value > high else 0
    below = memory.below + 1 if value < low else 0
    remembered = memory.loads
    loads = dict(remembered)
    loads[LOAD_SERIES] = (*remembered.get(LOAD_SERIES, ()), (ctx.now, value))[-KEEP_POINTS:]
    return memory.evolve(loads=MappingProxyType(loads), above=above, below=below), above, below


class _Answer(NamedTuple):
    """What every answer of one tick shares (the memory, the inputs and the load figure)."""

    ctx: PolicyContext
    memory: PolicyMemory
    inputs: tuple[SignalValue, ...]
    load: float
    #: `` [metric]``: the series the figure came from, appended to every clause ("" when unknown)
    note: str = ""

    def hold(self, clause: str, verdict: Verdict = Verdict.NO_CHANGE) -> Recommendation:
        """Keep the current count, saying why."""
        return Recommendation(
            desired=self.ctx.current,
            verdict=verdict,
            clause=clause + self.note,
            memory=self.memory,
            inputs=self.inputs,
            load=self.load,
        )

    def scale(self, desired: int, verdict: Verdict, clause: str) -> Recommendation:
        """Go to ``desired`` replicas."""
        return Recommendation(
            desired=desired,
            verdict=verdict,
            clause=clause + self.note,
            memory=self.memory,
            inputs=self.inputs,
            load=self.load,
        )


def _series_note(inputs: tuple[SignalValue, ...]) -> str:
    """`` [vllm:kv_cache_usage_perc, vllm:num_requests_waiting]``: the series the inputs were read from.

    A source is ``"<source>: <series>"`` (``scrape: vllm:num_requests_waiting``); the series are named
    once each, in input order. Empty when no input names its series (a source that does not say).
    """
    names: dict[str, None] = {}
    for value in inputs:
        for part in (value.source or "").split("; "):
            _, sep, series = part.partition(": ")
            if sep and series:
                names[series] = None
    return f" [{', '.join(names)}]" if names else ""


def _moving_clause(ctx: PolicyContext, what: str) -> str:
    before = ctx.previous_count
    stopping = sum(1 for r in ctx.state.replicas if r.phase.value == "stopping")
    if stopping:
        return f"{plural(stopping, 'replica')} stopping; waiting before changing again ({what})"
    return f"replica count moving {before}->{ctx.current}; waiting one interval ({what})"


def _prefill(ctx: PolicyContext) -> Recommendation:
    s = ctx.settings
    low, high, step = s.prefill_queue_scale_down, s.prefill_queue_scale_up, s.max_step
    reading = _prefill_queue(ctx)
    if reading is None or (ctx.signals.ready == 0 and ctx.current > 0):
        why = "no ready replica yet" if reading is not None else "no fresh prefill queue data"
        return hold(ctx, Verdict.INSUFFICIENT_DATA, why + _stale_note(ctx), inputs=tuple(ctx.signals.stale_inputs))
    value = reading.per_live
    memory, above, below = _remember(ctx, value, low, high)
    answer = _Answer(ctx, memory, reading.inputs, value, _series_note(reading.inputs))
    figure = f"queue {value:.2f} per worker"
    if ctx.moving:
        return answer.hold(_moving_clause(ctx, figure), Verdict.SCALING_IN_PROGRESS)
    if value > high:
        clause = f"queue {_figure(value, high)} > {high:.2f} per worker for {plural(above, 'interval')}"
        if s.prefill_trend_intervals > 0:
            series = memory.series(LOAD_SERIES)
            ahead = ctx.now + s.prefill_trend_intervals * s.adjustment_interval_s
            trend = extrapolate(series, ahead)
            if trend <= high:
                return answer.hold(
                    f"queue {_figure(value, high)} > {high:.2f} but trend {trend:.2f} in "
                    f"{plural(s.prefill_trend_intervals, 'interval')}"
                )
            clause += f", trend {trend:.2f} in {plural(s.prefill_trend_intervals, 'interval')}"
        return answer.scale(ctx.current + step, Verdict.SCALE_UP, clause)
    if value < low:
        clause = f"queue {_figure(value, low)} < {low:.2f} per worker for {plural(below, 'interval')}"
        return _scale_down(answer, high, step, "queue", clause)
    rec = answer.hold(f"queue {value:.2f} per worker within {low:.2f}..{high:.2f}")
    return _cold_start(rec, reading, ctx, high, step, "queue")


def _decode(ctx: PolicyContext) -> Recommendation:
    s = ctx.settings
    low, high, step = s.decode_kv_scale_down, s.decode_kv_scale_up, s.max_step
    kv = ctx.signals.read(Signal.KV_USAGE)
    if kv is None or (ctx.signals.ready == 0 and ctx.current > 0):
        why = "no ready replica yet" if kv is not None else "no fresh KV usage data"
        return hold(ctx, Verdict.INSUFFICIENT_DATA, why + _stale_note(ctx), inputs=tuple(ctx.signals.stale_inputs))
    waiting = ctx.signals.read(Signal.WAITING)
    total = kv.total + s.decode_waiting_weight * (waiting.total if waiting is not None else 0.0)
    combined = Reading(Signal.KV_USAGE, total, total / max(kv.ready, 1), kv.ready, kv.live, kv.inputs)
    inputs = kv.inputs + (waiting.inputs if waiting is not None else ())
    value = combined.per_live
    memory, above, below = _remember(ctx, value, low, high)
    answer = _Answer(ctx, memory, inputs, value, _series_note(inputs))
    figure = f"KV load {value:.2f}"
    if ctx.moving:
        return answer.hold(_moving_clause(ctx, figure), Verdict.SCALING_IN_PROGRESS)
    if value > high:
        clause = f"KV load {_figure(value, high)} > {high:.2f} for {plural(above, 'interval')}"
        return answer.scale(ctx.current + step, Verdict.SCALE_UP, clause)
    any_high = s.decode_scale_up_any_replica_kv
    hottest = _hottest_replica(kv, waiting, s.decode_waiting_weight) if any_high is not None else None
    if any_high is not None and hottest is not None and hottest[1] > any_high:
        replica, load = hottest
        if value >= low:
            clause = (
                f"replica {replica} KV load {_figure(load, any_high)} > {any_high:.2f} "
                f"(decode_scale_up_any_replica_kv; mean {value:.2f})"
            )
            return answer.scale(ctx.current + step, Verdict.SCALE_UP, clause)
        return answer.hold(
            f"KV load {_figure(value, low)} < {low:.2f} but replica {replica} at {load:.2f} > {any_high:.2f}"
        )
    if value < low:
        grace_s = s.decode_scale_down_grace_intervals * s.adjustment_interval_s
        last_up = ctx.last_scale_up_at
        if last_up is not None and ctx.now - last_up < grace_s:
            clause = (
                f"KV load {_figure(value, low)} < {low:.2f} but scaled up {ctx.now - last_up:.0f} s ago "
                f"(no scale-down for {plural(s.decode_scale_down_grace_intervals, 'interval')})"
            )
            return answer.hold(clause)
        clause = f"KV load {_figure(value, low)} < {low:.2f} for {plural(below, 'interval')}"
        return _scale_down(answer, high, step, "KV load", clause)
    rec = answer.hold(f"KV load {value:.2f} within {low:.2f}..{high:.2f}")
    return _cold_start(rec, combined, ctx, high, step, "KV load")


def _hottest_replica(kv: Reading, waiting: Reading | None, weight: float) -> tuple[str, float] | None:
    """The ready replica with the largest KV load (KV usage + ``weight`` per waiting request) and that
    load; None when the KV usage came as a component aggregate (no per-replica values)."""
    loads = {v.replica: v.value for v in kv.inputs if v.replica is not None and v.value is not None}
    if not loads:
        return None
    for v in waiting.inputs if waiting is not None else ():
        if v.replica in loads and v.value is not None:
            loads[v.replica] += weight * v.value
    replica = max(loads, key=loads.__getitem__)
    return replica, loads[replica]


def _cold_start(
    rec: Recommendation,
    reading: Reading,
    ctx: PolicyContext,
    high: float,
    step: int,
    label: str,
) -> Recommendation:
    """When only the starting replicas keep the load under the threshold, say what they prevented."""
    starting = reading.live - reading.ready
    if starting <= 0:
        return rec
    per_ready = reading.per_ready
    if per_ready <= high:
        return rec
    return rec._replace(
        desired=ctx.current + step,
        with_capacity_coming=ctx.current,
        clause=rec.clause + f" ({label} {per_ready:.2f} per ready worker, {plural(starting, 'replica')} starting)",
    )


def _prefill_queue(ctx: PolicyContext) -> Reading | None:
    """The prefill queue: the prefill workers' own queue depth, else their waiting requests.

    Never the frontend's queued requests: that gauge cannot be attributed to prefill (see the
    module's docstring), so prefill scales on its own workers' signals, as upstream does.
    """
    return ctx.signals.first(Signal.QUEUE_DEPTH, Signal.WAITING)


def _scale_down(answer: _Answer, high: float, step: int, label: str, clause: str) -> Recommendation:
    """Scale down by ``step``, unless the remaining workers would be pushed near the scale-up threshold.

    With thresholds 0.5/0.9, two workers at 0.45 become one at 0.90: upstream would scale down and
    then straight back up. The projection (load x current / remaining) must stay ``headroom`` under it.
    """
    ctx, value = answer.ctx, answer.load
    headroom = ctx.settings.scale_down_headroom
    remaining = ctx.current - step
    if headroom is not None and remaining > 0:
        projected = value * ctx.current / remaining
        limit = high * (1.0 - headroom)
        if projected >= limit:
            held = (
                f"{label} {value:.2f} is low, but {remaining} worker{'s' if remaining != 1 else ''} would be at "
                f"{projected:.2f} (scale-down needs < {limit:.2f})"
            )
            return answer.hold(held)
    return answer.scale(ctx.current - step, Verdict.SCALE_DOWN, clause)
