"""The chart screen: replicas per component, the figure each policy acts on with its thresholds, and every
scaling decision on the time axis, drawn with plotext through textual-plotext.

Ranges: 5 minutes, 1 hour, everything the dashboard has seen (key ``t`` cycles). The plots are redrawn
only while this screen is shown and at most once per :data:`MIN_REDRAW_S` (a 120x40 plot costs 80-95 ms
of CPU), from the app's Snapshots and decisions (a :class:`~planner_tui.recording.timeline.Timeline`).

Other features add a tab with :func:`register_chart`: a title and a function that draws on a
``PlotextPlot``'s ``plt`` from the app (e.g. profiling's latency chart)::

    from planner_tui.tui.screens.chart_screen import register_chart

    def draw_latency(plt, app, window_s):  # window_s: None for everything
        plt.plot(xs, ys, label="TTFT p95")

    register_chart("latency", draw_latency)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from planner_tui.recording.plots import autoscaled_with_figures, draw_figure, draw_replicas
from planner_tui.recording.timeline import Timeline

if TYPE_CHECKING:
    from planner_tui.tui.app import DashboardApp

#: the ranges ``t`` cycles through: (label, seconds or None for everything)
RANGES: tuple[tuple[str, float | None], ...] = (("5 min", 300.0), ("1 h", 3600.0), ("all", None))
#: real seconds between redraws at most (the dashboard's CPU target)
MIN_REDRAW_S = 1.0
#: points drawn per series at most
MAX_POINTS = 240

#: draws one extra tab: (plt, app, window seconds or None)
ChartDrawer = Callable[[Any, "DashboardApp", float | None], None]


@dataclass(frozen=True, slots=True)
class ExtraChart:
    """A tab another feature added to the chart screen."""

    title: str
    draw: ChartDrawer


_EXTRA: list[ExtraChart] = []


def register_chart(title: str, draw: ChartDrawer) -> None:
    """Add a tab titled ``title`` drawn by ``draw(plt, app, window_s)`` (see the module's docstring)."""
    _EXTRA[:] = [c for c in _EXTRA if c.title != title] + [ExtraChart(title, draw)]


def extra_charts() -> tuple[ExtraChart, ...]:
    """The tabs registered so far, in order."""
    return tuple(_EXTRA)


def app_timeline(app: DashboardApp) -> Timeline | None:
    """The app's charted series: replicas from its trends' history, decisions from its log."""
    graph = app.graph
    if graph is None:
        return None
    timeline = Timeline(graph)
    source = app.source
    history = source.history() if source is not None else None
    snapshots = getattr(history, "snapshots", None)  # a replay's or fixed data's Snapshots
    if snapshots:
        for snapshot in snapshots:
            timeline.add_snapshot(snapshot)
    else:
        # a live source's history holds signals, not replica counts: every decision (holds included)
        # says how many replicas each autoscaled component had at its tick
        for decision in app.decisions:
            for item in decision.components:
                timeline.replicas.setdefault(item.component, []).append((decision.timestamp, float(item.current)))
    if app.snapshot is not None and (not snapshots or snapshots[-1].timestamp < app.snapshot.timestamp):
        timeline.add_snapshot(app.snapshot)
    for decision in app.decisions:
        timeline.add_decision(decision)
    return timeline


class ChartScreen(Screen[None]):
    """Charts of the run so far (see the module's docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,c,q", "app.pop_screen", "back"),
        Binding("t", "cycle_range", "range"),
    ]
    DEFAULT_CSS = """
    ChartScreen PlotextPlot { height: 1fr; }
    ChartScreen #chart-range { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.range_index = 0
        self.redraws = 0
        self._clock = clock
        self._last_draw: float | None = None

    @property
    def window_s(self) -> float | None:
        """The range shown, in seconds (None: everything)."""
        return RANGES[self.range_index][1]

    def compose(self) -> ComposeResult:
        """A tab for replicas and decisions, one for the policies' figures, then the registered ones."""
        yield Static(self._range_text(), id="chart-range")
        with TabbedContent():
            with TabPane("replicas", id="tab-replicas"):
                yield PlotextPlot(id="plot-replicas")
            with TabPane("signals", id="tab-signals"):
                yield PlotextPlot(id="plot-signals")
            for index, extra in enumerate(extra_charts()):
                with TabPane(extra.title, id=f"tab-extra-{index}"):
                    yield PlotextPlot(id=f"plot-extra-{index}")
        yield Footer()

    def on_mount(self) -> None:
        """Draw at once, then at most once per interval while shown."""
        self.redraw(force=True)
        self.set_interval(MIN_REDRAW_S, self.redraw)

    def on_screen_resume(self) -> None:
        """Shown again: draw what happened meanwhile."""
        self.redraw(force=True)

    def on_tabbed_content_tab_activated(self) -> None:
        """Another tab: draw it now."""
        self.redraw(force=True)

    def action_cycle_range(self) -> None:
        """5 min -> 1 h -> all."""
        self.range_index = (self.range_index + 1) % len(RANGES)
        self.query_one("#chart-range", Static).update(self._range_text())
        self.redraw(force=True)

    def _range_text(self) -> str:
        return f"range: {RANGES[self.range_index][0]}  (t: change range, esc: back)"

    def redraw(self, force: bool = False) -> None:
        """Draw the plots, unless this screen is hidden or drew less than :data:`MIN_REDRAW_S` ago."""
        if not self.is_current:
            return
        now = self._clock()
        if not force and self._last_draw is not None and now - self._last_draw < MIN_REDRAW_S:
            return
        self._last_draw = now
        self.redraws += 1
        app: DashboardApp = self.app  # type: ignore[assignment]
        timeline = app_timeline(app)
        if timeline is not None:
            window = timeline.window(self.window_s, end=app.clock() if app.snapshot is not None else None)
            self._draw_replicas(window)
            self._draw_signals(window)
        for index, extra in enumerate(extra_charts()):
            plot = self.query_one(f"#plot-extra-{index}", PlotextPlot)
            plot.plt.clear_data()
            extra.draw(plot.plt, app, self.window_s)
            plot.refresh()

    def _draw_replicas(self, timeline: Timeline) -> None:
        plot = self.query_one("#plot-replicas", PlotextPlot)
        plot.plt.clear_data()
        plot.plt.clear_figure()
        draw_replicas(plot.plt, timeline, MAX_POINTS)
        plot.refresh()

    def _draw_signals(self, timeline: Timeline) -> None:
        plot = self.query_one("#plot-signals", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        names = autoscaled_with_figures(timeline)
        if not names:
            plt.title("no decisions yet: the policies' figures appear with the planner's first decision")
            plot.refresh()
            return
        plt.subplots(len(names), 1)
        for row, name in enumerate(names, start=1):
            plt.subplot(row, 1)
            draw_figure(plt, timeline, name, MAX_POINTS)
        plot.refresh()
