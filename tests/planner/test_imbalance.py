"""One decode replica full while the mean is not (issue 13 item 6): upstream's mean decides by default;
``decode_scale_up_any_replica_kv`` scales up on the hottest replica and names it."""

from __future__ import annotations

import pytest

from planner_tui.cli.status_cmd import summary_lines
from planner_tui.model import Signal, SignalValue, Verdict
from planner_tui.model.imbalance import replica_spread, spread_of
from planner_tui.planner import PlannerState, decide
from tests.planner.builders import graph_state, make_graph, snapshot

NOW = 10_000.0
#: round-robin routing: decode-0 full, decode-1 at 0.54; the mean per worker is 0.77
IMBALANCED = {("decode", Signal.KV_USAGE): [1.0, 0.54], ("prefill", Signal.QUEUE_DEPTH): [1.0]}


def decode_decision(planner: dict[str, object] | None = None, values: object = IMBALANCED):  # type: ignore[no-untyped-def]
    graph = make_graph(planner=planner)
    snap = snapshot(graph, NOW, graph_state(graph, decode=2), values)  # type: ignore[arg-type]
    decision = decide(snap, PlannerState(), graph, NOW).for_component("decode")
    assert decision is not None
    return decision


def test_by_default_the_mean_decides_as_upstream() -> None:
    dec = decode_decision()
    assert dec.verdict is Verdict.NO_CHANGE and dec.target == 2
    assert dec.load == pytest.approx(0.77)
    assert "KV load 0.77 within 0.50..0.90" in dec.reason


def test_the_option_scales_up_on_the_hottest_replica_and_names_it() -> None:
    dec = decode_decision({"decode_scale_up_any_replica_kv": 0.95})
    assert dec.verdict is Verdict.SCALE_UP and dec.target == 3
    assert dec.reason == (
        "decode 2->3: replica decode-0 KV load 1.00 > 0.95 (decode_scale_up_any_replica_kv; mean 0.77)"
    )
    assert dec.load == pytest.approx(0.77)  # the record keeps upstream's figure


def test_the_option_counts_waiting_requests_per_replica() -> None:
    """decode-1 at 0.90 KV with 4 waiting is 0.98: it is the hottest, not decode-0 at 0.92."""
    values = {
        ("decode", Signal.KV_USAGE): [0.92, 0.90],
        ("decode", Signal.WAITING): [0.0, 4.0],
        ("prefill", Signal.QUEUE_DEPTH): [1.0],
    }
    # mean (0.92 + 0.90 + 0.08) / 2 = 0.95 > 0.90 scales up on its own; raise the mean threshold
    dec = decode_decision({"decode_scale_up_any_replica_kv": 0.95, "decode_kv_scale_up": 0.99}, values)
    assert dec.verdict is Verdict.SCALE_UP
    assert "replica decode-1 KV load 0.98 > 0.95" in dec.reason


def test_the_option_does_nothing_below_its_threshold() -> None:
    dec = decode_decision({"decode_scale_up_any_replica_kv": 1.0})
    assert dec.verdict is Verdict.NO_CHANGE and "within 0.50..0.90" in dec.reason


def test_no_scale_down_while_a_replica_passes_the_option() -> None:
    values = {("decode", Signal.KV_USAGE): [0.97, 0.01], ("prefill", Signal.QUEUE_DEPTH): [1.0]}
    upstream = decode_decision({"scale_down_headroom": None}, values)
    assert upstream.verdict is Verdict.SCALE_DOWN  # upstream: mean 0.49 < 0.50
    dec = decode_decision({"decode_scale_up_any_replica_kv": 0.95, "scale_down_headroom": None}, values)
    assert dec.verdict is Verdict.NO_CHANGE
    assert "KV load 0.49 < 0.50 but replica decode-0 at 0.97 > 0.95" in dec.reason


def test_the_spread_helper_and_the_status_summary() -> None:
    graph = make_graph()
    snap = snapshot(graph, NOW, graph_state(graph, decode=2), IMBALANCED)
    spread = replica_spread(snap, "decode")
    assert spread is not None
    assert (spread.mean, spread.max, spread.max_replica) == (pytest.approx(0.77), 1.0, "decode-0")
    assert spread.spread == pytest.approx(0.46)
    assert spread.describe() == "kv 0.77 (max 1.00 on decode-0, spread 0.46)"
    assert replica_spread(snap, "frontend") is None  # no load signal for a frontend
    lines = summary_lines(snap)
    assert "    kv 0.77 (max 1.00 on decode-0, spread 0.46)" in lines
    prefill = replica_spread(snap, "prefill")
    assert prefill is not None and prefill.describe() == "queue 1.00"  # one replica: no max, no spread


def test_the_spread_leaves_out_stale_and_invalid_values() -> None:
    values = [
        SignalValue("decode", Signal.KV_USAGE, 0.5, NOW, replica="decode-0"),
        SignalValue("decode", Signal.KV_USAGE, 0.9, NOW, stale=True, replica="decode-1"),
        SignalValue("decode", Signal.KV_USAGE, float("nan"), NOW, replica="decode-2"),
    ]
    spread = spread_of(values)
    assert spread is not None and spread.count == 1 and spread.max == 0.5
    assert spread_of(values[1:]) is None
