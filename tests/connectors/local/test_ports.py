"""Issue 11 item 10: a replica whose port another program took moves to a free port; a fixed port
held by another program is reported (with its holder) and retried until it is freed."""

from __future__ import annotations

import os
import signal
import socket

from planner_tui.connectors.local import LocalConnector
from planner_tui.model.replicas import Phase, ReplicaState
from tests.connectors.local.conftest import alive, eventually, make_graph, worker


def the_replica(conn: LocalConnector) -> ReplicaState:
    return conn.component_states()["decode"].replicas[0]


def listen_on(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port``: the port is taken by this (test) process."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


async def steal_port_of(conn: LocalConnector) -> tuple[int, socket.socket]:
    """Kill the replica with -9 and take its port before it is restarted."""
    replica = the_replica(conn)
    assert replica.pid is not None and replica.port is not None
    os.kill(replica.pid, signal.SIGKILL)
    await eventually(lambda: not alive(replica.pid or 0), timeout=5, what="the replica gone")
    return replica.port, listen_on(replica.port)


async def test_a_replica_whose_port_was_taken_moves_to_a_free_port(connect) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph("stolen", {"decode": worker(max_crash_restarts=1)})
    conn = await connect(graph, crash_backoff_s=0.5)
    await conn.wait_until_stable(["decode"], 30)
    old_port, sock = await steal_port_of(conn)
    with sock:

        def moved() -> bool:
            replica = the_replica(conn)
            return replica.phase is Phase.READY and replica.port not in (None, old_port)

        await eventually(moved, timeout=20, what="the replica ready on another port")
        replica = the_replica(conn)
        assert replica.reason is not None
        assert f"port {old_port} taken by PID {os.getpid()}" in replica.reason
        assert f"moved to {replica.port}" in replica.reason
        first, last = graph.resources.port_range
        assert replica.port is not None and first <= replica.port <= last
        watcher = f"stolen_decode_{replica.index}"
        assert conn.supervisor.state.replicas[watcher].port == replica.port
        recorded = conn.supervisor.store.read()
        assert recorded is not None and recorded.replicas[watcher].port == replica.port


async def test_a_fixed_port_held_by_another_program_is_reported_and_retried_until_freed(connect) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fixed = worker(port=port, gpus_per_replica=0, max_replicas=1, max_crash_restarts=1)
    conn = await connect(make_graph("fixed", {"decode": fixed}), crash_backoff_s=0.3, crash_backoff_cap_s=0.6)
    await conn.wait_until_stable(["decode"], 30)
    _, sock = await steal_port_of(conn)
    with sock:

        def reported() -> bool:
            reason = the_replica(conn).reason or ""
            return f"port {port} taken by PID {os.getpid()}" in reason

        await eventually(reported, timeout=20, what="the holder reported")
        rt = conn.supervisor.runtime_of("fixed_decode_0")
        # it keeps retrying (with backoff) and is never failed for it
        await eventually(lambda: rt.port_waits >= 4, timeout=20, what="several retries")
        replica = the_replica(conn)
        assert replica.phase is not Phase.FAILED and reported()
    await eventually(lambda: the_replica(conn).phase is Phase.READY, timeout=20, what="started once the port is free")
    replica = the_replica(conn)
    assert replica.port == port and replica.pid is not None and alive(replica.pid)
