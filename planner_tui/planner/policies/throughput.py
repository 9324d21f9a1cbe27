"""The throughput (SLA) policy: predicted demand divided by per-replica capacity.

Every tick it reads the graph's request rate, ISL and OSL (from the frontend, else the component
itself), predicts the next interval with the configured predictor, and computes the token demand a
component must serve: prefill ``rate x ISL``, decode ``rate x OSL``, an aggregated worker both.

The demand is the rate requests *arrive* at. A frontend counts a request in
``dynamo_frontend_requests_total`` when it finishes (Dynamo's frontend increments the counter when the
request's in-flight guard is dropped, with its final status), so that rate is what the graph serves,
not what it is asked: under-provisioned, it stays at the graph's present capacity and a policy sizing
on it never scales up. Requests in flight are the difference (arrivals = completions + growth of the
in-flight gauge), so the policy adds the growth of the same source's in-flight requests
(``dynamo_frontend_inflight_requests``) since its previous tick.
Capacity per replica comes from the profile file (tokens/s at the TTFT/ITL target, by sequence
length) or, without one, is measured online: the highest per-replica throughput seen while the
latency target was met, lowered when it is missed. ``replicas = ceil(demand / capacity)``.
"""

from __future__ import annotations

import math
from types import MappingProxyType

from planner_tui.model.decisions import Verdict
from planner_tui.model.signals import Signal, SignalValue
from planner_tui.planner.inputs import ComponentSignals, Reading
from planner_tui.planner.policies.base import PolicyContext, Recommendation, hold, verdict_for
from planner_tui.planner.predictors import kalman_step, predict
from planner_tui.planner.state import PolicyMemory

#: capacity is lowered to this fraction of the observed throughput when the latency target is missed
SLA_MISS_FACTOR = 0.9


def _demand_reading(ctx: PolicyContext, signal: Signal) -> Reading | None:
    sources: tuple[ComponentSignals, ...] = (*ctx.frontends, ctx.signals)
    for source in sources:
        reading = source.read(signal)
        if reading is not None:
            return reading
    return None


def _arrival_rate(ctx: PolicyContext, rate: Reading, memory: PolicyMemory) -> tuple[float, PolicyMemory, str]:
    """Requests/s arriving: the finished rate plus the growth of requests in flight since the last tick.

    The in-flight count is read from the source the rate came from (the frontend, else the component);
    without it, or on the first tick, the finished rate alone. Returns the rate, the memory with this
    tick's in-flight count, and a note for the reason line (`` (arriving 15.20: 6.60 finished +8.60 in
    flight)``, empty when the count did not move).
    """
    sources: tuple[ComponentSignals, ...] = (*ctx.frontends, ctx.signals)
    inflight = None
    for source in sources:
        if source.read(Signal.REQUEST_RATE) is not None:
            inflight = source.read(Signal.INFLIGHT)
            break
    if inflight is None:
        return rate.total, memory, ""
    previous = memory.series("inflight")
    memory = memory.with_point("inflight", ctx.now, inflight.total, 2)
    if not previous or ctx.now <= previous[-1][0]:
        return rate.total, memory, ""
    growth = (inflight.total - previous[-1][1]) / (ctx.now - previous[-1][0])
    arrived = max(0.0, rate.total + growth)
    note = (
        f" (arriving {arrived:.2f}: {rate.total:.2f} finished {growth:+.2f} in flight)" if abs(growth) >= 0.005 else ""
    )
    return arrived, memory, note


def _kind(ctx: PolicyContext) -> str:
    sub_type = ctx.state.spec.sub_component_type or ctx.config.effective_sub_component_type
    if sub_type in ("prefill", "decode"):
        return sub_type
    return "worker"


def recommend_throughput(ctx: PolicyContext) -> Recommendation:
    """``ceil(predicted token demand / per-replica capacity)``."""
    s = ctx.settings
    rate = _demand_reading(ctx, Signal.REQUEST_RATE)
    isl = _demand_reading(ctx, Signal.ISL)
    osl = _demand_reading(ctx, Signal.OSL)
    if rate is None or isl is None or osl is None:
        missing = [n for n, r in (("request rate", rate), ("ISL", isl), ("OSL", osl)) if r is None]
        return hold(ctx, Verdict.INSUFFICIENT_DATA, "no fresh " + ", ".join(missing) + " data")
    inputs: tuple[SignalValue, ...] = rate.inputs + isl.inputs + osl.inputs
    arrived, memory, arrival_note = _arrival_rate(ctx, rate, ctx.memory)
    kalman = dict(memory.kalman)
    predicted: dict[str, float] = {}
    observed = {"request_rate": arrived, "isl": isl.mean, "osl": osl.mean}
    for name, value in observed.items():
        memory = memory.with_point(name, ctx.now, value, max(s.prediction_window, 2))
        kalman[name] = kalman_step(kalman.get(name), value)
        values = [v for _, v in memory.series(name)]
        predicted[name] = max(0.0, predict(s.predictor, values, s.prediction_window, kalman[name]))
    memory = memory.evolve(kalman=MappingProxyType(kalman))

    kind = _kind(ctx)
    tokens_per_request = {"prefill": "isl", "decode": "osl"}.get(kind)
    p_tokens = predicted["isl"] + predicted["osl"] if tokens_per_request is None else predicted[tokens_per_request]
    o_tokens = observed["isl"] + observed["osl"] if tokens_per_request is None else observed[tokens_per_request]
    demand = predicted["request_rate"] * p_tokens
    observed_demand = observed["request_rate"] * o_tokens

    capacity, source, memory, extra = _capacity(ctx, kind, predicted, observed_demand, memory)
    inputs += extra
    shown = (("request_rate", predicted["request_rate"]), ("isl", predicted["isl"]), ("osl", predicted["osl"]))
    if capacity is None:
        return hold(ctx, Verdict.INSUFFICIENT_DATA, source, memory=memory, inputs=inputs, predicted=shown)
    desired = math.ceil(demand / capacity - 1e-9)
    clause = (
        f"predicted {predicted['request_rate']:.2f} req/s{arrival_note} x {p_tokens:.0f} tokens = {demand:.0f} tok/s "
        f"/ {capacity:.0f} tok/s per replica ({source}) -> {desired}"
    )
    return Recommendation(
        desired=desired,
        verdict=verdict_for(desired, ctx.current),
        clause=clause,
        memory=memory,
        inputs=inputs,
        load=observed_demand / max(ctx.signals.live, 1),
        predicted=(*shown, ("replicas", float(desired))),
    )


def _capacity(
    ctx: PolicyContext, kind: str, predicted: dict[str, float], observed_demand: float, memory: PolicyMemory
) -> tuple[float | None, str, PolicyMemory, tuple[SignalValue, ...]]:
    """Per-replica tokens/s: from the profile, else measured online against the latency target."""
    s = ctx.settings
    curve = ctx.profile.curve_for(ctx.name, kind, ctx.config.role.value) if ctx.profile else None
    if curve is not None:
        length = predicted["isl"] if curve.axis == "isl" else predicted["isl"] + predicted["osl"] / 2
        return curve.capacity(length), _profile_source(ctx, curve.axis, length), memory, ()
    latency_signal, target_s = (
        (Signal.TTFT_P95, s.ttft_target_ms / 1000) if kind == "prefill" else (Signal.ITL_P95, s.itl_target_ms / 1000)
    )
    latency = ctx.signals.read(latency_signal) or _demand_reading(ctx, latency_signal)
    known = memory.capacity.get("tokens_per_s")
    ready = ctx.signals.ready
    if latency is None or ready == 0 or observed_demand <= 0:
        if known is not None:
            return known, "measured online", memory, ()
        return None, f"no capacity profile and no {latency_signal.value} data to measure capacity online", memory, ()
    per_replica = observed_demand / ready
    met = latency.mean <= target_s
    if met:
        capacity = per_replica if known is None else max(known, per_replica)
    else:
        capacity = per_replica * SLA_MISS_FACTOR if known is None else min(known, per_replica * SLA_MISS_FACTOR)
    caps = dict(memory.capacity)
    caps["tokens_per_s"] = capacity
    memory = memory.evolve(capacity=MappingProxyType(caps))
    verdict = "met" if met else "missed"
    source = f"measured online, {latency_signal.value} {latency.mean * 1000:.0f} ms {verdict}"
    return capacity, source, memory, latency.inputs


def _profile_source(ctx: PolicyContext, axis: str, length: float) -> str:
    """Where a profiled capacity comes from: ``profile at isl 512, measured at TTFT 500 ms``."""
    source = f"profile at {axis} {length:.0f}"
    meta = ctx.profile.meta if ctx.profile else None
    if meta is not None:
        target = meta.target_for(axis)
        if target:
            source += f", measured at {target}"
        if meta.partial:
            source += ", PARTIAL profile"
    return source
