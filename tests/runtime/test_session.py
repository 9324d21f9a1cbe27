"""The Session over real processes: the planner scales on load, pins hold, read-only refuses."""

from __future__ import annotations

import asyncio
import time

import pytest

from planner_tui.connectors.errors import ComponentNotFound, ConnectorError, ScalingRefused
from planner_tui.model import Decision, Outcome, Phase, PlannerMode
from planner_tui.planner.audit import audit_path_for, read_records
from planner_tui.runtime import ReadOnlyError, Session, SnapshotReady
from tests.runtime.conftest import LoadFile, next_decision, session_graph


def decode_of(decision: Decision) -> tuple[int, int, Outcome]:
    dec = decision.for_component("decode")
    assert dec is not None
    return dec.current, dec.target, dec.outcome


async def wait_ready(session: Session, component: str, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = session.latest_snapshot
        if snap is not None and component in snap.components:
            state = snap.components[component]
            if state.ready_replicas == count and len(state.replicas) == count:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{component} never had {count} ready replicas")


async def test_planner_scales_decode_up_and_down_and_records_every_decision(open_session, load_file: LoadFile) -> None:
    graph = session_graph("sess-scale", load_file)
    load_file.set("prefill", waiting=1.0)
    load_file.set("decode", kv=0.6)
    session = await open_session(graph)
    events = session.subscribe()
    assert session.mode is PlannerMode.AUTO and not session.read_only
    first = await next_decision(events, lambda d: decode_of(d)[0] == 1, what="a first decision")
    assert decode_of(first) == (1, 1, Outcome.UNCHANGED)
    assert session.next_tick_at is not None and session.next_tick_at > time.time() - 1

    load_file.set("decode", kv=0.95)
    up = await next_decision(events, lambda d: decode_of(d)[1] == 2, what="decode 1->2")
    assert decode_of(up) == (1, 2, Outcome.APPLIED)
    assert (up.for_component("decode") or up.components[0]).reason.startswith("decode 1->2: KV load 0.95 > 0.90")
    await wait_ready(session, "decode", 2)

    load_file.set("decode", kv=0.1)
    down = await next_decision(events, lambda d: decode_of(d)[:2] == (2, 1), what="decode 2->1")
    assert decode_of(down)[2] is Outcome.APPLIED
    await wait_ready(session, "decode", 1)

    # Every decision the session reported is in the audit log, in order.
    recorded = [r["timestamp"] for r in read_records(audit_path_for(graph))]
    reported = [d.timestamp for d in session.decisions]
    assert recorded[: len(reported)] == reported and len(recorded) - len(reported) <= 1
    fresh = session.subscribe()
    event = await asyncio.wait_for(fresh.get(), timeout=30)
    while not isinstance(event, SnapshotReady):
        event = await asyncio.wait_for(fresh.get(), timeout=30)
    assert event.snapshot.namespace == "sess-scale" and "decode" in event.snapshot.components
    session.unsubscribe(fresh)


async def test_manual_scale_pins_and_unpin_returns_control(open_session, load_file: LoadFile) -> None:
    graph = session_graph("sess-pin", load_file)
    load_file.set("prefill", waiting=1.0)
    load_file.set("decode", kv=0.1)
    session = await open_session(graph)
    events = session.subscribe()
    await session.scale("decode", 3)
    assert session.pins["decode"].replicas == 3
    held = await next_decision(
        events,
        lambda d: decode_of(d)[0] == 3 and "policy wanted 2" in (d.for_component("decode") or d.components[0]).reason,
        what="decode held at 3 against the policy",
    )
    dec = held.for_component("decode")
    assert dec is not None and dec.outcome is Outcome.PINNED and dec.target == 3
    assert "pinned at 3 (manual scale); policy wanted 2" in dec.reason
    await wait_ready(session, "decode", 3)

    assert await session.unpin("decode")
    down = await next_decision(events, lambda d: decode_of(d)[:2] == (3, 2), what="decode 3->2 after unpin")
    assert decode_of(down)[2] is Outcome.APPLIED

    with pytest.raises(ScalingRefused, match=r"outside min_replicas..max_replicas \(1..3\)"):
        await session.scale("decode", 4)
    with pytest.raises(ComponentNotFound, match="unknown component 'nope'"):
        await session.pin("nope", 1)
    with pytest.raises(ValueError, match="in the past"):
        await session.pin("decode", 2, until=time.time() - 5)
    with pytest.raises(ConnectorError, match="no simulated frontend in this graph"):
        await session.scale_load(2.0)
    pin = await session.pin("prefill", until=time.time() + 3600)
    assert pin.replicas == 1 and session.pins["prefill"].until is not None

    await session.set_mode(PlannerMode.PAUSED)
    paused = await next_decision(events, lambda d: d.mode is PlannerMode.PAUSED, what="a paused decision")
    assert all(c.target == c.current for c in paused.components)


async def test_gpu_shortage_fails_the_decision_and_the_planner_goes_on(open_session, load_file: LoadFile) -> None:
    graph = session_graph("sess-gpus", load_file, gpus=[0, 1])  # room for 1 prefill + 1 decode only
    load_file.set("prefill", waiting=1.0)
    load_file.set("decode", kv=0.97)
    session = await open_session(graph)
    events = session.subscribe()
    failed = await next_decision(events, lambda d: decode_of(d)[2] is Outcome.FAILED, what="a failed scale-up")
    dec = failed.for_component("decode")
    assert dec is not None and dec.target == 2 and dec.error
    again = await next_decision(events, lambda d: d.timestamp > failed.timestamp, what="the next decision")
    assert decode_of(again)[1] == 2  # retried at the next interval


async def test_read_only_session_refuses_actions_and_only_advises(open_session, load_file: LoadFile) -> None:
    graph = session_graph("sess-ro", load_file)
    load_file.set("prefill", waiting=1.0)
    load_file.set("decode", kv=0.97)
    session = await open_session(graph, read_only=True)
    assert session.read_only and session.mode is PlannerMode.ADVISORY
    events = session.subscribe()
    advised = await next_decision(events, lambda d: decode_of(d)[1] == 2, what="an advisory scale-up")
    assert decode_of(advised)[2] is Outcome.ADVISORY
    for action in (
        session.scale("decode", 2),
        session.pin("decode"),
        session.unpin("decode"),
        session.restart("decode"),
        session.set_mode(PlannerMode.AUTO),
        session.scale_load(2.0),
    ):
        with pytest.raises(ReadOnlyError, match="this session is read-only"):
            await action
    snap = session.latest_snapshot
    assert snap is not None and snap.components["decode"].desired_replicas == 1
    assert [r.phase for r in snap.components["decode"].replicas] == [Phase.READY]
    assert not audit_path_for(graph).exists()
    lines = await session.logs("decode", 10)
    assert any("serving load" in line.text for line in lines)


async def test_session_serves_the_planner_gauges_when_the_exporter_is_on(open_session, load_file: LoadFile) -> None:
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    graph = session_graph("sess-exp", load_file, planner={"exporter_port": port})
    load_file.set("prefill", waiting=1.0)
    load_file.set("decode", kv=0.97)
    session = await open_session(graph)
    events = session.subscribe()
    await next_decision(events, lambda d: decode_of(d)[1] == 2, what="a decode scale-up")
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line and line[0] != "#"}
    assert values["dynamo_planner_num_decode_replicas"] >= 2  # the load keeps it climbing
    assert values["dynamo_planner_num_prefill_replicas"] == 1
    states = {k: v for k, v in values.items() if k.startswith("dynamo_planner_load_scaling_decision{")}
    assert sum(states.values()) == 1 and len(states) == 5
    await session.close(stop_graph=True)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)  # stopped with the session
