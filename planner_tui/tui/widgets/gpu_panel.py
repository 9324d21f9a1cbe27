"""The GPU panel (nvitop style): per GPU utilisation and memory bars, temperature, power, holder, history."""

from __future__ import annotations

from textual.content import Content

from planner_tui.model import GpuSample, Snapshot
from planner_tui.tui import render
from planner_tui.tui.render import too_soon
from planner_tui.tui.trends import Trends
from planner_tui.tui.widgets.live_panel import LivePanel

#: seconds of utilisation history drawn next to each GPU
HISTORY_S = 60.0


def _level_style(fraction: float | None) -> str:
    if fraction is None:
        return "$foreground-muted"
    if fraction >= 0.9:
        return "$error"
    if fraction >= 0.7:
        return "$warning"
    return "$success"


class GpuPanel(LivePanel[tuple[Snapshot, Trends, float]]):
    """One line per GPU; simulated GPUs carry a SIM tag; a clear line when there is no GPU source."""

    DEFAULT_CSS = """
    GpuPanel {
        border: round $border-blurred; border-title-color: $primary; padding: 0 1;
        overflow-y: auto; scrollbar-size-vertical: 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.border_title = "GPUs"

    def show(self, snapshot: Snapshot, trends: Trends, now: float) -> None:
        """Redraw from ``snapshot`` (skipped while hidden; redrawn on resize)."""
        self._feed((snapshot, trends, now))

    def _draw(self) -> None:
        assert self._inputs is not None
        snapshot, trends, now = self._inputs
        width = (self.scrollable_content_region.width or 60) - 1
        key = (snapshot.timestamp, width)
        if key == self._drawn or too_soon(self._drawn, key):
            return
        self._drawn = key
        gpus = snapshot.gpus
        if not gpus:
            self.border_title = "GPUs"
            reason = snapshot.gpu_status or "no GPU source"
            self.update(
                Content.assemble(
                    ("No GPU data: ", "bold $warning"),
                    (reason, "$foreground"),
                    "\n",
                    ("Replicas run without GPU metrics; scaling by GPU count still applies.", "$foreground-muted"),
                )
            )
            return
        simulated = sum(1 for g in gpus if g.simulated)
        title = f"GPUs · {len(gpus)}"
        if simulated:
            title += " · SIMULATED" if simulated == len(gpus) else f" · {simulated} simulated"
        self.border_title = title
        lines = [self._line(gpu, trends, now, width) for gpu in gpus]
        self.update(Content("\n").join(lines))

    def _line(self, gpu: GpuSample, trends: Trends, now: float, width: int) -> Content:
        wide = width >= 64
        fixed = 2 + 4 + 1 + 5 + 1 + 14 + (15 if wide else 0) + 13
        spare = max(8, width - fixed)
        history_width = spare * 2 // 5 if wide else 0
        bar_width = max(3, (spare - history_width) // 2)
        util = None if gpu.utilization_pct is None else gpu.utilization_pct / 100
        memory = gpu.memory_fraction
        parts: list[str | tuple[str, str] | Content] = [(f"{gpu.index:>2}", "bold")]
        parts.append((" SIM", "bold $warning") if gpu.simulated else "    ")
        parts += [" ", (render.bar(util, bar_width), _level_style(util)), f" {render.percent(util):>4}"]
        parts += [" ", (render.bar(memory, bar_width), _level_style(memory))]
        parts.append(f" {render.mib(gpu.memory_used_mib):>6}/{render.mib(gpu.memory_total_mib):<6}")
        if wide:
            temp = "n/a" if gpu.temperature_c is None else f"{gpu.temperature_c:.0f}°C"
            power = "n/a" if gpu.power_w is None else f"{gpu.power_w:.0f}W"
            parts.append(f" {temp:>5} {power:>6}  ")
        holder = ",".join(gpu.holders) if gpu.holders else "free"
        holder = holder if len(holder) <= 12 else holder[:11] + "…"
        parts.append((f"{holder:<13}", "$accent" if gpu.holders else "$foreground-muted"))
        if history_width:
            values = trends.buckets(f"gpu{gpu.index}.util", now, HISTORY_S, history_width)
            parts.append((render.sparkline(values, 0.0, 100.0), "$primary"))
        return Content.assemble(*parts)
