"""The engine's rules, one behaviour per test, read from the decisions a person would see."""

from __future__ import annotations

from planner_tui.model import Outcome, PlannerMode, Signal, Verdict
from planner_tui.planner import PlannerState, decide, plan
from planner_tui.planner.state import Pin
from tests.planner.builders import component, graph_state, make_graph, snapshot

NOW = 10_000.0


def kv(*values: float) -> dict[tuple[str, Signal], list[float]]:
    return {("decode", Signal.KV_USAGE): list(values), ("prefill", Signal.QUEUE_DEPTH): [1.0]}


def test_decode_kv_load_counts_waiting_requests() -> None:
    graph = make_graph()
    values = kv(0.85) | {("decode", Signal.WAITING): [5.0]}  # 0.85 + 5 x 0.02 = 0.95
    decision = decide(snapshot(graph, NOW, graph_state(graph), values), PlannerState(), graph, NOW)
    dec = decision.for_component("decode")
    assert dec is not None
    assert dec.reason == "decode 1->2: KV load 0.95 > 0.90 for 1 interval"
    assert dec.verdict is Verdict.SCALE_UP and dec.outcome is Outcome.PENDING
    assert dec.load is not None and abs(dec.load - 0.95) < 1e-9
    assert {(v.signal, v.value) for v in dec.inputs} == {(Signal.KV_USAGE, 0.85), (Signal.WAITING, 5.0)}


def test_frontend_without_policy_is_not_autoscaled() -> None:
    graph = make_graph()
    decision = decide(snapshot(graph, NOW, graph_state(graph), kv(0.6)), PlannerState(), graph, NOW)
    assert [c.component for c in decision.components] == ["prefill", "decode"]


def test_starting_replicas_count_as_capacity_coming() -> None:
    """Two ready decode replicas at 0.95 and one starting: 1.9 / 3 = 0.63 per worker, no scale-up."""
    graph = make_graph()
    comps = graph_state(graph) | {"decode": component(graph, "decode", ready=2, starting=1)}
    values = kv(0.95, 0.95, 0.0)  # the starting replica's cold-start sample is ignored
    state = PlannerState()
    _, state = plan(snapshot(graph, NOW - 10, comps, values), state, graph, NOW - 10)
    dec = decide(snapshot(graph, NOW, comps, values), state, graph, NOW).for_component("decode")
    assert dec is not None
    assert dec.target == 3 and dec.desired == 4
    assert [(lim.limit, lim.before, lim.after) for lim in dec.limits] == [("cold_start", 4, 3)]
    assert "KV load 0.63 within 0.50..0.90" in dec.reason
    assert "0.95 per ready worker, 1 replica starting" in dec.reason


def test_stale_signals_give_insufficient_data_and_say_so() -> None:
    graph = make_graph()
    snap = snapshot(graph, NOW, graph_state(graph), kv(0.99), stale=True)
    dec = decide(snap, PlannerState(), graph, NOW).for_component("decode")
    assert dec is not None
    assert dec.verdict is Verdict.INSUFFICIENT_DATA and dec.target == dec.current == 1
    assert "no fresh KV usage data (1 stale value" in dec.reason
    assert dec.inputs and all(v.stale for v in dec.inputs)


def test_old_signals_count_as_stale() -> None:
    graph = make_graph()
    snap = snapshot(graph, NOW, graph_state(graph), kv(0.99), age=600)
    dec = decide(snap, PlannerState(), graph, NOW).for_component("decode")
    assert dec is not None and dec.verdict is Verdict.INSUFFICIENT_DATA


def test_no_change_while_replicas_are_stopping() -> None:
    graph = make_graph()
    comps = graph_state(graph) | {"decode": component(graph, "decode", ready=1, stopping=1, desired=1)}
    dec = decide(snapshot(graph, NOW, comps, kv(0.99)), PlannerState(), graph, NOW).for_component("decode")
    assert dec is not None
    assert dec.verdict is Verdict.SCALING_IN_PROGRESS and dec.target == 1
    assert "1 replica stopping" in dec.reason


def test_pin_holds_the_component_and_says_what_the_policy_wanted() -> None:
    graph = make_graph()
    state = PlannerState().with_pin(Pin("decode", 2, until=NOW + 60, reason="manual scale"))
    comps = graph_state(graph, decode=2)
    dec = decide(snapshot(graph, NOW, comps, kv(0.99, 0.99)), state, graph, NOW).for_component("decode")
    assert dec is not None
    assert dec.outcome is Outcome.PINNED and dec.target == 2 and dec.desired == 3
    assert dec.reason.startswith("decode 2: pinned at 2 (manual scale) until ")
    assert "policy wanted 3: KV load 0.99 > 0.90" in dec.reason


def test_expired_pin_returns_control() -> None:
    graph = make_graph()
    state = PlannerState().with_pin(Pin("decode", 2, until=NOW - 1))
    decision, after = plan(snapshot(graph, NOW, graph_state(graph, decode=2), kv(0.99, 0.99)), state, graph, NOW)
    dec = decision.for_component("decode")
    assert dec is not None and dec.outcome is Outcome.PENDING and dec.target == 3
    assert "decode" not in after.pins


def test_pin_enforces_its_count_when_the_component_drifted() -> None:
    graph = make_graph()
    state = PlannerState().with_pin(Pin("decode", 3))
    dec = decide(snapshot(graph, NOW, graph_state(graph), kv(0.6)), state, graph, NOW).for_component("decode")
    assert dec is not None and dec.outcome is Outcome.PINNED and (dec.current, dec.target) == (1, 3)


def test_advisory_decides_but_marks_the_outcome() -> None:
    graph = make_graph()
    snap = snapshot(graph, NOW, graph_state(graph), kv(0.99))
    dec = decide(snap, PlannerState(), graph, NOW, PlannerMode.ADVISORY).for_component("decode")
    assert dec is not None and dec.outcome is Outcome.ADVISORY and dec.target == 2


def test_paused_holds_everything_and_tells_what_it_would_do() -> None:
    graph = make_graph()
    snap = snapshot(graph, NOW, graph_state(graph), kv(0.99))
    decision = decide(snap, PlannerState(), graph, NOW, PlannerMode.PAUSED)
    dec = decision.for_component("decode")
    assert dec is not None and dec.outcome is Outcome.PAUSED and dec.target == dec.current == 1
    assert dec.reason.startswith("decode 1 (paused): policy would go to 2")
    assert all(c.target == c.current for c in decision.components)


def test_scale_down_stabilisation_keeps_the_highest_recent_recommendation() -> None:
    graph = make_graph(planner={"scale_down_stabilization_s": 30})
    state = PlannerState()
    targets = []
    for i, load in enumerate([0.7, 0.7, 0.2, 0.2, 0.2, 0.2]):
        now = NOW + 10 * i
        decision, state = plan(
            snapshot(graph, now, graph_state(graph, decode=3), kv(load, load, load)), state, graph, now
        )
        dec = decision.for_component("decode")
        assert dec is not None
        targets.append(dec.target)
    # 0.2 < 0.5 wants 2 from tick 2; the 3s recommended at ticks 0-1 hold until they leave the 30 s window.
    assert targets == [3, 3, 3, 3, 3, 2]
    dec = decision.for_component("decode")
    assert dec is not None and dec.limits == ()


def test_missing_component_state_holds_and_says_so() -> None:
    graph = make_graph()
    comps = {"frontend": component(graph, "frontend", 1), "prefill": component(graph, "prefill", 1)}
    dec = decide(snapshot(graph, NOW, comps, kv(0.9)), PlannerState(), graph, NOW).for_component("decode")
    assert dec is not None and dec.verdict is Verdict.INSUFFICIENT_DATA and dec.outcome is Outcome.UNCHANGED
    assert "no state reported" in dec.reason


def test_scale_down_that_would_push_the_rest_over_the_threshold_is_held() -> None:
    """Two decode workers at 0.45 would be one at 0.90: hold instead of flapping 2 -> 1 -> 2."""
    graph = make_graph()
    snap = snapshot(graph, NOW, graph_state(graph, decode=2), kv(0.45, 0.45))
    dec = decide(snap, PlannerState(), graph, NOW).for_component("decode")
    assert dec is not None and dec.target == 2
    assert dec.reason == "decode 2 (hold): KV load 0.45 is low, but 1 worker would be at 0.90 (scale-down needs < 0.81)"
    upstream = make_graph(planner={"scale_down_headroom": None})
    dec = decide(snap, PlannerState(), upstream, NOW).for_component("decode")
    assert dec is not None and dec.target == 1


def test_prefill_scales_on_its_own_queue_not_on_the_frontend_queue() -> None:
    """Issue 13 item 1: requests queued at the frontend while decode's KV is full are not a prefill queue.

    The frontend's queued requests (waiting for their first token) grew to 40 while every prefill worker's
    own queue was 0 and decode had 10 waiting: prefill must not scale up (it went 1->2->3 before), decode
    does, and each reason names the series it was read from.
    """
    graph = make_graph(planner={"scale_down_stabilization_s": 0.0})
    values = {
        ("decode", Signal.KV_USAGE): [1.0],
        ("decode", Signal.WAITING): [10.0],
        ("prefill", Signal.QUEUE_DEPTH): [0.0],
    }
    sources = {
        ("decode", Signal.KV_USAGE): "scrape: vllm:kv_cache_usage_perc",
        ("decode", Signal.WAITING): "scrape: vllm:num_requests_waiting",
        ("prefill", Signal.QUEUE_DEPTH): 'scrape: dynamo_component_inflight_requests{dynamo_endpoint="generate"}',
        ("frontend", Signal.QUEUE_DEPTH): "scrape: dynamo_frontend_queued_requests",
    }
    state = PlannerState()
    for i, queued in enumerate([20.0, 40.0, 40.0]):
        now = NOW + 10 * i
        snap = snapshot(
            graph, now, graph_state(graph), values, {("frontend", Signal.QUEUE_DEPTH): queued}, sources=sources
        )
        decision, state = plan(snap, state, graph, now)
        prefill = decision.for_component("prefill")
        assert prefill is not None and prefill.target <= 1, prefill.reason
    assert prefill.verdict is not Verdict.SCALE_UP
    assert {v.component for v in prefill.inputs} == {"prefill"}
    assert '[dynamo_component_inflight_requests{dynamo_endpoint="generate"}]' in prefill.reason
    assert "dynamo_frontend_queued_requests" not in prefill.reason
    decode = decision.for_component("decode")
    assert decode is not None and decode.verdict is Verdict.SCALE_UP
    assert "[vllm:kv_cache_usage_perc, vllm:num_requests_waiting]" in decode.reason


def test_prefill_scales_up_on_its_own_queue_and_names_the_metric() -> None:
    graph = make_graph()
    state = PlannerState()
    for i, queued in enumerate([20.0, 40.0]):
        now = NOW + 10 * i
        values = {("decode", Signal.KV_USAGE): [0.6], ("prefill", Signal.QUEUE_DEPTH): [queued]}
        sources = {("prefill", Signal.QUEUE_DEPTH): "scrape: vllm:num_requests_waiting"}
        decision, state = plan(snapshot(graph, now, graph_state(graph), values, sources=sources), state, graph, now)
    dec = decision.for_component("prefill")
    assert dec is not None and dec.target == 2
    assert dec.reason.startswith("prefill 1->2: queue 40.00 > 5.00 per worker for 2 intervals")
    assert "[vllm:num_requests_waiting]" in dec.reason


def test_moving_count_holds_one_interval_and_names_the_move() -> None:
    graph = make_graph()
    _, state = plan(snapshot(graph, NOW, graph_state(graph), kv(0.95)), PlannerState(), graph, NOW)
    moved = graph_state(graph) | {"decode": component(graph, "decode", ready=1, starting=1)}
    dec = decide(snapshot(graph, NOW + 10, moved, kv(0.95, 0.0)), state, graph, NOW + 10).for_component("decode")
    assert dec is not None and dec.verdict is Verdict.SCALING_IN_PROGRESS and dec.target == 2
    assert dec.reason == "decode 2 (hold): replica count moving 1->2; waiting one interval (KV load 0.47)"


def test_figures_that_round_to_the_threshold_get_a_third_decimal() -> None:
    graph = make_graph(planner={"scale_down_headroom": None})
    snap = snapshot(graph, NOW, graph_state(graph, decode=2), kv(0.499, 0.499))
    dec = decide(snap, PlannerState(), graph, NOW).for_component("decode")
    assert dec is not None and dec.reason == "decode 2->1: KV load 0.499 < 0.50 for 1 interval"
