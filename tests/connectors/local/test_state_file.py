"""The namespace state file: atomic writes, clear errors, reconciliation with circus on attach."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from planner_tui.connectors.errors import ConnectorError
from planner_tui.connectors.local import LocalConnector
from planner_tui.connectors.local.circus_client import CircusClient
from planner_tui.connectors.local.state_file import NamespaceState, ReplicaRecord, StateStore
from planner_tui.connectors.local.supervisor import Supervisor
from tests.connectors.local.conftest import alive, eventually, make_graph, worker


def test_write_is_atomic_and_round_trips(tmp_path: Path) -> None:
    store = StateStore("ns", tmp_path)
    state = NamespaceState(namespace="ns", graph={"namespace": "ns"}, desired={"decode": 2})
    state.replicas["ns_decode_0"] = ReplicaRecord(component="decode", index=0, gpus=[3], port=21000, pid=42)
    with store.locked():
        store.write(state)
    again = store.read()
    assert again is not None
    assert again.desired == {"decode": 2}
    assert again.replicas["ns_decode_0"].gpus == [3] and again.replicas["ns_decode_0"].pid == 42
    assert sorted(p.name for p in (tmp_path / "local").iterdir()) == ["allocations.lock", "ns.json"]


def test_a_corrupt_state_file_is_named_with_the_fix(tmp_path: Path) -> None:
    store = StateStore("ns", tmp_path)
    store.root.mkdir(parents=True)
    store.path.write_text("{not json")
    with pytest.raises(ConnectorError, match=r"state file .*ns\.json is unreadable: .* delete the file"):
        store.read()


async def test_a_failed_change_leaves_the_previous_file_intact(tmp_path: Path) -> None:
    graph = make_graph("intact", {"decode": worker()})
    store = StateStore("intact", tmp_path)
    sup = Supervisor(store, graph, str(tmp_path))
    await sup.transact(lambda s: s.desired.__setitem__("decode", 1))
    before = store.path.read_bytes()

    def broken(state: NamespaceState) -> None:
        state.desired["decode"] = 99
        raise ValueError("boom")

    with pytest.raises(ValueError):
        await sup.transact(broken)
    assert store.path.read_bytes() == before
    assert json.loads(before)["desired"] == {"decode": 1}


async def test_attach_reconciles_with_what_circus_runs(connect, state_root: Path) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph("reconcile", {"decode": worker()})
    first = await LocalConnector.create("reconcile", graph=graph)
    await first.scale_component("decode", 2)
    await first.wait_until_stable(["decode"], 30)
    pids = {r.index: r.pid for r in first.component_states()["decode"].replicas}
    circusd = first.supervisor.state.circusd
    assert circusd is not None
    await first.shutdown(stop_graph=False)

    # behind planner-tui's back: a stray watcher in the namespace, and a replica's watcher removed
    client = CircusClient(circusd.endpoint)
    stray = await client.call(
        "add",
        name="reconcile_decode_7",
        cmd=sys.executable,
        args=["-c", "import time; time.sleep(60)"],
        options={"respawn": False},
        start=True,
        waiting=True,
    )
    stray_pid = stray["started"][0]
    await client.call("rm", name="reconcile_decode_1", waiting=True)
    await client.close()
    assert not alive(pids[1])

    second = await connect(graph)
    await second.wait_until_stable(["decode"], 30)
    replicas = second.component_states()["decode"].replicas
    assert [r.index for r in replicas] == [0, 1]
    assert replicas[0].pid == pids[0]  # adopted, not restarted
    assert replicas[1].pid != pids[1] and alive(replicas[1].pid)  # started again
    await eventually(lambda: not alive(stray_pid), what="stray watcher removed")
    statuses = await second.supervisor.watcher_statuses()
    assert sorted(statuses) == ["reconcile_decode_0", "reconcile_decode_1"]


def test_every_field_of_a_replica_record_survives_the_file_and_a_wrong_type_is_named() -> None:
    import dataclasses

    from planner_tui.connectors.local.state_file import ReplicaRecord

    full = ReplicaRecord(
        "decode", 3, gpus=[1, 2], port=21000, pid=42, pid_create_time=1.5, started_at=2.0, restarts=4,
        crash_streak=1, exit_code=-9, failed_reason="crashed 5 times", stopping=True,
    )  # fmt: skip
    assert {f.name for f in dataclasses.fields(ReplicaRecord)} == set(dataclasses.asdict(full))
    assert ReplicaRecord.from_json(dataclasses.asdict(full)) == full
    assert ReplicaRecord.from_json({"component": "a", "index": 0, "started_at": 7, "future_key": 1}).started_at == 7.0
    bad = {"component": "a", "index": True, "gpus": [0, "1"], "stopping": "yes", "pid_create_time": "now"}
    with pytest.raises(ValueError) as info:
        ReplicaRecord.from_json(bad)
    for named in ("index: expected an integer", "gpus: expected a list", "stopping: expected true or false"):
        assert named in str(info.value)
    assert "pid_create_time: expected a number" in str(info.value)
