"""The dashboard application: owns the source's event stream and the latest data; screens render it.

The source (a :class:`~planner_tui.runtime.source.GraphSource`: the Session, an observer, fixed data)
publishes one stream of events; a worker hands each to the app in one Message, where snapshots
coalesce when they pile up. Every call to the source runs in a worker (never on the UI's critical
path) and reports back as a Message; failures become a notification and a status line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App
from textual.binding import BindingType
from textual.worker import Worker

from planner_tui.config.choices import Policy
from planner_tui.model import Decision, Phase, Snapshot
from planner_tui.runtime.events import DecisionMade, SessionError, SnapshotReady
from planner_tui.runtime.source import GraphSource
from planner_tui.tui import settings
from planner_tui.tui.actions import APP_ACTIONS, bindings
from planner_tui.tui.commands import ActionCommands
from planner_tui.tui.messages import ActionFinished, FirstLookReady, SessionEventArrived, SourceOpened
from planner_tui.tui.screens import HelpScreen, MainScreen, QuitChoice, QuitDialog
from planner_tui.tui.themes import DEFAULT_THEME, load_theme_files
from planner_tui.tui.trends import Trends
from planner_tui.tui.widgets.header_bar import HeaderState

if TYPE_CHECKING:
    from planner_tui.config.graph import GraphConfig

log = logging.getLogger(__name__)

MAX_DECISIONS = 500
CLOSE_TIMEOUT_S = 60.0

SourceOpener = Callable[[], Awaitable[GraphSource]]
SourceCall = Callable[[GraphSource], Awaitable[object]]


class DashboardApp(App[None]):
    """The planner-tui dashboard.

    Give it a ``source`` that is already open (a Session, a StaticSource) or an ``opener`` coroutine
    factory that opens one; the first frame appears before the graph has started either way.
    """

    CSS_PATH = "app.tcss"
    TITLE = "planner-tui"
    BINDINGS: ClassVar[list[BindingType]] = list(bindings([a for a in APP_ACTIONS if a.id != "command_palette"]))
    COMMANDS = App.COMMANDS | {ActionCommands}

    def __init__(
        self,
        source: GraphSource | None = None,
        *,
        opener: SourceOpener | None = None,
        read_only: bool = False,
        theme: str | None = None,
        clock: Callable[[], float] = time.time,
        close_on_quit: bool = True,
        remember_theme: bool = True,
        header_interval_s: float = 1.0,
    ) -> None:
        super().__init__()
        self.source: GraphSource | None = source
        self.opener = opener
        self.read_only = read_only or bool(source is not None and source.read_only)
        self.clock = clock
        self.close_on_quit = close_on_quit
        self.snapshot: Snapshot | None = None
        self.decisions: deque[Decision] = deque(maxlen=MAX_DECISIONS)
        self.trends = Trends()
        self.window_s = 300.0
        self.source_error: str | None = None
        self.header_interval_s = header_interval_s
        self._remember_theme = False
        self._wanted_theme = theme
        self._remember_after_start = remember_theme
        self.main_screen = MainScreen(read_only=self.read_only)
        self._opening: Worker[None] | None = None
        self._opened: GraphSource | None = None
        for custom in load_theme_files():
            self.register_theme(custom)
        chosen = theme or settings.remembered_theme() or DEFAULT_THEME
        if chosen not in self.available_themes:
            log.warning("unknown theme %r; using %s", chosen, DEFAULT_THEME)
            chosen = DEFAULT_THEME
        self.theme = chosen

    # -- data the screens read -----------------------------------------------------------------------
    @property
    def graph(self) -> GraphConfig | None:
        """The graph's configuration, once the source is open."""
        return self.source.graph if self.source is not None else None

    def graph_policy(self) -> Policy:
        """The planner's default policy."""
        return self.graph.planner.policy if self.graph is not None else Policy.LOAD

    def alerts(self) -> list[str]:
        """Problems worth a glance: collection errors, crashed or failed replicas, a failing source."""
        found: list[str] = []
        if self.source_error:
            found.append(self.source_error)
        if self.source is not None:
            found += self.source.connector.problems  # circusd down, a replica never ready, ...
        if self.snapshot is not None:
            found += [error for error in self.snapshot.errors if error not in found]
            for state in self.snapshot.components.values():
                for replica in state.replicas:
                    if replica.phase in (Phase.CRASHED, Phase.FAILED):
                        found.append(f"{replica.name} {replica.phase.value}: {replica.reason or 'exited'}")
        return found

    def header_state(self) -> HeaderState:
        """What the header shows right now."""
        source = self.source
        if source is None:
            namespace = self._pending_namespace()
            failed = self.source_error is not None  # the graph could not be started: say so, not "connecting"
            label = "not started" if failed else "connecting…"
            connected = False if failed else None
            return HeaderState(namespace, label, None, self.read_only, None, len(self.alerts()), connected)
        next_tick = source.next_tick_at
        owner = source.owner  # an observer: the graph is another process's
        connector = source.connector.label + (f" · owned by pid {owner.pid}" if owner is not None else "")
        return HeaderState(
            namespace=source.namespace,
            connector=connector,
            mode=source.mode,
            read_only=self.read_only,
            next_tick_s=None if next_tick is None else next_tick - self.clock(),
            alerts=len(self.alerts()),
            connected=self.source_error is None,
        )

    def _pending_namespace(self) -> str:
        return getattr(self.opener, "namespace", "?")

    # -- lifecycle -----------------------------------------------------------------------------------
    async def on_mount(self) -> None:
        """Show the main screen at once, then connect in the background."""
        early = getattr(self.opener, "first_look_if_ready", None) if self.source is None else None
        first = early() if early is not None else None
        if first is not None:  # read while Textual loaded: in the first frame, not a second one
            self._take_snapshot(first)
        await self.push_screen(self.main_screen)
        self._remember_theme = self._remember_after_start
        self.set_interval(self.header_interval_s, self.main_screen.refresh_header)
        if self.source is not None:
            self._adopt(self.source)
        elif self.opener is not None:
            self._status_info("starting the graph…")
            first_look = getattr(self.opener, "first_look", None)
            if first_look is not None and first is None:
                self._take_first_look(first_look)  # GPUs and recorded replicas, in a thread
            self.call_after_refresh(self._start_opening)  # the first frame goes out before any of that work

    @work(thread=True, exclusive=True, group="first-look", exit_on_error=False)
    def _take_first_look(self, first_look: Callable[[], Snapshot | None]) -> None:
        try:
            snapshot = first_look()
        except Exception:  # a courtesy: the Session reports what is wrong
            log.exception("the first look at the graph failed")
            return
        if snapshot is not None:  # None: the graph file did not say plainly what to look at
            self.post_message(FirstLookReady(snapshot))

    def on_first_look_ready(self, message: FirstLookReady) -> None:
        """Draw the first look, unless the source's own Snapshots already arrived."""
        if self.snapshot is None:
            self._take_snapshot(message.snapshot)
            self.main_screen.refresh_view()

    def _start_opening(self) -> None:
        self._opening = self._open_source()

    def watch_theme(self, theme: str) -> None:
        """Remember the chosen theme for the next start."""
        if self._remember_theme:
            settings.remember_theme(theme)

    def _adopt(self, source: GraphSource) -> None:
        self.source = source
        self.read_only = self.read_only or source.read_only
        if self.read_only:
            self.main_screen.set_read_only()
        latest = source.latest_snapshot
        history = source.history()
        if history is not None and latest is not None:
            roles = {name: state.spec.role for name, state in latest.components.items()}
            try:
                self.trends.backfill(history, roles, [gpu.index for gpu in latest.gpus])
            except Exception:  # a history we cannot read only costs the charts their past
                log.exception("backfilling the charts from the source's history failed")
        self.decisions.extend(source.decisions)
        if latest is not None:
            self._take_snapshot(latest)
        self._follow_source(source)
        self.main_screen.refresh_view()

    @work(exclusive=True, group="open", exit_on_error=False)
    async def _open_source(self) -> None:
        assert self.opener is not None
        try:
            source = await self.opener()
        except Exception as exc:  # any failure to start is shown, never raised into the UI
            log.exception("opening the session failed")
            self.post_message(SessionEventArrived(SessionError(f"cannot start the graph: {exc}")))
            return
        self._opened = source
        self.post_message(SourceOpened(source))

    @work(exclusive=True, group="source-events", exit_on_error=False)
    async def _follow_source(self, source: GraphSource) -> None:
        queue = source.subscribe()
        try:
            while True:
                self.post_message(SessionEventArrived(await queue.get()))
        finally:
            source.unsubscribe(queue)

    def call_source(self, label: str, call: SourceCall, done: str) -> None:
        """Run ``call(source)`` in a worker; the result arrives as an ActionFinished message."""
        self._run_call(label, call, done)

    @work(group="actions", exit_on_error=False)
    async def _run_call(self, label: str, call: SourceCall, done: str) -> None:
        source = self.source
        if source is None:
            self.post_message(ActionFinished(label, "", "the graph is not connected yet"))
            return
        try:
            await call(source)
        except Exception as exc:  # typed connector errors carry the reason; show them, keep running
            self.post_message(ActionFinished(label, "", f"{label} failed: {exc}"))
        else:
            self.post_message(ActionFinished(label, done))

    def _status_info(self, text: str) -> None:
        line = self.main_screen.status_line()
        if line is not None:
            line.set_info(text)

    def _status_error(self, text: str | None) -> None:
        line = self.main_screen.status_line()
        if line is not None:
            line.set_error(text)

    # -- messages ------------------------------------------------------------------------------------
    def _take_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.trends.ingest(snapshot)

    def on_session_event_arrived(self, message: SessionEventArrived) -> None:
        """An event of the source's stream: a Snapshot to show, a decision to log, a problem to report."""
        event = message.event
        if isinstance(event, SnapshotReady):
            self._on_snapshot(event.snapshot)
        elif isinstance(event, DecisionMade):
            self.decisions.append(event.decision)
            self.main_screen.refresh_view()
        else:
            self._on_error(event.message)

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        """Record a new snapshot and redraw the main screen if it is showing."""
        self._take_snapshot(snapshot)
        if self.source_error is not None and not snapshot.errors:
            self.source_error = None
            self._status_error(None)
        self.main_screen.refresh_view()

    def _on_error(self, text: str) -> None:
        """Say what failed; keep running."""
        new = text != self.source_error
        self.source_error = text
        self._status_error(text)
        if new:
            self.notify(text, severity="error", title="Connector", timeout=8)
        self.main_screen.refresh_header()

    def on_source_opened(self, message: SourceOpened) -> None:
        """The graph is up: start following it."""
        self._status_info("connected")
        self._adopt(message.source)

    def on_action_finished(self, message: ActionFinished) -> None:
        """Report a finished call."""
        if message.error:
            self._status_info(message.error)
            self.notify(message.error, severity="error", title="Action failed", timeout=8)
        else:
            self._status_info(message.message)
            self.notify(message.message, title=message.action, timeout=3)
        self.main_screen.refresh_view()

    # -- app-wide actions ------------------------------------------------------------------------------
    def run_registry_action(self, action_id: str) -> None:
        """Run a registry action from the command palette."""
        if action_id in ("help", "quit"):
            self.run_worker(self.run_action(action_id), exit_on_error=False)
            return
        if self.screen is not self.main_screen:
            self.notify("close this view first (esc)", severity="warning")
            return
        self.run_worker(self.main_screen.run_action(action_id), exit_on_error=False)

    def action_help(self) -> None:
        """Show the keys."""
        self.push_screen(HelpScreen(read_only=self.read_only))

    async def action_quit(self) -> None:
        """Ask whether to stop the graph or leave it running, then quit."""
        namespace = self.source.namespace if self.source is not None else self._pending_namespace()

        def chosen(choice: QuitChoice | None) -> None:
            if choice is not None:
                self._close_and_exit(choice is QuitChoice.STOP)

        self.push_screen(QuitDialog(read_only=self.read_only, namespace=namespace), chosen)

    @work(exclusive=True, group="shutdown", exit_on_error=False)
    async def _close_and_exit(self, stop_graph: bool) -> None:
        if self.source is None and self._opening is not None and self._opening.is_running:
            # Quitting while the graph is still starting: let it finish, so "stop" really stops it.
            self._status_info("waiting for the graph to finish starting…")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._opening.wait(), CLOSE_TIMEOUT_S)
        self.workers.cancel_group(self, "open")
        self.workers.cancel_group(self, "source-events")
        source = self.source or self._opened
        if source is not None and self.close_on_quit:
            self._status_info("stopping the graph…" if stop_graph else "detaching (the graph keeps running)…")
            try:
                await asyncio.wait_for(source.close(stop_graph=stop_graph and not self.read_only), CLOSE_TIMEOUT_S)
            except Exception as exc:  # quitting must always work
                log.error("closing the session failed: %s", exc)
        self.exit()
