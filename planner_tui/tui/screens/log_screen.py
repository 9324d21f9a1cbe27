"""The log screen (``l``): all replicas of a component merged, with a coloured prefix per replica.

Lines arrive from a worker into a buffer and are written to the view in batches every 0.25 s
(toolong style), so a burst never floods the UI. Follow mode pauses by itself when the person
scrolls up and resumes at the bottom. Search highlights matches and keeps two lines of context.
Lines of a replica that was removed (scaled down) stay, marked ``(gone)``: a scale-down's last
words are often the interesting ones.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingsMap
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Input, RichLog, Static

from planner_tui.config import state_dir
from planner_tui.model import LogLine
from planner_tui.tui.actions import LOG_ACTIONS, bindings

MAX_LINES = 10_000
INITIAL_LINES = 500
CONTEXT = 2
FLUSH_S = 0.25
PREFIX_COLOURS = ("primary", "accent", "secondary", "success", "warning", "error")
_INDEX = re.compile(r"(\d+)$")


def clock_time(timestamp: float) -> str:
    """``HH:MM:SS.mmm`` in local time."""
    return time.strftime("%H:%M:%S", time.localtime(timestamp)) + f".{int(timestamp * 1000) % 1000:03d}"


def with_context(lines: list[LogLine], term: str, context: int = CONTEXT) -> list[LogLine | None]:
    """The lines matching ``term`` (case-insensitive) with ``context`` lines around each; None separates
    groups that are not adjacent."""
    needle = term.lower()
    keep: set[int] = set()
    for index, line in enumerate(lines):
        if needle in line.text.lower() or needle in line.replica.lower():
            keep.update(range(max(0, index - context), min(len(lines), index + context + 1)))
    out: list[LogLine | None] = []
    previous = -2
    for index in sorted(keep):
        if out and index != previous + 1:
            out.append(None)
        out.append(lines[index])
        previous = index
    return out


class LogScreen(Screen[None]):
    """Merged, followed, searchable logs of one component."""

    AUTO_FOCUS = "#log-view"

    def __init__(self, component: str, source: Any, namespace: str = "") -> None:
        super().__init__()
        self._bindings = BindingsMap(bindings(LOG_ACTIONS))
        self.component = component
        self.source = source
        self.namespace = namespace
        self.lines: deque[LogLine] = deque(maxlen=MAX_LINES)
        self.pending: list[LogLine] = []
        self.following = True
        self.auto_paused = False
        self.wrap = False
        self.timestamps = False
        self.search = ""
        self.error: str | None = None
        self._writing = False
        self._gone: set[str] = set()  # replicas known to be removed

    def compose(self) -> ComposeResult:
        yield Static("", id="log-status")
        yield RichLog(id="log-view", max_lines=MAX_LINES, wrap=False, markup=False, highlight=False)
        box = Input(placeholder="search (enter keeps it, esc clears)", id="log-search")
        box.display = False
        yield box
        yield Footer()

    def on_mount(self) -> None:
        """Start reading and batching."""
        view = self.query_one("#log-view", RichLog)
        self.watch(view, "scroll_y", self._scrolled, init=False)
        self.set_interval(FLUSH_S, self._flush)
        self._status()
        self._read()

    @work(exclusive=True, group="log-follow", exit_on_error=False)
    async def _read(self) -> None:
        try:
            self.receive(await self.source.logs(self.component, lines=INITIAL_LINES))
            async for line in self.source.follow_logs(self.component):
                self.receive([line])
        except Exception as exc:  # the connector failed: say so and keep what we have
            self.error = f"logs of {self.component}: {exc}"
            self.notify(self.error, severity="error", title="Logs")
            self._status()

    def receive(self, lines: Iterable[LogLine]) -> None:
        """New lines from the source; written at the next flush."""
        self.pending.extend(lines)

    # -- rendering -----------------------------------------------------------------------------------
    def _prefix_style(self, replica: str) -> Style:
        match = _INDEX.search(replica)
        name = PREFIX_COLOURS[int(match.group(1)) % len(PREFIX_COLOURS) if match else 0]
        colour = self.app.theme_variables.get(name)
        return Style(color=colour, bold=True) if colour else Style(bold=True)

    def _format(self, line: LogLine) -> Text:
        text = Text()
        if self.timestamps:
            text.append(clock_time(line.timestamp) + " ", style=Style(dim=True))
        prefix = self._prefix_style(line.replica)
        text.append(f"[{line.label}] ", style=prefix + Style(dim=True, strike=True) if line.gone else prefix)
        body = Text(line.text)
        if self.search:
            accent = self.app.theme_variables.get("accent")
            body.highlight_words(
                [self.search], style=Style(reverse=True, bold=True, color=accent), case_sensitive=False
            )
        text.append_text(body)
        return text

    def _write(self, items: Iterable[LogLine | None]) -> None:
        view = self.query_one("#log-view", RichLog)
        self._writing = True
        try:
            for item in items:
                view.write(Text("--", style=Style(dim=True)) if item is None else self._format(item), scroll_end=False)
            if self.following:
                view.scroll_end(animate=False, immediate=True)
        finally:
            self._writing = False

    def _render_all(self) -> None:
        view = self.query_one("#log-view", RichLog)
        self._writing = True
        try:
            view.clear()
            view.wrap = self.wrap
        finally:
            self._writing = False
        lines = list(self.lines)
        self._write(with_context(lines, self.search) if self.search else lines)

    def _flush(self) -> None:
        if not self.pending:
            return
        if not self.following or not self.is_current:
            self._status()
            return
        batch, self.pending = self.pending, []
        self.lines.extend(batch)
        newly_gone = self._track_gone(batch)
        if self.search or newly_gone:
            self._render_all()
        else:
            self._write(batch)
        self._status()

    def _track_gone(self, batch: list[LogLine]) -> bool:
        """Note replicas that went (or came back under the same name) in ``batch``, and mark the earlier
        lines of a newly gone one too. True when lines already buffered changed."""
        went: dict[str, float] = {}  # replica -> time of its latest line marked gone
        for line in batch:
            if line.gone and (line.replica not in self._gone or line.replica in went):
                self._gone.add(line.replica)
                went[line.replica] = max(went.get(line.replica, line.timestamp), line.timestamp)
            elif not line.gone:
                self._gone.discard(line.replica)
        if not went:
            return False
        marked = [
            replace(line, gone=True) if not line.gone and line.timestamp <= went.get(line.replica, -1.0) else line
            for line in self.lines
        ]
        self.lines.clear()
        self.lines.extend(marked)
        return True

    def _status(self) -> None:
        parts: list[str | tuple[str, str]] = [(f" logs · {self.component} ", "bold reverse $primary"), "  "]
        parts.append((f"{len(self.lines)} lines", "$foreground-muted"))
        if self.following:
            parts += ["  ", ("● FOLLOWING", "bold $success")]
        else:
            why = " (scrolled up)" if self.auto_paused else ""
            parts += ["  ", (f"❚❚ PAUSED{why}", "bold $warning")]
            if self.pending:
                parts.append((f"  +{len(self.pending)} new", "bold $accent"))
        parts.append(("  wrap " + ("on" if self.wrap else "off"), "$foreground-muted"))
        parts.append(("  time " + ("on" if self.timestamps else "off"), "$foreground-muted"))
        if self.search:
            parts += ["  ", ("search: ", "$foreground-muted"), (self.search, "bold $accent")]
        if self.error:
            parts += ["  ", (self.error, "$error")]
        self.query_one("#log-status", Static).update(Content.assemble(*parts))

    def _scrolled(self, old: float, new: float) -> None:
        if self._writing:
            return
        view = self.query_one("#log-view", RichLog)
        if self.following and new < old:
            self.following, self.auto_paused = False, True
            self._status()
        elif not self.following and self.auto_paused and new >= view.max_scroll_y:
            self.action_toggle_follow()

    # -- actions (keys from the registry's LOG_ACTIONS) ----------------------------------------------
    def action_toggle_follow(self) -> None:
        """Follow new lines, or pause."""
        self.following = not self.following
        self.auto_paused = False
        if self.following:
            self._flush()
            self.query_one("#log-view", RichLog).scroll_end(animate=False)
        self._status()

    def action_toggle_wrap(self) -> None:
        """Wrap long lines (or not)."""
        self.wrap = not self.wrap
        self._render_all()
        self._status()

    def action_toggle_timestamps(self) -> None:
        """Show or hide timestamps."""
        self.timestamps = not self.timestamps
        self._render_all()
        self._status()

    def action_search(self) -> None:
        """Open the search box."""
        box = self.query_one("#log-search", Input)
        box.display = True
        box.value = self.search
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Search as the person types."""
        self.search = event.value.strip()
        self._render_all()
        self._status()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Keep the search and go back to the log."""
        event.input.display = False
        self.query_one("#log-view", RichLog).focus()

    def action_save(self) -> None:
        """Write every buffered line, with timestamps, to a file under the state directory."""
        folder = state_dir() / "saved-logs"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"{self.namespace or 'graph'}-{self.component}-{stamp}.log"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            text = "".join(line.format(with_timestamp=True) + "\n" for line in [*self.lines, *self.pending])
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self.notify(f"cannot save the log: {exc}", severity="error")
            return
        self.notify(f"saved {len(self.lines) + len(self.pending)} lines to {path}", title="Logs")

    def action_back(self) -> None:
        """Clear the search, or go back to the dashboard."""
        box = self.query_one("#log-search", Input)
        if box.display or self.search:
            box.display = False
            box.value = ""
            self.search = ""
            self._render_all()
            self._status()
            self.query_one("#log-view", RichLog).focus()
            return
        self.dismiss(None)
