"""One panel per component: desired/current/ready against bounds, pin and mode badges, a row per replica."""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content

from planner_tui.model import ComponentState, Phase, PlannerMode, ReplicaState, Signal, Snapshot
from planner_tui.model.imbalance import replica_spread
from planner_tui.tui import render
from planner_tui.tui.widgets.live_panel import LivePanel

PHASE_STYLES = {
    Phase.READY: "$success",
    Phase.RUNNING: "$warning",
    Phase.STARTING: "$warning",
    Phase.STOPPING: "$foreground-muted",
    Phase.CRASHED: "bold $error",
    Phase.FAILED: "bold $error",
}


@dataclass(frozen=True, slots=True)
class PanelState:
    """What a component panel shows."""

    state: ComponentState
    mode: PlannerMode | None
    pinned: int | None
    autoscaled: bool
    replica_filter: str = ""


def replica_figure(snapshot: Snapshot, state: ComponentState, replica: ReplicaState) -> tuple[str, str]:
    """The replica's own load figure and its style: queue for prefill, KV use for decode, in-flight for
    the frontend. A value its endpoint no longer gives (a hung or unreachable replica: the last one known,
    kept stale) is muted and says so; an out-of-domain one (+Inf, NaN) is never shown as a load."""
    role = state.spec.role
    if role == "decode":
        value = snapshot.replica_signal(state.name, replica.name, Signal.KV_USAGE)
        label, text = "kv", render.percent(value.value if value else None)
    elif role == "prefill":
        value = snapshot.replica_signal(state.name, replica.name, Signal.QUEUE_DEPTH)
        label, text = "q", render.number(value.value if value else None, 1)
    else:
        value = snapshot.replica_signal(state.name, replica.name, Signal.INFLIGHT) or snapshot.signal(
            state.name, Signal.INFLIGHT
        )
        if value is None:
            return "-", "$primary"
        label, text = "in", render.number(value.value, 0)
    if value is not None and value.invalid is not None:
        return f"{label} invalid", "$error"
    if value is not None and value.stale and value.value is not None:
        return f"{label} {text} stale", "$foreground-muted"
    return f"{label} {text}", "$primary"


def replica_matches(replica: ReplicaState, text: str) -> bool:
    """True when the filter ``text`` appears in the replica's name, phase or pid."""
    haystack = f"{replica.name} {replica.phase.value} {replica.pid or ''}".lower()
    return text.lower() in haystack


class ComponentPanel(LivePanel[tuple[PanelState, Snapshot, float]], can_focus=True):
    """A focusable panel; the focused one is the component that +, -, s, r, p, l and d act on."""

    DEFAULT_CSS = """
    ComponentPanel {
        height: auto; border: round $border-blurred; border-title-color: $foreground;
        padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    ComponentPanel:focus { border: round $border; border-title-color: $accent; background: $boost; }
    """

    def __init__(self, component: str) -> None:
        super().__init__("", id=f"component-{component}", classes="component")
        self.component = component
        self.border_title = component

    def show(self, panel: PanelState, snapshot: Snapshot, now: float) -> None:
        """Redraw from the component's state in ``snapshot`` (skipped while hidden)."""
        self._feed((panel, snapshot, now))

    def _draw(self) -> None:
        assert self._inputs is not None
        panel, snapshot, now = self._inputs
        width = self.content_region.width or 80
        key = (panel, snapshot.timestamp, int(now), width)
        if key == self._drawn:
            return
        self._drawn = key
        state = panel.state
        spec = state.spec
        self.border_title = f"{state.name} · {spec.role}"
        summary: list[str | tuple[str, str]] = [
            ("desired ", "$foreground-muted"),
            (str(state.desired_replicas), "bold"),
            ("  current ", "$foreground-muted"),
            (str(state.current_replicas), "bold"),
            ("  ready ", "$foreground-muted"),
            (str(state.ready_replicas), "bold $success" if state.is_stable else "bold $warning"),
            ("  bounds ", "$foreground-muted"),
            (f"{spec.min_replicas}..{spec.max_replicas}", "bold"),
        ]
        if spec.gpus_per_replica:
            summary.append((f"  {spec.gpus_per_replica} GPU/replica", "$foreground-muted"))
        summary.append("  ")
        if panel.pinned is not None:
            summary += [(f" PINNED @{panel.pinned} ", "bold reverse $accent"), " "]
        if not panel.autoscaled:
            summary.append((" MANUAL ", "reverse $foreground-muted"))
        elif panel.mode is not None:
            style = {"auto": "$success", "advisory": "$warning", "paused": "$error"}[panel.mode.value]
            summary.append((f" {panel.mode.value.upper()} ", f"reverse {style}"))
        spread = replica_spread(snapshot, state.name)
        if spread is not None and spread.count > 1:  # the mean the planner uses, with the max and the spread
            summary.append((f"  {spread.describe()}", "$primary"))
        lines = [Content.assemble(*summary)]
        own = f"component {state.name}: "  # a source's error about this component (a selector matching nothing)
        lines += [Content.styled(f"! {e[len(own) :]}", "$error") for e in snapshot.errors if e.startswith(own)]
        wide = width >= 72
        header = f"{'#':>2}  {'PID/POD':<12} {'PHASE':<9} {'UPTIME':>7}"
        header += f" {'RESTARTS':>8} {'CPU':>6} {'RSS':>7}" if wide else f" {'CPU':>6}"
        header += f"  {'GPUS':<7} LOAD"
        lines.append(Content.styled(header, "bold $foreground-muted"))
        replicas = [r for r in state.replicas if not panel.replica_filter or replica_matches(r, panel.replica_filter)]
        for replica in replicas:
            lines.append(self._row(replica, state, snapshot, now, wide))
        if not state.replicas:
            lines.append(Content.styled("  no replicas", "$foreground-muted"))
        self.show_content(Content("\n").join(lines))

    def _row(self, replica: ReplicaState, state: ComponentState, snapshot: Snapshot, now: float, wide: bool) -> Content:
        usage = snapshot.usage.get(replica.name)
        ident = replica.pod_name or (str(replica.pid) if replica.pid else "-")
        ident = ident if len(ident) <= 12 else ident[:11] + "…"
        cpu = render.number(usage.cpu_percent if usage else None, 1, "%")
        gpus = ",".join(str(g) for g in replica.gpus) or "-"
        parts: list[str | tuple[str, str]] = [
            f"{replica.index:>2}  {ident:<12} ",
            (f"{replica.phase.value:<9}", PHASE_STYLES[replica.phase]),
            f" {render.duration(replica.uptime(now)):>7}",
        ]
        if wide:
            restarts = (f" {replica.restarts:>8}", "$warning" if replica.restarts else "$foreground")
            parts += [restarts, f" {cpu:>6} {render.size_bytes(usage.rss_bytes if usage else None):>7}"]
        else:
            parts.append(f" {cpu:>6}")
        parts += [f"  {gpus:<7} ", replica_figure(snapshot, state, replica)]
        if replica.reason and replica.phase in (Phase.CRASHED, Phase.FAILED):
            parts.append((f"  {replica.reason}", "$error"))
        elif replica.reason and replica.phase in (Phase.STARTING, Phase.RUNNING):
            # why it is not ready yet: its health answer, or what it waits for
            timed_out = replica.reason.startswith("not ready after")
            parts.append((f"  {replica.reason}", "$error" if timed_out else "$warning"))
        return Content.assemble(*parts)
