"""A worker killed with -9 and restarted under the same name: none of its requests is stranded."""

from __future__ import annotations

import signal

from tests.sim.conftest import SimGraph, wait_for


def test_a_killed_worker_restarted_under_its_name_strands_no_request(sim: SimGraph) -> None:
    # A lease far longer than the restart, as under the local connector: the new process heartbeats
    # under the replica's name while the dead one's lease is still valid.
    sim.start_frontend("--profile", "constant", "--rps", "8", "--isl", "256", "--lease", "4")
    sim.start_worker("prefill")
    victim = sim.start_worker("decode", "--kv-blocks", "512", worker_id="decode-r0")
    wait_for(lambda: sim.held_by("decode-r0") >= 5, 30, "decode-r0 to hold requests")
    victim.popen.send_signal(signal.SIGKILL)
    victim.popen.wait(10)
    sim.start_worker("decode", "--kv-blocks", "512", worker_id="decode-r0")  # the restarted replica
    wait_for(lambda: sim.stats()["completed"] > 0, 30, "requests to complete after the restart")
    sim.set_rps(0)
    final = wait_for(lambda: (s := sim.stats())["in_flight"] == 0 and s, 45, "every request to complete or fail")
    conservation = final["conservation"]
    assert conservation["drained"] is True and conservation["in_flight"] == 0
    assert conservation["arrived"] == conservation["completed"] + conservation["failed"] > 20
    assert final["handed_back"] > 0  # the dead process's requests went back to the queue
