"""The scale dialog (k9s ``s``): pre-filled with the current count, checks bounds and free GPUs."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from planner_tui.model import ComponentState
from planner_tui.tui.capacity import GpuHeadroom, check_scale


class ScaleDialog(ModalScreen[int | None]):
    """Returns the new replica count, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, state: ComponentState, headroom: GpuHeadroom) -> None:
        super().__init__(classes="dialog-screen")
        self.state = state
        self.headroom = headroom

    def compose(self) -> ComposeResult:
        spec = self.state.spec
        hint = f"bounds {spec.min_replicas}..{spec.max_replicas} · now {self.state.desired_replicas}"
        if spec.gpus_per_replica:
            free = "?" if self.headroom.free is None else str(self.headroom.free)
            hint += f" · {spec.gpus_per_replica} GPU/replica, {free} free"
            if self.headroom.budget_left is not None:
                hint += f", {self.headroom.budget_left} in budget"
        with Vertical(classes="dialog"):
            yield Label(f"Scale {spec.name}", classes="dialog-title")
            yield Label(hint, classes="dialog-body", id="scale-hint")
            yield Input(str(self.state.desired_replicas), type="integer", id="scale-count", select_on_focus=True)
            yield Label("", classes="dialog-error", id="scale-error")
            yield Label("The count is pinned: the planner holds it until you unpin (p).", classes="dialog-note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Scale (enter)", variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        """Focus the count."""
        self.query_one("#scale-count", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Explain a bad count as it is typed."""
        _, problem = check_scale(event.value, self.state, self.headroom)
        self.query_one("#scale-error", Label).update(problem or "")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter scales."""
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Scale or cancel."""
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        count, problem = check_scale(self.query_one("#scale-count", Input).value, self.state, self.headroom)
        if problem is not None:
            self.query_one("#scale-error", Label).update(problem)
            return
        self.dismiss(count)

    def action_cancel(self) -> None:
        """Close without scaling."""
        self.dismiss(None)
