"""`planner-tui record` on a graph another process owns (a running `plan`): it records as an observer — the
owner's Snapshots and decisions, the decisions made before it attached included — and changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from planner_tui.config.leases import read_owner
from planner_tui.recording import read_recording
from tests.connectors.local.conftest import state_root  # noqa: F401 - kills the graph at teardown if a test fails
from tests.recording.live import demo_copy, start_record, wait_until


def test_record_attached_to_a_running_plan_records_as_an_observer(tmp_path: Path, state_root: Path) -> None:  # noqa: F811
    graph_file = demo_copy(tmp_path, "rec-observe")
    plan_log = open(tmp_path / "plan.log", "wb")  # noqa: SIM115 - the child writes to it
    owner = subprocess.Popen(
        [sys.executable, "-m", "planner_tui", "plan", "--graph", str(graph_file), "--speedup", "4", "--json"],
        stdout=plan_log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )
    output = tmp_path / "observed.ptrec"
    try:
        owned = wait_until(lambda: read_owner("rec-observe"), 60, "the plan owning the graph")
        assert owned.pid == owner.pid
        wait_until(lambda: (tmp_path / "plan.log").read_text().count('"timestamp"') >= 1, 60, "a first decision")
        recorder = start_record(graph_file, output, "--duration", "6")
        assert recorder.wait(60) == 0, (output.with_suffix(".log")).read_text()
        assert owner.poll() is None  # the owner runs on: the recorder only observed
        owned_after = read_owner("rec-observe")
        assert owned_after is not None and owned_after.pid == owner.pid
    finally:
        owner.send_signal(signal.SIGINT)
        try:
            owner.wait(60)
        finally:
            if owner.poll() is None:
                owner.kill()
                owner.wait(10)
    recording = read_recording(output)
    assert recording.problems == []
    assert recording.header["recorded_by"] == "observer" and recording.graph.namespace == "rec-observe"
    assert len(recording) >= 3  # the owner's Snapshots, one per interval it published
    assert recording.decisions  # the owner's decisions (those made before attaching too)
    assert "observing pid" in output.with_suffix(".log").read_text()
