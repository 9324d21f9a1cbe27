"""Every applied decision is in the audit log, or it is not applied: the runner writes a decision before
applying it, and applies nothing when that write fails (issue 11, item 11)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from planner_tui.model import Outcome
from planner_tui.planner import EngineConfig
from planner_tui.planner.audit import AuditLog, read_records
from planner_tui.planner.runner import PlannerRunner
from tests.planner.builders import make_graph
from tests.runtime.recording import RecordingConnector
from tests.runtime.test_runner import Load


def _break_parent(path: Path) -> None:
    path.parent.rmdir()
    path.parent.write_text("a file where the audit directory should be\n")


def _break_file(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.mkdir()  # a directory where the audit file should be


def _heal(path: Path) -> None:
    if path.parent.is_file():
        path.parent.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


@pytest.mark.parametrize("breaking", [_break_parent, _break_file], ids=["file-for-dir", "dir-for-file"])
async def test_a_decision_whose_audit_write_fails_is_not_applied_and_the_error_is_shown(
    tmp_path: Path, breaking: Callable[[Path], None]
) -> None:
    graph = make_graph()
    connector = RecordingConnector(graph)
    load = Load(connector)  # decode KV usage at 0.95: decode wants one more
    path = tmp_path / "audit" / "decisions.jsonl"
    runner = PlannerRunner(connector, EngineConfig.of(graph), load.snapshot, audit=AuditLog(path), clock=load.now)
    errors: list[str] = []
    runner.add_error_listener(errors.append)
    path.parent.mkdir()
    breaking(path)

    refused = await runner.tick()
    assert refused is not None
    dec = refused.for_component("decode")
    assert dec is not None and (dec.current, dec.target, dec.outcome) == (1, 2, Outcome.FAILED)
    assert dec.error is not None and dec.error.startswith(f"not applied: cannot write the audit log {path}: ")
    assert connector.calls == [] and connector.counts["decode"] == 1
    assert len(errors) == 1 and errors[0].startswith(f"cannot write the audit log {path}: ")
    assert errors[0].endswith("; not applied: decode 1->2")

    _heal(path)  # the disk is back: the next interval decides again, writes, then applies
    load.clock += 10
    applied = await runner.tick()
    assert applied is not None
    dec = applied.for_component("decode")
    assert dec is not None and (dec.current, dec.target, dec.outcome) == (1, 2, Outcome.APPLIED)
    assert len(connector.calls) == 1 and len(errors) == 1
    (record,) = list(read_records(path))
    assert record["timestamp"] == applied.timestamp and record.get("phase") is None
    assert [c["outcome"] for c in record["components"] if c["component"] == "decode"] == ["applied"]


async def test_the_intent_is_on_disk_before_the_connector_is_called(tmp_path: Path) -> None:
    graph = make_graph()
    path = tmp_path / "decisions.jsonl"
    seen: list[list[dict[str, object]]] = []

    class Checking(RecordingConnector):
        async def set_component_replicas(self, targets, blocking=False):  # type: ignore[no-untyped-def]
            seen.append(list(read_records(path)))
            await super().set_component_replicas(targets, blocking)

    connector = Checking(graph)
    load = Load(connector)  # decode KV usage at 0.95: decode wants one more
    runner = PlannerRunner(connector, EngineConfig.of(graph), load.snapshot, audit=AuditLog(path), clock=load.now)
    decision = await runner.tick()
    assert decision is not None and len(seen) == 1
    (intent,) = seen[0]
    assert intent["phase"] == "intent" and intent["timestamp"] == decision.timestamp
    components = intent["components"]
    assert isinstance(components, list)
    assert [c["outcome"] for c in components if c["component"] == "decode"] == ["pending"]


async def test_an_unreachable_backend_is_not_acted_on_and_the_decision_says_why(tmp_path: Path) -> None:
    """A connector that cannot see its graph (API server down) gets no calls; the decision, in the audit
    log too, says the backend is unreachable and names the problem; once reachable it is applied."""
    graph = make_graph()
    problem = "API server https://127.0.0.1:6443 unreachable: connection refused (retry in 4 s)"

    class Blind(RecordingConnector):
        seeing = False

        @property
        def reachable(self) -> bool:
            return self.seeing

        @property
        def problems(self) -> list[str]:
            return [] if self.seeing else [problem]

    connector = Blind(graph)
    load = Load(connector)  # decode wants one more
    path = tmp_path / "decisions.jsonl"
    runner = PlannerRunner(connector, EngineConfig.of(graph), load.snapshot, audit=AuditLog(path), clock=load.now)
    held = await runner.tick()
    assert held is not None
    dec = held.for_component("decode")
    assert dec is not None and (dec.current, dec.target, dec.outcome) == (1, 2, Outcome.FAILED)
    assert dec.error == f"not applied: backend unreachable: {problem}"
    assert connector.calls == []
    (record,) = list(read_records(path))
    assert [c["error"] for c in record["components"] if c["component"] == "decode"] == [dec.error]

    connector.seeing = True
    load.clock += 10
    applied = await runner.tick()
    assert applied is not None and applied.for_component("decode").outcome is Outcome.APPLIED  # type: ignore[union-attr]
    assert len(connector.calls) == 1
