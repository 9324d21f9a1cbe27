"""`planner-tui record` killed with SIGKILL on a live demo graph: the recording reads back, every interval
before the kill is there, and at most the interval being written is lost."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from planner_tui.model import Role
from planner_tui.recording import RecordingError, read_recording
from planner_tui.recording.format import read_raw
from tests.connectors.local.conftest import state_root  # noqa: F401 - kills the orphaned graph at teardown
from tests.recording.live import demo_copy, start_record, wait_until


def snapshots_in(path: Path) -> int:
    try:
        return sum(1 for kind, _, _ in read_raw(path).lines if kind == "snapshot")
    except RecordingError:
        return 0


def test_a_recording_killed_with_sigkill_reads_back(tmp_path: Path, state_root: Path) -> None:  # noqa: F811
    output = tmp_path / "killed.ptrec"
    recorder = start_record(demo_copy(tmp_path, "rec-kill"), output, "--speedup", "4")
    try:
        wait_until(lambda: snapshots_in(output) >= 40, 90, "40 recorded intervals")
        before = snapshots_in(output)
        os.kill(recorder.pid, signal.SIGKILL)
        assert recorder.wait(10) == -signal.SIGKILL
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait(10)
    recording = read_recording(output)
    assert len(recording) >= before  # every interval seen written before the kill is there
    assert all("cut short" in p for p in recording.problems), recording.problems  # at most the one being written
    assert recording.header["recorded_by"] == "owner" and recording.graph.namespace == "rec-kill"
    last = recording.snapshot(len(recording) - 1)
    assert {s.spec.role for s in last.components.values()} == {Role.FRONTEND, Role.PREFILL, Role.DECODE}
    times = recording.snapshot_times
    assert times == sorted(times) and times[-1] - times[0] > 2.0
    assert recording.workload and sum(w.arrivals for w in recording.workload) > 0
    assert any(w.isl is not None and w.isl.total > 0 for w in recording.workload)
