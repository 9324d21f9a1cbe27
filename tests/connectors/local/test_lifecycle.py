"""Starting, attaching, shutting down and recovering a local graph."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from planner_tui.connectors.errors import ConnectorError, ScalingRefused
from planner_tui.connectors.local import LocalConnector
from planner_tui.model.replicas import Phase
from tests.connectors.local.conftest import alive, eventually, make_graph, worker


def pids_of(conn: LocalConnector) -> dict[str, int | None]:
    return {r.name: r.pid for s in conn.component_states().values() for r in s.replicas}


async def test_second_connector_attaches_to_the_running_graph(connect, state_root: Path) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph("attach", {"decode": worker()})
    first = await connect(graph)
    await first.scale_component("decode", 2)
    await first.wait_until_stable(["decode"], 30)
    circusd_pid = first.supervisor.state.circusd.pid  # type: ignore[union-attr]

    second = await connect(graph)  # same namespace: attaches through the state file
    assert second.supervisor.state.circusd.pid == circusd_pid  # type: ignore[union-attr]
    assert pids_of(second) == pids_of(first)
    await eventually(lambda: second.component_states()["decode"].ready_replicas == 2, what="attached view ready")

    third = await LocalConnector.attach("attach")  # no graph file
    assert third.graph.components["decode"].max_replicas == 4
    assert pids_of(third) == pids_of(first)
    assert third.component_states()["decode"].ready_replicas == 2  # right after attach, no waiting

    # a change through one instance is seen by the others' next transaction and does not clash
    await third.scale_component("decode", 3)
    await third.wait_until_stable(["decode"], 30)
    await first.scale_component("decode", 4)
    await first.wait_until_stable(["decode"], 30)
    indices = sorted(r.index for r in first.component_states()["decode"].replicas)
    assert indices == [0, 1, 2, 3]
    assert len({g for r in first.component_states()["decode"].replicas for g in r.gpus}) == 4
    await third.shutdown(stop_graph=False)


async def test_attach_without_a_running_graph_says_so() -> None:
    with pytest.raises(ConnectorError, match="no running graph in namespace ghost"):
        await LocalConnector.attach("ghost")


async def test_shutdown_stops_every_process(state_root: Path) -> None:
    graph = make_graph("stop-all", {"prefill": worker(role="prefill"), "decode": worker()})
    async with LocalConnector(graph.namespace, graph=graph) as conn:
        await conn.scale_component("decode", 3)
        await conn.wait_until_stable(["decode", "prefill"], 30)
        pids = [p for p in pids_of(conn).values() if p]
        circusd = conn.supervisor.state.circusd
        assert circusd is not None and len(pids) == 4
    assert not alive(circusd.pid)
    assert [p for p in pids if alive(p)] == []
    assert not (state_root / "local" / "stop-all.json").exists()


async def test_shutdown_can_leave_the_graph_running_for_attach(state_root: Path) -> None:
    graph = make_graph("keep", {"decode": worker()})
    conn = await LocalConnector.create("keep", graph=graph)
    await conn.wait_until_stable(["decode"], 30)
    pid = pids_of(conn)["decode-0"]
    await conn.shutdown(stop_graph=False)
    assert pid is not None and alive(pid)
    state = json.loads((state_root / "local" / "keep.json").read_text())
    assert state["replicas"]["keep_decode_0"]["pid"] == pid

    again = await LocalConnector.attach("keep")
    assert pids_of(again)["decode-0"] == pid
    await again.shutdown(stop_graph=True)
    assert not alive(pid)


async def test_circusd_killed_is_noticed_and_the_graph_recovered(connect) -> None:  # type: ignore[no-untyped-def]
    conn = await connect(make_graph("phoenix", {"decode": worker()}))
    await conn.scale_component("decode", 2)
    await conn.wait_until_stable(["decode"], 30)
    old = pids_of(conn)
    old_circusd = conn.supervisor.state.circusd
    assert old_circusd is not None

    os.kill(old_circusd.pid, signal.SIGKILL)  # its replicas become orphans

    await eventually(lambda: conn.recoveries == 1, what="circusd restarted")
    new_circusd = conn.supervisor.state.circusd
    assert new_circusd is not None and new_circusd.pid != old_circusd.pid and alive(new_circusd.pid)
    await conn.wait_until_stable(["decode"], 30)
    new = pids_of(conn)
    assert set(new) == set(old)
    assert all(not alive(pid) for pid in old.values() if pid)  # orphans were stopped
    assert all(pid and alive(pid) for pid in new.values())
    assert [r.phase for r in conn.component_states()["decode"].replicas] == [Phase.READY, Phase.READY]
    assert conn.problems == []


async def test_attach_restarts_a_graph_whose_circusd_died(connect, state_root: Path) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph("revive", {"decode": worker()})
    first = await LocalConnector.create("revive", graph=graph, auto_recover=False)
    await first.wait_until_stable(["decode"], 30)
    old_pid = pids_of(first)["decode-0"]
    circusd = first.supervisor.state.circusd
    assert circusd is not None
    await first.shutdown(stop_graph=False)
    os.kill(circusd.pid, signal.SIGKILL)
    await eventually(lambda: not alive(circusd.pid), what="circusd gone")

    second = await connect(graph)
    await second.wait_until_stable(["decode"], 30)
    assert old_pid is not None and not alive(old_pid)
    assert pids_of(second)["decode-0"] != old_pid


async def test_attach_with_a_changed_graph_stops_removed_components_and_restart_uses_the_new_command(
    connect,  # type: ignore[no-untyped-def]
) -> None:
    old_graph = make_graph("changed", {"frontend": worker(role="frontend", gpus_per_replica=0), "decode": worker()})
    first = await LocalConnector.create("changed", graph=old_graph)
    await first.wait_until_stable(["frontend", "decode"], 30)
    frontend_pid = pids_of(first)["frontend-0"]
    await first.shutdown(stop_graph=False)

    new_decode = worker(env={"GENERATION": "two"})
    new_graph = make_graph("changed", {"decode": new_decode})
    second = await connect(new_graph)
    assert frontend_pid is not None
    await eventually(lambda: not alive(frontend_pid), what="the dropped component stopped")
    assert list(second.component_states()) == ["decode"]
    await second.restart_component("decode")
    pid = pids_of(second)["decode-0"]
    assert pid is not None
    assert psutil.Process(pid).environ()["GENERATION"] == "two"
    third = await LocalConnector.attach("changed")
    assert list(third.graph.components) == ["decode"]
    await third.shutdown(stop_graph=False)


async def test_stopping_the_graph_from_one_connector_is_not_undone_by_another(state_root: Path) -> None:
    graph = make_graph("one-stops", {"decode": worker()})
    watcher = await LocalConnector.create("one-stops", graph=graph)
    stopper = await LocalConnector.attach("one-stops")
    await stopper.wait_until_stable(["decode"], 30)
    pids = [p for p in pids_of(stopper).values() if p]
    circusd = stopper.supervisor.state.circusd
    assert circusd is not None

    await stopper.shutdown(stop_graph=True)

    await eventually(lambda: watcher.supervisor.graph_stopped, what="the other connector saw the stop")
    assert "stopped by another planner-tui" in watcher.problems[0]
    assert watcher.recoveries == 0
    assert not alive(circusd.pid) and not any(alive(p) for p in pids)
    await watcher.shutdown(stop_graph=True)
    assert not (state_root / "local" / "one-stops.json").exists()


async def test_a_graph_that_cannot_start_leaves_nothing_behind(state_root: Path) -> None:
    graph = make_graph(
        "too-big",
        {"frontend": worker(role="frontend", gpus_per_replica=0), "decode": worker(min_replicas=3)},
        gpus=[0, 1, 2, 3],
    )
    # another namespace holds two of the four GPUs, so decode's three minimum replicas cannot start
    holder = await LocalConnector.create("holder", graph=make_graph("holder", {"decode": worker(min_replicas=2)}))
    try:
        with pytest.raises(ScalingRefused, match="needs 3 GPU"):
            await LocalConnector.create("too-big", graph=graph)
        assert not (state_root / "local" / "too-big.json").exists()
        assert [p.pid for p in psutil.process_iter() if _belongs_to(p, "too-big")] == []
    finally:
        await holder.shutdown(stop_graph=True)


def _belongs_to(proc: psutil.Process, namespace: str) -> bool:
    """A live circusd or replica process of ``namespace`` (by its config path or replica variable)."""
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if any(f"/local/{namespace}/" in part for part in proc.cmdline()):
            return True
        return proc.environ().get("PLANNER_TUI_REPLICA", "").startswith(f"{namespace}_")
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


async def test_circusd_log_has_no_traceback_after_starting_and_scaling(connect, state_root: Path) -> None:  # type: ignore[no-untyped-def]
    """Reported: every start logged ``ConflictError: arbiter is already running watcher_start command``."""
    graph = make_graph("clean-log", {"decode": worker(), "prefill": worker(role="prefill")}, gpus=list(range(8)))
    conn = await connect(graph)
    await conn.wait_until_stable(["decode", "prefill"], 30)
    for decode, prefill in ((3, 2), (1, 1), (2, 2)):  # both at once: circusd gets overlapping starts and stops
        await asyncio.gather(conn.scale_component("decode", decode), conn.scale_component("prefill", prefill))
        await conn.wait_until_stable(["decode", "prefill"], 30)
    log = (state_root / "local" / "clean-log" / "circusd.log").read_text()
    assert "clean-log_decode_2 started" in log  # the log is the one this graph's circusd wrote
    assert "Traceback" not in log and "[ERROR]" not in log, log


def test_circus_periodic_check_waits_for_a_running_command(tmp_path: Path) -> None:
    """circus's own check raises ConflictError while a command runs; circusd_main's skips to the next tick."""
    code = f"""
from circus.arbiter import Arbiter
from circus.exc import ConflictError
from planner_tui.connectors.local.circusd_main import _patch_periodic_check

arbiter = Arbiter([], "ipc://{tmp_path}/ctl.sock", "ipc://{tmp_path}/pub.sock", check_delay=0.25)
arbiter._exclusive_running_command = "watcher_start"
try:
    arbiter.manage_watchers()
except ConflictError:
    print("circus: ConflictError")
_patch_periodic_check()
print("patched:", arbiter.manage_watchers())
arbiter._exclusive_running_command = None
print("idle:", arbiter.manage_watchers().done())
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.splitlines() == ["circus: ConflictError", "patched: None", "idle: True"], result.stderr
