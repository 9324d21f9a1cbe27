"""Replay: the dashboard on a recording shows the recorded decisions in order, at fixed points; the charts.

The recording is made here, deterministically: compare's run of the demo graph (seed 7) written by the
recorder's writer, Snapshot by Snapshot and decision by decision.

Update the snapshots with ``pytest tests/tui/test_replay.py --snapshot-update`` after an intended change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from planner_tui.cli.compare_cmd import worker_specs
from planner_tui.compare.candidates import BASELINE, make_candidate
from planner_tui.compare.run import DEFAULT_EPOCH, run_candidate
from planner_tui.compare.workload import profile_source
from planner_tui.config import demo_graph_path, load_graph
from planner_tui.metrics.snapshot_json import snapshot_to_dict
from planner_tui.model import Decision, Snapshot
from planner_tui.planner.records import decision_to_dict
from planner_tui.recording import Recording, RecordingWriter, read_recording
from planner_tui.recording.recorder import FORMAT_VERSION
from planner_tui.sim.profiles import SineProfile, Workload
from planner_tui.tui.replay_app import ReplayApp
from planner_tui.tui.replay_source import ReplaySource
from planner_tui.tui.screens.chart_screen import ChartScreen

SnapCompare = Callable[..., bool]


def make_recording(path: Path) -> Recording:
    graph = load_graph(demo_graph_path())
    with RecordingWriter(path) as writer:
        writer.add(
            "header",
            DEFAULT_EPOCH,
            {"version": FORMAT_VERSION, "graph": graph.model_dump(mode="json"), "recorded_by": "test"},
        )

        def on_snapshot(snapshot: Snapshot) -> None:
            writer.add("snapshot", snapshot.timestamp, snapshot_to_dict(snapshot))
            writer.flush()

        def on_decision(decision: Decision) -> None:
            writer.add("decision", decision.timestamp, decision_to_dict(decision))

        run_candidate(
            graph,
            worker_specs(graph),
            profile_source(Workload(SineProfile(2, 18, 180)), 200.0),
            make_candidate(BASELINE, {}, graph.planner),
            seed=7,
            on_snapshot=on_snapshot,
            on_decision=on_decision,
            keep_timeline=False,
        )
    return read_recording(path)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return make_recording(tmp_path_factory.mktemp("replay") / "demo.ptrec")


def replay_app(recording: Recording, at_s: float) -> ReplayApp:
    source = ReplaySource(recording, paused=True, start_at=DEFAULT_EPOCH + at_s)
    return ReplayApp(source, header_interval_s=3600, remember_theme=False)


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.pause()
    await pilot.wait_for_scheduled_animations()


def changes(decisions: list[Decision] | tuple[Decision, ...]) -> list[str]:
    return [f"{c.component} {c.current}->{c.target}" for d in decisions for c in d.components if c.changes]


async def test_replay_shows_the_recorded_decisions_in_order_and_refuses_changes(recording: Recording) -> None:
    app = replay_app(recording, 45.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.read_only
        shown = list(app.decisions)
        assert shown == list(recording.decisions_until(DEFAULT_EPOCH + 45.0))
        assert changes(shown) == ["decode 1->2"]  # the demo's first scale-up, at about 40 s
        app.replay.advance(60.0)  # a minute of recorded time passes: the decisions made meanwhile, in order
        await settle(pilot)
        assert list(app.decisions) == list(recording.decisions_until(DEFAULT_EPOCH + 105.0))
        assert app.snapshot is not None and app.snapshot.timestamp <= DEFAULT_EPOCH + 105.0
        await pilot.press("left_square_bracket")  # a minute back: the log as it was then
        await settle(pilot)
        assert list(app.decisions) == list(recording.decisions_until(DEFAULT_EPOCH + 45.0))
        with pytest.raises(Exception, match="read-only"):
            await app.replay.scale("decode", 3)


def test_replay_screen_at_45_s(snap_compare: SnapCompare, recording: Recording) -> None:
    assert snap_compare(replay_app(recording, 45.0), terminal_size=(120, 40), run_before=settle)


def test_replay_screen_after_seeking_a_minute_on(snap_compare: SnapCompare, recording: Recording) -> None:
    async def seek(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("right_square_bracket")
        await settle(pilot)

    assert snap_compare(replay_app(recording, 45.0), terminal_size=(120, 40), run_before=seek)


def test_chart_screen(snap_compare: SnapCompare, recording: Recording) -> None:
    async def charts(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ChartScreen)
        await pilot.press("t")  # 1 h: the whole recording
        await settle(pilot)

    assert snap_compare(replay_app(recording, 190.0), terminal_size=(120, 40), run_before=charts)


async def test_the_chart_screen_redraws_only_when_shown(recording: Recording) -> None:
    app = replay_app(recording, 190.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChartScreen)
        drawn = screen.redraws
        assert drawn >= 1
        screen.redraw()  # within a second of the last: skipped
        assert screen.redraws == drawn
        await pilot.press("escape")
        await settle(pilot)
        screen.redraw(force=True)  # hidden: never drawn
        assert screen.redraws == drawn


async def test_the_live_dashboard_charts_replicas_from_its_decisions() -> None:
    from planner_tui.tui.screens.chart_screen import app_timeline
    from tests.tui.dashboard_fixtures import demo_app, demo_source

    source = demo_source()
    source._history = type(source._history)([])  # a live source: no Snapshots kept, only its decisions
    app = demo_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        timeline = app_timeline(app)
        assert timeline is not None
        decided = [d for d in app.decisions if d.for_component("decode") is not None]
        assert len(timeline.replicas["decode"]) >= len(decided) > 0
        await pilot.press("g")
        await settle(pilot)
        assert isinstance(app.screen, ChartScreen) and app.screen.redraws >= 1
