"""Replay: synthetic load series through the engine give the expected sequence of replica counts."""

from __future__ import annotations

from planner_tui.model import Verdict
from tests.planner.builders import make_graph
from tests.planner.world import World


def test_decode_burst_goes_1p1d_to_1p2d_and_back() -> None:
    """The upstream expectation: a decode burst scales decode up once, and down again after it."""
    world = World(make_graph())
    demand = [0.6] * 3 + [1.4] * 8 + [0.6] * 10
    for i, d in enumerate(demand):
        world.tick(1000.0 + 10 * i, d)
    assert world.history == [(1, 1), (1, 2), (1, 1)]
    reasons = [c.reason for d in world.decisions for c in d.components if c.changes]
    assert reasons[0] == "decode 1->2: KV load 1.40 > 0.90 for 1 interval"
    assert reasons[1].startswith("decode 2->1: KV load 0.30 < 0.50")


def test_no_decode_scale_down_within_grace_after_scale_up() -> None:
    world = World(make_graph())
    # Up at tick 0, then load drops at once: three intervals of grace before going down.
    demand = [1.4, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    downs = []
    for i, d in enumerate(demand):
        decision = world.tick(1000.0 + 10 * i, d)
        dec = decision.for_component("decode")
        assert dec is not None
        downs.append(dec.target < dec.current)
        if i == 2:
            assert "but scaled up 10 s ago (no scale-down for 3 intervals)" in dec.reason
    # tick 1: moving; ticks 2-3: grace (scale-up observed at tick 1); tick 4: down
    assert downs == [False, False, False, False, True, False, False]


def test_sustained_decode_overload_climbs_one_step_per_settled_interval_up_to_max() -> None:
    world = World(make_graph())
    for i in range(20):
        world.tick(1000.0 + 10 * i, 20.0)
    assert [d for _, d in world.history] == [1, 2, 3, 4, 5]
    last = world.decisions[-1].for_component("decode")
    assert last is not None and last.target == 5
    assert any(lim.limit == "max_replicas" for lim in last.limits)


def test_prefill_queue_spike_that_is_falling_does_not_scale_up() -> None:
    """The trend check: one sample above 5 per worker after a calm period is not a trend."""
    world = World(make_graph())
    for i, q in enumerate([1.0] * 8 + [5.5]):
        world.tick(1000.0 + 10 * i, 0.6, q)
    assert world.history == [(1, 1)]
    last = world.decisions[-1].for_component("prefill")
    assert last is not None
    assert last.reason == "prefill 1 (hold): queue 5.50 > 5.00 but trend 3.60 in 3 intervals"
    # The queue stays high: now the trend agrees and prefill scales up.
    for i, q in enumerate([7.0, 9.0]):
        world.tick(1100.0 + 10 * i, 0.6, q)
    assert world.history == [(1, 1), (2, 1)]


def test_prefill_queue_rising_scales_up() -> None:
    world = World(make_graph())
    for i, q in enumerate([1.0, 3.0, 6.0]):
        world.tick(1000.0 + 10 * i, 0.6, q)
    assert world.history == [(1, 1), (2, 1)]
    up = world.decisions[-1].for_component("prefill")
    assert up is not None and up.verdict is Verdict.SCALE_UP
    assert up.reason.startswith("prefill 1->2: queue 6.00 > 5.00 per worker for 1 interval, trend")
