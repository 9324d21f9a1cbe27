"""The runner: applies in auto mode only, records failures and retries, never stops on errors."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner_tui.connectors.errors import ScalingRefused
from planner_tui.model import Outcome, PlannerMode, Signal, Snapshot
from planner_tui.planner import EngineConfig
from planner_tui.planner.audit import AuditLog, read_records
from planner_tui.planner.runner import PlannerRunner
from planner_tui.planner.state import Pin
from planner_tui.runtime.speedup import sped_up
from tests.planner.builders import component, make_graph, snapshot
from tests.runtime.recording import RecordingConnector


class Load:
    """Snapshots from the connector's counts and a decode KV level the test sets."""

    def __init__(self, connector: RecordingConnector, kv: float = 0.95) -> None:
        self.connector = connector
        self.kv = kv
        self.clock = 1000.0

    def now(self) -> float:
        return self.clock

    def snapshot(self) -> Snapshot:
        graph = self.connector.graph
        comps = {n: component(graph, n, c) for n, c in self.connector.counts.items()}
        values = {
            ("decode", Signal.KV_USAGE): [self.kv] * self.connector.counts["decode"],
            ("prefill", Signal.QUEUE_DEPTH): [1.0] * self.connector.counts["prefill"],
        }
        return snapshot(graph, self.clock, comps, values)


def make_runner(
    mode: PlannerMode = PlannerMode.AUTO, audit: AuditLog | None = None, **kw: float
) -> tuple[PlannerRunner, RecordingConnector, Load]:
    graph = make_graph()
    connector = RecordingConnector(graph)
    load = Load(connector)
    runner = PlannerRunner(
        connector, EngineConfig.of(graph), load.snapshot, audit=audit, mode=mode, clock=load.now, **kw
    )
    return runner, connector, load


async def test_auto_applies_and_marks_the_decision_applied() -> None:
    runner, connector, _ = make_runner()
    decision = await runner.tick()
    assert decision is not None
    decode = decision.for_component("decode")
    assert decode is not None and decode.outcome is Outcome.APPLIED and decode.target == 2
    assert [(t.component_name, t.desired_replicas) for t in connector.calls[0]] == [("decode", 2)]
    assert connector.counts["decode"] == 2


async def test_connector_error_fails_the_decision_and_the_next_tick_retries() -> None:
    runner, connector, load = make_runner()
    connector.fail_next = [ScalingRefused("not enough free GPUs: 1 needed, 0 free")]
    first = await runner.tick()
    assert first is not None
    decode = first.for_component("decode")
    assert decode is not None and decode.outcome is Outcome.FAILED
    assert decode.error == "not enough free GPUs: 1 needed, 0 free"
    assert connector.counts["decode"] == 1
    load.clock += 10
    second = await runner.tick()
    assert second is not None
    decode = second.for_component("decode")
    assert decode is not None and decode.outcome is Outcome.APPLIED and connector.counts["decode"] == 2


async def test_a_hung_connector_is_a_failed_decision_not_a_hung_planner() -> None:
    runner, connector, _ = make_runner(apply_timeout_s=0.2)
    connector.hang = True
    decision = await asyncio.wait_for(runner.tick(), timeout=10)
    assert decision is not None
    decode = decision.for_component("decode")
    assert (
        decode is not None
        and decode.outcome is Outcome.FAILED
        and "did not answer within 0.2 s" in (decode.error or "")
    )


async def test_one_failing_component_does_not_fail_the_other() -> None:
    runner, connector, load = make_runner()
    connector.counts["prefill"] = 3
    connector.refuse["decode"] = "not enough free GPUs for decode"

    def idle_prefill() -> Snapshot:
        graph = connector.graph
        comps = {n: component(graph, n, c) for n, c in connector.counts.items()}
        values = {("decode", Signal.KV_USAGE): [0.95], ("prefill", Signal.QUEUE_DEPTH): [0.0, 0.0, 0.0]}
        return snapshot(graph, load.clock, comps, values)

    runner._source = idle_prefill
    decision = await runner.tick()
    assert decision is not None
    outcomes = {c.component: (c.outcome, c.error) for c in decision.components}
    # the batch was refused, then each change was tried alone: prefill went down, decode was refused
    assert outcomes == {
        "prefill": (Outcome.APPLIED, None),
        "decode": (Outcome.FAILED, "not enough free GPUs for decode"),
    }
    assert connector.counts == {"frontend": 1, "prefill": 2, "decode": 1}


async def test_the_loop_survives_errors_and_stops_in_bounded_time(tmp_path: Path) -> None:
    runner, connector, load = make_runner(interval_s=0.05, audit=AuditLog(tmp_path / "d.jsonl"))
    errors: list[str] = []
    runner.add_error_listener(errors.append)
    calls = 0

    def flaky() -> Snapshot:
        nonlocal calls
        calls += 1
        load.clock += 10
        if calls == 2:
            raise RuntimeError("collector exploded")
        return load.snapshot()

    runner._source = flaky
    connector.fail_next = [ScalingRefused("no GPU")]
    runner.start()
    deadline = time.monotonic() + 20
    while runner.ticks < 6 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    connector.hang = True  # a stop during a hung apply is still bounded
    started = time.monotonic()
    await runner.stop(timeout=2.0)
    assert time.monotonic() - started < 5
    assert runner.ticks >= 6 and not runner.running
    assert errors == ["planner tick failed: RuntimeError: collector exploded"]
    outcomes = [r["components"][1]["outcome"] for r in read_records(tmp_path / "d.jsonl")]
    assert outcomes[0] == "failed" and "applied" in outcomes
    # every completed tick is on disk (a tick cancelled while writing may add one more line)
    assert len(list(read_records(tmp_path / "d.jsonl"))) in (runner.ticks, runner.ticks + 1)


async def test_pins_are_enforced_in_auto_mode() -> None:
    runner, connector, load = make_runner()
    load.kv = 0.6
    runner.pin(Pin("decode", 3, reason="manual scale"))
    decision = await runner.tick()
    assert decision is not None
    decode = decision.for_component("decode")
    assert decode is not None and decode.outcome is Outcome.PINNED and connector.counts["decode"] == 3
    assert runner.unpin("decode") and not runner.unpin("decode")


@settings(max_examples=40, deadline=None)
@given(
    mode=st.sampled_from([PlannerMode.ADVISORY, PlannerMode.PAUSED]),
    loads=st.lists(st.floats(0, 1.5), min_size=1, max_size=8),
    pinned=st.one_of(st.none(), st.integers(1, 5)),
)
def test_advisory_and_paused_never_call_the_connector(
    mode: PlannerMode, loads: list[float], pinned: int | None
) -> None:
    async def run() -> None:
        runner, connector, load = make_runner(mode)
        if pinned is not None:
            runner.pin(Pin("decode", pinned))
        for kv in loads:
            load.kv = kv
            load.clock += 10
            decision = await runner.tick()
            assert decision is not None
            assert all(c.outcome is not Outcome.APPLIED for c in decision.components)
        assert connector.calls == []

    asyncio.run(run())


def test_speedup_refuses_graphs_that_are_not_simulated() -> None:
    with pytest.raises(ValueError, match="only applies to simulated graphs"):
        sped_up(make_graph(), 4)
