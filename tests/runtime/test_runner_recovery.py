"""The runner over the real local connector: failed applies are recorded and retried, a broken tick
does not stop the loop, and closing is bounded."""

from __future__ import annotations

import time

from planner_tui.model import Outcome, Snapshot
from planner_tui.planner.audit import audit_path_for, read_records
from planner_tui.runtime import SessionError
from tests.runtime.conftest import LoadFile, next_decision, session_graph
from tests.runtime.test_session import decode_of


async def test_failed_applies_are_retried_and_a_broken_tick_does_not_stop_the_loop(
    open_session, load_file: LoadFile
) -> None:
    graph = session_graph("runner-recover", load_file)
    load_file.set("prefill", waiting=1.0)
    load_file.set("decode", kv=0.97)
    session = await open_session(graph)
    runner = session.runner
    runner.apply_timeout_s = 0.001  # no real scale finishes this fast: every apply times out
    events = session.subscribe()
    failed = await next_decision(events, lambda d: decode_of(d)[2] is Outcome.FAILED, what="a timed-out apply")
    dec = failed.for_component("decode")
    assert dec is not None and dec.error == "the connector did not answer within 0.001 s"

    source = runner._source
    broken = {"done": False}

    def break_once() -> Snapshot | None:
        if not broken["done"]:
            broken["done"] = True
            raise RuntimeError("collector exploded")
        return source()

    runner._source = break_once
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        event = await events.get()
        if isinstance(event, SessionError):
            assert event.message == "planner tick failed: RuntimeError: collector exploded"
            break
    else:
        raise AssertionError("the broken tick was not reported")

    runner.apply_timeout_s = 30.0  # the connector answers again: the next interval retries and applies
    applied = await next_decision(
        events, lambda d: decode_of(d)[2] is Outcome.APPLIED and decode_of(d)[1] > decode_of(d)[0], what="a retry"
    )
    assert applied.timestamp > failed.timestamp
    outcomes = [r["components"][1]["outcome"] for r in read_records(audit_path_for(graph))]
    assert "failed" in outcomes and "applied" in outcomes

    started = time.monotonic()
    await session.close(stop_graph=True)
    assert time.monotonic() - started < 30
    assert not runner.running
