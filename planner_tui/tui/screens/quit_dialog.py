"""Quit: stop the graph, or leave it running for a later ``planner-tui`` to attach to."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class QuitChoice(StrEnum):
    """What quitting does to the graph."""

    STOP = "stop"
    LEAVE = "leave"


class QuitDialog(ModalScreen[QuitChoice | None]):
    """Three choices; read-only sessions cannot stop the graph, so they only offer to leave it running."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,c", "cancel", "cancel"),
        Binding("s", "choose('stop')", "stop graph"),
        Binding("l,q", "choose('leave')", "leave running"),
    ]

    def __init__(self, read_only: bool = False, namespace: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.read_only = read_only
        self.namespace = namespace

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Quit planner-tui", classes="dialog-title")
            if self.read_only:
                yield Label(
                    f"The graph {self.namespace!r} keeps running (read-only sessions cannot stop it).",
                    classes="dialog-body",
                )
            else:
                yield Label(
                    f"Stop the graph {self.namespace!r} (all replicas), or leave it running so a later "
                    "planner-tui attaches to it?",
                    classes="dialog-body",
                )
            with Horizontal(classes="dialog-buttons"):
                if not self.read_only:
                    yield Button("Stop graph (s)", variant="error", id="stop")
                yield Button("Leave running (l)", variant="primary", id="leave")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        """Leaving the graph running is the safe default."""
        self.query_one("#leave", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Dismiss with the choice."""
        if event.button.id == "cancel":
            self.dismiss(None)
        else:
            self.action_choose(str(event.button.id))

    def action_choose(self, choice: str) -> None:
        """Quit with ``choice`` (stop is refused in read-only mode)."""
        if choice == QuitChoice.STOP and self.read_only:
            self.notify("read-only: the graph cannot be stopped from here", severity="warning")
            return
        self.dismiss(QuitChoice(choice))

    def action_cancel(self) -> None:
        """Stay."""
        self.dismiss(None)
