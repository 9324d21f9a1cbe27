"""Fault injection on the local connector (issue 11): circusd SIGKILL under a running graph, crashes
while the state file is corrupt or unwritable, ports stolen by another program.

Each test drives a real circusd and real replica processes, and ends by stopping the graph and checking
that no process it ever recorded (circusd or replica) is left, nor any circusd of its state directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
from pathlib import Path

import psutil

from planner_tui.connectors.local import LocalConnector
from planner_tui.model.replicas import Phase
from tests.connectors.local.conftest import (  # noqa: F401 -- connect and state_root are fixtures
    alive,
    connect,
    eventually,
    make_graph,
    state_root,
    worker,
)
from tests.connectors.local.test_ports import listen_on


class PidLog:
    """Every circusd and replica pid a connector showed while the test watched it."""

    def __init__(self, conn: LocalConnector) -> None:
        self.conn = conn
        self.pids: set[int] = set()

    def see(self) -> None:
        """Record the pids shown now."""
        for state in self.conn.component_states().values():
            self.pids.update(r.pid for r in state.replicas if r.pid)
        circusd = self.conn.supervisor.state.circusd
        if circusd is not None:
            self.pids.add(circusd.pid)

    def all_ready(self, component: str, count: int) -> bool:
        """True when ``component`` has ``count`` replicas, all ready (records the pids on the way)."""
        self.see()
        replicas = self.conn.component_states()[component].replicas
        return len(replicas) == count and all(r.phase is Phase.READY for r in replicas)

    def pids_of(self, component: str) -> list[int]:
        """The component's replica pids now."""
        self.see()
        return [r.pid for r in self.conn.component_states()[component].replicas if r.pid]


async def stop_and_check_no_orphans(conn: LocalConnector, pids: PidLog, state_root: Path) -> None:  # noqa: F811
    """Stop the graph; every recorded pid is gone, and no circusd of this state directory runs."""
    pids.see()
    await conn.shutdown(stop_graph=True)
    left = sorted(p for p in pids.pids if alive(p))
    assert left == [], f"processes left after shutdown: {left}"
    ours = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "circus" in cmdline and str(state_root) in cmdline:
            ours.append(proc.info["pid"])
    assert ours == [], f"circusd processes of this graph left: {ours}"


def two_component_graph(fixed_port: int | None = None) -> dict[str, dict[str, object]]:
    frontend = worker(role="frontend", gpus_per_replica=0, max_replicas=1, max_crash_restarts=1)
    if fixed_port is not None:
        frontend["port"] = fixed_port
    return {"frontend": frontend, "decode": worker(max_crash_restarts=1, initial_replicas=2)}


async def test_circusd_sigkill_under_a_running_graph_recovers_it_without_orphans(connect, state_root: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    conn = await connect(make_graph("fault-circusd", two_component_graph()))
    pids = PidLog(conn)
    await eventually(lambda: pids.all_ready("decode", 2) and pids.all_ready("frontend", 1), what="graph ready")
    before = set(pids.pids_of("decode") + pids.pids_of("frontend"))
    circusd = conn.supervisor.state.circusd
    assert circusd is not None

    os.kill(circusd.pid, signal.SIGKILL)

    await eventually(lambda: conn.recoveries == 1, timeout=20, what="circusd restarted")
    await eventually(lambda: pids.all_ready("decode", 2) and pids.all_ready("frontend", 1), what="graph recovered")
    after = set(pids.pids_of("decode") + pids.pids_of("frontend"))
    assert not before & after
    assert all(not alive(p) for p in before)  # the old circusd's orphans were stopped
    assert conn.problems == []
    await stop_and_check_no_orphans(conn, pids, state_root)


def recorded_pids(path: Path) -> set[int] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return {r["pid"] for r in data["replicas"].values() if r.get("pid")}


async def test_crashes_while_the_state_file_is_corrupt_then_unwritable(connect, state_root: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    conn = await connect(make_graph("fault-state", {"decode": worker(max_crash_restarts=1, initial_replicas=2)}))
    conn.supervisor.state_retry_cap_s = 0.3
    pids = PidLog(conn)
    await eventually(lambda: pids.all_ready("decode", 2), what="graph ready")
    path = conn.supervisor.store.path

    # 1. corrupt JSON, then a crash: restarted, and the file rewritten from memory
    first = pids.pids_of("decode")[0]
    path.write_text("\x00garbage{")
    os.kill(first, signal.SIGKILL)
    await eventually(lambda: first not in pids.pids_of("decode") and pids.all_ready("decode", 2), what="restart 1")
    await eventually(lambda: recorded_pids(path) == set(pids.pids_of("decode")), timeout=10, what="file repaired")

    # 2. unwritable (a directory in the file's place), then a crash: restarted, the problem shown
    path.unlink()
    path.mkdir()
    try:
        second = pids.pids_of("decode")[1]
        os.kill(second, signal.SIGKILL)
        await eventually(lambda: second not in pids.pids_of("decode") and pids.all_ready("decode", 2), what="restart 2")
        await eventually(lambda: any("state file" in p for p in conn.problems), timeout=10, what="problem shown")
    finally:
        shutil.rmtree(path, ignore_errors=True)
    await eventually(lambda: recorded_pids(path) == set(pids.pids_of("decode")), timeout=10, what="file rewritten")
    await eventually(lambda: not any("state file" in p for p in conn.problems), timeout=10, what="problem cleared")
    await stop_and_check_no_orphans(conn, pids, state_root)


async def test_stolen_ports_move_or_wait_and_nothing_is_failed(connect, state_root: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        fixed_port = probe.getsockname()[1]
    graph = make_graph("fault-ports", two_component_graph(fixed_port))
    conn = await connect(graph, crash_backoff_s=0.4, crash_backoff_cap_s=0.8)
    pids = PidLog(conn)
    await eventually(lambda: pids.all_ready("decode", 2) and pids.all_ready("frontend", 1), what="graph ready")
    victims = [conn.component_states()["decode"].replicas[0], conn.component_states()["frontend"].replicas[0]]

    for victim in victims:
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
    await eventually(lambda: not any(alive(v.pid or 0) for v in victims), timeout=5, what="victims gone")
    socks = [listen_on(v.port or 0) for v in victims]
    try:
        moved_port = victims[0].port

        def decode_moved() -> bool:
            replica = conn.component_states()["decode"].replicas[0]
            return pids.all_ready("decode", 2) and replica.port != moved_port

        await eventually(decode_moved, timeout=20, what="decode-0 moved")
        reason = conn.component_states()["decode"].replicas[0].reason or ""
        assert f"port {moved_port} taken by PID {os.getpid()}" in reason
        await eventually(
            lambda: f"port {fixed_port} taken" in (conn.component_states()["frontend"].replicas[0].reason or ""),
            timeout=10,
            what="the fixed port's holder reported",
        )
        rt = conn.supervisor.runtime_of("fault-ports_frontend_0")
        await eventually(lambda: rt.port_waits >= 3, timeout=15, what="retries of the fixed port")
        frontend = conn.component_states()["frontend"].replicas[0]
        assert frontend.phase is Phase.CRASHED
    finally:
        for sock in socks:
            sock.close()
    await eventually(lambda: pids.all_ready("frontend", 1), timeout=20, what="frontend started once freed")
    assert conn.component_states()["frontend"].replicas[0].port == fixed_port
    await stop_and_check_no_orphans(conn, pids, state_root)
