"""``planner-tui decisions``: printing and following the audit log."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from pathlib import Path

from click.testing import CliRunner

from planner_tui.cli.main import cli
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
    last = CliRunner().invoke(cli, ["decisions", "--namespace", "demo", "-n", "1", "--json"])
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
