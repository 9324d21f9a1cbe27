"""The audit log: durable JSON lines, rotation, torn lines, and surviving a kill."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

from planner_tui.model import ComponentDecision, Decision, LimitApplied, Outcome, PlannerMode, Signal, SignalValue
from planner_tui.planner.audit import AuditLog, SkippedLines, audit_files, default_audit_path, read_records
from planner_tui.planner.records import decision_from_dict, decision_to_dict, json_line, summary_line


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


def test_an_append_after_a_torn_line_starts_on_a_fresh_line(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    AuditLog(path).append(sample_decision(1.0))
    with open(path, "a") as handle:  # a crash in the middle of writing the second record
        handle.write('{"timestamp": 2, "comp')
    AuditLog(path).append(sample_decision(3.0))  # the planner, restarted
    assert [r["timestamp"] for r in read_records(path)] == [1.0, 3.0]
    skipped = SkippedLines()
    assert len(list(read_records(path, skipped))) == 2
    assert skipped.messages() == [f"skipped 1 unreadable line in {path}"]


def test_the_audit_dir_is_0700_and_the_file_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        AuditLog(default_audit_path("demo")).append(sample_decision(1.0))
        custom = tmp_path / "elsewhere" / "deep" / "audit.jsonl"
        AuditLog(custom).append(sample_decision(1.0))
    finally:
        os.umask(old)
    default = default_audit_path("demo")
    for path in (default, custom):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, path.parent
    assert stat.S_IMODE((tmp_path / "elsewhere").stat().st_mode) == 0o700


def test_rotated_files_are_private_too(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        log = AuditLog(tmp_path / "decisions.jsonl", max_bytes=4096, backups=2)
        for i in range(20):
            log.append(sample_decision(1000.0 + i))
    finally:
        os.umask(old)
    files = audit_files(tmp_path / "decisions.jsonl")
    assert len(files) == 3 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


def test_non_finite_values_are_written_as_strings_and_read_back(tmp_path: Path) -> None:
    inf, nan = float("inf"), float("nan")
    inputs = (
        SignalValue("decode", Signal.KV_USAGE, inf, 999.0, replica="decode-0"),
        SignalValue("decode", Signal.WAITING, nan, 999.0, replica="decode-0"),
        SignalValue("decode", Signal.QUEUE_DEPTH, -inf, 999.0),
    )
    base = sample_decision(1000.0).components[0]
    comp = replace(base, inputs=inputs, load=nan, predicted=(("request_rate", inf),))
    decision = replace(sample_decision(1000.0), components=(comp,))
    path = tmp_path / "decisions.jsonl"
    AuditLog(path).append(decision)  # strict JSON has no Infinity: this raised ValueError before
    (record,) = list(read_records(path))
    values = record["components"][0]["inputs"]
    assert [v["value"] for v in values] == ["+Inf", "NaN", "-Inf"]
    assert [v["invalid"] for v in values] == ["not a finite number"] * 3
    assert record["components"][0]["load"] == "NaN" and record["components"][0]["predicted"] == {"request_rate": "+Inf"}
    back = decision_from_dict(record).components[0]
    assert back.inputs[0].value == inf and back.inputs[2].value == -inf and back.inputs[0].invalid is not None
    assert back.predicted == (("request_rate", inf),)
    assert json_line({"x": [inf, {"y": nan}], "z": object}).startswith(b'{"x":["+Inf",{"y":"NaN"}],"z":"<class')


def test_records_whose_fields_are_not_a_records_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    AuditLog(path).append(sample_decision(1.0))
    bad = [
        '{"timestamp": "abc"}',
        '{"timestamp": null}',
        '{"timestamp": 1e20}',
        "[1, 2]",
        '{"timestamp": 2, "summary": 5}',
    ]
    with open(path, "a") as handle:
        handle.write("\n".join(bad) + "\n")
    AuditLog(path).append(sample_decision(3.0))
    skipped = SkippedLines()
    assert [r["timestamp"] for r in read_records(path, skipped)] == [1.0, 3.0]
    assert skipped.total == len(bad)


def test_a_directory_in_the_logs_place_is_an_error_not_rotated_away(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    path.mkdir()
    log = AuditLog(path, max_bytes=1024)  # a directory's size alone is over it: rotation would move it
    try:
        log.append(sample_decision(1.0))
    except OSError as exc:
        assert "not a regular file" in str(exc)
    else:
        raise AssertionError("appending to a directory succeeded")
    assert path.is_dir() and not path.with_name("decisions.jsonl.1").exists()
