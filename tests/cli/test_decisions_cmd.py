"""``planner-tui decisions``: printing and following the audit log."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from planner_tui.cli.decisions_cmd import NO_OUTCOME
from planner_tui.cli.main import cli
from planner_tui.model import Outcome
from planner_tui.planner.audit import AuditLog, default_audit_path
from tests.planner.test_audit import sample_decision


def test_prints_one_summary_line_per_decision_for_a_namespace() -> None:
    log = AuditLog(default_audit_path("demo"))
    for i in range(3):
        log.append(sample_decision(1000.0 + i, target=2 + i))
    log.close()
    result = CliRunner().invoke(cli, ["decisions", "--namespace", "demo"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3
    assert lines[2].endswith("SCALE_UP | decode 1->4: KV load 0.95 > 0.90 for 1 interval | current: decode=4")
    last = CliRunner().invoke(cli, ["decisions", "-n", "demo", "--last", "1", "--json"])
    assert last.exit_code == 0 and last.output.count("\n") == 1 and '"target":4' in last.output


def test_says_when_nothing_was_recorded(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["decisions", "--file", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 0
    assert "no decisions recorded yet in" in result.output


def test_conflicting_sources_are_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["decisions", "--namespace", "a", "--file", "b"])
    assert result.exit_code == 2 and "at most one of" in result.output


def test_follow_prints_new_decisions_across_rotation(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    log = AuditLog(path, max_bytes=4096, backups=5)
    log.append(sample_decision(1000.0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "planner_tui", "decisions", "--file", str(path), "--follow"],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True)
    reader.start()
    try:
        assert "decode 1->2" in lines.get(timeout=30)  # the existing record
        for i in range(1, 16):  # rotates at least twice between polls: nothing is lost
            log.append(sample_decision(1000.0 + i, target=2 + i % 3))
        seen = [lines.get(timeout=30) for _ in range(15)]
        assert all("SCALE_UP | decode 1->" in line for line in seen)
        assert [line.split("decode 1->")[1][0] for line in seen] == [str(2 + i % 3) for i in range(1, 16)]
        assert path.with_name("decisions.jsonl.1").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_a_torn_line_does_not_swallow_the_next_decision(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    AuditLog(path).append(sample_decision(1000.0, target=2))
    with open(path, "a") as handle:  # a crash mid-write: a fragment without its newline
        handle.write('{"v":1,"timestamp":1001.0,"summ')
    AuditLog(path).append(sample_decision(1002.0, target=3))
    result = CliRunner().invoke(cli, ["decisions", "--file", str(path)])
    assert result.exit_code == 0 and result.exception is None, result.output
    assert [line.split(" | ")[1] for line in result.stdout.splitlines()] == [
        "decode 1->2: KV load 0.95 > 0.90 for 1 interval",
        "decode 1->3: KV load 0.95 > 0.90 for 1 interval",
    ]
    assert result.stderr == f"skipped 1 unreadable line in {path}\n"


BAD_RECORDS = (
    '{"timestamp":"abc","summary":"x"}',
    '{"timestamp":null,"summary":"x"}',
    '{"timestamp":1e20,"summary":"x"}',
)


def _log_with_bad_records(path: Path) -> None:
    AuditLog(path).append(sample_decision(1000.0, target=2))
    with open(path, "a") as handle:
        handle.write("\n".join(BAD_RECORDS) + "\n")
    AuditLog(path).append(sample_decision(1001.0, target=3))


def test_records_with_bad_timestamps_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    _log_with_bad_records(path)
    for extra in ([], ["--json"], ["--last", "1"]):
        result = CliRunner().invoke(cli, ["decisions", "--file", str(path), *extra])
        assert result.exit_code == 0 and result.exception is None, (extra, result.output)
        assert "Traceback" not in result.output
        assert result.stderr == f"skipped 3 unreadable lines in {path}\n", extra
        assert len(result.stdout.splitlines()) == (1 if "--last" in extra else 2)
        assert ('"target":3' if extra == ["--json"] else "decode 1->3") in result.stdout.splitlines()[-1]


def test_an_intent_without_its_outcome_is_shown_as_such(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    log = AuditLog(path)
    pending = sample_decision(1000.0, target=2)
    log.append(replace(pending, components=(replace(pending.components[0], outcome=Outcome.PENDING),)), "intent")
    log.append(pending)  # applied: shown once, as applied
    log.append(sample_decision(1001.0, target=3), "intent")  # the planner stopped while applying this one
    result = CliRunner().invoke(cli, ["decisions", "--file", str(path), "--json"])
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["timestamp"], r.get("phase"), r["components"][0]["outcome"]) for r in records] == [
        (1000.0, None, "applied"),
        (1001.0, "intent", "applied"),
    ]
    lines = CliRunner().invoke(cli, ["decisions", "--file", str(path)]).stdout.splitlines()
    assert NO_OUTCOME not in lines[0] and lines[1].endswith(NO_OUTCOME)


def test_follow_reports_unreadable_lines_and_prints_the_decision_after_a_torn_one(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    _log_with_bad_records(path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "planner_tui", "decisions", "--file", str(path), "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None and proc.stderr is not None
    for stream, sink in ((proc.stdout, out), (proc.stderr, err)):
        threading.Thread(target=lambda s=stream, q=sink: [q.put(line) for line in s], daemon=True).start()
    try:
        assert err.get(timeout=30) == f"skipped 3 unreadable lines in {path}\n"
        assert "decode 1->2" in out.get(timeout=30) and "decode 1->3" in out.get(timeout=30)
        with open(path, "a") as handle:  # torn while followed
            handle.write('{"timestamp":1002,"summary":"to')
        AuditLog(path).append(sample_decision(1003.0, target=4))
        assert "decode 1->4" in out.get(timeout=30)
        assert err.get(timeout=30).startswith(f"skipped 1 unreadable line in {path}: not JSON")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in "".join(list(err.queue))
