"""Why a replica is not ready: its health answer as its reason, the readiness timeout as a problem,
the planner's hold naming it, and ``depends_on`` waiting for readiness. Real replica processes."""

from __future__ import annotations

import os
import signal
import time

from planner_tui.connectors.local.health import sanitize
from planner_tui.model import Signal, Verdict
from planner_tui.model.replicas import Phase, ReplicaState
from planner_tui.planner import PlannerState, decide
from tests.connectors.local.conftest import eventually, make_graph, replica_args, worker
from tests.planner.builders import snapshot

NOTREADY = '{{"status":"notready","endpoints":{{"generate":"notready"}}}}'  # braces doubled: a template


def never_ready(*extra: str, **overrides: object) -> dict[str, object]:
    """A worker whose /health answers 503 notready (its /metrics answers), like a Dynamo 1.6.1 worker."""
    args = replica_args("--ready-after", "1e9", "--health-only", "--not-ready-body", NOTREADY, *extra)
    return worker(args=args, **overrides)


def replica(conn, component: str = "decode", index: int = 0) -> ReplicaState:  # type: ignore[no-untyped-def]
    return next(r for r in conn.component_states()[component].replicas if r.index == index)


async def test_a_replica_that_is_not_ready_shows_its_health_answer_then_times_out_into_a_problem(connect) -> None:  # type: ignore[no-untyped-def]
    conn = await connect(make_graph("notready", {"decode": never_ready(ready_timeout_s=1.5)}))
    await eventually(
        lambda: (replica(conn).reason or "").startswith('/health 503 {"status":"notready"'),
        what="the health answer as the reason",
    )
    first = replica(conn)
    assert first.phase is Phase.RUNNING
    assert not any("decode-0" in p for p in conn.problems)  # not a problem before its timeout

    await eventually(
        lambda: (replica(conn).reason or "").startswith("not ready after 1.5 s: /health 503 "),
        what="the readiness timeout",
    )
    reason = replica(conn).reason
    assert reason is not None and '{"status":"notready"' in reason
    assert replica(conn).phase is Phase.RUNNING  # still running and probed, not killed
    assert [p for p in conn.problems if p.startswith("replica decode-0 not ready after 1.5 s: /health 503 ")]


async def test_the_reason_is_bounded_and_printable_and_clears_once_ready(connect) -> None:  # type: ignore[no-untyped-def]
    junk = worker(args=replica_args("--ready-after", "2.5", "--health-only", "--junk-body"), ready_timeout_s=1.0)
    conn = await connect(make_graph("junk", {"decode": junk}))
    await eventually(lambda: (replica(conn).reason or "").startswith("not ready after 1 s: /health 503 "))
    reason = replica(conn).reason
    assert reason is not None
    assert len(reason) < 160 and reason.isprintable() and reason.endswith("...")
    assert "red line two" in reason  # escapes and control characters are gone, the text is kept
    assert conn.problems

    await eventually(lambda: replica(conn).phase is Phase.READY, what="ready at last")
    assert replica(conn).reason is None
    assert not any("decode-0" in p for p in conn.problems)


async def test_a_refused_health_url_says_so(connect) -> None:  # type: ignore[no-untyped-def]
    # the process runs but nothing listens where its health URL points
    conn = await connect(make_graph("deaf", {"decode": worker(health_url="http://127.0.0.1:1/health")}))
    await eventually(lambda: replica(conn).reason == "/health: connection refused", what="connection refused")


async def test_the_planner_holding_for_no_ready_replica_names_the_replicas_reason(connect) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph("holds", {"decode": never_ready()})
    conn = await connect(graph)
    await eventually(lambda: "notready" in (replica(conn).reason or ""), what="the health answer")
    now = time.time()
    states = conn.component_states()
    # a per-replica value of a replica that is not ready is not read; an aggregate is, but not trusted
    for values in (
        {"replica_values": {("decode", Signal.KV_USAGE): [0.5]}},
        {"aggregates": {("decode", Signal.KV_USAGE): 0.5}},
    ):
        snap = snapshot(graph, now, states, **values)  # type: ignore[arg-type]
        dec = decide(snap, PlannerState(), graph, now).for_component("decode")
        assert dec is not None and dec.verdict is Verdict.INSUFFICIENT_DATA
        assert '; decode-0 not ready: /health 503 {"status":"notready"' in dec.reason
    assert "no ready replica yet; decode-0 not ready: /health 503 " in dec.reason


async def test_depends_on_waits_for_the_dependency_to_be_ready(connect) -> None:  # type: ignore[no-untyped-def]
    front = worker(role="frontend", gpus_per_replica=0, max_replicas=1, args=replica_args("--ready-after", "1.5"))
    graph = make_graph("chain", {"frontend": front, "decode": worker(depends_on=["frontend"])})
    conn = await connect(graph)
    seen_waiting = False

    def decode_started() -> bool:
        nonlocal seen_waiting
        dec = replica(conn)
        front_phase = replica(conn, "frontend").phase
        if dec.pid is None:
            seen_waiting = seen_waiting or dec.reason == "waiting for frontend to be ready (depends_on)"
            return False
        # the worker's process starts only once the frontend answered its health URL
        assert front_phase is Phase.READY, f"decode started while the frontend was {front_phase}"
        return True

    await eventually(decode_started, timeout=30, what="decode started after the frontend was ready")
    assert seen_waiting
    await conn.wait_until_stable(["frontend", "decode"], 30)


async def test_depends_on_gives_up_waiting_after_the_dependencys_ready_timeout(connect) -> None:  # type: ignore[no-untyped-def]
    front = never_ready(role="frontend", gpus_per_replica=0, max_replicas=1, ready_timeout_s=1.0)
    conn = await connect(make_graph("gaveup", {"frontend": front, "decode": worker(depends_on=["frontend"])}))
    started = time.monotonic()
    await eventually(lambda: replica(conn).phase is Phase.READY, timeout=30, what="decode started anyway")
    assert time.monotonic() - started > 0.5
    assert replica(conn).reason == "started although frontend was not ready after 1 s"
    assert any(p.startswith("replica frontend-0 not ready after 1 s") for p in conn.problems)


async def test_scaling_up_a_dependent_does_not_wait_for_a_ready_dependency(connect) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph(
        "scaleup", {"frontend": worker(role="frontend", max_replicas=1), "decode": worker(depends_on=["frontend"])}
    )
    conn = await connect(graph)
    await conn.wait_until_stable(["frontend", "decode"], 30)
    assert await conn.scale_component("decode", 2) is True
    assert replica(conn, index=1).pid is not None  # started before scale_component returned


def test_sanitize_keeps_one_printable_bounded_line() -> None:
    assert sanitize("a\r\n\tb\x1b[0m  c\x00") == "a b c"
    assert sanitize("x" * 500, 10) == "x" * 10 + "..."
    assert sanitize("") == ""


async def test_a_ready_replica_that_hangs_gets_its_full_readiness_timeout_before_it_is_a_problem(connect) -> None:  # type: ignore[no-untyped-def]
    """A replica ready for a while, then frozen (SIGSTOP: a hung process keeps its port but answers nothing):
    its reason says its health endpoint stopped answering, and only ``ready_timeout_s`` after that is it
    a problem, not at the next probe because it started long ago. Thawed, it is ready again."""
    conn = await connect(make_graph("hang", {"decode": worker(ready_timeout_s=3.0)}))
    await eventually(lambda: replica(conn).phase is Phase.READY, what="ready")
    pid = replica(conn).pid
    assert pid is not None
    await eventually(lambda: time.time() - (replica(conn).started_at or time.time()) > 4.0, what="up for 4 s")
    os.kill(pid, signal.SIGSTOP)
    try:
        await eventually(
            lambda: (replica(conn).reason or "").startswith("health endpoint stopped answering: /health: no answer"),
            what="the hang noticed",
        )
        noticed = time.monotonic()
        assert replica(conn).phase is Phase.RUNNING
        assert not any("decode-0" in p for p in conn.problems)
        await eventually(
            lambda: (replica(conn).reason or "").startswith(
                "not ready after 3 s: health endpoint stopped answering: /health: no answer"
            ),
            what="the readiness timeout",
        )
        assert time.monotonic() - noticed >= 2.0  # counted from the hang, not from the start 4 s before it
        assert any(p.startswith("replica decode-0 not ready after 3 s") for p in conn.problems)
    finally:
        os.kill(pid, signal.SIGCONT)
    await eventually(lambda: replica(conn).phase is Phase.READY, what="ready again once thawed")
    assert replica(conn).reason is None and not any("decode-0" in p for p in conn.problems)
