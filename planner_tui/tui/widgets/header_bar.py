"""The one-line header: namespace, connector, planner mode, read-only flag, next tick, alerts."""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.widgets import Static

from planner_tui.model import PlannerMode

MODE_STYLES = {
    PlannerMode.AUTO: "bold $success",
    PlannerMode.ADVISORY: "bold $warning",
    PlannerMode.PAUSED: "bold $error",
}


@dataclass(frozen=True, slots=True)
class HeaderState:
    """What the header shows; the header redraws only when this changes."""

    namespace: str
    connector: str
    mode: PlannerMode | None
    read_only: bool
    next_tick_s: float | None
    alerts: int
    connected: bool | None = True  # None: still connecting (nothing has failed yet)


class HeaderBar(Static):
    """Namespace, connector, AUTO/ADVISORY/PAUSED, READ-ONLY, seconds to the next planner tick, alerts."""

    DEFAULT_CSS = """
    HeaderBar { height: 1; background: $panel; color: $foreground; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._state: HeaderState | None = None
        self._shown: tuple[str, object] | None = None

    def show(self, state: HeaderState) -> None:
        """Redraw with ``state`` (no-op when nothing changed)."""
        if state == self._state:
            return
        self._state = state
        sep = ("  │  ", "$foreground-muted")
        parts: list[str | tuple[str, str]] = [(" planner-tui ", "bold reverse $primary"), "  "]
        parts += [("ns ", "$foreground-muted"), (state.namespace, "bold"), sep]
        if state.connected is None:
            parts.append((state.connector, "$foreground-muted"))
        else:
            parts.append((state.connector, "bold $secondary" if state.connected else "bold $error"))
        if state.connected is False:
            parts.append((" (disconnected)", "$error"))
        parts.append(sep)
        if state.mode is None:
            parts.append(("mode ?", "$foreground-muted"))
        else:
            parts.append((f" {state.mode.value.upper()} ", "reverse " + MODE_STYLES[state.mode]))
        if state.read_only:
            parts += ["  ", (" READ-ONLY ", "bold reverse $warning")]
        parts.append(sep)
        if state.mode is PlannerMode.PAUSED or state.next_tick_s is None:
            parts.append(("next tick -", "$foreground-muted"))
        else:
            parts += [("next tick ", "$foreground-muted"), (f"{max(0, round(state.next_tick_s))}s", "bold")]
        parts.append(sep)
        if state.alerts:
            parts.append((f"⚠ {state.alerts} alert{'s' if state.alerts != 1 else ''}", "bold $error"))
        else:
            parts.append(("no alerts", "$success"))
        content = Content.assemble(*parts)
        shown = (content.plain, content.spans)
        if shown == self._shown:
            return  # e.g. only the seconds to a paused planner's tick changed: nothing to repaint
        self._shown = shown
        self.update(content, layout=False)  # one line, always: no relayout
