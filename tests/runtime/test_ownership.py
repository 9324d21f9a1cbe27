"""One owner per graph: the lease, observers fed by the owner, and who may stop the graph."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from planner_tui.connectors.local import LocalConnector
from planner_tui.model import PlannerMode
from planner_tui.runtime import (
    DecisionMade,
    GraphObserver,
    GraphOwnedError,
    ReadOnlyError,
    Session,
    SessionError,
    SnapshotReady,
    open_graph,
    read_owner,
)
from planner_tui.runtime.ownership import GraphLease
from tests.connectors.local.conftest import alive, eventually
from tests.runtime.conftest import LoadFile, session_graph

HOLD = """
import sys, time
from planner_tui.runtime.ownership import GraphLease
lease = GraphLease.try_take(sys.argv[1])
print("held", flush=True)
time.sleep(600)
"""


def test_the_lease_has_one_holder_and_says_who(isolated_dirs: Path) -> None:
    first = GraphLease.try_take("own-a")
    try:
        with pytest.raises(GraphOwnedError, match=f"owned by pid {os.getpid()} on ") as owned:
            GraphLease.try_take("own-a")
        assert owned.value.owner.pid == os.getpid()
        owner = read_owner("own-a")
        assert owner is not None and owner.pid == os.getpid() and owner.host
        GraphLease.try_take("own-b").release()  # another graph has its own lease
    finally:
        first.release()
    assert read_owner("own-a") is None
    GraphLease.try_take("own-a").release()  # free again


def test_a_killed_owner_leaves_no_lease_behind(isolated_dirs: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, "own-kill"], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        owner = read_owner("own-kill")
        assert owner is not None and owner.pid == holder.pid
        with pytest.raises(GraphOwnedError):
            GraphLease.try_take("own-kill")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    assert read_owner("own-kill") is None
    GraphLease.try_take("own-kill").release()


def test_the_lease_file_is_private(isolated_dirs: Path) -> None:
    old = os.umask(0)
    try:
        lease = GraphLease.try_take("own-mode")
    finally:
        os.umask(old)
    try:
        assert os.stat(lease.path).st_mode & 0o777 == 0o600
        assert os.stat(lease.path.parent).st_mode & 0o777 == 0o700
    finally:
        lease.release()


async def test_a_second_opener_observes_the_owner_read_only(open_session, load_file: LoadFile) -> None:  # type: ignore[no-untyped-def]
    graph = session_graph("own-obs", load_file)
    load_file.set("decode", kv=0.97)  # the owner's planner scales decode up
    owner = await open_session(graph)
    assert owner.lease is not None and owner.publisher is not None
    events = owner.subscribe()
    while not isinstance(await asyncio.wait_for(events.get(), 30), DecisionMade):
        pass

    observer = await open_graph(graph)
    assert isinstance(observer, GraphObserver)
    try:
        assert observer.read_only and observer.owner.pid == os.getpid()
        assert observer.graph == graph and observer.connector.kind == "local"
        assert observer.decisions, "the owner's recent decisions are sent on connecting"
        feed = observer.subscribe()
        got_snapshot = got_decision = False
        while not (got_snapshot and got_decision):
            event = await asyncio.wait_for(feed.get(), 30)
            got_snapshot |= isinstance(event, SnapshotReady)
            got_decision |= isinstance(event, DecisionMade)
        snap = observer.latest_snapshot
        assert snap is not None and set(snap.components) == {"prefill", "decode"}
        assert observer.mode is PlannerMode.AUTO
        for action in (
            observer.scale("decode", 2),
            observer.pin("decode"),
            observer.restart("decode"),
            observer.set_mode(PlannerMode.PAUSED),
        ):
            with pytest.raises(ReadOnlyError, match=f"owned by pid {os.getpid()}"):
                await action
        logs = await observer.logs("decode", 5)
        assert isinstance(logs, list)
    finally:
        await observer.close(stop_graph=True)  # an observer never stops the graph, whatever it asks
    states = await owner.connector.get_component_states()
    assert states["decode"].ready_replicas >= 1
    assert all(alive(r.pid) for s in states.values() for r in s.replicas if r.pid)


async def test_observers_learn_when_the_owner_stops(open_session, load_file: LoadFile) -> None:  # type: ignore[no-untyped-def]
    graph = session_graph("own-stop", load_file)
    owner = await open_session(graph)
    observer = await open_graph(graph)
    assert isinstance(observer, GraphObserver)
    feed = observer.subscribe()
    await owner.close(stop_graph=True)
    await asyncio.wait_for(observer.disconnected.wait(), 10)
    messages = []
    while not feed.empty():
        event = feed.get_nowait()
        if isinstance(event, SessionError):
            messages.append(event.message)
    assert any("stopped publishing" in m for m in messages)
    await observer.close()
    assert read_owner(graph.namespace) is None
    # now a new opener owns it
    again = await open_session(graph)
    assert isinstance(again, Session) and again.lease is not None


async def test_an_observing_connector_changes_nothing(open_session, load_file: LoadFile) -> None:  # type: ignore[no-untyped-def]
    graph = session_graph("own-ro", load_file)
    owner = await open_session(graph)
    states = await owner.connector.get_component_states()
    pids = {r.name: r.pid for s in states.values() for r in s.replicas}
    await owner.runner.stop(timeout=5.0)
    # kill a replica: an observer must see it down, and must not restart it
    victim = next(p for p in pids.values() if p)
    os.kill(victim, signal.SIGKILL)
    await owner.connector._monitor.stop()  # type: ignore[attr-defined]  # the owner stops looking after it
    # SIGKILL takes effect when the process next runs: on a busy machine that can be a while
    await eventually(lambda: not alive(victim), 10, "the killed replica gone")
    observer = await LocalConnector.attach(graph.namespace, observe=True)
    try:
        view = observer.component_states()
        phases = {r.name: r.phase.value for s in view.values() for r in s.replicas}
        assert "crashed" in phases.values()
        with pytest.raises(Exception, match="only observes"):
            await observer.scale_component("decode", 2)
        with pytest.raises(Exception, match="only observes"):
            await observer.restart_component("decode")
    finally:
        await observer.shutdown(stop_graph=True)
    assert not alive(victim)
    states = await owner.connector.get_component_states()
    assert {r.name: r.pid for s in states.values() for r in s.replicas} == pids  # nothing relaunched
    assert owner.connector.supervisor.circusd_alive()  # type: ignore[attr-defined]


async def test_a_feed_that_cannot_start_leaves_nothing_running(  # type: ignore[no-untyped-def]
    open_session, load_file: LoadFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    from planner_tui.runtime.publisher import SnapshotPublisher

    async def refuse(self: SnapshotPublisher) -> None:
        raise OSError("no room for a socket")

    monkeypatch.setattr(SnapshotPublisher, "start", refuse)
    graph = session_graph("own-feedfail", load_file)
    tasks_before = {t.get_name() for t in asyncio.all_tasks()}
    with pytest.raises(OSError, match="no room for a socket"):
        await open_session(graph)
    assert read_owner(graph.namespace) is None  # the lease is given back
    leftover = {t.get_name() for t in asyncio.all_tasks() if not t.done()} - tasks_before
    assert not [name for name in leftover if name in ("session-snapshots", "publisher")]
    left = await LocalConnector.attach(graph.namespace)  # the graph stays for a later owner (--leave-running)
    await left.shutdown(stop_graph=True)
