"""The runner in advisory and paused mode never calls the connector (over a recording connector: the
only place the tests use one; everything else runs over the real local connector)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner_tui.model import Outcome, PlannerMode, Signal, Snapshot
from planner_tui.planner import EngineConfig
from planner_tui.planner.audit import AuditLog
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


@settings(max_examples=40, deadline=None)
@given(
    mode=st.sampled_from([PlannerMode.ADVISORY, PlannerMode.PAUSED]),
    loads=st.lists(st.floats(0, 1.5), min_size=1, max_size=8),
    pinned=st.one_of(st.none(), st.integers(1, 5)),
)
def test_advisory_and_paused_never_call_the_connector(
    mode: PlannerMode, loads: list[float], pinned: int | None
) -> None:
    async def run(run_mode: PlannerMode) -> tuple[RecordingConnector, bool]:
        runner, connector, load = make_runner(run_mode)
        if pinned is not None:
            runner.pin(Pin("decode", pinned))
        wanted_change = False
        for kv in loads:
            load.kv = kv
            load.clock += 10
            decision = await runner.tick()
            assert decision is not None
            wanted_change |= any(c.target != c.current for c in decision.components)
            if run_mode is not PlannerMode.AUTO:
                assert all(c.outcome is not Outcome.APPLIED for c in decision.components)
        return connector, wanted_change

    connector, _ = asyncio.run(run(mode))
    assert connector.calls == []
    # The same inputs in auto mode do reach the connector whenever the planner wants a change.
    auto_connector, wanted_change = asyncio.run(run(PlannerMode.AUTO))
    assert bool(auto_connector.calls) == wanted_change


def test_speedup_refuses_graphs_that_are_not_simulated() -> None:
    with pytest.raises(ValueError, match="only applies to simulated graphs"):
        sped_up(make_graph(), 4)
