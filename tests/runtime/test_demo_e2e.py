"""End to end: the embedded demo graph, sped up, under its sine load, with the planner in charge.

Real sim processes under circus, the real collector and the planner: decode scales up during the peak
and back down after it, every decision reported is in the audit log, and no request is lost.
"""

from __future__ import annotations

import socket

from planner_tui.config import GraphConfig, demo_graph_path, load_graph, validate_graph
from planner_tui.model import Decision, Outcome
from planner_tui.planner.audit import audit_path_for, read_records
from planner_tui.runtime.speedup import sped_up
from planner_tui.sim.control import get_stats
from tests.runtime.conftest import next_decision

SPEEDUP = 4.0  # the demo's 180 s sine period passes in 45 s (at 6x a busy CI run once saw KV spike early)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sped_up_demo(namespace: str) -> GraphConfig:
    """The embedded demo on free ports, with every sim process and interval ``SPEEDUP`` times faster."""
    data = load_graph(demo_graph_path()).model_dump(mode="json", exclude_none=True)
    data["namespace"] = namespace
    data["components"]["frontend"]["port"] = free_port()
    base = 24000 + free_port() % 30000
    data["resources"]["port_range"] = [base, base + 99]
    graph = sped_up(validate_graph(data), SPEEDUP)
    assert graph.planner.adjustment_interval_s == 5.0 / SPEEDUP
    assert graph.components["decode"].env["PLANNER_TUI_SIM_SPEEDUP"] == f"{SPEEDUP:g}"
    return graph


def decode_move(decision: Decision) -> tuple[int, int, Outcome]:
    dec = decision.for_component("decode")
    assert dec is not None
    return dec.current, dec.target, dec.outcome


async def test_demo_scales_decode_up_at_the_peak_and_down_after_it(open_session) -> None:
    graph = sped_up_demo("e2e-demo")
    session = await open_session(graph)
    frontend = session.simulated_frontend_url()
    assert frontend is not None
    events = session.subscribe()

    up = await next_decision(
        events,
        lambda d: decode_move(d)[1] > decode_move(d)[0] and decode_move(d)[2] is Outcome.APPLIED,
        timeout=90,
        what="decode scaling up",
    )
    at_up = await get_stats(frontend)
    assert at_up["target_rps"] > 6.0, at_up  # well into the rising half of the 2..18 req/s sine
    dec = up.for_component("decode")
    assert dec is not None and "KV load" in dec.reason and "> 0.90" in dec.reason

    down = await next_decision(
        events,
        lambda d: decode_move(d)[:2] == (2, 1) and decode_move(d)[2] is Outcome.APPLIED,
        timeout=120,
        what="decode back down to 1 after the peak",
    )
    at_down = await get_stats(frontend)
    assert at_down["sim_time_s"] > 90.0  # after the peak (90 simulated seconds in)
    assert down.timestamp > up.timestamp

    # Every decision the session reported is on disk, in order, and parseable (one more may be on its
    # way: a decision is written before it is reported).
    recorded = [r["timestamp"] for r in read_records(audit_path_for(graph))]
    reported = [d.timestamp for d in session.decisions]
    assert reported and recorded[: len(reported)] == reported and len(recorded) - len(reported) <= 1

    # No request lost: everything generated is completed or still in flight, none failed.
    stats = await get_stats(frontend)
    assert stats["conserved"] is True and stats["failed"] == 0
    assert stats["requests_in"] == stats["completed"] + stats["in_flight"]
    assert stats["completed"] > 100
