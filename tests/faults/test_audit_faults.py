"""Faults on the audit log: torn lines again and again, and a disk that fails under a running planner.

Each asserts what a user relies on: every decision whose line was not torn is readable (by the reader
and by ``planner-tui decisions``), unreadable lines are counted, and every applied decision is in the
audit log, written before it was applied.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

from click.testing import CliRunner

from planner_tui.cli.main import cli
from planner_tui.model import Decision, Outcome, Signal, Snapshot, TargetReplica
from planner_tui.planner import EngineConfig
from planner_tui.planner.audit import AuditLog, SkippedLines, audit_files, read_records
from planner_tui.planner.runner import PlannerRunner
from tests.planner.builders import component, make_graph, snapshot
from tests.planner.test_audit import sample_decision
from tests.runtime.recording import RecordingConnector


def test_a_log_torn_again_and_again_loses_only_the_torn_records(tmp_path: Path) -> None:
    rng = random.Random(1109)
    path = tmp_path / "decisions.jsonl"
    kept: list[float] = []
    torn = 0
    for i in range(80):
        stamp = 1000.0 + i
        AuditLog(path, max_bytes=8192, backups=100).append(sample_decision(stamp, target=2 + i % 3))  # a restart
        size = path.stat().st_size
        with open(path, "rb") as handle:
            line_start = handle.read().rstrip(b"\n").rfind(b"\n") + 1
        length = size - 1 - line_start  # the last record, without its newline
        roll = rng.random()
        if roll < 0.4:  # a crash mid-write: cut inside the record
            os.truncate(path, line_start + rng.randint(1, length - 1))
            torn += 1
        elif roll < 0.5:  # a crash just before the newline: the record itself is whole
            os.truncate(path, line_start + length)
            kept.append(stamp)
        else:
            kept.append(stamp)
    skipped = SkippedLines()
    assert [r["timestamp"] for r in read_records(path, skipped)] == kept
    assert skipped.total == torn and torn > 20
    assert len(audit_files(path)) > 3  # it rotated along the way, torn lines and all

    result = CliRunner().invoke(cli, ["decisions", "--file", str(path)])
    assert result.exit_code == 0 and result.exception is None, result.output
    assert len(result.stdout.splitlines()) == len(kept)
    counts = [int(line.split()[1]) for line in result.stderr.splitlines()]
    assert all(line.startswith("skipped ") for line in result.stderr.splitlines()) and sum(counts) == torn


class FlakyDisk:
    """Breaks and heals the audit log's disk: a directory where the file should be (the log kept aside)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.aside = path.with_name("kept-aside")
        self.broken = False

    def break_(self) -> None:
        if not self.broken:
            if self.path.exists():
                os.replace(self.path, self.aside)
            self.path.mkdir()
            self.broken = True

    def heal(self) -> None:
        if self.broken:
            self.path.rmdir()
            if self.aside.exists():
                os.replace(self.aside, self.path)
            self.broken = False


class Load:
    """Decode KV usage high until 4 replicas, then low: the planner keeps scaling up and down."""

    def __init__(self, connector: RecordingConnector) -> None:
        self.connector = connector

    def snapshot(self) -> Snapshot:
        graph = self.connector.graph
        counts = self.connector.counts
        kv = 0.95 if counts["decode"] < 4 else 0.05
        comps = {n: component(graph, n, c) for n, c in counts.items()}
        values = {("decode", Signal.KV_USAGE): [kv] * counts["decode"], ("prefill", Signal.QUEUE_DEPTH): [1.0]}
        return snapshot(graph, time.time(), comps, values)


class AuditedConnector(RecordingConnector):
    """Checks that each change is on disk before it is applied; sometimes breaks the disk right after
    (so the decision's outcome cannot be written)."""

    def __init__(self, disk: FlakyDisk, rng: random.Random) -> None:
        super().__init__(make_graph(planner={"decode_scale_down_grace_intervals": 0}))
        self.disk = disk
        self.rng = rng
        self.unaudited: list[list[TargetReplica]] = []
        self.applied_at: list[float] = []

    async def set_component_replicas(self, targets: list[TargetReplica], blocking: bool = False) -> None:
        on_disk = {
            (r["timestamp"], c["component"], c["target"]) for r in read_records(self.disk.path) for c in r["components"]
        }
        stamps = {stamp for stamp, *_ in on_disk}
        stamp = max(stamps) if stamps else None
        if stamp is None or any((stamp, t.component_name, t.desired_replicas) not in on_disk for t in targets):
            self.unaudited.append(targets)
        else:
            self.applied_at.append(stamp)
        await super().set_component_replicas(targets, blocking)
        if self.rng.random() < 0.2:
            self.disk.break_()


async def test_under_a_failing_audit_disk_every_applied_decision_is_audited(tmp_path: Path) -> None:
    rng = random.Random(11)
    path = tmp_path / "audit" / "decisions.jsonl"
    disk = FlakyDisk(path)
    connector = AuditedConnector(disk, rng)
    load = Load(connector)
    runner = PlannerRunner(
        connector,
        EngineConfig.of(connector.graph),
        load.snapshot,
        audit=AuditLog(path, max_bytes=16384, backups=100),
        interval_s=0.01,
    )
    decisions: list[Decision] = []
    errors: list[str] = []
    enough = asyncio.Event()

    def on_decision(decision: Decision) -> None:
        decisions.append(decision)
        if rng.random() < 0.3:  # between ticks, the disk fails or comes back
            if disk.broken:
                disk.heal()
            else:
                disk.break_()
        if len(decisions) >= 150:
            enough.set()

    runner.add_listener(on_decision)
    runner.add_error_listener(errors.append)
    runner.start()
    try:
        await asyncio.wait_for(enough.wait(), timeout=25)
    finally:
        started = time.monotonic()
        await runner.stop(timeout=5)
        assert not runner.running and time.monotonic() - started < 6
    disk.heal()

    applied = [d for d in decisions if any(c.outcome is Outcome.APPLIED for c in d.components)]
    refused = [d for d in decisions if any((c.error or "").startswith("not applied: ") for c in d.components)]
    assert connector.unaudited == []  # nothing reached the connector before it was on disk
    assert len(connector.calls) == len(applied) == len(connector.applied_at) and len(applied) >= 10
    assert connector.applied_at == [d.timestamp for d in applied]
    assert len(refused) >= 5 and not {d.timestamp for d in refused} & set(connector.applied_at)
    assert all(f"cannot write the audit log {path}" in e for e in errors) and len(errors) >= len(refused)
    # Every applied decision is readable afterwards: as its outcome, or as its intent when the disk broke
    # right after applying it.
    by_stamp = {r["timestamp"]: r for r in read_records(path)}
    intents = 0
    for decision in applied:
        record = by_stamp[decision.timestamp]
        intents += record.get("phase") == "intent"
        targets = {c["component"]: c["target"] for c in record["components"]}
        assert all(targets[c.component] == c.target for c in decision.components if c.outcome is Outcome.APPLIED)
    assert intents >= 2  # the disk broke between applying and recording the outcome, and still it is there
    result = CliRunner().invoke(cli, ["decisions", "--file", str(path)])
    assert result.exit_code == 0 and result.exception is None and result.stderr == ""
