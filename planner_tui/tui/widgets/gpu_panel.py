"""The GPU panel (nvitop style): per GPU its name, utilisation and memory bars, temperature, power, holder and
history, its MIG devices under it, then the processes on the GPUs with the replica each belongs to."""

from __future__ import annotations

from textual.content import Content

from planner_tui.model import GpuSample, MigDevice, Snapshot
from planner_tui.tui import render
from planner_tui.tui.render import too_soon
from planner_tui.tui.trends import Trends, gpu_trend_key
from planner_tui.tui.widgets.live_panel import LivePanel

#: seconds of utilisation history drawn next to each GPU
HISTORY_S = 60.0
#: the most columns a GPU's name takes in a row (NVIDIA's names run to 30 characters)
NAME_WIDTH = 14
#: a wide GPU row without its name, bars and history: index, tag, figures, temperature, power, holder
BASE_WIDTH = 2 + 4 + 1 + 5 + 1 + 14 + 15 + 13


def short_name(name: str | None) -> str:
    """A GPU's name without the vendor ("NVIDIA H100 80GB HBM3" -> "H100 80GB HBM3")."""
    if not name:
        return "n/a"
    return name.removeprefix("NVIDIA ").strip() or name


def _level_style(fraction: float | None) -> str:
    if fraction is None:
        return "$foreground-muted"
    if fraction >= 0.9:
        return "$error"
    if fraction >= 0.7:
        return "$warning"
    return "$success"


def node_groups(gpus: tuple[GpuSample, ...]) -> list[tuple[str | None, list[GpuSample]]]:
    """The GPUs per cluster node, nodes in order of appearance; one group named None for this
    machine's (or the demo's) GPUs, which need no node heading."""
    groups: dict[str | None, list[GpuSample]] = {}
    for gpu in gpus:
        groups.setdefault(gpu.host if gpu.on_node else None, []).append(gpu)
    return list(groups.items())


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
            self.show_content(
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
        names = [short_name(gpu.name) for gpu in gpus]
        name_width = 0
        if len(set(names)) == 1:
            title += f" · {names[0]}"  # one model (the usual node): named once, the rows keep their room
        else:
            name_width = min(NAME_WIDTH, max(len(n) for n in names), max(0, width - BASE_WIDTH - 14))
        self.border_title = title
        lines: list[Content] = []
        nodes = node_groups(gpus)
        for node, members in nodes:
            if node is not None:
                pods = sorted({pod for gpu in members for pod in gpu.holders})
                heading = f"node {node} · {len(members)} GPU{'s' if len(members) != 1 else ''}"
                lines.append(
                    Content.assemble(
                        (heading, "bold $primary"), (f" · pods: {', '.join(pods)}" if pods else " · no pods", "$accent")
                    )
                )
            for gpu in members:
                lines.append(self._line(gpu, short_name(gpu.name), name_width, trends, now, width))
                lines += [self._mig_line(gpu, mig) for mig in gpu.mig_devices]
        lines += self._process_lines(gpus)
        self.show_content(Content("\n").join(lines))

    @staticmethod
    def _mig_line(gpu: GpuSample, mig: MigDevice) -> Content:
        memory = f"{render.mib(mig.memory_used_mib)}/{render.mib(mig.memory_total_mib)}"
        name = short_name(mig.name)
        return Content.assemble(
            ("   └ ", "$foreground-muted"), (f"MIG {gpu.index}.{mig.index}", "bold"), f"  {name:<24} {memory:>13}"
        )

    @staticmethod
    def _process_lines(gpus: tuple[GpuSample, ...]) -> list[Content]:
        """The processes on the GPUs (nvitop's process table): GPU, pid, replica or "other", memory, SM."""
        processes = [(gpu.index, process) for gpu in gpus for process in gpu.processes]
        if not processes:
            return []
        heading = f"{'GPU':>3} {'PID':>8}  {'REPLICA':<16} {'GPU MEM':>7} {'SM':>4}"
        lines = [Content.styled(heading, "bold $foreground-muted")]
        for index, process in processes:
            replica = process.replica or "other"
            replica = replica if len(replica) <= 16 else replica[:15] + "…"
            sm = "n/a" if process.sm_util_pct is None else f"{process.sm_util_pct:.0f}%"
            lines.append(
                Content.assemble(
                    f"{index:>3} {process.pid:>8}  ",
                    (f"{replica:<16}", "$accent" if process.replica else "$foreground-muted"),
                    f" {render.mib(process.used_memory_mib):>7} {sm:>4}",
                )
            )
        return lines

    def _line(self, gpu: GpuSample, name: str, name_width: int, trends: Trends, now: float, width: int) -> Content:
        wide = width >= 64
        fixed = (BASE_WIDTH if wide else BASE_WIDTH - 15) + (name_width + 1 if name_width else 0)
        spare = max(8, width - fixed)
        history_width = spare * 2 // 5 if wide else 0
        bar_width = max(3, (spare - history_width) // 2)
        util = None if gpu.utilization_pct is None else gpu.utilization_pct / 100
        memory = gpu.memory_fraction
        parts: list[str | tuple[str, str] | Content] = [(f"{gpu.index:>2}", "bold")]
        parts.append((" SIM", "bold $warning") if gpu.simulated else "    ")
        if name_width:
            shown = name if len(name) <= name_width else name[: name_width - 1] + "…"
            parts.append(f" {shown:<{name_width}}")
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
            values = trends.buckets(gpu_trend_key(gpu), now, HISTORY_S, history_width)
            parts.append((render.sparkline(values, 0.0, 100.0), "$primary"))
        return Content.assemble(*parts)
