"""The audit log: durable JSON lines, rotation, torn lines, and surviving a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

from planner_tui.model import ComponentDecision, Decision, LimitApplied, Outcome, PlannerMode, Signal, SignalValue
from planner_tui.planner.audit import AuditLog, audit_files, default_audit_path, read_records
from planner_tui.planner.records import decision_from_dict, decision_to_dict, summary_line


def sample_decision(ts: float, target: int = 2) -> Decision:
    inputs = (SignalValue("decode", Signal.KV_USAGE, 0.95, ts - 1.5, replica="decode-0", source="scrape"),)
    comp = ComponentDecision(
        component="decode",
        policy="load",
        current=1,
        desired=target,
        target=target,
        reason=f"decode 1->{target}: KV load 0.95 > 0.90 for 1 interval",
        inputs=inputs,
        limits=(LimitApplied("max_replicas", 3, target, f"max_replicas {target}"),),
        outcome=Outcome.APPLIED,
    )
    return Decision(ts, PlannerMode.AUTO, (comp,), namespace="demo", snapshot_timestamp=ts - 0.5)


def test_records_round_trip_with_input_age() -> None:
    decision = sample_decision(1000.0)
    data = decision_to_dict(decision)
    assert data["components"][0]["inputs"][0]["age_s"] == 1.5
    assert data["summary"] == "SCALE_UP | decode 1->2: KV load 0.95 > 0.90 for 1 interval | current: decode=2"
    assert decision_from_dict(json.loads(json.dumps(data))) == decision


def test_summary_marks_advisory_and_failures() -> None:
    decision = sample_decision(1000.0)
    failed = replace(decision, components=(replace(decision.components[0], outcome=Outcome.FAILED, error="boom"),))
    assert summary_line(failed).startswith("SCALE_UP (FAILED: decode: boom) | ")
    assert summary_line(failed).endswith("current: decode=1")
    advisory = replace(decision, mode=PlannerMode.ADVISORY)
    assert summary_line(advisory).startswith("SCALE_UP (advisory) | decode 1->2")


def test_default_path_is_under_the_state_dir(isolated_dirs: Path) -> None:
    assert default_audit_path("demo") == isolated_dirs / "state" / "demo" / "decisions.jsonl"


def test_rotation_keeps_backups_and_loses_nothing_recent(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "decisions.jsonl", max_bytes=4096, backups=2)
    for i in range(40):
        log.append(sample_decision(1000.0 + i))
    log.close()
    files = audit_files(tmp_path / "decisions.jsonl")
    assert [f.name for f in files] == ["decisions.jsonl.2", "decisions.jsonl.1", "decisions.jsonl"]
    assert all(f.stat().st_size <= 4096 for f in files)
    stamps = [r["timestamp"] for r in read_records(tmp_path / "decisions.jsonl")]
    assert stamps == sorted(stamps) and stamps[-1] == 1039.0
    assert len(stamps) == len(set(stamps))


def test_reader_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    log = AuditLog(path)
    log.append(sample_decision(1.0))
    log.close()
    with open(path, "a") as handle:
        handle.write('{"timestamp": 2, "comp')
    assert [r["timestamp"] for r in read_records(path)] == [1.0]


WRITER = textwrap.dedent(
    """
    import sys, time
    from planner_tui.planner.audit import AuditLog
    from tests.planner.test_audit import sample_decision
    log = AuditLog(sys.argv[1], max_bytes=8192, backups=50)
    i = 0
    while True:
        log.append(sample_decision(1000.0 + i))
        print(i, flush=True)  # reported only after the line is on disk
        i += 1
    """
)


def test_every_reported_decision_survives_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    reported = -1
    try:
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while reported < 200 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            reported = int(line)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert reported >= 200
    records = list(read_records(path))
    stamps = [r["timestamp"] for r in records]
    assert stamps[: reported + 1] == [1000.0 + i for i in range(reported + 1)]
    assert all(decision_from_dict(r).components[0].component == "decode" for r in records)
    assert len(audit_files(path)) > 2  # it rotated along the way
