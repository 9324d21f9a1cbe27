"""The help screen: every key from the action registry, grouped, with read-only ones marked."""

from __future__ import annotations

from itertools import groupby
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from planner_tui.tui.actions import ACTIONS, APP_ACTIONS, LOG_ACTIONS, READ_ONLY_REASON, allowed


def help_text(read_only: bool) -> Content:
    """The key table as styled text."""
    lines: list[Content] = []
    for group, actions in groupby((*ACTIONS, *APP_ACTIONS, *LOG_ACTIONS), key=lambda a: a.group):
        lines.append(Content.styled(group, "bold $primary"))
        for action in actions:
            ok = allowed(action, read_only)
            key = Content.styled(f"  {action.display_key:<8}", "bold $accent" if ok else "$foreground-muted")
            text = Content.styled(action.help, "$foreground" if ok else "$foreground-muted strike")
            lines.append(Content.assemble(key, text))
        lines.append(Content(""))
    if read_only:
        lines.append(Content.styled(f"Struck-out keys are refused: {READ_ONLY_REASON}.", "$warning"))
    return Content("\n").join(lines)


class HelpScreen(ModalScreen[None]):
    """Keys of the dashboard and of the log view."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "close")]

    def __init__(self, read_only: bool = False) -> None:
        super().__init__(classes="dialog-screen")
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label("Keys" + ("  (read-only)" if self.read_only else ""), classes="dialog-title")
            with VerticalScroll():
                yield Static(help_text(self.read_only), id="help-keys")
            yield Label("esc closes · ctrl+p searches every action and theme", classes="dialog-note")

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
