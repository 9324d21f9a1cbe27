"""The dashboard's chart screen (key g) shows a graph's capacity profile in a ``profile`` tab, and
`render_chart` draws the terminal chart: latency against load with the target line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import TabbedContent
from textual_plotext import PlotextPlot

from planner_tui.config import demo_graph_path, load_graph, validate_graph
from planner_tui.profiling.capacity import fill_capacity
from planner_tui.profiling.chart import render_chart
from planner_tui.profiling.output import write_profile
from planner_tui.profiling.records import Latency, LoadKind, Phase, Point, SweepResult, Targets
from planner_tui.tui.screens import chart_screen
from tests.tui.dashboard_fixtures import demo_app, demo_source


def point(component: str, phase: Phase, load: float, tokens: float, p95: float) -> Point:
    return Point(
        component=component,
        phase=phase,
        length=512.0,
        isl=512,
        osl=8,
        load=load,
        load_kind=LoadKind.REQUEST_RATE,
        duration_s=20.0,
        steady=True,
        overloaded=False,
        arrival_rps=load,
        completed_rps=load,
        tokens_per_s=tokens,
        latency=Latency(p95 / 2, p95, p95 / 2, 100),
        latency_source="frontend",
        concurrency=1.0,
    )


def sweep() -> SweepResult:
    result = SweepResult("demo", "demo.toml", Targets(500, 50), LoadKind.REQUEST_RATE, True, 0.0, {})
    result.components = {"prefill": Phase.PREFILL, "decode": Phase.DECODE}
    result.points = [
        point("prefill", Phase.PREFILL, 1.0, 512, 0.15),
        point("prefill", Phase.PREFILL, 4.0, 2048, 0.30),
        point("prefill", Phase.PREFILL, 8.0, 4096, 0.90),
        point("decode", Phase.DECODE, 1.0, 128, 0.015),
        point("decode", Phase.DECODE, 6.0, 768, 0.030),
    ]
    result.finished_at = 1.0
    fill_capacity(result)
    return result


@pytest.fixture
def restore_tabs() -> Iterator[None]:
    before = list(chart_screen._EXTRA)
    yield
    chart_screen._EXTRA[:] = before  # the registry is global: leave other tests' chart screens as they were


def test_terminal_chart_has_the_target_line_and_a_line_per_length() -> None:
    text = render_chart(sweep(), "prefill", width=80, height=20)
    assert "prefill: TTFT p95 against load; target 500 ms" in text
    assert "isl 512" in text and "request rate" in text


async def test_the_chart_screen_shows_the_profile_tab(tmp_path: Path, restore_tabs: None) -> None:
    result = sweep()
    profile = write_profile(result, tmp_path / "capacity.toml")
    assert profile is not None
    data = json.loads(load_graph(demo_graph_path()).model_dump_json(exclude_none=True))
    data["planner"].update(policy="throughput", profile_file=str(profile))
    graph = validate_graph(data)
    app = demo_app(demo_source(graph=graph))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("g")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, chart_screen.ChartScreen)
        titles = [extra.title for extra in chart_screen.extra_charts()]
        assert "profile" in titles
        tabs = screen.query_one(TabbedContent)
        tabs.active = f"tab-extra-{titles.index('profile')}"
        await pilot.pause()
        plot = screen.query_one(f"#plot-extra-{titles.index('profile')}", PlotextPlot)
        screen.redraw(force=True)
        rendered = re.sub(r"\x1b\[[0-9;]*m", "", plot.plt.build())
        assert "profile: p95 / target (TTFT 500, ITL 50 ms)" in rendered
        assert "prefill isl 512" in rendered and "decode context_length 512" in rendered
