"""The target (HPA-style) and throughput (SLA) policies, predictors and capacity profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner_tui.config import ConfigError, Predictor
from planner_tui.model import Signal, Verdict
from planner_tui.planner import EngineConfig, PlannerState, decide, plan
from planner_tui.planner.predictors import kalman_step, predict
from planner_tui.planner.profile import load_profile
from tests.planner.builders import component, graph_state, make_graph, snapshot

NOW = 5000.0


def test_target_policy_scales_the_frontend_on_inflight_requests() -> None:
    graph = make_graph(frontend={"policy": "target", "target_signal": "inflight", "target_value": 8, "max_replicas": 4})
    comps = graph_state(graph) | {"frontend": component(graph, "frontend", 2)}
    values = {("frontend", Signal.INFLIGHT): [20.0, 16.0]}  # 18 per replica vs 8
    dec = decide(snapshot(graph, NOW, comps, values), PlannerState(), graph, NOW).for_component("frontend")
    assert dec is not None and dec.policy == "target"
    assert dec.target == 4 and dec.desired == 5
    assert dec.reason == "frontend 2->4: inflight 18.00 per replica vs target 8: ceil(2 x 2.25) = 5; max_replicas 4"


def test_target_policy_tolerance_holds_near_the_target() -> None:
    graph = make_graph(frontend={"policy": "target", "target_signal": "inflight", "target_value": 8, "max_replicas": 4})
    values = {("frontend", Signal.INFLIGHT): [8.5]}
    dec = decide(snapshot(graph, NOW, graph_state(graph), values), PlannerState(), graph, NOW).for_component("frontend")
    assert dec is not None and dec.target == 1 and dec.verdict is Verdict.NO_CHANGE


PROFILE = """
[prefill]
isl = [100, 1000, 10000]
tokens_per_s = [5000, 10000, 10000]

[decode]
context_length = [100, 10000]
tokens_per_s = [1000, 1000]
"""


def throughput_graph(tmp_path: Path, predictor: str = "constant") -> EngineConfig:
    (tmp_path / "capacity.toml").write_text(PROFILE)
    graph = make_graph(planner={"policy": "throughput", "predictor": predictor})
    return EngineConfig.of(graph, load_profile(tmp_path / "capacity.toml"))


def demand(rate: float, isl: float, osl: float) -> dict[tuple[str, Signal], float]:
    return {("frontend", Signal.REQUEST_RATE): rate, ("frontend", Signal.ISL): isl, ("frontend", Signal.OSL): osl}


def test_throughput_policy_divides_demand_by_profiled_capacity(tmp_path: Path) -> None:
    cfg = throughput_graph(tmp_path)
    # prefill: 10 req/s x 1000 tokens = 10000 tok/s / 10000 per replica = 1; decode: 10 x 250 = 2500 / 1000 = 3
    snap = snapshot(cfg.graph, NOW, graph_state(cfg.graph), aggregates=demand(10, 1000, 250))
    decision = decide(snap, PlannerState(), cfg, NOW)
    prefill, decode = decision.for_component("prefill"), decision.for_component("decode")
    assert prefill is not None and decode is not None
    assert prefill.target == 1 and decode.target == 3
    assert decode.reason == (
        "decode 1->3: predicted 10.00 req/s x 250 tokens = 2500 tok/s / 1000 tok/s per replica "
        "(profile at context_length 1125) -> 3"
    )
    assert dict(decode.predicted)["request_rate"] == 10.0


def test_throughput_policy_sizes_for_requests_arriving_not_only_those_finishing(tmp_path: Path) -> None:
    """The frontend counts a request when it finishes: under-provisioned, its rate is the graph's present
    capacity. Requests piling up in flight are arrivals too, and the policy sizes for them."""
    cfg = throughput_graph(tmp_path)
    state = PlannerState()
    # 4 req/s finishing and 40 in flight, then 4 req/s finishing and 100 in flight 10 s later: 10 req/s arrive
    for at, inflight in ((NOW, 40.0), (NOW + 10, 100.0)):
        aggregates = demand(4, 1000, 250) | {("frontend", Signal.INFLIGHT): inflight}
        decision, state = plan(snapshot(cfg.graph, at, graph_state(cfg.graph), aggregates=aggregates), state, cfg, at)
    decode = decision.for_component("decode")
    assert decode is not None and decode.target == 3  # 10 req/s x 250 tokens / 1000 tok/s per replica
    assert decode.reason == (
        "decode 1->3: predicted 10.00 req/s (arriving 10.00: 4.00 finished +6.00 in flight) x 250 tokens = 2500 "
        "tok/s / 1000 tok/s per replica (profile at context_length 1125) -> 3"
    )


def test_throughput_policy_interpolates_the_profile(tmp_path: Path) -> None:
    cfg = throughput_graph(tmp_path)
    # ISL 550 -> 7500 tok/s per prefill replica; demand 20 x 550 = 11000 -> 2 replicas
    snap = snapshot(cfg.graph, NOW, graph_state(cfg.graph), aggregates=demand(20, 550, 10))
    prefill = decide(snap, PlannerState(), cfg, NOW).for_component("prefill")
    assert prefill is not None and prefill.target == 2


def test_throughput_policy_measures_capacity_online_without_a_profile() -> None:
    graph = make_graph(planner={"policy": "throughput", "predictor": "constant"})
    state = PlannerState()
    comps = graph_state(graph, decode=2)
    # ITL met at 4 req/s x 100 tokens over 2 replicas: capacity >= 200 tok/s each.
    values = demand(4, 100, 100) | {("decode", Signal.ITL_P95): 0.03}
    decision, state = plan(snapshot(graph, NOW, comps, aggregates=values), state, graph, NOW)
    decode = decision.for_component("decode")
    assert decode is not None and decode.target == 2 and "measured online, itl_p95 30 ms met" in decode.reason
    # Demand doubles and ITL is missed at 400 tok/s per replica: capacity stays at the 200 known to
    # meet the target (below 0.9 x 400) -> ceil(800 / 200) = 4.
    values = demand(8, 100, 100) | {("decode", Signal.ITL_P95): 0.08}
    decision, state = plan(snapshot(graph, NOW + 10, comps, aggregates=values), state, graph, NOW + 10)
    decode = decision.for_component("decode")
    assert decode is not None and decode.target == 4
    assert "/ 200 tok/s per replica (measured online, itl_p95 80 ms missed)" in decode.reason


def test_throughput_policy_without_demand_data_holds() -> None:
    graph = make_graph(planner={"policy": "throughput"})
    dec = decide(snapshot(graph, NOW, graph_state(graph)), PlannerState(), graph, NOW).for_component("decode")
    assert dec is not None and dec.verdict is Verdict.INSUFFICIENT_DATA
    assert "no fresh request rate, ISL, OSL data" in dec.reason


@pytest.mark.parametrize(
    ("predictor", "expected"),
    [
        (Predictor.CONSTANT, 10.0),
        (Predictor.MOVING_AVERAGE, 7.0),
        (Predictor.LINEAR_TREND, 12.0),
    ],
)
def test_predictors_on_a_rising_series(predictor: Predictor, expected: float) -> None:
    assert predict(predictor, [4.0, 6.0, 8.0, 10.0], window=4) == pytest.approx(expected)


def test_kalman_follows_a_level_shift_smoothly() -> None:
    state = None
    estimates = []
    for value in [10.0] * 5 + [20.0] * 15:
        state = kalman_step(state, value)
        estimates.append(predict(Predictor.KALMAN, [value], 6, state))
    assert estimates[4] == pytest.approx(10.0)
    assert 10.0 < estimates[5] < 20.0  # it does not jump on one sample
    assert estimates[-1] == pytest.approx(20.0, rel=0.05)


def test_bad_profile_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[decode]\ncontext_length = [100, 50]\ntokens_per_s = [1, 2]\n")
    with pytest.raises(ConfigError) as err:
        load_profile(bad)
    assert "decode: lengths must be strictly ascending" in str(err.value)
    (tmp_path / "p.json").write_text('{"prefill": {"isl": [1, 2], "tokens_per_s": [5]}}')
    with pytest.raises(ConfigError) as err:
        load_profile(tmp_path / "p.json")
    assert "tokens_per_s has 1 values but the lengths have 2" in str(err.value)
