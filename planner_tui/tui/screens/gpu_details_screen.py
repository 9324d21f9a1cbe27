"""GPU details (``G``): every GPU's figures, throttle reasons, ECC errors, MIG devices and processes."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from planner_tui.model import GpuSample, Snapshot
from planner_tui.tui import render


def _value(value: float | None, unit: str, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def _gpu_section(gpu: GpuSample) -> Content:
    title = f"GPU {gpu.index}  {gpu.name or 'n/a'}" + ("  (simulated)" if gpu.simulated else "")
    lines: list[Content | str] = [Content.styled(title, "bold $primary")]
    lines.append(f"  UUID          {gpu.uuid or 'n/a'}" + (f"   host {gpu.host}" if gpu.host else ""))
    memory = f"{render.mib(gpu.memory_used_mib)} / {render.mib(gpu.memory_total_mib)}"
    lines.append(f"  utilisation   {_value(gpu.utilization_pct, '%'):<8} memory {memory}")
    power = f"{_value(gpu.power_w, ' W')} / {_value(gpu.power_limit_w, ' W')}"
    lines.append(f"  temperature   {_value(gpu.temperature_c, ' °C'):<8} power {power}")
    lines.append(f"  fan           {_value(gpu.fan_pct, '%'):<8} SM clock {_value(gpu.sm_clock_mhz, ' MHz')}")
    if gpu.throttle_reasons is None:
        lines.append("  throttling    n/a")
    elif not gpu.throttle_reasons or gpu.throttle_reasons == ("idle",):
        lines.append("  throttling    none" + (" (idle)" if gpu.throttle_reasons else ""))
    else:
        lines.append(Content.assemble("  throttling    ", (", ".join(gpu.throttle_reasons), "bold $warning")))
    ecc = gpu.ecc
    if ecc is None:
        lines.append("  ECC errors    n/a")
    else:
        style = "bold $error" if ecc.uncorrected else "$foreground"
        lines.append(
            Content.assemble(
                "  ECC errors    ",
                (f"{ecc.uncorrected_volatile or 0} uncorrected", style),
                f", {ecc.corrected_volatile or 0} corrected since the driver loaded; "
                f"{ecc.uncorrected_aggregate or 0} / {ecc.corrected_aggregate or 0} over the GPU's life",
            )
        )
    if gpu.mig_mode is None:
        lines.append("  MIG           not supported")
    elif not gpu.mig_mode:
        lines.append("  MIG           disabled")
    else:
        lines.append(f"  MIG           enabled, {len(gpu.mig_devices)} device(s)")
        for mig in gpu.mig_devices:
            memory = f"{render.mib(mig.memory_used_mib)} / {render.mib(mig.memory_total_mib)}"
            instance = "" if mig.gpu_instance is None else f" GI {mig.gpu_instance}"
            lines.append(f"    MIG {gpu.index}.{mig.index}{instance}  {mig.name or 'n/a'}  {memory}  {mig.uuid or ''}")
    holders = ", ".join(gpu.holders) or "none"
    lines.append(f"  assigned to   {holders}")
    if gpu.processes:
        lines.append(f"  {'PID':>8}  {'REPLICA':<20} {'GPU MEM':>8} {'SM':>5}")
        for process in gpu.processes:
            sm = _value(process.sm_util_pct, "%")
            instance = "" if process.gpu_instance is None else f"  GI {process.gpu_instance}"
            lines.append(
                f"  {process.pid:>8}  {(process.replica or 'other'):<20} "
                f"{render.mib(process.used_memory_mib):>8} {sm:>5}{instance}"
            )
    else:
        lines.append("  processes     none")
    return Content("\n").join(line if isinstance(line, Content) else Content(line) for line in lines)


def gpu_details_text(snapshot: Snapshot | None) -> Content:
    """Everything known about the GPUs in ``snapshot``, as styled text."""
    if snapshot is None or not snapshot.gpus:
        reason = (snapshot.gpu_status if snapshot is not None else None) or "no GPU data yet"
        return Content.assemble(("No GPU data: ", "bold $warning"), reason)
    return Content("\n\n").join(_gpu_section(gpu) for gpu in snapshot.gpus)


class GpuDetailsScreen(ModalScreen[None]):
    """A scrollable description of every GPU."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,g", "close", "close")]

    def __init__(self, text: Content) -> None:
        super().__init__(classes="dialog-screen")
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog details"):
            yield Label("GPUs", classes="dialog-title")
            with VerticalScroll():
                yield Static(self.text, id="gpu-details-body")
            yield Label("esc closes", classes="dialog-note")

    def action_close(self) -> None:
        """Close the details."""
        self.dismiss(None)
