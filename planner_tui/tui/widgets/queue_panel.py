"""The queue panel: prefill/decode queues, KV use, frontend load and latencies, with a chart per figure."""

from __future__ import annotations

from collections.abc import Callable

from textual.content import Content

from planner_tui.tui import render
from planner_tui.tui.render import too_soon
from planner_tui.tui.trends import Trends
from planner_tui.tui.widgets.live_panel import LivePanel

# (series key, label, formatter, chart floor, chart ceiling or None for the data's maximum)
ROWS: tuple[tuple[str, str, Callable[[float | None], str], float, float | None], ...] = (
    ("prefill_queue", "prefill queue", lambda v: render.number(v, 1), 0.0, None),
    ("decode_queue", "decode queue", lambda v: render.number(v, 1), 0.0, None),
    ("decode_kv", "decode KV", render.percent, 0.0, 1.0),
    ("frontend_queued", "frontend queued", lambda v: render.number(v, 1), 0.0, None),
    ("frontend_inflight", "in-flight", lambda v: render.number(v, 1), 0.0, None),
    ("ttft_p95", "TTFT p95", render.milliseconds, 0.0, None),
    ("itl_p95", "ITL p95", render.milliseconds, 0.0, None),
)


def window_label(window_s: float) -> str:
    """``1 min``, ``5 min``, ``15 min``."""
    return f"{window_s / 60:.0f} min"


class QueuePanel(LivePanel[tuple[Trends, float]]):
    """Current value and a sparkline over the chosen window for each load figure.

    Charts are downsampled to the panel's width and drawn only when the panel is visible.
    """

    DEFAULT_CSS = """
    QueuePanel {
        border: round $border-blurred; border-title-color: $primary; padding: 0 1;
        overflow-y: auto; scrollbar-size-vertical: 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.window_s = 300.0

    def show(self, trends: Trends, now: float, window_s: float | None = None) -> None:
        """Redraw with the series in ``trends`` up to ``now`` over ``window_s``."""
        if window_s is not None:
            self.window_s = window_s
        self._feed((trends, now))

    def _draw(self) -> None:
        assert self._inputs is not None
        trends, now = self._inputs
        width = (self.scrollable_content_region.width or 50) - 1
        key = (now, width, self.window_s)
        if too_soon(self._drawn, key):
            return
        self._drawn = key
        self.border_title = f"Load · last {window_label(self.window_s)} (w)"
        chart_width = max(0, width - 26)
        lines = []
        for series, label, fmt, low, high in ROWS:
            latest = trends.latest(series)
            parts: list[str | tuple[str, str]] = [(f"{label:<16}", "$foreground-muted"), (f"{fmt(latest):>8}", "bold")]
            if chart_width:
                values = trends.buckets(series, now, self.window_s, chart_width)
                peak = high if high is not None else max([v for v in values if v is not None] or [1.0])
                parts += ["  ", (render.sparkline(values, low, max(peak, 1e-9)), "$primary")]
            lines.append(Content.assemble(*parts))
        self.show_content(Content("\n").join(lines))
