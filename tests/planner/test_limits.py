"""Limits: GPU budget (as upstream), min/max and stabilisation, recorded when they bite."""

from __future__ import annotations

from planner_tui.model import Signal
from planner_tui.planner import PlannerState, decide
from planner_tui.planner.limits import BudgetItem, apply_gpu_budget, stabilise
from tests.planner.builders import graph_state, make_graph, snapshot


def test_within_budget_changes_nothing() -> None:
    items = [BudgetItem("prefill", 2, 1, 1, True), BudgetItem("decode", 3, 1, 1, True, remainder=True)]
    assert apply_gpu_budget(items, 8) == ({"prefill": 2, "decode": 3}, {})
    assert apply_gpu_budget(items, -1)[1] == {}


def test_over_budget_prefill_is_reduced_proportionally_and_decode_gets_the_rest() -> None:
    # 4 prefill + 6 decode = 10 GPUs over a budget of 8: scale 0.8 -> prefill round(3.2) = 3, decode 8 - 3 = 5.
    items = [BudgetItem("prefill", 4, 1, 1, True), BudgetItem("decode", 6, 1, 1, True, remainder=True)]
    targets, limits = apply_gpu_budget(items, 8)
    assert targets == {"prefill": 3, "decode": 5}
    assert (limits["decode"].before, limits["decode"].after) == (6, 5)
    assert "GPU budget 8: 10 GPUs wanted" in limits["prefill"].detail


def test_fixed_components_are_reserved_first() -> None:
    items = [
        BudgetItem("encoder", 2, 2, 1, adjustable=False),
        BudgetItem("prefill", 2, 1, 1, True),
        BudgetItem("decode", 4, 1, 1, True, remainder=True),
    ]
    targets, _ = apply_gpu_budget(items, 8)
    assert targets["encoder"] == 2
    assert targets["prefill"] * 1 + targets["decode"] * 1 + 4 <= 8
    assert targets["prefill"] >= 1 and targets["decode"] >= 1


def test_budget_that_cannot_cover_the_minimums_scales_to_zero_as_upstream() -> None:
    items = [BudgetItem("pinned", 3, 2, 1, adjustable=False), BudgetItem("decode", 2, 1, 1, True)]
    targets, limits = apply_gpu_budget(items, 6)
    assert targets == {"pinned": 3, "decode": 0}
    assert "cannot cover the minimum replicas" in limits["decode"].detail


def test_engine_records_the_budget_limit_in_the_decision() -> None:
    graph = make_graph(planner={"max_gpu_budget": 4})
    values = {("decode", Signal.KV_USAGE): [0.99] * 3, ("prefill", Signal.QUEUE_DEPTH): [1.0]}
    dec = decide(snapshot(graph, 100.0, graph_state(graph, decode=3), values), PlannerState(), graph, 100.0)
    decode = dec.for_component("decode")
    assert decode is not None and decode.desired == 4 and decode.target == 3
    assert decode.limits[-1].limit == "gpu_budget"
    assert (
        decode.reason
        == "decode 3 (hold): KV load 0.99 > 0.90 for 1 interval; GPU budget 4: 5 GPUs wanted, decode gets 3"
    )


def test_engine_records_max_replicas() -> None:
    graph = make_graph()
    values = {("decode", Signal.KV_USAGE): [0.99] * 5, ("prefill", Signal.QUEUE_DEPTH): [1.0]}
    dec = decide(snapshot(graph, 100.0, graph_state(graph, decode=5), values), PlannerState(), graph, 100.0)
    decode = dec.for_component("decode")
    assert decode is not None and decode.target == 5 and decode.limits[0].limit == "max_replicas"
    assert decode.reason.endswith("; max_replicas 5")


def test_scale_up_stabilisation_takes_the_lowest_recent_recommendation() -> None:
    value, limit = stabilise(4, 2, [(0.0, 2), (5.0, 3), (10.0, 4)], 10.0, up_window_s=8.0, down_window_s=0.0)
    assert value == 3 and limit is not None and limit.limit == "scale_up_stabilization"
    value, limit = stabilise(4, 2, [(0.0, 2), (10.0, 4)], 10.0, up_window_s=0.0, down_window_s=60.0)
    assert (value, limit) == (4, None)
