"""Issue 11 item 8: a replica that crashes while the state file is unreadable or unwritable is restarted,
the failed write is retried in the background and shown as a problem, and the file is repaired from memory."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

from planner_tui.connectors.local import LocalConnector
from planner_tui.model.replicas import Phase
from tests.connectors.local.conftest import alive, eventually, make_graph, worker


def replica_pid(conn: LocalConnector) -> int | None:
    return conn.component_states()["decode"].replicas[0].pid


def restarted(conn: LocalConnector, old_pid: int) -> bool:
    replica = conn.component_states()["decode"].replicas[0]
    return replica.phase is Phase.READY and replica.pid not in (None, old_pid) and alive(replica.pid or 0)


def recorded_pid(path: Path) -> int | None:
    """The pid the state file records for the replica; None while the file is not readable JSON."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid: int | None = next(iter(data["replicas"].values()))["pid"]
    return pid


def state_file_problems(conn: LocalConnector) -> list[str]:
    return [p for p in conn.problems if "state file" in p]


async def test_a_crash_while_the_state_file_is_corrupt_is_restarted_and_the_file_rewritten(connect) -> None:  # type: ignore[no-untyped-def]
    conn = await connect(make_graph("corrupt", {"decode": worker(max_crash_restarts=1)}))
    await conn.wait_until_stable(["decode"], 30)
    old = replica_pid(conn)
    assert old is not None
    path = conn.supervisor.store.path
    path.write_text('{"namespace": "corrupt", "replicas": {')  # torn JSON

    os.kill(old, signal.SIGKILL)

    await eventually(lambda: restarted(conn, old), timeout=20, what="the replica restarted")
    new = replica_pid(conn)
    # the owner rewrote the file from memory: it is valid again and records the new process
    await eventually(lambda: recorded_pid(path) == new, timeout=10, what="the state file repaired")
    await eventually(lambda: not state_file_problems(conn), timeout=10, what="the problem cleared")


async def test_a_crash_while_the_state_file_cannot_be_written_is_restarted_and_the_write_retried(connect) -> None:  # type: ignore[no-untyped-def]
    conn = await connect(make_graph("unwritable", {"decode": worker(max_crash_restarts=1)}))
    await conn.wait_until_stable(["decode"], 30)
    sup = conn.supervisor
    sup.state_retry_cap_s = 0.3  # keep the background retries quick
    old = replica_pid(conn)
    assert old is not None
    path = sup.store.path
    # A directory in the file's place: neither readable nor replaceable, even for root.
    path.unlink()
    path.mkdir()
    try:
        os.kill(old, signal.SIGKILL)

        await eventually(lambda: restarted(conn, old), timeout=20, what="the replica restarted")
        await eventually(lambda: bool(state_file_problems(conn)), timeout=10, what="the failed write shown")
        problem = state_file_problems(conn)[0]
        assert str(path) in problem
        # retried in the background while it keeps failing, and still shown
        failures = sup.state_write_failures
        await eventually(lambda: sup.state_write_failures >= failures + 2, timeout=10, what="writes retried")
        assert state_file_problems(conn)
    finally:
        shutil.rmtree(path, ignore_errors=True)  # repaired: the path can hold a file again

    new = replica_pid(conn)
    await eventually(lambda: recorded_pid(path) == new, timeout=10, what="the state file rewritten from memory")
    await eventually(lambda: not state_file_problems(conn), timeout=10, what="the problem cleared")
    assert conn.component_states()["decode"].replicas[0].phase is Phase.READY
