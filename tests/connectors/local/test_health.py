"""Replica health: readiness, crash restarts with backoff, the failed state, rolling restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from planner_tui.connectors.errors import ConnectorError
from planner_tui.model.replicas import Phase
from planner_tui.model.scaling import TargetReplica
from tests.connectors.local.conftest import alive, eventually, make_graph, replica_args, worker


async def test_crashing_replica_is_restarted_with_backoff_then_marked_failed(connect) -> None:  # type: ignore[no-untyped-def]
    crashing = worker(args=replica_args("--exit-after", "0.4", "--exit-code", "3"), max_crash_restarts=2)
    conn = await connect(make_graph("crashy", {"decode": crashing}), crash_backoff_s=0.2)
    seen_pids: set[int] = set()
    seen_phases: set[Phase] = set()

    def failed() -> bool:
        replica = conn.component_states()["decode"].replicas[0]
        seen_phases.add(replica.phase)
        if replica.pid:
            seen_pids.add(replica.pid)
        return replica.phase is Phase.FAILED

    await eventually(failed, timeout=30, what="replica marked failed")
    replica = conn.component_states()["decode"].replicas[0]
    assert replica.restarts == 2
    assert replica.exit_code == 3
    assert replica.reason is not None
    assert "exited with code 3" in replica.reason and "max_crash_restarts = 2" in replica.reason
    assert "crashing with 3" in replica.reason  # the last stderr line explains the crash
    assert Phase.CRASHED in seen_phases
    assert len(seen_pids) == 3  # the first process and two restarts
    await asyncio.sleep(0.8)  # no restart after the failed state
    assert conn.component_states()["decode"].replicas[0].restarts == 2
    assert all(not alive(pid) for pid in seen_pids)


async def test_a_crash_in_a_steady_graph_is_noticed_through_circus_without_waiting_for_the_next_look(connect) -> None:  # type: ignore[no-untyped-def]
    # once every replica is ready the monitor looks only now and then; here "then" is an hour away, so
    # only circus's report of the exit (which wakes the monitor) can notice the crash and restart the replica
    conn = await connect(make_graph("steady", {"decode": worker(min_replicas=2)}))
    monitor = conn._monitor
    assert monitor is not None
    monitor.steady_interval_s = 3600.0
    await eventually(monitor.steady, what="every replica ready: the monitor at its steady pace")
    victim, other = conn.component_states()["decode"].replicas
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)

    def restarted() -> bool:
        replica = conn.component_states()["decode"].replicas[0]
        return replica.restarts == 1 and replica.phase is Phase.READY and replica.pid != victim.pid

    await eventually(restarted, what="the killed replica restarted and ready again")
    replica = conn.component_states()["decode"].replicas[0]
    assert replica.exit_code == -signal.SIGKILL
    assert conn.component_states()["decode"].replicas[1].pid == other.pid  # the other replica untouched
    await eventually(monitor.steady, what="steady again after the restart")


async def test_a_replica_that_runs_a_while_between_crashes_is_not_failed(connect) -> None:  # type: ignore[no-untyped-def]
    # crashes after 0.8 s each time; runs longer than crash_reset_after_s, so each crash starts a new streak
    flaky = worker(args=replica_args("--exit-after", "0.8", "--exit-code", "4"), max_crash_restarts=1)
    conn = await connect(make_graph("flaky", {"decode": flaky}), crash_backoff_s=0.1, crash_reset_after_s=0.5)
    await eventually(lambda: conn.component_states()["decode"].replicas[0].restarts >= 3, timeout=30, what="3 restarts")
    replica = conn.component_states()["decode"].replicas[0]
    assert replica.phase is not Phase.FAILED
    assert replica.exit_code == 4


async def test_missing_executable_fails_the_replica_with_the_reason_quickly(connect) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph(
        "missing",
        {
            "frontend": worker(role="frontend", gpus_per_replica=0),
            "decode": worker(command="no-such-serving-binary", args=["--port", "{port}"], min_replicas=0),
        },
    )
    conn = await connect(graph)
    started = time.monotonic()
    assert await conn.scale_component("decode", 1) is True
    assert time.monotonic() - started < 5
    replica = conn.component_states()["decode"].replicas[0]
    assert replica.phase is Phase.FAILED
    assert replica.reason is not None and "'no-such-serving-binary' not found on PATH" in replica.reason
    try:
        await conn.set_component_replicas([TargetReplica(component_name="decode", desired_replicas=1)], blocking=True)
    except ConnectorError as exc:
        assert "no-such-serving-binary" in str(exc)
    else:
        raise AssertionError("a blocking scale with a failed replica must raise")
    assert conn.component_states()["frontend"].replicas[0].phase is not Phase.FAILED


async def test_command_that_exits_at_once_is_failed_without_hanging(connect) -> None:  # type: ignore[no-untyped-def]
    quitter = worker(args=["-c", "import sys; print('bad flag', file=sys.stderr); sys.exit(7)"], max_crash_restarts=0)
    quitter.pop("health_url")
    conn = await connect(make_graph("quitter", {"decode": quitter}))
    await eventually(
        lambda: conn.component_states()["decode"].replicas[0].phase is Phase.FAILED, timeout=20, what="failed"
    )
    replica = conn.component_states()["decode"].replicas[0]
    assert replica.exit_code == 7
    assert replica.reason is not None and "exited with code 7" in replica.reason and "bad flag" in replica.reason


async def test_rolling_restart_replaces_pids_one_at_a_time(connect) -> None:  # type: ignore[no-untyped-def]
    conn = await connect(make_graph("rolling", {"decode": worker(min_replicas=3, max_replicas=3)}))
    await conn.wait_until_stable(["decode"], 30)
    original = {r.index: r.pid for r in conn.component_states()["decode"].replicas}
    samples: list[dict[int, int | None]] = []
    not_ready_max = 0

    async def sample() -> None:
        nonlocal not_ready_max
        while True:
            replicas = conn.component_states()["decode"].replicas
            samples.append({r.index: r.pid for r in replicas})
            not_ready_max = max(not_ready_max, sum(1 for r in replicas if r.phase is not Phase.READY))
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    try:
        assert await conn.restart_component("decode") is True
    finally:
        sampler.cancel()
    final = {r.index: r.pid for r in conn.component_states()["decode"].replicas}
    assert all(final[i] != original[i] for i in original)
    assert not_ready_max == 1  # never more than one replica out of service
    # the order of replacement: replica 0 first, then 1, then 2
    replaced_at = {i: next(n for n, s in enumerate(samples) if s.get(i) not in (original[i], None)) for i in original}
    assert replaced_at[0] < replaced_at[1] < replaced_at[2]
    assert all(not alive(p) for p in original.values() if p)


async def test_restart_all_at_once_replaces_every_pid(connect) -> None:  # type: ignore[no-untyped-def]
    conn = await connect(make_graph("at-once", {"decode": worker(min_replicas=2, max_replicas=2)}))
    await conn.wait_until_stable(["decode"], 30)
    original = {r.index: r.pid for r in conn.component_states()["decode"].replicas}
    assert await conn.restart_component("decode", rolling=False) is True
    await conn.wait_until_stable(["decode"], 30)
    final = {r.index: r.pid for r in conn.component_states()["decode"].replicas}
    assert all(final[i] != original[i] for i in original)
    assert all(r.restarts == 0 for r in conn.component_states()["decode"].replicas)


async def test_replica_is_running_not_ready_until_its_health_url_answers(connect) -> None:  # type: ignore[no-untyped-def]
    slow = worker(args=replica_args("--ready-after", "1.5"))
    conn = await connect(make_graph("warmup", {"decode": slow}))
    await eventually(lambda: conn.component_states()["decode"].replicas[0].phase is Phase.RUNNING, what="running")
    assert conn.component_states()["decode"].ready_replicas == 0
    await eventually(lambda: conn.component_states()["decode"].replicas[0].phase is Phase.READY, what="ready")
