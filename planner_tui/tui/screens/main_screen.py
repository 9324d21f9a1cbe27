"""The main screen: header, GPU and load panels, one panel per component, decision log, status line."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import BindingsMap
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.screen import Screen
from textual.widgets import Footer, Input

from planner_tui.config.rules import is_autoscaled
from planner_tui.model import ComponentState, PlannerMode
from planner_tui.tui.actions import ACTIONS, bindings, find, refusal
from planner_tui.tui.capacity import gpu_headroom
from planner_tui.tui.screens.confirm_dialog import ConfirmDialog
from planner_tui.tui.screens.details_screen import DetailsScreen, details_text
from planner_tui.tui.screens.gpu_details_screen import GpuDetailsScreen, gpu_details_text
from planner_tui.tui.screens.scale_dialog import ScaleDialog
from planner_tui.tui.trends import WINDOWS_S
from planner_tui.tui.widgets import ComponentPanel, DecisionLog, GpuPanel, HeaderBar, QueuePanel, StatusLine
from planner_tui.tui.widgets.component_panel import PanelState, replica_matches

if TYPE_CHECKING:
    from planner_tui.tui.app import DashboardApp, SourceCall

log = logging.getLogger(__name__)

MODE_CYCLE = (PlannerMode.AUTO, PlannerMode.ADVISORY, PlannerMode.PAUSED)
LOAD_UP, LOAD_DOWN = 1.5, 1 / 1.5


class MainScreen(Screen[None]):
    """The dashboard. Keys come from the action registry; read-only mode hides and refuses changes."""

    AUTO_FOCUS = "ComponentPanel"  # never the hidden filter box

    def __init__(self, read_only: bool = False) -> None:
        super().__init__(id="main")
        self.read_only = read_only
        self._bindings = BindingsMap(bindings(ACTIONS, read_only))
        self.filter_text = ""
        self._dirty = False
        self._panels: dict[str, ComponentPanel] = {}

    @property
    def dashboard(self) -> DashboardApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        with Horizontal(id="top"):
            yield GpuPanel(id="gpus")
            yield QueuePanel(id="queues")
        yield Vertical(id="components")
        yield DecisionLog(id="decisions")
        yield StatusLine(id="status")

    def on_mount(self) -> None:
        """Draw whatever the app already has; the footer and the filter box follow the first frame."""
        self.refresh_view()
        self.call_after_refresh(self._mount_footer)

    async def _mount_footer(self) -> None:
        # Textual's Footer builds a widget per key: about 30 ms that the first frame (the GPU rows) need
        # not wait for. The filter box stays hidden until "/".
        box = Input(placeholder="filter components and replicas (enter keeps, esc clears)", id="filter")
        box.display = False
        await self.mount(box, before="#status")
        await self.mount(Footer())
        self._fit_footer()
        # a Footer fills itself when the screen announces its bindings, which it did at its own mount,
        # before this one listened: announce them again, or the footer stays blank until focus moves
        self.refresh_bindings()

    def on_resize(self) -> None:
        """Compact layout for small terminals (80x24 stays usable)."""
        self.set_class(self.size.height < 32, "-compact")
        self.set_class(self.size.width < 100, "-narrow")
        self._fit_footer()

    def _fit_footer(self) -> None:
        footers = self.query(Footer)
        if footers:
            footer = footers.first()
            narrow = self.size.width < 100  # compact, without the palette hint, every key fits at 80 columns
            palette_changed = footer.show_command_palette == narrow
            footer.compact = narrow
            footer.show_command_palette = not narrow
            if palette_changed:
                self.refresh_bindings()  # the footer recomposes on it: the palette key comes or goes

    def _filter_box(self) -> Input | None:
        boxes = self.query("#filter").results(Input)
        return next(boxes, None)

    def on_screen_resume(self) -> None:
        """Catch up with what arrived while another screen was on top."""
        if self._dirty:
            self.refresh_view()

    # -- drawing -------------------------------------------------------------------------------------
    def status_line(self) -> StatusLine | None:
        """The status line, or None while the screen is being built or torn down."""
        found = self.query(StatusLine)
        return found.first() if found else None

    def refresh_header(self) -> None:
        """Redraw the header only (every second: the countdown to the next tick)."""
        headers = self.query(HeaderBar)
        if self.is_current and headers:
            headers.first().show(self.dashboard.header_state())

    def refresh_view(self) -> None:
        """Redraw every panel from the app's latest data; deferred while another screen is on top."""
        if not self.is_current or not self.is_mounted:
            self._dirty = True
            return
        try:
            self._refresh_view()
        except (NoMatches, NoScreen):
            log.debug("main screen not ready (starting or closing): redraw skipped")

    def _refresh_view(self) -> None:
        self._dirty = False
        app = self.dashboard
        now = app.clock()
        self.refresh_header()
        snapshot = app.snapshot
        if snapshot is not None:
            self.query_one(GpuPanel).show(snapshot, app.trends, now)
            self._show_components(now)
        self.query_one(QueuePanel).show(app.trends, snapshot.timestamp if snapshot else now, app.window_s)
        self.query_one(DecisionLog).show(app.decisions, now)

    def _show_components(self, now: float) -> None:
        app = self.dashboard
        snapshot = app.snapshot
        assert snapshot is not None
        if list(self._panels) != list(snapshot.components):
            # Only when the graph's components change (rare): keep existing panels, so focus stays.
            holder = self.query_one("#components", Vertical)
            for name in [n for n in self._panels if n not in snapshot.components]:
                self._panels.pop(name).remove()
            added = [ComponentPanel(n) for n in snapshot.components if n not in self._panels]
            self._panels.update((panel.component, panel) for panel in added)
            self._panels = {name: self._panels[name] for name in snapshot.components}
            if added:
                holder.mount_all(added)
            if self.focused is None and self._panels:
                self.call_after_refresh(next(iter(self._panels.values())).focus)
        panels = self._panels
        pins = app.source.pins if app.source is not None else {}
        mode = app.source.mode if app.source is not None else None
        text = self.filter_text.lower()
        for name, state in snapshot.components.items():
            panel = panels[name]
            matched_component = not text or text in name.lower() or text in state.spec.role.lower()
            replica_filter = "" if matched_component else text
            visible = matched_component or any(replica_matches(r, text) for r in state.replicas)
            panel.display = visible
            config = app.graph.components.get(name) if app.graph is not None else None
            autoscaled = config is None or is_autoscaled(config, app.graph_policy())  # the engine's rule
            pinned = pins[name].replicas if name in pins else None
            panel.show(PanelState(state, mode, pinned, autoscaled, replica_filter), snapshot, now)

    # -- selection -------------------------------------------------------------------------------------
    def _visible_panels(self) -> list[ComponentPanel]:
        return [p for p in self._panels.values() if p.display]

    def selected_component(self) -> str | None:
        """The focused component panel's component, else the first visible one."""
        focused = self.focused
        if isinstance(focused, ComponentPanel):
            return focused.component
        panels = self._visible_panels()
        return panels[0].component if panels else None

    def _selected_state(self) -> ComponentState | None:
        name = self.selected_component()
        snapshot = self.dashboard.snapshot
        if name is None or snapshot is None or name not in snapshot.components:
            self.notify("no component selected yet: waiting for the first snapshot", severity="warning")
            return None
        return snapshot.components[name]

    def _move(self, step: int) -> None:
        panels = self._visible_panels()
        if not panels:
            return
        focused = self.focused
        index = panels.index(focused) if isinstance(focused, ComponentPanel) and focused in panels else -step
        target = panels[(index + step) % len(panels)]
        target.focus()
        target.scroll_visible()

    def action_next_component(self) -> None:
        """Select the next component."""
        self._move(1)

    def action_previous_component(self) -> None:
        """Select the previous component."""
        self._move(-1)

    def set_read_only(self) -> None:
        """Refuse changing actions from now on (the source turned out to be an observer)."""
        if self.read_only:
            return
        self.read_only = True
        self._bindings = BindingsMap(bindings(ACTIONS, True))
        self.refresh_bindings()

    # -- guarded calls -------------------------------------------------------------------------------
    def _permitted(self, action_id: str) -> bool:
        if self.read_only and find(action_id).changes_state:
            owner = self.dashboard.source.owner if self.dashboard.source is not None else None
            message = refusal(find(action_id), owner.describe() if owner is not None else None)
            self.notify(message, severity="warning", title="Read-only")
            self.query_one(StatusLine).set_info(message)
            return False
        if self.dashboard.source is None:
            self.notify("the graph is not connected yet", severity="warning")
            return False
        return True

    def _call(self, label: str, call: SourceCall, done: str) -> None:
        self.query_one(StatusLine).set_info(f"{label}…")
        self.dashboard.call_source(label, call, done)

    # -- actions -------------------------------------------------------------------------------------
    def _scale_by(self, action_id: str, step: int) -> None:
        if not self._permitted(action_id):
            return
        state = self._selected_state()
        if state is None:
            return
        target = state.desired_replicas + step
        spec = state.spec
        if not spec.min_replicas <= target <= spec.max_replicas:
            edge = "maximum" if step > 0 else "minimum"
            limit = spec.max_replicas if step > 0 else spec.min_replicas
            self.notify(f"{spec.name} is at its {edge} ({limit} replicas)", severity="warning")
            return
        name = spec.name
        self._call(f"scale {name} to {target}", lambda s: s.scale(name, target, pin=True), f"{name}: {target} (pinned)")

    def action_scale_up(self) -> None:
        """Add one replica to the selected component."""
        self._scale_by("scale_up", 1)

    def action_scale_down(self) -> None:
        """Remove one replica from the selected component."""
        self._scale_by("scale_down", -1)

    def action_scale_dialog(self) -> None:
        """Ask for a count, pre-filled with the current one."""
        if not self._permitted("scale_dialog"):
            return
        state = self._selected_state()
        app = self.dashboard
        if state is None or app.graph is None:
            return
        name = state.name

        def chosen(count: int | None) -> None:
            if count is not None and count != state.desired_replicas:
                self._call(f"scale {name} to {count}", lambda s: s.scale(name, count, pin=True), f"{name}: {count}")

        self.app.push_screen(ScaleDialog(state, gpu_headroom(app.graph, app.snapshot)), chosen)

    def action_restart(self) -> None:
        """Restart the selected component's replicas one at a time, after confirmation."""
        if not self._permitted("restart"):
            return
        state = self._selected_state()
        if state is None:
            return
        name = state.name

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._call(f"restart {name}", lambda s: s.restart(name, rolling=True), f"{name}: restarted")

        message = f"Restart the {len(state.replicas)} replica(s) of {name} one at a time, waiting for each to be ready?"
        self.app.push_screen(ConfirmDialog(f"Restart {name}", message, "Restart"), confirmed)

    def action_toggle_pin(self) -> None:
        """Pin the selected component at its current count, or unpin it."""
        if not self._permitted("toggle_pin"):
            return
        state = self._selected_state()
        source = self.dashboard.source
        if state is None or source is None:
            return
        name, count = state.name, state.desired_replicas
        if name in source.pins:
            self._call(f"unpin {name}", lambda s: s.unpin(name), f"{name}: unpinned, the planner manages it")
        else:
            self._call(f"pin {name}", lambda s: s.pin(name, replicas=count), f"{name}: pinned at {count}")

    def action_cycle_mode(self) -> None:
        """AUTO -> ADVISORY -> PAUSED -> AUTO."""
        if not self._permitted("cycle_mode"):
            return
        source = self.dashboard.source
        assert source is not None
        current = source.mode
        mode = MODE_CYCLE[(MODE_CYCLE.index(current) + 1) % len(MODE_CYCLE)] if current in MODE_CYCLE else MODE_CYCLE[0]
        self._call(f"mode {mode.value}", lambda s: s.set_mode(mode), f"planner mode: {mode.value.upper()}")

    def action_logs(self) -> None:
        """Open the merged log view of the selected component."""
        source = self.dashboard.source
        if source is None:
            self.notify("the graph is not connected yet", severity="warning")
            return
        state = self._selected_state()
        if state is not None:
            from planner_tui.tui.screens.log_screen import LogScreen  # on first use: it loads RichLog

            self.app.push_screen(LogScreen(state.name, source, namespace=source.namespace))

    def action_details(self) -> None:
        """Describe the selected component."""
        state = self._selected_state()
        app = self.dashboard
        if state is None or app.graph is None:
            return
        text = details_text(state.name, app.graph, app.snapshot, app.decisions, app.clock())
        self.app.push_screen(DetailsScreen(state.name, text))

    def action_gpu_details(self) -> None:
        """Describe every GPU: processes, MIG devices, throttle reasons, ECC errors."""
        self.app.push_screen(GpuDetailsScreen(gpu_details_text(self.dashboard.snapshot)))

    def action_charts(self) -> None:
        """The chart screen (plotext is imported when first asked for: the dashboard starts without it)."""
        from planner_tui.tui.screens.chart_screen import ChartScreen

        graph = getattr(self.app, "graph", None)
        if graph is not None and graph.planner.profile_file:
            from planner_tui.tui import profile_chart  # noqa: F401 (registers the capacity profile's tab)

        self.app.push_screen(ChartScreen())

    def action_cycle_window(self) -> None:
        """1 -> 5 -> 15 minute chart window."""
        app = self.dashboard
        index = WINDOWS_S.index(app.window_s) if app.window_s in WINDOWS_S else 0
        app.window_s = WINDOWS_S[(index + 1) % len(WINDOWS_S)]
        self.refresh_view()

    def action_filter(self) -> None:
        """Show the filter box."""
        box = self._filter_box()
        if box is None:  # the screen is still being built
            return
        box.display = True
        box.value = self.filter_text
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Filter as the person types."""
        self.filter_text = event.value.strip()
        self.query_one(StatusLine).set_filter(self.filter_text)
        self.refresh_view()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Keep the filter and go back to the panels."""
        event.input.display = False
        panels = self._visible_panels()
        if panels:
            panels[0].focus()

    def key_escape(self) -> None:
        """Esc clears the filter."""
        box = self._filter_box()
        if box is not None and (box.display or self.filter_text):
            box.value = ""
            box.display = False
            self.filter_text = ""
            self.query_one(StatusLine).set_filter("")
            self.refresh_view()

    def _load(self, action_id: str, factor: float) -> None:
        if not self._permitted(action_id):
            return
        verb = "raised" if factor > 1 else "lowered"
        self._call(f"load x{factor:.2f}", lambda s: s.scale_load(factor), f"simulated load {verb} x{factor:.2f}")

    def action_raise_load(self) -> None:
        """Demo: more simulated requests."""
        self._load("raise_load", LOAD_UP)

    def action_lower_load(self) -> None:
        """Demo: fewer simulated requests."""
        self._load("lower_load", LOAD_DOWN)
